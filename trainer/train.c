/* train.c - the training loop; see train.h.
 *
 * One step, on every rank:
 *   the micro-batches balance.h gives it this step (a contiguous run of the
 *     step's K = B/m, at least one) are shared among its --threads workers
 *     (compute_gradients): each runs its own one-thread LeNet replica on
 *     its share - forward, loss, backward - and adds each gradient to the
 *     rank's exact fixed-point sum (gradred_add); during the workers' last
 *     backward passes, once the fc gradients are final, their sums start
 *     (dist_grads_start) and move along between layers (grads_ready);
 *   one control all-reduce: loss, correct counts, non-finite/overflow/stop
 *     flags, so that every rank takes the same branch, and every rank's
 *     compute time per micro-batch, from which every rank derives the same
 *     assignment for the next step (in exact mode the conv gradients' sums
 *     ride in it too);
 *   unless a flag is set: what is left of the gradient all-reduce, the mean
 *     gradient, and the SGD update with the schedule's learning rate; if a
 *     flag is set, the early all-reduce is completed and dropped.
 * A stop signal (signals.h) on any rank sets stop_ranks: every rank then
 * drops the step it computed, rank 0 checkpoints the state before it, and
 * all return TRAIN_STOPPED; the resumed run recomputes that step.
 * A micro-batch's gradient is the same bits on whichever rank and worker
 * computes it (every replica's primitives are built for one oneDNN thread,
 * as a one-thread rank's; the workers run them inside an OpenMP parallel
 * region, where oneDNN 2.6 does not start threads of its own), and integer
 * sums do not depend on their order, so the weights after any number of
 * steps are the same bits for every P ranks x T threads and every
 * assignment.  Memory: each worker beyond the first adds a replica (its
 * activations, primitives and buffers: ~5 MB at m = 32, ~25 MB at m = 256).
 * --threading onednn keeps one replica per rank and lets oneDNN split each
 * primitive over the threads: faster when a rank has fewer micro-batches
 * than threads, but the weights then depend on the thread count. */
#include "train.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "checkpoint.h"
#include "checksum.h"
#include "cpuisa.h"
#include "dist.h"
#include "hash.h"
#include "loss.h"
#include "run.h"
#include "shardnet_version.h"
#include "signals.h"
#include "stepwatch.h"

/* Evaluation batch: batch 128 ran 5% faster than 500 on one core and its
 * model needs ~34 MB less (shardnet eval, max RSS 65 vs 99 MB). */
enum { EVAL_BATCH = 128 };

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Every rank reaches the same verdict; rank 0 prints it. */
static int setup_fail(const Trainer *t, const char *what)
{
    if (t->rank == 0)
        fprintf(stderr, "shardnet train: %s\n", what);
    return -1;
}

/* Local failures (a file one rank cannot read) must not leave the others
 * in a collective: all ranks vote, and all fail if any failed. */
static int all_ok(int ok_here)
{
    int64_t bad = ok_here ? 0 : 1;
    dist_sum_i64(&bad, 1);
    return bad == 0;
}

/* One oneDNN ISA for the whole job (ops/cpuisa.h), pinned on every rank
 * before the first primitive exists: the resumed checkpoint's, so that a
 * resume on other hosts keeps the numerics, or else the highest level every
 * rank supports (each rank's maximum respects its ONEDNN_MAX_CPU_ISA /
 * DNNL_MAX_CPU_ISA).  0, or -1 on every rank with the reason printed. */
static int choose_isa(Trainer *t)
{
    int mine = cpuisa_probe();
    if (mine < 0)
        fprintf(stderr, "[rank %d] shardnet train: %s\n", t->rank, base_error());
    if (!all_ok(mine >= 0))
        return setup_fail(t, "cannot tell which oneDNN ISA every rank supports (see above)");
    int64_t lowest = -(int64_t)mine;
    dist_max_i64(&lowest, 1);
    t->isa_lowest = (int)-lowest;
    t->isa = t->isa_lowest;
    char recorded[32];
    checkpoint_recorded_isa(t, recorded, sizeof recorded);
    if (recorded[0]) {
        int level = cpuisa_parse(recorded);
        if (level < 0) {
            char why[200];
            snprintf(why, sizeof why, "cannot resume: the checkpoint records oneDNN ISA '%s', "
                     "which this shardnet does not know", recorded);
            return setup_fail(t, why);
        }
        if (level > mine) {
            char host[256] = "";
            gethostname(host, sizeof host - 1);
            fprintf(stderr, "[rank %d] shardnet train: this host (%s) runs oneDNN ISA %s at "
                            "most (CPU, or ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA), the "
                            "checkpoint needs %s\n", t->rank, host, cpuisa_name(mine), recorded);
        }
        if (!all_ok(level <= mine)) {
            char why[400];
            snprintf(why, sizeof why, "cannot resume: the checkpoint was trained with oneDNN "
                     "ISA %s and continues on it only (another ISA gives other weights); "
                     "some rank runs %s at most (see above): resume on hosts that support %s",
                     recorded, cpuisa_name(t->isa_lowest), recorded);
            return setup_fail(t, why);
        }
        t->isa = level;
        t->isa_recorded = 1;
    }
    int ok = cpuisa_pin(t->isa) == 0;
    if (!ok)
        fprintf(stderr, "[rank %d] shardnet train: %s\n", t->rank, base_error());
    if (!all_ok(ok))
        return setup_fail(t, "cannot pin the job's oneDNN ISA on every rank (see above)");
    return 0;
}

