/* cmd_train.c - `shardnet train`, on every rank: MPI, options and the
 * world-size checks; the loop itself is train.c.
 *
 * Exit status, the same on every rank: 0 success (and --help), 1 failure,
 * 2 usage error.  Only rank 0 prints the usage, errors about options and the
 * start-up block. */
#include <stdio.h>

#include "base.h"
#include "commands.h"
#include "config.h"
#include "dist.h"
#include "train.h"

static int usage_error(const char *msg)
{
    if (dist_rank() == 0) {
        fprintf(stderr, "shardnet train: %s\n\n", msg);
        config_usage(stderr);
    }
    dist_finalize();
    return 2;
}

int cmd_train(int argc, char **argv)
{
    dist_init(&argc, &argv);
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

    base_flush_denormals();
    Trainer t;
    int status = TRAIN_FAILED;
    if (train_setup(&t, &cfg) == 0)
        status = train_run(&t);
    train_free(&t);
    dist_finalize();
    return status;
}
