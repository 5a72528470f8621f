/* metrics.c - JSON lines (jansson) and the progress line.  See metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

json_t *metrics_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *metrics_step_fields(const StepRecord *r)
{
    return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:s}",
                     "epoch", (json_int_t)r->epoch, "step", (json_int_t)r->step,
                     "total_steps", (json_int_t)r->total_steps,
                     "loss", metrics_real(r->loss), "accuracy", metrics_real(r->accuracy),
                     "lr", metrics_real(r->lr), "img_per_s", metrics_real(r->img_per_s),
                     "eta_s", metrics_real(r->eta_s >= 0 ? r->eta_s : NAN),
                     "fingerprint", r->fingerprint);
}

json_t *metrics_epoch_fields(const EpochRecord *r)
{
    return json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}",
                     "epoch", (json_int_t)r->epoch, "step", (json_int_t)r->step,
                     "train_loss", metrics_real(r->train_loss),
                     "train_accuracy", metrics_real(r->train_accuracy),
                     "val_loss", metrics_real(r->has_val ? r->val_loss : NAN),
                     "val_accuracy", metrics_real(r->has_val ? r->val_accuracy : NAN),
                     "test_loss", metrics_real(r->has_test ? r->test_loss : NAN),
                     "test_accuracy", metrics_real(r->has_test ? r->test_accuracy : NAN),
                     "seconds", metrics_real(r->seconds),
                     "img_per_s", metrics_real(r->img_per_s),
                     "fingerprint", r->fingerprint);
}

int metrics_open(Metrics *m, const char *path)
{
    m->f = fopen(path, "a");
    if (!m->f)
        return base_error_set("metrics file %s: cannot open for appending: %s", path,
                              strerror(errno));
    return 0;
}

int metrics_write(Metrics *m, const char *type, json_t *fields)
{
    if (!m->f) {
        json_decref(fields);
        return 0;
    }
    json_t *rec = json_pack("{s:s, s:o}", "type", type, "time", json_real(metrics_now()));
    if (fields)
        json_object_update(rec, fields);
    json_decref(fields);
    char *line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(rec);
    if (!line)
        return base_error_set("metrics file: cannot format a %s record", type);
    int bad = fputs(line, m->f) == EOF || fputc('\n', m->f) == EOF || fflush(m->f) == EOF;
    free(line);
    if (bad)
        return base_error_set("metrics file: write failed: %s", strerror(errno));
    return 0;
}

int metrics_close(Metrics *m)
{
    if (!m->f)
        return 0;
    int bad = ferror(m->f);
    int rc = fclose(m->f);
    m->f = NULL;
    if (bad || rc == EOF)
        return base_error_set("metrics file: write failed on close");
    return 0;
}

void metrics_format_duration(double seconds, char *buf, size_t cap)
{
    if (!isfinite(seconds) || seconds < 0 || seconds > 359999999.0) {
        snprintf(buf, cap, "-:--:--");
        return;
    }
    long long s = (long long)(seconds + 0.5);
    snprintf(buf, cap, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

void metrics_format_progress(const StepRecord *r, char *buf, size_t cap)
{
    char eta[32];
    metrics_format_duration(r->eta_s, eta, sizeof eta);
    snprintf(buf, cap,
             "epoch %3lld/%-3lld step %7lld/%-7lld loss %8.6f  acc %6.4f  lr %9.3e  "
             "img/s %7.0f  ETA %s  sha256 %.12s",
             (long long)r->epoch, (long long)r->epochs, (long long)r->step,
             (long long)r->total_steps, r->loss, r->accuracy, r->lr,
             isfinite(r->img_per_s) ? r->img_per_s : 0.0, eta, r->fingerprint);
}