static int open_data(Trainer *t)
{
    const Config *c = &t->cfg;
    char why[1200] = "";
    int ok = dataset_open(&t->ds, c->data) == 0;
    if (!ok)
        snprintf(why, sizeof why, "%s", base_error());
    if (!all_ok(ok)) {
        if (!ok)
            fprintf(stderr, "[rank %d] shardnet train: %s\n", t->rank, why);
        return setup_fail(t, "cannot open the dataset on every rank; run `shardnet prepare` "
                             "first or give --data FILE");
    }
    /* Options that do not fit this dataset (--limit, --batch, --warmup,
     * --val): a usage error, exit 2. */
    int64_t n_train = (int64_t)t->ds.count[DATASET_TRAIN];
    if (config_check_data(c, n_train, &t->steps_per_epoch) < 0) {
        setup_fail(t, base_error());
        return -2;
    }
    t->val_count = config_val_count(c, n_train);
    LoaderConfig lc = {.seed = c->seed,
                       .batch = (size_t)c->batch,
                       .micro = (size_t)c->micro_batch,
                       .normalize = c->normalize,
                       .limit = (size_t)(c->limit ? c->limit : n_train - t->val_count)};
    if (loader_init(&t->loader, &t->ds, &lc) < 0)
        return setup_fail(t, base_error());
    if (c->eval && loader_eval_init(&t->evalset, &t->ds, t->size, t->rank, c->normalize) < 0)
        return setup_fail(t, base_error());
    if (t->val_count && loader_val_init(&t->valset, &t->ds, (size_t)(n_train - t->val_count),
                                        (size_t)t->val_count, t->size, t->rank,
                                        c->normalize) < 0)
        return setup_fail(t, base_error());
    return 0;
}

static int build_model(Trainer *t)
{
    const Config *c = &t->cfg;
    const Dataset *ds = &t->ds;
    if (lenet_describe(&t->model, c->arch, c->micro_batch, (int64_t)ds->channels,
                       (int64_t)ds->height, (int64_t)ds->width, ds->num_classes) < 0)
        return setup_fail(t, base_error());
    size_t n = t->model.n_params;
    t->n_workers = c->onednn_threads ? 1 : (int)c->threads;
    t->workers = xcalloc((size_t)t->n_workers, sizeof *t->workers);
    for (int i = 0; i < t->n_workers; i++) {
        Worker *w = &t->workers[i];
        if (lenet_init(&w->model, c->arch, c->micro_batch, (int64_t)ds->channels,
                       (int64_t)ds->height, (int64_t)ds->width, ds->num_classes,
                       LAYOUT_NHWC) < 0)
            return setup_fail(t, base_error());
        w->grads = xaligned(n * sizeof(float));
        w->src = xaligned((size_t)c->micro_batch * ds->sample_size * sizeof(float));
        w->diff = xaligned((size_t)(c->micro_batch * ds->num_classes) * sizeof(float));
        w->labels = xcalloc((size_t)c->micro_batch, sizeof *w->labels);
        w->trainer = t;
        w->id = i;
        if (gradred_init(&w->reducer, n, c->reduce, (size_t)config_terms(c)) < 0)
            return setup_fail(t, base_error());
    }
    if ((c->eval || t->val_count) && evaluator_init(&t->evaluator, c->arch, ds, EVAL_BATCH) < 0)
        return setup_fail(t, base_error());
    t->params = xaligned(n * sizeof(float));
    t->momentum = xaligned(n * sizeof(float));
    t->mean_grads = xaligned(n * sizeof(float));
    if (gradred_init(&t->reducer, n, c->reduce, (size_t)config_terms(c)) < 0)
        return setup_fail(t, base_error());
    if (balance_init(&t->balance, t->size, config_terms(c), c->balance) < 0)
        return setup_fail(t, base_error());
    t->rank_ns = xcalloc((size_t)t->size, sizeof *t->rank_ns);
    lenet_init_params(&t->model, t->params, c->seed);
    return 0;
}

/* The dataset's fingerprint: SHA-256 over its sources' SHA-256 and the split
 * sizes (hex into t->data_sha256); its first 64 bits for the rank check. */
