/* test_dist_fixed.c - the arithmetic of the exact gradient all-reduce,
 * without MPI: fixed-point conversion, order independence, the round-trip
 * error bound, overflow and non-finite detection; the control record; the
 * FNV-1a hash; the host summary. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "control.h"
#include "gradred.h"
#include "hash.h"
#include "hosts.h"

/* splitmix64: a fixed pseudo-random stream, the same on every host. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Signed, log-uniform magnitudes from 1e-9 to 10: the spread of real
 * gradients, where float sums depend on order. */
static float rng_grad(uint64_t *s)
{
    double u = (double)(rng_next(s) >> 11) * 0x1p-53;
    double mag = pow(10.0, -9.0 + 10.0 * u);
    return (float)((rng_next(s) & 1) ? mag : -mag);
}

enum { N = 1000, K = 64 };

static float *make_grads(uint64_t seed)
{
    float *g = xmalloc((size_t)K * N * sizeof *g);
    for (size_t i = 0; i < (size_t)K * N; i++)
        g[i] = rng_grad(&seed);
    return g;
}

static void test_to_fixed_values(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(gradred_to_fixed(1.0f, 31, &v), GRADRED_OK);
    assert_true(v == INT64_C(1) << 32);
    assert_int_equal(gradred_to_fixed(-0.5f, 31, &v), GRADRED_OK);
    assert_true(v == -(INT64_C(1) << 31));
    /* Ties round to even: 0.5 -> 0, 1.5 -> 2, -1.5 -> -2 (units of 2^-32). */
    assert_int_equal(gradred_to_fixed(0x1p-33f, 31, &v), GRADRED_OK);
    assert_true(v == 0);
    assert_int_equal(gradred_to_fixed(0x3p-33f, 31, &v), GRADRED_OK);
    assert_true(v == 2);
    assert_int_equal(gradred_to_fixed(-0x3p-33f, 31, &v), GRADRED_OK);
    assert_true(v == -2);
    assert_true(gradred_from_fixed(INT64_C(3) << 32, 2.0) == 1.5f);
    assert_true(gradred_from_fixed(-(INT64_C(1) << 30), 1.0) == -0.25f);
}

/* The fast conversion (one cvtsd2si, no libm) is llrint(ldexp(g, 32)):
 * the definition in gradred.h, on a million floats over 60 binades and on
 * exact ties, and gradred_add/gradred_from_fixed agree with it too. */
static void test_fast_conversion_is_llrint(void **state)
{
    (void)state;
    uint64_t s = 12345;
    for (int i = 0; i < 1000000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float m = (float)((s >> 40) & 0xffffff) / (float)(1 << 24);
        int e = (int)((s >> 20) % 60) - 50;
        float g = ldexpf((s >> 16) & 1 ? -m : m, e);
        if (!(fabsf(g) < 0x1p20f))
            continue;
        int64_t got;
        assert_int_equal(gradred_to_fixed(g, 20, &got), GRADRED_OK);
        int64_t want = llrint(ldexp((double)g, 32));
        if (got != want)
            fail_msg("g = %a: fast %lld, llrint %lld", (double)g, (long long)got, (long long)want);
    }
    /* Ties: (2k+1)/2 rounds to the even neighbour. */
    for (int k = -8; k <= 8; k++) {
        float g = ldexpf((float)(2 * k + 1), -33);
        int64_t got;
        gradred_to_fixed(g, 20, &got);
        assert_int_equal(got, llrint(ldexp((double)g, 32)));
        assert_int_equal(got % 2, 0);
    }
    assert_true(gradred_from_fixed(3, 1.0) == (float)(ldexp(3.0, -32)));
    assert_true(gradred_from_fixed(-(INT64_C(1) << 40), 3.0) == (float)(ldexp(-1.0, 8) / 3.0));
}

static void test_bound_bits(void **state)
{
    (void)state;
    assert_int_equal(gradred_bound_bits(1), 31);
    assert_int_equal(gradred_bound_bits(2), 30);
    assert_int_equal(gradred_bound_bits(3), 29);
    assert_int_equal(gradred_bound_bits(4), 29);
    assert_int_equal(gradred_bound_bits(5), 28);
    assert_int_equal(gradred_bound_bits(256), 23);
    assert_int_equal(gradred_bound_bits(65536), 15);
}

