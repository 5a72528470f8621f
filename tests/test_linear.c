/* test_linear.c - the inner-product op (ops/linear.c) and the standalone
 * activation op (ops/act.c).  It proves:
 *   - Linear computes dst = act(src . W^T + b) and its three gradients like a
 *     naive matmul in double, for a 2-D input and a 4-D input in NCHW and in
 *     NHWC, with W always plain (oc, c*h*w) in flattened-NCHW order;
 *     exactly on small integers without activation, within a stated
 *     tolerance on floats and with a fused sigmoid, ReLU or tanh;
 *   - a layer built without diff_src still gives the same weight gradients;
 *   - Act forward/backward follow the formulas of sigmoid, ReLU and tanh,
 *     with backward computed from dst, also in place;
 *   - Linear's backward is the gradient of its forward (finite differences of
 *     L = sum(dst * R)), with and without activation;
 *   - bad arguments are rejected with -1 and a message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "act.h"
#include "base.h"
#include "linear.h"
#include "testutil.h"

static const ActKind ACTS[4] = {ACT_NONE, ACT_SIGMOID, ACT_RELU, ACT_TANH};

/* ---- the formulas ------------------------------------------------------ */

static double act_apply(ActKind k, double x)
{
    switch (k) {
    case ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case ACT_RELU: return x > 0.0 ? x : 0.0;
    case ACT_TANH: return tanh(x);
    case ACT_NONE: break;
    }
    return x;
}

/* act'(x) written in terms of y = act(x), as oneDNN's *_use_dst_for_bwd. */
static double act_deriv_from_dst(ActKind k, double y)
{
    switch (k) {
    case ACT_SIGMOID: return y * (1.0 - y);
    case ACT_RELU: return y > 0.0 ? 1.0 : 0.0;
    case ACT_TANH: return 1.0 - y * y;
    case ACT_NONE: break;
    }
    return 1.0;
}

/* ---- naive inner product in double -------------------------------------- */

typedef struct {
    int64_t n, k, oc; /* k = c*h*w */
} Dims;

/* pre (n, oc) = x (n, k) . w (oc, k)^T + b, x in flattened NCHW order. */
static void naive_forward(const Dims *d, const float *x, const float *w, const float *b,
                          ActKind act, double *dst)
{
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t o = 0; o < d->oc; o++) {
            double acc = b[o];
            for (int64_t j = 0; j < d->k; j++)
                acc += (double)x[i * d->k + j] * w[o * d->k + j];
            dst[i * d->oc + o] = act_apply(act, acc);
        }
}

/* From g (n, oc), the gradient at the pre-activation:
 * diff_src (n, k) = g . w, diff_w (oc, k) = g^T . x, diff_b (oc) = sum_i g. */
static void naive_backward(const Dims *d, const float *x, const float *w, const double *g,
                           double *diff_src, double *diff_w, double *diff_b)
{
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t j = 0; j < d->k; j++) {
            double acc = 0.0;
            for (int64_t o = 0; o < d->oc; o++)
                acc += g[i * d->oc + o] * w[o * d->k + j];
            diff_src[i * d->k + j] = acc;
        }
    for (int64_t o = 0; o < d->oc; o++) {
        double acc_b = 0.0;
        for (int64_t i = 0; i < d->n; i++)
            acc_b += g[i * d->oc + o];
        diff_b[o] = acc_b;
        for (int64_t j = 0; j < d->k; j++) {
            double acc = 0.0;
            for (int64_t i = 0; i < d->n; i++)
                acc += g[i * d->oc + o] * x[i * d->k + j];
            diff_w[o * d->k + j] = acc;
        }
    }
}

/* ---- running the op on NCHW buffers ------------------------------------- */

typedef struct {
    float *src, *weights, *bias, *diff_dst;         /* inputs; src flattened NCHW */
    float *dst, *diff_src, *diff_weights, *diff_bias; /* op results; diff_src NCHW */
} Buffers;

static Dims dims_of(const LinearSpec *s) { return (Dims){s->n, s->c * s->h * s->w, s->oc}; }