static uint64_t dataset_fingerprint(Trainer *t)
{
    const Dataset *ds = &t->ds;
    char text[4096] = "";
    size_t len = 0;
    for (int i = 0; i < ds->num_sources && len < sizeof text; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s\n", ds->source_sha256[i]);
    if (len < sizeof text)
        snprintf(text + len, sizeof text - len, "%zu %zu\n", ds->count[DATASET_TRAIN],
                 ds->count[DATASET_TEST]);
    if (checksum_sha256(text, strlen(text), t->data_sha256) < 0)
        die("%s", base_error());
    return strtoull(t->data_sha256 + 48, NULL, 16);
}

const char *train_fingerprint(Trainer *t)
{
    checksum_params(t->params, t->model.n_params, t->fingerprint);
    return t->fingerprint;
}

/* The first 64 bits of the fingerprint, for the cross-rank check. */
static uint64_t fingerprint_u64(Trainer *t)
{
    char head[17];
    memcpy(head, train_fingerprint(t), 16);
    head[16] = '\0';
    return strtoull(head, NULL, 16);
}

static void print_startup(Trainer *t, const char *hosts)
{
    const Config *c = &t->cfg;
    const Dataset *ds = &t->ds;
    char text[1024];
    config_describe(c, text, sizeof text);
    const dnnl_version_t *v = dnnl_version();
    printf("shardnet %s train: %s\n", SHARDNET_VERSION, hosts);
    printf("  run %s\n", t->run_dir);
    char isa_how[128];
    if (t->isa_recorded)
        snprintf(isa_how, sizeof isa_how, "recorded in the checkpoint; every rank supports %s",
                 cpuisa_name(t->isa_lowest));
    else
        snprintf(isa_how, sizeof isa_how, "the highest every rank supports");
    printf("  %d rank%s x %lld thread%s (%s), oneDNN %d.%d.%d, ISA %s (%s)\n", t->size,
           t->size == 1 ? "" : "s", (long long)c->threads, c->threads == 1 ? "" : "s",
           c->onednn_threads ? "oneDNN threads: the weights depend on the thread count"
                             : "micro-batch workers",
           v->major, v->minor, v->patch, cpuisa_name(t->isa), isa_how);
    printf("  data %s: %zu train (%lld used) / %zu test, %zux%zux%zu, %d classes\n", c->data,
           ds->count[DATASET_TRAIN], (long long)(t->steps_per_epoch * c->batch),
           ds->count[DATASET_TEST], ds->channels, ds->height, ds->width, ds->num_classes);
    printf("  model LeNet %s, %zu parameters, sha256 %s\n", lenet_arch_name(c->arch),
           t->model.n_params, train_fingerprint(t));
    if (t->val_count)
        printf("  validation: the last %lld training samples, held out; best by %s\n",
               (long long)t->val_count, config_best_name(c->best));
    printf("  batch %lld = %lld micro-batches of %lld on %d rank%s (", (long long)c->batch,
           (long long)config_terms(c), (long long)c->micro_batch, t->size,
           t->size == 1 ? "" : "s");
    for (int r = 0; r < t->size && r < 16; r++)
        printf("%s%lld", r ? " " : "", (long long)t->balance.count[r]);
    printf("%s%s), reduce %s\n", t->size > 16 ? " ..." : "",
           c->balance ? " to start, then by measured speed" : ", balance off",
           config_reduce_name(c->reduce));
    if (!c->onednn_threads && config_terms(c) < (int64_t)t->size * c->threads)
        printf("  note: B/m = %lld micro-batches a step, fewer than ranks x threads = %lld: "
               "some threads idle (lower --micro-batch or --threads, or see --threading)\n",
               (long long)config_terms(c), (long long)t->size * c->threads);
    printf("  %lld epochs x %lld steps = %lld steps; lr %g (%s, warmup %lld), momentum %g, "
           "weight decay %g, seed %llu\n",
           (long long)c->epochs, (long long)t->steps_per_epoch, (long long)t->total_steps, c->lr,
           schedule_name(c->schedule), (long long)c->warmup, c->momentum, c->weight_decay,
           (unsigned long long)c->seed);
    printf("  config %s\n", text);
    const char *job = getenv("SLURM_JOB_ID"), *restarts = getenv("SLURM_RESTART_COUNT");
    if (job || restarts)
        printf("  slurm job %s, SLURM_RESTART_COUNT %s\n", job ? job : "(unset)",
               restarts ? restarts : "(unset: not requeued)");
    if (c->timeout)
        printf("  watchdog: a per-step all-reduce may take %lld s\n", (long long)c->timeout);
    else
        printf("  watchdog: off (--timeout 0)\n");
    fflush(stdout);
}

int train_setup(Trainer *t, const Config *cfg)
{
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    pthread_mutex_init(&t->sum_lock, NULL);
    pthread_cond_init(&t->sum_cond, NULL);
    t->rank = dist_rank();
    t->size = dist_size();
    /* Workers: every primitive is built and run for one oneDNN thread,
     * inside one worker (compute_gradients): the same kernels, and so the
     * same bits, as a one-thread rank.  --threading onednn: one replica
     * whose primitives oneDNN splits over the threads. */
    omp_set_num_threads(cfg->onednn_threads ? (int)cfg->threads : 1);
    base_engine();
    stepwatch_start(t->rank, (double)cfg->timeout);
    if (choose_isa(t) < 0)
        return -1;
    int rc = open_data(t);
    if (rc < 0)
        return rc;
    if (build_model(t) < 0)
        return -1;
    t->total_steps = t->steps_per_epoch * cfg->epochs;
    t->schedule = config_schedule(cfg, t->total_steps);
    uint64_t data_id = dataset_fingerprint(t);
    if (run_open(t) < 0 || checkpoint_resume(t) < 0 || checkpoint_prepare(t) < 0)
        return -1;

    char hosts[4096];
    int nhosts = dist_hosts(hosts, sizeof hosts);
    Agreement agree[] = {
        {"config hash", config_hash(cfg)},
        {"threads per rank", (uint64_t)cfg->threads},
        {"oneDNN ISA (pinned above: a bug if they differ)", (uint64_t)cpuisa_effective()},
        {"dataset (sizes and source checksums)", data_id},
        {"parameter count", t->model.n_params},
        {"initial parameters (sha256, first 64 bits)", fingerprint_u64(t)},
        {"momentum hash", hash_floats(t->momentum, t->model.n_params)},
        {"start step", (uint64_t)t->step},
    };
    if (dist_check_agreement(agree, sizeof agree / sizeof agree[0]) < 0)
        return setup_fail(t, "the ranks disagree (see above); every rank must run the same "
                             "shardnet with the same options, data, threads and ISA");
    if (t->rank == 0)
        print_startup(t, hosts);
    json_t *config = config_to_json(cfg, t->data_sha256, t->size);
    return run_begin(t, config, t->resumed_from[0] ? t->resumed_from : NULL, t->resumed_world,
                     nhosts);
}

/* lenet_backward's hook on each worker's last micro-batch of the step.
 * Once the final gradients make up at least half of the buffer (after fc1:
 * ~96% of LeNet's parameters), the worker adds them to its sum (and counts
 * its micro-batch: the count travels in the tail).  Worker 0, the MPI
 * thread, then waits until every other worker has done the same - their
 * earlier micro-batches are in their sums by then - merges the workers'
 * tails into the rank's sum in worker order and starts the tail's
 * all-reduce; after every later stage it lets MPI move it along, while the
 * other workers finish their own backward passes.  The split point comes
 * from the model alone, so every worker and every rank splits at the same
 * point. */
static void grads_ready(void *ctx, size_t first)
{
    Worker *w = ctx;
    Trainer *t = w->trainer;
    const size_t n = t->model.n_params;
    if (w->tail_from) {
        if (w->id == 0)
            dist_grads_progress();
        return;
    }
    if (first == 0 || first > n / 2)
        return;
    w->tail_status = gradred_add_range(&w->reducer, w->grads, first, n);
    gradred_count(&w->reducer);
    w->tail_from = first;
    pthread_mutex_lock(&t->sum_lock);
    if (w->id != 0) {
        t->workers_busy--;
        pthread_cond_signal(&t->sum_cond);
    } else {
        while (t->workers_busy > 0)
            pthread_cond_wait(&t->sum_cond, &t->sum_lock);
    }
    pthread_mutex_unlock(&t->sum_lock);
    if (w->id != 0)
        return;
    for (int i = 0; i < t->workers_used; i++)
        gradred_merge_range(&t->reducer, &t->workers[i].reducer, first, n + 1);
    t->tail_from = first;
    dist_grads_start(&t->reducer, first);
}

/* test-only --test-slow: after a micro-batch that took `seconds`, the slow
 * rank sleeps so that it runs at slow_percent of its speed. */
static void test_slow(const Trainer *t, double seconds)
{
    const Config *c = &t->cfg;
    if (!c->slow_percent || c->slow_rank != t->rank)
        return;
    double extra = seconds * (double)(100 - c->slow_percent) / (double)c->slow_percent;
    struct timespec left = {(time_t)extra, (long)((extra - (double)(time_t)extra) * 1e9)};
    while (nanosleep(&left, &left) < 0) /* again after a signal */
        ;
}

/* Worker `id`: micro-batches [first, first + count) of this step (count
 * >= 1), gradients added to its own sum, losses and flags into its own
 * control record (both reset by the caller).  The gradient tail of its last
 * micro-batch goes in early (grads_ready). */
static void work(Trainer *t, int id, size_t first, size_t count)
{
    const Config *c = &t->cfg;
    Worker *w = &t->workers[id];
    const size_t m = (size_t)c->micro_batch, k = (size_t)t->ds.num_classes;
    for (size_t g = first; g < first + count; g++) {
        double started = wall_now();
        const int last = g + 1 == first + count;
        if (loader_get(&t->loader, (size_t)t->step_in_epoch, g, w->src, w->labels, NULL) < 0)
            die("%s", base_error());
        lenet_forward(&w->model, t->params, w->src);
        LossResult r = loss_softmax_xent(w->model.logits, w->labels, m, k, w->diff);
        w->model.grads_ready = last ? grads_ready : NULL;
        w->model.grads_ready_ctx = w;
        lenet_backward(&w->model, t->params, w->src, w->diff, w->grads);
        w->model.grads_ready = NULL;
        if (c->inject_step == t->step + 1 && c->inject_rank == t->rank)
            w->grads[0] = NAN; /* test-only: --inject-nonfinite */
        int status;
        if (last && w->tail_from) {
            status = w->tail_status;
            if (status == GRADRED_OK)
                status = gradred_add_range(&w->reducer, w->grads, 0, w->tail_from);
        } else {
            status = gradred_add(&w->reducer, w->grads);
        }
        if (status != GRADRED_OK)
            fprintf(stderr, "[rank %d] step %lld: %s\n", t->rank, (long long)(t->step + 1),
                    base_error());
        control_note_grad_status(&w->ctl, status);
        control_add_microbatch(&w->ctl, (float)r.loss, (int64_t)r.correct, (int64_t)m);
        test_slow(t, wall_now() - started);
    }
}

/* This rank's micro-batches of the step (t->balance), shared among its
 * workers (OpenMP threads, each running its own one-thread replica) in
 * contiguous runs as even as they go (the first runs one longer), worker
 * 0 - the MPI thread, which also moves the all-reduce along - taking the
 * last, shorter one.  Each worker sums its own gradients; the sums merge
 * into the rank's reducer in worker order.  Every micro-batch's gradient
 * is the same bits on whichever worker computes it, and the integer sum
 * does not depend on the order of its terms, so in exact mode the split
 * changes nothing but the time (float mode: the weights depend on it, and
 * repeat for the same ranks, threads and assignment).  Gradients end in
 * t->reducer, losses and flags in *ctl.  The gradient tail is already
 * being all-reduced when this returns (t->tail_from). */
static void compute_gradients(Trainer *t, Control *ctl)
{
    const size_t first = (size_t)t->balance.first[t->rank];
    const size_t count = (size_t)t->balance.count[t->rank];
    gradred_reset(&t->reducer);
    control_reset(ctl);
    t->tail_from = 0;
    for (int i = 0; i < t->n_workers; i++) {
        gradred_reset(&t->workers[i].reducer);
        control_reset(&t->workers[i].ctl);
        t->workers[i].tail_from = 0;
    }
    const unsigned fp_mode = base_fp_mode();
    if (t->n_workers == 1) { /* no region: oneDNN may use the threads itself */
        t->workers_used = 1;
        t->workers_busy = 0;
        work(t, 0, first, count);
    } else
#pragma omp parallel num_threads(t->n_workers)
    {
        /* OpenMP may give fewer threads than asked: split among those. */
        const size_t used = (size_t)omp_get_num_threads() < count
                                ? (size_t)omp_get_num_threads() : count;
        const size_t id = (size_t)omp_get_thread_num();
#pragma omp single
        {
            t->workers_used = (int)used;
            t->workers_busy = (int)used - 1;
        }
        /* (the barrier after single: every worker sees workers_busy) */
        if (id != 0)
            base_set_fp_mode(fp_mode); /* the MPI thread's FTZ/DAZ: the same bits */
        if (id < used) {
            const size_t run = used - 1 - id; /* worker 0: the last run */
            const size_t each = count / used, extra = count % used;
            const size_t start = first + run * each + (run < extra ? run : extra);
            work(t, (int)id, start, each + (run < extra));
        }
    }
    /* What the tail's all-reduce did not take, in worker order (float mode
     * adds in that order; exact mode in any). */
    const size_t n = t->model.n_params, head = t->tail_from ? t->tail_from : n + 1;
    for (int i = 0; i < t->workers_used; i++)
        gradred_merge_range(&t->reducer, &t->workers[i].reducer, 0, head);
    for (int i = 0; i < t->n_workers; i++)
        control_merge(ctl, &t->workers[i].ctl);
}

static void log_progress(Trainer *t, const Control *ctl, double lr, int force)
{
    const Config *c = &t->cfg;
    if (t->rank != 0 || (!force && t->step % c->log_every != 0))
        return;
    double now = wall_now();
    double rate = (double)(t->step - t->log_step) * (double)c->batch / (now - t->log_time);
    StepRecord r = {t->epoch + 1, c->epochs, t->step, t->total_steps,
                    control_mean_loss(ctl), control_accuracy(ctl), lr, rate,
                    rate > 0 ? (double)(t->total_steps - t->step) * (double)c->batch / rate : -1,
                    ""};
    memcpy(r.fingerprint, train_fingerprint(t), sizeof r.fingerprint);
    t->log_time = now;
    t->log_step = t->step;
    if (!c->quiet) {
        char line[256];
        metrics_format_progress(&r, line, sizeof line);
        printf("%s\n", line);
        fflush(stdout);
    }
    run_record(t, "step", metrics_step_fields(&r));
    run_scalar(t, r.step, "train/loss", r.loss);
    run_scalar(t, r.step, "train/accuracy", r.accuracy);
    run_scalar(t, r.step, "train/lr", r.lr);
    run_scalar(t, r.step, "train/img_per_s", r.img_per_s);
}

/* test-only --test-stall: this rank sleeps before a collective of `step`. */
static void test_stall(const Trainer *t, int64_t step, const char *collective)
{
    const Config *c = &t->cfg;
    if (c->stall_step != step || c->stall_rank != t->rank)
        return;
    fprintf(stderr, "[rank %d] test: stalling %lld s in step %lld (%s)\n",
            t->rank, (long long)c->stall_seconds, (long long)step, collective);
    struct timespec left = {(time_t)c->stall_seconds, 0};
    while (nanosleep(&left, &left) < 0) /* again after a signal */
        ;
}

/* One global step.  TRAIN_OK, TRAIN_FAILED, or TRAIN_STOPPED (the step was
 * not taken) on every rank. */
static int train_step(Trainer *t)
{
    const Config *c = &t->cfg;
    Control ctl;
    int64_t step = t->step + 1;
    double t0 = wall_now();
    stepwatch_begin(step);
    if (c->stall_in_compute)
        test_stall(t, step, "compute");
    compute_gradients(t, &ctl);
    stepwatch_end();
    double t1 = wall_now();
    t->timing.compute_s += t1 - t0;
    const int64_t mine = t->balance.count[t->rank];
    memset(t->rank_ns, 0, (size_t)t->size * sizeof *t->rank_ns);
    t->rank_ns[t->rank] = (int64_t)(1e9 * (t1 - t0) / (double)mine);
    if (!c->stall_in_grad && !c->stall_in_compute)
        test_stall(t, step, "control");
    int sig = signals_pending();
    ctl.stop_ranks = sig ? 1 : 0;
    dist_control_allreduce(&ctl, t->rank_ns, (size_t)t->size, &t->reducer, step);
    double t2 = wall_now();
    t->timing.wait_s += t2 - t1;
    /* Every rank holds the same times now: the same assignment next step. */
    balance_update(&t->balance, t->rank_ns);
    if (ctl.stop_ranks) {
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: stop requested (%s) on %lld rank(s); all ranks "
                            "stop before step %lld\n", sig ? signals_name(sig) : "a signal",
                    (long long)ctl.stop_ranks, (long long)step);
        dist_grads_discard();
        return TRAIN_STOPPED;
    }
    if (ctl.nonfinite_ranks || ctl.overflow_ranks) {
        const char *what = ctl.nonfinite_ranks ? "a non-finite loss or gradient (NaN/Inf)"
                                               : "a gradient outside the fixed-point range";
        int64_t ranks = ctl.nonfinite_ranks ? ctl.nonfinite_ranks : ctl.overflow_ranks;
        dist_grads_discard();
        if (c->on_nonfinite == NONFINITE_STOP) {
            if (t->rank == 0)
                fprintf(stderr,
                        "shardnet train: step %lld (epoch %lld): %s on %lld rank(s); all ranks "
                        "stop (--on-nonfinite skip would skip such steps)\n",
                        (long long)step, (long long)(t->epoch + 1), what, (long long)ranks);
            return TRAIN_FAILED;
        }
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: step %lld (epoch %lld): %s on %lld rank(s); "
                            "all ranks skip this step\n",
                    (long long)step, (long long)(t->epoch + 1), what, (long long)ranks);
        t->skipped++;
        t->step = step;
        t->step_in_epoch++;
        return TRAIN_OK;
    }
    if (c->stall_in_grad)
        test_stall(t, step, "gradient");
    dist_allreduce_grads(&t->reducer, t->mean_grads, step);
    double t3 = wall_now();
    double lr = schedule_lr(&t->schedule, t->step);
    SgdConfig sgd = {(float)lr, (float)c->momentum, (float)c->weight_decay};
    sgd_step(&sgd, t->params, t->mean_grads, t->momentum, t->model.n_params);
    t->timing.allreduce_s += t3 - t2;
    t->timing.update_s += wall_now() - t3;
    t->timing.steps++;
    t->timing.micro_total += mine;
    t->timing.micro_last = mine;
    if (t->timing.micro_min == 0 || mine < t->timing.micro_min)
        t->timing.micro_min = mine;
    if (mine > t->timing.micro_max)
        t->timing.micro_max = mine;
    t->timing.bytes += dist_wire_stats()->bytes_last;
    t->step = step;
    t->step_in_epoch++;
    t->epoch_loss_sum += control_mean_loss(&ctl);
    t->epoch_acc_sum += control_accuracy(&ctl);
    t->epoch_steps++;
    log_progress(t, &ctl, lr, 0);
    return TRAIN_OK;
}

