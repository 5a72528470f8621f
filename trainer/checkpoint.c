/* checkpoint.c - rank policy for checkpoints; see checkpoint.h. */
#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "base.h"
#include "ckpt.h"
#include "ckptdir.h"
#include "cpuisa.h"
#include "dist.h"
#include "hash.h"
#include "outpath.h"
#include "run.h"

/* The outcome of a rank-0 action, broadcast to every rank. */
typedef struct {
    int32_t ok;
    char message[2048];
} Outcome;

static void outcome_share(Outcome *o)
{
    dist_broadcast(o, sizeof *o, 0);
}

/* The checkpoint's config: config_to_json as compact text, so that a resume
 * can name every option that differs. */
static void config_text(const Trainer *t, char *buf, size_t n)
{
    json_t *j = config_to_json(&t->cfg, t->data_sha256, t->size);
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(j);
    snprintf(buf, n, "%s", text ? text : "");
    free(text);
}

/* What identifies the training data in a checkpoint: the checksums of the
 * files it was prepared from, its sizes and its pixel statistics. */
static void dataset_identity(const Dataset *ds, char *out, size_t n)
{
    uint64_t h = HASH_INIT;
    for (int i = 0; i < ds->num_sources; i++)
        h = hash_update(h, ds->source_sha256[i], strlen(ds->source_sha256[i]) + 1);
    h = hash_update(h, ds->count, sizeof ds->count);
    size_t shape[3] = {ds->channels, ds->height, ds->width};
    h = hash_update(h, shape, sizeof shape);
    h = hash_update(h, &ds->num_classes, sizeof ds->num_classes);
    h = hash_update(h, &ds->pixel_mean, sizeof ds->pixel_mean);
    h = hash_update(h, &ds->pixel_std, sizeof ds->pixel_std);
    /* One channel: its statistics are pixel_mean/pixel_std already (and
     * the identities of existing runs stay as they were). */
    if (ds->channels > 1) {
        h = hash_update(h, ds->channel_mean, ds->channels * sizeof *ds->channel_mean);
        h = hash_update(h, ds->channel_std, ds->channels * sizeof *ds->channel_std);
    }
    snprintf(out, n, "%zu+%zu samples %zux%zux%zu, sources %016llx", ds->count[0], ds->count[1],
             ds->channels, ds->height, ds->width, (unsigned long long)h);
}

static void fill_state(const Trainer *t, TrainState *st)
{
    const Config *c = &t->cfg;
    memset(st, 0, sizeof *st);
    int64_t epoch = t->epoch, in_epoch = t->step_in_epoch;
    if (in_epoch >= t->steps_per_epoch) {
        epoch++;
        in_epoch = 0;
    }
    st->step = (uint64_t)t->step;
    st->epoch = (uint64_t)epoch;
    st->step_in_epoch = (uint64_t)in_epoch;
    st->seed = c->seed;
    st->global_batch = c->batch;
    st->micro_batch = c->micro_batch;
    st->world_size = t->size;
    st->arch = c->arch;
    st->input_c = (int64_t)t->ds.channels;
    st->input_h = (int64_t)t->ds.height;
    st->input_w = (int64_t)t->ds.width;
    st->num_classes = t->ds.num_classes;
    for (int i = 0; i < t->ds.num_classes && i < CKPT_MAX_CLASSES; i++)
        snprintf(st->class_names[i], CKPT_CLASS_LEN, "%s", t->ds.class_names[i]);
    for (int i = 0; i < (int)t->ds.channels && i < CKPT_MAX_CHANNELS; i++) {
        st->mean[i] = c->normalize ? t->ds.channel_mean[i] : 0.0;
        st->std[i] = c->normalize ? t->ds.channel_std[i] : 1.0;
    }
    snprintf(st->sched.name, sizeof st->sched.name, "%s", schedule_name(c->schedule));
    st->sched.lr = c->lr;
    st->sched.momentum = c->momentum;
    st->sched.weight_decay = c->weight_decay;
    st->sched.warmup = c->warmup;
    st->sched.step_size = c->step_size;
    st->sched.gamma = c->gamma;
    st->sched.total_steps = t->total_steps;
    config_text(t, st->config, sizeof st->config);
    dataset_identity(&t->ds, st->dataset_id, sizeof st->dataset_id);
    snprintf(st->cpu_isa, sizeof st->cpu_isa, "%s", cpuisa_name(t->isa));
}

/* Everything a checkpoint of this run needs, checked before step 1: the
 * checkpoint format's limits (channels, classes, sizes) and class names
 * that fit it whole.  Not a transient failure: --on-ckpt-error warn does
 * not apply. */
