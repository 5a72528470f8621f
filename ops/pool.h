/* pool.h - 2-D max and average pooling on oneDNN, forward and backward.
 *
 *   src (n, c, ih, iw) -> dst (n, c, oh, ow), both in the layout given at init.
 *
 * Average pooling either counts padded positions in the divisor
 * (POOL_AVG_INCLUDE_PAD) or not (POOL_AVG_EXCLUDE_PAD).  Max pooling keeps a
 * workspace (the arg-max of each window) inside the op: pool_backward uses the
 * workspace of the LAST pool_forward, so call them in pairs.  pool_backward
 * OVERWRITES diff_src.  Padding must be smaller than the kernel, so that no
 * window lies entirely in the padding.
 */
#ifndef SHARDNET_POOL_H
#define SHARDNET_POOL_H

#include <stdint.h>

#include "dnn.h"
#include "ref.h"
#include "shape.h"

typedef struct {
    int64_t n, c, ih, iw;
    Window win;
    PoolAlg alg;
    Layout layout;
} PoolSpec;

typedef struct {
    PoolSpec spec;
    int64_t oh, ow;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t src, dst, workspace, diff_dst, diff_src;
    char impl_fwd[64], impl_bwd[64]; /* chosen implementations */
} Pool;

int pool_init(Pool *p, const PoolSpec *spec);
void pool_forward(Pool *p, const float *src, float *dst);
void pool_backward(Pool *p, const float *diff_dst, float *diff_src);
void pool_free(Pool *p);

#endif
