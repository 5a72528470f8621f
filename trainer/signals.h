/* signals.h - SIGUSR1 and SIGTERM as a request to stop at the next step.
 *
 * The handler only records the signal in a volatile sig_atomic_t; the
 * training loop reads it at each step boundary and puts it into the control
 * record (stop_ranks), so all ranks stop at the same step even when only
 * some of them got the signal.  Install once, before anything slow, on
 * every rank.  Pure; no MPI. */
#ifndef SHARDNET_SIGNALS_H
#define SHARDNET_SIGNALS_H

/* Install the handler for SIGUSR1 and SIGTERM (sigaction, SA_RESTART so
 * that no library call sees EINTR).  0, or -1 with base_error(). */
int signals_install(void);
/* The first stop signal received so far, or 0. */
int signals_pending(void);
/* "SIGUSR1", "SIGTERM", or "signal N". */
const char *signals_name(int sig);

#endif
