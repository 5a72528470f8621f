/* test_signals.c - stop signals (signals.h): blocked in the installing
 * thread and in the threads it starts afterwards, taken at a step boundary
 * by signals_pending, the first one kept; and a storm of SIGTERM while
 * LeNet's oneDNN kernels run - gemm:jit among them, whose rsp points into a
 * heap workspace - changes no gradient bit and does not corrupt the heap.
 * With the signals caught instead of blocked, the storm test crashes in
 * glibc's malloc within seconds (checked by removing the block). */
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

#include "lenet.h"
#include "loss.h"
#include "signals.h"
#include "testutil.h"

static void *read_mask(void *arg)
{
    pthread_sigmask(SIG_BLOCK, NULL, (sigset_t *)arg);
    return NULL;
}

/* Runs first: nothing is pending before install; after it both signals are
 * blocked here and in a thread started afterwards. */
static void test_blocked_in_later_threads(void **state)
{
    (void)state;
    assert_int_equal(signals_pending(), 0);
    assert_int_equal(signals_install(), 0);
    sigset_t mine, theirs;
    pthread_sigmask(SIG_BLOCK, NULL, &mine);
    assert_true(sigismember(&mine, SIGTERM));
    assert_true(sigismember(&mine, SIGUSR1));
    sigemptyset(&theirs);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, read_mask, &theirs), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_true(sigismember(&theirs, SIGTERM));
    assert_true(sigismember(&theirs, SIGUSR1));
    assert_int_equal(signals_pending(), 0);
}

typedef struct {
    atomic_int stop;
    long sent;
} Storm;

static void *send_storm(void *arg)
{
    Storm *s = arg;
    /* A short nap between signals: caught instead of blocked, back-to-back
     * signals would leave the computing thread no time to compute. */
    const struct timespec nap = {0, 10000};
    while (!atomic_load(&s->stop)) {
        kill(getpid(), SIGTERM); /* process-directed, like kill(1) and mpirun */
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

static void test_storm_during_kernels(void **state)
{
    (void)state;
    const int64_t n = 64;
    LeNet m;
    assert_int_equal(lenet_init(&m, ARCH_CLASSIC, n, 1, 28, 28, 10, LAYOUT_NHWC), 0);
    float *params = tmalloc(m.n_params), *grads = tmalloc(m.n_params);
    float *want = tmalloc(m.n_params);
    float *x = tmalloc((size_t)n * 784), *diff = tmalloc((size_t)n * 10);
    int32_t labels[64];
    Rng r = {11};
    for (int i = 0; i < 64; i++)
        labels[i] = i % 10;
    lenet_init_params(&m, params, 3);
    fill_uniform(x, (size_t)n * 784, 0, 1, &r);
    one_step(&m, params, x, labels, diff, want);

    /* Caught instead of blocked, the heap breaks within seconds, and
     * cmocka's SIGSEGV handler can then deadlock on the malloc lock: the
     * alarm's default action ends such a run instead of meson's timeout. */
    alarm(60);
    Storm storm = {0, 0};
    pthread_t sender;
    assert_int_equal(pthread_create(&sender, NULL, send_storm, &storm), 0);
    int same = 1;
    for (int step = 0; step < 300 && same; step++) {
        one_step(&m, params, x, labels, diff, grads);
        same = memcmp(grads, want, m.n_params * sizeof *grads) == 0;
        /* Heap traffic between steps: a corrupted chunk is found here. */
        void *churn[16];
        for (int i = 0; i < 16; i++)
            churn[i] = malloc((size_t)(32 << i % 12));
        for (int i = 0; i < 16; i++)
            free(churn[i]);
    }
    atomic_store(&storm.stop, 1);
    assert_int_equal(pthread_join(sender, NULL), 0);
    alarm(0);
    assert_true(same);
    assert_true(storm.sent > 0);
    assert_int_equal(signals_pending(), SIGTERM); /* taken at the "boundary" */
    raise(SIGUSR1);
    assert_int_equal(signals_pending(), SIGTERM); /* the first one is kept */
    lenet_free(&m);
    free(params), free(grads), free(want), free(x), free(diff);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(signals_name(SIGTERM), "SIGTERM");
    assert_string_equal(signals_name(SIGUSR1), "SIGUSR1");
    assert_string_equal(signals_name(SIGHUP), "signal 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_in_later_threads),
        cmocka_unit_test(test_storm_during_kernels),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
