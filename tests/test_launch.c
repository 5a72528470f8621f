/* test_launch.c - which launcher's task count launch_check trusts: mpirun's
 * OMPI_COMM_WORLD_SIZE first, MPICH Hydra's PMI_SIZE next, srun's SLURM_STEP_NUM_TASKS only in a real job
 * step, never the allocation's SLURM_NTASKS; the message names both sizes
 * and the fix. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "launch.h"

static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS",
                                   "SLURM_STEP_ID", "SLURM_NTASKS", "SLURM_JOB_ID"};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    return 0;
}

static void test_nothing_declared(void **state)
{
    (void)state;
    char msg[1024] = "";
    assert_int_equal(launch_check(1, msg, sizeof msg), 0);
    assert_int_equal(launch_check(4, msg, sizeof msg), 0);
    /* An allocation alone declares nothing about this process's world. */
    setenv("SLURM_JOB_ID", "7", 1);
    setenv("SLURM_NTASKS", "4", 1);
    assert_int_equal(launch_check(1, msg, sizeof msg), 0);
}

static void test_mpirun(void **state)
{
    (void)state;
    char msg[1024] = "";
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    assert_int_equal(launch_check(2, msg, sizeof msg), 0);
    /* mpirun -np 2 inside a 4-task allocation, even inside the batch step
     * or an orted's step of 1 task: mpirun's count wins. */
    setenv("SLURM_NTASKS", "4", 1);
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_STEP_NUM_TASKS", "1", 1);
    assert_int_equal(launch_check(2, msg, sizeof msg), 0);
    assert_int_equal(launch_check(1, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "mpirun started 2 tasks (OMPI_COMM_WORLD_SIZE=2)"));
    assert_non_null(strstr(msg, "MPI world of 1 rank"));
}

static void test_hydra(void **state)
{
    (void)state;
    char msg[1024] = "";
    setenv("PMI_SIZE", "3", 1);
    assert_int_equal(launch_check(3, msg, sizeof msg), 0);
    /* Hydra inside an allocation starts its proxies as a 1-task step per
     * node: the ranks inherit that step, and PMI_SIZE must win over it. */
    setenv("SLURM_NTASKS", "4", 1);
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_STEP_NUM_TASKS", "1", 1);
    assert_int_equal(launch_check(3, msg, sizeof msg), 0);
    assert_int_equal(launch_check(1, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "mpiexec started 3 tasks (PMI_SIZE=3)"));
    /* Open MPI's own count still comes first. */
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    assert_int_equal(launch_check(2, msg, sizeof msg), 0);
    setenv("PMI_SIZE", "x", 1);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    assert_int_equal(launch_check(3, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "PMI_SIZE='x' is not a task count"));
}

static void test_srun(void **state)
{
    (void)state;
    char msg[1024] = "";
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_STEP_NUM_TASKS", "2", 1);
    assert_int_equal(launch_check(2, msg, sizeof msg), 0);
    assert_int_equal(launch_check(1, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "srun started 2 tasks (SLURM_STEP_NUM_TASKS=2)"));
    assert_non_null(strstr(msg, "MPI world of 1 rank"));
    assert_non_null(strstr(msg, "srun --mpi=pmix"));
    assert_non_null(strstr(msg, "mpirun -np 2"));
    /* The batch script's own step is not a launch of this program. */
    setenv("SLURM_STEP_ID", "4294967294", 1);
    assert_int_equal(launch_check(1, msg, sizeof msg), 0);
    setenv("SLURM_STEP_ID", "batch", 1);
    assert_int_equal(launch_check(1, msg, sizeof msg), 0);
    unsetenv("SLURM_STEP_ID");
    assert_int_equal(launch_check(1, msg, sizeof msg), 0);
}

static void test_malformed(void **state)
{
    (void)state;
    char msg[1024] = "";
    setenv("OMPI_COMM_WORLD_SIZE", "two", 1);
    assert_int_equal(launch_check(2, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "OMPI_COMM_WORLD_SIZE='two' is not a task count"));
    setenv("OMPI_COMM_WORLD_SIZE", "0", 1);
    assert_int_equal(launch_check(2, msg, sizeof msg), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nothing_declared, clear_env),
        cmocka_unit_test_setup(test_mpirun, clear_env),
        cmocka_unit_test_setup(test_hydra, clear_env),
        cmocka_unit_test_setup(test_srun, clear_env),
        cmocka_unit_test_setup(test_malformed, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
