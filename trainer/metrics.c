/* metrics.c - JSON lines and the progress line.  See metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <string.h>

#include "base.h"

/* Append with snprintf semantics: never overruns, keeps the NUL. */
static void add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

static void add_num(char *buf, size_t cap, size_t *len, const char *key, double v)
{
    if (isfinite(v))
        add(buf, cap, len, ",\"%s\":%.10g", key, v);
    else
        add(buf, cap, len, ",\"%s\":null", key);
}

static void add_hash(char *buf, size_t cap, size_t *len, const char *key, uint64_t h)
{
    add(buf, cap, len, ",\"%s\":\"0x%016llx\"", key, (unsigned long long)h);
}

static void add_string(char *buf, size_t cap, size_t *len, const char *key, const char *s)
{
    add(buf, cap, len, ",\"%s\":\"", key);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            add(buf, cap, len, "\\%c", c);
        else if (c < 0x20)
            add(buf, cap, len, "\\u%04x", c);
        else
            add(buf, cap, len, "%c", c);
    }
    add(buf, cap, len, "\"");
}

void metrics_format_start(const StartRecord *r, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    add(buf, cap, &len, "{\"type\":\"start\",\"world_size\":%d,\"hosts\":%d,\"threads\":%lld,"
        "\"steps_per_epoch\":%lld,\"total_steps\":%lld,\"param_count\":%lld",
        r->world_size, r->hosts, (long long)r->threads, (long long)r->steps_per_epoch,
        (long long)r->total_steps, (long long)r->param_count);
    add_hash(buf, cap, &len, "config_hash", r->config_hash);
    add_hash(buf, cap, &len, "param_hash", r->param_hash);
    add_string(buf, cap, &len, "config", r->config);
    add(buf, cap, &len, "}");
}

void metrics_format_step(const StepRecord *r, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    add(buf, cap, &len, "{\"type\":\"step\",\"epoch\":%lld,\"step\":%lld,\"total_steps\":%lld",
        (long long)r->epoch, (long long)r->step, (long long)r->total_steps);
    add_num(buf, cap, &len, "loss", r->loss);
    add_num(buf, cap, &len, "accuracy", r->accuracy);
    add_num(buf, cap, &len, "lr", r->lr);
    add_num(buf, cap, &len, "img_per_s", r->img_per_s);
    add_num(buf, cap, &len, "eta_s", r->eta_s >= 0 ? r->eta_s : NAN);
    add_hash(buf, cap, &len, "param_hash", r->param_hash);
    add(buf, cap, &len, "}");
}

void metrics_format_epoch(const EpochRecord *r, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    add(buf, cap, &len, "{\"type\":\"epoch\",\"epoch\":%lld", (long long)r->epoch);
    add_num(buf, cap, &len, "train_loss", r->train_loss);
    add_num(buf, cap, &len, "train_accuracy", r->train_accuracy);
    add_num(buf, cap, &len, "test_loss", r->has_test ? r->test_loss : NAN);
    add_num(buf, cap, &len, "test_accuracy", r->has_test ? r->test_accuracy : NAN);
    add_num(buf, cap, &len, "seconds", r->seconds);
    add_num(buf, cap, &len, "img_per_s", r->img_per_s);
    add_hash(buf, cap, &len, "param_hash", r->param_hash);
    add(buf, cap, &len, "}");
}

int metrics_open(Metrics *m, const char *path)
{
    m->f = fopen(path, "w");
    if (!m->f)
        return base_error_set("--metrics %s: cannot create: %s", path, strerror(errno));
    return 0;
}

static int write_line(Metrics *m, const char *line)
{
    if (!m->f)
        return 0;
    if (fputs(line, m->f) == EOF || fputc('\n', m->f) == EOF || fflush(m->f) == EOF)
        return base_error_set("metrics file: write failed: %s", strerror(errno));
    return 0;
}

int metrics_write_start(Metrics *m, const StartRecord *r)
{
    char line[2048];
    metrics_format_start(r, line, sizeof line);
    return write_line(m, line);
}

int metrics_write_step(Metrics *m, const StepRecord *r)
{
    char line[512];
    metrics_format_step(r, line, sizeof line);
    return write_line(m, line);
}

int metrics_write_epoch(Metrics *m, const EpochRecord *r)
{
    char line[512];
    metrics_format_epoch(r, line, sizeof line);
    return write_line(m, line);
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
             "img/s %7.0f  ETA %s",
             (long long)r->epoch, (long long)r->epochs, (long long)r->step,
             (long long)r->total_steps, r->loss, r->accuracy, r->lr,
             isfinite(r->img_per_s) ? r->img_per_s : 0.0, eta);
}
