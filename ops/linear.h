/* linear.h - inner product (fully connected layer) on oneDNN, forward and
 * backward, with bias and an optional fused activation.
 *
 *   src     (n, c, h, w) in the activation layout, or (n, c) when h = w = 1
 *   weights (oc, c, h, w) plain oihw, i.e. (oc, c*h*w) in the order of a
 *           flattened NCHW tensor, as PyTorch's nn.Flatten + nn.Linear
 *   bias    (oc)
 *   dst     (n, oc)  dst = act(src . weights^T + bias)
 *
 * A 4-D src is consumed directly (no flatten copy).  linear_backward
 * OVERWRITES diff_src (same shape and layout as src), diff_weights and
 * diff_bias.
 */
#ifndef SHARDNET_LINEAR_H
#define SHARDNET_LINEAR_H

#include <stdint.h>

#include "act.h"
#include "affine.h"

typedef struct {
    int64_t n, c, h, w; /* input; h = w = 1 for a 2-D input */
    int64_t oc;
    Layout layout;      /* layout of a 4-D input */
    ActKind act;
    int need_diff_src;
} LinearSpec;

typedef struct {
    LinearSpec spec;
    Affine core;
} Linear;

int linear_init(Linear *l, const LinearSpec *spec);
void linear_forward(Linear *l, const float *src, const float *weights, const float *bias,
                    float *dst);
void linear_backward(Linear *l, const float *src, const float *dst, const float *diff_dst,
                     const float *weights, float *diff_src, float *diff_weights,
                     float *diff_bias);
void linear_free(Linear *l);

#endif
