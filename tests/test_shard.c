/* test_shard.c - the shard contract as pure logic: the permutation (pinned
 * values, a reference for re-implementations), validation of (N, B, m),
 * micro-batches covering every global batch once in order, and the
 * evaluation shares of P = 1..8 ranks.  Which rank computes which
 * micro-batch is balance.h's (test_balance.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "rng.h"
#include "shard.h"

static void assert_perm(const uint32_t *p, const uint32_t *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != want[i])
            fail_msg("perm[%zu] = %u, want %u", i, p[i], want[i]);
}

/* Pinned values: any change to the PRNG or the shuffle breaks resumability
 * and cross-language reproduction (the same values come from a Python
 * transcription of the algorithm documented in shard.h). */
static void test_known_permutations(void **state)
{
    (void)state;
    uint32_t p[10];
    Rng s = {0};
    assert_true(rng_next(&s) == UINT64_C(0xe220a8397b1dcdaf)); /* SplitMix64(0) */
    shard_permutation(42, 0, 10, p);
    assert_perm(p, (const uint32_t[]){2, 8, 9, 7, 1, 4, 6, 0, 5, 3}, 10);
    shard_permutation(42, 1, 10, p);
    assert_perm(p, (const uint32_t[]){3, 1, 6, 8, 4, 5, 9, 7, 2, 0}, 10);
    shard_permutation(7, 0, 10, p);
    assert_perm(p, (const uint32_t[]){0, 9, 5, 2, 7, 4, 8, 6, 1, 3}, 10);
}

static void test_permutation_properties(void **state)
{
    (void)state;
    enum { N = 5000 };
    uint32_t *a = xmalloc(N * 4), *b = xmalloc(N * 4), *c = xmalloc(N * 4);
    char *seen = xcalloc(N, 1);
    shard_permutation(1, 3, N, a);
    for (size_t i = 0; i < N; i++) {
        assert_true(a[i] < N);
        assert_false(seen[a[i]]);
        seen[a[i]] = 1;
    }
    shard_permutation(1, 3, N, b);
    assert_memory_equal(a, b, N * 4);             /* identical across runs */
    shard_permutation(1, 4, N, c);
    assert_memory_not_equal(a, c, N * 4);         /* changes with the epoch */
    shard_permutation(2, 3, N, c);
    assert_memory_not_equal(a, c, N * 4);         /* changes with the seed */
    size_t fixed = 0;
    for (size_t i = 0; i < N; i++)
        fixed += a[i] == i;
    assert_true(fixed < 20);                      /* expected about 1: really shuffled */
    free(a);
    free(b);
    free(c);
    free(seen);
}

static void test_below_range(void **state)
{
    (void)state;
    Rng s = {99};
    size_t hist[3] = {0};
    for (int i = 0; i < 30000; i++) {
        uint64_t x = rng_below(&s, 3);
        assert_true(x < 3);
        hist[x]++;
    }
    for (int v = 0; v < 3; v++)
        assert_true(hist[v] > 9500 && hist[v] < 10500);
}

static void expect_init_error(size_t n, size_t b, size_t m, const char *what)
{
    Shard s;
    assert_int_equal(shard_init(&s, n, b, m), -1);
    if (!strstr(base_error(), what))
        fail_msg("error \"%s\" should say \"%s\"", base_error(), what);
}

static void test_init_validation(void **state)
{
    (void)state;
    expect_init_error(1000, 64, 6, "micro-batch 6 does not divide the global batch 64");
    expect_init_error(50, 64, 8, "50 training samples are fewer than one global batch of 64");
    expect_init_error(1000, 64, 0, "must be positive");
    Shard s;
    assert_int_equal(shard_init(&s, 1000, 64, 8), 0);
    assert_int_equal(s.steps, 15);          /* 1000 = 15*64 + 40: tail of 40 dropped */
    assert_int_equal(s.micro_per_step, 8);
}

enum { M = 3, B = 7 * M, N = 2 * B + 7 };

/* Micro-batch order, then sample order, gives exactly the global positions
 * b*B .. (b+1)*B - 1 in order: every sample of a step in exactly one
 * micro-batch. */
static void test_micro_batches_cover_global_batches(void **state)
{
    (void)state;
    Shard s;
    assert_int_equal(shard_init(&s, N, B, M), 0);
    assert_int_equal(s.steps, 2); /* the 7-sample tail is dropped */
    for (size_t b = 0; b < s.steps; b++) {
        size_t want = b * B;
        for (size_t g = 0; g < s.micro_per_step; g++)
            for (size_t j = 0; j < M; j++)
                assert_int_equal(shard_position(&s, b, g, j), want++);
        assert_int_equal(want, (b + 1) * B);
    }
}

static void test_eval_ranges(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 7, 100, 10000};
    for (size_t t = 0; t < 4; t++)
        for (int P = 1; P <= 8; P++) {
            size_t next = 0, lo = SIZE_MAX, hi = 0;
            for (int r = 0; r < P; r++) {
                size_t first, count;
                shard_eval_range(sizes[t], P, r, &first, &count);
                assert_int_equal(first, next); /* contiguous, disjoint, in rank order */
                next = first + count;
                lo = count < lo ? count : lo;
                hi = count > hi ? count : hi;
            }
            assert_int_equal(next, sizes[t]);  /* covers the test set once */
            assert_true(hi - lo <= 1);         /* near-equal */
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_permutations),
        cmocka_unit_test(test_permutation_properties),
        cmocka_unit_test(test_below_range),
        cmocka_unit_test(test_init_validation),
        cmocka_unit_test(test_micro_batches_cover_global_batches),
        cmocka_unit_test(test_eval_ranges),
    };
    return cmocka_run_group_tests_name("shard", tests, NULL, NULL);
}
