/* test_conv.c - the oneDNN convolution against the textbook and the naive
 * reference: the worked examples exactly, output shapes as oneDNN computes
 * them, many random configurations (forward, backward data, backward weights,
 * bias) in both activation layouts, finite-difference gradients, and bad
 * arguments.
 *
 * Tolerances: small-integer data makes every product and sum an integer
 * below 2^24, so oneDNN and the loops must agree EXACTLY whatever order they
 * add in.  On uniform floats in [-1, 1] the two summation orders differ by
 * rounding only: 1e-5 absolute + 1e-5 relative. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "conv.h"
#include "ref.h"
#include "testutil.h"

/* Runs a Conv on NCHW data (converting to and from the op's layout). */
static void conv_run(const ConvSpec *s, const float *src, const float *w, const float *b,
                     float *dst, int64_t *oh, int64_t *ow)
{
    Conv c;
    assert_int_equal(conv_init(&c, s), 0);
    *oh = c.oh;
    *ow = c.ow;
    size_t ns = (size_t)(s->n * s->ic * s->ih * s->iw), nd = (size_t)(s->n * s->oc * c.oh * c.ow);
    float *x = tmalloc(ns), *y = tmalloc(nd);
    to_layout(src, x, s->n, s->ic, s->ih, s->iw, s->layout);
    conv_forward(&c, x, w, b, y);
    from_layout(y, dst, s->n, s->oc, c.oh, c.ow, s->layout);
    free(x), free(y);
    conv_free(&c);
}

