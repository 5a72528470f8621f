/* cmd_train.c - `shardnet train`: the start-up half of the command, on every
 * rank: MPI, options, the world-size checks, the host summary and the
 * start-up agreement.  The training loop (model, data, steps) is built on
 * top of this once ops/lenet and the io/ reader exist; until then the
 * command stops after start-up with exit 1.
 *
 * Exit status, the same on every rank: 0 success (and --help), 1 failure,
 * 2 usage error.  Only rank 0 prints the usage, errors about options and the
 * start-up block. */
#include <stdio.h>

#include "base.h"
#include "commands.h"
#include "config.h"
#include "dist.h"
#include "shardnet_version.h"

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

    char hosts[4096], text[1024];
    dist_hosts(hosts, sizeof hosts);
    config_describe(&cfg, text, sizeof text);
    uint64_t config_hash_value = config_hash(&cfg);
    if (dist_rank() == 0) {
        printf("shardnet %s train\n", SHARDNET_VERSION);
        printf("  %s\n", hosts);
        printf("  threads per rank %lld, micro-batches per step %lld (m = %lld), reduce %s\n",
               (long long)cfg.threads, (long long)config_terms(&cfg),
               (long long)cfg.micro_batch, config_reduce_name(cfg.reduce));
        printf("  data %s, arch %s, epochs %lld, batch %lld, lr %g, momentum %g, "
               "weight decay %g, schedule %s, warmup %lld, seed %llu, on non-finite %s\n",
               cfg.data, config_arch_name(cfg.arch), (long long)cfg.epochs,
               (long long)cfg.batch, cfg.lr, cfg.momentum, cfg.weight_decay,
               schedule_name(cfg.schedule), (long long)cfg.warmup,
               (unsigned long long)cfg.seed, config_nonfinite_name(cfg.on_nonfinite));
        printf("  config hash 0x%016llx (%s)\n", (unsigned long long)config_hash_value, text);
        fflush(stdout);
    }
    Agreement agree[] = {{"config hash", config_hash_value}};
    if (dist_check_agreement(agree, sizeof agree / sizeof agree[0])) {
        dist_finalize();
        return 1;
    }
    if (dist_rank() == 0)
        fprintf(stderr, "shardnet train: the training loop is not built yet (issue 4)\n");
    dist_finalize();
    return 1;
}
