/* shard.c - the permutation, step, micro-batch and rank arithmetic of the
 * shard contract; see shard.h for the contract itself. */
#include "shard.h"

#include "base.h"
#include "rng.h"

int shard_init(Shard *s, size_t n, size_t batch, size_t micro)
{
    *s = (Shard){0};
    if (batch == 0 || micro == 0)
        return base_error_set("shard: global batch (%zu) and micro-batch (%zu) must be positive",
                              batch, micro);
    if (batch % micro)
        return base_error_set("shard: micro-batch %zu does not divide the global batch %zu",
                              micro, batch);
    if (n < batch)
        return base_error_set("shard: %zu training samples are fewer than one global batch of %zu",
                              n, batch);
    if (n > UINT32_MAX)
        return base_error_set("shard: %zu training samples exceed the 2^32-1 limit", n);
    *s = (Shard){.n = n, .batch = batch, .micro = micro, .steps = n / batch,
                 .micro_per_step = batch / micro};
    return 0;
}

void shard_permutation(uint64_t seed, uint64_t epoch, size_t n, uint32_t *perm)
{
    Rng rng = {rng_mix(rng_mix(seed) ^ epoch)};
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(&rng, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

size_t shard_position(const Shard *s, size_t step, size_t g, size_t j)
{
    return step * s->batch + g * s->micro + j;
}

void shard_eval_range(size_t n, int ranks, int rank, size_t *first, size_t *count)
{
    size_t lo = n * (size_t)rank / (size_t)ranks;
    size_t hi = n * (size_t)(rank + 1) / (size_t)ranks;
    *first = lo;
    *count = hi - lo;
}
