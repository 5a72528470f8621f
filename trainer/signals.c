/* signals.c - stop requests by signal.  See signals.h. */
#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base.h"

static volatile sig_atomic_t g_pending;

static void on_stop_signal(int sig)
{
    if (!g_pending)
        g_pending = sig;
}

static sigset_t stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    return set;
}

int signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        return base_error_set("sigaction: %s", strerror(errno));
    sigset_t set = stop_signals();
    int err = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (err)
        return base_error_set("pthread_sigmask: %s", strerror(err));
    return 0;
}

int signals_pending(void)
{
    if (!g_pending) {
        sigset_t set = stop_signals();
        const struct timespec now = {0, 0};
        int sig = sigtimedwait(&set, NULL, &now); /* -1 (EAGAIN): none pending */
        if (sig > 0)
            g_pending = sig;
    }
    return g_pending;
}

const char *signals_name(int sig)
{
    static char text[32];
    if (sig == SIGUSR1)
        return "SIGUSR1";
    if (sig == SIGTERM)
        return "SIGTERM";
    snprintf(text, sizeof text, "signal %d", sig);
    return text;
}
