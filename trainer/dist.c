/* dist.c - MPI start-up, reductions and checks.  See dist.h for the
 * contract; the arithmetic lives in gradred.c and control.c so it can be
 * tested without mpirun.
 *
 * One exact step on the wire (LeNet: n = 61,706 gradient elements, the
 * tail from fc1 on is 96% of them):
 *   during the last backward  tail [from, n] as uint32 (MPI_Iallreduce),
 *                             4 bytes an element: the low 32 bits of each
 *                             rank's int64 partial sum; blocks that needed
 *                             64 bits on a recent step as int64 beside it
 *                             (a second MPI_Iallreduce: the plan, below);
 *   control all-reduce        int64: the control record, the per-rank
 *                             times, one bound per 256-element tail block
 *                             (max |partial sum| on this rank) and the head
 *                             [0, from) (conv gradients, 4%);
 *   after it                  blocks whose bounds sum to <= 2^31 - 1 are
 *                             exact from their 32-bit sums; the others not
 *                             planned wide (none on most steps) are sent
 *                             again as int64 in one more all-reduce.
 * So an exact step costs ~4.2 bytes an element against float's 4 and the
 * int64 path's 8, and yields the int64 path's sums bit for
 * bit; gradred.h has the format and why the range check is exact.  No new
 * synchronisation: the bounds ride in the control record, which every step
 * has anyway.  Without a tail in flight (no dist_grads_start) the whole
 * buffer goes as int64, as before. */
#include "dist.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "hosts.h"

static int g_rank = -1;
static int g_size = 0;

enum { HOST_STRIDE = MPI_MAX_PROCESSOR_NAME + 1 };
static char *g_hosts; /* rank 0, after dist_hosts: every rank's host name */

/* Watchdog state (see dist_watchdog_init in dist.h). */
static double g_timeout;                 /* seconds, 0 = off */
static MPI_Comm g_watch = MPI_COMM_NULL; /* arrival messages only */
static int64_t *g_arrived;               /* step each peer reported */
static MPI_Request *g_arrive_req;        /* receives, one slot per rank */
static MPI_Request *g_send_req;          /* sends of g_sent_step */
static int64_t g_sent_step;
static int g_n_send;
enum { TAG_ARRIVE = 1 };

static void abort_world(int status)
{
    MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
    exit(status ? status : 1); /* MPI_Abort should not return */
}

void dist_library_version(char *out, size_t cap)
{
    char text[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(text, &len); /* one of the calls allowed before MPI_Init */
    /* Open MPI: "Open MPI v4.1.4, package: ..." -> the first part;
     * MPICH: "MPICH Version:\t4.0.2\nMPICH Release date: ..." -> "MPICH 4.0.2". */
    text[strcspn(text, ",\n")] = '\0';
    const char *mpich = "MPICH Version:";
    if (!strncmp(text, mpich, strlen(mpich)))
        snprintf(out, cap, "MPICH %s", text + strlen(mpich) + strspn(text + strlen(mpich), " \t"));
    else
        snprintf(out, cap, "%s", text);
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
    /* stderr line-buffered: a report built by several fprintf calls leaves
     * in one write, so mpirun forwards it whole instead of interleaving it
     * with another rank's lines or its own abort banner (seen in the
     * watchdog and start-up agreement reports). */
    setvbuf(stderr, NULL, _IOLBF, BUFSIZ);
    /* FUNNELED: the micro-batch workers (train.c) are threads, but only the
     * main thread ever calls MPI. */
    int provided = MPI_THREAD_SINGLE;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS)
        die("MPI_Init_thread failed (error %d)", rc);
    if (provided < MPI_THREAD_FUNNELED)
        die("this MPI library gives thread level %d, below MPI_THREAD_FUNNELED: shardnet's "
            "worker threads need it (use an MPI built with thread support)", provided);
    /* From here on a die() must take every rank down. */
    base_set_abort_hook(abort_world);
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &g_size));
    base_set_rank(g_rank);
}

void dist_finalize(void)
{
    if (g_watch != MPI_COMM_NULL)
        MPI_CHECK(MPI_Comm_free(&g_watch));
    free(g_arrived), free(g_arrive_req), free(g_send_req), free(g_hosts);
    g_arrived = NULL, g_arrive_req = NULL, g_send_req = NULL, g_hosts = NULL;
    g_timeout = 0;
    MPI_CHECK(MPI_Finalize());
    base_set_abort_hook(NULL);
}

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }

