/* launch.c - launcher size against MPI world size.  See launch.h. */
#include "launch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slurm's step ids for the batch script and the extern step. */
#define SLURM_BATCH_STEP "4294967294"
#define SLURM_EXTERN_STEP "4294967295"

static int parse_size(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < 1)
        return -1;
    *out = v;
    return 0;
}

int launch_check(int world_size, char *msg, size_t cap)
{
    const char *var = "OMPI_COMM_WORLD_SIZE", *who = "mpirun";
    const char *value = getenv(var);
    if (!value || !*value) {
        var = "PMI_SIZE";
        who = "mpiexec";
        value = getenv(var);
    }
    if (!value || !*value) {
        const char *step = getenv("SLURM_STEP_ID");
        var = "SLURM_STEP_NUM_TASKS";
        who = "srun";
        value = getenv(var);
        if (!step || !strcmp(step, SLURM_BATCH_STEP) || !strcmp(step, SLURM_EXTERN_STEP) ||
            !strcmp(step, "batch") || !strcmp(step, "extern"))
            value = NULL;
    }
    if (!value || !*value)
        return 0;
    long declared;
    if (parse_size(value, &declared) < 0) {
        snprintf(msg, cap, "launch check: %s='%s' is not a task count", var, value);
        return -1;
    }
    if (declared == world_size)
        return 0;
    snprintf(msg, cap,
             "launch mismatch: %s started %ld tasks (%s=%s) but this process is in an MPI "
             "world of %d rank%s: the tasks did not join one MPI job (srun without PMI "
             "starts separate singletons). Refusing to train. Launch with mpirun inside the "
             "allocation (mpirun -np %ld shardnet train ...) or with srun --mpi=pmix (Open MPI) "
             "or srun --mpi=pmi2 (MPICH).",
             who, declared, var, value, world_size, world_size == 1 ? "" : "s", declared);
    return -1;
}
