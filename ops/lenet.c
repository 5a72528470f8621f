/* lenet.c - LeNet from the layer and tensor tables; see lenet.h. */
#include "lenet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"

typedef enum { K_CONV, K_ACT, K_POOL, K_FLATTEN, K_LINEAR } Kind;

/* The textbook's nn.Sequential; a row's index is its nn.Sequential index.
 * out = -1: the number of classes. */
static const struct {
    Kind kind;
    int64_t out, k, pad;
} layer_def[LENET_LAYERS] = {
    {K_CONV, 6, 5, 2},  {K_ACT, 0, 0, 0},   {K_POOL, 0, 2, 0},   {K_CONV, 16, 5, 0},
    {K_ACT, 0, 0, 0},   {K_POOL, 0, 2, 0},  {K_FLATTEN, 0, 0, 0}, {K_LINEAR, 120, 0, 0},
    {K_ACT, 0, 0, 0},   {K_LINEAR, 84, 0, 0}, {K_ACT, 0, 0, 0},  {K_LINEAR, -1, 0, 0},
};

/* THE table of learnable tensors: readable name, nn.Sequential key, layer. */
static const struct {
    const char *name, *key;
    int layer, is_bias;
} tensor_def[LENET_TENSORS] = {
    {"conv1.weight", "0.weight", 0, 0},  {"conv1.bias", "0.bias", 0, 1},
    {"conv2.weight", "3.weight", 3, 0},  {"conv2.bias", "3.bias", 3, 1},
    {"fc1.weight", "7.weight", 7, 0},    {"fc1.bias", "7.bias", 7, 1},
    {"fc2.weight", "9.weight", 9, 0},    {"fc2.bias", "9.bias", 9, 1},
    {"fc3.weight", "11.weight", 11, 0},  {"fc3.bias", "11.bias", 11, 1},
};

const char *lenet_arch_name(LeNetArch arch) { return arch == ARCH_MODERN ? "modern" : "classic"; }

int lenet_arch_parse(const char *s, LeNetArch *arch)
{
    if (!strcmp(s, "classic"))
        *arch = ARCH_CLASSIC;
    else if (!strcmp(s, "modern"))
        *arch = ARCH_MODERN;
    else
        return base_error_set("unknown architecture '%s' (expected classic or modern)", s);
    return 0;
}

static const char *layer_kind(Kind k, LeNetArch arch)
{
    switch (k) {
    case K_CONV: return "Conv2d";
    case K_ACT: return arch == ARCH_MODERN ? "ReLU" : "Sigmoid";
    case K_POOL: return arch == ARCH_MODERN ? "MaxPool2d" : "AvgPool2d";
    case K_FLATTEN: return "Flatten";
    case K_LINEAR: return "Linear";
    }
    return "?";
}

static void set_shape(LayerInfo *l, int ndims, int64_t a, int64_t b, int64_t c, int64_t d)
{
    l->ndims = ndims;
    l->out[0] = a, l->out[1] = b, l->out[2] = c, l->out[3] = d;
}

/* Fills layers[i].out and the tensors' shapes for one layer. */
static int describe_layer(LeNet *m, int i, const int64_t in[4], int in_ndims,
                          int64_t wdims[4], int *wnd)
{
    LayerInfo *l = &m->layers[i];
    int64_t out = layer_def[i].out < 0 ? m->classes : layer_def[i].out;
    int64_t oh, ow;
    Window win;
    switch (layer_def[i].kind) {
    case K_CONV:
        win = window_square(layer_def[i].k, 1, layer_def[i].pad);
        if (shape_window_out(&win, in[2], in[3], &oh, &ow) < 0)
            return -1;
        set_shape(l, 4, in[0], out, oh, ow);
        l->kernel = layer_def[i].k, l->stride = 1, l->pad = layer_def[i].pad;
        *wnd = 4;
        wdims[0] = out, wdims[1] = in[1], wdims[2] = wdims[3] = layer_def[i].k;
        break;
    case K_POOL:
        win = window_square(layer_def[i].k, layer_def[i].k, 0);
        if (shape_window_out(&win, in[2], in[3], &oh, &ow) < 0)
            return -1;
        set_shape(l, 4, in[0], in[1], oh, ow);
        l->kernel = l->stride = layer_def[i].k, l->pad = 0;
        break;
    case K_FLATTEN:
        set_shape(l, 2, in[0], in[1] * in[2] * in[3], 0, 0);
        break;
    case K_LINEAR:
        set_shape(l, 2, in[0], out, 0, 0);
        *wnd = 2;
        wdims[0] = out, wdims[1] = in[1];
        break;
    case K_ACT:
        *l = m->layers[i - 1];
        l->n_params = 0;
        l->kernel = l->stride = l->pad = 0;
        break;
    }
    (void)in_ndims;
    l->kind = layer_kind(layer_def[i].kind, m->arch);
    return 0;
}