/* Loss and accuracy on a test or validation set over all ranks (collective). */
static void evaluate_all(Trainer *t, const EvalSet *set, double *loss, double *accuracy)
{
    EvalCounts counts;
    evalcounts_init(&counts, t->ds.num_classes);
    int ok = evaluator_run(&t->evaluator, set, t->params, &counts) == 0;
    if (!ok)
        fprintf(stderr, "[rank %d] shardnet train: evaluation: %s\n", t->rank, base_error());
    if (!all_ok(ok))
        die("evaluation failed on some rank");
    dist_sum_i64((int64_t *)&counts.totals, CONTROL_N);
    *loss = control_mean_loss(&counts.totals);
    *accuracy = control_accuracy(&counts.totals);
    evalcounts_free(&counts);
}

/* finish_epoch's outcome when --patience ends the run early (internal). */
enum { TRAIN_EARLY = 100 };

static int epoch_report(Trainer *t, EpochRecord *rp, double started);
static int outputs_status(Trainer *t, int status);

/* The end of an epoch, on every rank: validation and test figures, the
 * epoch record, and with --val the best checkpoint.  TRAIN_OK, TRAIN_FAILED
 * (the best checkpoint failed with --on-ckpt-error stop) or TRAIN_EARLY
 * (--patience ran out); the same on every rank, since every rank holds the
 * same summed figures. */
