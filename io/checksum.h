/* checksum.h - SHA-256 of a file, for recording where a dataset came from.
 * Uses OpenSSL's libcrypto EVP interface. */
#ifndef SHARDNET_CHECKSUM_H
#define SHARDNET_CHECKSUM_H

#define CHECKSUM_HEX_LEN 64

/* hex: CHECKSUM_HEX_LEN + 1 chars, lower-case, NUL-terminated.
 * Returns 0, or -1 with base_error() naming the file. */
int checksum_sha256_file(const char *path, char *hex);

#endif
