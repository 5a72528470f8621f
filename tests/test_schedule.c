/* test_schedule.c - learning-rate schedules: constant, step, cosine, and
 * linear warmup in front of each. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "schedule.h"

static void assert_close(double got, double want)
{
    if (fabs(got - want) > 1e-12 * fmax(1.0, fabs(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void test_constant(void **state)
{
    (void)state;
    Schedule s = {.kind = SCHEDULE_CONSTANT, .lr = 0.9, .total_steps = 100};
    assert_true(schedule_lr(&s, 0) == 0.9);
    assert_true(schedule_lr(&s, 99) == 0.9);
}

static void test_step(void **state)
{
    (void)state;
    Schedule s = {.kind = SCHEDULE_STEP, .lr = 1.0, .step_size = 10, .gamma = 0.5,
                  .total_steps = 100};
    assert_true(schedule_lr(&s, 0) == 1.0);
    assert_true(schedule_lr(&s, 9) == 1.0);
    assert_true(schedule_lr(&s, 10) == 0.5);
    assert_true(schedule_lr(&s, 19) == 0.5);
    assert_true(schedule_lr(&s, 25) == 0.25);
    assert_true(schedule_lr(&s, 99) == 0x1p-9);
    s.gamma = 0.1;
    assert_close(schedule_lr(&s, 30), 1e-3);
}

static void test_cosine(void **state)
{
    (void)state;
    Schedule s = {.kind = SCHEDULE_COSINE, .lr = 0.8, .total_steps = 100};
    assert_true(schedule_lr(&s, 0) == 0.8);
    assert_close(schedule_lr(&s, 50), 0.4);
    assert_close(schedule_lr(&s, 25), 0.4 * (1 + sqrt(0.5)));
    assert_true(schedule_lr(&s, 99) > 0.0);
    assert_true(schedule_lr(&s, 100) == 0.0);
    assert_true(schedule_lr(&s, 1000) == 0.0);
    for (int64_t t = 1; t < 100; t++)
        assert_true(schedule_lr(&s, t) < schedule_lr(&s, t - 1));
}

static void test_warmup(void **state)
{
    (void)state;
    Schedule s = {.kind = SCHEDULE_CONSTANT, .lr = 0.8, .warmup = 4, .total_steps = 20};
    assert_close(schedule_lr(&s, 0), 0.2);
    assert_close(schedule_lr(&s, 1), 0.4);
    assert_close(schedule_lr(&s, 3), 0.8);
    assert_true(schedule_lr(&s, 4) == 0.8);
    /* The step and cosine schedules start after the warmup. */
    s.kind = SCHEDULE_STEP;
    s.step_size = 5;
    s.gamma = 0.5;
    assert_true(schedule_lr(&s, 8) == 0.8);
    assert_true(schedule_lr(&s, 9) == 0.4);
    s.kind = SCHEDULE_COSINE;
    assert_true(schedule_lr(&s, 4) == 0.8);
    assert_close(schedule_lr(&s, 4 + 8), 0.4); /* halfway through 16 */
    assert_true(schedule_lr(&s, 20) == 0.0);
}

static void test_names(void **state)
{
    (void)state;
    ScheduleKind k;
    assert_int_equal(schedule_parse("cosine", &k), 0);
    assert_int_equal(k, SCHEDULE_COSINE);
    assert_string_equal(schedule_name(SCHEDULE_STEP), "step");
    assert_int_equal(schedule_parse("linear", &k), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_warmup),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("schedule", tests, NULL, NULL);
}
