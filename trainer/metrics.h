/* metrics.h - what rank 0 reports: the run's metrics file (JSON lines,
 * RUN/metrics.jsonl) and the fixed-width progress line.
 *
 * Records (keys besides type and time):
 *   start    run, world_size, hosts, threads, steps_per_epoch, total_steps,
 *            param_count, step, epoch, fingerprint (initial), config
 *   resume   the same; step/epoch where it continues, from (the
 *            checkpoint), written_by_world_size
 *   step     epoch (1-based), step, total_steps, loss and accuracy of the
 *            step's global batch, lr, img_per_s since the previous record,
 *            eta_s, fingerprint
 *   epoch    epoch, step, train_loss, train_accuracy (epoch means),
 *            val_loss, val_accuracy (null without --val), test_loss,
 *            test_accuracy (null with --no-eval), seconds, img_per_s,
 *            fingerprint
 *   checkpoint, best   step, epoch, path, fingerprint (best: also val_loss,
 *            val_accuracy)
 *   stop     step, epoch, fingerprint: stopped by a signal, checkpoint written
 *   end      step, epoch, skipped, reason (done|early_stop), fingerprint
 * A run killed without a checkpoint may have logged steps after its last
 * checkpoint; the resumed run logs them again after its resume record.
 *
 * The file is opened for APPEND: a resumed run adds to the history of the
 * run it continues, so the whole learning curve stays in one file, with
 * start/resume/checkpoint/stop/end records between the steps and epochs.
 * Every record is one JSON object (jansson) on one line, flushed at once so
 * a run that dies leaves every line written before it, and begins with
 * "type" and "time" (wall-clock Unix seconds).  Non-finite numbers are
 * written as null (JSON has no NaN); reals with 17 significant digits, so
 * they parse back to the same double.  Fingerprints are the SHA-256 of the
 * parameters as 64 hex digits.  Only rank 0 opens a Metrics; no MPI. */
#ifndef SHARDNET_METRICS_H
#define SHARDNET_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define METRICS_FINGERPRINT_LEN 65 /* 64 hex digits and the NUL */

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
    char fingerprint[METRICS_FINGERPRINT_LEN]; /* parameters after this step */
} StepRecord;

typedef struct {
    int64_t epoch;         /* 1-based */
    int64_t step;          /* global step at the end of the epoch */
    double train_loss;     /* mean over the epoch's steps */
    double train_accuracy;
    int has_val;           /* 0 without --val: val fields are null */
    double val_loss;
    double val_accuracy;
    int has_test;          /* 0 with --no-eval: test fields are null */
    double test_loss;
    double test_accuracy;
    double seconds;        /* wall time of the epoch, evaluation included */
    double img_per_s;      /* training images per second */
    char fingerprint[METRICS_FINGERPRINT_LEN];
} EpochRecord;

typedef struct {
    FILE *f;
} Metrics;

/* Opens path for appending (creating it).  0, or -1 with base_error(). */
int metrics_open(Metrics *m, const char *path);
/* Writes {"type": type, "time": now, ...fields} as one line and releases
 * fields (a JSON object, or NULL for none).  0, or -1 with base_error() on
 * a write error; safe (0, nothing written) on a Metrics that is not open. */
int metrics_write(Metrics *m, const char *type, json_t *fields);
/* Close; -1 with base_error() if a buffered write failed.  Safe on zeroed. */
int metrics_close(Metrics *m);

/* The fields of a step and an epoch record (new references). */
json_t *metrics_step_fields(const StepRecord *r);
json_t *metrics_epoch_fields(const EpochRecord *r);
/* A JSON real, or null when v is not finite (new reference). */
json_t *metrics_real(double v);
/* Wall-clock time, Unix seconds. */
double metrics_now(void);

/* The progress line, fixed width for aligned columns:
 * "epoch   1/10  step     50/2340  loss 2.302585  acc 0.1016  lr 9.000e-01
 *  img/s   12345  ETA 0:03:21  sha256 0123456789ab" (one line). */
void metrics_format_progress(const StepRecord *r, char *buf, size_t cap);
/* Seconds as H:MM:SS ("-:--:--" when negative or not finite). */
void metrics_format_duration(double seconds, char *buf, size_t cap);

#endif