/* The edge of the range: the largest accepted value, summed K times at the
 * largest K, stays below INT64_MAX; the bound itself is rejected. */
static void test_range_edge(void **state)
{
    (void)state;
    for (size_t terms = 1; terms <= GRADRED_MAX_TERMS; terms *= 2) {
        int b = gradred_bound_bits(terms);
        float top = nextafterf(ldexpf(1.0f, b), 0.0f);
        int64_t v, w;
        assert_int_equal(gradred_to_fixed(top, b, &v), GRADRED_OK);
        assert_int_equal(gradred_to_fixed(-top, b, &w), GRADRED_OK);
        assert_true(w == -v);
        assert_true(v > 0 && (uint64_t)v <= (uint64_t)INT64_MAX / terms);
        assert_int_equal(gradred_to_fixed(ldexpf(1.0f, b), b, &v), GRADRED_OVERFLOW);
        assert_int_equal(gradred_to_fixed(-ldexpf(1.0f, b), b, &v), GRADRED_OVERFLOW);
        assert_int_equal(gradred_to_fixed(INFINITY, b, &v), GRADRED_NONFINITE);
        assert_int_equal(gradred_to_fixed(NAN, b, &v), GRADRED_NONFINITE);
    }
    /* K of the largest values really add up without wrapping. */
    GradReducer r;
    assert_int_equal(gradred_init(&r, 1, REDUCE_EXACT, 3), 0);
    float top = nextafterf(ldexpf(1.0f, r.bound_bits), 0.0f), mean;
    for (int i = 0; i < 3; i++)
        assert_int_equal(gradred_add(&r, &top), GRADRED_OK);
    assert_true(r.acc[0] > 0);
    assert_int_equal(gradred_finish(&r, &mean), 0);
    assert_true(mean == top);
    gradred_free(&r);
}

static void mean_in_order(const float *g, const int *order, float *out)
{
    GradReducer r;
    assert_int_equal(gradred_init(&r, N, REDUCE_EXACT, K), 0);
    for (int j = 0; j < K; j++)
        assert_int_equal(gradred_add(&r, g + (size_t)order[j] * N), GRADRED_OK);
    assert_int_equal(gradred_finish(&r, out), 0);
    gradred_free(&r);
}

/* The same 64 micro-batches summed in order, reversed, shuffled, and as 4
 * "ranks" whose integer partial sums are then added: identical bits. */
static void test_order_independence(void **state)
{
    (void)state;
    float *g = make_grads(1);
    int order[K];
    float *want = xmalloc(N * sizeof *want), *got = xmalloc(N * sizeof *got);
    for (int j = 0; j < K; j++)
        order[j] = j;
    mean_in_order(g, order, want);
    for (int j = 0; j < K; j++)
        order[j] = K - 1 - j;
    mean_in_order(g, order, got);
    assert_memory_equal(got, want, N * sizeof *got);
    uint64_t s = 7;
    for (int j = K - 1; j > 0; j--) {
        int k = (int)(rng_next(&s) % (uint64_t)(j + 1)), t = order[j];
        order[j] = order[k];
        order[k] = t;
    }
    mean_in_order(g, order, got);
    assert_memory_equal(got, want, N * sizeof *got);

    GradReducer rank[4], total;
    assert_int_equal(gradred_init(&total, N, REDUCE_EXACT, K), 0);
    for (int p = 0; p < 4; p++) {
        assert_int_equal(gradred_init(&rank[p], N, REDUCE_EXACT, K), 0);
        for (int j = p * K / 4; j < (p + 1) * K / 4; j++)
            assert_int_equal(gradred_add(&rank[p], g + (size_t)j * N), GRADRED_OK);
    }
    for (int p = 3; p >= 0; p--) /* "reduction tree" in another order */
        for (size_t i = 0; i <= N; i++)
            total.acc[i] += rank[p].acc[i];
    assert_int_equal(gradred_finish(&total, got), 0);
    assert_memory_equal(got, want, N * sizeof *got);

    /* The data does discriminate: float sums in two orders differ. */
    size_t differ = 0;
    for (size_t i = 0; i < N; i++) {
        float a = 0, b = 0;
        for (int j = 0; j < K; j++) {
            a += g[(size_t)j * N + i];
            b += g[(size_t)(K - 1 - j) * N + i];
        }
        differ += a != b;
    }
    assert_true(differ > 0);
    for (int p = 0; p < 4; p++)
        gradred_free(&rank[p]);
    gradred_free(&total);
    free(g);
    free(want);
    free(got);
}

