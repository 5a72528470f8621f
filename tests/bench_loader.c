/* bench_loader.c - time one rank's epoch load and its float conversion.
 *   bench_loader FILE.h5 P [B m epochs]   (defaults B=256 m=32 epochs=3)
 * Prints one line per epoch for rank 0 of P; not a test (no pass/fail). */
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
    if (argc != 3 && argc != 6) {
        fprintf(stderr, "usage: bench_loader FILE.h5 P [B m epochs]\n");
        return 2;
    }
    int P = atoi(argv[2]);
    size_t B = argc == 6 ? strtoul(argv[3], NULL, 10) : 256;
    size_t m = argc == 6 ? strtoul(argv[4], NULL, 10) : 32;
    int epochs = argc == 6 ? atoi(argv[5]) : 3;
    double t0 = now();
    Dataset ds;
    if (dataset_open(&ds, argv[1]))
        die("%s", base_error());
    printf("open+validate: %.3f s\n", now() - t0);
    Loader ld;
    LoaderConfig cfg = {.seed = 1, .batch = B, .micro = m, .ranks = P, .rank = 0, .normalize = 1};
    if (loader_init(&ld, &ds, &cfg))
        die("%s", base_error());
    float *src = xmalloc(m * ds.sample_size * sizeof *src);
    int32_t *labels = xmalloc(m * sizeof *labels);
    for (int e = 0; e < epochs; e++) {
        double t1 = now();
        if (loader_epoch(&ld, (uint64_t)e))
            die("%s", base_error());
        double t2 = now();
        for (size_t b = 0; b < ld.shard.steps; b++)
            for (size_t k = 0; k < ld.shard.micro_per_rank; k++)
                loader_get(&ld, b, k, src, labels, NULL);
        printf("P=%d rank 0 epoch %d: %zu samples (%.1f MB uint8) loaded in %.3f s, "
               "converted to float in %.3f s\n", P, e, ld.count,
               (double)(ld.count * ds.sample_size) / 1e6, t2 - t1, now() - t2);
    }
    free(src);
    free(labels);
    loader_free(&ld);
    dataset_free(&ds);
    return 0;
}
