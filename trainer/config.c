/* config.c - `shardnet train` options.  See config.h for the contract. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "hash.h"
#include "shardnet_version.h"

/* The seed as a decimal string: JSON numbers are doubles for many readers
 * and a 64-bit seed would lose bits. */
static const char *seed_text(uint64_t seed)
{
    static _Thread_local char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
    return buf;
}

enum {
    OPT_DATA = 256, OPT_ARCH, OPT_EPOCHS, OPT_BATCH, OPT_MICRO, OPT_LR, OPT_MOMENTUM,
    OPT_WD, OPT_SCHEDULE, OPT_STEP_SIZE, OPT_GAMMA, OPT_WARMUP, OPT_SEED, OPT_REDUCE,
    OPT_NONFINITE, OPT_LOG_EVERY, OPT_OLD, OPT_QUIET, OPT_LIMIT, OPT_EVAL, OPT_NO_EVAL,
    OPT_THREADS, OPT_INJECT, OPT_NORMALIZE, OPT_RUN, OPT_CKPT_EVERY, OPT_KEEP, OPT_RESUME,
    OPT_ON_CKPT_ERROR, OPT_NO_CKPT, OPT_CKPT_DELAY, OPT_TIMEOUT, OPT_STALL, OPT_SCALING, OPT_BASELINE,
    OPT_BALANCE, OPT_SLOW, OPT_THREADING,
    OPT_CHANGE_SCHEDULE, OPT_VAL, OPT_BEST, OPT_PATIENCE, OPT_TB, OPT_NO_TB,
};