static int finish_epoch(Trainer *t, double started)
{
    const Config *c = &t->cfg;
    EpochRecord r = {.epoch = t->epoch + 1, .step = t->step, .has_test = c->eval,
                     .has_val = t->val_count > 0};
    if (t->val_count)
        evaluate_all(t, &t->valset, &r.val_loss, &r.val_accuracy);
    if (c->eval)
        evaluate_all(t, &t->evalset, &r.test_loss, &r.test_accuracy);
    int status = epoch_report(t, &r, started);
    if (!t->val_count)
        return status;
    double figure = c->best == BEST_VAL_LOSS ? r.val_loss : -r.val_accuracy;
    if (!t->has_best || figure < t->best_value) {
        if (checkpoint_save_best(t, figure, r.val_loss, r.val_accuracy) != TRAIN_OK)
            return TRAIN_FAILED;
    } else if (c->patience && r.epoch - t->best_epoch >= c->patience) {
        if (t->rank == 0)
            printf("early stop: %lld epochs without a better %s than epoch %lld's "
                   "(--patience %lld)\n", (long long)(r.epoch - t->best_epoch),
                   config_best_name(c->best), (long long)t->best_epoch,
                   (long long)c->patience);
        return TRAIN_EARLY;
    }
    return status;
}

/* Rank 0: the epoch's line, metrics record and TensorBoard scalars. */
static int epoch_report(Trainer *t, EpochRecord *rp, double started)
{
    const Config *c = &t->cfg;
    EpochRecord r = *rp;
    if (t->rank != 0)
        return TRAIN_OK;
    r.train_loss = t->epoch_steps ? t->epoch_loss_sum / (double)t->epoch_steps : 0;
    r.train_accuracy = t->epoch_steps ? t->epoch_acc_sum / (double)t->epoch_steps : 0;
    r.seconds = wall_now() - started;
    r.img_per_s = (double)(t->epoch_steps * c->batch) / r.seconds;
    memcpy(r.fingerprint, train_fingerprint(t), sizeof r.fingerprint);
    if (!c->quiet || t->epoch + 1 == c->epochs) {
        printf("epoch %lld/%lld: train loss %.4f acc %.4f", (long long)r.epoch,
               (long long)c->epochs, r.train_loss, r.train_accuracy);
        if (r.has_val)
            printf(", val loss %.4f acc %.4f", r.val_loss, r.val_accuracy);
        if (c->eval)
            printf(", test loss %.4f acc %.4f", r.test_loss, r.test_accuracy);
        printf(", %.1f s, %.0f img/s, sha256 %.12s\n", r.seconds, r.img_per_s,
               r.fingerprint);
        fflush(stdout);
    }
    run_record(t, "epoch", metrics_epoch_fields(&r));
    run_scalar(t, r.step, "epoch/train_loss", r.train_loss);
    run_scalar(t, r.step, "epoch/train_accuracy", r.train_accuracy);
    if (r.has_val) {
        run_scalar(t, r.step, "val/loss", r.val_loss);
        run_scalar(t, r.step, "val/accuracy", r.val_accuracy);
    }
    if (r.has_test) {
        run_scalar(t, r.step, "test/loss", r.test_loss);
        run_scalar(t, r.step, "test/accuracy", r.test_accuracy);
    }
    return TRAIN_OK;
}

