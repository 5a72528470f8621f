/* test_balance.c - the assignment of a step's micro-batches to ranks
 * (balance.h) for simulated ranks: the even rule (8 on 3 ranks: 3 3 2),
 * the measured rule moving micro-batches to fast ranks and not back and
 * forth on noise, and for many (P, K, costs) the invariants that make every
 * micro-batch computed exactly once: counts >= 1 summing to K, runs
 * contiguous in rank order, the same result from the same numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "balance.h"
#include "base.h"
#include "rng.h"

static void assert_counts(const Balance *b, const int64_t *want)
{
    for (int r = 0; r < b->ranks; r++)
        if (b->count[r] != want[r])
            fail_msg("rank %d: %lld micro-batches, want %lld", r, (long long)b->count[r],
                     (long long)want[r]);
}

/* Every micro-batch 0..K-1 belongs to exactly one rank, in rank order. */
static void assert_partition(const Balance *b)
{
    int64_t next = 0;
    for (int r = 0; r < b->ranks; r++) {
        assert_true(b->count[r] >= 1);
        assert_int_equal(b->first[r], next);
        next += b->count[r];
    }
    assert_int_equal(next, b->terms);
}

static void test_even(void **state)
{
    (void)state;
    Balance b;
    assert_int_equal(balance_init(&b, 3, 8, false), 0);
    assert_counts(&b, (const int64_t[]){3, 3, 2});
    assert_partition(&b);
    balance_update(&b, (const int64_t[]){1000, 1000, 9000}); /* even: ignored */
    assert_counts(&b, (const int64_t[]){3, 3, 2});
    balance_free(&b);
    for (int P = 1; P <= 16; P++)
        for (int64_t K = P; K <= 40; K++) {
            assert_int_equal(balance_init(&b, P, K, true), 0);
            assert_partition(&b);
            for (int r = 0; r < P; r++) /* near-equal, larger first */
                assert_true(b.count[r] == K / P + (r < K % P));
            balance_free(&b);
        }
    assert_int_equal(balance_init(&b, 9, 8, true), -1);
    assert_non_null(strstr(base_error(), "9 ranks cannot share 8 micro-batches"));
    assert_int_equal(balance_init(&b, 0, 8, true), -1);
    balance_free(&b); /* safe on the zeroed struct */
}

static void test_slow_rank_gets_fewer(void **state)
{
    (void)state;
    Balance b;
    assert_int_equal(balance_init(&b, 2, 8, true), 0);
    /* Rank 1 takes 2.5x as long a micro-batch: 6 and 2 finish at 6000 and
     * 5000 ns, against 4000 and 10000 for 4 and 4. */
    balance_update(&b, (const int64_t[]){1000, 2500});
    assert_counts(&b, (const int64_t[]){6, 2});
    assert_partition(&b);
    assert_int_equal(b.changes, 1);
    /* The same figures again: nothing to gain, nothing moves. */
    balance_update(&b, (const int64_t[]){1000, 2500});
    assert_counts(&b, (const int64_t[]){6, 2});
    assert_int_equal(b.changes, 1);
    /* Rank 0 becomes the slow one: the smoothed costs follow within a few
     * steps and the micro-batches move over. */
    for (int i = 0; i < 8; i++)
        balance_update(&b, (const int64_t[]){4000, 1000});
    assert_true(b.count[0] < b.count[1]);
    assert_partition(&b);
    balance_free(&b);

    /* 8 on 3 ranks at speeds 1 : 1 : 0.6 -> 3 3 2 is already the best. */
    assert_int_equal(balance_init(&b, 3, 8, true), 0);
    balance_update(&b, (const int64_t[]){600, 600, 1000});
    assert_counts(&b, (const int64_t[]){3, 3, 2});
    balance_update(&b, (const int64_t[]){600, 600, 2000}); /* 0.3: smoothed 1250 */
    balance_update(&b, (const int64_t[]){600, 600, 2000}); /* 1437 */
    assert_counts(&b, (const int64_t[]){4, 3, 1});
    balance_free(&b);
}

static void test_noise_does_not_move(void **state)
{
    (void)state;
    Balance b;
    assert_int_equal(balance_init(&b, 2, 16, true), 0);
    Rng rng = {7};
    for (int i = 0; i < 200; i++) { /* equal ranks, each +-1% */
        int64_t ns[2] = {100000 + (int64_t)rng_below(&rng, 2001) - 1000,
                         100000 + (int64_t)rng_below(&rng, 2001) - 1000};
        balance_update(&b, ns);
    }
    assert_counts(&b, (const int64_t[]){8, 8});
    assert_int_equal(b.changes, 0);
    balance_free(&b);
}

/* Random (P, K, costs), including extreme costs: the partition holds after
 * every update, and two ranks fed the same numbers agree. */
static void test_invariants(void **state)
{
    (void)state;
    Rng rng = {11};
    for (int trial = 0; trial < 300; trial++) {
        int P = 1 + (int)rng_below(&rng, 12);
        int64_t K = P + (int64_t)rng_below(&rng, trial % 10 == 0 ? 65536 - (uint64_t)P : 50);
        Balance a, c;
        assert_int_equal(balance_init(&a, P, K, true), 0);
        assert_int_equal(balance_init(&c, P, K, true), 0);
        int64_t ns[12];
        for (int step = 0; step < 10; step++) {
            for (int r = 0; r < P; r++) {
                uint64_t kind = rng_below(&rng, 10);
                ns[r] = kind == 0 ? 0 : kind == 1 ? INT64_MAX / 2
                                  : 1 + (int64_t)rng_below(&rng, 10000000);
            }
            balance_update(&a, ns);
            balance_update(&c, ns);
            assert_partition(&a);
            assert_memory_equal(a.count, c.count, (size_t)P * sizeof *a.count);
        }
        balance_free(&a);
        balance_free(&c);
    }
}

/* One rank far slower than the rest still keeps its one micro-batch. */
static void test_minimum_one(void **state)
{
    (void)state;
    Balance b;
    assert_int_equal(balance_init(&b, 4, 5, true), 0);
    balance_update(&b, (const int64_t[]){1000, 1000, 1000, 100000000});
    assert_partition(&b);
    assert_int_equal(b.count[3], 1);
    balance_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_even),
        cmocka_unit_test(test_slow_rank_gets_fewer),
        cmocka_unit_test(test_noise_does_not_move),
        cmocka_unit_test(test_invariants),
        cmocka_unit_test(test_minimum_one),
    };
    return cmocka_run_group_tests_name("balance", tests, NULL, NULL);
}
