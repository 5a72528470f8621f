/* launch.h - does the MPI world match what the launcher meant to start?
 *
 * A plain `srun -n 2` without PMI support starts two unrelated singletons,
 * each of which believes it is the whole job: both would train the full
 * batch alone and overwrite each other's checkpoints.  launch_check compares
 * the MPI world size with the size the launcher declared in the environment:
 *   OMPI_COMM_WORLD_SIZE   set by mpirun for every rank it starts; trusted
 *                          first (inside a Slurm allocation mpirun's ranks
 *                          inherit SLURM_NTASKS of the allocation and, on
 *                          remote nodes, the SLURM_STEP_* of the orted step,
 *                          neither of which counts the ranks);
 *   PMI_SIZE               set by MPICH's Hydra mpiexec (and Intel MPI's, and
 *                          srun's PMI-2 plugin) for every rank; trusted next,
 *                          for the same reason (Hydra's proxies run as a
 *                          Slurm step of one task per node);
 *   SLURM_STEP_NUM_TASKS   set by srun for the tasks of a job step; used
 *                          only when SLURM_STEP_ID names a real step (not
 *                          the batch or extern step).
 * SLURM_NTASKS alone (the allocation) is never compared: a batch script may
 * legitimately run a 1-rank job inside a larger allocation.
 * Pure (reads the environment); no MPI. */
#ifndef SHARDNET_LAUNCH_H
#define SHARDNET_LAUNCH_H

#include <stddef.h>

/* 0 when the world matches (or nothing was declared); -1 with a message in
 * msg naming both sizes and the fix; writes the declared source to msg on a
 * malformed variable too (also -1). */
int launch_check(int world_size, char *msg, size_t cap);

#endif