/* Peak resident memory of this process (VmHWM), in bytes; -1 if unknown. */
static int64_t peak_memory(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : (int64_t)kb * 1024;
}

/* --scaling-report: rank 0 gathers every rank's timing and host and writes
 * the report (collective). */
static void write_scaling_report(Trainer *t)
{
    const Config *c = &t->cfg;
    enum { PROBE_REPS = 20 };
    t->timing.probe_reps = PROBE_REPS;
    t->timing.probe_s = dist_probe_grads(&t->reducer, PROBE_REPS);
    t->timing.probe_bytes = (int64_t)(gradred_buffer_len(&t->reducer) *
                                      gradred_elem_size(&t->reducer));
    RankTiming *all = xcalloc((size_t)t->size, sizeof *all);
    char (*names)[64] = xcalloc((size_t)t->size, sizeof *names);
    char mine[64] = "";
    gethostname(mine, sizeof mine - 1);
    dist_gather_bytes(&t->timing, sizeof t->timing, all);
    dist_gather_bytes(mine, sizeof mine, names);
    if (t->rank == 0) {
        const char **hosts = xcalloc((size_t)t->size, sizeof *hosts);
        for (int i = 0; i < t->size; i++)
            hosts[i] = names[i];
        const RankTiming *r0 = &all[0];
        ScalingReport r = {t->size, all, hosts,
                           r0->compute_s + r0->wait_s + r0->allreduce_s + r0->update_s,
                           r0->steps * c->batch, c->batch, c->micro_batch,
                           config_reduce_name(c->reduce), c->balance,
                           t->balance.changes, 0.0};
        if (c->scaling_baseline && scaling_read_baseline(c->scaling_baseline,
                                                         &r.baseline_img_per_s) < 0)
            fprintf(stderr, "shardnet train: %s; the report has no efficiency\n", base_error());
        if (scaling_write(c->scaling_report, &r) < 0) {
            fprintf(stderr, "shardnet train: scaling report: %s\n", base_error());
            t->output_failed = 1;
        } else
            printf("scaling report: %s.md, %s.json\n", c->scaling_report, c->scaling_report);
        free(hosts);
    }
    free(all);
    free(names);
}

