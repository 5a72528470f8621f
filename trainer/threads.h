/* threads.h - how many OpenMP threads this process can really run.
 *
 * oneDNN waits for every OpenMP thread of a parallel region: asking for
 * more threads than OpenMP will create (OMP_THREAD_LIMIT) made a step spin
 * forever, and an absurd count made thread creation fail inside the
 * runtime (a crash).  So every command that computes checks the count first
 * against the smallest of: OpenMP's thread limit, the CPUs in this
 * process's affinity mask (mpirun --bind-to core gives one), and the CPU
 * quota of its cgroup (cpu.max, rounded up).
 *
 * Every command that computes (train, eval, bench, predict) takes its
 * thread count the same way, through threads_setup: --threads N when given,
 * else OMP_NUM_THREADS when set, else 1.  One thread, not all cores, by
 * default because oneDNN's results depend on the thread count: the same
 * default everywhere keeps runs bit-identical. */
#ifndef SHARDNET_THREADS_H
#define SHARDNET_THREADS_H

#include <stddef.h>
#include <stdint.h>

/* The largest --threads any command accepts. */
#define THREADS_MAX 1024

/* The limit, and in why (size n) what sets it, e.g. "OMP_THREAD_LIMIT=1". */
int threads_available(char *why, size_t n);

/* 0 when requested threads can run here; else -1 and base_error() =
 * "FLAG: N is more than this process can run (...)" naming the limit and
 * its source (a usage error: exit 2). */
int threads_check(const char *flag, int64_t requested);

/* The thread count of a computing command: requested (its --threads) when
 * > 0, else OMP_NUM_THREADS when set (a plain integer 1..THREADS_MAX), else
 * 1.  0, or -1 with base_error() = "OMP_NUM_THREADS: ... (...)". */
int threads_resolve(int64_t requested, int64_t *threads);

/* threads_resolve, threads_check against what this process can run, then
 * omp_set_num_threads: what every computing command calls once its
 * options are read.  0, or -1 with base_error() (a usage error: exit 2). */
int threads_setup(int64_t requested, int64_t *threads);

#endif
