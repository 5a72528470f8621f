/* cmd_train.c - `shardnet train`, on every rank: stop signals, MPI, the
 * launch check, options and the world-size checks, the watchdog; the loop
 * itself is train.c.
 *
 * Exit status, the same on every rank (config.h): 0 success (and --help),
 * 1 failure, 2 usage error or mismatched launch, 3 stopped by a signal with
 * a checkpoint written, 4 watchdog abort.  Only rank 0 prints the usage,
 * errors about options and the start-up block. */
#include <stdio.h>

#include "base.h"
#include "commands.h"
#include "config.h"
#include "cpuisa.h"
#include "dist.h"
#include "launch.h"
#include "signals.h"
#include "train.h"

static int usage_error(const char *msg)
{
    if (dist_rank() == 0) {
        fprintf(stderr, "shardnet train: %s\n\n", msg);
        config_usage(stderr);
    }
    dist_finalize();
    return TRAIN_EXIT_USAGE;
}

int cmd_train(int argc, char **argv)
{
    /* Before MPI_Init: a SIGUSR1 forwarded by mpirun during start-up must
     * not kill the rank (its default action). */
    if (signals_install() < 0)
        die("%s", base_error());
    /* Before MPI_Init: the probe forks (ops/cpuisa.h); the answer is kept. */
    (void)cpuisa_probe();
    dist_init(&argc, &argv);
    char why[1024];
    if (launch_check(dist_size(), why, sizeof why) < 0) {
        /* Each singleton is its own rank 0: every one of them says it. */
        fprintf(stderr, "shardnet train: %s\n", why);
        dist_finalize();
        return TRAIN_EXIT_USAGE;
    }
    Config cfg;
    int rc = config_parse(&cfg, argc, argv);
    if (rc == 1) {
        if (dist_rank() == 0)
            config_usage(stdout);
        dist_finalize();
        return 0;
    }
    if (rc || config_check_world(&cfg, dist_size()))
        return usage_error(base_error());

    dist_watchdog_init((double)cfg.timeout);
    base_flush_denormals();
    Trainer t;
    int status = TRAIN_FAILED;
    if (train_setup(&t, &cfg) == 0)
        status = train_run(&t);
    train_free(&t);
    dist_finalize();
    return status;
}
