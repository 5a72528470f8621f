/* mpi_reduce_check.c - the gradient and control all-reduces under a real
 * mpirun.  Not cmocka: every rank runs the checks, the failure count is
 * summed over ranks, rank 0 prints "N passed, M failed" and every rank exits
 * 1 if anything failed.
 *
 * The data: a fixed GLOBAL set of K = 16 micro-batch gradients of N floats;
 * micro-batch j's gradient and loss depend only on j (splitmix64 seeded
 * with j), so the whole set is the same for any world size P.  Rank r takes
 * the contiguous share j in [r K/P, (r+1) K/P).  Every rank can also build
 * the whole set alone, which gives a single-process reference.
 *
 *   mpi_reduce_check [--reduce exact|float] [--case CASE]
 *   reduce     (default) one step: the reduced mean must equal the local
 *              reference bit for bit (exact) or within the float error bound
 *              (float), control sums must be exact, all ranks must hold the
 *              same result; rank 0 prints "result hash 0x...", which the
 *              driver script compares across P.
 *   wire       three steps through the 32-bit wire of an exact tail (see
 *              the case in main): equal to the reference bit for bit, the
 *              expected blocks resent in 64 bits, then planned wide;
 *              "result hash" as above.
 *   nonfinite  micro-batch K-1 (last rank) is NaN in step 1: every rank sees
 *              the flag and skips the step together; step 2 is clean and
 *              must match the reference.
 *   overflow   micro-batch 5 holds 1e9 (beyond 2^27, the range for K = 16):
 *              all ranks stop together and exit 1, the owning rank naming
 *              the element (a failure run by design).
 *   mismatch   the last rank reports another parameter count: the start-up
 *              agreement fails, rank 0 names it, every rank exits 1.
 *   die        the last rank dies while the others wait in a barrier: the
 *              abort hook (MPI_Abort) must end them all, non-zero.
 *   mpierror   an MPI call with an invalid count: with MPI_ERRORS_RETURN,
 *              MPI_CHECK dies naming the call and the MPI error string. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "control.h"
#include "dist.h"
#include "gradred.h"
#include "hash.h"

enum { K = 16, N = 5003, M = 32 /* samples per micro-batch */ };