static const struct option long_options[] = {
    {"data", required_argument, NULL, OPT_DATA},
    {"arch", required_argument, NULL, OPT_ARCH},
    {"epochs", required_argument, NULL, OPT_EPOCHS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"micro-batch", required_argument, NULL, OPT_MICRO},
    {"balance", required_argument, NULL, OPT_BALANCE},
    {"lr", required_argument, NULL, OPT_LR},
    {"momentum", required_argument, NULL, OPT_MOMENTUM},
    {"weight-decay", required_argument, NULL, OPT_WD},
    {"schedule", required_argument, NULL, OPT_SCHEDULE},
    {"step-size", required_argument, NULL, OPT_STEP_SIZE},
    {"gamma", required_argument, NULL, OPT_GAMMA},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"seed", required_argument, NULL, OPT_SEED},
    {"reduce", required_argument, NULL, OPT_REDUCE},
    {"on-nonfinite", required_argument, NULL, OPT_NONFINITE},
    {"log-every", required_argument, NULL, OPT_LOG_EVERY},
    {"metrics", required_argument, NULL, OPT_OLD},
    {"ckpt-dir", required_argument, NULL, OPT_OLD},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"eval", no_argument, NULL, OPT_EVAL},
    {"no-eval", no_argument, NULL, OPT_NO_EVAL},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"threading", required_argument, NULL, OPT_THREADING},
    {"normalize", no_argument, NULL, OPT_NORMALIZE},
    {"inject-nonfinite", required_argument, NULL, OPT_INJECT},
    {"run", required_argument, NULL, OPT_RUN},
    {"change-schedule", no_argument, NULL, OPT_CHANGE_SCHEDULE},
    {"val", required_argument, NULL, OPT_VAL},
    {"best", required_argument, NULL, OPT_BEST},
    {"patience", required_argument, NULL, OPT_PATIENCE},
    {"tensorboard", no_argument, NULL, OPT_TB},
    {"no-tensorboard", no_argument, NULL, OPT_NO_TB},
    {"ckpt-every", required_argument, NULL, OPT_CKPT_EVERY},
    {"keep", required_argument, NULL, OPT_KEEP},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"on-ckpt-error", required_argument, NULL, OPT_ON_CKPT_ERROR},
    {"no-ckpt", no_argument, NULL, OPT_NO_CKPT},
    {"test-ckpt-delay", required_argument, NULL, OPT_CKPT_DELAY},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"test-stall", required_argument, NULL, OPT_STALL},
    {"test-slow", required_argument, NULL, OPT_SLOW},
    {"scaling-report", required_argument, NULL, OPT_SCALING},
    {"scaling-baseline", required_argument, NULL, OPT_BASELINE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void config_usage(FILE *out)
{
    fprintf(out,
        "usage: shardnet train [options]          (under mpirun -np P for P ranks)\n"
        "\n"
        "  --data FILE            HDF5 dataset (default " CONFIG_DEFAULT_DATA ")\n"
        "  --arch classic|modern  LeNet with sigmoid+avg-pool, or ReLU+max-pool (classic)\n"
        "  --epochs N             passes over the training set (10)\n"
        "  --batch B              global batch, the same for any P, 1..%d (256)\n"
        "  --micro-batch m        samples per gradient computation, dividing B (the\n"
        "                         largest divisor of B up to %d: 32 at B = 256); any\n"
        "                         P from 1 to B/m ranks gives the same weights\n"
        "  --balance on|off       give faster ranks more of a step's micro-batches, by\n"
        "                         their measured speed; off: split evenly (on)\n"
        "  --lr X                 learning rate, > 0 (0.9)\n"
        "  --momentum X           SGD momentum in [0, 1) (0)\n"
        "  --weight-decay X       L2 weight decay, >= 0 (0)\n"
        "  --schedule S           constant|step|cosine (constant)\n"
        "  --step-size N          step: updates between decays (required with step)\n"
        "  --gamma X              step: decay factor in (0, 1] (0.1)\n"
        "  --warmup W             linear warmup over the first W updates (0)\n"
        "  --seed N               weight init and data order (42)\n"
        "  --reduce exact|float   int64 fixed-point (bit-identical for any P) or float\n"
        "                         all-reduce of gradients, whose result depends on P and\n"
        "                         on the assignment of micro-batches (exact)\n"
        "  --on-nonfinite stop|skip  on NaN/Inf: all ranks stop with an error, or all\n"
        "                         skip the step (stop)\n"
        "  --log-every N          progress line and metrics every N steps (50)\n"
        "  --metrics FILE         write JSON lines (schema in README.md)\n"
        "  --quiet                no progress lines\n"
        "  --limit N              train on the first N training samples only (all)\n"
        "  --eval, --no-eval      test-set evaluation after each epoch (on)\n"
        "  --threads N            micro-batch workers per rank, each a one-thread model\n"
        "                         replica (OMP_NUM_THREADS if set, else 1); the weights\n"
        "                         are the same for any ranks x threads\n"
        "  --threading workers|onednn  micro-batch workers (bit-identical for any\n"
        "                         ranks x threads), or oneDNN splitting each layer over\n"
        "                         the threads: faster when a rank has fewer micro-\n"
        "                         batches than threads, but the weights then depend on\n"
        "                         the thread count (workers)\n"
        "  --normalize            feed (x/255 - mean)/std with the dataset's pixel\n"
        "                         statistics instead of x/255 (off)\n"
        "  --val N|X              hold out the last N training samples (or the fraction\n"
        "                         0<X<1 of them) for validation after each epoch (none)\n"
        "  --best val_loss|val_accuracy  which validation figure picks RUN/best.h5\n"
        "                         (val_loss; needs --val)\n"
        "  --patience N           stop after N epochs without a better best (off)\n"
        "  --tensorboard, --no-tensorboard  TensorBoard event file in the run (on)\n"
        "\nthe run and its checkpoints (rank 0 writes them; see README):\n"
        "  --run DIR              the run directory: config.json, metrics.jsonl,\n"
        "                         checkpoints, best.h5, TensorBoard events (default: a\n"
        "                         new runs/YYYYmmdd-HHMMSS); a used DIR needs --resume\n"
        "  --ckpt-every N|Ne      every N steps, or every N epochs with the suffix e (1e);\n"
        "                         a checkpoint is always written at the end\n"
        "  --keep K               keep the K newest checkpoints, 0 = all (3)\n"
        "  --resume auto|PATH     auto: the run's `latest` checkpoint, else its newest\n"
        "                         that verifies (a fresh start when there is none);\n"
        "                         PATH: that file\n"
        "  --change-schedule      let a resume change --epochs, --lr, --schedule,\n"
        "                         --warmup, --step-size, --gamma, --momentum,\n"
        "                         --weight-decay (refused otherwise)\n"
        "  --on-ckpt-error stop|warn  a failed checkpoint write stops training, or is\n"
        "                         reported and training goes on (stop)\n"
        "  --no-ckpt              write no checkpoints\n"
        "\nclusters (see README.md):\n"
        "  --timeout SECONDS      hang watchdog: when a per-step all-reduce has not\n"
        "                         completed after SECONDS, name the late ranks, the step\n"
        "                         and the collective, and abort all ranks (exit 4);\n"
        "                         0 = off (%d)\n"
        "  --scaling-report PREFIX  write PREFIX.md and PREFIX.json: per-rank compute,\n"
        "                         wait and all-reduce time, bytes reduced, bandwidth,\n"
        "                         img/s\n"
        "  --scaling-baseline FILE  the .json of a P=1 --scaling-report run: adds the\n"
        "                         speedup and efficiency against it\n"
        "  SIGUSR1 or SIGTERM     stop at the next step on every rank; rank 0 writes a\n"
        "                         checkpoint; exit 3 (run again with --run DIR\n"
        "                         --resume auto)\n"
        "\nexit status: 0 done, 1 failed, 2 usage error or mismatched launch (MPI world\n"
        "  size differs from mpirun's or srun's task count), 3 stopped by signal with a\n"
        "  checkpoint written, 4 watchdog timeout (aborted)\n"
        "\ntest-only switches:\n"
        "  --inject-nonfinite STEP:RANK  make RANK's gradient NaN at step STEP (1-based)\n"
        "  --test-ckpt-delay MS   write checkpoints in 4 KiB pieces, MS ms apart\n"
        "  --test-stall STEP:RANK:SECONDS[:grad]  RANK sleeps SECONDS before the\n"
        "                         control (or with :grad the gradient) all-reduce of\n"
        "                         step STEP (1-based)\n"
        "  --test-slow RANK:PERCENT  RANK runs at PERCENT%% of its speed: after each\n"
        "                         micro-batch it sleeps (100/PERCENT - 1) times the\n"
        "                         micro-batch's compute time\n"
        "  --help                 this text\n",
        CONFIG_MAX_BATCH, CONFIG_DEFAULT_MICRO, CONFIG_DEFAULT_TIMEOUT);
}

static void config_defaults(Config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->data = CONFIG_DEFAULT_DATA;
    cfg->arch = ARCH_CLASSIC;
    cfg->epochs = 10;
    cfg->batch = 256;
    cfg->micro_batch = 0;
    cfg->balance = true;
    cfg->onednn_threads = false;
    cfg->lr = 0.9;
    cfg->momentum = 0.0;
    cfg->weight_decay = 0.0;
    cfg->schedule = SCHEDULE_CONSTANT;
    cfg->step_size = 0;
    cfg->gamma = 0.1;
    cfg->warmup = 0;
    cfg->seed = 42;
    cfg->reduce = REDUCE_EXACT;
    cfg->on_nonfinite = NONFINITE_STOP;
    cfg->log_every = 50;
    cfg->quiet = false;
    cfg->limit = 0;
    cfg->eval = true;
    cfg->threads = 0;
    cfg->inject_step = 0;
    cfg->inject_rank = 0;
    cfg->run = NULL;
    cfg->tensorboard = true;
    cfg->best = BEST_VAL_LOSS;
    cfg->ckpt_every = 1;
    cfg->ckpt_every_epochs = true;
    cfg->keep = 3;
    cfg->resume = NULL;
    cfg->on_ckpt_error = CKPT_ERROR_STOP;
    cfg->no_ckpt = false;
    cfg->test_ckpt_delay_ms = 0;
    cfg->timeout = CONFIG_DEFAULT_TIMEOUT;
    cfg->stall_step = cfg->stall_rank = cfg->stall_seconds = 0;
}

/* Whole-string integer in [lo, hi]: digits with an optional sign, nothing
 * else (strtoll would skip leading blanks). */
static int parse_int(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    const char *d = s + (s[0] == '-' || s[0] == '+');
    if (end == s || *end != '\0' || errno == ERANGE || *d < '0' || *d > '9')
        return base_error_set("%s: '%s' is not an integer", flag, s);
    if (v < lo || v > hi)
        return base_error_set("%s: %lld is outside %lld..%lld", flag, v, (long long)lo,
                              (long long)hi);
    *out = v;
    return 0;
}

/* Whole-string finite number in [lo, hi] (hi_open: strictly below hi). */
static int parse_real(const char *flag, const char *s, double lo, double hi, int hi_open,
                      double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return base_error_set("%s: '%s' is not a finite number", flag, s);
    if (v < lo || v > hi || (hi_open && v == hi))
        return base_error_set("%s: %g is outside %g..%g%s", flag, v, lo, hi,
                              hi_open ? " (exclusive)" : "");
    *out = v;
    return 0;
}

static int parse_choice(const char *flag, const char *s, const char *const *names, int n,
                        int *out)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) {
            *out = i;
            return 0;
        }
    char list[128] = "";
    for (int i = 0; i < n; i++) {
        strncat(list, names[i], sizeof list - strlen(list) - 1);
        if (i + 1 < n)
            strncat(list, "|", sizeof list - strlen(list) - 1);
    }
    return base_error_set("%s: '%s' is not one of %s", flag, s, list);
}

