/* stepwatch.h - a step whose computation does not finish is reported and
 * stopped, at any number of ranks (also P=1, where no collective would
 * ever time out).
 *
 * A thread of its own (started after signals_install, so stop signals stay
 * blocked in it) looks four times a second at the step being computed:
 * - longer than the limit (--timeout, 0 = no limit): it prints the step
 *   and how long it has run, and the process exits with 4, like the
 *   collective watchdog (mpirun then ends the other ranks);
 * - a stop signal (SIGUSR1/SIGTERM) pending while the same step has been
 *   computing for STEPWATCH_STOP_GRACE seconds: the signal cannot be taken
 *   at a step boundary that never comes, so it prints that and exits 1
 *   without a checkpoint (the last one is intact).
 * Between steps (evaluation, checkpoints, collectives) it does nothing. */
#ifndef SHARDNET_STEPWATCH_H
#define SHARDNET_STEPWATCH_H

#include <stdint.h>

#define STEPWATCH_STOP_GRACE 10.0

/* Starts the thread (once); rank names the messages. */
void stepwatch_start(int rank, double limit_s);
/* The computation of step (1-based) begins / ends. */
void stepwatch_begin(int64_t step);
void stepwatch_end(void);

#endif
