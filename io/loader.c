/* loader.c - the training and evaluation readers; see loader.h. */
#include "loader.h"

#include <stdlib.h>
#include <string.h>

#include "base.h"

static void scale_from(size_t channels, const double *mean, const double *std, float *scale,
                       float *shift)
{
    for (size_t c = 0; c < channels; c++) {
        scale[c] = (float)(1.0 / (255.0 * std[c]));
        shift[c] = (float)(-mean[c] / std[c]);
    }
}

static void set_scale(const Dataset *ds, int normalize, float *scale, float *shift)
{
    static const double zero[LENET_MAX_CHANNELS] = {0};
    double one[LENET_MAX_CHANNELS];
    for (int c = 0; c < LENET_MAX_CHANNELS; c++)
        one[c] = 1.0;
    scale_from(ds->channels, normalize ? ds->channel_mean : zero,
               normalize ? ds->channel_std : one, scale, shift);
}

void loader_eval_set_norm(EvalSet *ev, const double *mean, const double *std)
{
    scale_from(ev->ds->channels, mean, std, ev->scale, ev->shift);
}

/* n samples (n, C, plane) of bytes to floats, channel c as x * scale[c] + shift[c]. */
static void to_float(const Dataset *ds, const uint8_t *x, size_t n, const float *scale,
                     const float *shift, float *dst)
{
    const size_t plane = ds->height * ds->width;
    for (size_t s = 0; s < n; s++)
        for (size_t c = 0; c < ds->channels; c++) {
            size_t at = (s * ds->channels + c) * plane;
            for (size_t i = 0; i < plane; i++)
                dst[at + i] = (float)x[at + i] * scale[c] + shift[c];
        }
}

int loader_init(Loader *ld, const Dataset *ds, const LoaderConfig *cfg)
{
    *ld = (Loader){0};
    size_t n = ds->count[DATASET_TRAIN];
    if (cfg->limit > n)
        return base_error_set("loader: limit of %zu samples exceeds the %zu training samples",
                              cfg->limit, n);
    if (shard_init(&ld->shard, cfg->limit ? cfg->limit : n, cfg->batch, cfg->micro))
        return -1;
    ld->ds = ds;
    ld->cfg = *cfg;
    set_scale(ds, cfg->normalize, ld->scale, ld->shift);
    ld->images = xmalloc(ld->shard.n * ds->sample_size);
    ld->labels = xmalloc(ld->shard.n);
    if (dataset_read_range(ds, DATASET_TRAIN, 0, ld->shard.n, ld->images, ld->labels)) {
        loader_free(ld);
        return -1;
    }
    return 0;
}

int loader_epoch(Loader *ld, uint64_t epoch)
{
    if (!ld->perm)
        ld->perm = xmalloc(ld->shard.n * sizeof *ld->perm);
    shard_permutation(ld->cfg.seed, epoch, ld->shard.n, ld->perm);
    return 0;
}

int loader_get(const Loader *ld, size_t step, size_t g, float *src, int32_t *labels,
               uint32_t *indices)
{
    const Shard *s = &ld->shard;
    if (!ld->perm)
        return base_error_set("loader_get: no epoch loaded (call loader_epoch first)");
    if (step >= s->steps || g >= s->micro_per_step)
        return base_error_set("loader_get: step %zu / micro-batch %zu outside %zu steps x %zu",
                              step, g, s->steps, s->micro_per_step);
    size_t ss = ld->ds->sample_size;
    for (size_t j = 0; j < s->micro; j++) {
        uint32_t i = ld->perm[shard_position(s, step, g, j)];
        to_float(ld->ds, ld->images + (size_t)i * ss, 1, ld->scale, ld->shift, src + j * ss);
        labels[j] = ld->labels[i];
        if (indices)
            indices[j] = i;
    }
    return 0;
}

void loader_free(Loader *ld)
{
    free(ld->images);
    free(ld->labels);
    free(ld->perm);
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
    set_scale(ds, normalize, ev->scale, ev->shift);
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
    to_float(ev->ds, ev->images + i * ss, n, ev->scale, ev->shift, src);
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