/* Fixed-point mean vs the mean in double: within 2^-33 (the rounding of
 * each term, averaged) plus one float ulp of the result (int64 -> double ->
 * float).  Relative error is no better than 2^-33 / |mean|: that is the
 * design (absolute resolution), stated in gradred.h. */
static void test_round_trip_bound(void **state)
{
    (void)state;
    float *g = make_grads(2);
    int order[K];
    float *got = xmalloc(N * sizeof *got);
    for (int j = 0; j < K; j++)
        order[j] = j;
    mean_in_order(g, order, got);
    double worst = 0;
    for (size_t i = 0; i < N; i++) {
        double ref = 0;
        for (int j = 0; j < K; j++)
            ref += (double)g[(size_t)j * N + i];
        ref /= K;
        double err = fabs((double)got[i] - ref);
        double ulp = (double)nextafterf(fabsf((float)ref), INFINITY) - fabs((double)(float)ref);
        double bound = 0x1p-33 + ulp;
        if (err > bound)
            fail_msg("element %zu: got %.9g, want %.17g, error %.3g > bound %.3g", i,
                     (double)got[i], ref, err, bound);
        if (err > worst)
            worst = err;
    }
    assert_true(worst > 0); /* the bound is exercised, not vacuous */
    free(g);
    free(got);
}

static void test_overflow_detected(void **state)
{
    (void)state;
    GradReducer r;
    assert_int_equal(gradred_init(&r, 4, REDUCE_EXACT, 65536), 0);
    assert_int_equal(r.bound_bits, 15);
    float ok[4] = {1, -2, 32767.0f, -0.001f};
    float big[4] = {1, 2, 3, 40000.0f};
    assert_int_equal(gradred_add(&r, ok), GRADRED_OK);
    assert_int_equal(gradred_add(&r, big), GRADRED_OVERFLOW);
    assert_int_equal(r.status, GRADRED_OVERFLOW);
    const char *msg = base_error();
    assert_non_null(strstr(msg, "element 3"));
    assert_non_null(strstr(msg, "40000"));
    assert_non_null(strstr(msg, "outside the exact-reduce range"));
    assert_non_null(strstr(msg, "2^15"));
    assert_non_null(strstr(msg, "--reduce float"));
    gradred_reset(&r);
    assert_int_equal(r.status, GRADRED_OK);
    float nan[4] = {0, NAN, 0, 0};
    assert_int_equal(gradred_add(&r, nan), GRADRED_NONFINITE);
    assert_non_null(strstr(base_error(), "non-finite gradient: element 1"));
    gradred_free(&r);
}

static void test_init_and_finish_checks(void **state)
{
    (void)state;
    GradReducer r;
    assert_int_equal(gradred_init(&r, 4, REDUCE_EXACT, 0), -1);
    assert_non_null(strstr(base_error(), "outside 1..65536"));
    assert_int_equal(gradred_init(&r, 4, REDUCE_EXACT, 65537), -1);
    assert_int_equal(gradred_init(&r, 0, REDUCE_EXACT, 4), -1);
    gradred_free(&r); /* safe on the zeroed struct */

    float mean[4];
    assert_int_equal(gradred_init(&r, 4, REDUCE_EXACT, 2), 0);
    assert_int_equal(gradred_finish(&r, mean), -1);
    assert_non_null(strstr(base_error(), "0 micro-batches"));
    r.acc[4] = 3; /* as if the ranks together added more than K */
    assert_int_equal(gradred_finish(&r, mean), -1);
    assert_non_null(strstr(base_error(), "3 micro-batches"));
    gradred_free(&r);
}

