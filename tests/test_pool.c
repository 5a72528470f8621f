/* test_pool.c - the oneDNN pooling op (ops/pool.c) against the textbook and the
 * naive oracles.  It proves:
 *   - the textbook's worked examples come out exactly through oneDNN, in NCHW
 *     and NHWC;
 *   - the output shape oneDNN builds and writes is the one shape_out_size()
 *     gives, for padded, strided and unevenly padded windows;
 *   - forward and backward agree with ref_pool2d_forward/ref_pool2d_backward
 *     on random configurations, for max, average including and average
 *     excluding padding, in both layouts;
 *   - backward is the gradient of forward (finite differences);
 *   - bad arguments are rejected with -1 and a message that says why.
 * Tolerances are stated where they are used; max pooling is always exact.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "base.h"
#include "pool.h"
#include "ref.h"
#include "shape.h"
#include "testutil.h"

static const Layout LAYOUTS[2] = {LAYOUT_NCHW, LAYOUT_NHWC};
static const PoolAlg ALGS[3] = {POOL_MAX, POOL_AVG_INCLUDE_PAD, POOL_AVG_EXCLUDE_PAD};

static const char *alg_str(PoolAlg alg)
{
    return alg == POOL_MAX ? "max" : alg == POOL_AVG_INCLUDE_PAD ? "avg-include" : "avg-exclude";
}

static size_t elems(int64_t n, int64_t c, int64_t h, int64_t w) { return (size_t)(n * c * h * w); }

/* Builds the op for spec and runs it on NCHW buffers, converting to and from
 * the spec's layout.  diff_dst and diff_src may be NULL (forward only).
 * Checks that the op's output size is the one shape_window_out() gives. */
static void pool_run(const PoolSpec *s, const float *src, float *dst, const float *diff_dst,
                     float *diff_src)
{
    int64_t oh, ow;
    assert_int_equal(shape_window_out(&s->win, s->ih, s->iw, &oh, &ow), 0);
    Pool p;
    if (pool_init(&p, s) != 0)
        fail_msg("pool_init: %s", base_error());
    assert_int_equal(p.oh, oh);
    assert_int_equal(p.ow, ow);

    size_t in_n = elems(s->n, s->c, s->ih, s->iw), out_n = elems(s->n, s->c, oh, ow);
    float *src_l = tmalloc(in_n), *dst_l = tmalloc(out_n);
    to_layout(src, src_l, s->n, s->c, s->ih, s->iw, s->layout);
    pool_forward(&p, src_l, dst_l);
    from_layout(dst_l, dst, s->n, s->c, oh, ow, s->layout);
    if (diff_dst) {
        float *dd_l = tmalloc(out_n), *ds_l = tmalloc(in_n);
        to_layout(diff_dst, dd_l, s->n, s->c, oh, ow, s->layout);
        /* Poison: pool_backward must overwrite every element. */
        for (size_t i = 0; i < in_n; i++)
            ds_l[i] = NAN;
        pool_backward(&p, dd_l, ds_l);
        from_layout(ds_l, diff_src, s->n, s->c, s->ih, s->iw, s->layout);
        free(dd_l);
        free(ds_l);
    }
    free(src_l);
    free(dst_l);
    pool_free(&p);
}

static void assert_exact(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(got[i] == want[i]))
            fail_msg("%s: element %zu of %zu: got %.9g, want %.9g", what, i, n,
                     (double)got[i], (double)want[i]);
}

/* ---- textbook examples ------------------------------------------------ */

/* Pools a single h x w image with a 2x2 window, stride 1, no padding, as
 * channel 0 of a two-channel batch whose channel 1 is 2*image + 1 (max and
 * average both commute with that map, and a second channel makes NHWC
 * interleave).  Expects want (oh x ow) and 2*want + 1, exactly. */
static void check_textbook(const float *img, int64_t h, int64_t w, PoolAlg alg, const float *want)
{
    int64_t oh = h - 1, ow = w - 1;
    size_t in_n = elems(1, 2, h, w), out_n = elems(1, 2, oh, ow);
    float *src = tmalloc(in_n), *dst = tmalloc(out_n), *expect = tmalloc(out_n);
    for (int64_t i = 0; i < h * w; i++) {
        src[i] = img[i];
        src[h * w + i] = 2.0f * img[i] + 1.0f;
    }
    for (int64_t i = 0; i < oh * ow; i++) {
        expect[i] = want[i];
        expect[oh * ow + i] = 2.0f * want[i] + 1.0f;
    }
    for (int l = 0; l < 2; l++) {
        PoolSpec s = {.n = 1, .c = 2, .ih = h, .iw = w, .win = window_square(2, 1, 0),
                      .alg = alg, .layout = LAYOUTS[l]};
        pool_run(&s, src, dst, NULL, NULL);
        char what[64];
        snprintf(what, sizeof what, "%s %s", alg_str(alg), LAYOUTS[l] == LAYOUT_NHWC ? "NHWC" : "NCHW");
        assert_exact(dst, expect, out_n, what);
    }
    free(src);
    free(dst);
    free(expect);
}

