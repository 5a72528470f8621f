/* config.c - `shardnet train` options.  See config.h for the contract. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "hash.h"
#include "opts.h"
#include "threads.h"
#include "shardnet_version.h"

/* The seed as a decimal string: JSON numbers are doubles for many readers
 * and a 64-bit seed would lose bits. */
static const char *seed_text(uint64_t seed)
{
    static _Thread_local char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
    return buf;
}

void config_usage(FILE *out)
{
    fprintf(out,
        "usage: shardnet train [options]          (under mpirun -np P for P ranks)\n"
        "\n"
        "  --data FILE            HDF5 dataset (default: " CONFIG_DEFAULT_DATA ")\n"
        "  --arch classic|modern  LeNet with sigmoid+avg-pool, or ReLU+max-pool\n"
        "                         (default: classic)\n"
        "  --epochs N             passes over the training set (default: 10)\n"
        "  --batch B              global batch, the same for any P, 1..%d\n"
        "                         (default: 256)\n"
        "  --micro-batch m        samples per gradient computation, dividing B (default:\n"
        "                         the largest divisor of B up to %d: 32 at B = 256); any\n"
        "                         P from 1 to B/m ranks gives the same weights\n"
        "  --balance on|off       give faster ranks more of a step's micro-batches, by\n"
        "                         their measured speed; off: split evenly (default: on)\n"
        "  --lr X                 learning rate, > 0 (default: 0.9)\n"
        "  --momentum X           SGD momentum in [0, 1) (default: 0)\n"
        "  --weight-decay X       L2 weight decay, >= 0 (default: 0)\n"
        "  --schedule S           constant|step|cosine (default: constant)\n"
        "  --step-size N          step: updates between decays (required with step)\n"
        "  --gamma X              step: decay factor in (0, 1] (default: 0.1)\n"
        "  --warmup W             linear warmup over the first W updates (default: 0)\n"
        "  --seed N               weight init and data order (default: 42)\n"
        "  --reduce exact|float   int64 fixed-point (bit-identical for any P) or float\n"
        "                         all-reduce of gradients, whose result depends on P and\n"
        "                         on the assignment of micro-batches (default: exact)\n"
        "  --on-nonfinite stop|skip  on NaN/Inf: all ranks stop with an error, or all\n"
        "                         skip the step (default: stop)\n"
        "  --log-every N          progress line and metrics every N steps (default: 50)\n"
        "  --quiet                no progress lines\n"
        "  --limit N              train on the first N training samples only\n"
        "                         (default: all)\n"
        "  --eval, --no-eval      test-set evaluation after each epoch (default: on)\n"
        "  --threads N            micro-batch workers per rank, each a one-thread model\n"
        "                         replica (default: OMP_NUM_THREADS if set, else 1);\n"
        "                         the weights are the same for any ranks x threads\n"
        "  --threading workers|onednn  micro-batch workers (bit-identical for any\n"
        "                         ranks x threads), or oneDNN splitting each layer over\n"
        "                         the threads: faster when a rank has fewer micro-\n"
        "                         batches than threads, but the weights then depend on\n"
        "                         the thread count (default: workers)\n"
        "  --normalize            feed (x/255 - mean)/std with the dataset's pixel\n"
        "                         statistics instead of x/255 (default: off)\n"
        "  --val N|X              hold out the last N training samples (or the fraction\n"
        "                         0<X<1 of them) for validation after each epoch\n"
        "                         (default: none)\n"
        "  --best val_loss|val_accuracy  which validation figure picks RUN/best.h5\n"
        "                         (default: val_loss; needs --val)\n"
        "  --patience N           stop after N epochs without a better best\n"
        "                         (default: off)\n"
        "  --tensorboard, --no-tensorboard  TensorBoard event file in the run\n"
        "                         (default: on)\n"
        "\nthe run and its checkpoints (rank 0 writes them; see README):\n"
        "  --run DIR              the run directory: config.json, metrics.jsonl,\n"
        "                         checkpoints, best.h5, TensorBoard events (default: a\n"
        "                         new runs/YYYYmmdd-HHMMSS); a used DIR needs --resume\n"
        "  --ckpt-every N|Ne      every N steps, or every N epochs with the suffix e\n"
        "                         (default: 1e); a checkpoint is always written at\n"
        "                         the end\n"
        "  --keep K               keep the K newest checkpoints, 0 = all (default: 3)\n"
        "  --resume auto|PATH     auto: the run's `latest` checkpoint, else its newest\n"
        "                         that verifies (a fresh start when there is none);\n"
        "                         PATH: that file\n"
        "  --change-schedule      let a resume change --epochs, --lr, --schedule,\n"
        "                         --warmup, --step-size, --gamma, --momentum,\n"
        "                         --weight-decay (refused otherwise)\n"
        "  --on-ckpt-error stop|warn  a failed checkpoint write stops training, or is\n"
        "                         reported and training goes on (default: stop)\n"
        "  --no-ckpt              write no checkpoints\n"
        "\nclusters (see README.md):\n"
        "  --timeout SECONDS      hang watchdog: when a per-step all-reduce has not\n"
        "                         completed after SECONDS, name the late ranks, the step\n"
        "                         and the collective, and abort all ranks (exit 4);\n"
        "                         0 = off (default: %d)\n"
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

/* Whole-string decimal integer in [lo, hi] for a part of a composite value
 * ("STEP" of STEP:RANK); -1 with base_error() naming the part (the
 * option's allowed text gives the ranges). */
static int part_int(const char *part, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    const char *d = s + (s[0] == '-' || s[0] == '+');
    if (end == s || *end != '\0' || errno == ERANGE || *d < '0' || *d > '9')
        return base_error_set("%s '%s' is not an integer", part, s);
    if (v < lo || v > hi)
        return base_error_set("%s %lld is out of range", part, v);
    *out = v;
    return 0;
}

static const char *const arch_names[] = {"classic", "modern", NULL};
static const char *const reduce_names[] = {"exact", "float", NULL};
static const char *const nonfinite_names[] = {"stop", "skip", NULL};
static const char *const schedule_names[] = {"constant", "step", "cosine", NULL};
static const char *const ckpt_error_names[] = {"stop", "warn", NULL};
static const char *const off_on_names[] = {"off", "on", NULL};
static const char *const best_names[] = {"val_loss", "val_accuracy", NULL};
static const char *const threading_names[] = {"workers", "onednn", NULL};

const char *config_best_name(BestMetric b) { return best_names[b]; }
const char *config_reduce_name(ReduceMode r) { return reduce_names[r]; }
const char *config_nonfinite_name(OnNonfinite o) { return nonfinite_names[o]; }

/* The custom values below follow opts.h: (value, Config *), -1 with
 * base_error() saying what is wrong; the option's name and what it allows
 * are added by opts_parse. */

/* --seed: the whole 0..2^64-1 range, which int64_t cannot hold. */
static int parse_seed(const char *s, void *dst)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end || errno == ERANGE)
        return base_error_set("'%s' is not valid", s);
    ((Config *)dst)->seed = v;
    return 0;
}