static int check_checkpointable(const Trainer *t, const TrainState *st, char *why, size_t n)
{
    LeNet m;
    if (ckpt_describe(st, &m) < 0) {
        snprintf(why, n, "this run's checkpoints could not be written: %s", base_error());
        return -1;
    }
    for (int i = 0; i < t->ds.num_classes; i++)
        if (strlen(t->ds.class_names[i]) >= CKPT_CLASS_LEN) {
            snprintf(why, n, "class name %d ('%.40s...') is longer than the %d bytes a checkpoint "
                     "stores", i, t->ds.class_names[i], CKPT_CLASS_LEN - 1);
            return -1;
        }
    return 0;
}

int checkpoint_prepare(Trainer *t)
{
    const Config *c = &t->cfg;
    if (c->no_ckpt)
        return 0;
    atomic_set_write_pace(c->test_ckpt_delay_ms ? 4096 : 0, (unsigned)c->test_ckpt_delay_ms);
    Outcome o = {.ok = 1};
    if (t->rank == 0) {
        TrainState st;
        fill_state(t, &st);
        if (check_checkpointable(t, &st, o.message, sizeof o.message) < 0)
            o.ok = -1;
    }
    outcome_share(&o);
    if (o.ok < 0) {
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: %s\n  (nothing was trained; --no-ckpt trains "
                            "without checkpoints)\n", o.message);
        return -1;
    }
    if (t->rank == 0) {
        TrainState st;
        fill_state(t, &st);
        /* Temporary files of writers that were killed (kept locked while
         * a live one writes, so another run's are never taken). */
        atomic_clean_stale(t->run_dir, NULL, stderr);
        /* Room for two: the new file is complete before the oldest goes. */
        if (ckpt_check_room(t->run_dir, 2 * ckpt_size_estimate(&st)) < 0) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "%s", base_error());
        }
    }
    outcome_share(&o);
    if (o.ok)
        return 0;
    if (c->on_ckpt_error == CKPT_ERROR_WARN) {
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: warning: checkpoints will fail: %s "
                            "(--on-ckpt-error warn: training goes on)\n", o.message);
        return 0;
    }
    if (t->rank == 0)
        fprintf(stderr, "shardnet train: cannot write checkpoints: %s\n"
                        "  (give another --run, --no-ckpt, or --on-ckpt-error warn)\n",
                o.message);
    return -1;
}

int checkpoint_save(Trainer *t)
{
    const Config *c = &t->cfg;
    if (c->no_ckpt)
        return TRAIN_OK;
    Outcome o = {.ok = 1};
    if (t->rank == 0) {
        TrainState st;
        char path[4096];
        fill_state(t, &st);
        if (ckpt_save(t->run_dir, &st, t->params, t->momentum, t->model.n_params,
                      (size_t)c->keep, path, sizeof path) < 0) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "%s", base_error());
        } else {
            if (!c->quiet) {
                printf("checkpoint: %s (step %lld)\n", path, (long long)t->step);
                fflush(stdout);
            }
            run_record(t, "checkpoint",
                       json_pack("{s:I, s:I, s:s, s:s}", "step", (json_int_t)t->step,
                                 "epoch", (json_int_t)st.epoch, "path", path,
                                 "fingerprint", train_fingerprint(t)));
        }
    }
    outcome_share(&o);
    t->ckpt_failed = o.ok ? 0 : t->step;
    if (o.ok)
        return TRAIN_OK;
    int stop = c->on_ckpt_error == CKPT_ERROR_STOP;
    if (t->rank == 0)
        fprintf(stderr, "shardnet train: checkpoint at step %lld failed: %s; the previous "
                        "checkpoint is intact; %s\n",
                (long long)t->step, o.message,
                stop ? "stopping (--on-ckpt-error warn would go on)" : "training goes on");
    return stop ? TRAIN_FAILED : TRAIN_OK;
}

/* Refuses a checkpoint that another run's B, m, arch, seed, data or
 * normalisation wrote: resuming it could never match an uninterrupted run. */
