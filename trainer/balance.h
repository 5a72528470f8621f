/* balance.h - which rank computes which micro-batches of a step.
 *
 * Why the default micro-batch is 32 (config.h: the largest divisor of B up
 * to 32, a function of B alone so that the defaults are exact for every P):
 * `shardnet bench` on one core is flat from m = 16 to 128 (17,100-18,000
 * img/s), 16 is 2-3% slower (each micro-batch has a fixed cost: converting
 * 61,706 gradients to fixed point, the primitive launches), and 64 leaves 2
 * ranks 4 micro-batches, too coarse to balance a rank at 60% speed (2+2 or
 * 3+1 against the ideal 2.5+1.5); at P=2 m = 32 matched the best of
 * 16/32/64/128 (scripts/bench.sh).
 *
 * A step's K = B/m micro-batches (shard.h) are cut into P contiguous runs,
 * one per rank in rank order: rank r computes micro-batches
 * [first[r], first[r] + count[r]), every count >= 1, the counts summing to K
 * (so 1 <= P <= K).  Any rank can compute any micro-batch (every rank holds
 * the epoch's whole order, loader.h), a micro-batch's gradient is the same
 * bits on whichever rank computes it (same binary, threads and ISA, checked
 * at start-up), and the exact sum (gradred.h) does not depend on the order
 * of its terms: so in exact mode the assignment changes when a step ends,
 * never what it computes.  With --reduce float each rank first adds its own
 * micro-batches in float, so there the weights depend on the assignment.
 *
 * Two rules, both deterministic functions of numbers every rank holds:
 *   even      count[r] = floor(K/P) + (r < K mod P)    (8 on 3 ranks: 3 3 2)
 *   measured  (--balance on) the first step is even; after each step every
 *             rank feeds balance_update the same vector of per-rank compute
 *             times per micro-batch (summed in the step's control all-
 *             reduce, each rank filling its own slot), so every rank derives
 *             the same assignment for the next step without another message.
 *             The rule: a smoothed cost per rank, c = (3c + x) / 4 in integer
 *             nanoseconds (c = x the first time); speeds w = 2^40 / c; counts
 *             max(1, floor(K w / sum w)), then micro-batches added one at a
 *             time to the rank that would finish first ((count + 1) c,
 *             lowest rank on a tie) or, when the minimum of 1 gave too many,
 *             taken from the rank that finishes last among those with more
 *             than one (highest rank on a tie).  The new counts replace the
 *             old only when their predicted step time, max count*c, is at
 *             least 3% below the old counts' under the same costs, so timing
 *             noise does not move micro-batches back and forth.
 * Integer arithmetic only, so every host reaches the same counts.
 *
 * Pure; no MPI.  The caller owns the struct; balance_free is safe on a
 * zeroed one. */
#ifndef SHARDNET_BALANCE_H
#define SHARDNET_BALANCE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int ranks;       /* P */
    int64_t terms;   /* K, micro-batches per step */
    bool measured;   /* the measured rule (else even) */
    int64_t *count;  /* (P) micro-batches of each rank this step */
    int64_t *first;  /* (P) each rank's first micro-batch */
    int64_t *cost;   /* (P) smoothed ns per micro-batch; 0 until measured */
    int64_t changes; /* times balance_update moved micro-batches */
} Balance;

/* The even assignment for P ranks and K micro-batches.  0, or -1 with
 * base_error() when P < 1 or P > K. */
int balance_init(Balance *b, int ranks, int64_t terms, bool measured);
/* After a step: ns[r] = rank r's compute time per micro-batch in that step
 * (every rank passes the same vector).  Under the measured rule, updates the
 * costs and maybe the assignment (see above); under the even rule, nothing. */
void balance_update(Balance *b, const int64_t *ns);
void balance_free(Balance *b);

#endif
