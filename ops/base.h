/* base.h - the small helpers every module uses: fatal errors, checked
 * allocation, the oneDNN call check, and the engine/stream pair.
 *
 * die() prints "[rank r] file:line: message" to stderr and exits with status 1.
 * Code that has a communicator (trainer/) installs an abort hook with
 * base_set_abort_hook() so that die() ends every rank (MPI_Abort) instead of
 * leaving the others waiting in a collective.  ops/ and io/ never know MPI.
 *
 * Recoverable errors (bad arguments to an op, a malformed file) are reported
 * with base_error_set(): the function returns -1 and base_error() holds the
 * message, so callers and tests can decide what to do with it.
 */
#ifndef SHARDNET_BASE_H
#define SHARDNET_BASE_H

#include <stddef.h>
#include <stdnoreturn.h>

#include <oneapi/dnnl/dnnl.h>

noreturn void die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)

/* Rank shown in messages (-1: no rank known yet). */
void base_set_rank(int rank);
int base_rank(void);
/* Called by die() after printing; must not return (e.g. MPI_Abort). */
void base_set_abort_hook(void (*hook)(int status));

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
/* 64-byte aligned, zeroed; free with free(). */
void *xaligned(size_t n);
char *xstrdup(const char *s);

/* Last recoverable error of this thread; base_error_set returns -1. */
int base_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *base_error(void);

/* Every dnnl call goes through DNNL_CHECK: a failure names the call and the
 * status and dies (a failing dnnl call after validation is a bug or OOM). */
#define DNNL_CHECK(call)                                                      \
    do {                                                                      \
        dnnl_status_t s_ = (call);                                            \
        if (s_ != dnnl_success)                                               \
            die("%s failed: %s", #call, base_dnnl_status_str(s_));           \
    } while (0)
const char *base_dnnl_status_str(dnnl_status_t s);

/* One CPU engine shared by every op of a process, created on first use
 * (create it in the main thread before other threads run ops), and one
 * in-order stream per thread, so that threads that each run their own
 * primitives (trainer/train.c's micro-batch workers) never share a stream.
 * base_engine_free() at exit is optional; it frees the calling thread's
 * stream and the engine. */
dnnl_engine_t base_engine(void);
dnnl_stream_t base_stream(void);
void base_engine_free(void);

/* Flush denormals to zero (FTZ+DAZ).  Call in the main thread before OpenMP
 * starts its threads: they inherit MXCSR, and denormal activations slow a
 * training step about twofold. */
void base_flush_denormals(void);
/* The calling thread's floating-point control state (MXCSR on x86: FTZ,
 * DAZ, rounding), to give a thread the same numerics as another. */
unsigned base_fp_mode(void);
void base_set_fp_mode(unsigned mode);

#endif
