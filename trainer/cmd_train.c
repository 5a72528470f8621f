/* cmd_train.c - `shardnet train`, on every rank: stop signals, MPI, the
 * launch check, options and the world-size checks, the watchdog; the loop
 * itself is train.c.
 *
 * Exit status, the same on every rank (config.h): 0 success (and --help),
 * 1 failure, 2 usage error or mismatched launch, 3 stopped by a signal with
 * a checkpoint written, 4 watchdog abort.  Only rank 0 prints the usage,
 * errors about options and the start-up block. */
#include <stdio.h>
#include <string.h>

#include "atomic.h"
#include "base.h"
#include "commands.h"
#include "config.h"
#include "cpuisa.h"
#include "dist.h"
#include "launch.h"
#include "opts.h"
#include "paths.h"
#include "signals.h"
#include "threads.h"
#include "train.h"

/* No output of the run may be one of its inputs or a checkpoint file, by
 * file identity (paths.h), on every rank alike. */
static int check_paths(const Config *c)
{
    char md[4200] = "", js[4200] = "";
    if (c->scaling_report) {
        snprintf(md, sizeof md, "%s.md", c->scaling_report);
        snprintf(js, sizeof js, "%s.json", c->scaling_report);
    }
    int resume_file = c->resume && strcmp(c->resume, "auto") != 0;
    PathRole out[] = {{"--run", c->run},
                      {"--scaling-report", c->scaling_report ? md : NULL},
                      {"--scaling-report", c->scaling_report ? js : NULL}};
    PathRole in[] = {{"--data", c->data},
                     {"--resume", resume_file ? c->resume : NULL},
                     {"--scaling-baseline", c->scaling_baseline}};
    if (paths_check_outputs(out, 3, in, 3) < 0)
        return -1;
    /* Nor a file of the run directory: a checkpoint or `latest`. */
    for (size_t i = 1; i < 3 && c->run; i++) {
        if (!out[i].path)
            continue;
        char dir[4096];
        const char *slash = strrchr(out[i].path, '/');
        const char *name = slash ? slash + 1 : out[i].path;
        if (atomic_dirname(out[i].path, dir, sizeof dir) == 0 && paths_same_file(dir, c->run) &&
            (!strcmp(name, "latest") || !strncmp(name, "ckpt-", 5)))
            return base_error_set("%s '%s' is in --run '%s' under a checkpoint's name: "
                                  "refusing to overwrite checkpoints", out[i].role,
                                  out[i].path, c->run);
    }
    return 0;
}

/* Every rank reaches the same verdict; rank 0 says it (opts.h's shape). */
static int usage_error(const char *msg)
{
    if (dist_rank() == 0)
        opts_fail("train", msg);
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
    if (rc || threads_setup(cfg.threads, &cfg.threads) ||
        config_check_world(&cfg, dist_size()) || check_paths(&cfg))
        return usage_error(base_error());

    dist_watchdog_init((double)cfg.timeout);
    base_flush_denormals();
    Trainer t;
    int status = TRAIN_FAILED;
    int setup = train_setup(&t, &cfg);
    if (setup == 0)
        status = train_run(&t);
    else if (setup == -2)
        status = TRAIN_EXIT_USAGE;
    train_free(&t);
    dist_finalize();
    return status;
}
