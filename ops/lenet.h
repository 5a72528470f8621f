/* lenet.h - LeNet, the textbook's CNN, composed from the oneDNN ops.
 *
 * classic (the textbook): conv 6@5x5 pad 2, sigmoid, avg-pool 2/2,
 *   conv 16@5x5, sigmoid, avg-pool 2/2, flatten, linear 120, sigmoid,
 *   linear 84, sigmoid, linear 10 (classes).
 * modern: the same with ReLU and max-pool.
 *
 * Input channels and size come from the data, like the textbook's lazy
 * layers: lenet_describe() infers every layer's output shape and every
 * learnable tensor's shape from (n, c, h, w).
 *
 * One table of learnable tensors (readable name, the textbook nn.Sequential
 * key, shape) carves views into ONE flat parameter buffer; gradients and
 * momentum use the same offsets.  The caller owns those buffers; the model
 * owns only its primitives and activations.
 *
 * lenet_forward leaves the logits in m->logits (n, classes).
 * lenet_backward OVERWRITES the flat gradient buffer with d loss / d params
 * for the batch of the last lenet_forward (same params and images).
 *
 * Kernel choices (oneDNN 2.6, measured on one AVX-512 core, batch 128):
 * - Activations in NHWC: 4x faster than NCHW here; format_tag_any pads 6
 *   channels to 16 and picks different weight layouts per pass.  Parameters
 *   and gradients stay plain in the flat buffers; weight reorders (150 to
 *   48,000 floats a layer) run inside the ops every step.
 * - Activations fused into the convolution and inner-product forward as
 *   post-ops; conv1 has no backward-data pass (its input is the image).
 * - Pooling backward steered off oneDNN's AVX-512 kernel (pool.c: 0.69 vs
 *   0.18 ms), convolution forward off brgconv (affine.c: 0.96 vs 0.75 ms for
 *   conv1): a primitive descriptor iterator skips the named implementations.
 * - fc1 as a 2-D inner product over NCHW (below): brgemm, 73 us a batch in
 *   evaluation where gemm:jit took 560 us, and no gemm:jit stack trick.
 * - Denormals flushed (FTZ/DAZ, ops/base.h) before OpenMP starts: a falling
 *   loss makes sigmoid activations denormal, which halved the speed.
 * - f32 throughout: bf16 (AMX) ran, but was slower at these sizes.
 * `shardnet bench --profile` splits a step by layer; DNNL_VERBOSE=1 names the
 * implementation each primitive uses (look for gemm:jit on a new CPU).
 */
#ifndef SHARDNET_LENET_H
#define SHARDNET_LENET_H

#include <stddef.h>
#include <stdint.h>

#include "conv.h"
#include "dnn.h"
#include "linear.h"
#include "pool.h"

typedef enum { ARCH_CLASSIC, ARCH_MODERN } LeNetArch;

#define LENET_LAYERS 12
#define LENET_TENSORS 10
/* The largest input lenet_describe accepts: beyond these the activations
 * of even one image need gigabytes, and the shape arithmetic stays far from
 * overflow (checkpoints and datasets are held to the same limits). */
#define LENET_MAX_CHANNELS 16
#define LENET_MAX_SIDE 4096
#define LENET_MAX_CLASSES 256
#define LENET_MAX_BATCH 65536

typedef struct {
    const char *name; /* "conv1.weight" */
    const char *key;  /* textbook nn.Sequential key, "0.weight" */
    int ndims;
    int64_t dims[4];
    size_t offset; /* in floats, into the flat buffer */
    size_t count;
    int layer;     /* index of its layer in layers[] (= the nn.Sequential index) */
} TensorView;

typedef struct {
    const char *kind; /* "Conv2d", "Sigmoid", "AvgPool2d", "Flatten", "Linear", ... */
    int ndims;
    int64_t out[4];   /* output shape */
    size_t n_params;
    int64_t kernel, stride, pad; /* square window of Conv2d/pooling layers; 0 otherwise */
} LayerInfo;

/* Time spent per stage, in seconds, summed over calls (see lenet.profile). */
typedef enum {
    STAGE_CONV1, STAGE_POOL1, STAGE_CONV2, STAGE_POOL2, STAGE_FC1, STAGE_FC2, STAGE_FC3,
    STAGE_INPUT, LENET_STAGES
} LeNetStage;

typedef struct {
    double forward[LENET_STAGES], backward[LENET_STAGES];
} LeNetProfile;

extern const char *const lenet_stage_names[LENET_STAGES];

typedef struct {
    LeNetArch arch;
    int64_t n, c, h, w, classes;
    Layout layout;
    LayerInfo layers[LENET_LAYERS];
    TensorView tensors[LENET_TENSORS];
    size_t n_params;

    /* Built by lenet_init (not by lenet_describe). */
    Conv conv1, conv2;
    Pool pool1, pool2;
    Linear fc1, fc2, fc3;
    Port input;                          /* NCHW images -> activation layout */
    /* fc1 is a 2-D inner product over pool2's output in NCHW order, the
     * order of its weights, so oneDNN takes its brgemm kernels.  Over the
     * 4-D NHWC output it took gemm:jit, which points rsp into the heap
     * while it runs (a signal handler's frame then lands there: see
     * trainer/signals.h), and which needed fc1's weights reordered three
     * times a step.  In the NHWC layout these ports reorder pool2's output
     * and its gradient instead; in NCHW they are no-ops. */
    Port flat, d_flat;
    float *a1, *p1, *a2, *p2, *f1, *f2;  /* activations after each stage */
    float *logits;                       /* (n, classes) */
    float *d_a1, *d_p1, *d_a2, *d_p2, *d_f1, *d_f2;
    LeNetProfile *profile; /* when set, forward/backward add their stage times */
    /* When set, lenet_backward calls grads_ready(grads_ready_ctx, first)
     * after each of its stages, in order (fc3 first, conv1 last): every
     * gradient at flat offset >= first is then final for this backward, so
     * the caller can start reducing those while the rest is computed (and
     * make progress on that between stages).  The last call has first = 0. */
    void (*grads_ready)(void *ctx, size_t first);
    void *grads_ready_ctx;
} LeNet;

const char *lenet_arch_name(LeNetArch arch); /* "classic" / "modern" */
int lenet_arch_parse(const char *s, LeNetArch *arch);

/* Shapes only: layers, tensors, n_params.  -1 and base_error() when the input
 * is too small for the network or sizes are invalid. */
int lenet_describe(LeNet *m, LeNetArch arch, int64_t n, int64_t c, int64_t h, int64_t w,
                   int64_t classes);
/* describe + build the primitives and activation buffers for batch n. */
int lenet_init(LeNet *m, LeNetArch arch, int64_t n, int64_t c, int64_t h, int64_t w,
               int64_t classes, Layout layout);
/* images (n, c, h, w) plain NCHW. */
void lenet_forward(LeNet *m, const float *params, const float *images);
/* diff_logits (n, classes); grads: the flat gradient buffer (n_params). */
void lenet_backward(LeNet *m, const float *params, const float *images, const float *diff_logits,
                    float *grads);
void lenet_free(LeNet *m);

/* Xavier-uniform weights, zero biases, from seed: the same values on every
 * host (SplitMix64, see rng.h; tensors filled in table order). */
void lenet_init_params(const LeNet *m, float *params, uint64_t seed);

/* Index of the tensor named name or keyed key; -1 if none. */
int lenet_find_tensor(const LeNet *m, const char *name_or_key);

#endif