static const char *const arch_names[] = {"classic", "modern"};
static const char *const reduce_names[] = {"exact", "float"};
static const char *const nonfinite_names[] = {"stop", "skip"};
static const char *const schedule_names[] = {"constant", "step", "cosine"};
static const char *const ckpt_error_names[] = {"stop", "warn"};
static const char *const off_on_names[] = {"off", "on"};
static const char *const best_names[] = {"val_loss", "val_accuracy"};
static const char *const threading_names[] = {"workers", "onednn"};

const char *config_best_name(BestMetric b) { return best_names[b]; }

/* --val N (samples) or X (a fraction, 0 < X < 1: written with a point). */
static int parse_val(const char *s, Config *cfg)
{
    cfg->val_count = 0;
    cfg->val_fraction = 0;
    if (strchr(s, '.') || strchr(s, 'e') || strchr(s, 'E'))
        return parse_real("--val", s, 0.0, 1.0, 1, &cfg->val_fraction) < 0 ? -1
               : cfg->val_fraction > 0 ? 0
               : base_error_set("--val: %s must be a sample count N >= 1 or a fraction "
                                "0 < X < 1", s);
    return parse_int("--val", s, 1, INT64_MAX, &cfg->val_count);
}

/* "N" steps or "Ne" epochs, N >= 1. */
static int parse_every(const char *s, Config *cfg)
{
    char num[32];
    size_t len = strlen(s);
    cfg->ckpt_every_epochs = len > 0 && s[len - 1] == 'e';
    if (cfg->ckpt_every_epochs)
        len--;
    if (len == 0 || len >= sizeof num)
        return base_error_set("--ckpt-every: '%s' is not N (steps) or Ne (epochs)", s);
    memcpy(num, s, len);
    num[len] = '\0';
    return parse_int("--ckpt-every", num, 1, INT64_MAX, &cfg->ckpt_every);
}

