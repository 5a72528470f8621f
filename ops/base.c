/* base.c - fatal errors, checked allocation, recoverable error messages,
 * the shared oneDNN engine and stream.  See base.h for the contract. */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include <oneapi/dnnl/dnnl_debug.h>

static int g_rank = -1;
static void (*g_abort_hook)(int status);
static _Thread_local char g_error[1024];
static dnnl_engine_t g_engine;
static _Thread_local dnnl_stream_t g_stream;

void base_set_rank(int rank) { g_rank = rank; }
int base_rank(void) { return g_rank; }
void base_set_abort_hook(void (*hook)(int status)) { g_abort_hook = hook; }

noreturn void die_at(const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (g_rank >= 0)
        fprintf(stderr, "[rank %d] %s:%d: %s\n", g_rank, base, line, msg);
    else
        fprintf(stderr, "%s:%d: %s\n", base, line, msg);
    fflush(stderr);
    if (g_abort_hook)
        g_abort_hook(1);
    exit(1);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        die("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *xaligned(size_t n)
{
    size_t rounded = (n + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p)
        die("out of memory allocating %zu aligned bytes", n);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

int base_error_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return -1;
}

const char *base_error(void) { return g_error; }

const char *base_dnnl_status_str(dnnl_status_t s) { return dnnl_status2str(s); }

dnnl_engine_t base_engine(void)
{
    if (!g_engine)
        DNNL_CHECK(dnnl_engine_create(&g_engine, dnnl_cpu, 0));
    return g_engine;
}

dnnl_stream_t base_stream(void)
{
    if (!g_stream)
        DNNL_CHECK(dnnl_stream_create(&g_stream, base_engine(), dnnl_stream_default_flags));
    return g_stream;
}

void base_engine_free(void)
{
    if (g_stream)
        dnnl_stream_destroy(g_stream);
    if (g_engine)
        dnnl_engine_destroy(g_engine);
    g_stream = NULL;
    g_engine = NULL;
}

void base_flush_denormals(void)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
}

unsigned base_fp_mode(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return _mm_getcsr();
#else
    return 0;
#endif
}

void base_set_fp_mode(unsigned mode)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(mode);
#else
    (void)mode;
#endif
}