/* rows x cols matrix whose every row is row. */
static float *repeat_rows(const float *row, int rows, int cols)
{
    float *m = tmalloc((size_t)(rows * cols));
    for (int r = 0; r < rows; r++)
        memcpy(m + r * cols, row, sizeof(float) * (size_t)cols);
    return m;
}

static void test_textbook_edges(void **state)
{
    (void)state;
    /* 6x8 ones with columns 2..5 zero -> 2x2 max: rows [1,1,0,0,0,1,1]. */
    float *img = repeat_rows((const float[]){1, 1, 0, 0, 0, 0, 1, 1}, 6, 8);
    float *want = repeat_rows((const float[]){1, 1, 0, 0, 0, 1, 1}, 5, 7);
    check_textbook(img, 6, 8, POOL_MAX, want);
    free(img);
    free(want);

    /* Its edge map (6x7) -> rows [1,1,0,0,0,0]: the -1 edge vanishes. */
    img = repeat_rows((const float[]){0, 1, 0, 0, 0, -1, 0}, 6, 7);
    want = repeat_rows((const float[]){1, 1, 0, 0, 0, 0}, 5, 6);
    check_textbook(img, 6, 7, POOL_MAX, want);
    free(img);
    free(want);

    /* The edge map with columns 2 and 4 restored -> rows [0,1,1,1,1,0]. */
    img = repeat_rows((const float[]){0, 0, 1, -1, 1, -1, 0}, 6, 7);
    want = repeat_rows((const float[]){0, 1, 1, 1, 1, 0}, 5, 6);
    check_textbook(img, 6, 7, POOL_MAX, want);
    free(img);
    free(want);
}