int lenet_describe(LeNet *m, LeNetArch arch, int64_t n, int64_t c, int64_t h, int64_t w,
                   int64_t classes)
{
    memset(m, 0, sizeof *m);
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return base_error_set("LeNet: input shape (%lld, %lld, %lld, %lld) must be positive",
                              (long long)n, (long long)c, (long long)h, (long long)w);
    if (classes < 2 || classes > LENET_MAX_CLASSES)
        return base_error_set("LeNet: %lld classes; need 2..%d", (long long)classes,
                              LENET_MAX_CLASSES);
    if (n > LENET_MAX_BATCH || c > LENET_MAX_CHANNELS || h > LENET_MAX_SIDE || w > LENET_MAX_SIDE)
        return base_error_set("LeNet: input shape (%lld, %lld, %lld, %lld) is outside the "
                              "supported batch <= %d, channels <= %d, height and width <= %d",
                              (long long)n, (long long)c, (long long)h, (long long)w,
                              LENET_MAX_BATCH, LENET_MAX_CHANNELS, LENET_MAX_SIDE);
    m->arch = arch;
    m->n = n, m->c = c, m->h = h, m->w = w, m->classes = classes;
    int64_t in[4] = {n, c, h, w};
    int in_ndims = 4;
    size_t offset = 0;
    for (int i = 0; i < LENET_LAYERS; i++) {
        int64_t wdims[4] = {0};
        int wnd = 0;
        if (describe_layer(m, i, in, in_ndims, wdims, &wnd) < 0) {
            char why[600];
            snprintf(why, sizeof why, "%s", base_error());
            return base_error_set("LeNet: input %lldx%lldx%lld is too small at layer %d (%s): %s",
                                  (long long)c, (long long)h, (long long)w, i, m->layers[i].kind
                                  ? m->layers[i].kind : layer_kind(layer_def[i].kind, arch), why);
        }
        for (int t = 0; t < LENET_TENSORS; t++) {
            if (tensor_def[t].layer != i)
                continue;
            TensorView *v = &m->tensors[t];
            v->name = tensor_def[t].name;
            v->key = tensor_def[t].key;
            v->layer = i;
            v->ndims = tensor_def[t].is_bias ? 1 : wnd;
            v->count = 1;
            for (int d = 0; d < v->ndims; d++) {
                v->dims[d] = tensor_def[t].is_bias ? wdims[0] : wdims[d];
                v->count *= (size_t)v->dims[d];
            }
            v->offset = offset;
            offset += v->count;
            m->layers[i].n_params += v->count;
        }
        memcpy(in, m->layers[i].out, sizeof in);
        in_ndims = m->layers[i].ndims;
    }
    m->n_params = offset;
    return 0;
}

/* A buffer for layer l's output.  Forward outputs are touched here, at
 * set-up, so that the first pass does not pay the page faults (about 4 MB
 * at batch 128, 16 MB at 500); gradient buffers are left untouched, so a
 * model that only runs forward (evaluation) never makes them resident. */
static float *activation(const LayerInfo *l, int touch)
{
    size_t count = 1;
    for (int d = 0; d < l->ndims; d++)
        count *= (size_t)l->out[d];
    float *a = xaligned(count * sizeof(float));
    if (touch)
        memset(a, 0, count * sizeof(float));
    return a;
}

/* The window lenet_describe recorded for a conv/pool layer: the forward and
 * the exports (io/export_onnx.c) read the same numbers. */
static Window win(const LayerInfo *l) { return window_square(l->kernel, l->stride, l->pad); }