const char *config_reduce_name(ReduceMode r) { return reduce_names[r]; }
const char *config_nonfinite_name(OnNonfinite o) { return nonfinite_names[o]; }

static int parse_inject(const char *s, Config *cfg)
{
    const char *colon = strchr(s, ':');
    if (!colon)
        return base_error_set("--inject-nonfinite: '%s' is not STEP:RANK", s);
    char step[32];
    size_t len = (size_t)(colon - s);
    if (len == 0 || len >= sizeof step)
        return base_error_set("--inject-nonfinite: '%s' is not STEP:RANK", s);
    memcpy(step, s, len);
    step[len] = '\0';
    if (parse_int("--inject-nonfinite STEP", step, 1, INT64_MAX, &cfg->inject_step) ||
        parse_int("--inject-nonfinite RANK", colon + 1, 0, INT32_MAX, &cfg->inject_rank))
        return -1;
    return 0;
}

/* STEP:RANK:SECONDS, STEP >= 1. */
static int parse_stall(const char *s, Config *cfg)
{
    char buf[96], *rank, *secs;
    if (strlen(s) >= sizeof buf)
        return base_error_set("--test-stall: '%s' is not STEP:RANK:SECONDS", s);
    strcpy(buf, s);
    rank = strchr(buf, ':');
    secs = rank ? strchr(rank + 1, ':') : NULL;
    if (!rank || !secs)
        return base_error_set("--test-stall: '%s' is not STEP:RANK:SECONDS", s);
    *rank++ = '\0';
    *secs++ = '\0';
    char *where = strchr(secs, ':');
    cfg->stall_in_grad = cfg->stall_in_compute = false;
    if (where) {
        *where++ = '\0';
        if (strcmp(where, "grad") != 0 && strcmp(where, "compute") != 0)
            return base_error_set("--test-stall: '%s' is not STEP:RANK:SECONDS[:grad|:compute]",
                                  s);
        cfg->stall_in_grad = !strcmp(where, "grad");
        cfg->stall_in_compute = !strcmp(where, "compute");
    }
    if (parse_int("--test-stall STEP", buf, 1, INT64_MAX, &cfg->stall_step) ||
        parse_int("--test-stall RANK", rank, 0, INT32_MAX, &cfg->stall_rank) ||
        parse_int("--test-stall SECONDS", secs, 1, 86400, &cfg->stall_seconds))
        return -1;
    return 0;
}