static int compatible(const Trainer *t, const TrainState *st, char *why, size_t n)
{
    const Config *c = &t->cfg;
    const Dataset *ds = &t->ds;
    char mine[CKPT_DATASET_ID_LEN];
    dataset_identity(ds, mine, sizeof mine);
    if (st->global_batch != c->batch || st->micro_batch != c->micro_batch)
        snprintf(why, n, "it was written with --batch %lld --micro-batch %lld, this run has "
                 "--batch %lld --micro-batch %lld; B and m cannot change on resume",
                 (long long)st->global_batch, (long long)st->micro_batch, (long long)c->batch,
                 (long long)c->micro_batch);
    else if (st->arch != c->arch)
        snprintf(why, n, "it holds a %s LeNet, this run trains --arch %s",
                 lenet_arch_name(st->arch), lenet_arch_name(c->arch));
    else if (st->seed != c->seed)
        snprintf(why, n, "it was written with --seed %" PRIu64 ", this run has --seed %" PRIu64
                 " (the seed fixes the data order)", st->seed, c->seed);
    else if (st->input_c != (int64_t)ds->channels || st->input_h != (int64_t)ds->height ||
             st->input_w != (int64_t)ds->width || st->num_classes != ds->num_classes)
        snprintf(why, n, "its input %lldx%lldx%lld with %lld classes does not match the "
                 "dataset's %zux%zux%zu with %d classes", (long long)st->input_c,
                 (long long)st->input_h, (long long)st->input_w, (long long)st->num_classes,
                 ds->channels, ds->height, ds->width, ds->num_classes);
    else if (st->dataset_id[0] && strcmp(st->dataset_id, mine))
        snprintf(why, n, "it was trained on another dataset (%s; --data %s is %s)",
                 st->dataset_id, c->data, mine);
    else if ((st->std[0] != 1.0) != c->normalize)
        snprintf(why, n, "it was trained %s --normalize", c->normalize ? "without" : "with");
    else if ((int64_t)st->epoch > c->epochs ||
             ((int64_t)st->epoch == c->epochs && st->step_in_epoch > 0))
        snprintf(why, n, "it is at epoch %" PRIu64 ", beyond this run's --epochs %lld",
                 st->epoch, (long long)c->epochs);
    else if ((int64_t)st->step != (int64_t)st->epoch * t->steps_per_epoch +
                                      (int64_t)st->step_in_epoch)
        snprintf(why, n, "its step %" PRIu64 " does not fit epoch %" PRIu64 " + %" PRIu64
                 " steps of %lld (another --limit or dataset?)", st->step, st->epoch,
                 st->step_in_epoch, (long long)t->steps_per_epoch);
    else
        return 1;
    return 0;
}

/* Rank 0: which file to resume from: PATH, or for auto the run's `latest`
 * when it verifies, else its newest checkpoint that verifies.  1 found,
 * 0 fresh start, -1 error. */
static int resume_path(const Trainer *t, char *path, size_t n)
{
    const Config *c = &t->cfg;
    if (strcmp(c->resume, "auto") != 0) {
        snprintf(path, n, "%s", c->resume);
        return 1;
    }
    char name[512];
    if (ckpt_get_latest(t->run_dir, name, sizeof name) == 0) {
        snprintf(path, n, "%s/%s", t->run_dir, name);
        if (ckpt_verify(path, NULL) == 0)
            return 1;
        fprintf(stderr, "shardnet train: skipping %s (named by %s/latest): %s\n", path,
                t->run_dir, base_error());
    }
    int rc = ckpt_find_resume(t->run_dir, path, n, stderr);
    return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}

/* Adds "key: checkpoint V, now W" for each key of `keys` whose value
 * differs; returns how many did. */