/* --val N (samples) or X (a fraction, 0 < X < 1: written with a point). */
static int parse_val(const char *s, void *dst)
{
    Config *cfg = dst;
    cfg->val_count = 0;
    cfg->val_fraction = 0;
    if (strchr(s, '.') || strchr(s, 'e') || strchr(s, 'E')) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || *end || errno == ERANGE || !isfinite(v))
            return base_error_set("'%s' is not valid", s);
        if (v <= 0 || v >= 1)
            return base_error_set("%s is out of range", s);
        cfg->val_fraction = v;
        return 0;
    }
    return part_int("sample count", s, 1, INT64_MAX, &cfg->val_count);
}

/* "N" steps or "Ne" epochs, N >= 1. */
static int parse_every(const char *s, void *dst)
{
    Config *cfg = dst;
    char num[32];
    size_t len = strlen(s);
    cfg->ckpt_every_epochs = len > 0 && s[len - 1] == 'e';
    if (cfg->ckpt_every_epochs)
        len--;
    if (len == 0 || len >= sizeof num)
        return base_error_set("'%s' is not valid", s);
    memcpy(num, s, len);
    num[len] = '\0';
    return part_int("N", num, 1, INT64_MAX, &cfg->ckpt_every);
}

/* A:B: the part before the first colon into head (NUL-terminated), *tail
 * after it; -1 with "'S' is not valid" when there is no colon or A is empty
 * or too long. */
static int split_pair(const char *s, char head[32], const char **tail)
{
    const char *colon = strchr(s, ':');
    size_t len = colon ? (size_t)(colon - s) : 0;
    if (!colon || len == 0 || len >= 32)
        return base_error_set("'%s' is not valid", s);
    memcpy(head, s, len);
    head[len] = '\0';
    *tail = colon + 1;
    return 0;
}

