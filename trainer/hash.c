/* hash.c - FNV-1a 64.  See hash.h. */
#include "hash.h"

#include <string.h>

#define FNV_PRIME UINT64_C(0x100000001b3)

uint64_t hash_update(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t hash_bytes(const void *data, size_t n) { return hash_update(HASH_INIT, data, n); }

uint64_t hash_floats(const float *x, size_t n) { return hash_bytes(x, n * sizeof *x); }

uint64_t hash_string(const char *s) { return hash_bytes(s, strlen(s)); }
