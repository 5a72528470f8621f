/* gradred.h - exact, order-independent summation of per-micro-batch
 * gradients in 64-bit fixed point (the arithmetic half of the gradient
 * all-reduce; dist_allreduce_grads in dist.h does the MPI half).
 *
 * Why: float addition is not associative, so summing the same gradients over
 * 1, 2 or 4 ranks (different reduction trees) gives different bits.  Integer
 * addition is associative and commutative, so converting every micro-batch
 * gradient to int64 first makes the reduced sum, and so the weights, bit-
 * identical for every world size and every run.
 *
 * The format: value v = round(g * 2^S) with S = GRADRED_SCALE_BITS = 32.
 *   resolution  2^-32 = 2.3e-10 (absolute; rounding error <= 2^-33 per term)
 *   range       depends on K, the number of micro-batches summed per step
 *               over all ranks (K = B/m, 1 <= K <= GRADRED_MAX_TERMS = 65536).
 *               With c = ceil(log2 K) every element must satisfy
 *                   |g| < 2^(31 - c)        (2^15 = 32768 at K = 65536,
 *                                            2^30 at K = 2)
 *               so |v| <= 2^(63 - c) - 1 and any sum of at most K terms has
 *               |sum| <= 2^63 - 2^c < INT64_MAX: overflow is impossible once
 *               every element passes the check, and the check is exact (it
 *               compares the float against a power of two).
 * The gradient of a micro-batch's MEAN loss is O(1) or smaller for LeNet, so
 * the range leaves a wide margin; 2^-32 is far below the float precision of
 * any gradient that moves a weight.  A larger S would shrink the range; a
 * smaller one would lose small gradients.
 *
 * Overflow and non-finite values are detected in gradred_add, which returns
 * GRADRED_OVERFLOW or GRADRED_NONFINITE with a message in base_error() naming
 * the element, its value and the allowed range.  It does not die: the caller
 * passes the outcome through the control all-reduce (control.h) so that all
 * ranks stop, or all skip the step, together.  After a failed add the sums
 * are unusable until gradred_reset.
 *
 * Back-conversion (gradred_finish): mean[i] = (float)(((double)sum[i] * 2^-32)
 * / count), where count is the global number of micro-batches added (carried
 * as the last element of the reduced buffer).  All micro-batches have the same
 * size m and each gradient is that of the micro-batch MEAN loss, so this is
 * the gradient of the mean loss over the global batch.  int64 -> double and
 * the division round to nearest-even, then double -> float rounds once more:
 * IEEE-754 operations with one result on every host (no libm, no FMA).
 *
 * The wire (dist.c): the sums travel in 32 bits where that is exact.  The
 * tail of the buffer (dist_grads_start) is cut into blocks of
 * GRADRED_WIRE_BLOCK elements; each rank sends the low 32 bits of every
 * int64 partial sum (gradred_wire_pack: a[i] mod 2^32 as uint32_t) and
 * MPI sums them as MPI_UINT32_T.  Unsigned addition in C is defined modulo
 * 2^32 (no wraparound is undefined or accidental here), so the wire sum is
 * the true sum S = sum over ranks of a_r[i], mod 2^32, in any order.  Its
 * range: each rank also reports, per block, M_r = max |a_r[i]| over the
 * block (gradred_wire_bound, clamped at GRADRED_WIRE_CLAMP = 2^32 so that
 * the sum of P of them cannot overflow int64 for P < 2^31), and the ranks
 * sum these bounds EXACTLY in int64 (riding in the control all-reduce).
 * For every element of the block, |S| <= sum_r |a_r[i]| <= sum_r M_r; if
 * that sum is at most INT32_MAX (gradred_wire_fits), S lies in
 * [-(2^31 - 1), 2^31 - 1], where the residue mod 2^32 has ONE signed
 * representative, and gradred_wire_unpack recovers S exactly.  A block
 * whose bound sum is larger is summed again from the untouched int64
 * partial sums (64 bits, as before): the check may reject a block that
 * would have fitted (it bounds, it does not look), never accept one that
 * did not.  Either way the sums, and so the weights, are the same bits as
 * the int64 all-reduce; only the bytes differ.  A clamped bound is >= 2^31,
 * so clamping only ever forces the 64-bit path.  (dist.c also sends blocks
 * that needed 64 bits on a recent step as int64 from the start, which saves
 * the second round; that too changes bytes, not sums.)
 *
 * Float mode (--reduce float): the same calls sum plain floats (order-
 * dependent, for comparison); the count rides in the last float (exact up
 * to 2^24).  Non-finite values are still reported; there is no range limit.
 *
 * Ownership: the caller owns the struct; gradred_free is safe on a zeroed one. */
#ifndef SHARDNET_GRADRED_H
#define SHARDNET_GRADRED_H

#include <stddef.h>
#include <stdint.h>

