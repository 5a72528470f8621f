/* schedule.h - the learning rate at each optimizer step.  Pure functions.
 *
 * Steps t count from 0 (t = number of updates already applied) up to
 * total_steps - 1.  With warmup W > 0 the first W steps ramp linearly,
 *     lr(t) = lr * (t + 1) / W                     for t < W,
 * and the schedule proper then runs on u = t - W over T' = total_steps - W:
 *     constant  lr
 *     step      lr * gamma^floor(u / step_size)
 *     cosine    lr * (1 + cos(pi * u / T')) / 2    (lr at u = 0, -> 0 at u = T')
 * Without warmup, u = t and T' = total_steps.
 *
 * gamma^k is a loop of k double multiplications (stops at 0), not pow(), so
 * it is one IEEE result everywhere; cosine uses libm cos, identical on all
 * ranks of a run (same binary, same libm).  Beyond the last step (t >=
 * total_steps) the cosine stays at 0 and the others keep their formula. */
#ifndef SHARDNET_SCHEDULE_H
#define SHARDNET_SCHEDULE_H

#include <stdint.h>

typedef enum { SCHEDULE_CONSTANT, SCHEDULE_STEP, SCHEDULE_COSINE } ScheduleKind;

typedef struct {
    ScheduleKind kind;
    double lr;           /* base (peak) learning rate */
    int64_t step_size;   /* step: updates between decays (> 0) */
    double gamma;        /* step: decay factor */
    int64_t warmup;      /* W: linear warmup updates (>= 0) */
    int64_t total_steps; /* updates in the whole run (> warmup) */
} Schedule;

/* Learning rate for update t (0-based). */
double schedule_lr(const Schedule *s, int64_t t);
/* "constant" / "step" / "cosine"; parse returns -1 for another name. */
const char *schedule_name(ScheduleKind k);
int schedule_parse(const char *name, ScheduleKind *out);

#endif
