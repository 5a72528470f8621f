/* config.h - the options of `shardnet train`, parsed into a Config.
 *
 * config_parse reads argv with opts_parse (opts.h), fills defaults, and
 * validates every value it can check alone: a bad value returns -1 with a
 * message in base_error() in opts.h's shape (the caller prints it with
 * opts_fail and exits 2).  Nothing is clamped or ignored silently.  Checks that need more
 * context come later, each with the same contract:
 *   config_check_world  needs P (P <= B/m, the test switches' ranks; the
 *                       thread count resolved as threads_resolve does),
 *   config_check_data   needs the training set size (--limit, steps, warmup).
 * Every rank runs them on the same argv and reaches the same verdict, so a
 * failure is a coordinated exit, not a hang.
 *
 * Strings (data, metrics) point into argv or at literals: argv must outlive
 * the Config.  Pure; no MPI. */
#ifndef SHARDNET_CONFIG_H
#define SHARDNET_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "gradred.h"
#include "lenet.h"
#include "schedule.h"

typedef enum { NONFINITE_STOP, NONFINITE_SKIP } OnNonfinite;
typedef enum { CKPT_ERROR_STOP, CKPT_ERROR_WARN } OnCkptError;
typedef enum { BEST_VAL_LOSS, BEST_VAL_ACCURACY } BestMetric;

typedef struct {
    const char *data;          /* --data FILE */
    LeNetArch arch;           /* --arch classic|modern */
    int64_t epochs;            /* --epochs */
    int64_t batch;             /* --batch B: global batch, any P */
    int64_t micro_batch;       /* --micro-batch m; default config_default_micro(B) */
    bool balance;              /* --balance on|off: micro-batches by measured speed */
    double lr;                 /* --lr */
    double momentum;           /* --momentum, in [0, 1) */
    double weight_decay;       /* --weight-decay, >= 0 */
    ScheduleKind schedule;     /* --schedule */
    int64_t step_size;         /* --step-size (step schedule only; required) */
    double gamma;              /* --gamma (step schedule only; default 0.1) */
    int64_t warmup;            /* --warmup updates */
    uint64_t seed;             /* --seed */
    ReduceMode reduce;         /* --reduce exact|float */
    OnNonfinite on_nonfinite;  /* --on-nonfinite stop|skip */
    int64_t log_every;         /* --log-every N steps */
    bool quiet;                /* --quiet */
    int64_t limit;             /* --limit N, 0 = whole training set */
    bool eval;                 /* --eval / --no-eval */
    int64_t threads;           /* --threads; 0 = auto until check_world */
    bool onednn_threads;       /* --threading onednn: oneDNN splits each primitive
                                  over the threads (else micro-batch workers) */
    bool normalize;            /* --normalize: (x/255 - mean) / std */
    const char *run;           /* --run DIR; NULL: a new runs/<time> (run.h) */
    int64_t ckpt_every;        /* --ckpt-every N[e] */
    bool ckpt_every_epochs;    /*   ... counted in epochs (suffix e) */
    int64_t keep;              /* --keep K, 0 = all */
    const char *resume;        /* --resume auto|PATH, NULL = fresh start */
    bool change_schedule;      /* --change-schedule: a resume may change epochs,
                                  lr, schedule, warmup, momentum, weight decay */
    int64_t val_count;         /* --val N: the last N training samples held out */
    double val_fraction;       /* --val X (0 < X < 1): that fraction of them */
    BestMetric best;           /* --best val_loss|val_accuracy */
    int64_t patience;          /* --patience N epochs without a better best; 0 = off */
    bool tensorboard;          /* --tensorboard / --no-tensorboard (on) */
    OnCkptError on_ckpt_error; /* --on-ckpt-error stop|warn */
    bool no_ckpt;              /* --no-ckpt */
    int64_t test_ckpt_delay_ms; /* --test-ckpt-delay MS (test only) */
    int64_t inject_step;       /* --inject-nonfinite STEP:RANK; 0 = off */
    int64_t inject_rank;
    int64_t timeout;           /* --timeout SECONDS for a per-step collective; 0 = off */
    int64_t stall_step;        /* --test-stall STEP:RANK:SECONDS; 0 = off */
    int64_t stall_rank;
    int64_t stall_seconds;
    bool stall_in_grad;        /*   ... before the gradient all-reduce instead */
    int64_t slow_rank;         /* --test-slow RANK:PERCENT; slow_percent 0 = off */
    int64_t slow_percent;
    bool stall_in_compute;     /*   ... inside the step's computation instead */
    const char *scaling_report;   /* --scaling-report PREFIX, NULL for none */
    const char *scaling_baseline; /* --scaling-baseline FILE.json */
} Config;

