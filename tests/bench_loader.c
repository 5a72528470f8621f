/* bench_loader.c - time a rank's load of the training set and the float
 * conversion of an epoch's micro-batches (every rank loads the same: any
 * rank may be given any micro-batch, see loader.h).
 *   bench_loader FILE.h5 [B m epochs]   (defaults B=256 m=32 epochs=3)
 * Prints one line per epoch; not a test (no pass/fail). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base.h"
#include "loader.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 5) {
        fprintf(stderr, "usage: bench_loader FILE.h5 [B m epochs]\n");
        return 2;
    }
    size_t B = argc == 5 ? strtoul(argv[2], NULL, 10) : 256;
    size_t m = argc == 5 ? strtoul(argv[3], NULL, 10) : 32;
    int epochs = argc == 5 ? atoi(argv[4]) : 3;
    double t0 = now();
    Dataset ds;
    if (dataset_open(&ds, argv[1]))
        die("%s", base_error());
    printf("open+validate: %.3f s\n", now() - t0);
    Loader ld;
    LoaderConfig cfg = {.seed = 1, .batch = B, .micro = m, .normalize = 1};
    double t1 = now();
    if (loader_init(&ld, &ds, &cfg))
        die("%s", base_error());
    printf("load: %zu samples (%.1f MB uint8) in %.3f s\n", ld.shard.n,
           (double)(ld.shard.n * ds.sample_size) / 1e6, now() - t1);
    float *src = xmalloc(m * ds.sample_size * sizeof *src);
    int32_t *labels = xmalloc(m * sizeof *labels);
    for (int e = 0; e < epochs; e++) {
        double t2 = now();
        if (loader_epoch(&ld, (uint64_t)e))
            die("%s", base_error());
        double t3 = now();
        for (size_t b = 0; b < ld.shard.steps; b++)
            for (size_t g = 0; g < ld.shard.micro_per_step; g++)
                loader_get(&ld, b, g, src, labels, NULL);
        printf("epoch %d: order in %.3f s, %zu micro-batches converted to float in %.3f s\n",
               e, t3 - t2, ld.shard.steps * ld.shard.micro_per_step, now() - t3);
    }
    free(src);
    free(labels);
    loader_free(&ld);
    dataset_free(&ds);
    return 0;
}