/* An element count as MPI's int; dies when it does not fit (what names
 * the buffer in the message). */
static int mpi_count(size_t n, const char *what)
{
    if (n > (size_t)INT32_MAX)
        die("%s: %zu elements are too many for one MPI call", what, n);
    return (int)n;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The gradient all-reduce's watchdog is an interval timer: the blocking
 * MPI_Allreduce is 1.6x faster than MPI_Iallreduce here (Open MPI 4.1, 494
 * KB int64 between 2 ranks: 103 vs 165 us alone; 0.5 vs 0.9 ms a step in
 * training).  If SIGALRM arrives, the handler writes the prepared report
 * (async-signal-safe) and _exits with the watchdog code; mpirun then ends
 * the job.  No MPI call happens in the handler.  The timer runs only around
 * that all-reduce, when no oneDNN kernel runs, so its signal frame cannot
 * land on a JIT kernel's heap "stack" (see signals.h). */
static char g_alarm_text[512];
static size_t g_alarm_len;

static void alarm_fire(int sig)
{
    (void)sig;
    ssize_t w = write(STDERR_FILENO, g_alarm_text, g_alarm_len);
    (void)w;
    _exit(DIST_WATCHDOG_EXIT);
}

static void alarm_arm(double seconds)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = (time_t)seconds;
    it.it_value.tv_usec = (suseconds_t)((seconds - (double)it.it_value.tv_sec) * 1e6);
    if (setitimer(ITIMER_REAL, &it, NULL) < 0)
        die("setitimer failed for the watchdog");
}

void dist_watchdog_init(double seconds)
{
    g_timeout = seconds;
    if (seconds <= 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = alarm_fire;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) < 0)
        die("cannot install the watchdog's SIGALRM handler");
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &g_watch));
    MPI_CHECK(MPI_Comm_set_errhandler(g_watch, MPI_ERRORS_RETURN));
    g_arrived = xcalloc((size_t)g_size, sizeof *g_arrived);
    g_arrive_req = xcalloc((size_t)g_size, sizeof *g_arrive_req);
    g_send_req = xcalloc((size_t)g_size, sizeof *g_send_req);
}

/* Poll req until it completes (1) or the clock passes deadline (0).  A
 * short spin, then yields, then 50 us naps: a waiting rank must not starve
 * the ranks it waits for when they share cores. */
static int poll_until(MPI_Request *req, double deadline)
{
    for (long spins = 0;; spins++) {
        int done = 0;
        MPI_CHECK(MPI_Test(req, &done, MPI_STATUS_IGNORE));
        if (done)
            return 1;
        if (now_seconds() > deadline)
            return 0;
        /* Spin, then yield the core (a partner rank oversubscribed on it
         * runs; alone, sched_yield returns at once, so the step that
         * completes the collective is seen within microseconds); nap only
         * in long waits (a checkpoint, a stalled rank). */
        if (spins > 200)
            sched_yield();
        if (spins > 20000) {
            struct timespec nap = {0, 50000};
            nanosleep(&nap, NULL);
        }
    }
}

/* Post this rank's "arrived at step S" messages: every rank to rank 0, rank
 * 0 to every rank, so that rank 0 can name the ranks that never came and the
 * others can tell whether rank 0 came.  g_arrive_req[r] receives from rank r
 * on rank 0; elsewhere slot 0 receives from rank 0. */
static void arrivals_post(int64_t step)
{
    g_sent_step = step;
    for (int r = 0; r < g_size; r++)
        g_arrive_req[r] = MPI_REQUEST_NULL;
    g_n_send = 0;
    if (g_rank == 0) {
        g_arrived[0] = step;
        for (int r = 1; r < g_size; r++) {
            g_arrived[r] = -1;
            MPI_CHECK(MPI_Irecv(&g_arrived[r], 1, MPI_INT64_T, r, TAG_ARRIVE, g_watch,
                                &g_arrive_req[r]));
            MPI_CHECK(MPI_Isend(&g_sent_step, 1, MPI_INT64_T, r, TAG_ARRIVE, g_watch,
                                &g_send_req[g_n_send++]));
        }
    } else {
        g_arrived[0] = -1;
        MPI_CHECK(MPI_Irecv(&g_arrived[0], 1, MPI_INT64_T, 0, TAG_ARRIVE, g_watch,
                            &g_arrive_req[0]));
        MPI_CHECK(MPI_Isend(&g_sent_step, 1, MPI_INT64_T, 0, TAG_ARRIVE, g_watch,
                            &g_send_req[g_n_send++]));
    }
}

