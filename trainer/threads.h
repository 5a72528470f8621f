/* threads.h - how many OpenMP threads this process can really run.
 *
 * oneDNN waits for every OpenMP thread of a parallel region: asking for
 * more threads than OpenMP will create (OMP_THREAD_LIMIT) made a step spin
 * forever, and an absurd count made thread creation fail inside the
 * runtime (a crash).  So train, eval and bench check the count first
 * against the smallest of: OpenMP's thread limit, the CPUs in this
 * process's affinity mask (mpirun --bind-to core gives one), and the CPU
 * quota of its cgroup (cpu.max, rounded up). */
#ifndef SHARDNET_THREADS_H
#define SHARDNET_THREADS_H

#include <stddef.h>
#include <stdint.h>

/* The limit, and in why (size n) what sets it, e.g. "OMP_THREAD_LIMIT=1". */
int threads_available(char *why, size_t n);

/* 0 when requested threads can run here; else -1 and base_error() naming
 * the flag, the limit and its source (a usage error: exit 2). */
int threads_check(const char *flag, int64_t requested);

#endif
