/* loader.h - one rank's samples, as float batches: the training epoch reader
 * that follows the shard contract (shard.h), and the evaluation reader.
 *
 * Usage, on every rank:
 *     Dataset ds;            dataset_open(&ds, path);
 *     Loader ld;             loader_init(&ld, &ds, &(LoaderConfig){seed, B, m, P, r, 1});
 *     for each epoch e:      loader_epoch(&ld, e);
 *       for b < ld.shard.steps, k < ld.shard.micro_per_rank:
 *                            loader_get(&ld, b, k, src, labels, NULL);
 *     loader_free(&ld);      dataset_free(&ds);
 *
 * loader_epoch reads only this rank's steps*B/P samples of the epoch, sorted
 * by index and fetched chunk by chunk (dataset_read_samples), and keeps them
 * as uint8 in the order they will be handed out: memory O(N/P) bytes of
 * samples plus 4 bytes per training sample for the permutation while
 * loading.  loader_get converts one micro-batch to float x/255, or with
 * normalize to (x/255 - pixel_mean) / pixel_std using the file's statistics.
 * The Loader borrows the Dataset, which must outlive it.  Functions return 0,
 * or -1 with base_error() set.
 */
#ifndef SHARDNET_LOADER_H
#define SHARDNET_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "shard.h"

typedef struct {
    uint64_t seed;
    size_t batch; /* global batch B */
    size_t micro; /* micro-batch m */
    int ranks;    /* P */
    int rank;     /* r */
    int normalize;
    size_t limit; /* train on the first `limit` samples only (0: all) */
} LoaderConfig;

typedef struct {
    const Dataset *ds;
    LoaderConfig cfg;
    Shard shard;
    float scale, shift;  /* float = x * scale + shift */
    size_t count;        /* samples held: steps * B/P */
    uint8_t *images;     /* (count, C, H, W) in hand-out order */
    uint8_t *labels;     /* (count) */
    uint32_t *indices;   /* (count) global training index of each */
} Loader;

int loader_init(Loader *ld, const Dataset *ds, const LoaderConfig *cfg);
/* Loads this rank's samples of epoch `epoch`, replacing the previous epoch's. */
int loader_epoch(Loader *ld, uint64_t epoch);
/* Micro-batch k (< micro_per_rank) of step b (< steps) of the loaded epoch.
 * src: (m, C, H, W) floats; labels: (m); indices: (m) global sample indices
 * or NULL. */
int loader_get(const Loader *ld, size_t step, size_t k, float *src, int32_t *labels,
               uint32_t *indices);
void loader_free(Loader *ld);

/* This rank's contiguous share of the test set (shard_eval_range). */
typedef struct {
    const Dataset *ds;
    float scale, shift;
    size_t first, count; /* samples [first, first+count) of `split` */
    DatasetSplit split;  /* DATASET_TEST, or DATASET_TRAIN for validation */
    uint8_t *images;     /* (count, C, H, W) */
    uint8_t *labels;     /* (count) */
} EvalSet;

int loader_eval_init(EvalSet *ev, const Dataset *ds, int ranks, int rank, int normalize);
/* The same over samples [first, first+count) of the TRAINING split (the
 * validation samples of --val): this rank's contiguous share of them. */
int loader_val_init(EvalSet *ev, const Dataset *ds, size_t first, size_t count, int ranks,
                    int rank, int normalize);
/* Samples [i, i+n) of this rank's share (i + n <= count). src: (n, C, H, W). */
int loader_eval_get(const EvalSet *ev, size_t i, size_t n, float *src, int32_t *labels);
void loader_eval_free(EvalSet *ev);

#endif