static void test_float_mode(void **state)
{
    (void)state;
    GradReducer r;
    float a[3] = {1, 2, 3}, b[3] = {3, 2, 1e6f}, mean[3];
    assert_int_equal(gradred_init(&r, 3, REDUCE_FLOAT, 2), 0);
    assert_null(r.acc);
    assert_int_equal(gradred_add(&r, a), GRADRED_OK);
    assert_int_equal(gradred_add(&r, b), GRADRED_OK); /* no range limit */
    assert_true(gradred_buffer(&r) == r.fsum);
    assert_int_equal(gradred_buffer_len(&r), 4);
    assert_int_equal(gradred_finish(&r, mean), 0);
    assert_true(mean[0] == 2.0f && mean[1] == 2.0f && mean[2] == (1e6f + 3) / 2);
    gradred_reset(&r);
    float inf[3] = {0, 0, -INFINITY};
    assert_int_equal(gradred_add(&r, inf), GRADRED_NONFINITE);
    assert_non_null(strstr(base_error(), "element 2"));
    gradred_free(&r);
}

/* Adding a gradient in two parts (the tail first, as the trainer does while
 * the backward pass goes on) gives the same buffer as one gradred_add, in
 * both modes; a failure in either part is reported like gradred_add's. */
static void test_add_in_parts(void **state)
{
    (void)state;
    float *g = make_grads(11);
    ReduceMode modes[] = {REDUCE_EXACT, REDUCE_FLOAT};
    for (int m = 0; m < 2; m++) {
        GradReducer whole, parts;
        assert_int_equal(gradred_init(&whole, N, modes[m], 2), 0);
        assert_int_equal(gradred_init(&parts, N, modes[m], 2), 0);
        for (size_t j = 0; j < 2; j++) {
            const float *gj = g + j * N;
            assert_int_equal(gradred_add(&whole, gj), GRADRED_OK);
            assert_int_equal(gradred_add_range(&parts, gj, 337, N), GRADRED_OK);
            gradred_count(&parts);
            assert_int_equal(gradred_add_range(&parts, gj, 0, 337), GRADRED_OK);
        }
        size_t bytes = (N + 1) * (modes[m] == REDUCE_EXACT ? sizeof(int64_t) : sizeof(float));
        assert_memory_equal(gradred_buffer(&whole), gradred_buffer(&parts), bytes);
        assert_int_equal(parts.added, 2);
        gradred_free(&whole);
        gradred_free(&parts);
    }
    GradReducer r;
    assert_int_equal(gradred_init(&r, N, REDUCE_EXACT, 1), 0);
    g[5] = NAN;
    assert_int_equal(gradred_add_range(&r, g, 10, N), GRADRED_OK);
    assert_int_equal(gradred_add_range(&r, g, 0, 10), GRADRED_NONFINITE);
    assert_int_equal(r.status, GRADRED_NONFINITE);
    assert_non_null(strstr(base_error(), "element 5"));
    gradred_free(&r);
    free(g);
}

/* Workers' sums merged into a rank's (train.c): in exact mode, K gradients
 * split among 3 reducers unevenly and merged tail first, in any worker
 * order, give one reducer's bits; in float mode, merging in worker order
 * equals adding each worker's partial sum in that order.  A worker's
 * failure reaches the merged status. */
