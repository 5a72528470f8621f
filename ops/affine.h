/* affine.h - the machinery shared by convolution and inner product (internal
 * to ops/): a weighted layer with bias and an optional fused activation,
 * executed as three prebuilt oneDNN primitives (forward, backward data,
 * backward weights).
 *
 * Activations use the explicit layout the caller built the descriptors with;
 * weights use whatever layout oneDNN prefers (format_tag_any), reordered
 * from and to the caller's plain buffers inside the op.  Backward OVERWRITES
 * diff_src, diff_weights and diff_bias.  When backward-data wants the same
 * weights layout as forward and gets the same weights buffer as the last
 * forward, it reuses the forward's reordered copy: the caller must not
 * change the weights between a forward and its backward (a training step
 * never does).
 */
#ifndef SHARDNET_AFFINE_H
#define SHARDNET_AFFINE_H

#include <stddef.h>

#include "act.h"
#include "dnn.h"

typedef struct {
    ActKind act;
    int need_diff_src;
    size_t dst_elems;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    Port weights_fwd, weights_bwd, diff_weights; /* plain <-> primitive layouts */
    int bwd_reuses_fwd_weights;   /* same primitive layout, and a reorder to save */
    const float *fwd_weights;     /* weights of the last forward */
    dnnl_memory_t src, bias, dst;                 /* forward */
    dnnl_memory_t diff_dst_data, diff_src;        /* backward data */
    dnnl_memory_t src_bw, diff_dst_bw, diff_bias; /* backward weights */
    Act act_op;     /* backward of the fused activation */
    float *diff_pre; /* gradient before the activation (dst_elems) */
    char impl_fwd[64], impl_bwd_data[64], impl_bwd_weights[64]; /* chosen implementations */
} Affine;

/* fwd_desc, bwd_data_desc, bwd_weights_desc: initialised convolution or
 * inner-product descriptors (bwd_data_desc may be NULL when
 * need_diff_src is 0).  weights_plain: the caller's weights layout. */
void affine_init(Affine *a, const void *fwd_desc, const void *bwd_data_desc,
                 const void *bwd_weights_desc, const dnnl_memory_desc_t *weights_plain,
                 const dnnl_memory_desc_t *bias_md, const dnnl_memory_desc_t *src_md,
                 const dnnl_memory_desc_t *dst_md, ActKind act);
void affine_forward(Affine *a, const float *src, const float *weights, const float *bias,
                    float *dst);
/* dst: the forward output (needed for the fused activation's derivative);
 * diff_src may be NULL when the layer was built without it. */
void affine_backward(Affine *a, const float *src, const float *dst, const float *diff_dst,
                     const float *weights, float *diff_src, float *diff_weights,
                     float *diff_bias);
void affine_free(Affine *a);

#endif
