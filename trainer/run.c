/* run.c - the run directory; see run.h. */
#include "run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "base.h"
#include "dist.h"
#include "outpath.h"

/* What rank 0 decided, for every rank. */
typedef struct {
    int32_t ok;
    int32_t created;        /* a new default runs/<time> */
    char dir[2048];
    char message[2048];
} RunOutcome;

void run_file(const Trainer *t, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", t->run_dir, name);
}

/* Rank 0: a new runs/<time>[-k]; mkdir itself is the lock against a run
 * started in the same second. */
static int new_run_dir(char *dir, size_t n)
{
    if (outpath_mkdirs("runs", "--run (default runs/)") < 0)
        return -1;
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    for (int k = 1; k < 1000; k++) {
        if (k == 1)
            snprintf(dir, n, "runs/%s", stamp);
        else
            snprintf(dir, n, "runs/%s-%d", stamp, k);
        if (mkdir(dir, 0777) == 0)
            return 0;
        if (errno != EEXIST)
            return base_error_set("--run: cannot create %s: %s", dir, strerror(errno));
    }
    return base_error_set("--run: runs/%s-1..999 all exist; give --run DIR", stamp);
}

/* --scaling-report PREFIX: both files checked before training (outpath.h). */
static int check_report(const char *prefix)
{
    char path[4200];
    const char *ext[2] = {".md", ".json"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", prefix, ext[i]);
        if (outpath_file(path, "--scaling-report", false,
                         "remove it or choose another PREFIX") < 0)
            return -1;
    }
    return 0;
}

int run_open(Trainer *t)
{
    const Config *c = &t->cfg;
    RunOutcome o = {.ok = 1};
    if (t->rank == 0) {
        int rc = 0;
        if (!c->run) {
            rc = new_run_dir(o.dir, sizeof o.dir);
            o.created = rc == 0;
        } else {
            snprintf(o.dir, sizeof o.dir, "%s", c->run);
            if (outpath_dir_used(c->run) && !c->resume)
                rc = base_error_set("--run %s already holds a run (it is not empty); give "
                                    "--resume auto to continue that run, or another --run "
                                    "for a new one", c->run);
            else
                rc = outpath_mkdirs(c->run, "--run");
        }
        if (rc == 0 && c->scaling_report)
            rc = check_report(c->scaling_report);
        if (rc < 0) {
            o.ok = 0;
            snprintf(o.message, sizeof o.message, "%s", base_error());
        }
    }
    dist_broadcast(&o, sizeof o, 0);
    if (!o.ok) {
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: %s\n", o.message);
        return -1;
    }
    snprintf(t->run_dir, sizeof t->run_dir, "%s", o.dir);
    t->run_dir_created = o.created;
    return 0;
}

void run_close(Trainer *t)
{
    /* A new default directory that nothing was written to (setup failed
     * before the first output): leave no empty runs/<time> behind.  rmdir
     * removes only an empty directory. */
    if (t->rank == 0 && t->run_dir_created && !outpath_dir_used(t->run_dir))
        rmdir(t->run_dir);
}

void run_record(Trainer *t, const char *type, json_t *fields)
{
    if (t->rank != 0 || !t->metrics.f) {
        json_decref(fields);
        return;
    }
    if (metrics_write(&t->metrics, type, fields) < 0) {
        fprintf(stderr, "shardnet train: %s\n", base_error());
        t->output_failed = 1;
    }
}

void run_scalar(Trainer *t, int64_t step, const char *tag, double value)
{
    if (t->rank != 0 || !t->tb.f)
        return;
    if (tfevents_scalar(&t->tb, metrics_now(), step, tag, (float)value) < 0) {
        fprintf(stderr, "shardnet train: %s\n", base_error());
        t->output_failed = 1;
        tfevents_close(&t->tb);
    }
}

/* Rank 0: config.json, the metrics file, the event file. */
static int open_outputs(Trainer *t, const json_t *config)
{
    char path[4200];
    char *json = json_dumps(config, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                        JSON_REAL_PRECISION(17));
    if (!json)
        return base_error_set("cannot format the configuration as JSON");
    size_t len = strlen(json);
    char *text = xmalloc(len + 2);
    memcpy(text, json, len);
    text[len] = '\n';
    free(json);
    run_file(t, RUN_CONFIG, path, sizeof path);
    int rc = atomic_write_file(path, text, len + 1);
    free(text);
    if (rc < 0)
        return -1;
    run_file(t, RUN_METRICS, path, sizeof path);
    if (metrics_open(&t->metrics, path) < 0)
        return -1;
    if (t->cfg.tensorboard) {
        run_file(t, RUN_EVENTS, path, sizeof path);
        if (tfevents_open(&t->tb, path, metrics_now()) < 0)
            return -1;
    }
    return 0;
}

int run_begin(Trainer *t, json_t *config, const char *resumed_from, int written_by,
              int nhosts)
{
    RunOutcome o = {.ok = 1};
    if (t->rank == 0 && open_outputs(t, config) < 0) {
        o.ok = 0;
        snprintf(o.message, sizeof o.message, "%s", base_error());
    }
    dist_broadcast(&o, sizeof o, 0);
    if (!o.ok) {
        if (t->rank == 0)
            fprintf(stderr, "shardnet train: run %s: %s\n", t->run_dir, o.message);
        json_decref(config);
        return -1;
    }
    if (t->rank != 0) {
        json_decref(config);
        return 0;
    }
    json_t *r = json_pack("{s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
                          "run", t->run_dir, "world_size", t->size, "hosts", nhosts,
                          "threads", (json_int_t)t->cfg.threads,
                          "steps_per_epoch", (json_int_t)t->steps_per_epoch,
                          "total_steps", (json_int_t)t->total_steps,
                          "param_count", (json_int_t)t->model.n_params,
                          "step", (json_int_t)t->step, "epoch", (json_int_t)(t->epoch + 1),
                          "fingerprint", t->fingerprint);
    if (resumed_from) {
        json_object_set_new(r, "from", json_string(resumed_from));
        json_object_set_new(r, "written_by_world_size", json_integer(written_by));
    }
    json_object_set_new(r, "config", config);
    run_record(t, resumed_from ? "resume" : "start", r);
    return 0;
}
