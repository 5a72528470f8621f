/* stepwatch.c - the compute-step watchdog thread; see stepwatch.h. */
#include "stepwatch.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

static atomic_llong g_step;     /* step being computed, 0: none */
static atomic_llong g_since_ms; /* when it began, CLOCK_MONOTONIC ms */
static int g_rank;
static double g_limit;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int stop_pending(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGUSR1) == 1);
}

static void *watch(void *arg)
{
    (void)arg;
    long long signal_step = 0, signal_seen = 0;
    for (;;) {
        nanosleep(&(struct timespec){0, 250000000L}, NULL);
        long long step = atomic_load(&g_step), since = atomic_load(&g_since_ms);
        if (!step) {
            signal_step = 0;
            continue;
        }
        double ran = (double)(now_ms() - since) / 1000.0;
        if (g_limit > 0 && ran > g_limit) {
            fprintf(stderr, "[rank %d] shardnet train: watchdog: step %lld has been computing "
                            "for %.0f s, over --timeout %.0f s: the computation is stuck (e.g. "
                            "OpenMP threads that never start); exiting with 4\n",
                    g_rank, step, ran, g_limit);
            fflush(stderr);
            _exit(4);
        }
        if (!stop_pending()) {
            signal_step = 0;
            continue;
        }
        if (signal_step != step) {
            signal_step = step;
            signal_seen = now_ms();
        }
        if ((double)(now_ms() - signal_seen) / 1000.0 >= STEPWATCH_STOP_GRACE) {
            fprintf(stderr, "[rank %d] shardnet train: a stop signal arrived but step %lld has "
                            "not finished computing in %.0f s; exiting with 1 without a "
                            "checkpoint (the last one is intact: --resume auto)\n",
                    g_rank, step, ran);
            fflush(stderr);
            _exit(1);
        }
    }
    return NULL;
}

void stepwatch_start(int rank, double limit_s)
{
    static int started;
    if (started)
        return;
    started = 1;
    g_rank = rank;
    g_limit = limit_s;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, watch, NULL) != 0)
        die("cannot start the step watchdog thread");
    pthread_attr_destroy(&attr);
}

void stepwatch_begin(int64_t step)
{
    atomic_store(&g_since_ms, now_ms());
    atomic_store(&g_step, (long long)step);
}

void stepwatch_end(void) { atomic_store(&g_step, 0); }
