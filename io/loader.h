/* loader.h - the training samples as float micro-batches, and one rank's
 * share of the test set for evaluation.
 *
 * Usage, on every rank:
 *     Dataset ds;            dataset_open(&ds, path);
 *     Loader ld;             loader_init(&ld, &ds, &(LoaderConfig){seed, B, m, 1});
 *     for each epoch e:      loader_epoch(&ld, e);
 *       for the micro-batches g < ld.shard.micro_per_step this rank is given:
 *                            loader_get(&ld, b, g, src, labels, NULL);
 *     loader_free(&ld);      dataset_free(&ds);
 *
 * Any rank can hand out any micro-batch of the epoch's global order (shard.h),
 * so that the trainer can give a step's micro-batches to whichever ranks are
 * fast (trainer/balance.h).  loader_init reads the N training samples in use
 * once, in index order, as uint8 (47 MB for Fashion-MNIST's 60,000: well
 * inside the 150 MB a rank may use, and an epoch then costs no reading);
 * loader_epoch computes the epoch's permutation (4 bytes a sample).
 * loader_get converts one micro-batch to float x/255, or with normalize to
 * (x/255 - channel_mean[c]) / channel_std[c] using the file's per-channel
 * statistics.  The Loader
 * borrows the Dataset, which must outlive it.  Functions return 0, or -1
 * with base_error() set.
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
    int normalize;
    size_t limit; /* train on the first `limit` samples only (0: all) */
} LoaderConfig;

typedef struct {
    const Dataset *ds;
    LoaderConfig cfg;
    Shard shard;
    /* channel c as x * scale[c] + shift[c] */
    float scale[LENET_MAX_CHANNELS], shift[LENET_MAX_CHANNELS];
    uint8_t *images;     /* (shard.n, C, H, W), sample i in row i */
    uint8_t *labels;     /* (shard.n) */
    uint32_t *perm;      /* (shard.n) the loaded epoch's order; NULL before loader_epoch */
} Loader;

/* Reads the first N training samples (N = limit, or all). */
int loader_init(Loader *ld, const Dataset *ds, const LoaderConfig *cfg);
/* Makes epoch `epoch`'s order current (shard_permutation). */
int loader_epoch(Loader *ld, uint64_t epoch);
/* Micro-batch g (< micro_per_step) of step b (< steps) of the current epoch.
 * src: (m, C, H, W) floats; labels: (m); indices: (m) global sample indices
 * or NULL. */
int loader_get(const Loader *ld, size_t step, size_t g, float *src, int32_t *labels,
               uint32_t *indices);
void loader_free(Loader *ld);

/* This rank's contiguous share of the test set (shard_eval_range). */
typedef struct {
    const Dataset *ds;
    float scale[LENET_MAX_CHANNELS], shift[LENET_MAX_CHANNELS];
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
/* Converts with the given statistics instead of the file's: channel c as
 * (x/255 - mean[c]) / std[c], the arithmetic of loader_get (a checkpoint's
 * own normalisation, whatever the file says). */
void loader_eval_set_norm(EvalSet *ev, const double *mean, const double *std);
/* Samples [i, i+n) of this rank's share (i + n <= count). src: (n, C, H, W). */
int loader_eval_get(const EvalSet *ev, size_t i, size_t n, float *src, int32_t *labels);
void loader_eval_free(EvalSet *ev);

#endif
