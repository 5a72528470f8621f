/* loader.c - per-rank epoch and evaluation readers; see loader.h. */
#include "loader.h"

#include <stdlib.h>
#include <string.h>

#include "base.h"

typedef struct {
    uint32_t index; /* global sample index */
    size_t slot;    /* row in the loader's hand-out order */
} Wanted;

static int by_index(const void *a, const void *b)
{
    uint32_t x = ((const Wanted *)a)->index, y = ((const Wanted *)b)->index;
    return (x > y) - (x < y);
}

static void set_scale(const Dataset *ds, int normalize, float *scale, float *shift)
{
    double std = normalize ? ds->pixel_std : 1.0, mean = normalize ? ds->pixel_mean : 0.0;
    *scale = (float)(1.0 / (255.0 * std));
    *shift = (float)(-mean / std);
}

static void to_float(const uint8_t *x, size_t n, float scale, float shift, float *dst)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)x[i] * scale + shift;
}

int loader_init(Loader *ld, const Dataset *ds, const LoaderConfig *cfg)
{
    *ld = (Loader){0};
    size_t n = ds->count[DATASET_TRAIN];
    if (cfg->limit > n)
        return base_error_set("loader: limit of %zu samples exceeds the %zu training samples",
                              cfg->limit, n);
    if (shard_init(&ld->shard, cfg->limit ? cfg->limit : n, cfg->batch, cfg->micro, cfg->ranks,
                   cfg->rank))
        return -1;
    ld->ds = ds;
    ld->cfg = *cfg;
    set_scale(ds, cfg->normalize, &ld->scale, &ld->shift);
    ld->count = ld->shard.steps * ld->shard.per_rank;
    ld->images = xmalloc(ld->count * ds->sample_size);
    ld->labels = xmalloc(ld->count);
    ld->indices = xmalloc(ld->count * sizeof *ld->indices);
    return 0;
}

/* The rank's samples in hand-out order: slot s = b * B/P + k*m + j. */
static void fill_indices(Loader *ld, const uint32_t *perm)
{
    const Shard *s = &ld->shard;
    size_t slot = 0;
    for (size_t b = 0; b < s->steps; b++)
        for (size_t k = 0; k < s->micro_per_rank; k++)
            for (size_t j = 0; j < s->micro; j++)
                ld->indices[slot++] = perm[shard_position(s, b, k, j)];
}

int loader_epoch(Loader *ld, uint64_t epoch)
{
    uint32_t *perm = xmalloc(ld->shard.n * sizeof *perm);
    shard_permutation(ld->cfg.seed, epoch, ld->shard.n, perm);
    fill_indices(ld, perm);
    free(perm);
    Wanted *w = xmalloc(ld->count * sizeof *w);
    for (size_t i = 0; i < ld->count; i++)
        w[i] = (Wanted){ld->indices[i], i};
    qsort(w, ld->count, sizeof *w, by_index);
    uint32_t *index = xmalloc(ld->count * sizeof *index);
    size_t *slot = xmalloc(ld->count * sizeof *slot);
    for (size_t i = 0; i < ld->count; i++) {
        index[i] = w[i].index;
        slot[i] = w[i].slot;
    }
    free(w);
    int rc = dataset_read_samples(ld->ds, DATASET_TRAIN, index, slot, ld->count, ld->images,
                                  ld->labels);
    free(index);
    free(slot);
    return rc;
}

int loader_get(const Loader *ld, size_t step, size_t k, float *src, int32_t *labels,
               uint32_t *indices)
{
    const Shard *s = &ld->shard;
    if (step >= s->steps || k >= s->micro_per_rank)
        return base_error_set("loader_get: step %zu / micro-batch %zu outside %zu steps x %zu",
                              step, k, s->steps, s->micro_per_rank);
    size_t first = step * s->per_rank + k * s->micro, ss = ld->ds->sample_size;
    to_float(ld->images + first * ss, s->micro * ss, ld->scale, ld->shift, src);
    for (size_t j = 0; j < s->micro; j++) {
        labels[j] = ld->labels[first + j];
        if (indices)
            indices[j] = ld->indices[first + j];
    }
    return 0;
}

void loader_free(Loader *ld)
{
    free(ld->images);
    free(ld->labels);
    free(ld->indices);
    *ld = (Loader){0};
}

static int eval_init(EvalSet *ev, const Dataset *ds, DatasetSplit split, size_t first, size_t count,
                     int ranks, int rank, int normalize)
{
    *ev = (EvalSet){0};
    if (ranks < 1 || rank < 0 || rank >= ranks)
        return base_error_set("loader_eval_init: rank %d of %d ranks is not valid", rank, ranks);
    if (first > ds->count[split] || count > ds->count[split] - first)
        return base_error_set("loader_val_init: samples [%zu, %zu) outside the %zu training "
                              "samples", first, first + count, ds->count[split]);
    ev->ds = ds;
    ev->split = split;
    set_scale(ds, normalize, &ev->scale, &ev->shift);
    shard_eval_range(count, ranks, rank, &ev->first, &ev->count);
    ev->first += first;
    ev->images = xmalloc(ev->count * ds->sample_size + 1);
    ev->labels = xmalloc(ev->count + 1);
    if (dataset_read_range(ds, split, ev->first, ev->count, ev->images, ev->labels)) {
        loader_eval_free(ev);
        return -1;
    }
    return 0;
}

int loader_eval_init(EvalSet *ev, const Dataset *ds, int ranks, int rank, int normalize)
{
    return eval_init(ev, ds, DATASET_TEST, 0, ds->count[DATASET_TEST], ranks, rank, normalize);
}

int loader_val_init(EvalSet *ev, const Dataset *ds, size_t first, size_t count, int ranks,
                    int rank, int normalize)
{
    return eval_init(ev, ds, DATASET_TRAIN, first, count, ranks, rank, normalize);
}

int loader_eval_get(const EvalSet *ev, size_t i, size_t n, float *src, int32_t *labels)
{
    if (i > ev->count || n > ev->count - i)
        return base_error_set("loader_eval_get: samples [%zu, %zu) outside this rank's %zu", i,
                              i + n, ev->count);
    size_t ss = ev->ds->sample_size;
    to_float(ev->images + i * ss, n * ss, ev->scale, ev->shift, src);
    for (size_t j = 0; j < n; j++)
        labels[j] = ev->labels[i + j];
    return 0;
}

void loader_eval_free(EvalSet *ev)
{
    free(ev->images);
    free(ev->labels);
    *ev = (EvalSet){0};
}
