/* act.h - element-wise activations (sigmoid, ReLU, tanh) on oneDNN eltwise.
 *
 * Backward is computed from the forward OUTPUT (oneDNN's *_use_dst_for_bwd
 * algorithms), so a layer need not keep its pre-activation values, and an
 * activation fused into a convolution or inner product as a post-op can be
 * differentiated with the same primitive.  act_backward OVERWRITES diff_src;
 * diff_src may alias diff_dst.
 */
#ifndef SHARDNET_ACT_H
#define SHARDNET_ACT_H

#include <stdint.h>

#include "dnn.h"

typedef enum { ACT_NONE, ACT_SIGMOID, ACT_RELU, ACT_TANH } ActKind;

typedef struct {
    ActKind kind;
    dnnl_primitive_desc_t fwd_pd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t src, dst, diff_dst, diff_src;
} Act;

const char *act_name(ActKind kind); /* "Sigmoid", "ReLU", "Tanh", "none" */

/* Activation over tensors described by md (any plain layout).
 * kind must not be ACT_NONE. */
void act_init_md(Act *a, ActKind kind, const dnnl_memory_desc_t *md);
/* Activation over (n, c, h, w) in the given layout; -1 and base_error() on
 * bad sizes. */
int act_init(Act *a, ActKind kind, int64_t n, int64_t c, int64_t h, int64_t w, Layout layout);
void act_forward(Act *a, const float *src, float *dst);
/* diff_src = diff_dst * act'(.) evaluated from dst = act(src). */
void act_backward(Act *a, const float *dst, const float *diff_dst, float *diff_src);
void act_free(Act *a);

/* Attribute with the activation as a post-op (NULL for ACT_NONE); the
 * caller destroys it with dnnl_primitive_attr_destroy. */
dnnl_primitive_attr_t act_post_op_attr(ActKind kind);

#endif