static int g_passed, g_failed;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (cond) {                                                           \
            g_passed++;                                                       \
        } else {                                                              \
            g_failed++;                                                       \
            fprintf(stderr, "[rank %d] FAILED %s:%d: ", dist_rank(), __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1p-53; }

/* The wire case: elements [WIDE_FIRST, WIDE_LAST) keep magnitudes up to 10
 * in steps 1 and 2 (their sums need 64 bits), every other element is 1e-4
 * times smaller (sums of 16 stay below 2^-8, far inside 32 bits). */
enum { WIDE_FIRST = 1000, WIDE_LAST = 1300, TAIL_FROM = 700 };
static int g_wire_case;

/* Micro-batch j of step `step`: log-uniform magnitudes 1e-9..10, random
 * signs.  Depends only on (step, j). */
static void make_grad(int step, int j, float *g)
{
    uint64_t s = (uint64_t)step * 1000003u + (uint64_t)j;
    for (size_t i = 0; i < N; i++) {
        double mag = pow(10.0, -9.0 + 10.0 * rng_unit(&s));
        if (g_wire_case && (step > 2 || i < WIDE_FIRST || i >= WIDE_LAST))
            mag *= 1e-4;
        g[i] = (float)((rng_next(&s) & 1) ? mag : -mag);
    }
}

static float make_loss(int step, int j)
{
    uint64_t s = UINT64_C(0xabcdef) + (uint64_t)step * 7919u + (uint64_t)j;
    return (float)(0.1 + 3.0 * rng_unit(&s));
}

static int make_correct(int j) { return (j * 7) % (M + 1); }

/* The whole step in one process: the reference every rank can compute. */
static void reference(int step, ReduceMode mode, float *mean, double *sum_abs)
{
    GradReducer r;
    float *g = xmalloc(N * sizeof *g);
    if (gradred_init(&r, N, mode, K))
        die("%s", base_error());
    for (size_t i = 0; i < N; i++)
        sum_abs[i] = 0;
    for (int j = 0; j < K; j++) {
        make_grad(step, j, g);
        for (size_t i = 0; i < N; i++)
            sum_abs[i] += fabs((double)g[i]);
        if (gradred_add(&r, g) != GRADRED_OK)
            die("reference: %s", base_error());
    }
    if (gradred_finish(&r, mean))
        die("reference: %s", base_error());
    gradred_free(&r);
    free(g);
}

/* This rank's share of one step: adds its micro-batches to r and c.
 * poison_j (or -1) gets value `poison` in element 17. */
static int local_step(int step, GradReducer *r, Control *c, int poison_j, float poison)
{
    int P = dist_size(), rank = dist_rank(), status = GRADRED_OK;
    float *g = xmalloc(N * sizeof *g);
    gradred_reset(r);
    control_reset(c);
    for (int j = rank * K / P; j < (rank + 1) * K / P; j++) {
        make_grad(step, j, g);
        if (j == poison_j)
            g[17] = poison;
        int s = gradred_add(r, g);
        if (s != GRADRED_OK && status == GRADRED_OK) {
            status = s;
            fprintf(stderr, "[rank %d] step %d: %s\n", rank, step, base_error());
        }
        control_note_grad_status(c, s);
        control_add_microbatch(c, make_loss(step, j), make_correct(j), M);
    }
    free(g);
    return status;
}

static void check_result(int step, ReduceMode mode, const float *mean)
{
    float *ref = xmalloc(N * sizeof *ref);
    double *sum_abs = xmalloc(N * sizeof *sum_abs);
    reference(step, REDUCE_EXACT, ref, sum_abs);
    if (mode == REDUCE_EXACT) {
        size_t bad = N;
        for (size_t i = 0; i < N && bad == N; i++)
            if (memcmp(&mean[i], &ref[i], sizeof *ref))
                bad = i;
        CHECK(bad == N, "exact mean differs from the single-process reference at element "
              "%zu: %.9g vs %.9g", bad, bad < N ? (double)mean[bad] : 0.0,
              bad < N ? (double)ref[bad] : 0.0);
    } else {
        /* Float summation of K terms errs by at most (K-1) u sum|g| (u =
         * 2^-24), /K, plus the rounding of the division; the reference is
         * within 2^-33 + 1 ulp of the true mean. */
        size_t bad = N;
        double worst = 0;
        for (size_t i = 0; i < N; i++) {
            double bound = (K * 0x1p-24 * sum_abs[i]) / K + 0x1p-22 * fabs((double)ref[i]) +
                           0x1p-32;
            double err = fabs((double)mean[i] - (double)ref[i]);
            if (!(err <= bound) && bad == N)
                bad = i;
            worst = fmax(worst, err);
        }
        CHECK(bad == N, "float mean element %zu is %.9g, reference %.9g: beyond the float "
              "error bound", bad, bad < N ? (double)mean[bad] : 0.0,
              bad < N ? (double)ref[bad] : 0.0);
        if (dist_rank() == 0)
            printf("float mode: largest difference from the exact mean %.3g\n", worst);
    }
    free(ref);
    free(sum_abs);
}

static void check_control(int step, const Control *c)
{
    Control want;
    control_reset(&want);
    for (int j = 0; j < K; j++)
        control_add_microbatch(&want, make_loss(step, j), make_correct(j), M);
    CHECK(c->loss_fixed == want.loss_fixed, "control loss sum %" PRId64 ", want %" PRId64,
          c->loss_fixed, want.loss_fixed);
    CHECK(c->correct == want.correct, "control correct %" PRId64 ", want %" PRId64,
          c->correct, want.correct);
    CHECK(c->samples == (int64_t)K * M, "control samples %" PRId64, c->samples);
    CHECK(c->microbatches == K, "control micro-batches %" PRId64, c->microbatches);
    CHECK(c->stop_ranks == 0, "stop requested by %" PRId64 " ranks", c->stop_ranks);
}

/* Every rank must hold the same bits. */
static uint64_t check_same_everywhere(const float *mean)
{
    uint64_t h = hash_floats(mean, N);
    Agreement a = {"reduced mean gradient hash", h};
    CHECK(dist_check_agreement(&a, 1) == 0, "ranks hold different reduced gradients");
    return h;
}

static int finish(void)
{
    int64_t counts[2] = {g_passed, g_failed};
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    if (dist_rank() == 0)
        printf("%" PRId64 " passed, %" PRId64 " failed (summed over %d ranks)\n", counts[0],
               counts[1], dist_size());
    fflush(stdout);
    dist_finalize();
    return counts[1] || counts[0] == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    dist_init(&argc, &argv);
    ReduceMode mode = REDUCE_EXACT;
    const char *which = "reduce";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reduce") && i + 1 < argc) {
            i++;
            if (!strcmp(argv[i], "float"))
                mode = REDUCE_FLOAT;
            else if (strcmp(argv[i], "exact"))
                die("--reduce: '%s' is not exact|float", argv[i]);
        } else if (!strcmp(argv[i], "--case") && i + 1 < argc) {
            which = argv[++i];
        } else {
            die("usage: mpi_reduce_check [--reduce exact|float] "
                "[--case reduce|wire|nonfinite|overflow|mismatch|die|mpierror]");
        }
    }
    int P = dist_size(), rank = dist_rank();
    if (K % P)
        die("%d ranks do not divide the %d micro-batches", P, K);

    char hosts[1024];
    dist_hosts(hosts, sizeof hosts);
    if (rank == 0)
        printf("%s\n", hosts);

    /* Start-up agreement, as the trainer does it. */
    Agreement agree[] = {
        {"config hash", hash_string("mpi_reduce_check v1")},
        {"dataset size", 60000},
        {"parameter count", !strcmp(which, "mismatch") && rank == P - 1 && P > 1 ? N + 1 : N},
    };
    if (dist_check_agreement(agree, sizeof agree / sizeof agree[0])) {
        fprintf(stderr, "[rank %d] start-up agreement failed: exiting\n", rank);
        dist_finalize();
        return 1;
    }
    CHECK(strcmp(which, "mismatch") || P == 1, "mismatch case passed the agreement");

    GradReducer r;
    Control c;
    float *mean = xmalloc(N * sizeof *mean);
    if (gradred_init(&r, N, mode, K))
        die("%s", base_error());

    if (!strcmp(which, "reduce")) {
        local_step(1, &r, &c, -1, 0);
        dist_control_allreduce(&c, NULL, 0, NULL, 0);
        check_control(1, &c);
        CHECK(c.nonfinite_ranks == 0 && c.overflow_ranks == 0, "unexpected flags");
        dist_allreduce_grads(&r, mean, 0);
        check_result(1, mode, mean);
        uint64_t h = check_same_everywhere(mean);
        if (rank == 0)
            printf("result hash 0x%016" PRIx64 " (%s, P=%d)\n", h,
                   mode == REDUCE_EXACT ? "exact" : "float", P);
    } else if (!strcmp(which, "wire")) {
        /* The 32-bit wire: the tail [TAIL_FROM, N] in flight before the
         * control all-reduce, as the trainer does it.  Step 1: the bounds
         * ride in the control record, the blocks holding [WIDE_FIRST,
         * WIDE_LAST) go again in 64 bits; step 2: the same data without a
         * control record in between (dist_allreduce_grads sums the bounds
         * itself), those blocks now planned wide (sent in 64 bits from the
         * start), none resent; step 3: every block would fit, those blocks
         * are still planned wide.  Each step must equal the single-process
         * int64 reference bit for bit. */
        g_wire_case = 1;
        const int64_t want_wide = (WIDE_LAST - 1 - TAIL_FROM) / GRADRED_WIRE_BLOCK -
                                  (WIDE_FIRST - TAIL_FROM) / GRADRED_WIRE_BLOCK + 1;
        const int64_t blocks = (int64_t)gradred_wire_blocks(N + 1 - TAIL_FROM);
        uint64_t h = 0;
        for (int step = 1; step <= 3; step++) {
            DistWireStats before = *dist_wire_stats();
            local_step(step, &r, &c, -1, 0);
            dist_grads_start(&r, TAIL_FROM);
            if (step != 2)
                dist_control_allreduce(&c, NULL, 0, &r, step);
            dist_allreduce_grads(&r, mean, step);
            check_result(step, mode, mean);
            h ^= check_same_everywhere(mean) * (uint64_t)step;
            const DistWireStats *w = dist_wire_stats();
            CHECK(w->wire_steps == before.wire_steps + 1, "step %d: no 32-bit tail", step);
            CHECK(w->blocks == before.blocks + blocks, "step %d: %" PRId64 " blocks, want %"
                  PRId64, step, w->blocks - before.blocks, blocks);
            int64_t wide = w->wide_blocks - before.wide_blocks;
            int64_t planned = w->planned_blocks - before.planned_blocks;
            CHECK(wide == (step == 1 ? want_wide : 0), "step %d: %" PRId64 " blocks resent in "
                  "64 bits, want %" PRId64, step, wide, step == 1 ? want_wide : 0);
            CHECK(planned == (step == 1 ? 0 : want_wide), "step %d: %" PRId64 " blocks sent "
                  "in 64 bits by plan, want %" PRId64, step, planned, step == 1 ? 0 : want_wide);
            if (rank == 0)
                printf("step %d: %" PRId64 " of %" PRId64 " blocks resent in 64 bits, %" PRId64
                       " sent so by plan, %" PRId64 " bytes from rank 0\n", step, wide, blocks,
                       planned, w->bytes_last);
        }
        if (rank == 0)
            printf("result hash 0x%016" PRIx64 " (wire, P=%d)\n", h, P);
    } else if (!strcmp(which, "nonfinite")) {
        local_step(1, &r, &c, K - 1, NAN);
        dist_control_allreduce(&c, NULL, 0, NULL, 0);
        CHECK(c.nonfinite_ranks == 1, "rank %d sees %" PRId64 " non-finite ranks, want 1",
              rank, c.nonfinite_ranks);
        if (c.nonfinite_ranks == 0) /* everybody branches on the same value */
            dist_allreduce_grads(&r, mean, 0);
        else if (rank == 0)
            printf("step 1: non-finite gradient on %" PRId64 " rank(s): skipped by all\n",
                   c.nonfinite_ranks);
        local_step(2, &r, &c, -1, 0);
        dist_control_allreduce(&c, NULL, 0, NULL, 0);
        check_control(2, &c);
        CHECK(c.nonfinite_ranks == 0, "step 2 flagged non-finite");
        dist_allreduce_grads(&r, mean, 0);
        check_result(2, mode, mean);
        check_same_everywhere(mean);
    } else if (!strcmp(which, "overflow")) {
        local_step(1, &r, &c, 5, 1e9f);
        dist_control_allreduce(&c, NULL, 0, NULL, 0);
        CHECK(c.overflow_ranks == 1, "rank %d sees %" PRId64 " overflowing ranks, want 1", rank,
              c.overflow_ranks);
        if (c.overflow_ranks > 0) {
            if (rank == 0)
                fprintf(stderr, "[rank 0] step 1: gradient beyond the exact-reduce range on "
                                "%" PRId64 " rank(s): all ranks stop\n", c.overflow_ranks);
            free(mean);
            gradred_free(&r);
            finish();
            return 1; /* a stop is a failure exit, whatever the checks say */
        }
    } else if (!strcmp(which, "die")) {
        if (rank == P - 1)
            die("deliberate failure on the last rank");
        MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
        CHECK(0, "the barrier returned although rank %d died", P - 1);
    } else if (!strcmp(which, "mpierror")) {
        int64_t x = 0;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &x, -1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
        CHECK(0, "an MPI call with count -1 did not fail");
    } else if (strcmp(which, "mismatch")) {
        die("unknown case '%s'", which);
    }
    free(mean);
    gradred_free(&r);
    return finish();
}
