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

static inline uint64_t rng_next(Rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 random bits: exact in float on every host. */
static inline float rng_uniform01(Rng *r) { return (float)(rng_next(r) >> 40) * 0x1.0p-24f; }

#endif
