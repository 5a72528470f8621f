/* train.h - the data-parallel training loop: every rank holds a LeNet
 * replica, computes the gradients of its micro-batches, and the ranks average
 * them with one exact all-reduce per step (dist.h, gradred.h), then take the
 * same SGD step.  Collective: every rank calls every function here in the
 * same order.  Rank 0 alone prints and writes metrics. */
#ifndef SHARDNET_TRAIN_H
#define SHARDNET_TRAIN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "balance.h"
#include "config.h"
#include "control.h"
#include "dataset.h"
#include "evaluate.h"
#include "gradred.h"
#include "lenet.h"
#include "loader.h"
#include "metrics.h"
#include "scaling.h"
#include "schedule.h"
#include "sgd.h"
#include "tfevents.h"

/* One micro-batch worker: a single-threaded LeNet replica with its own
 * buffers (train.c).  A rank runs --threads of them. */
typedef struct {
    LeNet model;             /* batch = micro-batch m, built for one oneDNN thread */
    float *grads;            /* (n_params) its last micro-batch's gradient */
    float *src, *diff;       /* (m, C, H, W), (m, classes) */
    int32_t *labels;         /* (m) */
    GradReducer reducer;     /* its micro-batches' gradient sum this step */
    Control ctl;             /* their share of the step's record */
    void *trainer;           /* the Trainer, for lenet_backward's hook */
    int id;                  /* 0: the MPI thread */
    size_t tail_from;        /* its last micro-batch's gradient tail [tail_from,
                                n) is in its sum; 0: not yet */
    int tail_status;         /* GRADRED_* of adding it */
} Worker;

typedef struct {
    Config cfg;
    int rank, size;
    int isa;                 /* the job's oneDNN ISA level (ops/cpuisa.h), pinned */
    int isa_lowest;          /* the lowest rank's maximum level */
    int isa_recorded;        /* the level was the resumed checkpoint's */
    Dataset ds;
    Loader loader;
    EvalSet evalset;
    EvalSet valset;          /* --val: the held-out training samples */
    int64_t val_count;       /* 0 without --val */
    Evaluator evaluator;
    LeNet model;             /* shapes and the tensor table only (lenet_describe) */
    Worker *workers;         /* (n_workers) worker 0 runs on the MPI thread */
    int n_workers;           /* --threads, or 1 with --threading onednn */
    float *params, *momentum, *mean_grads; /* flat, model.n_params each */
    GradReducer reducer;     /* the rank's sum: the workers' merged */
    pthread_mutex_t sum_lock;
    pthread_cond_t sum_cond; /* signalled when workers_busy drops */
    int workers_used;        /* workers with micro-batches this step */
    int workers_busy;        /* workers other than 0 whose tail is not summed */
    Balance balance;         /* this step's micro-batches of every rank */
    int64_t *rank_ns;        /* (P) compute ns per micro-batch, one slot per rank,
                                summed in the control all-reduce */
    Schedule schedule;
    Metrics metrics;         /* rank 0: RUN/metrics.jsonl */
    TfEvents tb;             /* rank 0: RUN/events.out.tfevents.shardnet */
    char run_dir[2048];      /* run.h */
    int run_dir_created;     /* run_dir is a new default runs/<time> */
    char data_sha256[65];    /* the dataset's fingerprint (sources and sizes) */
    char fingerprint[65];    /* checksum_params of params, kept current by
                                train_fingerprint() */
    char resumed_from[4096]; /* the checkpoint resumed, "" for a fresh start */
    int resumed_world;       /* its writer's world size */
    int output_failed;       /* rank 0: a requested output could not be written */
    int has_best;            /* --val: a best checkpoint exists */
    double best_value;       /* its --best figure */
    int64_t best_epoch;      /* 1-based epoch of the best */
    int64_t steps_per_epoch, total_steps;
    int64_t step;            /* updates taken so far (global step count) */
    int64_t epoch;           /* current epoch, 0-based */
    int64_t step_in_epoch;   /* next step of the current epoch */
    int64_t skipped;         /* steps skipped for non-finite values */
    int64_t ckpt_failed;     /* step of the last checkpoint if its write failed, else 0 */
    double log_time;         /* wall clock of the last progress record */
    int64_t log_step;
    double epoch_loss_sum, epoch_acc_sum; /* per-step means summed over the epoch */
    int64_t epoch_steps;
    RankTiming timing;       /* this rank's step time by phase (--scaling-report) */
    /* The tail of the gradient buffer is reduced while the workers' last
     * backward passes go on (grads_ready in train.c). */
    size_t tail_from;        /* 0: the tail's all-reduce has not been started */
} Trainer;

/* Outcomes of the loop, which are also the exit statuses of `shardnet
 * train` (config.h), the same on every rank. */
enum { TRAIN_OK = TRAIN_EXIT_OK, TRAIN_FAILED = TRAIN_EXIT_FAILED,
       TRAIN_STOPPED = TRAIN_EXIT_STOPPED };

/* Opens the data, builds the model, initialises the parameters from the
 * seed, checks that all ranks agree, prints the start-up block.  Returns 0 or
 * -1 (message already printed by rank 0; every rank returns -1). */
int train_setup(Trainer *t, const Config *cfg); /* 0, -1 failed, -2 usage error (exit 2) */
/* Runs the remaining epochs; TRAIN_OK, TRAIN_FAILED, or TRAIN_STOPPED (a
 * stop signal reached some rank: all ranks stopped at the same step
 * boundary and rank 0 wrote a checkpoint) on every rank. */
int train_run(Trainer *t);
void train_free(Trainer *t);
/* Recomputes t->fingerprint from the parameters (SHA-256, checksum.h). */
const char *train_fingerprint(Trainer *t);

#endif
