/* checksum.c - SHA-256 of a file through libcrypto's EVP digest API. */
#include "checksum.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "base.h"

static int digest_stream(FILE *f, EVP_MD_CTX *ctx, const char *path)
{
    static _Thread_local unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        if (!EVP_DigestUpdate(ctx, buf, got))
            return base_error_set("%s: SHA-256 update failed", path);
    if (ferror(f))
        return base_error_set("%s: read error: %s", path, strerror(errno));
    return 0;
}

int checksum_sha256_file(const char *path, char *hex)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return base_error_set("%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    int rc = -1;
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        base_error_set("%s: cannot start SHA-256", path);
    else if (!digest_stream(f, ctx, path)) {
        if (EVP_DigestFinal_ex(ctx, md, &len) && len == 32)
            rc = 0;
        else
            base_error_set("%s: SHA-256 final failed", path);
    }
    EVP_MD_CTX_free(ctx);
    fclose(f);
    for (unsigned i = 0; rc == 0 && i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return rc;
}

int checksum_sha256(const void *data, size_t n, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (!EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) || len != 32)
        return base_error_set("SHA-256 of %zu bytes failed", n);
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "checksum_params hashes the float32 bytes in memory as little-endian");

void checksum_params(const float *params, size_t n, char *hex)
{
    if (checksum_sha256(params, n * sizeof(float), hex) < 0)
        die("%s", base_error());
}
