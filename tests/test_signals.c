/* test_signals.c - stop signals (signals.h): blocked in the installing
 * thread and in the threads it starts afterwards (so no handler can run
 * while a oneDNN kernel does), taken at a step boundary by
 * signals_pending, the first one kept.  Signals during LeNet's kernels are
 * test_lenet's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "signals.h"

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

/* A stop signal sent while nothing takes it stays pending; the boundary
 * takes it, and a later one does not replace the first. */
static void test_taken_at_boundary(void **state)
{
    (void)state;
    assert_int_equal(kill(getpid(), SIGTERM), 0); /* process-directed, like kill(1) */
    assert_int_equal(signals_pending(), SIGTERM);
    raise(SIGUSR1);
    assert_int_equal(signals_pending(), SIGTERM);
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
        cmocka_unit_test(test_taken_at_boundary),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
