/* hash.h - a 64-bit hash of byte buffers, used to compare parameters and
 * configurations across ranks, runs and world sizes.
 *
 * The hash is FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3) over the bytes in memory order.  It is not cryptographic:
 * it detects accidental differences, which is all a cross-rank check needs.
 * A float buffer is hashed by its bit patterns, so 0.0 and -0.0 differ and a
 * NaN hashes by its payload; all hosts of a run are little-endian x86-64, so
 * the same floats give the same hash everywhere.
 *
 * Pure functions; no MPI.  Incremental use: h = HASH_INIT; h = hash_update(h,
 * a, na); h = hash_update(h, b, nb);  equals hash_bytes over a then b. */
#ifndef SHARDNET_HASH_H
#define SHARDNET_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_INIT UINT64_C(0xcbf29ce484222325)

uint64_t hash_update(uint64_t h, const void *data, size_t n);
uint64_t hash_bytes(const void *data, size_t n);
/* Hash of n floats by their bit patterns (the parameter hash). */
uint64_t hash_floats(const float *x, size_t n);
/* Hash of a NUL-terminated string, without the NUL. */
uint64_t hash_string(const char *s);

#endif