/* After the collective completed every rank had arrived, so every message
 * was sent and these complete at once. */
static void arrivals_finish(void)
{
    MPI_CHECK(MPI_Waitall(g_size, g_arrive_req, MPI_STATUSES_IGNORE));
    MPI_CHECK(MPI_Waitall(g_n_send, g_send_req, MPI_STATUSES_IGNORE));
}

/* Append ", r (host h)" to a list. */
static void list_rank(char *buf, size_t cap, size_t *len, int r)
{
    if (*len >= cap)
        return;
    int n = snprintf(buf + *len, cap - *len, "%s%d", *len ? ", " : "", r);
    *len += n > 0 ? (size_t)n : 0;
    if (g_hosts && *len < cap) {
        n = snprintf(buf + *len, cap - *len, " (host %s)", g_hosts + (size_t)r * HOST_STRIDE);
        *len += n > 0 ? (size_t)n : 0;
    }
}

/* The deadline passed: report and take every rank down.  arrivals: whether
 * this collective had arrival messages.  Never returns. */
static void watchdog_fire(const char *what, int64_t step)
{
    char late[2048] = "";
    size_t len = 0;
    for (int r = 0; r < g_size; r++) {
        if (g_rank != 0 && r != 0)
            continue; /* only rank 0 hears from everyone */
        int done = 1;
        if (g_arrive_req[r] != MPI_REQUEST_NULL)
            MPI_Test(&g_arrive_req[r], &done, MPI_STATUS_IGNORE);
        if (!done || g_arrived[r] != step)
            list_rank(late, sizeof late, &len, r);
    }
    fprintf(stderr, "[rank %d] shardnet train: watchdog: step %lld: the %s did not complete "
                    "within %g s; ", g_rank, (long long)step, what, g_timeout);
    if (len && g_rank == 0)
        fprintf(stderr, "late rank(s), not arrived at step %lld: %s", (long long)step, late);
    else if (len)
        fprintf(stderr, "late rank(s), not arrived at step %lld: %s (rank 0 tracks the others "
                        "and is itself late)", (long long)step, late);
    else if (g_rank == 0)
        fprintf(stderr, "every rank arrived at it, so the network stalled");
    else
        fprintf(stderr, "rank 0 arrived and names the late ranks");
    fprintf(stderr, "; aborting all ranks\n");
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, DIST_WATCHDOG_EXIT);
    exit(DIST_WATCHDOG_EXIT);
}

/* Rank 0 fires first; rank r > 0 r grace periods later, so that the report
 * naming the late ranks is printed before MPI_Abort takes everyone down, and
 * so that normally ONE rank aborts: Open MPI 4.1's runtime was seen to crash
 * (SIGSEGV in its PMIx log path, exit 139 instead of 4) when several ranks
 * call MPI_Abort at the same moment. */
static double watchdog_deadline(double start)
{
    double grace = g_timeout / 4 > 2.0 ? g_timeout / 4 : 2.0;
    return start + g_timeout + grace * g_rank;
}

/* The gradient buffer in parts (see dist_grads_start in dist.h): the tail
 * [g_grad_from, len) in flight when g_grad_from > 0 (MPI_Test sets the
 * request to MPI_REQUEST_NULL once it completes, so the request alone cannot
 * tell), and whether the head [0, g_grad_from) rode in the control
 * all-reduce. */
static MPI_Request g_grad_req = MPI_REQUEST_NULL;
static size_t g_grad_from;
static int g_head_done;
static int64_t *g_stage; /* control record + head, summed together */
static size_t g_stage_cap;

static MPI_Datatype grad_type(const GradReducer *r)
{
    return r->mode == REDUCE_EXACT ? MPI_INT64_T : MPI_FLOAT;
}

