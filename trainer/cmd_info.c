/* cmd_info.c - `shardnet info CKPT|RUN [--json]`: what a checkpoint or a run
 * directory is, for humans or (--json) as one JSON object.
 *
 * A checkpoint: its configuration (the JSON the trainer stored), step and
 * epoch, when it was written (the file's modification time), the parameter
 * fingerprint (SHA-256, checksum.h), whether it verifies (ckpt_verify), and
 * the metrics at save time: the last step and epoch records at or before
 * its step in the metrics.jsonl beside it (its run directory), if any.
 * A run directory: config.json, the checkpoints (latest, best), the last
 * record of the metrics file (how the run ended or stopped), the last epoch
 * record, and whether a TensorBoard event file is there.
 * Reads files only; no MPI.  Exit 0 (also for a checkpoint that does not
 * verify: info reports it, `shardnet verify` is the check), 1 when the path
 * is neither, 2 usage error. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "atomic.h"
#include "base.h"
#include "checksum.h"
#include "ckpt.h"
#include "ckptdir.h"
#include "commands.h"
#include "opts.h"
#include "outpath.h"

static void info_usage(FILE *out)
{
    fprintf(out, "usage: shardnet info [--json] CHECKPOINT|RUN_DIR\n\n"
                 "Says what a checkpoint or a run directory (shardnet train --run) is:\n"
                 "configuration, step and epoch, creation time, the parameters' SHA-256\n"
                 "fingerprint, whether it verifies, and the metrics at save time; for a run,\n"
                 "its checkpoints, best checkpoint and how it last ended or stopped.\n\n"
                 "  --json    one JSON object instead of text (default: text)\n"
                 "  --help    this text\n"
                 "Exit status: 0 reported, 1 not a checkpoint or run directory, 2 usage error.\n");
}

static json_t *iso_time(time_t t)
{
    char buf[64];
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

/* The last records of `path` (metrics.jsonl) with step <= max_step (max_step
 * < 0: any): the last step record, the last epoch record and the last record
 * of any type.  New references or NULL. */
static void scan_metrics(const char *path, int64_t max_step, json_t **step, json_t **epoch,
                         json_t **last)
{
    *step = *epoch = *last = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *r = json_loads(line, 0, NULL);
        if (!json_is_object(r)) {
            json_decref(r);
            continue;
        }
        const char *type = json_string_value(json_object_get(r, "type"));
        json_t *s = json_object_get(r, "step");
        int fits = max_step < 0 || (json_is_integer(s) && json_integer_value(s) <= max_step);
        if (type && fits && !strcmp(type, "step")) {
            json_decref(*step);
            *step = json_incref(r);
        } else if (type && fits && !strcmp(type, "epoch")) {
            json_decref(*epoch);
            *epoch = json_incref(r);
        }
        json_decref(*last);
        *last = r;
    }
    free(line);
    fclose(f);
}

static json_t *checkpoint_info(const char *path)
{
    json_t *o = json_pack("{s:s, s:s}", "kind", "checkpoint", "path", path);
    struct stat sb;
    if (stat(path, &sb) == 0)
        json_object_set_new(o, "created", iso_time(sb.st_mtime));
    TrainState st;
    float *params = NULL, *momentum = NULL;
    size_t n = 0;
    if (ckpt_read(path, &st, &params, &momentum, &n) < 0) {
        json_object_set_new(o, "verify", json_string("BAD"));
        json_object_set_new(o, "error", json_string(base_error()));
        return o;
    }
    char fp[CHECKSUM_HEX_LEN + 1];
    checksum_params(params, n, fp);
    free(params), free(momentum);
    json_object_set_new(o, "verify", json_string("OK"));
    json_object_set_new(o, "fingerprint", json_string(fp));
    json_object_set_new(o, "step", json_integer((json_int_t)st.step));
    json_object_set_new(o, "epoch", json_integer((json_int_t)st.epoch));
    json_object_set_new(o, "step_in_epoch", json_integer((json_int_t)st.step_in_epoch));
    json_object_set_new(o, "world_size", json_integer(st.world_size));
    json_object_set_new(o, "shardnet_version", json_string(st.shardnet_version));
    json_object_set_new(o, "arch", json_string(lenet_arch_name(st.arch)));
    json_object_set_new(o, "parameters", json_integer((json_int_t)n));
    json_t *config = json_loads(st.config, 0, NULL);
    json_object_set_new(o, "config", config ? config : json_string(st.config));
    char dir[4096], metrics[4200];
    if (atomic_dirname(path, dir, sizeof dir) == 0) {
        snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
        json_t *step, *epoch, *last;
        scan_metrics(metrics, (int64_t)st.step, &step, &epoch, &last);
        json_decref(last);
        if (step || epoch) {
            json_object_set_new(o, "metrics_file", json_string(metrics));
            json_object_set_new(o, "last_step_record", step ? step : json_null());
            json_object_set_new(o, "last_epoch_record", epoch ? epoch : json_null());
        }
    }
    return o;
}

