/* test_loss.c - softmax cross-entropy (ops/loss.c) and the SGD step
 * (ops/sgd.c).  It proves:
 *   - the loss has its known values (log k for equal logits, a hand-worked
 *     2-class case), stays finite and correct for logits of +-1000, counts
 *     the arg-max with the first maximum winning ties, and returns the
 *     gradient (softmax - onehot) / n, which finite differences confirm;
 *   - sgd_step follows the documented update: weight decay, momentum over
 *     several steps, plain SGD at mu = 0, against a double-precision
 *     re-implementation of torch.optim.SGD's semantics.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "loss.h"
#include "sgd.h"
#include "testutil.h"

/* |got - want| <= tol, naming the quantity. */
static void assert_near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: got %.17g, want %.17g (tolerance %g)", what, got, want, tol);
}

/* (softmax(z_i) - onehot(label_i)) / n in double, from the definition. */
static void softmax_grad(const float *logits, const int32_t *labels, size_t n, size_t k,
                         double *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * k;
        double max = z[0], sum = 0.0;
        for (size_t j = 1; j < k; j++)
            max = fmax(max, z[j]);
        for (size_t j = 0; j < k; j++)
            sum += exp((double)z[j] - max);
        for (size_t j = 0; j < k; j++)
            out[i * k + j] =
                (exp((double)z[j] - max) / sum - (j == (size_t)labels[i] ? 1.0 : 0.0)) / (double)n;
    }
}

/* ---- known values ------------------------------------------------------ */

static void test_equal_logits(void **state)
{
    (void)state;
    /* Equal logits: softmax is uniform, loss = log k whatever the label,
     * gradient 1/(k n) everywhere except (1/k - 1)/n at the label. */
    const size_t n = 3, k = 10;
    float logits[30], diff[30];
    int32_t labels[3] = {0, 4, 9};
    for (size_t i = 0; i < n * k; i++)
        logits[i] = (i < k) ? 0.0f : 2.5f; /* rows may differ by a constant */
    LossResult r = loss_softmax_xent(logits, labels, n, k, diff);
    assert_near(r.loss, log(10.0), 1e-12, "loss");
    assert_near(r.loss_sum, 3.0 * log(10.0), 1e-12, "loss_sum");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < k; j++) {
            double want = (0.1 - (j == (size_t)labels[i])) / 3.0;
            /* float result of a double computation: 1 ulp of 0.3 */
            assert_near(diff[i * k + j], want, 1e-7, "gradient");
        }
    /* All tied: the first maximum (class 0) is the prediction. */
    assert_int_equal(r.correct, 1);
}

static void test_two_classes(void **state)
{
    (void)state;
    /* logits (1, 3), label 0: loss = log(e + e^3) - 1 = log(1 + e^2);
     * softmax = (1, e^2) / (1 + e^2).  Second sample label 1:
     * loss = log(1 + e^-2). */
    const float logits[4] = {1, 3, 1, 3};
    const int32_t labels[2] = {0, 1};
    float diff[4];
    const double e2 = exp(2.0);
    LossResult r = loss_softmax_xent(logits, labels, 2, 2, diff);
    double l0 = log1p(e2), l1 = log1p(1.0 / e2);
    assert_near(l0, 2.1269280110429727, 1e-15, "hand value of log(1 + e^2)");
    assert_near(r.loss_sum, l0 + l1, 1e-12, "loss_sum");
    assert_near(r.loss, (l0 + l1) / 2, 1e-12, "loss");
    double p0 = 1.0 / (1.0 + e2), p1 = e2 / (1.0 + e2);
    assert_near(diff[0], (p0 - 1.0) / 2, 1e-7, "d/dz00");
    assert_near(diff[1], p1 / 2, 1e-7, "d/dz01");
    assert_near(diff[2], p0 / 2, 1e-7, "d/dz10");
    assert_near(diff[3], (p1 - 1.0) / 2, 1e-7, "d/dz11");
    assert_int_equal(r.correct, 1); /* class 1 predicted for both */

    /* diff_logits NULL: same loss, nothing written. */
    LossResult e = loss_softmax_xent(logits, labels, 2, 2, NULL);
    assert_true(e.loss == r.loss && e.correct == r.correct);
}