static int parse_inject(const char *s, void *dst)
{
    Config *cfg = dst;
    char step[32];
    const char *rank = NULL;
    if (split_pair(s, step, &rank) ||
        part_int("STEP", step, 1, INT64_MAX, &cfg->inject_step) ||
        part_int("RANK", rank, 0, INT32_MAX, &cfg->inject_rank))
        return -1;
    return 0;
}

/* STEP:RANK:SECONDS[:grad|:compute], STEP >= 1. */
static int parse_stall(const char *s, void *dst)
{
    Config *cfg = dst;
    char buf[96], *rank, *secs;
    if (strlen(s) >= sizeof buf)
        return base_error_set("'%s' is not valid", s);
    strcpy(buf, s);
    rank = strchr(buf, ':');
    secs = rank ? strchr(rank + 1, ':') : NULL;
    if (!rank || !secs)
        return base_error_set("'%s' is not valid", s);
    *rank++ = '\0';
    *secs++ = '\0';
    char *where = strchr(secs, ':');
    cfg->stall_in_grad = cfg->stall_in_compute = false;
    if (where) {
        *where++ = '\0';
        if (strcmp(where, "grad") != 0 && strcmp(where, "compute") != 0)
            return base_error_set("'%s' is not valid", s);
        cfg->stall_in_grad = !strcmp(where, "grad");
        cfg->stall_in_compute = !strcmp(where, "compute");
    }
    if (part_int("STEP", buf, 1, INT64_MAX, &cfg->stall_step) ||
        part_int("RANK", rank, 0, INT32_MAX, &cfg->stall_rank) ||
        part_int("SECONDS", secs, 1, 86400, &cfg->stall_seconds))
        return -1;
    return 0;
}

/* RANK:PERCENT, PERCENT in 1..100. */
static int parse_slow(const char *s, void *dst)
{
    Config *cfg = dst;
    char rank[32];
    const char *percent = NULL;
    if (split_pair(s, rank, &percent) ||
        part_int("RANK", rank, 0, INT32_MAX, &cfg->slow_rank) ||
        part_int("PERCENT", percent, 1, 100, &cfg->slow_percent))
        return -1;
    return 0;
}

/* --metrics and --ckpt-dir of earlier versions. */
static int parse_gone(const char *s, void *dst)
{
    (void)s, (void)dst;
    return base_error_set("this option is gone");
}

