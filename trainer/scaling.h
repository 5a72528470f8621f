/* scaling.h - the scaling report of `shardnet train --scaling-report PREFIX`:
 * where each rank's time went (compute, waiting for the others, reducing the
 * gradients, the update), the bytes it reduced and the bandwidth achieved,
 * the global throughput, and the efficiency against a P=1 baseline.
 * Written as PREFIX.md (Markdown) and PREFIX.json.  Pure; no MPI (the
 * trainer gathers the per-rank figures). */
#ifndef SHARDNET_SCALING_H
#define SHARDNET_SCALING_H

#include <stdint.h>

typedef struct {
    double compute_s;   /* forward, loss, backward, fixed-point conversion, and the
                           progress of the gradient all-reduce overlapped with backward */
    double wait_s;      /* in the per-step control all-reduce: mostly waiting for the slowest
                           rank (in exact mode it also carries the conv gradients) */
    double allreduce_s; /* blocked on the gradient all-reduce after the control one */
    double update_s;    /* SGD update */
    int64_t steps;      /* steps timed */
    int64_t bytes;      /* gradient bytes this rank contributed to all-reduces */
    double probe_s;     /* probe_reps blocking all-reduces of the whole gradient buffer */
    int64_t probe_bytes;/* bytes of one probe all-reduce */
    int64_t probe_reps;
    int64_t micro_total; /* micro-batches this rank computed in the timed steps */
    int64_t micro_last;  /* ... in the last step: the assignment training ended with */
    int64_t micro_min, micro_max; /* fewest and most in one step */
} RankTiming;

typedef struct {
    int ranks;
    const RankTiming *per_rank; /* (ranks) */
    const char *const *hosts;   /* (ranks) host of each rank, or NULL */
    double wall_s;              /* wall time of the timed steps */
    int64_t images;             /* training images of the timed steps, all ranks */
    int64_t batch, micro_batch;
    const char *reduce;         /* "exact" / "float" */
    int balance;                /* 1: micro-batches balanced by measured speed (--balance on) */
    int64_t balance_changes;    /* times the assignment changed */
    double baseline_img_per_s;  /* P=1 throughput for the efficiency, 0: none */
} ScalingReport;

/* Writes PREFIX.md and PREFIX.json (each atomically); 0, or -1 with base_error(). */
int scaling_write(const char *prefix, const ScalingReport *r);
/* The "img_per_s" of a report written by scaling_write (the P=1 baseline). */
int scaling_read_baseline(const char *json_path, double *img_per_s);

#endif