/* All ranks agreed to stop: checkpoint the current state (rank 0 writes),
 * then TRAIN_STOPPED - or TRAIN_FAILED when there is nothing to resume. */
static int stop_with_checkpoint(Trainer *t)
{
    const Config *c = &t->cfg;
    if (c->no_ckpt) {
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: stopped at step %lld by a signal; no checkpoint "
                            "(--no-ckpt), nothing to resume\n", (long long)t->step);
        return TRAIN_FAILED;
    }
    OnCkptError saved = t->cfg.on_ckpt_error;
    t->cfg.on_ckpt_error = CKPT_ERROR_STOP; /* exit 3 promises a checkpoint */
    int status = checkpoint_save(t);
    t->cfg.on_ckpt_error = saved;
    if (status != TRAIN_OK) {
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: stopped at step %lld by a signal, but the "
                            "checkpoint failed (see above)\n", (long long)t->step);
        return TRAIN_FAILED;
    }
    if (t->rank == 0) {
        printf("stopped: at step %lld of %lld by a signal; checkpoint written; exit %d - run "
               "again with --run %s --resume auto to continue\n",
               (long long)t->step, (long long)t->total_steps, TRAIN_EXIT_STOPPED, t->run_dir);
        fflush(stdout);
    }
    run_record(t, "stop", json_pack("{s:I, s:I, s:s}", "step", (json_int_t)t->step,
                                     "epoch", (json_int_t)(t->epoch + 1),
                                     "fingerprint", train_fingerprint(t)));
    return outputs_status(t, TRAIN_STOPPED);
}

/* Every rank learns whether rank 0 failed to write a requested output
 * (metrics, TensorBoard, scaling report): then the run fails (exit 1) even
 * if training itself went well. */
static int outputs_status(Trainer *t, int status)
{
    int64_t failed = t->output_failed;
    dist_max_i64(&failed, 1);
    if (failed && t->rank == 0)
        fprintf(stderr, "shardnet train: an output of run %s could not be written (see above); "
                        "exit %d\n", t->run_dir, TRAIN_FAILED);
    return failed ? TRAIN_FAILED : status;
}