static void test_large_logits(void **state)
{
    (void)state;
    /* exp(1000) overflows double: only the max-subtracted form is finite.
     *   (1000, -1000) label 1: loss 2000, gradient (1, -1)/n
     *   (1000, -1000) label 0: loss 0 (e^-2000 underflows), gradient 0
     *   (1000, 1000)  label 0: loss log 2, gradient (-1/2, 1/2)/n
     *   (-1000, -1000, -999) label 2: loss log(1 + 2/e) */
    const float logits[9] = {1000, -1000, 1000, -1000, 1000, 1000, -1000, -1000, -999};
    float diff[6];
    /* The first three rows as (n=3, k=2); the last one on its own (k=3). */
    const int32_t labels[3] = {1, 0, 0};
    LossResult r = loss_softmax_xent(logits, labels, 3, 2, diff);
    assert_true(isfinite(r.loss) && isfinite(r.loss_sum));
    assert_near(r.loss_sum, 2000.0 + 0.0 + log(2.0), 1e-9, "loss_sum");
    const double want[6] = {1.0 / 3, -1.0 / 3, 0, 0, -0.5 / 3, 0.5 / 3};
    for (size_t i = 0; i < 6; i++) {
        assert_true(isfinite(diff[i]));
        assert_near(diff[i], want[i], 1e-7, "gradient at +-1000");
    }
    assert_int_equal(r.correct, 2); /* row 0 predicts 0 (label 1); ties -> 0 */

    const int32_t label2 = 2;
    r = loss_softmax_xent(logits + 6, &label2, 1, 3, diff);
    assert_near(r.loss, log1p(2.0 / exp(1.0)), 1e-12, "loss at -1000");
    assert_int_equal(r.correct, 1);
}

static void test_counts_first_max(void **state)
{
    (void)state;
    /* Rows with ties: the first of the maxima is the prediction. */
    const float logits[12] = {2, 5, 5, /* predicts 1 */
                              7, 7, 7, /* predicts 0 */
                              -1, -3, -1, /* predicts 0 */
                              0, 1, 2}; /* predicts 2 */
    const int32_t hit[4] = {1, 0, 0, 2}, miss[4] = {2, 1, 2, 1};
    assert_int_equal(loss_softmax_xent(logits, hit, 4, 3, NULL).correct, 4);
    assert_int_equal(loss_softmax_xent(logits, miss, 4, 3, NULL).correct, 0);
    const int32_t mixed[4] = {1, 2, 0, 0};
    assert_int_equal(loss_softmax_xent(logits, mixed, 4, 3, NULL).correct, 2);
}

/* ---- gradient ------------------------------------------------------------ */

static void test_gradient_formula(void **state)
{
    (void)state;
    const size_t n = 5, k = 7;
    float logits[35], diff[35];
    double want[35];
    int32_t labels[5];
    Rng r = {11};
    fill_uniform(logits, n * k, -4.0f, 4.0f, &r);
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)(rng_next(&r) % k);
    for (size_t i = 0; i < n * k; i++)
        diff[i] = NAN; /* must be overwritten */
    LossResult res = loss_softmax_xent(logits, labels, n, k, diff);
    softmax_grad(logits, labels, n, k, want);
    /* Both in double, then diff rounded to float: 1e-7 absolute (|g| < 1). */
    assert_close(diff, want, n * k, 1e-7, 0.0, "gradient vs (softmax - onehot)/n");
    /* Each row of the gradient sums to zero. */
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < k; j++)
            s += diff[i * k + j];
        assert_near(s, 0.0, 1e-7, "row sum of the gradient");
    }
    /* loss = mean of loss_sum. */
    assert_near(res.loss * (double)n, res.loss_sum, 1e-12, "loss vs loss_sum");
}

static void test_gradient_finite_differences(void **state)
{
    (void)state;
    const size_t n = 4, k = 6;
    float logits[24], diff[24], fd[24];
    int32_t labels[4] = {5, 0, 3, 3};
    Rng r = {5};
    fill_uniform(logits, n * k, -3.0f, 3.0f, &r);
    loss_softmax_xent(logits, labels, n, k, diff);
    for (size_t i = 0; i < n * k; i++) {
        float keep = logits[i];
        logits[i] = keep + 1e-2f;
        double lp = loss_softmax_xent(logits, labels, n, k, NULL).loss;
        float hi = logits[i];
        logits[i] = keep - 1e-2f;
        double lm = loss_softmax_xent(logits, labels, n, k, NULL).loss;
        float lo = logits[i];
        logits[i] = keep;
        fd[i] = (float)((lp - lm) / ((double)hi - (double)lo)); /* the step actually taken */
    }
    /* Loss in double: the central difference errs by h^2/6 * |f'''| with
     * |f'''| < 0.1/n here, under 1e-6 for h = 1e-2; the float gradient
     * rounds at 1e-8.  Tolerance 1e-5 absolute. */
    assert_close(diff, fd, n * k, 1e-5, 0.0, "loss gradient vs finite differences");
}

