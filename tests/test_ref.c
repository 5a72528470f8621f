/* test_ref.c - the textbook's worked examples on the naive reference
 * functions, and the output-size formula. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base.h"
#include "ref.h"
#include "shape.h"

static const float X3[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
static const float K2[4] = {0, 1, 2, 3};

static void assert_floats(const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("element %zu: got %g, want %g", i, (double)got[i], (double)want[i]);
}

static void test_corr2d(void **state)
{
    (void)state;
    float y[4];
    ref_corr2d(X3, 3, 3, K2, 2, 2, y);
    assert_floats(y, (const float[]){19, 25, 37, 43}, 4);
}

static void two_channels(float *x, float *k)
{
    for (int i = 0; i < 9; i++) {
        x[i] = X3[i];
        x[9 + i] = X3[i] + 1;
    }
    for (int i = 0; i < 4; i++) {
        k[i] = K2[i];
        k[4 + i] = K2[i] + 1;
    }
}

static void test_corr2d_multi_in(void **state)
{
    (void)state;
    float x[18], k[8], y[4];
    two_channels(x, k);
    ref_corr2d_multi_in(x, 2, 3, 3, k, 2, 2, y);
    assert_floats(y, (const float[]){56, 72, 104, 120}, 4);
}

static void test_corr2d_multi_in_out(void **state)
{
    (void)state;
    float x[18], k[24], y[12];
    two_channels(x, k);
    for (int o = 1; o < 3; o++)
        for (int i = 0; i < 8; i++)
            k[o * 8 + i] = k[i] + (float)o;
    ref_corr2d_multi_in_out(x, 2, 3, 3, k, 3, 2, 2, y);
    assert_floats(y, (const float[]){56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224}, 12);
}

/* The 6x8 image of ones with columns 2..5 zero, or with 2 and 4 back at 1. */
static void edge_image(float *x, int restore)
{
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 8; c++)
            x[r * 8 + c] = (c >= 2 && c <= 5) ? 0.0f : 1.0f;
    if (restore)
        for (int r = 0; r < 6; r++)
            x[r * 8 + 2] = x[r * 8 + 4] = 1.0f;
}

static void assert_rows(const float *y, int rows, int cols, const float *row)
{
    for (int r = 0; r < rows; r++)
        assert_floats(y + r * cols, row, (size_t)cols);
}

static void test_edge_detection(void **state)
{
    (void)state;
    float x[48], y[42], p[35], q[30];
    const float k[2] = {1, -1};
    edge_image(x, 0);
    ref_corr2d(x, 6, 8, k, 1, 2, y);
    assert_rows(y, 6, 7, (const float[]){0, 1, 0, 0, 0, -1, 0});
    ref_pool2d(x, 6, 8, 2, 2, POOL_MAX, p);
    assert_rows(p, 5, 7, (const float[]){1, 1, 0, 0, 0, 1, 1});
    ref_pool2d(y, 6, 7, 2, 2, POOL_MAX, q);
    assert_rows(q, 5, 6, (const float[]){1, 1, 0, 0, 0, 0});

    edge_image(x, 1);
    ref_corr2d(x, 6, 8, k, 1, 2, y);
    assert_rows(y, 6, 7, (const float[]){0, 0, 1, -1, 1, -1, 0});
    ref_pool2d(y, 6, 7, 2, 2, POOL_MAX, q);
    assert_rows(q, 5, 6, (const float[]){0, 1, 1, 1, 1, 0});
}

static void test_pool2d_avg(void **state)
{
    (void)state;
    float y[4];
    ref_pool2d(X3, 3, 3, 2, 2, POOL_AVG_INCLUDE_PAD, y);
    assert_floats(y, (const float[]){2, 3, 5, 6}, 4);
    ref_pool2d(X3, 3, 3, 2, 2, POOL_MAX, y);
    assert_floats(y, (const float[]){4, 5, 7, 8}, 4);
}

static void test_out_size(void **state)
{
    (void)state;
    int64_t oh, ow;
    Window w = window_square(3, 2, 1);
    assert_int_equal(shape_window_out(&w, 8, 8, &oh, &ow), 0);
    assert_int_equal(oh, 4);
    assert_int_equal(ow, 4);
    w = (Window){.kh = 3, .kw = 5, .sh = 3, .sw = 4, .pt = 0, .pb = 0, .pl = 1, .pr = 1};
    assert_int_equal(shape_window_out(&w, 8, 8, &oh, &ow), 0);
    assert_int_equal(oh, 2);
    assert_int_equal(ow, 2);
    /* LeNet: 28 with k5 pad 2 keeps 28; k5 without padding on 14 gives 10. */
    assert_int_equal(shape_out_size(28, 5, 2, 2, 1), 28);
    assert_int_equal(shape_out_size(14, 5, 0, 0, 1), 10);
    assert_int_equal(shape_out_size(10, 2, 0, 0, 2), 5);
    /* Uneven padding counts both sides. */
    assert_int_equal(shape_out_size(5, 3, 0, 1, 1), 4);
    assert_int_equal(shape_out_size(7, 3, 1, 0, 2), 3);
}

static void test_out_size_rejects(void **state)
{
    (void)state;
    assert_int_equal(shape_out_size(4, 7, 1, 1, 1), -1);
    assert_non_null(strstr(base_error(), "larger than the padded input"));
    assert_int_equal(shape_out_size(4, 3, 0, 0, 0), -1);
    assert_non_null(strstr(base_error(), "stride"));
    assert_int_equal(shape_out_size(-4, 3, 0, 0, 1), -1);
    assert_non_null(strstr(base_error(), "input size"));
    assert_int_equal(shape_out_size(4, 3, -1, 0, 1), -1);
    assert_non_null(strstr(base_error(), "padding"));
    assert_int_equal(shape_out_size(4, 0, 0, 0, 1), -1);
    assert_non_null(strstr(base_error(), "kernel"));
    int64_t oh, ow;
    Window w = window_square(3, 1, 0);
    assert_int_equal(shape_window_out(&w, 8, 2, &oh, &ow), -1);
    assert_non_null(strstr(base_error(), "width"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corr2d),
        cmocka_unit_test(test_corr2d_multi_in),
        cmocka_unit_test(test_corr2d_multi_in_out),
        cmocka_unit_test(test_edge_detection),
        cmocka_unit_test(test_pool2d_avg),
        cmocka_unit_test(test_out_size),
        cmocka_unit_test(test_out_size_rejects),
    };
    return cmocka_run_group_tests_name("ref", tests, NULL, NULL);
}