static void test_merge(void **state)
{
    (void)state;
    float *g = make_grads(21);
    const size_t split[4] = {0, 30, 31, K}; /* worker w: gradients [split[w], split[w+1]) */
    for (int m = 0; m < 2; m++) {
        ReduceMode mode = m ? REDUCE_FLOAT : REDUCE_EXACT;
        GradReducer whole, w[3], rank;
        assert_int_equal(gradred_init(&whole, N, mode, K), 0);
        assert_int_equal(gradred_init(&rank, N, mode, K), 0);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(gradred_init(&w[i], N, mode, K), 0);
            for (size_t j = split[i]; j < split[i + 1]; j++)
                assert_int_equal(gradred_add(&w[i], g + j * N), GRADRED_OK);
        }
        if (mode == REDUCE_EXACT) {
            for (size_t j = 0; j < K; j++)
                assert_int_equal(gradred_add(&whole, g + (K - 1 - j) * N), GRADRED_OK);
            for (int i = 2; i >= 0; i--)
                gradred_merge_range(&rank, &w[i], 400, N + 1);
            for (int i = 0; i < 3; i++)
                gradred_merge_range(&rank, &w[i], 0, 400);
        } else {
            for (int i = 0; i < 3; i++) {
                for (size_t e = 0; e <= N; e++)
                    whole.fsum[e] += w[i].fsum[e];
                gradred_merge_range(&rank, &w[i], 0, N + 1);
            }
        }
        size_t bytes = (N + 1) * gradred_elem_size(&rank);
        assert_memory_equal(gradred_buffer(&whole), gradred_buffer(&rank), bytes);
        assert_int_equal(rank.added, K);
        assert_int_equal(rank.status, GRADRED_OK);
        for (int i = 0; i < 3; i++)
            gradred_free(&w[i]);
        gradred_free(&whole);
        gradred_free(&rank);
    }
    GradReducer a, b;
    assert_int_equal(gradred_init(&a, N, REDUCE_EXACT, 2), 0);
    assert_int_equal(gradred_init(&b, N, REDUCE_EXACT, 2), 0);
    g[7] = NAN;
    assert_int_equal(gradred_add(&b, g), GRADRED_NONFINITE);
    gradred_merge_range(&a, &b, 0, 10);
    assert_int_equal(a.status, GRADRED_NONFINITE);
    gradred_free(&a);
    gradred_free(&b);
    free(g);
}

/* gradred_finish divides by a power-of-two count with one multiply: the
 * same bits as gradred_from_fixed's division, for every count 2^0..2^16
 * and sums from 0 to the int64 extremes. */
static void test_finish_power_of_two(void **state)
{
    (void)state;
    enum { M = 4096 };
    uint64_t seed = 99;
    for (int k = 0; k <= 16; k++) {
        size_t count = (size_t)1 << k;
        GradReducer r;
        assert_int_equal(gradred_init(&r, M, REDUCE_EXACT, count), 0);
        for (size_t i = 0; i < M; i++) {
            uint64_t bits = rng_next(&seed);
            int shift = (int)(rng_next(&seed) % 64); /* every magnitude */
            r.acc[i] = (int64_t)(bits >> shift) * ((bits & 1) ? -1 : 1);
        }
        r.acc[0] = INT64_MAX;
        r.acc[1] = INT64_MIN + 1;
        r.acc[2] = 0;
        r.acc[3] = 1;
        r.acc[M] = (int64_t)count;
        float *mean = xmalloc(M * sizeof *mean);
        assert_int_equal(gradred_finish(&r, mean), 0);
        for (size_t i = 0; i < M; i++) {
            float want = gradred_from_fixed(r.acc[i], (double)count);
            assert_memory_equal(&mean[i], &want, sizeof want);
        }
        free(mean);
        gradred_free(&r);
    }
}

