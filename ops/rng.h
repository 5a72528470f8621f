/* rng.h - the portable pseudo-random generator shardnet uses wherever a
 * result must be reproducible on any host: SplitMix64 (Steele, Lea and
 * Flood, 2014), 64-bit state, integer arithmetic only.
 *
 *   state += 0x9E3779B97F4A7C15;  z = state;
 *   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *   z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
 *   return z ^ (z >> 31);
 */
#ifndef SHARDNET_RNG_H
#define SHARDNET_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} Rng;

/* SplitMix64's output function (a bijection on 64-bit words). */
static inline uint64_t rng_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t rng_next(Rng *r) { return rng_mix(r->state += 0x9E3779B97F4A7C15ull); }

/* Exactly uniform in [0, k), k >= 1: rejecting the lowest 2^64 mod k values
 * leaves a whole number of copies of [0, k), so x mod k is unbiased. */
static inline uint64_t rng_below(Rng *r, uint64_t k)
{
    uint64_t threshold = (0 - k) % k, x;
    do
        x = rng_next(r);
    while (x < threshold);
    return x % k;
}

/* Uniform in [0, 1) with 24 random bits: exact in float on every host. */
static inline float rng_uniform01(Rng *r) { return (float)(rng_next(r) >> 40) * 0x1.0p-24f; }

#endif