static void test_textbook_x3(void **state)
{
    (void)state;
    static const float x[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    /* No padding: both averages divide by 4. */
    check_textbook(x, 3, 3, POOL_AVG_INCLUDE_PAD, (const float[]){2, 3, 5, 6});
    check_textbook(x, 3, 3, POOL_AVG_EXCLUDE_PAD, (const float[]){2, 3, 5, 6});
    check_textbook(x, 3, 3, POOL_MAX, (const float[]){4, 5, 7, 8});
}

/* ---- output shapes ----------------------------------------------------- */

typedef struct {
    int64_t ih, iw;
    Window win;
    int64_t oh, ow; /* worked out by hand */
} ShapeCase;

static const ShapeCase SHAPES[] = {
    {8, 8, {3, 3, 2, 2, 1, 1, 1, 1}, 4, 4},   /* k3, pad 1 each side, stride 2 */
    {8, 8, {3, 5, 3, 4, 0, 0, 1, 1}, 2, 2},   /* rectangular kernel and stride */
    {5, 7, {3, 3, 1, 2, 0, 1, 1, 0}, 4, 3},   /* uneven padding: bottom only, left only */
    {28, 28, {2, 2, 2, 2, 0, 0, 0, 0}, 14, 14}, /* LeNet's pooling */
    {6, 6, {4, 4, 3, 3, 3, 0, 2, 1}, 2, 2},   /* stride leaves the last rows unused */
    {9, 2, {4, 2, 2, 1, 1, 2, 1, 0}, 5, 2},
    {2, 3, {3, 3, 1, 1, 2, 2, 0, 2}, 4, 3},   /* padding nearly a kernel wide */
};

/* oneDNN accepts each descriptor only if its output size matches ours; then
 * the primitive must write every element of that output and nothing beyond. */
static void test_output_shapes(void **state)
{
    (void)state;
    Rng rng = {7};
    const int64_t n = 2, c = 3;
    for (size_t k = 0; k < sizeof SHAPES / sizeof SHAPES[0]; k++) {
        const ShapeCase *sc = &SHAPES[k];
        const Window *w = &sc->win;
        assert_int_equal(shape_out_size(sc->ih, w->kh, w->pt, w->pb, w->sh), sc->oh);
        assert_int_equal(shape_out_size(sc->iw, w->kw, w->pl, w->pr, w->sw), sc->ow);
        size_t in_n = elems(n, c, sc->ih, sc->iw), out_n = elems(n, c, sc->oh, sc->ow);
        const size_t guard = 64;
        float *src = tmalloc(in_n), *dst = tmalloc(out_n + guard), *want = tmalloc(out_n);
        fill_distinct(src, in_n, &rng);
        ref_pool2d_forward(src, n, c, sc->ih, sc->iw, w, POOL_MAX, want);
        for (int l = 0; l < 2; l++) {
            PoolSpec s = {.n = n, .c = c, .ih = sc->ih, .iw = sc->iw, .win = *w,
                          .alg = POOL_MAX, .layout = LAYOUTS[l]};
            Pool p;
            if (pool_init(&p, &s) != 0)
                fail_msg("case %zu: pool_init: %s", k, base_error());
            assert_int_equal(p.oh, sc->oh);
            assert_int_equal(p.ow, sc->ow);
            const dnnl_memory_desc_t *md;
            assert_int_equal(dnnl_memory_get_memory_desc(p.dst, &md), dnnl_success);
            assert_int_equal(md->dims[2], sc->oh);
            assert_int_equal(md->dims[3], sc->ow);

            float *src_l = tmalloc(in_n);
            to_layout(src, src_l, n, c, sc->ih, sc->iw, s.layout);
            for (size_t i = 0; i < out_n + guard; i++)
                dst[i] = NAN;
            pool_forward(&p, src_l, dst);
            for (size_t i = out_n; i < out_n + guard; i++)
                if (!isnan(dst[i]))
                    fail_msg("case %zu: pool_forward wrote past its %zu outputs", k, out_n);
            float *got = tmalloc(out_n);
            from_layout(dst, got, n, c, sc->oh, sc->ow, s.layout);
            char what[64];
            snprintf(what, sizeof what, "shape case %zu layout %d", k, l);
            assert_exact(got, want, out_n, what);
            free(got);
            free(src_l);
            pool_free(&p);
        }
        free(src);
        free(dst);
        free(want);
    }
}

/* ---- random configurations vs the naive oracle ------------------------- */

static int64_t draw(Rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Batch 1-3, channels 1-5, input 2-9, kernel 1-4, stride 1-3 and per-side
 * padding 0..k-1, redrawn until the kernel fits the padded input. */
static PoolSpec random_spec(Rng *r)
{
    PoolSpec s = {.n = draw(r, 1, 3), .c = draw(r, 1, 5)};
    Window *w = &s.win;
    do {
        s.ih = draw(r, 2, 9);
        s.iw = draw(r, 2, 9);
        w->kh = draw(r, 1, 4);
        w->kw = draw(r, 1, 4);
        w->sh = draw(r, 1, 3);
        w->sw = draw(r, 1, 3);
        w->pt = draw(r, 0, w->kh - 1);
        w->pb = draw(r, 0, w->kh - 1);
        w->pl = draw(r, 0, w->kw - 1);
        w->pr = draw(r, 0, w->kw - 1);
    } while (w->kh > s.ih + w->pt + w->pb || w->kw > s.iw + w->pl + w->pr);
    return s;
}

typedef enum { DATA_DISTINCT, DATA_SMALL_INT, DATA_UNIFORM } DataKind;

/* Runs spec on data of the given kind, forward and backward, against the
 * oracle with tolerances (atol, rtol) for forward and backward. */
static void compare_with_ref(const PoolSpec *s, DataKind kind, Rng *r, double fwd_tol,
                             double bwd_tol, int cfg)
{
    int64_t oh, ow;
    assert_int_equal(shape_window_out(&s->win, s->ih, s->iw, &oh, &ow), 0);
    size_t in_n = elems(s->n, s->c, s->ih, s->iw), out_n = elems(s->n, s->c, oh, ow);
    float *src = tmalloc(in_n), *diff_dst = tmalloc(out_n);
    float *dst = tmalloc(out_n), *diff_src = tmalloc(in_n);
    float *want_dst = tmalloc(out_n), *want_diff_src = tmalloc(in_n);
    if (kind == DATA_DISTINCT) {
        fill_distinct(src, in_n, r);
        fill_int(diff_dst, out_n, -4, 4, r);
    } else if (kind == DATA_SMALL_INT) {
        fill_int(src, in_n, -5, 5, r);
        fill_int(diff_dst, out_n, -4, 4, r);
    } else {
        fill_uniform(src, in_n, -1.0f, 1.0f, r);
        fill_uniform(diff_dst, out_n, -1.0f, 1.0f, r);
    }
    pool_run(s, src, dst, diff_dst, diff_src);
    ref_pool2d_forward(src, s->n, s->c, s->ih, s->iw, &s->win, s->alg, want_dst);
    ref_pool2d_backward(src, diff_dst, s->n, s->c, s->ih, s->iw, &s->win, s->alg, want_diff_src);

    const Window *w = &s->win;
    char desc[200], label[220];
    snprintf(desc, sizeof desc,
             "config %d %s %s data %d: n%lld c%lld %lldx%lld k%lldx%lld s%lldx%lld "
             "pad t%lld b%lld l%lld r%lld",
             cfg, alg_str(s->alg), s->layout == LAYOUT_NHWC ? "NHWC" : "NCHW", (int)kind,
             (long long)s->n, (long long)s->c, (long long)s->ih, (long long)s->iw,
             (long long)w->kh, (long long)w->kw, (long long)w->sh, (long long)w->sw,
             (long long)w->pt, (long long)w->pb, (long long)w->pl, (long long)w->pr);
    snprintf(label, sizeof label, "%s: forward", desc);
    if (fwd_tol == 0.0)
        assert_exact(dst, want_dst, out_n, label);
    else
        assert_close(dst, want_dst, out_n, fwd_tol, fwd_tol, label);
    snprintf(label, sizeof label, "%s: backward", desc);
    if (bwd_tol == 0.0)
        assert_exact(diff_src, want_diff_src, in_n, label);
    else
        assert_close(diff_src, want_diff_src, in_n, bwd_tol, bwd_tol, label);
    free(src);
    free(diff_dst);
    free(dst);
    free(diff_src);
    free(want_dst);
    free(want_diff_src);
}

static void test_random_vs_ref(void **state)
{
    (void)state;
    Rng cfg_rng = {2024}, data_rng = {99};
    for (int cfg = 0; cfg < 40; cfg++) {
        PoolSpec s = random_spec(&cfg_rng);
        for (int l = 0; l < 2; l++) {
            s.layout = LAYOUTS[l];
            for (int a = 0; a < 3; a++) {
                s.alg = ALGS[a];
                if (s.alg == POOL_MAX) {
                    /* Distinct values: a unique maximum per window, so the
                     * value and the routing of the gradient are both exact
                     * (integer diff_dst sums exactly). */
                    compare_with_ref(&s, DATA_DISTINCT, &data_rng, 0.0, 0.0, cfg);
                } else {
                    /* Small integers: the window sums are exact, only the
                     * division by the window size (1..16) rounds, in oneDNN
                     * possibly as a multiplication by its reciprocal: a few
                     * ulp, so 1e-6 absolute and relative.  Backward adds up
                     * to 16 rounded shares diff/size per input: 1e-5. */
                    compare_with_ref(&s, DATA_SMALL_INT, &data_rng, 1e-6, 1e-5, cfg);
                    /* Random floats in [-1, 1]: sums of up to 16 terms in a
                     * different order; 1e-5 absolute and relative. */
                    compare_with_ref(&s, DATA_UNIFORM, &data_rng, 1e-5, 1e-5, cfg);
                }
            }
        }
    }
}

/* ---- finite differences ------------------------------------------------ */

/* L(src) = sum(dst * R) in double; dL/dsrc is pool_backward(R). */
static double pool_loss(Pool *p, const float *src, float *dst, const float *rr, size_t out_n)
{
    pool_forward(p, src, dst);
    double l = 0.0;
    for (size_t i = 0; i < out_n; i++)
        l += (double)dst[i] * rr[i];
    return l;
}

static void fd_check(PoolAlg alg, Layout layout)
{
    /* Overlapping windows (stride 1 across), padding on three sides. */
    PoolSpec s = {.n = 2, .c = 3, .ih = 7, .iw = 6,
                  .win = {.kh = 3, .kw = 2, .sh = 2, .sw = 1, .pt = 1, .pb = 1, .pl = 1, .pr = 0},
                  .alg = alg, .layout = layout};
    Pool p;
    if (pool_init(&p, &s) != 0)
        fail_msg("pool_init: %s", base_error());
    size_t in_n = elems(s.n, s.c, s.ih, s.iw), out_n = elems(s.n, s.c, p.oh, p.ow);
    float *src = tmalloc(in_n), *dst = tmalloc(out_n), *rr = tmalloc(out_n);
    float *grad = tmalloc(in_n), *fd = tmalloc(in_n);
    Rng r = {31 + (uint64_t)alg * 2 + (uint64_t)layout};
    double eps, tol;
    if (alg == POOL_MAX) {
        /* Values 0.25 apart and a step of 1/64: no window changes its
         * arg-max, and every quantity (src +- eps, dst, R in eighths, L) is
         * exact, so the difference quotient is exact too. */
        fill_distinct(src, in_n, &r);
        fill_int(rr, out_n, -8, 8, &r);
        for (size_t i = 0; i < out_n; i++)
            rr[i] /= 8.0f;
        eps = 1.0 / 64;
        tol = 1e-6;
    } else {
        /* Average pooling is linear: the quotient is exact up to the rounding
         * of the few affected outputs (~1e-7 each) divided by 2*eps = 1. */
        fill_uniform(src, in_n, -1.0f, 1.0f, &r);
        fill_uniform(rr, out_n, -1.0f, 1.0f, &r);
        eps = 0.5;
        tol = 1e-5;
    }
    pool_forward(&p, src, dst); /* the workspace for backward */
    pool_backward(&p, rr, grad);
    for (size_t i = 0; i < in_n; i++) {
        float keep = src[i];
        src[i] = keep + (float)eps;
        double lp = pool_loss(&p, src, dst, rr, out_n);
        src[i] = keep - (float)eps;
        double lm = pool_loss(&p, src, dst, rr, out_n);
        src[i] = keep;
        fd[i] = (float)((lp - lm) / (2.0 * eps));
    }
    char what[64];
    snprintf(what, sizeof what, "finite differences %s %s", alg_str(alg),
             layout == LAYOUT_NHWC ? "NHWC" : "NCHW");
    assert_close(grad, fd, in_n, tol, tol, what);
    /* A gradient of all zeros would pass a loose check; this one routes R. */
    double norm = 0.0;
    for (size_t i = 0; i < in_n; i++)
        norm += fabs(grad[i]);
    assert_true(norm > 1.0);
    free(src);
    free(dst);
    free(rr);
    free(grad);
    free(fd);
    pool_free(&p);
}

static void test_finite_differences(void **state)
{
    (void)state;
    for (int l = 0; l < 2; l++)
        for (int a = 0; a < 3; a++)
            fd_check(ALGS[a], LAYOUTS[l]);
}

/* ---- bad arguments ----------------------------------------------------- */

static void expect_reject(PoolSpec s, const char *needle)
{
    Pool p;
    memset(&p, 0xAB, sizeof p);
    assert_int_equal(pool_init(&p, &s), -1);
    const char *msg = base_error();
    if (!strstr(msg, needle) || !strstr(msg, "pooling"))
        fail_msg("pool_init error \"%s\" does not mention \"%s\"", msg, needle);
    /* A rejected op holds nothing, and pool_free is safe on it. */
    assert_null(p.fwd);
    assert_null(p.bwd);
    pool_free(&p);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const PoolSpec good = {.n = 1, .c = 2, .ih = 4, .iw = 4, .win = window_square(2, 2, 0),
                           .alg = POOL_MAX, .layout = LAYOUT_NCHW};
    Pool p;
    assert_int_equal(pool_init(&p, &good), 0); /* the base case is valid */
    pool_free(&p);

    PoolSpec s = good;
    s.win = window_square(7, 1, 1); /* 7 > 4 + 1 + 1 */
    expect_reject(s, "larger than the padded input");
    s = good;
    s.win.sw = 0;
    expect_reject(s, "stride");
    s = good;
    s.win.sh = -1;
    expect_reject(s, "stride");
    s = good;
    s.n = 0;
    expect_reject(s, "batch");
    s = good;
    s.c = -2;
    expect_reject(s, "channels");
    s = good;
    s.ih = -3;
    expect_reject(s, "input size -3");
    s = good;
    s.iw = 0;
    expect_reject(s, "width");
    s = good;
    s.win.kh = 0;
    expect_reject(s, "kernel");
    s = good;
    s.win.pl = -1;
    expect_reject(s, "must not be negative");
    s = good;
    s.win = window_square(2, 1, 2); /* fits the input, but pad 2 >= kernel 2 */
    expect_reject(s, "smaller than the kernel");
    s = good;
    s.win.pr = 2; /* one side only */
    expect_reject(s, "smaller than the kernel");
    s = good;
    s.alg = (PoolAlg)7;
    expect_reject(s, "unknown algorithm");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_textbook_edges),
        cmocka_unit_test(test_textbook_x3),
        cmocka_unit_test(test_output_shapes),
        cmocka_unit_test(test_random_vs_ref),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