static const float X3[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
static const float K2[4] = {0, 1, 2, 3};

static void textbook_case(int ic, int oc, const float *want, Layout layout)
{
    float x[27], k[36], bias[3] = {0}, y[12];
    for (int c = 0; c < ic; c++)
        for (int i = 0; i < 9; i++)
            x[c * 9 + i] = X3[i] + (float)c;
    for (int o = 0; o < oc; o++)
        for (int c = 0; c < ic; c++)
            for (int i = 0; i < 4; i++)
                k[(o * ic + c) * 4 + i] = K2[i] + (float)c + (float)o;
    ConvSpec s = {1, ic, 3, 3, oc, window_square(2, 1, 0), layout, ACT_NONE, 1};
    int64_t oh, ow;
    conv_run(&s, x, k, bias, y, &oh, &ow);
    assert_int_equal(oh, 2);
    assert_int_equal(ow, 2);
    assert_close(y, want, (size_t)(4 * oc), 0.0, 0.0, "textbook");
}

static void test_textbook_examples(void **state)
{
    (void)state;
    for (int l = 0; l < 2; l++) {
        Layout layout = l ? LAYOUT_NHWC : LAYOUT_NCHW;
        textbook_case(1, 1, (const float[]){19, 25, 37, 43}, layout);
        textbook_case(2, 1, (const float[]){56, 72, 104, 120}, layout);
        textbook_case(2, 3, (const float[]){56, 72, 104, 120, 76, 100, 148, 172, 96, 128, 192, 224},
                      layout);
    }
}

static void test_edge_detection(void **state)
{
    (void)state;
    for (int restore = 0; restore < 2; restore++) {
        float x[48], y[42], bias[1] = {0};
        const float k[2] = {1, -1};
        for (int r = 0; r < 6; r++)
            for (int c = 0; c < 8; c++)
                x[r * 8 + c] = (c >= 2 && c <= 5) && !(restore && (c == 2 || c == 4)) ? 0.0f : 1.0f;
        ConvSpec s = {1, 1, 6, 8, 1, {1, 2, 1, 1, 0, 0, 0, 0}, LAYOUT_NHWC, ACT_NONE, 1};
        int64_t oh, ow;
        conv_run(&s, x, k, bias, y, &oh, &ow);
        assert_int_equal(oh, 6);
        assert_int_equal(ow, 7);
        const float *row = restore ? (const float[]){0, 0, 1, -1, 1, -1, 0}
                                   : (const float[]){0, 1, 0, 0, 0, -1, 0};
        for (int r = 0; r < 6; r++)
            assert_close(y + r * 7, row, 7, 0.0, 0.0, "edge map row");
    }
}

/* oneDNN accepts exactly the destination shape the formula gives. */
static void expect_dnnl_shape(int64_t ih, int64_t iw, const Window *w, int64_t oh, int64_t ow)
{
    dnnl_memory_desc_t src = dnn_md4(1, 1, ih, iw, LAYOUT_NCHW);
    int64_t wd[4] = {1, 1, w->kh, w->kw};
    dnnl_memory_desc_t wt = dnn_md_tag(4, wd, dnnl_oihw);
    dnnl_dims_t st = {w->sh, w->sw}, pl = {w->pt, w->pl}, pr = {w->pb, w->pr};
    for (int dh = -1; dh <= 1; dh++) {
        dnnl_memory_desc_t dst = dnn_md4(1, 1, oh + dh, ow, LAYOUT_NCHW);
        dnnl_convolution_desc_t d;
        dnnl_status_t st_ = dnnl_convolution_forward_desc_init(
            &d, dnnl_forward_training, dnnl_convolution_direct, &src, &wt, NULL, &dst, st, pl, pr);
        if (dh == 0)
            assert_int_equal(st_, dnnl_success);
        else
            assert_int_not_equal(st_, dnnl_success);
    }
}

static void test_output_shapes(void **state)
{
    (void)state;
    const struct {
        int64_t ih, iw;
        Window w;
        int64_t oh, ow;
    } cases[] = {
        {8, 8, {3, 3, 2, 2, 1, 1, 1, 1}, 4, 4},
        {8, 8, {3, 5, 3, 4, 0, 0, 1, 1}, 2, 2},
        {28, 28, {5, 5, 1, 1, 2, 2, 2, 2}, 28, 28},
        {7, 9, {3, 2, 2, 3, 0, 1, 1, 0}, 3, 3},
        {5, 5, {2, 2, 1, 1, 1, 0, 0, 1}, 5, 5},
    };
    Rng r = {3};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t oh, ow;
        assert_int_equal(shape_window_out(&cases[i].w, cases[i].ih, cases[i].iw, &oh, &ow), 0);
        assert_int_equal(oh, cases[i].oh);
        assert_int_equal(ow, cases[i].ow);
        expect_dnnl_shape(cases[i].ih, cases[i].iw, &cases[i].w, oh, ow);
        /* And the op runs and agrees with the loops at that shape. */
        ConvSpec s = {2, 2, cases[i].ih, cases[i].iw, 3, cases[i].w, LAYOUT_NHWC, ACT_NONE, 1};
        size_t ns = (size_t)(2 * 2 * cases[i].ih * cases[i].iw), nw = (size_t)(3 * 2 * s.win.kh * s.win.kw);
        float *x = tmalloc(ns), *w = tmalloc(nw), b[3] = {1, -2, 3};
        float *y = tmalloc((size_t)(2 * 3 * oh * ow)), *want = tmalloc((size_t)(2 * 3 * oh * ow));
        fill_int(x, ns, -3, 3, &r);
        fill_int(w, nw, -2, 2, &r);
        int64_t goh, gow;
        conv_run(&s, x, w, b, y, &goh, &gow);
        ref_conv2d_forward(x, 2, 2, cases[i].ih, cases[i].iw, w, b, 3, &s.win, want);
        assert_close(y, want, (size_t)(2 * 3 * oh * ow), 0.0, 0.0, "shape case forward");
        free(x), free(w), free(y), free(want);
    }
}

typedef struct {
    ConvSpec s;
    int64_t oh, ow;
    size_t ns, nw, nd;
} Case;

static Case random_case(Rng *r, Layout layout)
{
    Case c;
    ConvSpec *s = &c.s;
    memset(&c, 0, sizeof c);
    s->n = 1 + (int64_t)(rng_next(r) % 3);
    s->ic = 1 + (int64_t)(rng_next(r) % 4);
    s->oc = 1 + (int64_t)(rng_next(r) % 4);
    s->win.kh = 1 + (int64_t)(rng_next(r) % 4);
    s->win.kw = 1 + (int64_t)(rng_next(r) % 4);
    s->win.sh = 1 + (int64_t)(rng_next(r) % 3);
    s->win.sw = 1 + (int64_t)(rng_next(r) % 3);
    s->win.pt = (int64_t)(rng_next(r) % (uint64_t)s->win.kh);
    s->win.pb = (int64_t)(rng_next(r) % (uint64_t)s->win.kh);
    s->win.pl = (int64_t)(rng_next(r) % (uint64_t)s->win.kw);
    s->win.pr = (int64_t)(rng_next(r) % (uint64_t)s->win.kw);
    s->ih = s->win.kh + (int64_t)(rng_next(r) % 6);
    s->iw = s->win.kw + (int64_t)(rng_next(r) % 6);
    s->layout = layout;
    s->act = ACT_NONE;
    s->need_diff_src = 1;
    assert_int_equal(shape_window_out(&s->win, s->ih, s->iw, &c.oh, &c.ow), 0);
    c.ns = (size_t)(s->n * s->ic * s->ih * s->iw);
    c.nw = (size_t)(s->oc * s->ic * s->win.kh * s->win.kw);
    c.nd = (size_t)(s->n * s->oc * c.oh * c.ow);
    return c;
}