/* The 32-bit wire of an exact tail (see gradred.h): the low 32 bits of
 * this rank's partial sums, summed as MPI_UINT32_T in flight, and one bound
 * per block, this rank's until the control all-reduce sums them (then
 * g_bounds_summed).
 *
 * Blocks that needed 64 bits lately go as int64 from the start, in a second
 * all-reduce beside the 32-bit one, instead of 32 bits first and 64 again
 * after the control record (12 bytes an element and one more round trip):
 * g_hot[b] > 0 plans block b wide.  A block whose summed bound did not fit
 * becomes hot for DIST_WIRE_HOLD taken steps (a gradient that was large
 * tends to stay large for a while); each taken step that it fits counts it
 * down.  The plan is a function of summed bounds only, which every rank
 * holds alike, so every rank sends the same layout; it changes the bytes,
 * never the sums (a planned-wide block is the int64 sum itself).  It
 * restarts empty in every process (a resume, a restart).
 *
 * Buffers: g_wire (uint32, the planned-narrow blocks packed in order),
 * g_plan_stage (int64, the planned-wide blocks packed in order, summed in
 * flight), g_wide_stage (int64, blocks resent after the control record). */
enum { DIST_WIRE_HOLD = 8 };
static uint32_t *g_wire;
static int64_t *g_bounds;
static size_t g_n_blocks, g_wire_cap, g_bounds_cap;
static int g_wire_on, g_bounds_summed;
static unsigned char *g_hot;
static size_t g_hot_blocks; /* blocks g_hot describes (0: no plan yet) */
static size_t *g_wide;
static int64_t *g_wide_stage, *g_plan_stage;
static size_t g_plan_elems; /* int64 elements sent by plan this step */
static MPI_Request g_plan_req = MPI_REQUEST_NULL;
static DistWireStats g_stats;
static long g_force_wide = -1; /* SHARDNET_TEST_FORCE_WIDE, read once; 0 = off */

/* Test-only: SHARDNET_TEST_FORCE_WIDE=N makes this rank report an out-of-
 * range bound for every block of every N-th exact tail, and plan none of
 * them wide, so that all ranks resend the whole tail in 64 bits on those
 * steps (one rank is enough: the bounds are summed). */
static int force_wide_now(void)
{
    if (g_force_wide < 0) {
        const char *s = getenv("SHARDNET_TEST_FORCE_WIDE");
        char *end = NULL;
        g_force_wide = 0;
        if (s && *s) {
            long v = strtol(s, &end, 10);
            if (*end || v < 1)
                die("SHARDNET_TEST_FORCE_WIDE='%s': expected a whole number of steps >= 1 "
                    "(test-only: every N-th step resends its gradient sums in 64 bits); "
                    "unset it for normal runs", s);
            g_force_wide = v;
        }
    }
    return g_force_wide > 0;
}

static size_t block_len(size_t b, size_t n)
{
    size_t first = b * GRADRED_WIRE_BLOCK;
    return first + GRADRED_WIRE_BLOCK < n ? GRADRED_WIRE_BLOCK : n - first;
}

static void wire_start(GradReducer *r, size_t from)
{
    size_t n = gradred_buffer_len(r) - from;
    if (g_wire_cap < n) {
        free(g_wire);
        g_wire = xaligned(n * sizeof *g_wire);
        g_wire_cap = n;
    }
    g_n_blocks = gradred_wire_blocks(n);
    if (g_bounds_cap < g_n_blocks) {
        free(g_bounds), free(g_wide), free(g_wide_stage), free(g_plan_stage), free(g_hot);
        g_bounds = xmalloc(g_n_blocks * sizeof *g_bounds);
        g_wide = xmalloc(g_n_blocks * sizeof *g_wide);
        g_wide_stage = xmalloc(g_n_blocks * GRADRED_WIRE_BLOCK * sizeof *g_wide_stage);
        g_plan_stage = xmalloc(g_n_blocks * GRADRED_WIRE_BLOCK * sizeof *g_plan_stage);
        g_hot = xmalloc(g_n_blocks);
        g_bounds_cap = g_n_blocks;
        g_hot_blocks = 0;
    }
    if (g_hot_blocks != g_n_blocks) { /* another split: no plan */
        memset(g_hot, 0, g_n_blocks);
        g_hot_blocks = g_n_blocks;
    }
    int64_t *tail = r->acc + from;
    gradred_wire_pack(tail, n, g_wire, g_bounds);
    int forced = force_wide_now() && (g_stats.wire_steps + 1) % g_force_wide == 0;
    /* Compact: planned-narrow blocks stay in g_wire (moved down over the
     * gaps), planned-wide ones go to g_plan_stage as int64. */
    size_t at = 0;
    g_plan_elems = 0;
    for (size_t b = 0; b < g_n_blocks; b++) {
        size_t first = b * GRADRED_WIRE_BLOCK, len = block_len(b, n);
        if (forced)
            g_bounds[b] = GRADRED_WIRE_CLAMP;
        if (g_hot[b] && !forced) {
            memcpy(g_plan_stage + g_plan_elems, tail + first, len * sizeof *tail);
            g_plan_elems += len;
        } else {
            memmove(g_wire + at, g_wire + first, len * sizeof *g_wire);
            at += len;
        }
    }
    g_wire_on = 1;
    g_bounds_summed = 0;
    if (at)
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, g_wire, mpi_count(at, "gradient buffer"),
                                 MPI_UINT32_T, MPI_SUM, MPI_COMM_WORLD, &g_grad_req));
    if (g_plan_elems)
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, g_plan_stage,
                                 mpi_count(g_plan_elems, "gradient buffer"), MPI_INT64_T,
                                 MPI_SUM, MPI_COMM_WORLD, &g_plan_req));
}