static Buffers buffers_alloc(const LinearSpec *s)
{
    Dims d = dims_of(s);
    size_t in_n = (size_t)(d.n * d.k), w_n = (size_t)(d.oc * d.k), out_n = (size_t)(d.n * d.oc);
    return (Buffers){tmalloc(in_n), tmalloc(w_n), tmalloc((size_t)d.oc), tmalloc(out_n),
                     tmalloc(out_n), tmalloc(in_n), tmalloc(w_n), tmalloc((size_t)d.oc)};
}

static void buffers_free(Buffers *b)
{
    float *all[] = {b->src, b->dst, b->weights, b->bias, b->diff_dst, b->diff_src,
                    b->diff_weights, b->diff_bias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

static void poison(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
}

/* Forward and backward through a Linear built for s; the outputs are
 * poisoned first, so every element must be written. */
static void linear_run(const LinearSpec *s, Buffers *b)
{
    Dims d = dims_of(s);
    size_t in_n = (size_t)(d.n * d.k), w_n = (size_t)(d.oc * d.k), out_n = (size_t)(d.n * d.oc);
    Linear l;
    if (linear_init(&l, s) != 0)
        fail_msg("linear_init: %s", base_error());
    float *src_l = tmalloc(in_n), *diff_src_l = tmalloc(in_n);
    to_layout(b->src, src_l, s->n, s->c, s->h, s->w, s->layout);
    poison(b->dst, out_n);
    poison(diff_src_l, in_n);
    poison(b->diff_weights, w_n);
    poison(b->diff_bias, (size_t)d.oc);
    linear_forward(&l, src_l, b->weights, b->bias, b->dst);
    linear_backward(&l, src_l, b->dst, b->diff_dst, b->weights,
                    s->need_diff_src ? diff_src_l : NULL, b->diff_weights, b->diff_bias);
    if (s->need_diff_src)
        from_layout(diff_src_l, b->diff_src, s->n, s->c, s->h, s->w, s->layout);
    free(src_l);
    free(diff_src_l);
    linear_free(&l);
}

/* Compares the op's results with the naive formulas.  The backward oracle
 * takes act' from the op's own dst (already checked against the forward
 * oracle), which is what linear_backward is documented to use.  tol = 0
 * means exact. */
static void check_against_naive(const LinearSpec *s, const Buffers *b, double fwd_tol,
                                double bwd_tol, const char *what)
{
    Dims d = dims_of(s);
    size_t in_n = (size_t)(d.n * d.k), w_n = (size_t)(d.oc * d.k), out_n = (size_t)(d.n * d.oc);
    double *dst = calloc(out_n, sizeof *dst), *g = calloc(out_n, sizeof *g);
    double *diff_src = calloc(in_n, sizeof *diff_src), *diff_w = calloc(w_n, sizeof *diff_w);
    double *diff_b = calloc((size_t)d.oc, sizeof *diff_b);
    naive_forward(&d, b->src, b->weights, b->bias, s->act, dst);
    for (size_t i = 0; i < out_n; i++)
        g[i] = b->diff_dst[i] * act_deriv_from_dst(s->act, b->dst[i]);
    naive_backward(&d, b->src, b->weights, g, diff_src, diff_w, diff_b);

    char label[160];
    snprintf(label, sizeof label, "%s: dst", what);
    assert_close(b->dst, dst, out_n, fwd_tol, fwd_tol, label);
    if (s->need_diff_src) {
        snprintf(label, sizeof label, "%s: diff_src", what);
        assert_close(b->diff_src, diff_src, in_n, bwd_tol, bwd_tol, label);
    }
    snprintf(label, sizeof label, "%s: diff_weights", what);
    assert_close(b->diff_weights, diff_w, w_n, bwd_tol, bwd_tol, label);
    snprintf(label, sizeof label, "%s: diff_bias", what);
    assert_close(b->diff_bias, diff_b, (size_t)d.oc, bwd_tol, bwd_tol, label);
    free(dst);
    free(g);
    free(diff_src);
    free(diff_w);
    free(diff_b);
}

static void describe(const LinearSpec *s, char *out, size_t size)
{
    snprintf(out, size, "n%lld c%lld h%lld w%lld oc%lld %s %s", (long long)s->n, (long long)s->c,
             (long long)s->h, (long long)s->w, (long long)s->oc,
             s->layout == LAYOUT_NHWC ? "NHWC" : "NCHW", act_name(s->act));
}

/* 2-D, small 4-D, and LeNet's 16x5x5 -> 120 shape (scaled down in oc). */
static const LinearSpec SHAPES[] = {
    {.n = 3, .c = 7, .h = 1, .w = 1, .oc = 5},
    {.n = 2, .c = 3, .h = 4, .w = 5, .oc = 6},
    {.n = 4, .c = 16, .h = 5, .w = 5, .oc = 12},
    {.n = 1, .c = 2, .h = 3, .w = 1, .oc = 1},
};
#define N_SHAPES (sizeof SHAPES / sizeof SHAPES[0])

/* ---- Linear vs naive ----------------------------------------------------- */

static void test_linear_exact_integers(void **state)
{
    (void)state;
    Rng r = {1};
    for (size_t k = 0; k < N_SHAPES; k++)
        for (int l = 0; l < 2; l++) {
            LinearSpec s = SHAPES[k];
            s.layout = l ? LAYOUT_NHWC : LAYOUT_NCHW;
            s.act = ACT_NONE;
            s.need_diff_src = 1;
            Dims d = dims_of(&s);
            Buffers b = buffers_alloc(&s);
            /* |products| <= 9 and at most 400 terms: every sum is an
             * integer far below 2^24, so float arithmetic is exact in any
             * order. */
            fill_int(b.src, (size_t)(d.n * d.k), -3, 3, &r);
            fill_int(b.weights, (size_t)(d.oc * d.k), -3, 3, &r);
            fill_int(b.bias, (size_t)d.oc, -5, 5, &r);
            fill_int(b.diff_dst, (size_t)(d.n * d.oc), -3, 3, &r);
            linear_run(&s, &b);
            char what[96];
            describe(&s, what, sizeof what);
            check_against_naive(&s, &b, 0.0, 0.0, what);

            /* Without diff_src (a first layer): the same weight gradients. */
            float *dw = tmalloc((size_t)(d.oc * d.k)), *db = tmalloc((size_t)d.oc);
            memcpy(dw, b.diff_weights, sizeof(float) * (size_t)(d.oc * d.k));
            memcpy(db, b.diff_bias, sizeof(float) * (size_t)d.oc);
            s.need_diff_src = 0;
            linear_run(&s, &b);
            assert_memory_equal(dw, b.diff_weights, sizeof(float) * (size_t)(d.oc * d.k));
            assert_memory_equal(db, b.diff_bias, sizeof(float) * (size_t)d.oc);
            free(dw);
            free(db);
            buffers_free(&b);
        }
}

static void test_linear_floats_and_activations(void **state)
{
    (void)state;
    Rng r = {2};
    for (size_t k = 0; k < N_SHAPES; k++)
        for (int l = 0; l < 2; l++)
            for (int a = 0; a < 4; a++) {
                LinearSpec s = SHAPES[k];
                s.layout = l ? LAYOUT_NHWC : LAYOUT_NCHW;
                s.act = ACTS[a];
                s.need_diff_src = 1;
                Dims d = dims_of(&s);
                Buffers b = buffers_alloc(&s);
                /* Weights scaled like a Kaiming init, so pre-activations
                 * stay of order 1 where the activations bend. */
                float scale = 1.0f / sqrtf((float)d.k);
                fill_uniform(b.src, (size_t)(d.n * d.k), -1.0f, 1.0f, &r);
                fill_uniform(b.weights, (size_t)(d.oc * d.k), -2.0f * scale, 2.0f * scale, &r);
                fill_uniform(b.bias, (size_t)d.oc, -0.5f, 0.5f, &r);
                fill_uniform(b.diff_dst, (size_t)(d.n * d.oc), -1.0f, 1.0f, &r);
                linear_run(&s, &b);
                char what[96];
                describe(&s, what, sizeof what);
                /* Float sums of up to 400 terms in oneDNN's order vs double:
                 * ~1e-6 relative; oneDNN's vectorised exp/tanh add a few ulp.
                 * 1e-5 absolute and relative for dst and the gradients. */
                check_against_naive(&s, &b, 1e-5, 1e-5, what);
                buffers_free(&b);
            }
}

/* ---- Act vs formulas ------------------------------------------------------ */

static void test_act_formulas(void **state)
{
    (void)state;
    const int64_t n = 2, c = 3, h = 4, w = 5;
    const size_t total = (size_t)(n * c * h * w);
    float *src = tmalloc(total), *dst = tmalloc(total), *diff_dst = tmalloc(total);
    float *diff_src = tmalloc(total), *inplace = tmalloc(total);
    Rng r = {3};
    for (int a = 1; a < 4; a++)
        for (int l = 0; l < 2; l++) {
            ActKind kind = ACTS[a];
            Act op;
            if (act_init(&op, kind, n, c, h, w, l ? LAYOUT_NHWC : LAYOUT_NCHW) != 0)
                fail_msg("act_init: %s", base_error());
            fill_uniform(src, total, -6.0f, 6.0f, &r);
            src[0] = 0.0f; /* ReLU's corner: y = 0, derivative 0 from dst */
            src[1] = -0.0f;
            src[2] = 1e-30f;
            src[3] = 20.0f; /* saturated sigmoid and tanh */
            src[4] = -20.0f;
            fill_uniform(diff_dst, total, -1.0f, 1.0f, &r);
            poison(dst, total);
            poison(diff_src, total);
            act_forward(&op, src, dst);
            act_backward(&op, dst, diff_dst, diff_src);
            /* The same backward in place (diff_src aliasing diff_dst). */
            memcpy(inplace, diff_dst, sizeof(float) * total);
            act_backward(&op, dst, inplace, inplace);

            double *want_dst = calloc(total, sizeof(double));
            double *want_diff = calloc(total, sizeof(double));
            for (size_t i = 0; i < total; i++) {
                want_dst[i] = act_apply(kind, src[i]);
                want_diff[i] = diff_dst[i] * act_deriv_from_dst(kind, dst[i]);
            }
            char what[64];
            snprintf(what, sizeof what, "%s %s forward", act_name(kind), l ? "NHWC" : "NCHW");
            /* oneDNN's vectorised exp and tanh: a few ulp; 1e-6 absolute
             * (outputs are in [-1, 1] or, for ReLU, exact) and 1e-6 relative. */
            assert_close(dst, want_dst, total, 1e-6, 1e-6, what);
            snprintf(what, sizeof what, "%s %s backward", act_name(kind), l ? "NHWC" : "NCHW");
            /* One or two float multiplications: 1e-6. */
            assert_close(diff_src, want_diff, total, 1e-6, 1e-6, what);
            assert_memory_equal(inplace, diff_src, sizeof(float) * total);
            if (kind == ACT_RELU) {
                assert_true(dst[0] == 0.0f && dst[1] == 0.0f && dst[2] == 1e-30f);
                assert_true(diff_src[0] == 0.0f && diff_src[1] == 0.0f);
                assert_true(diff_src[2] == diff_dst[2]);
            }
            free(want_dst);
            free(want_diff);
            act_free(&op);
        }
    assert_string_equal(act_name(ACT_SIGMOID), "Sigmoid");
    assert_string_equal(act_name(ACT_RELU), "ReLU");
    assert_string_equal(act_name(ACT_TANH), "Tanh");
    assert_string_equal(act_name(ACT_NONE), "none");
    free(src);
    free(dst);
    free(diff_dst);
    free(diff_src);
    free(inplace);
}

/* ---- finite differences --------------------------------------------------- */

/* L = sum(dst * R) in double, dst from the op's forward. */
static double linear_loss(Linear *l, const float *src_l, const Buffers *b, const float *rr,
                          size_t out_n)
{
    linear_forward(l, src_l, b->weights, b->bias, b->dst);
    double sum = 0.0;
    for (size_t i = 0; i < out_n; i++)
        sum += (double)b->dst[i] * rr[i];
    return sum;
}

/* Central differences of L with respect to each element of x. */
static void fd_gradient(Linear *l, const float *src_l, const Buffers *b, const float *rr,
                        size_t out_n, float *x, size_t count, double eps, double *out)
{
    for (size_t i = 0; i < count; i++) {
        float keep = x[i];
        x[i] = keep + (float)eps;
        double lp = linear_loss(l, src_l, b, rr, out_n);
        x[i] = keep - (float)eps;
        double lm = linear_loss(l, src_l, b, rr, out_n);
        x[i] = keep;
        out[i] = (lp - lm) / (2.0 * eps);
    }
}

/* Smallest |pre-activation| over the batch. */
static double min_abs_pre(const LinearSpec *s, const Buffers *b)
{
    Dims d = dims_of(s);
    double *pre = calloc((size_t)(d.n * d.oc), sizeof *pre), m = INFINITY;
    naive_forward(&d, b->src, b->weights, b->bias, ACT_NONE, pre);
    for (int64_t i = 0; i < d.n * d.oc; i++)
        m = fmin(m, fabs(pre[i]));
    free(pre);
    return m;
}

static void fd_check(LinearSpec s)
{
    s.need_diff_src = 1;
    Dims d = dims_of(&s);
    size_t in_n = (size_t)(d.n * d.k), w_n = (size_t)(d.oc * d.k), out_n = (size_t)(d.n * d.oc);
    Buffers b = buffers_alloc(&s);
    float *rr = tmalloc(out_n);
    /* Values in [-1, 1] and a step of 1e-2 move a pre-activation by at most
     * 1e-2; for ReLU redraw until every pre-activation is further than
     * 3e-2 from the kink, so that no step crosses it. */
    const double eps = 1e-2;
    Rng r = {40 + (uint64_t)s.act};
    int tries = 0;
    do {
        assert_true(++tries < 100);
        fill_uniform(b.src, in_n, -1.0f, 1.0f, &r);
        fill_uniform(b.weights, w_n, -1.0f, 1.0f, &r);
        fill_uniform(b.bias, (size_t)d.oc, -1.0f, 1.0f, &r);
    } while (s.act == ACT_RELU && min_abs_pre(&s, &b) < 3 * eps);
    fill_uniform(rr, out_n, -1.0f, 1.0f, &r);
    memcpy(b.diff_dst, rr, sizeof(float) * out_n); /* dL/ddst = R */

    Linear l;
    if (linear_init(&l, &s) != 0)
        fail_msg("linear_init: %s", base_error());
    float *src_l = tmalloc(in_n), *diff_src_l = tmalloc(in_n);
    to_layout(b.src, src_l, s.n, s.c, s.h, s.w, s.layout);
    linear_forward(&l, src_l, b.weights, b.bias, b.dst);
    linear_backward(&l, src_l, b.dst, b.diff_dst, b.weights, diff_src_l, b.diff_weights,
                    b.diff_bias);

    double *fd_src = calloc(in_n, sizeof(double)), *fd_w = calloc(w_n, sizeof(double));
    double *fd_b = calloc((size_t)d.oc, sizeof(double));
    /* diff_src compares in the op's own layout: perturb src_l directly. */
    fd_gradient(&l, src_l, &b, rr, out_n, src_l, in_n, eps, fd_src);
    fd_gradient(&l, src_l, &b, rr, out_n, b.weights, w_n, eps, fd_w);
    fd_gradient(&l, src_l, &b, rr, out_n, b.bias, (size_t)d.oc, eps, fd_b);

    /* Error of the quotient: float rounding of the affected outputs
     * (~1e-7 * |dst| each, over 2*eps = 2e-2) plus eps^2/6 * |act'''|,
     * both below 3e-5 here.  Tolerance 2e-4 absolute, 1e-3 relative:
     * gradients are of order 1, so a wrong term still shows. */
    char what[128], label[200];
    describe(&s, what, sizeof what);
    snprintf(label, sizeof label, "%s: diff_src vs finite differences", what);
    assert_close(diff_src_l, fd_src, in_n, 2e-4, 1e-3, label);
    snprintf(label, sizeof label, "%s: diff_weights vs finite differences", what);
    assert_close(b.diff_weights, fd_w, w_n, 2e-4, 1e-3, label);
    snprintf(label, sizeof label, "%s: diff_bias vs finite differences", what);
    assert_close(b.diff_bias, fd_b, (size_t)d.oc, 2e-4, 1e-3, label);

    free(fd_src);
    free(fd_w);
    free(fd_b);
    free(src_l);
    free(diff_src_l);
    free(rr);
    linear_free(&l);
    buffers_free(&b);
}

static void test_linear_finite_differences(void **state)
{
    (void)state;
    for (int a = 0; a < 4; a++) {
        fd_check((LinearSpec){.n = 3, .c = 5, .h = 1, .w = 1, .oc = 4, .act = ACTS[a]});
        fd_check((LinearSpec){.n = 2, .c = 2, .h = 2, .w = 3, .oc = 3, .act = ACTS[a],
                              .layout = LAYOUT_NHWC});
        fd_check((LinearSpec){.n = 2, .c = 3, .h = 2, .w = 2, .oc = 2, .act = ACTS[a],
                              .layout = LAYOUT_NCHW});
    }
}

/* ---- bad arguments --------------------------------------------------------- */

static void expect_linear_reject(LinearSpec s, const char *needle)
{
    Linear l;
    memset(&l, 0xAB, sizeof l);
    assert_int_equal(linear_init(&l, &s), -1);
    const char *msg = base_error();
    if (!strstr(msg, needle) || !strstr(msg, "inner product"))
        fail_msg("linear_init error \"%s\" does not mention \"%s\"", msg, needle);
    linear_free(&l); /* safe on a rejected layer */
}

static void expect_act_reject(ActKind kind, int64_t n, int64_t c, int64_t h, int64_t w,
                              const char *needle)
{
    Act a;
    memset(&a, 0xAB, sizeof a);
    assert_int_equal(act_init(&a, kind, n, c, h, w, LAYOUT_NCHW), -1);
    const char *msg = base_error();
    if (!strstr(msg, needle) || !strstr(msg, "activation"))
        fail_msg("act_init error \"%s\" does not mention \"%s\"", msg, needle);
    act_free(&a);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const LinearSpec good = {.n = 2, .c = 3, .h = 2, .w = 2, .oc = 4, .need_diff_src = 1};
    Linear l;
    assert_int_equal(linear_init(&l, &good), 0); /* the base case is valid */
    linear_free(&l);
    LinearSpec s = good;
    s.n = 0;
    expect_linear_reject(s, "n=0");
    s = good;
    s.c = -1;
    expect_linear_reject(s, "c=-1");
    s = good;
    s.h = 0;
    expect_linear_reject(s, "h=0");
    s = good;
    s.w = -5;
    expect_linear_reject(s, "w=-5");
    s = good;
    s.oc = 0;
    expect_linear_reject(s, "outputs=0");

    Act a;
    assert_int_equal(act_init(&a, ACT_TANH, 1, 2, 3, 4, LAYOUT_NHWC), 0);
    act_free(&a);
    expect_act_reject(ACT_NONE, 1, 2, 3, 4, "no activation kind");
    expect_act_reject(ACT_RELU, 0, 2, 3, 4, "at least 1");
    expect_act_reject(ACT_SIGMOID, 1, 2, -3, 4, "-3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_exact_integers),
        cmocka_unit_test(test_linear_floats_and_activations),
        cmocka_unit_test(test_act_formulas),
        cmocka_unit_test(test_linear_finite_differences),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests_name("linear", tests, NULL, NULL);
}
