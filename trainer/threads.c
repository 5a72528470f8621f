/* threads.c - the usable thread count; see threads.h. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "threads.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

/* The CPU quota of our cgroup v2 and its ancestors (cpu.max "QUOTA
 * PERIOD", or "max"), rounded up; INT_MAX when there is none. */
static int cgroup_cpus(char *where, size_t n)
{
    char rel[1200] = "", line[1100];
    FILE *f = fopen("/proc/self/cgroup", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            snprintf(rel, sizeof rel, "%s", line + 3);
            rel[strcspn(rel, "\n")] = '\0';
        }
    if (f)
        fclose(f);
    int best = INT_MAX;
    for (;;) {
        char path[1300];
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", strcmp(rel, "/") ? rel : "");
        FILE *m = fopen(path, "r");
        long long quota = 0, period = 0;
        if (m && fscanf(m, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
            long long cpus = (quota + period - 1) / period;
            if (cpus < best) {
                best = (int)cpus;
                snprintf(where, n, "the cgroup CPU quota (%s: %lld/%lld)", path, quota, period);
            }
        }
        if (m)
            fclose(m);
        char *slash = strrchr(rel, '/');
        if (!slash || !rel[0] || !strcmp(rel, "/"))
            break;
        *slash = '\0';
        if (!rel[0])
            snprintf(rel, sizeof rel, "/");
    }
    return best;
}

int threads_available(char *why, size_t n)
{
    int limit = omp_get_thread_limit();
    snprintf(why, n, "OpenMP's thread limit (OMP_THREAD_LIMIT)");
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < limit) {
        limit = CPU_COUNT(&set);
        snprintf(why, n, "the CPU affinity mask (taskset, or mpirun's --bind-to core; try "
                         "--bind-to none)");
    }
    char where[1400];
    int quota = cgroup_cpus(where, sizeof where);
    if (quota < limit) {
        limit = quota;
        snprintf(why, n, "%s", where);
    }
    return limit < 1 ? 1 : limit;
}

int threads_check(const char *flag, int64_t requested)
{
    char why[1500];
    int limit = threads_available(why, sizeof why);
    if (requested > limit)
        return base_error_set("%s: %lld is more than this process can run (at most %d, set "
                              "by %s)", flag, (long long)requested, limit, why);
    return 0;
}

int threads_resolve(int64_t requested, int64_t *threads)
{
    if (requested > 0) {
        *threads = requested;
        return 0;
    }
    const char *env = getenv("OMP_NUM_THREADS");
    if (!env || !*env) {
        *threads = 1;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(env, &end, 10);
    if (env[0] < '0' || env[0] > '9' || *end || errno == ERANGE || v < 1 || v > THREADS_MAX)
        return base_error_set("OMP_NUM_THREADS: '%s' is not valid (an integer in 1..%d, or "
                              "unset for 1 thread; --threads N overrides it)", env,
                              THREADS_MAX);
    *threads = v;
    return 0;
}

int threads_setup(int64_t requested, int64_t *threads)
{
    if (threads_resolve(requested, threads) < 0 ||
        threads_check(requested > 0 ? "--threads" : "OMP_NUM_THREADS", *threads) < 0)
        return -1;
    omp_set_num_threads((int)*threads);
    return 0;
}