static void test_control(void **state)
{
    (void)state;
    Control ranks[3], sum;
    const float losses[6] = {2.302585f, 2.1f, 1.75f, 0.125f, 3.0f, 1e-3f};
    for (int p = 0; p < 3; p++) {
        control_reset(&ranks[p]);
        for (int j = 0; j < 2; j++)
            control_add_microbatch(&ranks[p], losses[p * 2 + j], p + j, 64);
    }
    control_reset(&sum);
    for (int p = 0; p < 3; p++) {
        int64_t *dst = (int64_t *)&sum;
        const int64_t *src = (const int64_t *)&ranks[p];
        for (size_t i = 0; i < CONTROL_N; i++)
            dst[i] += src[i];
    }
    assert_int_equal(CONTROL_N, 7);
    assert_int_equal(sum.microbatches, 6);
    assert_int_equal(sum.samples, 384);
    assert_int_equal(sum.correct, 0 + 1 + 1 + 2 + 2 + 3);
    assert_int_equal(sum.nonfinite_ranks, 0);
    assert_int_equal(sum.overflow_ranks, 0);
    double want = 0;
    for (int j = 0; j < 6; j++)
        want += losses[j];
    want /= 6;
    assert_true(fabs(control_mean_loss(&sum) - want) <= 0x1p-32);
    assert_true(control_accuracy(&sum) == 9.0 / 384.0);

    /* The same micro-batches in one "rank": the same fixed-point sum. */
    Control one;
    control_reset(&one);
    for (int j = 5; j >= 0; j--)
        control_add_microbatch(&one, losses[j], 0, 64);
    assert_true(one.loss_fixed == sum.loss_fixed);

    control_reset(&one);
    control_add_microbatch(&one, NAN, 0, 64);
    assert_int_equal(one.nonfinite_ranks, 1);
    assert_true(one.loss_fixed == 0);
    assert_non_null(strstr(base_error(), "non-finite loss nan in local micro-batch 0"));
    control_add_microbatch(&one, 40000.0f, 0, 64);
    assert_int_equal(one.overflow_ranks, 1);
    assert_non_null(strstr(base_error(), "loss 40000 in local micro-batch 1 is outside"));
    control_reset(&one);
    control_note_grad_status(&one, GRADRED_NONFINITE);
    control_note_grad_status(&one, GRADRED_OK);
    assert_int_equal(one.nonfinite_ranks, 1);
    assert_int_equal(one.overflow_ranks, 0);
}

/* Workers of one rank (train.c): their merged records equal one record of
 * all their micro-batches, and flags raised by several workers still count
 * the rank once. */
static void test_control_merge(void **state)
{
    (void)state;
    const float losses[5] = {2.302585f, 0.5f, 1.75f, 0.125f, 3.0f};
    Control whole, part[2], merged;
    control_reset(&whole);
    control_reset(&part[0]);
    control_reset(&part[1]);
    for (int j = 0; j < 5; j++) {
        control_add_microbatch(&whole, losses[j], j, 32);
        control_add_microbatch(&part[j < 2 ? 0 : 1], losses[j], j, 32);
    }
    control_note_grad_status(&whole, GRADRED_OVERFLOW);
    control_note_grad_status(&part[0], GRADRED_OVERFLOW);
    control_note_grad_status(&part[1], GRADRED_OVERFLOW);
    part[1].stop_ranks = 1;
    control_reset(&merged);
    control_merge(&merged, &part[1]);
    control_merge(&merged, &part[0]);
    assert_true(merged.loss_fixed == whole.loss_fixed);
    assert_int_equal(merged.correct, whole.correct);
    assert_int_equal(merged.samples, 160);
    assert_int_equal(merged.microbatches, 5);
    assert_int_equal(merged.overflow_ranks, 1);
    assert_int_equal(merged.nonfinite_ranks, 0);
    assert_int_equal(merged.stop_ranks, 1);
}

static void test_hash(void **state)
{
    (void)state;
    /* FNV-1a 64 reference values. */
    assert_true(hash_string("") == UINT64_C(0xcbf29ce484222325));
    assert_true(hash_string("a") == UINT64_C(0xaf63dc4c8601ec8c));
    assert_true(hash_string("foobar") == UINT64_C(0x85944171f73967e8));
    assert_true(hash_update(hash_update(HASH_INIT, "foo", 3), "bar", 3) ==
                hash_string("foobar"));
    float a[2] = {0.0f, 1.0f}, b[2] = {-0.0f, 1.0f}, c[2] = {0.0f, 1.0f};
    assert_true(hash_floats(a, 2) == hash_floats(c, 2));
    assert_true(hash_floats(a, 2) != hash_floats(b, 2));
    assert_true(hash_floats(a, 2) == hash_bytes(a, sizeof a));
}