#define CONFIG_DEFAULT_DATA "data/fashion-mnist.h5"
#define CONFIG_MAX_BATCH GRADRED_MAX_TERMS
/* The default micro-batch is the largest divisor of B not above this (32
 * at the default B = 256): it depends on B alone, so the default weights
 * are the same for every P.  Chosen by measurement (see balance.h). */
#define CONFIG_DEFAULT_MICRO 32
#define CONFIG_DEFAULT_TIMEOUT 600

/* Exit statuses of `shardnet train`, the same on every rank (the watchdog's
 * is DIST_WATCHDOG_EXIT = 4, as mpirun passes on MPI_Abort's code). */
enum {
    TRAIN_EXIT_OK = 0,      /* finished (or --help) */
    TRAIN_EXIT_FAILED = 1,  /* failed; message printed */
    TRAIN_EXIT_USAGE = 2,   /* bad options, world size, or a mismatched launch */
    TRAIN_EXIT_STOPPED = 3, /* stopped by SIGUSR1/SIGTERM, checkpoint written:
                               run again with --resume auto */
};

/* Defaults, then argv (argv[0] is the command name).  Returns 0, 1 when
 * --help was given (print config_usage to stdout, exit 0), or -1 with the
 * message in base_error(). */
int config_parse(Config *cfg, int argc, char **argv);
void config_usage(FILE *out);

/* The default micro-batch for a global batch B: its largest divisor that
 * is at most CONFIG_DEFAULT_MICRO. */
int64_t config_default_micro(int64_t batch);
/* With P ranks: P <= B/m (every rank needs a micro-batch; the message names
 * a --micro-batch and a --batch that would work), the test switches' ranks
 * < P, and the thread count resolved (see config.c).  0 or -1. */
int config_check_world(Config *cfg, int P);
/* With n_train training samples: --limit <= n_train; steps per epoch =
 * floor(N / B) with N = limit or n_train (the last partial batch of each
 * epoch is dropped) and at least 1; warmup < total steps; the injection
 * and stall steps within the run.  Writes steps per epoch.  0 or -1. */
int config_check_data(const Config *cfg, int64_t n_train, int64_t *steps_per_epoch);
/* The validation samples held out of n_train (--val): the LAST ones, so
 * that the same samples are held out for every P and every --limit. */
int64_t config_val_count(const Config *cfg, int64_t n_train);
/* Micro-batches per step over all ranks, K = B/m (after check_world). */
int64_t config_terms(const Config *cfg);
/* The Schedule for a run of total_steps updates. */
Schedule config_schedule(const Config *cfg, int64_t total_steps);

/* FNV-1a of the canonical text of every field that must agree across ranks:
 * all but --data (paths may differ per host; the dataset is compared by
 * size and content instead), --run, --quiet and --threads. */
uint64_t config_hash(const Config *cfg);
/* The canonical text behind config_hash, also printed at start-up. */
void config_describe(const Config *cfg, char *buf, size_t cap);

/* The effective configuration as a JSON object (new reference): every
 * option after the world and data checks, plus the data fingerprint
 * (data_sha256) and the shardnet version.  Written to RUN/config.json and
 * into every checkpoint (/state config). */
json_t *config_to_json(const Config *cfg, const char *data_sha256, int world_size);
/* The keys of config_to_json that a resume must keep (a different value
 * could never continue the same run) and those only --change-schedule may
 * change; NULL-terminated. */
extern const char *const config_resume_fixed[];
extern const char *const config_resume_schedule[];

const char *config_reduce_name(ReduceMode r);
const char *config_best_name(BestMetric b);
const char *config_nonfinite_name(OnNonfinite o);

#endif
