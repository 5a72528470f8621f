/* conv.h - 2-D convolution (cross-correlation) on oneDNN, forward and
 * backward, with bias and an optional fused activation.
 *
 *   src     (n, ic, ih, iw)   activation layout given at init
 *   weights (oc, ic, kh, kw)  plain (oihw)
 *   bias    (oc)
 *   dst     (n, oc, oh, ow)   activation layout; dst = act(conv(src) + bias)
 *
 * Primitives are built once by conv_init for one shape and executed by every
 * call.  conv_backward OVERWRITES diff_src, diff_weights and diff_bias; it
 * needs the forward's src and dst.  need_diff_src = 0 skips the
 * backward-data pass (a first layer, whose input is the image).
 */
#ifndef SHARDNET_CONV_H
#define SHARDNET_CONV_H

#include <stdint.h>

#include "act.h"
#include "affine.h"
#include "shape.h"

typedef struct {
    int64_t n, ic, ih, iw, oc;
    Window win;
    Layout layout;
    ActKind act;
    int need_diff_src;
} ConvSpec;

typedef struct {
    ConvSpec spec;
    int64_t oh, ow;
    Affine core;
} Conv;

/* 0, or -1 with base_error() naming the bad argument. */
int conv_init(Conv *c, const ConvSpec *spec);
void conv_forward(Conv *c, const float *src, const float *weights, const float *bias, float *dst);
void conv_backward(Conv *c, const float *src, const float *dst, const float *diff_dst,
                   const float *weights, float *diff_src, float *diff_weights, float *diff_bias);
void conv_free(Conv *c);

#endif