static void test_hosts(void **state)
{
    (void)state;
    char names[4][8] = {"alpha", "beta", "alpha", "alpha"}, out[128];
    assert_int_equal(hosts_format(&names[0][0], 8, 4, out, sizeof out), 2);
    assert_string_equal(out, "4 ranks on 2 hosts: alpha (3 ranks), beta (1 rank)");
    assert_int_equal(hosts_format(&names[0][0], 8, 1, out, sizeof out), 1);
    assert_string_equal(out, "1 rank on 1 host: alpha (1 rank)");
    char small[16];
    assert_int_equal(hosts_format(&names[0][0], 8, 4, small, sizeof small), 2);
    assert_int_equal(strlen(small), sizeof small - 1); /* truncated, terminated */
}

/* The 32-bit wire's pieces on values at the edges: the low 32 bits, the
 * signed recovery, the per-block bound (clamped) and the fits boundary. */
static void test_wire_values(void **state)
{
    (void)state;
    const int64_t acc[] = {0, 1, -1, INT32_MAX, INT32_MIN, (INT64_C(1) << 32) + 5,
                           -(INT64_C(1) << 32) - 5, INT64_MAX / 2};
    const uint32_t want[] = {0, 1, 0xffffffffu, 0x7fffffffu, 0x80000000u, 5,
                             0xfffffffbu, 0xffffffffu};
    enum { NV = sizeof acc / sizeof acc[0] };
    uint32_t wire[NV];
    int64_t bound[1];
    assert_int_equal(gradred_wire_blocks(NV), 1);
    gradred_wire_pack(acc, 5, wire, bound);
    assert_true(bound[0] == -(int64_t)INT32_MIN); /* |INT32_MIN| = 2^31 */
    gradred_wire_pack(acc, 4, wire, bound);
    assert_true(bound[0] == INT32_MAX);
    gradred_wire_pack(acc, NV, wire, bound);
    for (size_t i = 0; i < NV; i++)
        assert_true(wire[i] == want[i]);
    assert_true(bound[0] == GRADRED_WIRE_CLAMP); /* INT64_MAX / 2, clamped */
    int64_t back[NV];
    gradred_wire_unpack(wire, 5, back);
    for (size_t i = 0; i < 5; i++)
        assert_true(back[i] == acc[i]); /* all within [-2^31, 2^31) */
    gradred_wire_unpack(wire + 5, 1, back);
    assert_true(back[0] == 5); /* 2^32 + 5 is out of range: only its residue */

    assert_true(gradred_wire_fits(0));
    assert_true(gradred_wire_fits(INT32_MAX));
    assert_false(gradred_wire_fits((int64_t)INT32_MAX + 1));
    assert_false(gradred_wire_fits(GRADRED_WIRE_CLAMP));
    assert_false(gradred_wire_fits(-1));
}

/* Blocks: n = 2 blocks + 3 elements gives 3 bounds, each from its own
 * elements only. */
static void test_wire_blocks(void **state)
{
    (void)state;
    enum { B = GRADRED_WIRE_BLOCK, NB = 2 * B + 3 };
    int64_t *acc = xcalloc(NB, sizeof *acc);
    uint32_t *wire = xmalloc(NB * sizeof *wire);
    int64_t bound[3];
    assert_int_equal(gradred_wire_blocks(NB), 3);
    assert_int_equal(gradred_wire_blocks(2 * B), 2);
    acc[B - 1] = -7;
    acc[B] = 9;
    acc[NB - 1] = 100;
    acc[2 * B - 1] = 3;
    gradred_wire_pack(acc, NB, wire, bound);
    assert_true(bound[0] == 7 && bound[1] == 9 && bound[2] == 100);
    free(acc);
    free(wire);
}

/* P simulated ranks: each packs its partial sums, the "network" adds the
 * uint32 words modulo 2^32 and the bounds in int64, as MPI_SUM does.  Every
 * block that passes gradred_wire_fits unpacks to the int64 sum exactly;
 * at the boundary a bound sum of 2^31 - 1 passes (the sum is exact at
 * +-(2^31 - 1)), and 2^31 fails - where the wire sum would indeed come back
 * wrong (2^31 wraps to -2^31). */
