/* shard.h - the order of training samples and who owns which: pure logic,
 * no files, no MPI.  Every rank computes the same answers from the same
 * (seed, epoch, N, B, m), so no communication is needed to agree.
 *
 * THE SHARD CONTRACT
 *
 * 1. Permutation.  For epoch e the N training samples are visited in the
 *    order perm[0..N), a permutation computed by shard_permutation(seed, e):
 *
 *      mix(z):  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
 *               z = (z ^ (z >> 27)) * 0x94D049BB133111EB
 *               return z ^ (z >> 31)                    (all uint64, mod 2^64)
 *      state  = mix(mix(seed) ^ e)
 *      next() = { state += 0x9E3779B97F4A7C15; return mix(state); }  (SplitMix64,
 *               ops/rng.h: rng_mix, rng_next, rng_below)
 *      below(k) = unbiased draw in [0, k): t = (2^64 - k) mod k;
 *                 repeat x = next() until x >= t; return x mod k
 *      perm[i] = i for all i
 *      for i = N-1 down to 1: j = below(i + 1); swap(perm[i], perm[j])
 *                                                      (Fisher-Yates)
 *    The order depends on (seed, e, N) only - never on P, m or the rank.
 *    Seed 42, epoch 0, N 10 gives 2 8 9 7 1 4 6 0 5 3.
 *
 * 2. Global steps.  Step b (0 <= b < floor(N / B)) takes the positions
 *    [b*B, (b+1)*B) of perm.  The N mod B samples at the tail of the
 *    permutation are dropped for this epoch (a different set each epoch).
 *
 * 3. Micro-batches.  A global batch is cut into K = B/m micro-batches of m
 *    consecutive positions; micro-batch g (0 <= g < K) of step b is
 *    positions b*B + g*m + [0, m).  m must divide B.
 *
 * 4. Ranks.  Any rank can compute any micro-batch: every rank holds the
 *    whole epoch's order (loader.h).  Who computes which micro-batches of a
 *    step is the trainer's decision (trainer/balance.h: P contiguous runs
 *    of micro-batches, P <= B/m, every rank at least one, sized by the
 *    ranks' measured speed or split evenly).  The gradient of a micro-batch
 *    does not depend on the rank that computes it, and the exact sum does
 *    not depend on the order of its terms, so the weights depend on
 *    (seed, N, B, m) only - never on P or on the assignment.
 *
 * 5. Evaluation.  Rank r of P gets the contiguous test range
 *    [r*T/P, (r+1)*T/P) (integer division) of the T test samples: shares
 *    differ by at most one sample, and together cover the test set once.
 */
#ifndef SHARDNET_SHARD_H
#define SHARDNET_SHARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n;              /* training samples N */
    size_t batch;          /* global batch B */
    size_t micro;          /* micro-batch m */
    size_t steps;          /* global steps per epoch: floor(N / B) */
    size_t micro_per_step; /* micro-batches per step: K = B / m */
} Shard;

/* Validates the numbers (N >= B, m | B, N < 2^32) and fills the derived
 * fields.  Returns 0, or -1 with base_error() set. */
int shard_init(Shard *s, size_t n, size_t batch, size_t micro);

/* perm: (n) - overwritten with the permutation of epoch `epoch` (contract 1). */
void shard_permutation(uint64_t seed, uint64_t epoch, size_t n, uint32_t *perm);

/* Position in the permutation of sample j of micro-batch g of step b
 * (contract 2-3).  Caller keeps b < steps, g < micro_per_step, j < m. */
size_t shard_position(const Shard *s, size_t step, size_t g, size_t j);

/* This rank's contiguous share [*first, *first + *count) of n test samples. */
void shard_eval_range(size_t n, int ranks, int rank, size_t *first, size_t *count);

#endif
