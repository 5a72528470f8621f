/* control.h - the per-step control record: everything the ranks decide
 * together, summed by ONE MPI_Allreduce(MPI_INT64_T, MPI_SUM) per step
 * (dist_control_allreduce in dist.h).
 *
 * Every field is an int64 and the reduction is a plain SUM, so one call
 * carries them all and the result is exact and identical on every rank:
 *   loss_fixed      sum over micro-batches of round(loss * 2^32), where loss
 *                   is the micro-batch's MEAN loss; |loss| < 2^15 is required
 *                   (CONTROL_LOSS_BOUND_BITS) so that 65536 terms cannot
 *                   overflow - the logged loss is the same for any P.
 *   correct         correct predictions, summed
 *   samples         samples, summed
 *   microbatches    micro-batches, summed (all of size m)
 *   nonfinite_ranks ranks that saw a NaN/Inf in a loss or gradient
 *   overflow_ranks  ranks whose gradient left the fixed-point range
 *   stop_ranks      ranks that request a stop (signal, time limit)
 * The three *_ranks fields are 0/1 on each rank, so their sum counts ranks:
 * "> 0" is the MAX (any rank) that the decision needs, and the count is
 * there for the message.  After the all-reduce every rank branches on the
 * same values, so no rank takes a branch alone.
 *
 * Pure functions; no MPI. */
#ifndef SHARDNET_CONTROL_H
#define SHARDNET_CONTROL_H

#include <stdint.h>

#define CONTROL_LOSS_BOUND_BITS 15

typedef struct {
    int64_t loss_fixed;
    int64_t correct;
    int64_t samples;
    int64_t microbatches;
    int64_t nonfinite_ranks;
    int64_t overflow_ranks;
    int64_t stop_ranks;
} Control;

/* Number of int64 in a Control (it has no padding: all fields int64). */
#define CONTROL_N (sizeof(Control) / sizeof(int64_t))

/* Zero every field: call at the start of every step. */
void control_reset(Control *c);
/* Record one micro-batch: its mean loss, correct count and size.  A non-
 * finite loss sets nonfinite_ranks = 1; a loss outside the bound sets
 * overflow_ranks = 1; both leave loss_fixed unchanged and put a message in
 * base_error() for the rank to print. */
void control_add_microbatch(Control *c, float loss, int64_t correct, int64_t samples);
/* Add the record of another part of this rank's micro-batches (a worker
 * thread's, train.c) into *into: the sums add, the 0/1 rank flags OR (they
 * still count this rank once).  A field added to Control needs its rule here. */
void control_merge(Control *into, const Control *from);
/* Mark this rank's outcome of gradred_add (GRADRED_*). */
void control_note_grad_status(Control *c, int gradred_status);
/* Mean loss and accuracy of the summed record (0 if empty). */
double control_mean_loss(const Control *c);
double control_accuracy(const Control *c);

#endif