static void test_wire_sum_exact(void **state)
{
    (void)state;
    enum { P = 4, B = GRADRED_WIRE_BLOCK, NB = 4 * B };
    int64_t *acc = xcalloc((size_t)P * NB, sizeof *acc);
    uint32_t *wire = xmalloc((size_t)P * NB * sizeof *wire);
    int64_t bound[P][4];
    uint64_t s = 99;
    for (int r = 0; r < P; r++)
        for (size_t i = 0; i < NB; i++) {
            int64_t *a = &acc[(size_t)r * NB + i];
            if (i < B)          /* block 0: random, |a| < 2^29, fits for P = 4 */
                *a = (int64_t)(rng_next(&s) % (UINT64_C(1) << 30)) - (INT64_C(1) << 29);
            else if (i < 2 * B) /* block 1: large values of mixed sign, does not fit */
                *a = (int64_t)(rng_next(&s) % (UINT64_C(1) << 40)) - (INT64_C(1) << 39);
            else                /* blocks 2, 3: the boundary, set below */
                *a = 0;
        }
    /* Block 2: 2^30 + (2^30 - 1) + 0 + 0 = 2^31 - 1, and the negative of it. */
    acc[0 * NB + 2 * B] = INT64_C(1) << 30;
    acc[1 * NB + 2 * B] = (INT64_C(1) << 30) - 1;
    acc[0 * NB + 2 * B + 1] = -(INT64_C(1) << 30);
    acc[1 * NB + 2 * B + 1] = -(INT64_C(1) << 30) + 1;
    /* Block 3: 2^30 + 2^30 = 2^31, one past the range. */
    acc[2 * NB + 3 * B] = INT64_C(1) << 30;
    acc[3 * NB + 3 * B] = INT64_C(1) << 30;
    for (int r = 0; r < P; r++)
        gradred_wire_pack(acc + (size_t)r * NB, NB, wire + (size_t)r * NB, bound[r]);
    uint32_t *sum_wire = xcalloc(NB, sizeof *sum_wire);
    int64_t *exact = xcalloc(NB, sizeof *exact);
    int64_t bound_sum[4] = {0};
    for (int r = 0; r < P; r++) {
        for (size_t i = 0; i < NB; i++) {
            sum_wire[i] += wire[(size_t)r * NB + i];
            exact[i] += acc[(size_t)r * NB + i];
        }
        for (int b = 0; b < 4; b++)
            bound_sum[b] += bound[r][b];
    }
    int64_t *got = xmalloc(NB * sizeof *got);
    gradred_wire_unpack(sum_wire, NB, got);
    assert_true(gradred_wire_fits(bound_sum[0]));
    assert_false(gradred_wire_fits(bound_sum[1]));
    assert_true(bound_sum[2] == INT32_MAX && gradred_wire_fits(bound_sum[2]));
    assert_true(bound_sum[3] == (int64_t)INT32_MAX + 1 && !gradred_wire_fits(bound_sum[3]));
    for (size_t i = 0; i < NB; i++)
        if (gradred_wire_fits(bound_sum[i / B]))
            assert_true(got[i] == exact[i]);
    assert_true(got[2 * B] == INT32_MAX && got[2 * B + 1] == -INT32_MAX);
    /* What the check protects against: the rejected blocks come back wrong. */
    assert_true(exact[3 * B] == INT64_C(1) << 31 && got[3 * B] == INT32_MIN);
    size_t wrong = 0;
    for (size_t i = B; i < 2 * B; i++)
        wrong += got[i] != exact[i];
    assert_true(wrong > B / 2);
    free(acc), free(wire), free(sum_wire), free(exact), free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_fixed_values),
        cmocka_unit_test(test_fast_conversion_is_llrint),
        cmocka_unit_test(test_bound_bits),
        cmocka_unit_test(test_range_edge),
        cmocka_unit_test(test_order_independence),
        cmocka_unit_test(test_round_trip_bound),
        cmocka_unit_test(test_overflow_detected),
        cmocka_unit_test(test_init_and_finish_checks),
        cmocka_unit_test(test_float_mode),
        cmocka_unit_test(test_add_in_parts),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_finish_power_of_two),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_control_merge),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_wire_values),
        cmocka_unit_test(test_wire_blocks),
        cmocka_unit_test(test_wire_sum_exact),
    };
    return cmocka_run_group_tests_name("dist_fixed", tests, NULL, NULL);
}