/* RANK:PERCENT, PERCENT in 1..100. */
static int parse_slow(const char *s, Config *cfg)
{
    const char *colon = strchr(s, ':');
    char rank[32];
    size_t len = colon ? (size_t)(colon - s) : 0;
    if (!colon || len == 0 || len >= sizeof rank)
        return base_error_set("--test-slow: '%s' is not RANK:PERCENT", s);
    memcpy(rank, s, len);
    rank[len] = '\0';
    if (parse_int("--test-slow RANK", rank, 0, INT32_MAX, &cfg->slow_rank) ||
        parse_int("--test-slow PERCENT", colon + 1, 1, 100, &cfg->slow_percent))
        return -1;
    return 0;
}

int config_parse(Config *cfg, int argc, char **argv)
{
    config_defaults(cfg);
    int step_size_given = 0, gamma_given = 0, best_given = 0, choice;
    optind = 0; /* glibc: full re-initialisation, so parse can run again */
    opterr = 0;
    for (;;) {
        int prev = optind ? optind : 1;
        int c = getopt_long(argc, argv, ":h", long_options, NULL);
        if (c == -1)
            break;
        const char *arg = optarg;
        int rc = 0;
        switch (c) {
        case OPT_DATA:
            if (!*arg)
                return base_error_set("--data: empty file name");
            cfg->data = arg;
            break;
        case OPT_ARCH:
            rc = parse_choice("--arch", arg, arch_names, 2, &choice);
            cfg->arch = (LeNetArch)choice;
            break;
        case OPT_EPOCHS: rc = parse_int("--epochs", arg, 1, 1000000, &cfg->epochs); break;
        case OPT_BATCH:
            rc = parse_int("--batch", arg, 1, CONFIG_MAX_BATCH, &cfg->batch);
            break;
        case OPT_MICRO:
            rc = parse_int("--micro-batch", arg, 1, CONFIG_MAX_BATCH, &cfg->micro_batch);
            break;
        case OPT_LR: rc = parse_real("--lr", arg, 0.0, 1e6, 0, &cfg->lr);
            if (!rc && cfg->lr <= 0.0)
                rc = base_error_set("--lr: %g must be > 0", cfg->lr);
            break;
        case OPT_MOMENTUM:
            rc = parse_real("--momentum", arg, 0.0, 1.0, 1, &cfg->momentum);
            break;
        case OPT_WD: rc = parse_real("--weight-decay", arg, 0.0, 1e6, 0, &cfg->weight_decay);
            break;
        case OPT_SCHEDULE:
            rc = parse_choice("--schedule", arg, schedule_names, 3, &choice);
            cfg->schedule = (ScheduleKind)choice;
            break;
        case OPT_STEP_SIZE:
            rc = parse_int("--step-size", arg, 1, INT64_MAX, &cfg->step_size);
            step_size_given = 1;
            break;
        case OPT_GAMMA:
            rc = parse_real("--gamma", arg, 0.0, 1.0, 0, &cfg->gamma);
            if (!rc && cfg->gamma <= 0.0)
                rc = base_error_set("--gamma: %g must be > 0", cfg->gamma);
            gamma_given = 1;
            break;
        case OPT_WARMUP: rc = parse_int("--warmup", arg, 0, INT64_MAX, &cfg->warmup); break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(arg, &end, 10);
            if (arg[0] < '0' || arg[0] > '9' || end == arg || *end || errno == ERANGE)
                rc = base_error_set("--seed: '%s' is not an integer in 0..2^64-1", arg);
            cfg->seed = v;
            break;
        }
        case OPT_REDUCE:
            rc = parse_choice("--reduce", arg, reduce_names, 2, &choice);
            cfg->reduce = (ReduceMode)choice;
            break;
        case OPT_NONFINITE:
            rc = parse_choice("--on-nonfinite", arg, nonfinite_names, 2, &choice);
            cfg->on_nonfinite = (OnNonfinite)choice;
            break;
        case OPT_LOG_EVERY:
            rc = parse_int("--log-every", arg, 1, INT64_MAX, &cfg->log_every);
            break;
        case OPT_OLD:
            return base_error_set("%s is gone: a run's metrics and checkpoints live in its "
                                  "run directory, --run DIR", argv[prev]);
        case OPT_QUIET: cfg->quiet = true; break;
        case OPT_LIMIT: rc = parse_int("--limit", arg, 1, INT64_MAX, &cfg->limit); break;
        case OPT_EVAL: cfg->eval = true; break;
        case OPT_NO_EVAL: cfg->eval = false; break;
        case OPT_THREADS: rc = parse_int("--threads", arg, 1, 1024, &cfg->threads); break;
        case OPT_THREADING:
            rc = parse_choice("--threading", arg, threading_names, 2, &choice);
            cfg->onednn_threads = choice == 1;
            break;
        case OPT_NORMALIZE: cfg->normalize = true; break;
        case OPT_RUN:
            if (!*arg)
                return base_error_set("--run: empty directory name");
            cfg->run = arg;
            break;
        case OPT_CHANGE_SCHEDULE: cfg->change_schedule = true; break;
        case OPT_VAL: rc = parse_val(arg, cfg); break;
        case OPT_BEST:
            rc = parse_choice("--best", arg, best_names, 2, &choice);
            cfg->best = (BestMetric)choice;
            best_given = 1;
            break;
        case OPT_PATIENCE: rc = parse_int("--patience", arg, 1, 1000000, &cfg->patience); break;
        case OPT_TB: cfg->tensorboard = true; break;
        case OPT_NO_TB: cfg->tensorboard = false; break;
        case OPT_CKPT_EVERY: rc = parse_every(arg, cfg); break;
        case OPT_KEEP: rc = parse_int("--keep", arg, 0, 1000000, &cfg->keep); break;
        case OPT_RESUME:
            if (!*arg)
                return base_error_set("--resume: give auto or a checkpoint file");
            cfg->resume = arg;
            break;
        case OPT_ON_CKPT_ERROR:
            rc = parse_choice("--on-ckpt-error", arg, ckpt_error_names, 2, &choice);
            cfg->on_ckpt_error = (OnCkptError)choice;
            break;
        case OPT_NO_CKPT: cfg->no_ckpt = true; break;
        case OPT_CKPT_DELAY:
            rc = parse_int("--test-ckpt-delay", arg, 0, 10000, &cfg->test_ckpt_delay_ms);
            break;
        case OPT_INJECT: rc = parse_inject(arg, cfg); break;
        case OPT_TIMEOUT: rc = parse_int("--timeout", arg, 0, 7 * 86400, &cfg->timeout); break;
        case OPT_STALL: rc = parse_stall(arg, cfg); break;
        case OPT_SLOW: rc = parse_slow(arg, cfg); break;
        case OPT_BALANCE:
            rc = parse_choice("--balance", arg, off_on_names, 2, &choice);
            cfg->balance = choice == 1;
            break;
        case OPT_SCALING:
            if (!*arg)
                return base_error_set("--scaling-report: empty file prefix");
            cfg->scaling_report = arg;
            break;
        case OPT_BASELINE:
            if (!*arg)
                return base_error_set("--scaling-baseline: empty file name");
            cfg->scaling_baseline = arg;
            break;
        case 'h': return 1;
        case ':':
            return base_error_set("%s: missing value", argv[optind - 1]);
        default:
            /* optind may or may not have moved past the bad word. */
            return base_error_set("unknown option '%s'",
                                  argv[optind > prev ? optind - 1 : prev]);
        }
        if (rc)
            return -1;
    }
    if (optind < argc)
        return base_error_set("unexpected argument '%s'", argv[optind]);
    if (cfg->schedule == SCHEDULE_STEP && !step_size_given)
        return base_error_set("--schedule step needs --step-size N");
    if (cfg->schedule != SCHEDULE_STEP && (step_size_given || gamma_given))
        return base_error_set("%s only applies to --schedule step",
                              step_size_given ? "--step-size" : "--gamma");
    if (!cfg->micro_batch)
        cfg->micro_batch = config_default_micro(cfg->batch);
    if (cfg->batch % cfg->micro_batch)
        return base_error_set("--micro-batch %lld does not divide --batch %lld",
                              (long long)cfg->micro_batch, (long long)cfg->batch);
    int has_val = cfg->val_count || cfg->val_fraction > 0;
    if (!has_val && (best_given || cfg->patience))
        return base_error_set("%s needs --val N (the best checkpoint is chosen on held-out "
                              "samples)", best_given ? "--best" : "--patience");
    return 0;
}