#define GRADRED_SCALE_BITS 32
#define GRADRED_MAX_TERMS 65536
/* Elements per block of the 32-bit wire (see above): one bound per block. */
#define GRADRED_WIRE_BLOCK 256
#define GRADRED_WIRE_CLAMP (INT64_C(1) << 32)

typedef enum { REDUCE_EXACT, REDUCE_FLOAT } ReduceMode;

enum { GRADRED_OK = 0, GRADRED_NONFINITE = 1, GRADRED_OVERFLOW = 2 };

typedef struct {
    ReduceMode mode;
    size_t n;        /* gradient elements */
    size_t terms;    /* K: most micro-batches summed per step, all ranks */
    int bound_bits;  /* every |g| < 2^bound_bits (exact mode) */
    int64_t *acc;    /* (n + 1) exact mode; acc[n] counts micro-batches */
    float *fsum;     /* (n + 1) float mode; fsum[n] counts micro-batches */
    size_t added;    /* micro-batches added on this rank since reset */
    int status;      /* first GRADRED_* failure since reset */
} GradReducer;

/* terms = K = B/m.  Returns -1 (base_error) if terms is 0 or above
 * GRADRED_MAX_TERMS, or n is 0.  Starts reset. */
int gradred_init(GradReducer *r, size_t n, ReduceMode mode, size_t terms);
void gradred_free(GradReducer *r);
/* Zero the sums and the count: call at the start of every step. */
void gradred_reset(GradReducer *r);
/* Add one micro-batch gradient (n floats, gradient of its mean loss).
 * Returns GRADRED_OK, or GRADRED_NONFINITE / GRADRED_OVERFLOW with a message
 * in base_error(); the first failure also stays in r->status. */
int gradred_add(GradReducer *r, const float *grad);
/* gradred_add in pieces, so that part of the buffer can be all-reduced
 * while the rest of the gradient is still being computed: add elements
 * [first, last) of one micro-batch gradient (same returns as gradred_add);
 * once every element of it is added, gradred_count counts the micro-batch
 * (the count element, which travels with the tail of the buffer). */
int gradred_add_range(GradReducer *r, const float *grad, size_t first, size_t last);
void gradred_count(GradReducer *r);
/* Add the sums of another reducer of this rank (same mode, n and terms:
 * a worker thread's, trainer/train.c) into *into, buffer elements
 * [first, last) with last <= n + 1; the range that holds element n (the
 * count) also carries from's added count, and every merge carries from's
 * first failure if into has none yet.  Exact mode: integer adds, so merging in any order, and
 * any split of the micro-batches among reducers, gives the same sums (no
 * overflow: the merged terms are still at most K).  Float mode: the order
 * of the merges is the order of the additions. */
void gradred_merge_range(GradReducer *into, const GradReducer *from, size_t first, size_t last);
/* The buffer to sum across ranks in place: n + 1 int64 (exact) or n + 1
 * floats (float mode), and its element count. */
void *gradred_buffer(GradReducer *r);
size_t gradred_buffer_len(const GradReducer *r);
/* Bytes of one buffer element: 8 (int64, exact) or 4 (float). */
size_t gradred_elem_size(const GradReducer *r);
/* After the buffer holds the sum over all ranks: write the mean gradient
 * (n floats, overwritten).  Returns -1 (base_error) if the global count is 0
 * or exceeds terms (more micro-batches than the range was sized for). */
int gradred_finish(const GradReducer *r, float *mean_out);

/* The element bound for K terms: |g| < 2^gradred_bound_bits(K). */
int gradred_bound_bits(size_t terms);
/* One element to fixed point: 0 and *out = round(g * 2^32), or GRADRED_*. */
int gradred_to_fixed(float g, int bound_bits, int64_t *out);
/* Fixed-point sum of count terms back to their mean, as described above. */
float gradred_from_fixed(int64_t sum, double count);

/* The 32-bit wire, as described above.  Blocks of an n-element range: */
size_t gradred_wire_blocks(size_t n);
/* wire[i] = acc[i] mod 2^32 for i < n, and bound[b] = min(max |acc[i]|
 * over block b, GRADRED_WIRE_CLAMP) for each of gradred_wire_blocks(n)
 * blocks (block b is elements [b * GRADRED_WIRE_BLOCK, ...)). */
void gradred_wire_pack(const int64_t *acc, size_t n, uint32_t *wire, int64_t *bound);
/* 1 if a block whose bounds summed over all ranks to bound_sum is exact in
 * 32 bits (bound_sum <= INT32_MAX), else 0. */
int gradred_wire_fits(int64_t bound_sum);
/* acc[i] = the signed value in [-2^31, 2^31) congruent to wire[i] mod 2^32:
 * the exact sum, for a block that fits. */
void gradred_wire_unpack(const uint32_t *wire, size_t n, int64_t *acc);

#endif
