/* test_lenet.c - the LeNet model: the textbook's layer table, the tensor
 * table, deterministic initialisation, layouts agreeing, and the whole
 * model's gradient against finite differences for both architectures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "lenet.h"
#include "loss.h"
#include "testutil.h"

static void test_textbook_summary(void **state)
{
    (void)state;
    LeNet m;
    assert_int_equal(lenet_describe(&m, ARCH_CLASSIC, 256, 3, 28, 28, 10), 0);
    const struct {
        const char *kind;
        int ndims;
        int64_t out[4];
    } want[LENET_LAYERS] = {
        {"Conv2d", 4, {256, 6, 28, 28}},  {"Sigmoid", 4, {256, 6, 28, 28}},
        {"AvgPool2d", 4, {256, 6, 14, 14}}, {"Conv2d", 4, {256, 16, 10, 10}},
        {"Sigmoid", 4, {256, 16, 10, 10}}, {"AvgPool2d", 4, {256, 16, 5, 5}},
        {"Flatten", 2, {256, 400}},        {"Linear", 2, {256, 120}},
        {"Sigmoid", 2, {256, 120}},        {"Linear", 2, {256, 84}},
        {"Sigmoid", 2, {256, 84}},         {"Linear", 2, {256, 10}},
    };
    for (int i = 0; i < LENET_LAYERS; i++) {
        assert_string_equal(m.layers[i].kind, want[i].kind);
        assert_int_equal(m.layers[i].ndims, want[i].ndims);
        for (int d = 0; d < want[i].ndims; d++)
            assert_int_equal(m.layers[i].out[d], want[i].out[d]);
    }
    /* 3 input channels: conv1 has 6*3*25 + 6 parameters. */
    assert_int_equal(m.layers[0].n_params, 456);
    assert_int_equal(m.n_params, 62006);

    assert_int_equal(lenet_describe(&m, ARCH_MODERN, 1, 1, 28, 28, 10), 0);
    assert_string_equal(m.layers[1].kind, "ReLU");
    assert_string_equal(m.layers[2].kind, "MaxPool2d");
    assert_int_equal(m.n_params, 61706); /* the textbook LeNet on Fashion-MNIST */
}

static void test_tensor_table(void **state)
{
    (void)state;
    LeNet m;
    assert_int_equal(lenet_describe(&m, ARCH_CLASSIC, 1, 1, 28, 28, 10), 0);
    const char *keys[LENET_TENSORS] = {"0.weight", "0.bias", "3.weight", "3.bias", "7.weight",
                                       "7.bias", "9.weight", "9.bias", "11.weight", "11.bias"};
    size_t offset = 0;
    for (int t = 0; t < LENET_TENSORS; t++) {
        assert_string_equal(m.tensors[t].key, keys[t]);
        assert_int_equal(m.tensors[t].offset, offset);
        offset += m.tensors[t].count;
        assert_int_equal(lenet_find_tensor(&m, keys[t]), t);
        assert_int_equal(lenet_find_tensor(&m, m.tensors[t].name), t);
    }
    assert_int_equal(offset, m.n_params);
    assert_int_equal(m.tensors[4].dims[0], 120);
    assert_int_equal(m.tensors[4].dims[1], 400);
    assert_int_equal(lenet_find_tensor(&m, "nope"), -1);
}

static void test_too_small_input(void **state)
{
    (void)state;
    LeNet m;
    assert_int_equal(lenet_describe(&m, ARCH_CLASSIC, 1, 1, 8, 8, 10), -1);
    assert_non_null(strstr(base_error(), "too small"));
    assert_int_equal(lenet_describe(&m, ARCH_CLASSIC, 0, 1, 28, 28, 10), -1);
    assert_int_equal(lenet_describe(&m, ARCH_CLASSIC, 1, 1, 28, 28, 1), -1);
}