int64_t config_default_micro(int64_t batch)
{
    int64_t m = batch < CONFIG_DEFAULT_MICRO ? batch : CONFIG_DEFAULT_MICRO;
    while (m > 1 && batch % m)
        m--;
    return m;
}

/* Thread count when --threads is not given: OMP_NUM_THREADS if set (it must
 * be a plain positive integer), else 1.  The threads are micro-batch workers
 * (train.c), so the weights do not depend on the count. */
static int resolve_threads(Config *cfg, int P)
{
    (void)P;
    if (cfg->threads > 0)
        return 0;
    const char *env = getenv("OMP_NUM_THREADS");
    if (env && *env)
        return parse_int("OMP_NUM_THREADS (environment)", env, 1, 1024, &cfg->threads);
    cfg->threads = 1;
    return 0;
}

int config_check_world(Config *cfg, int P)
{
    if (P < 1)
        return base_error_set("world size %d: need at least one rank", P);
    if (cfg->batch % cfg->micro_batch)
        return base_error_set("--micro-batch %lld does not divide --batch %lld",
                              (long long)cfg->micro_batch, (long long)cfg->batch);
    int64_t k = cfg->batch / cfg->micro_batch;
    if (k < P) {
        /* The largest micro-batch that still gives every rank one, if any. */
        int64_t m = cfg->batch / P > 1 ? cfg->batch / P : 1;
        while (m > 1 && cfg->batch % m)
            m--;
        char alt[96] = "";
        if (cfg->batch / m >= P)
            snprintf(alt, sizeof alt, "--micro-batch %lld or ", (long long)m);
        return base_error_set("%d ranks, but a step has only --batch %lld / --micro-batch %lld "
                              "= %lld micro-batches and every rank needs at least one: use %s"
                              "--batch %lld, or at most %lld ranks",
                              P, (long long)cfg->batch, (long long)cfg->micro_batch,
                              (long long)k, alt, (long long)(cfg->micro_batch * P),
                              (long long)k);
    }
    if (cfg->inject_step && cfg->inject_rank >= P)
        return base_error_set("--inject-nonfinite: rank %lld does not exist with %d ranks",
                              (long long)cfg->inject_rank, P);
    if (cfg->stall_step && cfg->stall_rank >= P)
        return base_error_set("--test-stall: rank %lld does not exist with %d ranks",
                              (long long)cfg->stall_rank, P);
    if (cfg->slow_percent && cfg->slow_rank >= P)
        return base_error_set("--test-slow: rank %lld does not exist with %d ranks",
                              (long long)cfg->slow_rank, P);
    return resolve_threads(cfg, P);
}

