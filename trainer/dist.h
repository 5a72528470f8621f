/* dist.h - everything MPI in shardnet: start and stop, the gradient and
 * control all-reduces, the start-up agreement check, the host summary.
 *
 * Contract: dist_init first thing in a command that uses MPI; after it,
 * die() on any rank calls MPI_Abort(MPI_COMM_WORLD) so no rank is left
 * waiting in a collective, and MPI_COMM_WORLD returns errors
 * (MPI_ERRORS_RETURN) which MPI_CHECK turns into die() naming the call and
 * the MPI error string.  Every function below is COLLECTIVE: all ranks call
 * it, in the same order, with the same sizes; afterwards every rank holds the
 * same result, so branches taken on it are taken by all ranks together.
 *
 * The overlapped gradient all-reduce.  Backward runs from fc3 to conv1; once
 * fc1's gradients are final (96% of LeNet's 61,706 parameters) the rank
 * starts their MPI_Iallreduce (dist_grads_start), and between the remaining
 * layers (pool2, conv2, pool1) it calls MPI_Test (dist_grads_progress): Open
 * MPI has no progress thread and moves a transfer only inside MPI calls.  In
 * exact mode the conv gradients (2,572 values) ride in the control all-
 * reduce, so a step has one synchronisation; in float mode they are a second
 * all-reduce after it.  Integer sums do not depend on how they are split, so
 * the weights are the bits of one plain all-reduce (P = 1, 2, 4 gave the same
 * hash before and after the overlap).  Measured at P=2 on 2 cores: the
 * blocked time per step fell from 0.23-0.67 ms to 0.05 ms; Open MPI's copies
 * and sums inside the MPI_Test calls cost 0.11-0.15 ms of a 5.5 ms step.
 *
 * The watchdog and the network (dist_watchdog_init).  Rank r > 0 waits r
 * grace periods (max(2 s, timeout/4) each) longer than rank 0, so that
 * normally one rank reports and aborts: Open MPI 4.1 was seen to crash when
 * several ranks called MPI_Abort at once; if rank 0 is the late one, rank 1
 * names it.  A dead node is noticed by mpirun's daemons, not by shardnet:
 * with `--mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2
 * --mca oob_tcp_keepalive_probes 3` a cut link ended the job in 12.7 s (exit
 * 205) instead of about 8 minutes (tests/multihost.sh, namespaces).  Keep
 * --timeout above those 11 s: when the watchdog fires first, its MPI_Abort
 * must reach the dead node's daemon, that message sits in TCP
 * retransmission, the connection no longer counts as idle and the keepalive
 * stops applying; with the kernel's default net.ipv4.tcp_retries2 = 15
 * mpirun still waited after 120 s, with tcp_retries2 = 3 it ended in
 * 8.6-12.2 s (exit 4).  Not watched: checkpoint writes and the per-epoch
 * evaluation (they may legitimately take long); a rank stuck in them is
 * caught at the next control all-reduce only by ranks not themselves
 * waiting in the checkpoint's broadcast.  Computation is watched at any P
 * by stepwatch.h. */
#ifndef SHARDNET_DIST_H
#define SHARDNET_DIST_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "control.h"
#include "gradred.h"