static void test_init_params(void **state)
{
    (void)state;
    LeNet m;
    assert_int_equal(lenet_describe(&m, ARCH_CLASSIC, 1, 1, 28, 28, 10), 0);
    float *a = tmalloc(m.n_params), *b = tmalloc(m.n_params), *c = tmalloc(m.n_params);
    lenet_init_params(&m, a, 42);
    lenet_init_params(&m, b, 42);
    lenet_init_params(&m, c, 43);
    assert_memory_equal(a, b, m.n_params * sizeof(float));
    assert_memory_not_equal(a, c, m.n_params * sizeof(float));
    for (int t = 0; t < LENET_TENSORS; t++) {
        const TensorView *v = &m.tensors[t];
        if (v->ndims == 1) {
            for (size_t i = 0; i < v->count; i++)
                assert_true(a[v->offset + i] == 0.0f);
            continue;
        }
        /* Xavier uniform: |w| <= sqrt(6 / (fan_in + fan_out)), and spread out. */
        size_t rf = v->count / (size_t)(v->dims[0] * v->dims[1]);
        double bound = sqrt(6.0 / ((double)(v->dims[0] + v->dims[1]) * (double)rf));
        double maxabs = 0;
        for (size_t i = 0; i < v->count; i++)
            maxabs = fmax(maxabs, fabs(a[v->offset + i]));
        assert_true(maxabs <= bound);
        assert_true(maxabs > 0.8 * bound);
    }
    free(a), free(b), free(c);
}

static double model_loss(LeNet *m, const float *params, const float *x, const int32_t *labels)
{
    lenet_forward(m, params, x);
    return loss_softmax_xent(m->logits, labels, (size_t)m->n, (size_t)m->classes, NULL).loss;
}

static double central_difference(LeNet *m, float *params, size_t i, float h, const float *x,
                                 const int32_t *labels)
{
    float keep = params[i];
    params[i] = keep + h;
    double up = model_loss(m, params, x, labels);
    params[i] = keep - h;
    double down = model_loss(m, params, x, labels);
    params[i] = keep;
    return (up - down) / (2.0 * (double)h);
}

/* Every gradient of small tensors and a sample of the large ones against
 * central differences.  Tolerance relative to the tensor's largest gradient:
 * float forward passes limit the difference quotient's accuracy. */
static void gradient_check(LeNetArch arch, Layout layout, float eps, int allowed_kinks)
{
    const int64_t n = 3;
    LeNet m;
    assert_int_equal(lenet_init(&m, arch, n, 1, 28, 28, 10, layout), 0);
    float *params = tmalloc(m.n_params), *grads = tmalloc(m.n_params);
    float *x = tmalloc((size_t)n * 784), *diff = tmalloc((size_t)n * 10);
    int32_t labels[3] = {3, 7, 0};
    Rng r = {5};
    lenet_init_params(&m, params, 9);
    /* Non-zero biases so no unit is exactly at a ReLU kink. */
    for (int t = 1; t < LENET_TENSORS; t += 2)
        fill_uniform(params + m.tensors[t].offset, m.tensors[t].count, -0.2f, 0.2f, &r);
    fill_uniform(x, (size_t)n * 784, 0, 1, &r);
    lenet_forward(&m, params, x);
    loss_softmax_xent(m.logits, labels, (size_t)n, 10, diff);
    lenet_backward(&m, params, x, diff, grads);
    int kinks = 0;
    for (int t = 0; t < LENET_TENSORS; t++) {
        const TensorView *v = &m.tensors[t];
        double gmax = 0;
        for (size_t i = 0; i < v->count; i++)
            gmax = fmax(gmax, fabs(grads[v->offset + i]));
        assert_true(gmax > 0);
        size_t step = v->count > 300 ? v->count / 150 : 1;
        for (size_t i = 0; i < v->count; i += step) {
            double analytic = grads[v->offset + i], numeric = 0;
            int ok = 0;
            /* Near a kink a smaller step gets back onto one linear piece. */
            for (int k = 0; k < (allowed_kinks ? 3 : 1) && !ok; k++) {
                float h = eps / (float)(1 << (2 * k));
                numeric = central_difference(&m, params, v->offset + i, h, x, labels);
                ok = fabs(numeric - analytic) <= 0.02 * gmax + 0.05 * fabs(numeric);
            }
            if (!ok && ++kinks > allowed_kinks)
                fail_msg("%s %s[%zu]: backward %.6g, finite difference %.6g (max |g| %.3g)",
                         lenet_arch_name(arch), v->name, i, analytic, numeric, gmax);
        }
    }
    lenet_free(&m);
    free(params), free(grads), free(x), free(diff);
}

static void test_gradient_classic(void **state)
{
    (void)state;
    gradient_check(ARCH_CLASSIC, LAYOUT_NHWC, 1e-2f, 0);
    gradient_check(ARCH_CLASSIC, LAYOUT_NCHW, 1e-2f, 0);
}