int lenet_init(LeNet *m, LeNetArch arch, int64_t n, int64_t c, int64_t h, int64_t w,
               int64_t classes, Layout layout)
{
    if (lenet_describe(m, arch, n, c, h, w, classes) < 0)
        return -1;
    m->layout = layout;
    ActKind act = arch == ARCH_MODERN ? ACT_RELU : ACT_SIGMOID;
    PoolAlg pool = arch == ARCH_MODERN ? POOL_MAX : POOL_AVG_INCLUDE_PAD;
    const LayerInfo *L = m->layers;
    ConvSpec c1 = {n, c, h, w, L[0].out[1], win(&L[0]), layout, act, 0};
    PoolSpec p1 = {n, L[0].out[1], L[0].out[2], L[0].out[3], win(&L[2]), pool, layout};
    ConvSpec c2 = {n, L[2].out[1], L[2].out[2], L[2].out[3], L[3].out[1], win(&L[3]),
                   layout, act, 1};
    PoolSpec p2 = {n, L[3].out[1], L[3].out[2], L[3].out[3], win(&L[5]), pool, layout};
    LinearSpec f1 = {n, L[5].out[1] * L[5].out[2] * L[5].out[3], 1, 1, L[7].out[1], layout,
                     act, 1};
    LinearSpec f2 = {n, L[7].out[1], 1, 1, L[9].out[1], layout, act, 1};
    LinearSpec f3 = {n, L[9].out[1], 1, 1, classes, layout, ACT_NONE, 1};
    if (conv_init(&m->conv1, &c1) < 0 || pool_init(&m->pool1, &p1) < 0 ||
        conv_init(&m->conv2, &c2) < 0 || pool_init(&m->pool2, &p2) < 0 ||
        linear_init(&m->fc1, &f1) < 0 || linear_init(&m->fc2, &f2) < 0 ||
        linear_init(&m->fc3, &f3) < 0)
        return -1;
    /* With one channel NCHW and NHWC are the same bytes: no reorder. */
    dnnl_memory_desc_t user = dnn_md4(n, c, h, w, c == 1 ? layout : LAYOUT_NCHW);
    dnnl_memory_desc_t prim = dnn_md4(n, c, h, w, layout);
    port_init(&m->input, &user, &prim, 0);
    dnnl_memory_desc_t pooled = dnn_md4(n, L[5].out[1], L[5].out[2], L[5].out[3], layout);
    dnnl_memory_desc_t flat = dnn_md4(n, L[5].out[1], L[5].out[2], L[5].out[3], LAYOUT_NCHW);
    port_init(&m->flat, &pooled, &flat, 0);
    port_init(&m->d_flat, &pooled, &flat, 1);
    m->a1 = activation(&L[1], 1), m->d_a1 = activation(&L[1], 0);
    m->p1 = activation(&L[2], 1), m->d_p1 = activation(&L[2], 0);
    m->a2 = activation(&L[4], 1), m->d_a2 = activation(&L[4], 0);
    m->p2 = activation(&L[5], 1), m->d_p2 = activation(&L[5], 0);
    m->f1 = activation(&L[8], 1), m->d_f1 = activation(&L[8], 0);
    m->f2 = activation(&L[10], 1), m->d_f2 = activation(&L[10], 0);
    m->logits = activation(&L[11], 1);
    return 0;
}

#define P(m, params, i) ((params) + (m)->tensors[i].offset)

const char *const lenet_stage_names[LENET_STAGES] = {"conv1", "pool1", "conv2", "pool2",
                                                     "fc1",   "fc2",   "fc3",   "input"};

static double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Adds the time since *t to slot (when profiling) and restarts the clock. */
static void lap(double *slot, double *t)
{
    if (!slot)
        return;
    double now = clock_now();
    *slot += now - *t;
    *t = now;
}

#define LAP(m, dir, stage) lap((m)->profile ? &(m)->profile->dir[stage] : NULL, &t)

void lenet_forward(LeNet *m, const float *params, const float *images)
{
    double t = m->profile ? clock_now() : 0.0;
    port_in(&m->input, images);
    const float *x = dnn_data(m->input.prim);
    LAP(m, forward, STAGE_INPUT);
    conv_forward(&m->conv1, x, P(m, params, 0), P(m, params, 1), m->a1);
    LAP(m, forward, STAGE_CONV1);
    pool_forward(&m->pool1, m->a1, m->p1);
    LAP(m, forward, STAGE_POOL1);
    conv_forward(&m->conv2, m->p1, P(m, params, 2), P(m, params, 3), m->a2);
    LAP(m, forward, STAGE_CONV2);
    pool_forward(&m->pool2, m->a2, m->p2);
    LAP(m, forward, STAGE_POOL2);
    port_in(&m->flat, m->p2);
    linear_forward(&m->fc1, dnn_data(m->flat.prim), P(m, params, 4), P(m, params, 5), m->f1);
    LAP(m, forward, STAGE_FC1);
    linear_forward(&m->fc2, m->f1, P(m, params, 6), P(m, params, 7), m->f2);
    LAP(m, forward, STAGE_FC2);
    linear_forward(&m->fc3, m->f2, P(m, params, 8), P(m, params, 9), m->logits);
    LAP(m, forward, STAGE_FC3);
}