static json_t *run_info(const char *dir)
{
    json_t *o = json_pack("{s:s, s:s}", "kind", "run", "path", dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *config = json_load_file(path, 0, NULL);
    json_object_set_new(o, "config", config ? config : json_null());
    uint64_t *steps = NULL;
    size_t count = 0;
    json_t *list = json_array();
    if (ckpt_list(dir, &steps, &count) == 0)
        for (size_t i = 0; i < count; i++)
            json_array_append_new(list, json_integer((json_int_t)steps[i]));
    free(steps);
    json_object_set_new(o, "checkpoint_steps", list);
    char name[512];
    if (ckpt_get_latest(dir, name, sizeof name) == 0) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        json_object_set_new(o, "latest", checkpoint_info(path));
    }
    snprintf(path, sizeof path, "%s/best.json", dir);
    json_t *best = json_load_file(path, 0, NULL);
    if (best)
        json_object_set_new(o, "best", best);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    json_t *step, *epoch, *last;
    scan_metrics(path, -1, &step, &epoch, &last);
    json_decref(step);
    json_object_set_new(o, "last_epoch_record", epoch ? epoch : json_null());
    json_object_set_new(o, "last_record", last ? last : json_null());
    snprintf(path, sizeof path, "%s/events.out.tfevents.shardnet", dir);
    json_object_set_new(o, "tensorboard", outpath_exists(path) ? json_string(path) : json_null());
    return o;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* A number as %.4f, or "-" for null (no validation, --no-eval). */
static void num(char *buf, size_t n, const json_t *v)
{
    if (json_is_number(v))
        snprintf(buf, n, "%.4f", json_number_value(v));
    else
        snprintf(buf, n, "-");
}

static void print_checkpoint(const json_t *o, const char *indent)
{
    printf("%s%scheckpoint %s: %s\n", indent, *indent ? "latest " : "", str(o, "path"),
           str(o, "verify"));
    if (strcmp(str(o, "verify"), "OK") != 0) {
        printf("%s  %s\n", indent, str(o, "error"));
        return;
    }
    long long step = (long long)json_integer_value(json_object_get(o, "step"));
    long long epoch = (long long)json_integer_value(json_object_get(o, "epoch"));
    long long in_epoch = (long long)json_integer_value(json_object_get(o, "step_in_epoch"));
    if (in_epoch == 0)
        printf("%s  step %lld (the end of epoch %lld)", indent, step, epoch);
    else
        printf("%s  step %lld (step %lld of epoch %lld)", indent, step, in_epoch, epoch + 1);
    printf(", written %s by %lld rank(s), shardnet %s\n", str(o, "created"),
           (long long)json_integer_value(json_object_get(o, "world_size")),
           str(o, "shardnet_version"));
    printf("%s  LeNet %s, %lld parameters, sha256 %s\n", indent, str(o, "arch"),
           (long long)json_integer_value(json_object_get(o, "parameters")),
           str(o, "fingerprint"));
    json_t *e = json_object_get(o, "last_epoch_record"), *s = json_object_get(o, "last_step_record");
    if (json_is_object(e)) {
        char vl[32], va[32], tl[32], ta[32];
        num(vl, sizeof vl, json_object_get(e, "val_loss"));
        num(va, sizeof va, json_object_get(e, "val_accuracy"));
        num(tl, sizeof tl, json_object_get(e, "test_loss"));
        num(ta, sizeof ta, json_object_get(e, "test_accuracy"));
        printf("%s  at save time: epoch %lld train loss %.4f acc %.4f, val loss %s acc %s, "
               "test loss %s acc %s\n", indent,
               (long long)json_integer_value(json_object_get(e, "epoch")),
               json_number_value(json_object_get(e, "train_loss")),
               json_number_value(json_object_get(e, "train_accuracy")), vl, va, tl, ta);
    }
    if (json_is_object(s))
        printf("%s  last logged step %lld: loss %.6f acc %.4f lr %.3e\n", indent,
               (long long)json_integer_value(json_object_get(s, "step")),
               json_number_value(json_object_get(s, "loss")),
               json_number_value(json_object_get(s, "accuracy")),
               json_number_value(json_object_get(s, "lr")));
    json_t *c = json_object_get(o, "config");
    if (json_is_object(c)) {
        char *text = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s  config %s\n", indent, text);
        free(text);
    }
}

static void print_run(const json_t *o)
{
    printf("run %s\n", str(o, "path"));
    json_t *c = json_object_get(o, "config");
    if (json_is_object(c))
        printf("  LeNet %s, %lld epochs, batch %lld, micro-batch %lld, lr %g (%s), seed %s, "
               "data %s\n", str(c, "arch"),
               (long long)json_integer_value(json_object_get(c, "epochs")),
               (long long)json_integer_value(json_object_get(c, "batch")),
               (long long)json_integer_value(json_object_get(c, "micro_batch")),
               json_number_value(json_object_get(c, "lr")), str(c, "schedule"), str(c, "seed"),
               str(c, "data"));
    else
        printf("  no config.json\n");
    json_t *steps = json_object_get(o, "checkpoint_steps");
    printf("  checkpoints at steps:");
    for (size_t i = 0; i < json_array_size(steps); i++)
        printf(" %lld", (long long)json_integer_value(json_array_get(steps, i)));
    printf("%s\n", json_array_size(steps) ? "" : " none");
    json_t *last = json_object_get(o, "last_record");
    if (json_is_object(last)) {
        time_t t = (time_t)json_number_value(json_object_get(last, "time"));
        json_t *iso = iso_time(t);
        printf("  last record: %s at step %lld, %s\n", str(last, "type"),
               (long long)json_integer_value(json_object_get(last, "step")),
               json_string_value(iso));
        json_decref(iso);
    }
    json_t *best = json_object_get(o, "best");
    if (json_is_object(best))
        printf("  best (%s): epoch %lld, val loss %.6f, val accuracy %.4f, sha256 %s\n",
               str(best, "best"), (long long)json_integer_value(json_object_get(best, "epoch")),
               json_number_value(json_object_get(best, "val_loss")),
               json_number_value(json_object_get(best, "val_accuracy")),
               str(best, "fingerprint"));
    json_t *latest = json_object_get(o, "latest");
    if (json_is_object(latest))
        print_checkpoint(latest, "  ");
    if (json_is_string(json_object_get(o, "tensorboard")))
        printf("  TensorBoard: tensorboard --logdir %s\n", str(o, "path"));
}

int cmd_info(int argc, char **argv)
{
    bool as_json = false;
    const Opt opts[] = {
        OPTION_FLAG("json", &as_json),
        OPTS_END,
    };
    const OptSpec spec = {"info", opts, "one CHECKPOINT or RUN_DIR", 1, 1};
    int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
    if (rc == OPTS_HELP) {
        info_usage(stdout);
        return 0;
    }
    if (rc)
        return opts_fail("info", base_error());
    const char *path = argv[1];
    struct stat sb;
    if (stat(path, &sb) < 0) {
        fprintf(stderr, "shardnet info: %s: no such file or directory\n", path);
        return 1;
    }
    json_t *o;
    if (S_ISDIR(sb.st_mode)) {
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/config.json", path);
        if (!outpath_exists(probe)) {
            fprintf(stderr, "shardnet info: %s is a directory without config.json: not a run "
                            "directory of shardnet train --run\n", path);
            return 1;
        }
        o = run_info(path);
    } else {
        o = checkpoint_info(path);
    }
    if (as_json) {
        char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
    } else if (!strcmp(str(o, "kind"), "run")) {
        print_run(o);
    } else {
        print_checkpoint(o, "");
    }
    json_decref(o);
    return 0;
}
