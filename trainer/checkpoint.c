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

/* The outcome of a rank-0 action, broadcast to every rank. */
typedef struct {
    int32_t ok;
    char message[2048];
} Outcome;

static void outcome_share(Outcome *o)
{
    dist_broadcast(o, sizeof *o, 0);
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
        st->mean[i] = c->normalize ? t->ds.pixel_mean : 0.0;
        st->std[i] = c->normalize ? t->ds.pixel_std : 1.0;
    }
    snprintf(st->sched.name, sizeof st->sched.name, "%s", schedule_name(c->schedule));
    st->sched.lr = c->lr;
    st->sched.momentum = c->momentum;
    st->sched.weight_decay = c->weight_decay;
    st->sched.warmup = c->warmup;
    st->sched.step_size = c->step_size;
    st->sched.gamma = c->gamma;
    st->sched.total_steps = t->total_steps;
    config_describe(c, st->config, sizeof st->config);
    snprintf(st->cpu_isa, sizeof st->cpu_isa, "%s", cpuisa_name(t->isa));
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
        /* Room for two: the new file is complete before the oldest goes. */
        if (ckpt_check_room(c->ckpt_dir, 2 * ckpt_size_estimate(&st)) < 0) {
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
                        "  (give another --ckpt-dir, --no-ckpt, or --on-ckpt-error warn)\n",
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
        if (ckpt_save(c->ckpt_dir, &st, t->params, t->momentum, t->model.n_params,
                      (size_t)c->keep, path, sizeof path) < 0) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "%s", base_error());
        } else if (!c->quiet) {
            printf("checkpoint: %s (step %lld)\n", path, (long long)t->step);
            fflush(stdout);
        }
    }
    outcome_share(&o);
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

/* Rank 0: which file to resume from.  1 found, 0 fresh start, -1 error. */
static int resume_path(const Config *c, char *path, size_t n)
{
    if (strcmp(c->resume, "auto") != 0) {
        snprintf(path, n, "%s", c->resume);
        return 1;
    }
    int rc = ckpt_find_resume(c->ckpt_dir, path, n, stderr);
    return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}

/* Rank 0: checkpoints newer than the one resumed belong to an abandoned
 * continuation; renamed *.stale so that --resume auto never takes them. */
static void set_aside_newer(const Config *c, uint64_t step)
{
    uint64_t *steps = NULL;
    size_t count = 0;
    if (ckpt_list(c->ckpt_dir, &steps, &count) < 0)
        return;
    for (size_t i = 0; i < count; i++) {
        if (steps[i] <= step)
            continue;
        char from[4096], to[4200];
        ckpt_path(c->ckpt_dir, steps[i], from, sizeof from);
        snprintf(to, sizeof to, "%s.stale", from);
        if (rename(from, to) == 0)
            fprintf(stderr, "shardnet train: set aside %s (newer than the checkpoint resumed) "
                            "as %s\n", from, to);
    }
    free(steps);
}

void checkpoint_recorded_isa(const Trainer *t, char *isa, size_t n)
{
    const Config *c = &t->cfg;
    char recorded[CKPT_ISA_LEN] = "";
    if (c->resume && t->rank == 0) {
        char path[4096];
        TrainState st;
        float *params = NULL, *momentum = NULL;
        size_t count = 0;
        int found = strcmp(c->resume, "auto") != 0
                        ? snprintf(path, sizeof path, "%s", c->resume) > 0
                        : ckpt_find_resume(c->ckpt_dir, path, sizeof path, NULL) == 0;
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
        found = resume_path(c, path, sizeof path);
        if (found < 0 || (found && ckpt_read(path, &st, &params, &momentum, &n) < 0)) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "cannot resume: %s", base_error());
            found = 0;
        } else if (found && n != t->model.n_params) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "cannot resume from %s: %zu parameters, "
                     "this model has %zu", path, n, t->model.n_params);
        } else if (found) {
            char why[1024];
            if (!compatible(t, &st, why, sizeof why)) {
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
            printf("resume: no checkpoint in %s, starting from scratch\n", c->ckpt_dir);
        return 0;
    }
    dist_broadcast(&st, sizeof st, 0);
    if (t->rank == 0) {
        memcpy(t->params, params, n * sizeof(float));
        memcpy(t->momentum, momentum, n * sizeof(float));
        set_aside_newer(c, st.step);
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
    return 0;
}
