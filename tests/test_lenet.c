/* test_lenet.c - the LeNet model: the textbook's layer table, the tensor
 * table, deterministic initialisation, layouts agreeing, the whole model's
 * gradient against finite differences for both architectures, the backward
 * hook, and signal handlers running during its kernels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* Signals during LeNet's kernels: a signal handler's frame is written at
 * the interrupted rsp, so no kernel may point rsp anywhere but its stack.
 * oneDNN 2.6's gemm:jit does at small batches (uxlfoundation/oneDNN#4845);
 * with fc1 over the 4-D NHWC pool2 output it was the kernel oneDNN chose,
 * and this storm broke the heap within a second at batch 16.  A thread
 * sends SIGURG (to a handler of the test's own, as a profiler would
 * install) every ~10 us while the main thread runs training steps; every
 * step's gradients must equal the first's bit for bit, with heap churn
 * between steps to expose a broken chunk. */
static atomic_long g_handled;

static void count_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&g_handled, 1);
}

typedef struct {
    atomic_int stop;
    long sent;
} Storm;

static void *send_storm(void *arg)
{
    Storm *s = arg;
    const struct timespec nap = {0, 10000}; /* leave the main thread time to compute */
    while (!atomic_load(&s->stop)) {
        kill(getpid(), SIGURG);
        s->sent++;
        nanosleep(&nap, NULL);
    }
    return NULL;
}

static void one_step(LeNet *m, const float *params, const float *x, const int32_t *labels,
                     float *diff, float *grads)
{
    lenet_forward(m, params, x);
    loss_softmax_xent(m->logits, labels, (size_t)m->n, 10, diff);
    lenet_backward(m, params, x, diff, grads);
}

/* steps training steps of batch n under the storm. */
static void storm_steps(int64_t n, int steps)
{
    LeNet m;
    assert_int_equal(lenet_init(&m, ARCH_CLASSIC, n, 1, 28, 28, 10, LAYOUT_NHWC), 0);
    float *params = tmalloc(m.n_params), *grads = tmalloc(m.n_params);
    float *want = tmalloc(m.n_params);
    float *x = tmalloc((size_t)n * 784), *diff = tmalloc((size_t)n * 10);
    int32_t *labels = xmalloc((size_t)n * sizeof *labels);
    Rng r = {11};
    for (int64_t i = 0; i < n; i++)
        labels[i] = (int32_t)(i % 10);
    lenet_init_params(&m, params, 3);
    fill_uniform(x, (size_t)n * 784, 0, 1, &r);
    one_step(&m, params, x, labels, diff, want);

    long handled = atomic_load(&g_handled);
    Storm storm = {0, 0};
    pthread_t sender;
    assert_int_equal(pthread_create(&sender, NULL, send_storm, &storm), 0);
    int same = 1;
    for (int step = 0; step < steps && same; step++) {
        one_step(&m, params, x, labels, diff, grads);
        same = memcmp(grads, want, m.n_params * sizeof *grads) == 0;
        void *churn[16];
        for (int i = 0; i < 16; i++)
            churn[i] = malloc((size_t)(32 << i % 12));
        for (int i = 0; i < 16; i++)
            free(churn[i]);
    }
    atomic_store(&storm.stop, 1);
    assert_int_equal(pthread_join(sender, NULL), 0);
    if (!same)
        fail_msg("batch %lld: gradients changed under the signal storm", (long long)n);
    assert_true(storm.sent > 0);
    assert_true(atomic_load(&g_handled) > handled);
    lenet_free(&m);
    free(params), free(grads), free(want), free(x), free(diff), free(labels);
}

static void test_signals_during_kernels(void **state)
{
    (void)state;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    assert_int_equal(sigaction(SIGURG, &sa, &old), 0);
    /* A broken heap can make cmocka's crash handler deadlock in malloc: the
     * alarm's default action ends such a run instead of meson's timeout. */
    alarm(60);
    storm_steps(16, 300);  /* the micro-batch of the mpi and cluster tests */
    storm_steps(128, 100); /* the default micro-batch */
    alarm(0);
    sigaction(SIGURG, &old, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_textbook_summary), cmocka_unit_test(test_tensor_table),
        cmocka_unit_test(test_too_small_input),  cmocka_unit_test(test_init_params),
        cmocka_unit_test(test_layouts_agree),    cmocka_unit_test(test_gradient_classic),
        cmocka_unit_test(test_gradient_modern), cmocka_unit_test(test_backward_hook),
        cmocka_unit_test(test_signals_during_kernels),
    };
    return cmocka_run_group_tests_name("lenet", tests, NULL, NULL);
}
