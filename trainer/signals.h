/* signals.h - SIGUSR1 and SIGTERM as a request to stop at the next step.
 *
 * The stop signals are blocked, not caught: they stay pending until the
 * training loop takes them (sigtimedwait, no wait) at a step boundary and
 * puts them into the control record (stop_ranks), so all ranks stop at the
 * same step even when only some of them got the signal.
 *
 * Why blocked: oneDNN 2.6's JIT GEMM kernels (gemm:jit) point rsp into a
 * heap workspace while they run, so a handler entered on that thread
 * pushes its signal frame onto the heap.  A SIGTERM to one rank corrupted
 * its heap that way (glibc abort in free, in CI; a signal storm reproduces
 * it within seconds); oneDNN fixed its kernels after v3.11
 * (uxlfoundation/oneDNN#4845).  fc1 no longer runs on gemm:jit here (see
 * ops/lenet.h), but oneDNN may choose it on another CPU; a blocked signal
 * is never delivered, so no frame lands anywhere whatever the kernels.
 * A handler shardnet does not own (a sampling profiler's) is still exposed:
 * tests/test_lenet.c storms one during training steps (the old fc1 broke the
 * heap within 2 s); on another CPU `DNNL_VERBOSE=1 shardnet bench --steps 1`
 * lists the kernels, and any gemm:jit among them makes profiling with
 * signals unsafe there.
 *
 * Launchers: Open MPI's mpirun forwards SIGUSR1 (and SIGUSR2) to every rank
 * but kills the job itself on SIGTERM, so stop a job by SIGUSR1 to mpirun or
 * SIGTERM to the ranks (Slurm's time limit).  MPICH's Hydra forwards SIGUSR1
 * too, but its own exit status then came back 0 in 1 of 3 tries although
 * every rank exited 3: signal the ranks themselves there.
 *
 * Install once, before MPI_Init and before oneDNN's OpenMP threads exist:
 * threads inherit the calling thread's mask.  A handler that only records
 * the signal stays installed for a thread some library creates with the
 * signals unblocked; there it runs on that thread's own stack.  Pure; no
 * MPI. */
#ifndef SHARDNET_SIGNALS_H
#define SHARDNET_SIGNALS_H

/* Block SIGUSR1 and SIGTERM in the calling thread (and so in the threads it
 * creates later), and install the recording handler (SA_RESTART).  0, or
 * -1 with base_error(). */
int signals_install(void);
/* The first stop signal received so far, or 0.  Takes a pending stop
 * signal; cheap (one system call) - once per step. */
int signals_pending(void);
/* "SIGUSR1", "SIGTERM", or "signal N". */
const char *signals_name(int sig);

#endif