void dist_grads_start(GradReducer *r, size_t from)
{
    if (g_grad_from)
        die("dist_grads_start: a gradient all-reduce is already in flight");
    size_t len = gradred_buffer_len(r);
    if (from == 0 || from >= len)
        die("dist_grads_start: element %zu of a %zu-element buffer", from, len);
    g_grad_from = from;
    if (r->mode == REDUCE_EXACT) {
        wire_start(r, from);
        return;
    }
    char *tail = (char *)gradred_buffer(r) + from * gradred_elem_size(r);
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, tail, mpi_count(len - from, "gradient buffer"),
                             grad_type(r), MPI_SUM, MPI_COMM_WORLD, &g_grad_req));
}

/* The tail's sums are in (both requests completed): planned-wide blocks
 * are their int64 sums; every other block whose summed bound fits becomes
 * its exact sum from the 32-bit one; the rest are summed again from this
 * rank's int64 partial sums, which the sends left untouched, in one
 * all-reduce of the packed blocks.  Every rank holds the same summed bounds
 * and plan, so every rank takes the same blocks down the same path.  Then
 * the plan for the next step. */
static void wire_finish(GradReducer *r, int64_t step)
{
    int64_t *tail = r->acc + g_grad_from;
    size_t n = gradred_buffer_len(r) - g_grad_from;
    if (!g_bounds_summed)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, g_bounds, mpi_count(g_n_blocks, "wire bounds"),
                                MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    int forced = g_force_wide > 0 && (g_stats.wire_steps + 1) % g_force_wide == 0;
    size_t n_wide = 0, wide_elems = 0, at = 0, at_plan = 0, planned = 0;
    int64_t worst = 0;
    for (size_t b = 0; b < g_n_blocks; b++) {
        size_t first = b * GRADRED_WIRE_BLOCK, len = block_len(b, n);
        int fits = gradred_wire_fits(g_bounds[b]);
        if (g_hot[b] && !forced) {
            memcpy(tail + first, g_plan_stage + at_plan, len * sizeof *tail);
            at_plan += len;
            planned++;
        } else if (fits) {
            gradred_wire_unpack(g_wire + at, len, tail + first);
            at += len;
        } else {
            memcpy(g_wide_stage + wide_elems, tail + first, len * sizeof *tail);
            wide_elems += len;
            at += len;
            g_wide[n_wide++] = b;
            worst = g_bounds[b] > worst ? g_bounds[b] : worst;
        }
        if (forced)
            continue; /* a forced step teaches the plan nothing */
        if (!fits)
            g_hot[b] = DIST_WIRE_HOLD;
        else if (g_hot[b])
            g_hot[b]--;
    }
    g_stats.wire_steps++;
    g_stats.blocks += (int64_t)g_n_blocks;
    g_stats.planned_blocks += (int64_t)planned;
    g_stats.bytes_last += (int64_t)(at * sizeof *g_wire + at_plan * sizeof *g_plan_stage +
                                    g_n_blocks * sizeof *g_bounds);
    if (!n_wide)
        return;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, g_wide_stage, mpi_count(wide_elems, "wide blocks"),
                            MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    for (size_t k = 0, pos = 0; k < n_wide; k++) {
        size_t first = g_wide[k] * GRADRED_WIRE_BLOCK, len = block_len(g_wide[k], n);
        memcpy(tail + first, g_wide_stage + pos, len * sizeof *tail);
        pos += len;
    }
    g_stats.wide_steps++;
    g_stats.wide_blocks += (int64_t)n_wide;
    g_stats.bytes_last += (int64_t)(wide_elems * sizeof *g_wide_stage);
    /* A resend costs time, not exactness: the run's summary line counts
     * them; the steps themselves are named only under the test switch. */
    if (g_rank == 0 && g_force_wide > 0 && g_stats.wide_steps <= DIST_WIRE_LOG_STEPS)
        fprintf(stderr, "shardnet train: step %lld: %zu of %zu blocks of the exact gradient sum "
                        "may exceed 32 bits (bound %lld > 2^31 - 1): resent in 64 bits, same "
                        "result%s\n", (long long)step, n_wide, g_n_blocks, (long long)worst,
                g_stats.wide_steps == DIST_WIRE_LOG_STEPS ? " (further such steps are only "
                                                            "counted)" : "");
}