static int diff_keys(const json_t *old, const json_t *now, const char *const *keys, char *why,
                     size_t n)
{
    int count = 0;
    for (; *keys; keys++) {
        json_t *a = json_object_get(old, *keys), *b = json_object_get(now, *keys);
        if (a && b && json_equal(a, b))
            continue;
        char *ta = a ? json_dumps(a, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
        char *tb = b ? json_dumps(b, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
        size_t len = strlen(why);
        snprintf(why + len, n - len, "%s%s: checkpoint %s, now %s", len ? "; " : "", *keys,
                 ta ? ta : "(absent)", tb ? tb : "(absent)");
        free(ta), free(tb);
        count++;
    }
    return count;
}

/* The checkpoint's configuration against this command line: the options
 * that fix the run must match; the schedule may change only with
 * --change-schedule.  1 compatible, 0 refused (why says every difference).
 * A checkpoint without a JSON config (older shardnet) passes here; the
 * field checks of compatible() still apply to it. */
static int same_config(const Trainer *t, const TrainState *st, char *why, size_t n)
{
    json_t *old = json_loads(st->config, 0, NULL);
    if (!json_is_object(old)) {
        json_decref(old);
        return 1;
    }
    json_t *now = config_to_json(&t->cfg, t->data_sha256, t->size);
    why[0] = '\0';
    int fixed = diff_keys(old, now, config_resume_fixed, why, n);
    char sched[1024] = "";
    int schedule = t->cfg.change_schedule ? 0
                   : diff_keys(old, now, config_resume_schedule, sched, sizeof sched);
    if (schedule) {
        size_t len = strlen(why);
        snprintf(why + len, n - len, "%s%s (give --change-schedule to change the schedule or "
                 "the epochs on purpose)", len ? "; " : "", sched);
    }
    json_decref(old);
    json_decref(now);
    return fixed + schedule == 0;
}

/* Rank 0: checkpoints newer than the one resumed belong to an abandoned
 * continuation; renamed *.stale so that --resume auto never takes them. */
static void set_aside_newer(const Trainer *t, uint64_t step)
{
    uint64_t *steps = NULL;
    size_t count = 0;
    if (ckpt_list(t->run_dir, &steps, &count) < 0)
        return;
    for (size_t i = 0; i < count; i++) {
        if (steps[i] <= step)
            continue;
        char from[4096], to[4200];
        ckpt_path(t->run_dir, steps[i], from, sizeof from);
        snprintf(to, sizeof to, "%s.stale", from);
        if (rename(from, to) == 0)
            fprintf(stderr, "shardnet train: set aside %s (newer than the checkpoint resumed) "
                            "as %s\n", from, to);
    }
    free(steps);
}

static void load_best(Trainer *t);

/* The ISA the checkpoint a resume will take was trained with, before the
 * run directory is opened (the ISA must be pinned before any primitive):
 * --resume PATH, or with --resume auto the --run's latest (else newest
 * verifying) checkpoint; "" when there is none (a new default run). */
void checkpoint_recorded_isa(const Trainer *t, char *isa, size_t n)
{
    const Config *c = &t->cfg;
    char recorded[CKPT_ISA_LEN] = "";
    if (c->resume && t->rank == 0) {
        char path[4096], name[512];
        TrainState st;
        float *params = NULL, *momentum = NULL;
        size_t count = 0;
        int found = 0;
        if (strcmp(c->resume, "auto") != 0)
            found = snprintf(path, sizeof path, "%s", c->resume) > 0;
        else if (c->run && ckpt_get_latest(c->run, name, sizeof name) == 0 &&
                 snprintf(path, sizeof path, "%s/%s", c->run, name) > 0 &&
                 ckpt_verify(path, NULL) == 0)
            found = 1;
        else if (c->run)
            found = ckpt_find_resume(c->run, path, sizeof path, NULL) == 0;
        if (found && ckpt_read(path, &st, &params, &momentum, &count) == 0)
            snprintf(recorded, sizeof recorded, "%s", st.cpu_isa);
        free(params), free(momentum);
    }
    dist_broadcast(recorded, sizeof recorded, 0);
    snprintf(isa, n, "%s", recorded);
}

int checkpoint_resume(Trainer *t)
{
    const Config *c = &t->cfg;
    if (!c->resume)
        return 0;
    Outcome o = {.ok = 1};
    TrainState st;
    memset(&st, 0, sizeof st);
    float *params = NULL, *momentum = NULL;
    size_t n = 0;
    char path[4096] = "";
    int found = 0;
    if (t->rank == 0) {
        found = resume_path(t, path, sizeof path);
        if (found < 0 || (found && ckpt_read(path, &st, &params, &momentum, &n) < 0)) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "cannot resume: %s", base_error());
            found = 0;
        } else if (found && n != t->model.n_params) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "cannot resume from %s: %zu parameters, "
                     "this model has %zu", path, n, t->model.n_params);
        } else if (found) {
            char why[1536];
            if (!same_config(t, &st, why, sizeof why) || !compatible(t, &st, why, sizeof why)) {
                o.ok = 0;
                snprintf(o.message, sizeof o.message, "cannot resume from %s: %s", path, why);
            }
        }
        o.ok = o.ok ? (found ? 1 : 2) : 0; /* 2: nothing to resume, fresh start */
    }
    outcome_share(&o);
    if (!o.ok) {
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: %s\n", o.message);
        free(params), free(momentum);
        return -1;
    }
    if (o.ok == 2) {
        if (t->rank == 0)
            printf("resume: no checkpoint in %s, starting from scratch\n", t->run_dir);
        return 0;
    }
    dist_broadcast(&st, sizeof st, 0);
    if (t->rank == 0) {
        memcpy(t->params, params, n * sizeof(float));
        memcpy(t->momentum, momentum, n * sizeof(float));
        set_aside_newer(t, st.step);
        printf("resume: %s at step %" PRIu64 " (epoch %" PRIu64 ", step %" PRIu64
               " of it), written by %d rank(s), now %d\n",
               path, st.step, st.epoch + 1, st.step_in_epoch, st.world_size, t->size);
    }
    free(params), free(momentum);
    dist_broadcast(t->params, t->model.n_params * sizeof(float), 0);
    dist_broadcast(t->momentum, t->model.n_params * sizeof(float), 0);
    t->step = (int64_t)st.step;
    t->epoch = (int64_t)st.epoch;
    t->step_in_epoch = (int64_t)st.step_in_epoch;
    t->resumed_world = st.world_size;
    dist_broadcast(path, sizeof path, 0);
    snprintf(t->resumed_from, sizeof t->resumed_from, "%s", path);
    load_best(t);
    return 0;
}

