/* ref.h - naive reference implementations of the textbook's functions.
 *
 * Plain loops over plain NCHW float arrays, kept as test oracles for the
 * oneDNN operators and usable on their own.  Convolution here is
 * cross-correlation, as in the textbook (and in oneDNN and PyTorch).
 *
 * Textbook functions (no batch, no padding, stride 1 unless given):
 *   ref_corr2d            X (h, w)        K (kh, kw)          -> Y (h-kh+1, w-kw+1)
 *   ref_corr2d_multi_in   X (c, h, w)     K (c, kh, kw)       -> Y (h-kh+1, w-kw+1)
 *   ref_corr2d_multi_in_out X (c, h, w)   K (o, c, kh, kw)    -> Y (o, h-kh+1, w-kw+1)
 *   ref_pool2d            X (h, w), window (ph, pw), max|avg  -> Y (h-ph+1, w-pw+1)
 *
 * General versions (batch, channels, stride, per-side padding) with their
 * backward passes.  Backward functions OVERWRITE their outputs.  All sizes
 * must be valid (see shape.h); these functions do not validate.
 */
#ifndef SHARDNET_REF_H
#define SHARDNET_REF_H

#include <stddef.h>
#include <stdint.h>

#include "shape.h"

typedef enum { POOL_MAX, POOL_AVG_INCLUDE_PAD, POOL_AVG_EXCLUDE_PAD } PoolAlg;

void ref_corr2d(const float *x, size_t h, size_t w, const float *k, size_t kh, size_t kw, float *y);
void ref_corr2d_multi_in(const float *x, size_t c, size_t h, size_t w,
                         const float *k, size_t kh, size_t kw, float *y);
void ref_corr2d_multi_in_out(const float *x, size_t c, size_t h, size_t w,
                             const float *k, size_t o, size_t kh, size_t kw, float *y);
/* alg POOL_MAX or POOL_AVG_INCLUDE_PAD (no padding here, so both averages agree). */
void ref_pool2d(const float *x, size_t h, size_t w, size_t ph, size_t pw, PoolAlg alg, float *y);

/* General 2-D convolution.
 * src (n, ic, ih, iw), weights (oc, ic, kh, kw), bias (oc) or NULL,
 * dst (n, oc, oh, ow) with oh, ow from shape_window_out(). */
void ref_conv2d_forward(const float *src, int64_t n, int64_t ic, int64_t ih, int64_t iw,
                        const float *weights, const float *bias, int64_t oc, const Window *win,
                        float *dst);
/* diff_src (n, ic, ih, iw) from diff_dst (n, oc, oh, ow) and weights. */
void ref_conv2d_backward_data(const float *diff_dst, const float *weights, int64_t n, int64_t ic,
                              int64_t ih, int64_t iw, int64_t oc, const Window *win,
                              float *diff_src);
/* diff_weights (oc, ic, kh, kw) and diff_bias (oc, may be NULL). */
void ref_conv2d_backward_weights(const float *src, const float *diff_dst, int64_t n, int64_t ic,
                                 int64_t ih, int64_t iw, int64_t oc, const Window *win,
                                 float *diff_weights, float *diff_bias);

/* General 2-D pooling.  src (n, c, ih, iw) -> dst (n, c, oh, ow).  Max pooling
 * ignores padded positions; the average either divides by kh*kw
 * (include) or by the number of real input positions in the window (exclude). */
void ref_pool2d_forward(const float *src, int64_t n, int64_t c, int64_t ih, int64_t iw,
                        const Window *win, PoolAlg alg, float *dst);
/* diff_src (n, c, ih, iw); max pooling routes each gradient to the first
 * maximal input of its window (needs src). */
void ref_pool2d_backward(const float *src, const float *diff_dst, int64_t n, int64_t c, int64_t ih,
                         int64_t iw, const Window *win, PoolAlg alg, float *diff_src);

#endif
