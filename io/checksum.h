/* checksum.h - SHA-256 of a file (where a dataset or an export came from)
 * and of bytes in memory (the tensors of an export).
 * Uses OpenSSL's libcrypto EVP interface.
 *
 * The fingerprint of a set of weights (checksum_params) is the SHA-256 of
 * the parameters as little-endian float32 bytes in the LeNet table's order.
 * The progress line (first 12 hex digits), the epoch and done lines, the
 * metrics, `shardnet verify`, `shardnet info` ("parameters sha256") and the
 * exports (shardnet.params_sha256) all show it, so one set of weights has
 * one name everywhere.  A checkpoint's param_digest (ckpt.h) is another
 * thing: it also covers the momentum and /state, to verify the file. */
#ifndef SHARDNET_CHECKSUM_H
#define SHARDNET_CHECKSUM_H

#include <stddef.h>

#define CHECKSUM_HEX_LEN 64

/* hex: CHECKSUM_HEX_LEN + 1 chars, lower-case, NUL-terminated.
 * Returns 0, or -1 with base_error() naming the file. */
int checksum_sha256_file(const char *path, char *hex);
/* The same for n bytes in memory; -1 and base_error() if libcrypto fails. */
int checksum_sha256(const void *data, size_t n, char *hex);

/* The fingerprint of a set of weights, the one shown by training logs,
 * metrics, checkpoints (`shardnet verify`, `shardnet info`) and exports
 * (shardnet.params_sha256): the SHA-256 of the n parameters as
 * little-endian float32 bytes, in the flat buffer's order (the LeNet
 * table's order).  Dies only if libcrypto fails. */
void checksum_params(const float *params, size_t n, char *hex);

#endif
