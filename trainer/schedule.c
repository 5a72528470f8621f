/* schedule.c - learning-rate schedules.  See schedule.h for the formulas. */
#include "schedule.h"

#include <math.h>
#include <string.h>

double schedule_lr(const Schedule *s, int64_t t)
{
    if (t < 0)
        t = 0;
    if (s->warmup > 0 && t < s->warmup)
        return s->lr * (double)(t + 1) / (double)s->warmup;
    int64_t u = t - (s->warmup > 0 ? s->warmup : 0);
    int64_t span = s->total_steps - (s->warmup > 0 ? s->warmup : 0);
    switch (s->kind) {
    case SCHEDULE_CONSTANT:
        return s->lr;
    case SCHEDULE_STEP: {
        int64_t k = s->step_size > 0 ? u / s->step_size : 0;
        double lr = s->lr;
        for (int64_t i = 0; i < k && lr != 0.0; i++)
            lr *= s->gamma;
        return lr;
    }
    case SCHEDULE_COSINE:
        if (span <= 0 || u >= span)
            return 0.0;
        return s->lr * 0.5 * (1.0 + cos(M_PI * (double)u / (double)span));
    }
    return s->lr;
}

static const char *const names[] = {"constant", "step", "cosine"};

const char *schedule_name(ScheduleKind k)
{
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

int schedule_parse(const char *name, ScheduleKind *out)
{
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i])) {
            *out = (ScheduleKind)i;
            return 0;
        }
    return -1;
}