int config_check_data(const Config *cfg, int64_t n_train, int64_t *steps_per_epoch)
{
    if (n_train <= 0)
        return base_error_set("the training set is empty");
    int64_t val = config_val_count(cfg, n_train);
    if ((cfg->val_count || cfg->val_fraction > 0) && (val < 1 || val >= n_train))
        return base_error_set("--val: %lld of the %lld training samples leaves %s",
                              (long long)val, (long long)n_train,
                              val < 1 ? "no validation sample" : "nothing to train on");
    n_train -= val;
    if (cfg->limit > n_train)
        return base_error_set("--limit %lld exceeds the %lld training samples%s",
                              (long long)cfg->limit, (long long)n_train,
                              val ? " left after --val" : "");
    int64_t n = cfg->limit ? cfg->limit : n_train;
    int64_t steps = n / cfg->batch;
    if (steps < 1)
        return base_error_set("--batch %lld is larger than the %lld training samples%s",
                              (long long)cfg->batch, (long long)n,
                              cfg->limit ? " (--limit)" : "");
    if (cfg->epochs > INT64_MAX / steps)
        return base_error_set("--epochs %lld: too many steps", (long long)cfg->epochs);
    int64_t total = steps * cfg->epochs;
    if (cfg->warmup >= total)
        return base_error_set("--warmup %lld must be below the %lld steps of the run",
                              (long long)cfg->warmup, (long long)total);
    if (cfg->inject_step > total)
        return base_error_set("--inject-nonfinite: step %lld is beyond the %lld steps of the "
                              "run", (long long)cfg->inject_step, (long long)total);
    if (cfg->stall_step > total)
        return base_error_set("--test-stall: step %lld is beyond the %lld steps of the run",
                              (long long)cfg->stall_step, (long long)total);
    *steps_per_epoch = steps;
    return 0;
}

int64_t config_val_count(const Config *cfg, int64_t n_train)
{
    if (cfg->val_count)
        return cfg->val_count;
    return (int64_t)floor(cfg->val_fraction * (double)n_train);
}

int64_t config_terms(const Config *cfg)
{
    return cfg->micro_batch ? cfg->batch / cfg->micro_batch : 0;
}