/* ---- SGD ----------------------------------------------------------------- */

/* torch.optim.SGD (dampening 0, nesterov off) in double:
 *   d_p = g + wd * p
 *   buf = d_p on the first step, else buf = mu * buf + d_p   (if mu != 0)
 *   p  -= lr * (mu != 0 ? buf : d_p)                                      */
static void torch_sgd(double lr, double mu, double wd, double *p, const float *g, double *buf,
                      size_t n, int first)
{
    for (size_t i = 0; i < n; i++) {
        double d = g[i] + wd * p[i];
        if (mu != 0.0) {
            buf[i] = first ? d : mu * buf[i] + d;
            d = buf[i];
        }
        p[i] -= lr * d;
    }
}

static void sgd_vs_torch(float lr, float mu, float wd, int steps)
{
    enum { N = 33 };
    float params[N + 1], mom[N + 1], grads[N];
    double p[N], buf[N];
    Rng r = {17};
    fill_uniform(params, N, -1.0f, 1.0f, &r);
    for (size_t i = 0; i < N; i++) {
        p[i] = params[i];
        mom[i] = 0.0f; /* momentum starts at zero */
    }
    params[N] = mom[N] = 12345.0f; /* past the end: must stay */
    SgdConfig cfg = {.lr = lr, .momentum = mu, .weight_decay = wd};
    for (int s = 0; s < steps; s++) {
        fill_uniform(grads, N, -2.0f, 2.0f, &r);
        sgd_step(&cfg, params, grads, mom, N);
        torch_sgd(lr, mu, wd, p, grads, buf, N, s == 0);
    }
    char what[96];
    snprintf(what, sizeof what, "params lr %g mu %g wd %g after %d steps", (double)lr,
             (double)mu, (double)wd, steps);
    /* Float arithmetic vs double over a few steps: each step rounds a few
     * times at ~6e-8 relative; 1e-6 absolute on values of order 1. */
    assert_close(params, p, N, 1e-6, 1e-6, what);
    if (mu != 0.0f)
        assert_close(mom, buf, N, 1e-5, 1e-6, "momentum buffer");
    assert_true(params[N] == 12345.0f && mom[N] == 12345.0f);
}

static void test_sgd_matches_torch(void **state)
{
    (void)state;
    sgd_vs_torch(0.1f, 0.0f, 0.0f, 1);    /* plain SGD */
    sgd_vs_torch(0.05f, 0.0f, 5e-4f, 4);  /* plain SGD with weight decay */
    sgd_vs_torch(0.01f, 0.9f, 0.0f, 6);   /* momentum */
    sgd_vs_torch(0.02f, 0.9f, 1e-2f, 8);  /* momentum and weight decay */
    sgd_vs_torch(0.5f, 0.5f, 0.1f, 5);
}

static void test_sgd_by_hand(void **state)
{
    (void)state;
    /* Dyadic numbers make every step exact.  lr 1/2, mu 1/2, wd 1/4:
     *   step 1: g' = 1 + 2/4 = 1.5      m = 1.5     p = 2 - 0.75 = 1.25
     *   step 2: g' = 1 + 1.25/4 = 1.3125  m = 0.75 + 1.3125 = 2.0625
     *           p = 1.25 - 1.03125 = 0.21875                              */
    SgdConfig cfg = {.lr = 0.5f, .momentum = 0.5f, .weight_decay = 0.25f};
    float p = 2.0f, m = 0.0f, g = 1.0f;
    sgd_step(&cfg, &p, &g, &m, 1);
    assert_true(p == 1.25f && m == 1.5f);
    sgd_step(&cfg, &p, &g, &m, 1);
    assert_true(m == 2.0625f);
    assert_true(p == 0.21875f);

    /* mu = 0: params -= lr * (g + wd p), nothing carried over. */
    cfg.momentum = 0.0f;
    p = 2.0f;
    m = 100.0f;
    sgd_step(&cfg, &p, &g, &m, 1);
    assert_true(p == 1.25f);
    sgd_step(&cfg, &p, &g, &m, 1);
    assert_true(p == 1.25f - 0.5f * 1.3125f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_logits),
        cmocka_unit_test(test_two_classes),
        cmocka_unit_test(test_large_logits),
        cmocka_unit_test(test_counts_first_max),
        cmocka_unit_test(test_gradient_formula),
        cmocka_unit_test(test_gradient_finite_differences),
        cmocka_unit_test(test_sgd_matches_torch),
        cmocka_unit_test(test_sgd_by_hand),
    };
    return cmocka_run_group_tests_name("loss", tests, NULL, NULL);
}