int train_run(Trainer *t)
{
    const Config *c = &t->cfg;
    t->log_time = wall_now();
    t->log_step = t->step;
    int early = 0;
    /* The progress line's img/s and ETA count training steps only: the
     * epoch ends (evaluation, checkpoints, the next shuffle) are taken out
     * of the interval, else the first line after an epoch showed a rate
     * that sank and an ETA that jumped though training was as fast. */
    double paused_at = -1;
    for (; t->epoch < c->epochs; t->epoch++, t->step_in_epoch = 0) {
        double started = wall_now();
        if (loader_epoch(&t->loader, (uint64_t)t->epoch) < 0)
            die("%s", base_error());
        if (paused_at >= 0)
            t->log_time += wall_now() - paused_at;
        t->epoch_loss_sum = t->epoch_acc_sum = 0;
        t->epoch_steps = 0;
        while (t->step_in_epoch < t->steps_per_epoch) {
            int status = train_step(t);
            if (status == TRAIN_STOPPED)
                return stop_with_checkpoint(t);
            if (status != TRAIN_OK)
                return TRAIN_FAILED;
            if (!c->ckpt_every_epochs && t->step % c->ckpt_every == 0 &&
                checkpoint_save(t) != TRAIN_OK)
                return TRAIN_FAILED;
        }
        paused_at = wall_now();
        int epoch_status = finish_epoch(t, started);
        if (epoch_status == TRAIN_FAILED)
            return TRAIN_FAILED;
        if (epoch_status == TRAIN_EARLY) {
            early = 1;
            if (checkpoint_save(t) != TRAIN_OK)
                return TRAIN_FAILED;
            t->epoch++;
            t->step_in_epoch = 0;
            break;
        }
        int last = t->epoch + 1 == c->epochs;
        int due = c->ckpt_every_epochs ? (t->epoch + 1) % c->ckpt_every == 0
                                       : t->step % c->ckpt_every == 0;
        if ((last && !due) || (c->ckpt_every_epochs && due))
            if (checkpoint_save(t) != TRAIN_OK)
                return TRAIN_FAILED;
    }
    uint64_t final_hash = fingerprint_u64(t);
    Agreement agree[] = {{"final parameters (sha256, first 64 bits)", final_hash}};
    if (dist_check_agreement(agree, 1) < 0)
        return TRAIN_FAILED;
    if (c->scaling_report)
        write_scaling_report(t);
    int64_t peak = peak_memory();
    dist_max_i64(&peak, 1);
    if (t->rank == 0) {
        printf("peak memory per rank: %.1f MB (largest VmHWM over %d rank(s))\n",
               (double)peak / 1e6, t->size);
        if (early)
            printf("early stop: best %s epoch %lld in %s/" RUN_BEST "\n",
                   config_best_name(c->best), (long long)t->best_epoch, t->run_dir);
        const DistWireStats *w = dist_wire_stats();
        if (c->reduce == REDUCE_EXACT)
            printf("exact reduce: 32-bit sums on %lld of %lld steps, %lld resent %lld of "
                   "%lld blocks in 64 bits, %lld sent in 64 bits by plan\n",
                   (long long)w->wire_steps, (long long)w->steps, (long long)w->wide_steps,
                   (long long)w->wide_blocks, (long long)w->blocks,
                   (long long)w->planned_blocks);
        printf("done: %lld steps (%lld skipped), final parameters sha256 %s\n",
               (long long)t->step, (long long)t->skipped, t->fingerprint);
        fflush(stdout);
    }
    run_record(t, "end", json_pack("{s:I, s:I, s:I, s:s, s:s}", "step", (json_int_t)t->step,
                                   "epoch", (json_int_t)t->epoch,
                                   "skipped", (json_int_t)t->skipped,
                                   "reason", early ? "early_stop" : "done",
                                   "fingerprint", t->fingerprint));
    if (t->ckpt_failed) {
        /* --on-ckpt-error warn went on, but the run's end is not saved. */
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: the final checkpoint (step %lld) failed (see above): "
                            "the trained weights are not saved; exit 1\n",
                    (long long)t->ckpt_failed);
        return TRAIN_FAILED;
    }
    return outputs_status(t, TRAIN_OK);
}

void train_free(Trainer *t)
{
    loader_free(&t->loader);
    loader_eval_free(&t->evalset);
    loader_eval_free(&t->valset);
    evaluator_free(&t->evaluator);
    for (int i = 0; i < t->n_workers && t->workers; i++) {
        Worker *w = &t->workers[i];
        lenet_free(&w->model);
        gradred_free(&w->reducer);
        free(w->grads), free(w->src), free(w->diff), free(w->labels);
    }
    free(t->workers);
    lenet_free(&t->model);
    dataset_free(&t->ds);
    gradred_free(&t->reducer);
    balance_free(&t->balance);
    free(t->rank_ns);
    if (t->metrics.f && metrics_close(&t->metrics) < 0)
        fprintf(stderr, "shardnet train: %s\n", base_error());
    if (t->tb.f && tfevents_close(&t->tb) < 0)
        fprintf(stderr, "shardnet train: %s\n", base_error());
    run_close(t);
    free(t->params), free(t->momentum), free(t->mean_grads);
    pthread_cond_destroy(&t->sum_cond);
    pthread_mutex_destroy(&t->sum_lock);
    memset(t, 0, sizeof *t);
}
