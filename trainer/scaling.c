/* scaling.c - see scaling.h. */
#include "scaling.h"

#include <jansson.h>
#include <math.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "base.h"

/* A growing text buffer. */
typedef struct {
    char *s;
    size_t len, cap;
} Text;

__attribute__((format(printf, 2, 3))) static void put(Text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
        char *grown = realloc(t->s, t->cap);
        if (!grown)
            die("out of memory for the scaling report");
        t->s = grown;
    }
}

static double rate(double num, double den) { return den > 0 ? num / den : 0.0; }

/* Achieved all-reduce bandwidth, from the probe: the step's own all-reduce
 * overlaps with backward, so its time says little about the link. */
static double probe_mb_per_s(const RankTiming *x)
{
    return rate((double)x->probe_bytes * (double)x->probe_reps / 1e6, x->probe_s);
}

static void markdown(Text *t, const ScalingReport *r, double img_per_s)
{
    put(t, "# shardnet scaling report\n\n%d rank(s), batch %lld, micro-batch %lld, reduce %s, "
           "balance %s (the assignment changed %lld times); %lld images in %.3f s: "
           "**%.0f img/s**",
        r->ranks, (long long)r->batch, (long long)r->micro_batch, r->reduce,
        r->balance ? "on" : "off", (long long)r->balance_changes, (long long)r->images,
        r->wall_s, img_per_s);
    if (r->baseline_img_per_s > 0)
        put(t, ", %.2fx the P=1 baseline (%.0f img/s), efficiency %.1f%%",
            img_per_s / r->baseline_img_per_s, r->baseline_img_per_s,
            100.0 * img_per_s / (r->baseline_img_per_s * r->ranks));
    put(t, ".\n\n| rank | host | compute s | wait s | all-reduce s | update s | steps "
           "| micro-batches (per step: min-max, last) | ms a micro-batch | MB reduced "
           "| all-reduce MB/s | img/s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < r->ranks; i++) {
        const RankTiming *x = &r->per_rank[i];
        put(t, "| %d | %s | %.3f | %.3f | %.3f | %.3f | %lld | %lld (%lld-%lld, %lld) | %.3f "
               "| %.1f | %.0f | %.0f |\n", i,
            r->hosts ? r->hosts[i] : "-", x->compute_s, x->wait_s, x->allreduce_s, x->update_s,
            (long long)x->steps, (long long)x->micro_total, (long long)x->micro_min,
            (long long)x->micro_max, (long long)x->micro_last,
            x->micro_total ? 1e3 * x->compute_s / (double)x->micro_total : 0.0,
            (double)x->bytes / 1e6, probe_mb_per_s(x),
            rate((double)(x->micro_total * r->micro_batch), x->compute_s));
    }
    put(t, "\ncompute: forward, loss, backward and the fixed-point conversion of this rank's "
           "micro-batches, and the progress of the gradient all-reduce, which starts once the "
           "fc gradients are final and runs during the conv layers' backward; wait: time in "
           "the per-step control all-reduce (mostly waiting for the slowest rank; in exact mode "
           "it also carries the conv gradients); all-reduce: time still blocked on the gradient "
           "all-reduce after that, and the mean; all-reduce MB/s: the whole gradient buffer "
           "(%.1f KB) all-reduced on its own after training, %lld times, bytes over time; img/s "
           "per rank: the images of its micro-batches over its compute time; micro-batches: "
           "how many of the steps' micro-batches this rank computed (the assignment, "
           "io/shard.h, trainer/balance.h).\n",
        r->ranks ? (double)r->per_rank[0].probe_bytes / 1e3 : 0.0,
        r->ranks ? (long long)r->per_rank[0].probe_reps : 0LL);
}

/* A JSON number, or null when v is not finite (JSON has no NaN/Inf). */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* The report as JSON (jansson: host names are escaped properly). */
static void json(Text *t, const ScalingReport *r, double img_per_s)
{
    json_t *o = json_pack("{s:i, s:I, s:I, s:s, s:b, s:I, s:I, s:o, s:o}", "ranks", r->ranks,
                          "batch", (json_int_t)r->batch, "micro_batch", (json_int_t)r->micro_batch,
                          "reduce", r->reduce, "balance", r->balance ? 1 : 0,
                          "balance_changes", (json_int_t)r->balance_changes,
                          "images", (json_int_t)r->images,
                          "seconds", num(r->wall_s), "img_per_s", num(img_per_s));
    if (r->baseline_img_per_s > 0) {
        json_object_set_new(o, "baseline_img_per_s", num(r->baseline_img_per_s));
        json_object_set_new(o, "speedup", num(img_per_s / r->baseline_img_per_s));
        json_object_set_new(o, "efficiency",
                            num(img_per_s / (r->baseline_img_per_s * r->ranks)));
    }
    json_t *ranks = json_array();
    for (int i = 0; i < r->ranks; i++) {
        const RankTiming *x = &r->per_rank[i];
        json_array_append_new(ranks, json_pack(
            "{s:i, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I, s:I, s:I}",
            "rank", i,
            "host", r->hosts ? r->hosts[i] : "", "compute_s", num(x->compute_s),
            "wait_s", num(x->wait_s), "allreduce_s", num(x->allreduce_s),
            "update_s", num(x->update_s), "steps", (json_int_t)x->steps,
            "bytes", (json_int_t)x->bytes, "probe_bytes", (json_int_t)x->probe_bytes,
            "probe_reps", (json_int_t)x->probe_reps, "probe_s", num(x->probe_s),
            "allreduce_bytes_per_s", num(1e6 * probe_mb_per_s(x)),
            "microbatches", (json_int_t)x->micro_total,
            "microbatches_last_step", (json_int_t)x->micro_last,
            "microbatches_min", (json_int_t)x->micro_min,
            "microbatches_max", (json_int_t)x->micro_max));
    }
    json_object_set_new(o, "per_rank", ranks);
    char *text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(o);
    put(t, "%s\n", text);
    free(text);
}

static int write_text(const char *prefix, const char *ext, const Text *t)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s%s", prefix, ext) >= (int)sizeof path)
        return base_error_set("scaling report: path too long");
    return atomic_write_file(path, t->s, t->len);
}

int scaling_write(const char *prefix, const ScalingReport *r)
{
    double img_per_s = rate((double)r->images, r->wall_s);
    Text md = {0}, js = {0};
    markdown(&md, r, img_per_s);
    json(&js, r, img_per_s);
    int rc = write_text(prefix, ".md", &md);
    if (rc == 0)
        rc = write_text(prefix, ".json", &js);
    free(md.s);
    free(js.s);
    return rc;
}

int scaling_read_baseline(const char *json_path, double *img_per_s)
{
    json_error_t err;
    json_t *o = json_load_file(json_path, 0, &err);
    if (!o)
        return base_error_set("scaling baseline '%s': %s (line %d)", json_path, err.text,
                              err.line);
    json_t *v = json_object_get(o, "img_per_s");
    double x = json_is_number(v) ? json_number_value(v) : 0.0;
    json_decref(o);
    if (!(x > 0))
        return base_error_set("scaling baseline '%s': no positive \"img_per_s\" (give the .json "
                              "of a --scaling-report run)", json_path);
    *img_per_s = x;
    return 0;
}