Schedule config_schedule(const Config *cfg, int64_t total_steps)
{
    return (Schedule){
        .kind = cfg->schedule,
        .lr = cfg->lr,
        .step_size = cfg->step_size,
        .gamma = cfg->gamma,
        .warmup = cfg->warmup,
        .total_steps = total_steps,
    };
}

/* Doubles as %a (hex, exact) so equal values give equal text. */
void config_describe(const Config *cfg, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "arch=%s epochs=%lld batch=%lld micro_batch=%lld lr=%a momentum=%a "
             "weight_decay=%a schedule=%s step_size=%lld gamma=%a warmup=%lld seed=%llu "
             "reduce=%s on_nonfinite=%s log_every=%lld limit=%lld eval=%d normalize=%d "
             "inject_nonfinite=%lld:%lld balance=%s test_slow=%lld:%lld "
             "val=%lld:%a best=%s patience=%lld threading=%s",
             lenet_arch_name(cfg->arch), (long long)cfg->epochs, (long long)cfg->batch,
             (long long)cfg->micro_batch, cfg->lr, cfg->momentum, cfg->weight_decay,
             schedule_name(cfg->schedule), (long long)cfg->step_size, cfg->gamma,
             (long long)cfg->warmup, (unsigned long long)cfg->seed,
             config_reduce_name(cfg->reduce), config_nonfinite_name(cfg->on_nonfinite),
             (long long)cfg->log_every, (long long)cfg->limit, cfg->eval ? 1 : 0,
             cfg->normalize ? 1 : 0, (long long)cfg->inject_step, (long long)cfg->inject_rank,
             off_on_names[cfg->balance ? 1 : 0], (long long)cfg->slow_rank,
             (long long)cfg->slow_percent,
             (long long)cfg->val_count, cfg->val_fraction, config_best_name(cfg->best),
             (long long)cfg->patience, threading_names[cfg->onednn_threads ? 1 : 0]);
}

uint64_t config_hash(const Config *cfg)
{
    char text[1024];
    config_describe(cfg, text, sizeof text);
    return hash_string(text);
}

const char *const config_resume_fixed[] = {
    "data_sha256", "arch", "batch", "micro_batch", "seed", "reduce", "limit", "val",
    "normalize", NULL,
};
const char *const config_resume_schedule[] = {
    "epochs", "lr", "schedule", "warmup", "step_size", "gamma", "momentum", "weight_decay", NULL,
};

json_t *config_to_json(const Config *cfg, const char *data_sha256, int world_size)
{
    json_t *val = cfg->val_count || cfg->val_fraction == 0
                      ? json_integer((json_int_t)cfg->val_count)
                      : json_real(cfg->val_fraction);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:s, s:I, s:f, s:I, s:s, s:s,"
        " s:s, s:I, s:o, s:b, s:b, s:I, s:I}",
        "shardnet_version", SHARDNET_VERSION, "data", cfg->data, "data_sha256", data_sha256,
        "arch", lenet_arch_name(cfg->arch), "epochs", (json_int_t)cfg->epochs,
        "batch", (json_int_t)cfg->batch, "micro_batch", (json_int_t)cfg->micro_batch,
        "lr", cfg->lr, "momentum", cfg->momentum, "weight_decay", cfg->weight_decay,
        "schedule", schedule_name(cfg->schedule), "step_size", (json_int_t)cfg->step_size,
        "gamma", cfg->gamma, "warmup", (json_int_t)cfg->warmup,
        "seed", seed_text(cfg->seed), "reduce", config_reduce_name(cfg->reduce),
        "on_nonfinite", config_nonfinite_name(cfg->on_nonfinite),
        "limit", (json_int_t)cfg->limit, "val", val, "normalize", cfg->normalize,
        "eval", cfg->eval, "log_every", (json_int_t)cfg->log_every,
        "threads", (json_int_t)cfg->threads);
    json_object_set_new(o, "best", json_string(config_best_name(cfg->best)));
    json_object_set_new(o, "threading",
                        json_string(threading_names[cfg->onednn_threads ? 1 : 0]));
    json_object_set_new(o, "patience", json_integer((json_int_t)cfg->patience));
    json_object_set_new(o, "ckpt_every", json_integer((json_int_t)cfg->ckpt_every));
    json_object_set_new(o, "ckpt_every_unit",
                        json_string(cfg->ckpt_every_epochs ? "epochs" : "steps"));
    json_object_set_new(o, "keep", json_integer((json_int_t)cfg->keep));
    json_object_set_new(o, "tensorboard", json_boolean(cfg->tensorboard));
    json_object_set_new(o, "world_size", json_integer(world_size));
    return o;
}
