/* dist.c - MPI start-up, reductions and checks.  See dist.h for the
 * contract; the arithmetic lives in gradred.c and control.c so it can be
 * tested without mpirun. */
#include "dist.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "hosts.h"

static int g_rank = -1;
static int g_size = 0;

static void abort_world(int status)
{
    MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
    exit(status ? status : 1); /* MPI_Abort should not return */
}

const char *dist_error_string(int err)
{
    static char text[MPI_MAX_ERROR_STRING + 32];
    int len = 0;
    if (MPI_Error_string(err, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", err);
    return text;
}

void dist_init(int *argc, char ***argv)
{
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS)
        die("MPI_Init failed (error %d)", rc);
    /* From here on a die() must take every rank down. */
    base_set_abort_hook(abort_world);
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &g_size));
    base_set_rank(g_rank);
}

void dist_finalize(void)
{
    MPI_CHECK(MPI_Finalize());
    base_set_abort_hook(NULL);
}

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }

void dist_allreduce_grads(GradReducer *r, float *mean_out)
{
    if (r->status != GRADRED_OK)
        die("dist_allreduce_grads called after a failed gradred_add (status %d)", r->status);
    int count = (int)gradred_buffer_len(r);
    if ((size_t)count != gradred_buffer_len(r))
        die("gradient buffer of %zu elements is too long for one MPI call",
            gradred_buffer_len(r));
    if (r->mode == REDUCE_EXACT)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, gradred_buffer(r), count, MPI_INT64_T, MPI_SUM,
                                MPI_COMM_WORLD));
    else
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, gradred_buffer(r), count, MPI_FLOAT, MPI_SUM,
                                MPI_COMM_WORLD));
    if (gradred_finish(r, mean_out))
        die("%s", base_error());
}

void dist_control_allreduce(Control *c)
{
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, c, (int)CONTROL_N, MPI_INT64_T, MPI_SUM,
                            MPI_COMM_WORLD));
}

void dist_sum_i64(int64_t *buf, size_t n)
{
    if (n > INT32_MAX)
        die("dist_sum_i64: %zu elements are too many for one MPI call", n);
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
}

void dist_max_f64(double *value)
{
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, value, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
}

void dist_max_i64(int64_t *buf, size_t n)
{
    if (n > INT32_MAX)
        die("dist_max_i64: %zu elements are too many for one MPI call", n);
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD));
}

void dist_broadcast(void *buf, size_t bytes, int root)
{
    char *p = buf;
    while (bytes) {
        size_t chunk = bytes > (size_t)1 << 30 ? (size_t)1 << 30 : bytes;
        MPI_CHECK(MPI_Bcast(p, (int)chunk, MPI_BYTE, root, MPI_COMM_WORLD));
        p += chunk;
        bytes -= chunk;
    }
}

/* max over ranks of v and of ~v: min(v) = ~max(~v), so one MAX call gives
 * both ends of every value's range. */
static int ranges_agree(const uint64_t *v, size_t n, uint64_t *lo, uint64_t *hi)
{
    uint64_t *buf = xmalloc(2 * n * sizeof *buf);
    for (size_t i = 0; i < n; i++) {
        buf[i] = v[i];
        buf[n + i] = ~v[i];
    }
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, (int)(2 * n), MPI_UINT64_T, MPI_MAX,
                            MPI_COMM_WORLD));
    int agree = 1;
    for (size_t i = 0; i < n; i++) {
        hi[i] = buf[i];
        lo[i] = ~buf[n + i];
        agree &= lo[i] == hi[i];
    }
    free(buf);
    return agree;
}

int dist_check_agreement(const Agreement *items, size_t n)
{
    uint64_t count = n, lo_n, hi_n;
    if (!ranges_agree(&count, 1, &lo_n, &hi_n)) {
        if (g_rank == 0)
            fprintf(stderr, "[rank 0] ranks disagree on the number of start-up checks "
                            "(%" PRIu64 "..%" PRIu64 "): mismatched binaries?\n", lo_n, hi_n);
        return -1;
    }
    if (n == 0)
        return 0;
    uint64_t *v = xmalloc(n * sizeof *v), *lo = xmalloc(n * sizeof *lo),
             *hi = xmalloc(n * sizeof *hi);
    for (size_t i = 0; i < n; i++)
        v[i] = items[i].value;
    int agree = ranges_agree(v, n, lo, hi);
    if (!agree) {
        /* Every rank knows the verdict; gather the values for the message. */
        uint64_t *all = g_rank == 0 ? xmalloc((size_t)g_size * n * sizeof *all) : NULL;
        MPI_CHECK(MPI_Gather(v, (int)n, MPI_UINT64_T, all, (int)n, MPI_UINT64_T, 0,
                             MPI_COMM_WORLD));
        if (g_rank == 0) {
            for (size_t i = 0; i < n; i++) {
                if (lo[i] == hi[i])
                    continue;
                fprintf(stderr, "[rank 0] start-up check failed: ranks disagree on %s:",
                        items[i].name);
                for (int r = 0; r < g_size; r++)
                    fprintf(stderr, " rank %d = %" PRIu64 " (0x%016" PRIx64 ")%s", r,
                            all[(size_t)r * n + i], all[(size_t)r * n + i],
                            r + 1 < g_size ? "," : "\n");
            }
            fflush(stderr);
        }
        free(all);
    }
    free(v);
    free(lo);
    free(hi);
    return agree ? 0 : -1;
}

int dist_hosts(char *out, size_t cap)
{
    enum { STRIDE = MPI_MAX_PROCESSOR_NAME + 1 };
    char name[STRIDE];
    memset(name, 0, sizeof name);
    int len = 0;
    MPI_CHECK(MPI_Get_processor_name(name, &len));
    char *all = g_rank == 0 ? xmalloc((size_t)g_size * STRIDE) : NULL;
    MPI_CHECK(MPI_Gather(name, STRIDE, MPI_CHAR, all, STRIDE, MPI_CHAR, 0, MPI_COMM_WORLD));
    int hosts = 0;
    if (cap)
        out[0] = '\0';
    if (g_rank == 0) {
        hosts = hosts_format(all, STRIDE, g_size, out, cap);
        free(all);
    }
    return hosts;
}