/* What RUN/best.json says, for every rank (a resumed run keeps its best
 * and its patience count). */
typedef struct {
    int32_t has;
    double value;
    int64_t epoch;
} BestState;

static void load_best(Trainer *t)
{
    BestState b = {0};
    if (t->rank == 0 && t->val_count) {
        char path[4200];
        run_file(t, RUN_BEST_JSON, path, sizeof path);
        json_t *j = json_load_file(path, 0, NULL);
        json_t *v = json_object_get(j, "figure"), *e = json_object_get(j, "epoch");
        const char *by = json_string_value(json_object_get(j, "best"));
        if (json_is_number(v) && json_is_integer(e) && by &&
            !strcmp(by, config_best_name(t->cfg.best)) && outpath_exists(path)) {
            b.has = 1;
            b.value = json_number_value(v);
            b.epoch = (int64_t)json_integer_value(e);
        }
        json_decref(j);
    }
    dist_broadcast(&b, sizeof b, 0);
    t->has_best = b.has;
    t->best_value = b.value;
    t->best_epoch = b.epoch;
}

int checkpoint_save_best(Trainer *t, double figure, double val_loss, double val_accuracy)
{
    const Config *c = &t->cfg;
    Outcome o = {.ok = 1};
    int64_t epoch = t->epoch + 1;
    if (t->rank == 0 && !c->no_ckpt) {
        TrainState st;
        char path[4200], jpath[4200];
        fill_state(t, &st);
        run_file(t, RUN_BEST, path, sizeof path);
        run_file(t, RUN_BEST_JSON, jpath, sizeof jpath);
        json_t *j = json_pack("{s:s, s:o, s:I, s:I, s:o, s:o, s:s, s:o}",
                              "best", config_best_name(c->best), "figure", metrics_real(figure),
                              "epoch", (json_int_t)epoch, "step", (json_int_t)t->step,
                              "val_loss", metrics_real(val_loss),
                              "val_accuracy", metrics_real(val_accuracy),
                              "fingerprint", train_fingerprint(t), "time", metrics_real(metrics_now()));
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                       JSON_REAL_PRECISION(17));
        json_decref(j);
        if (ckpt_write(path, &st, t->params, t->momentum, t->model.n_params) < 0 ||
            atomic_write_file(jpath, text, strlen(text)) < 0) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "%s", base_error());
        } else {
            if (!c->quiet) {
                printf("best: %s (epoch %lld, %s %.6f)\n", path, (long long)epoch,
                       config_best_name(c->best),
                       c->best == BEST_VAL_LOSS ? val_loss : val_accuracy);
                fflush(stdout);
            }
            run_record(t, "best",
                       json_pack("{s:I, s:I, s:s, s:s, s:o, s:o, s:s}", "step",
                                 (json_int_t)t->step, "epoch", (json_int_t)epoch, "path", path,
                                 "best", config_best_name(c->best),
                                 "val_loss", metrics_real(val_loss),
                                 "val_accuracy", metrics_real(val_accuracy),
                                 "fingerprint", train_fingerprint(t)));
        }
        free(text);
    }
    outcome_share(&o);
    if (o.ok) {
        t->has_best = 1;
        t->best_value = figure;
        t->best_epoch = epoch;
        return TRAIN_OK;
    }
    int stop = c->on_ckpt_error == CKPT_ERROR_STOP;
    if (t->rank == 0)
        fprintf(stderr, "shardnet train: the best checkpoint at epoch %lld failed: %s; %s\n",
                (long long)epoch, o.message,
                stop ? "stopping (--on-ckpt-error warn would go on)" : "training goes on");
    return stop ? TRAIN_FAILED : TRAIN_OK;
}