#define MPI_CHECK(call)                                                        \
    do {                                                                       \
        int e_ = (call);                                                       \
        if (e_ != MPI_SUCCESS)                                                 \
            die("%s failed: %s", #call, dist_error_string(e_));               \
    } while (0)

/* MPI_Init, rank and size, MPI_ERRORS_RETURN, die() -> MPI_Abort. */
void dist_init(int *argc, char ***argv);
/* MPI_Finalize (checked).  Call once, on every rank, on the way out. */
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
/* The MPI library's name and version, one line (callable before dist_init). */
void dist_library_version(char *out, size_t cap);
/* The text of an MPI error code (static buffer). */
const char *dist_error_string(int err);

/* The hang watchdog for the two per-step collectives below.  seconds > 0:
 * the control all-reduce runs as MPI_Iallreduce polled against a deadline,
 * and every rank first posts a small "arrived at step S" message to rank 0
 * (and rank 0 to every rank) on a private communicator.  When the deadline
 * passes, rank 0 prints the step, the collective and the ranks whose arrival
 * it has not received (with their hosts), and calls
 * MPI_Abort(DIST_WATCHDOG_EXIT); the other ranks wait a grace period longer
 * (so that rank 0's report comes first), then report what they know (whether
 * rank 0 arrived) and abort too.  What dist_allreduce_grads still waits for
 * runs under an interval timer that reports and _exits with the same code.
 * seconds == 0: plain blocking calls, no watchdog.  Collective: call with
 * the same value on every rank, after dist_init. */
void dist_watchdog_init(double seconds);
enum { DIST_WATCHDOG_EXIT = 4 };

/* Sum r's buffer over all ranks (MPI_INT64_T in exact mode, MPI_FLOAT in
 * float mode, in place: whatever part dist_grads_start and
 * dist_control_allreduce have not already summed, then the wait for the
 * part in flight; in exact mode a tail in flight travelled in 32 bits and
 * its blocks that may not fit are summed again in 64, see gradred.h) and
 * write the mean gradient of the global batch to
 * mean_out (n floats, overwritten, identical on every rank).  The caller
 * must only call it when the control all-reduce of the step reported no
 * non-finite or overflow on any rank (every rank then agrees to call it); a
 * rank whose own adds failed dies here (a caller bug).
 * Dies (MPI_Abort) if the global micro-batch count is not 1..K. */
void dist_allreduce_grads(GradReducer *r, float *mean_out, int64_t step);
/* Overlap: start summing buffer elements [from, len) -- the tail, which
 * holds the count -- in the background (MPI_Iallreduce) while this rank
 * still computes elements [0, from).  In exact mode the tail's local sums
 * must be final (every local micro-batch added to [from, len)): they go out
 * as their low 32 bits (MPI_UINT32_T) with one range bound per block of
 * GRADRED_WIRE_BLOCK, and r->acc keeps the int64 sums for a 64-bit resend
 * (gradred.h says why this is exact).  Every rank starts it at the same
 * point of the step (before the control all-reduce).  Open MPI makes
 * progress only inside MPI calls, so call dist_grads_progress now and then
 * while computing.  dist_allreduce_grads then sums only [0, from) and waits
 * for the tail; a step that is not taken (stop, skip) must call
 * dist_grads_discard instead, which waits for the tail and drops it. */
void dist_grads_start(GradReducer *r, size_t from);
void dist_grads_progress(void);
void dist_grads_discard(void);
/* The 32-bit wire's record since dist_init (the same on every rank: every
 * decision is taken on summed values).  The first DIST_WIRE_LOG_STEPS
 * steps with a 64-bit resend are also logged by rank 0 on stderr. */
typedef struct {
    int64_t steps;       /* gradient all-reduces (dist_allreduce_grads) */
    int64_t wire_steps;  /* of which with an exact tail in 32 bits */
    int64_t blocks;      /* tail blocks, over those steps */
    int64_t planned_blocks; /* of which sent as int64 from the start (they
                               needed 64 bits on a recent step) */
    int64_t wide_steps;  /* steps that resent some blocks in 64 bits */
    int64_t wide_blocks; /* blocks resent in 64 bits, over those steps */
    int64_t bytes_last;  /* bytes this rank put into the last step's gradient
                            sums (every part, every width) */
} DistWireStats;
enum { DIST_WIRE_LOG_STEPS = 3 };
const DistWireStats *dist_wire_stats(void);

/* Seconds for reps blocking all-reduces of r's whole buffer, after a
 * barrier: the link's bandwidth for the scaling report.  Resets r. */
double dist_probe_grads(GradReducer *r, int reps);

/* Sum c over all ranks in place: one MPI_Allreduce(MPI_INT64_T, MPI_SUM)
 * of CONTROL_N int64 (see control.h), plus n_slots int64 of slots (in
 * place too; each rank fills its own slot and leaves the others 0, so that
 * every rank receives every rank's value: the compute times balance.h
 * needs).  step (1-based, the step being taken) names the step in watchdog
 * messages.  When r is given, has a tail in flight (dist_grads_start) and
 * sums int64 (exact mode), the head of its buffer rides in the same
 * all-reduce (one synchronisation a step instead of two), and so do the
 * tail's per-block wire bounds; its sums are only meaningful if the step is
 * then taken. */
void dist_control_allreduce(Control *c, int64_t *slots, size_t n_slots, GradReducer *r,
                            int64_t step);

/* Sum n int64 over all ranks, in place (evaluation counts, confusion matrix). */
void dist_sum_i64(int64_t *buf, size_t n);
/* Maximum of one double over all ranks, in place (timings). */
void dist_max_f64(double *value);
/* Maximum of n int64 over all ranks, in place. */
void dist_max_i64(int64_t *buf, size_t n);
/* Every rank's n bytes to rank 0, in rank order into all (P * n bytes;
 * only rank 0's all is written). */
void dist_gather_bytes(const void *mine, size_t n, void *all);
/* Rank root's bytes to every rank, in place. */
void dist_broadcast(void *buf, size_t bytes, int root);

/* A value every rank must agree on, with a name for the message. */
typedef struct {
    const char *name;   /* "config hash", "dataset size", ... */
    uint64_t value;
} Agreement;

/* Compare n values across ranks (one MPI_Allreduce(MAX) of each value and its
 * complement gives min and max).  All agree: 0.  Otherwise rank 0 prints to
 * stderr, for each differing value, its name and every rank's value
 * (gathered), and every rank returns -1: the caller exits non-zero on every
 * rank (dist_finalize, return 1).  n and the names must be the same on all
 * ranks (n itself is compared first). */
int dist_check_agreement(const Agreement *items, size_t n);

/* Gather host names on rank 0; on rank 0 write "P ranks on H hosts: a (2
 * ranks), ..." to out (cap bytes) and return H; other ranks get "" and 0. */
int dist_hosts(char *out, size_t cap);

#endif