const DistWireStats *dist_wire_stats(void) { return &g_stats; }

void dist_grads_progress(void)
{
    int done = 0;
    if (g_grad_req != MPI_REQUEST_NULL)
        MPI_CHECK(MPI_Test(&g_grad_req, &done, MPI_STATUS_IGNORE));
    if (g_plan_req != MPI_REQUEST_NULL)
        MPI_CHECK(MPI_Test(&g_plan_req, &done, MPI_STATUS_IGNORE));
}

/* Wait for the part in flight (if any) and forget the split: after it the
 * whole buffer holds the sums again, or is dropped. */
static void grads_settle(void)
{
    if (g_grad_req != MPI_REQUEST_NULL)
        MPI_CHECK(MPI_Wait(&g_grad_req, MPI_STATUS_IGNORE));
    if (g_plan_req != MPI_REQUEST_NULL)
        MPI_CHECK(MPI_Wait(&g_plan_req, MPI_STATUS_IGNORE));
    g_grad_from = 0;
    g_head_done = 0;
    g_wire_on = 0;
    g_bounds_summed = 0;
}

void dist_grads_discard(void) { grads_settle(); }

void dist_allreduce_grads(GradReducer *r, float *mean_out, int64_t step)
{
    if (r->status != GRADRED_OK)
        die("dist_allreduce_grads called after a failed gradred_add (status %d)", r->status);
    size_t head = g_head_done ? 0 : g_grad_from ? g_grad_from : gradred_buffer_len(r);
    if (g_timeout > 0) {
        /* Every rank passed this step's control all-reduce together and
         * comes straight here, so no rank can be behind in the program; a
         * hang here is the transport's (no arrival messages needed). */
        int n = snprintf(g_alarm_text, sizeof g_alarm_text,
                         "[rank %d] shardnet train: watchdog: step %lld: the gradient all-reduce "
                         "did not complete within %g s; every rank passed this step's control "
                         "all-reduce, so a host or the network stalled; exiting\n",
                         g_rank, (long long)step, g_timeout);
        g_alarm_len = n > 0 && (size_t)n < sizeof g_alarm_text ? (size_t)n : 0;
        alarm_arm(watchdog_deadline(0.0));
    }
    g_stats.steps++;
    g_stats.bytes_last = (int64_t)(head * gradred_elem_size(r));
    if (head > 0)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, gradred_buffer(r),
                                mpi_count(head, "gradient buffer"), grad_type(r), MPI_SUM,
                                MPI_COMM_WORLD));
    else if (g_head_done)
        g_stats.bytes_last = (int64_t)(g_grad_from * gradred_elem_size(r));
    if (g_wire_on) {
        if (g_grad_req != MPI_REQUEST_NULL)
            MPI_CHECK(MPI_Wait(&g_grad_req, MPI_STATUS_IGNORE));
        if (g_plan_req != MPI_REQUEST_NULL)
            MPI_CHECK(MPI_Wait(&g_plan_req, MPI_STATUS_IGNORE));
        wire_finish(r, step);
    } else if (g_grad_from) {
        g_stats.bytes_last += (int64_t)((gradred_buffer_len(r) - g_grad_from) *
                                        gradred_elem_size(r));
    }
    grads_settle(); /* the tail's sums are final now */
    if (g_timeout > 0)
        alarm_arm(0.0);
    if (gradred_finish(r, mean_out))
        die("%s", base_error());
}