/* One backward stage done: its time (when profiling), then the hook, told
 * that every gradient from tensor `first_final` on is final. */
static void backward_stage(LeNet *m, LeNetStage stage, int first_final, double *t)
{
    lap(m->profile ? &m->profile->backward[stage] : NULL, t);
    if (m->grads_ready)
        m->grads_ready(m->grads_ready_ctx, m->tensors[first_final].offset);
    if (m->profile) /* the hook's time is not the layer's */
        *t = clock_now();
}

void lenet_backward(LeNet *m, const float *params, const float *images, const float *diff_logits,
                    float *grads)
{
    (void)images; /* the forward's copy in the activation layout is used */
    double t = m->profile ? clock_now() : 0.0;
    const float *x = dnn_data(m->input.prim);
    linear_backward(&m->fc3, m->f2, m->logits, diff_logits, P(m, params, 8), m->d_f2,
                    P(m, grads, 8), P(m, grads, 9));
    backward_stage(m, STAGE_FC3, 8, &t);
    linear_backward(&m->fc2, m->f1, m->f2, m->d_f2, P(m, params, 6), m->d_f1, P(m, grads, 6),
                    P(m, grads, 7));
    backward_stage(m, STAGE_FC2, 6, &t);
    port_out_begin(&m->d_flat, m->d_p2);
    linear_backward(&m->fc1, dnn_data(m->flat.prim), m->f1, m->d_f1, P(m, params, 4),
                    dnn_data(m->d_flat.prim), P(m, grads, 4), P(m, grads, 5));
    port_out_end(&m->d_flat);
    backward_stage(m, STAGE_FC1, 4, &t);
    pool_backward(&m->pool2, m->d_p2, m->d_a2);
    backward_stage(m, STAGE_POOL2, 4, &t);
    conv_backward(&m->conv2, m->p1, m->a2, m->d_a2, P(m, params, 2), m->d_p1, P(m, grads, 2),
                  P(m, grads, 3));
    backward_stage(m, STAGE_CONV2, 2, &t);
    pool_backward(&m->pool1, m->d_p1, m->d_a1);
    backward_stage(m, STAGE_POOL1, 2, &t);
    conv_backward(&m->conv1, x, m->a1, m->d_a1, P(m, params, 0), NULL, P(m, grads, 0),
                  P(m, grads, 1));
    backward_stage(m, STAGE_CONV1, 0, &t);
}

void lenet_free(LeNet *m)
{
    conv_free(&m->conv1);
    conv_free(&m->conv2);
    pool_free(&m->pool1);
    pool_free(&m->pool2);
    linear_free(&m->fc1);
    linear_free(&m->fc2);
    linear_free(&m->fc3);
    port_free(&m->input);
    port_free(&m->flat);
    port_free(&m->d_flat);
    float *bufs[] = {m->a1, m->p1, m->a2, m->p2, m->f1, m->f2, m->logits,
                     m->d_a1, m->d_p1, m->d_a2, m->d_p2, m->d_f1, m->d_f2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    memset(m, 0, sizeof *m);
}

void lenet_init_params(const LeNet *m, float *params, uint64_t seed)
{
    Rng rng = {seed};
    for (int t = 0; t < LENET_TENSORS; t++) {
        const TensorView *v = &m->tensors[t];
        float *p = params + v->offset;
        if (v->ndims == 1) {
            memset(p, 0, v->count * sizeof(float));
            continue;
        }
        size_t receptive = v->count / (size_t)(v->dims[0] * v->dims[1]);
        double fan_in = (double)v->dims[1] * (double)receptive;
        double fan_out = (double)v->dims[0] * (double)receptive;
        float bound = (float)sqrt(6.0 / (fan_in + fan_out));
        for (size_t i = 0; i < v->count; i++)
            p[i] = (2.0f * rng_uniform01(&rng) - 1.0f) * bound;
    }
}

int lenet_find_tensor(const LeNet *m, const char *name_or_key)
{
    for (int t = 0; t < LENET_TENSORS; t++)
        if (m->tensors[t].name && (!strcmp(m->tensors[t].name, name_or_key) ||
                                   !strcmp(m->tensors[t].key, name_or_key)))
            return t;
    return -1;
}
