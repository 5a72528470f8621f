/* run.h - the run directory of `shardnet train`: one folder per run that
 * holds everything the run writes, so that two runs never touch each other.
 *
 *   RUN/config.json     the effective configuration (config_to_json), as
 *                       of the latest start or resume
 *   RUN/metrics.jsonl   metrics.h: appended across resumes
 *   RUN/ckpt-*.h5, RUN/latest   checkpoints (io/ckptdir.h)
 *   RUN/best.h5, RUN/best.json  the best checkpoint by --best (never pruned)
 *   RUN/events.out.tfevents.shardnet   TensorBoard scalars (io/tfevents.h)
 *
 * --run DIR names it; without it rank 0 creates a new runs/YYYYmmdd-HHMMSS
 * (with -2, -3, ... when that exists: two runs started in the same second
 * still get their own).  A DIR that already holds files belongs to a run:
 * it is refused unless --resume is given, so a run is only ever continued
 * on purpose.  COLLECTIVE: every rank calls run_open and learns the same
 * outcome and path; only rank 0 touches the files. */
#ifndef SHARDNET_RUN_H
#define SHARDNET_RUN_H

#include "train.h"

#define RUN_CONFIG "config.json"
#define RUN_METRICS "metrics.jsonl"
#define RUN_BEST "best.h5"
#define RUN_BEST_JSON "best.json"
#define RUN_EVENTS "events.out.tfevents.shardnet"

/* Resolves and creates t->run_dir (see above).  0, or -1 on every rank
 * (message printed by rank 0). */
int run_open(Trainer *t);
/* dir/name into out (size n). */
void run_file(const Trainer *t, const char *name, char *out, size_t n);
/* Rank 0, after a fresh start or a resume: writes config.json, opens the
 * metrics file and (--tensorboard) the event file, and writes the start or
 * resume record.  `json` is config_to_json (released here); resumed_from
 * is the checkpoint path or NULL for a fresh start.  COLLECTIVE: 0, or -1
 * on every rank when an output cannot be written. */
int run_begin(Trainer *t, json_t *config, const char *resumed_from, int written_by,
              int nhosts);
/* At the end (train_free): a new default run directory that stayed empty
 * (training never started) is removed. */
void run_close(Trainer *t);
/* Rank 0: one metrics record (released here); a failed write is reported
 * and remembered (t->output_failed), never ignored. */
void run_record(Trainer *t, const char *type, json_t *fields);
/* Rank 0: one TensorBoard scalar at step (no-op without --tensorboard). */
void run_scalar(Trainer *t, int64_t step, const char *tag, double value);

#endif