double dist_probe_grads(GradReducer *r, int reps)
{
    gradred_reset(r); /* sums of zeros: no overflow however often */
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    double start = now_seconds();
    for (int i = 0; i < reps; i++)
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, gradred_buffer(r),
                                mpi_count(gradred_buffer_len(r), "gradient buffer"),
                                grad_type(r), MPI_SUM, MPI_COMM_WORLD));
    return now_seconds() - start;
}

/* The control record, the per-rank slots, and the head of r's buffer when
 * it can ride along: a tail is in flight and the sums are int64 like the
 * record's. */
static int64_t *control_stage(Control *c, int64_t *slots, size_t n_slots, GradReducer *r,
                              size_t *count, size_t *head, size_t *bounds)
{
    *head = r && g_grad_from && r->mode == REDUCE_EXACT ? g_grad_from : 0;
    *bounds = *head && g_wire_on && !g_bounds_summed ? g_n_blocks : 0;
    *count = CONTROL_N + n_slots + *bounds + *head;
    if (*count == CONTROL_N)
        return (int64_t *)c;
    if (g_stage_cap < *count) {
        free(g_stage);
        g_stage = xmalloc(*count * sizeof *g_stage);
        g_stage_cap = *count;
    }
    memcpy(g_stage, c, sizeof *c);
    if (n_slots)
        memcpy(g_stage + CONTROL_N, slots, n_slots * sizeof *slots);
    if (*bounds)
        memcpy(g_stage + CONTROL_N + n_slots, g_bounds, *bounds * sizeof *g_bounds);
    if (*head)
        memcpy(g_stage + CONTROL_N + n_slots + *bounds, r->acc, *head * sizeof *r->acc);
    return g_stage;
}

void dist_control_allreduce(Control *c, int64_t *slots, size_t n_slots, GradReducer *r,
                            int64_t step)
{
    size_t len, head, bounds;
    int64_t *buf = control_stage(c, slots, n_slots, r, &len, &head, &bounds);
    int count = mpi_count(len, "control record");
    if (g_timeout <= 0) {
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    } else {
        double start = now_seconds();
        arrivals_post(step);
        MPI_Request req;
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf, count, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD,
                                 &req));
        if (!poll_until(&req, watchdog_deadline(start)))
            watchdog_fire("control all-reduce", step);
        arrivals_finish();
    }
    if (buf != (int64_t *)c) {
        memcpy(c, buf, sizeof *c);
        if (n_slots)
            memcpy(slots, buf + CONTROL_N, n_slots * sizeof *slots);
        if (bounds) {
            memcpy(g_bounds, buf + CONTROL_N + n_slots, bounds * sizeof *g_bounds);
            g_bounds_summed = 1;
        }
        if (head) {
            memcpy(r->acc, buf + CONTROL_N + n_slots + bounds, head * sizeof *r->acc);
            g_head_done = 1;
        }
    }
}

void dist_sum_i64(int64_t *buf, size_t n)
{
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, mpi_count(n, "dist_sum_i64"), MPI_INT64_T,
                            MPI_SUM, MPI_COMM_WORLD));
}

void dist_max_f64(double *value)
{
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, value, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
}

void dist_max_i64(int64_t *buf, size_t n)
{
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, mpi_count(n, "dist_max_i64"), MPI_INT64_T,
                            MPI_MAX, MPI_COMM_WORLD));
}

void dist_gather_bytes(const void *mine, size_t n, void *all)
{
    int count = mpi_count(n, "dist_gather_bytes");
    MPI_CHECK(MPI_Gather(mine, count, MPI_BYTE, all, count, MPI_BYTE, 0, MPI_COMM_WORLD));
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
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, mpi_count(2 * n, "start-up checks"), MPI_UINT64_T,
                            MPI_MAX, MPI_COMM_WORLD));
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
    enum { STRIDE = HOST_STRIDE };
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
        free(g_hosts);
        g_hosts = all; /* kept for watchdog messages */
    }
    return hosts;
}