/* ReLU and max-pool are piecewise linear: a difference quotient that
 * straddles a kink is wrong by construction.  Smaller steps are tried
 * before a mismatch counts, and at most a few may remain. */
static void test_gradient_modern(void **state)
{
    (void)state;
    gradient_check(ARCH_MODERN, LAYOUT_NHWC, 2e-3f, 2);
    gradient_check(ARCH_MODERN, LAYOUT_NCHW, 2e-3f, 2);
}

static void test_layouts_agree(void **state)
{
    (void)state;
    LeNet a, b;
    assert_int_equal(lenet_init(&a, ARCH_CLASSIC, 4, 1, 28, 28, 10, LAYOUT_NHWC), 0);
    assert_int_equal(lenet_init(&b, ARCH_CLASSIC, 4, 1, 28, 28, 10, LAYOUT_NCHW), 0);
    float *params = tmalloc(a.n_params), *x = tmalloc(4 * 784);
    Rng r = {8};
    lenet_init_params(&a, params, 1);
    fill_uniform(x, 4 * 784, 0, 1, &r);
    lenet_forward(&a, params, x);
    lenet_forward(&b, params, x);
    assert_close(a.logits, b.logits, 40, 1e-5, 1e-4, "nhwc vs nchw logits");
    lenet_free(&a);
    lenet_free(&b);
    free(params), free(x);
}

/* lenet_backward's hook: called after every stage with a non-increasing
 * offset ending at 0, and every gradient from that offset on is already
 * its final value when the hook runs (the caller reduces them then). */
typedef struct {
    const float *grads;
    size_t n, first[16];
    float *seen[16];
    int calls;
} HookLog;

static void record_hook(void *ctx, size_t first)
{
    HookLog *h = ctx;
    assert_true(h->calls < 16);
    h->first[h->calls] = first;
    h->seen[h->calls] = tmalloc(h->n);
    memcpy(h->seen[h->calls], h->grads, h->n * sizeof(float));
    h->calls++;
}

static void test_backward_hook(void **state)
{
    (void)state;
    LeNet m;
    assert_int_equal(lenet_init(&m, ARCH_CLASSIC, 4, 1, 28, 28, 10, LAYOUT_NHWC), 0);
    float *params = tmalloc(m.n_params), *grads = tmalloc(m.n_params);
    float *x = tmalloc(4 * 784), *diff = tmalloc(4 * 10);
    int32_t labels[4] = {1, 2, 3, 4};
    Rng r = {3};
    lenet_init_params(&m, params, 5);
    fill_uniform(x, 4 * 784, 0, 1, &r);
    for (size_t i = 0; i < m.n_params; i++)
        grads[i] = NAN; /* an element not yet written would show */
    HookLog log = {grads, m.n_params, {0}, {NULL}, 0};
    m.grads_ready = record_hook;
    m.grads_ready_ctx = &log;
    lenet_forward(&m, params, x);
    loss_softmax_xent(m.logits, labels, 4, 10, diff);
    lenet_backward(&m, params, x, diff, grads);
    assert_int_equal(log.calls, 7); /* fc3 fc2 fc1 pool2 conv2 pool1 conv1 */
    assert_int_equal(log.first[0], m.tensors[8].offset); /* fc3's gradients first */
    assert_int_equal(log.first[2], m.tensors[4].offset); /* then fc1's: over half of all */
    assert_true(log.first[2] < m.n_params / 2);
    assert_int_equal(log.first[log.calls - 1], 0);
    for (int c = 0; c < log.calls; c++) {
        if (c > 0)
            assert_true(log.first[c] <= log.first[c - 1]);
        size_t k = m.n_params - log.first[c];
        assert_memory_equal(log.seen[c] + log.first[c], grads + log.first[c], k * sizeof(float));
        free(log.seen[c]);
    }
    lenet_free(&m);
    free(params), free(grads), free(x), free(diff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_textbook_summary), cmocka_unit_test(test_tensor_table),
        cmocka_unit_test(test_too_small_input),  cmocka_unit_test(test_init_params),
        cmocka_unit_test(test_layouts_agree),    cmocka_unit_test(test_gradient_classic),
        cmocka_unit_test(test_gradient_modern), cmocka_unit_test(test_backward_hook),
    };
    return cmocka_run_group_tests_name("lenet", tests, NULL, NULL);
}