int config_parse(Config *cfg, int argc, char **argv)
{
    config_defaults(cfg);
    int arch = cfg->arch, schedule = cfg->schedule, reduce = cfg->reduce,
        nonfinite = cfg->on_nonfinite, best = cfg->best, ckpt_error = cfg->on_ckpt_error,
        balance = cfg->balance, threading = cfg->onednn_threads;
    bool step_size_given = false, gamma_given = false, best_given = false;
    const char *gone = "a run's metrics and checkpoints live in its run directory: --run DIR";
    const Opt opts[] = {
        OPTION_STRING("data", &cfg->data, "an HDF5 dataset file"),
        OPTION_CHOICE("arch", &arch, arch_names),
        OPTION_INT("epochs", &cfg->epochs, 1, 1000000),
        OPTION_INT("batch", &cfg->batch, 1, CONFIG_MAX_BATCH),
        OPTION_INT("micro-batch", &cfg->micro_batch, 1, CONFIG_MAX_BATCH),
        OPTION_CHOICE("balance", &balance, off_on_names),
        OPTION_REAL("lr", &cfg->lr, 0, 1e6, OPT_LO_OPEN),
        OPTION_REAL("momentum", &cfg->momentum, 0, 1, OPT_HI_OPEN),
        OPTION_REAL("weight-decay", &cfg->weight_decay, 0, 1e6, 0),
        OPTION_CHOICE("schedule", &schedule, schedule_names),
        OPTION_INT("step-size", &cfg->step_size, 1, INT64_MAX, .given = &step_size_given),
        OPTION_REAL("gamma", &cfg->gamma, 0, 1, OPT_LO_OPEN, .given = &gamma_given),
        OPTION_INT("warmup", &cfg->warmup, 0, INT64_MAX),
        OPTION_CUSTOM("seed", cfg, parse_seed, "an integer in 0..2^64-1"),
        OPTION_CHOICE("reduce", &reduce, reduce_names),
        OPTION_CHOICE("on-nonfinite", &nonfinite, nonfinite_names),
        OPTION_INT("log-every", &cfg->log_every, 1, INT64_MAX),
        OPTION_CUSTOM("metrics", cfg, parse_gone, gone),
        OPTION_CUSTOM("ckpt-dir", cfg, parse_gone, gone),
        OPTION_FLAG("quiet", &cfg->quiet),
        OPTION_INT("limit", &cfg->limit, 1, INT64_MAX),
        OPTION_FLAG("eval", &cfg->eval),
        OPTION_UNFLAG("no-eval", &cfg->eval),
        OPTION_INT("threads", &cfg->threads, 1, THREADS_MAX),
        OPTION_CHOICE("threading", &threading, threading_names),
        OPTION_FLAG("normalize", &cfg->normalize),
        OPTION_CUSTOM("inject-nonfinite", cfg, parse_inject, "STEP:RANK, STEP >= 1, RANK >= 0"),
        OPTION_STRING("run", &cfg->run, "a directory"),
        OPTION_FLAG("change-schedule", &cfg->change_schedule),
        OPTION_CUSTOM("val", cfg, parse_val, "a sample count N >= 1 or a fraction 0 < X < 1"),
        OPTION_CHOICE("best", &best, best_names, .given = &best_given),
        OPTION_INT("patience", &cfg->patience, 1, 1000000),
        OPTION_FLAG("tensorboard", &cfg->tensorboard),
        OPTION_UNFLAG("no-tensorboard", &cfg->tensorboard),
        OPTION_CUSTOM("ckpt-every", cfg, parse_every, "N steps or Ne epochs, N >= 1"),
        OPTION_INT("keep", &cfg->keep, 0, 1000000),
        OPTION_STRING("resume", &cfg->resume, "auto or a checkpoint file"),
        OPTION_CHOICE("on-ckpt-error", &ckpt_error, ckpt_error_names),
        OPTION_FLAG("no-ckpt", &cfg->no_ckpt),
        OPTION_INT("test-ckpt-delay", &cfg->test_ckpt_delay_ms, 0, 10000),
        OPTION_INT("timeout", &cfg->timeout, 0, 7 * 86400),
        OPTION_CUSTOM("test-stall", cfg, parse_stall, "STEP:RANK:SECONDS[:grad|:compute]"),
        OPTION_CUSTOM("test-slow", cfg, parse_slow, "RANK:PERCENT, PERCENT in 1..100"),
        OPTION_STRING("scaling-report", &cfg->scaling_report, "a file name prefix"),
        OPTION_STRING("scaling-baseline", &cfg->scaling_baseline, "a .json file"),
        OPTS_END,
    };
    const OptSpec spec = {"train", opts, NULL, 0, 0};
    int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
    cfg->arch = (LeNetArch)arch;
    cfg->schedule = (ScheduleKind)schedule;
    cfg->reduce = (ReduceMode)reduce;
    cfg->on_nonfinite = (OnNonfinite)nonfinite;
    cfg->best = (BestMetric)best;
    cfg->on_ckpt_error = (OnCkptError)ckpt_error;
    cfg->balance = balance == 1;
    cfg->onednn_threads = threading == 1;
    if (rc)
        return rc;
    if (cfg->schedule == SCHEDULE_STEP && !step_size_given)
        return base_error_set("--schedule: step needs --step-size N (or constant|cosine)");
    if (cfg->schedule != SCHEDULE_STEP && (step_size_given || gamma_given))
        return base_error_set("%s: only applies to --schedule step",
                              step_size_given ? "--step-size" : "--gamma");
    if (!cfg->micro_batch)
        cfg->micro_batch = config_default_micro(cfg->batch);
    if (cfg->batch % cfg->micro_batch)
        return base_error_set("--micro-batch: %lld does not divide --batch %lld (a divisor "
                              "of %lld)", (long long)cfg->micro_batch, (long long)cfg->batch,
                              (long long)cfg->batch);
    int has_val = cfg->val_count || cfg->val_fraction > 0;
    if (!has_val && (best_given || cfg->patience))
        return base_error_set("%s: needs --val N (the best checkpoint is chosen on held-out "
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
    /* --threads, else OMP_NUM_THREADS, else 1 (threads.h). */
    return threads_resolve(cfg->threads, &cfg->threads);
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