/* Forward and both backward passes of one case vs the reference loops. */
static void check_case(const Case *c, int integers, Rng *r)
{
    const ConvSpec *s = &c->s;
    float *src = tmalloc(c->ns), *w = tmalloc(c->nw), *b = tmalloc((size_t)s->oc);
    float *ddst = tmalloc(c->nd);
    if (integers) {
        fill_int(src, c->ns, -3, 3, r), fill_int(w, c->nw, -3, 3, r);
        fill_int(b, (size_t)s->oc, -3, 3, r), fill_int(ddst, c->nd, -3, 3, r);
    } else {
        fill_uniform(src, c->ns, -1, 1, r), fill_uniform(w, c->nw, -1, 1, r);
        fill_uniform(b, (size_t)s->oc, -1, 1, r), fill_uniform(ddst, c->nd, -1, 1, r);
    }
    double tol = integers ? 0.0 : 1e-5;
    float *want_dst = tmalloc(c->nd), *want_dsrc = tmalloc(c->ns), *want_dw = tmalloc(c->nw);
    float *want_db = tmalloc((size_t)s->oc);
    ref_conv2d_forward(src, s->n, s->ic, s->ih, s->iw, w, b, s->oc, &s->win, want_dst);
    ref_conv2d_backward_data(ddst, w, s->n, s->ic, s->ih, s->iw, s->oc, &s->win, want_dsrc);
    ref_conv2d_backward_weights(src, ddst, s->n, s->ic, s->ih, s->iw, s->oc, &s->win, want_dw,
                                want_db);

    Conv conv;
    assert_int_equal(conv_init(&conv, s), 0);
    float *x = tmalloc(c->ns), *y = tmalloc(c->nd), *gy = tmalloc(c->nd), *gx = tmalloc(c->ns);
    float *got = tmalloc(c->ns > c->nd ? c->ns : c->nd), *dw = tmalloc(c->nw);
    float *db = tmalloc((size_t)s->oc);
    to_layout(src, x, s->n, s->ic, s->ih, s->iw, s->layout);
    to_layout(ddst, gy, s->n, s->oc, c->oh, c->ow, s->layout);
    conv_forward(&conv, x, w, b, y);
    from_layout(y, got, s->n, s->oc, c->oh, c->ow, s->layout);
    assert_close(got, want_dst, c->nd, tol, tol, "forward");
    /* Fill outputs with garbage: backward must overwrite, not accumulate. */
    for (size_t i = 0; i < c->ns; i++)
        gx[i] = 1e6f;
    for (size_t i = 0; i < c->nw; i++)
        dw[i] = 1e6f;
    conv_backward(&conv, x, y, gy, w, gx, dw, db);
    from_layout(gx, got, s->n, s->ic, s->ih, s->iw, s->layout);
    assert_close(got, want_dsrc, c->ns, tol, tol, "backward data");
    assert_close(dw, want_dw, c->nw, tol, tol, "backward weights");
    assert_close(db, want_db, (size_t)s->oc, tol, tol, "backward bias");
    conv_free(&conv);
    float *all[] = {src, w, b, ddst, want_dst, want_dsrc, want_dw, want_db, x, y, gy, gx, got, dw, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

static void test_random_configs(void **state)
{
    (void)state;
    Rng r = {2026};
    for (int i = 0; i < 60; i++) {
        Case c = random_case(&r, i % 2 ? LAYOUT_NHWC : LAYOUT_NCHW);
        check_case(&c, i % 3 != 2, &r);
    }
}

/* L = sum(dst * R): dL/dparam from backward vs central differences. */
static double conv_loss(Conv *c, const float *x, const float *w, const float *b, const float *R,
                        float *y, size_t nd)
{
    conv_forward(c, x, w, b, y);
    double l = 0;
    for (size_t i = 0; i < nd; i++)
        l += (double)y[i] * R[i];
    return l;
}

static void fd_check(Conv *c, float *x, float *w, float *b, const float *R, float *y, size_t nd,
                     float *param, const float *analytic, size_t count, const char *what)
{
    const float eps = 1e-2f;
    for (size_t i = 0; i < count; i++) {
        float keep = param[i];
        param[i] = keep + eps;
        double up = conv_loss(c, x, w, b, R, y, nd);
        param[i] = keep - eps;
        double down = conv_loss(c, x, w, b, R, y, nd);
        param[i] = keep;
        double numeric = (up - down) / (2.0 * eps);
        if (fabs(numeric - analytic[i]) > 2e-3 + 2e-2 * fabs(numeric))
            fail_msg("%s[%zu]: backward %.6g, finite difference %.6g", what, i,
                     (double)analytic[i], numeric);
    }
}

static void test_gradient_fd(void **state)
{
    (void)state;
    Rng r = {11};
    ActKind acts[] = {ACT_NONE, ACT_SIGMOID, ACT_TANH};
    for (int a = 0; a < 3; a++) {
        ConvSpec s = {2, 2, 6, 5, 3, {3, 2, 2, 1, 1, 0, 1, 1}, a == 1 ? LAYOUT_NHWC : LAYOUT_NCHW,
                      acts[a], 1};
        Conv c;
        assert_int_equal(conv_init(&c, &s), 0);
        size_t ns = 2 * 2 * 6 * 5, nw = 3 * 2 * 3 * 2, nd = (size_t)(2 * 3 * c.oh * c.ow);
        float *x = tmalloc(ns), *w = tmalloc(nw), *b = tmalloc(3), *R = tmalloc(nd);
        float *y = tmalloc(nd), *gx = tmalloc(ns), *gw = tmalloc(nw), *gb = tmalloc(3);
        fill_uniform(x, ns, -1, 1, &r), fill_uniform(w, nw, -1, 1, &r);
        fill_uniform(b, 3, -1, 1, &r), fill_uniform(R, nd, -1, 1, &r);
        conv_forward(&c, x, w, b, y);
        conv_backward(&c, x, y, R, w, gx, gw, gb);
        fd_check(&c, x, w, b, R, y, nd, x, gx, ns, "diff_src");
        fd_check(&c, x, w, b, R, y, nd, w, gw, nw, "diff_weights");
        fd_check(&c, x, w, b, R, y, nd, b, gb, 3, "diff_bias");
        conv_free(&c);
        free(x), free(w), free(b), free(R), free(y), free(gx), free(gw), free(gb);
    }
}

static void expect_reject(ConvSpec s, const char *text)
{
    Conv c;
    assert_int_equal(conv_init(&c, &s), -1);
    if (!strstr(base_error(), text))
        fail_msg("error '%s' does not mention '%s'", base_error(), text);
    conv_free(&c); /* safe on the zeroed struct */
}

static void test_bad_arguments(void **state)
{
    (void)state;
    ConvSpec ok = {1, 1, 4, 4, 1, window_square(3, 1, 0), LAYOUT_NCHW, ACT_NONE, 1};
    ConvSpec s = ok;
    s.win = window_square(7, 1, 1);
    expect_reject(s, "larger than the padded input");
    s = ok;
    s.win.sw = 0;
    expect_reject(s, "stride");
    s = ok;
    s.ih = -4;
    expect_reject(s, "input size");
    s = ok;
    s.ic = 0;
    expect_reject(s, "channels");
    s = ok;
    s.n = -1;
    expect_reject(s, "batch");
    s = ok;
    s.win.pl = -1;
    expect_reject(s, "padding");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_textbook_examples),
        cmocka_unit_test(test_edge_detection),
        cmocka_unit_test(test_output_shapes),
        cmocka_unit_test(test_random_configs),
        cmocka_unit_test(test_gradient_fd),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests_name("conv", tests, NULL, NULL);
}
