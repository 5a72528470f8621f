/* metrics.h - what rank 0 reports: the JSON-lines file of --metrics and the
 * fixed-width progress line.  The schema is documented in README.md.
 *
 * Only rank 0 opens a Metrics; each record is one line, flushed at once so a
 * run that dies leaves every line written before it.  Non-finite numbers are
 * written as null (JSON has no NaN); 64-bit hashes as "0x%016x" strings
 * (JSON numbers lose integers above 2^53).  The format_* functions fill a
 * caller buffer (no trailing newline) and are what the writers print.
 * Pure apart from the FILE; no MPI. */
#ifndef SHARDNET_METRICS_H
#define SHARDNET_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    int world_size;
    int hosts;
    int64_t threads;
    int64_t steps_per_epoch;
    int64_t total_steps;
    uint64_t config_hash;
    uint64_t param_hash;   /* initial parameters */
    int64_t param_count;
    const char *config;    /* config_describe text */
} StartRecord;

typedef struct {
    int64_t epoch;         /* 1-based */
    int64_t epochs;
    int64_t step;          /* global update count after this step, 1-based */
    int64_t total_steps;
    double loss;           /* mean loss of this step's global batch */
    double accuracy;       /* of this step's global batch */
    double lr;             /* learning rate used by this step */
    double img_per_s;      /* global images per second since the last record */
    double eta_s;          /* seconds left, < 0 if unknown */
    uint64_t param_hash;   /* parameters after this step */
} StepRecord;

typedef struct {
    int64_t epoch;
    double train_loss;     /* mean over the epoch's steps */
    double train_accuracy;
    int has_test;          /* 0 with --no-eval: test fields are null */
    double test_loss;
    double test_accuracy;
    double seconds;        /* wall time of the epoch, evaluation included */
    double img_per_s;      /* training images per second */
    uint64_t param_hash;
} EpochRecord;

typedef struct {
    FILE *f;
} Metrics;

/* Create/truncate path.  0, or -1 with base_error(). */
int metrics_open(Metrics *m, const char *path);
/* Each writes one line; 0, or -1 with base_error() on a write error. */
int metrics_write_start(Metrics *m, const StartRecord *r);
int metrics_write_step(Metrics *m, const StepRecord *r);
int metrics_write_epoch(Metrics *m, const EpochRecord *r);
/* Close; -1 with base_error() if a buffered write failed.  Safe on zeroed. */
int metrics_close(Metrics *m);

void metrics_format_start(const StartRecord *r, char *buf, size_t cap);
void metrics_format_step(const StepRecord *r, char *buf, size_t cap);
void metrics_format_epoch(const EpochRecord *r, char *buf, size_t cap);

/* The progress line, fixed width for aligned columns:
 * "epoch   1/10  step     50/2340  loss 2.302585  acc 0.1016  lr 9.000e-01
 *  img/s   12345  ETA 0:03:21" (one line). */
void metrics_format_progress(const StepRecord *r, char *buf, size_t cap);
/* Seconds as H:MM:SS ("-:--:--" when negative or not finite). */
void metrics_format_duration(double seconds, char *buf, size_t cap);

#endif
