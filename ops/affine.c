/* affine.c - forward/backward-data/backward-weights triple; see affine.h. */
#include "affine.h"

#include <stdlib.h>
#include <string.h>

/* On LeNet's NHWC convolutions oneDNN 2.6 prefers brgconv, which measured
 * slower than its jit:avx512_core kernel (one core, batch 128: conv1 956 vs
 * 749 us, conv2 597 vs 529 us forward). */
static const char *const slow_forward[] = {"brgconv:avx512_core", NULL};

void affine_init(Affine *a, const void *fwd_desc, const void *bwd_data_desc,
                 const void *bwd_weights_desc, const dnnl_memory_desc_t *weights_plain,
                 const dnnl_memory_desc_t *bias_md, const dnnl_memory_desc_t *src_md,
                 const dnnl_memory_desc_t *dst_md, ActKind act)
{
    memset(a, 0, sizeof *a);
    a->act = act;
    a->need_diff_src = bwd_data_desc != NULL;
    a->dst_elems = dnnl_memory_desc_get_size(dst_md) / sizeof(float);

    dnnl_primitive_attr_t attr = act_post_op_attr(act);
    dnnl_primitive_desc_t fpd = dnn_pd_avoiding(fwd_desc, attr, NULL, slow_forward);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    a->fwd = dnn_prim(fpd);
    dnn_impl(fpd, a->impl_fwd, sizeof a->impl_fwd);
    dnnl_memory_desc_t w = dnn_query(fpd, dnnl_query_weights_md, 0);
    port_init(&a->weights_fwd, weights_plain, &w, 0);
    a->src = dnn_mem(src_md);
    a->bias = dnn_mem(bias_md);
    a->dst = dnn_mem(dst_md);

    if (bwd_data_desc) {
        dnnl_primitive_desc_t dpd = dnn_pd(bwd_data_desc, NULL, fpd);
        a->bwd_data = dnn_prim(dpd);
        dnn_impl(dpd, a->impl_bwd_data, sizeof a->impl_bwd_data);
        dnnl_memory_desc_t wd = dnn_query(dpd, dnnl_query_weights_md, 0);
        port_init(&a->weights_bwd, weights_plain, &wd, 0);
        a->bwd_reuses_fwd_weights = a->weights_bwd.reorder && dnnl_memory_desc_equal(&w, &wd);
        a->diff_dst_data = dnn_mem(dst_md);
        a->diff_src = dnn_mem(src_md);
        dnnl_primitive_desc_destroy(dpd);
    }

    dnnl_primitive_desc_t wpd = dnn_pd(bwd_weights_desc, NULL, fpd);
    a->bwd_weights = dnn_prim(wpd);
    dnn_impl(wpd, a->impl_bwd_weights, sizeof a->impl_bwd_weights);
    w = dnn_query(wpd, dnnl_query_diff_weights_md, 0);
    port_init(&a->diff_weights, weights_plain, &w, 1);
    a->src_bw = dnn_mem(src_md);
    a->diff_dst_bw = dnn_mem(dst_md);
    a->diff_bias = dnn_mem(bias_md);
    dnnl_primitive_desc_destroy(wpd);
    dnnl_primitive_desc_destroy(fpd);

    if (act != ACT_NONE) {
        act_init_md(&a->act_op, act, dst_md);
        a->diff_pre = xaligned(a->dst_elems * sizeof(float));
    }
}

void affine_forward(Affine *a, const float *src, const float *weights, const float *bias,
                    float *dst)
{
    port_in(&a->weights_fwd, weights);
    a->fwd_weights = weights;
    dnn_bind(a->src, src);
    dnn_bind(a->bias, bias);
    dnn_bind(a->dst, dst);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, a->src},
                              {DNNL_ARG_WEIGHTS, a->weights_fwd.prim},
                              {DNNL_ARG_BIAS, a->bias},
                              {DNNL_ARG_DST, a->dst}};
    dnn_exec(a->fwd, 4, args);
}

void affine_backward(Affine *a, const float *src, const float *dst, const float *diff_dst,
                     const float *weights, float *diff_src, float *diff_weights,
                     float *diff_bias)
{
    const float *grad = diff_dst;
    if (a->act != ACT_NONE) {
        act_backward(&a->act_op, dst, diff_dst, a->diff_pre);
        grad = a->diff_pre;
    }
    if (diff_src) {
        if (!a->need_diff_src)
            die("affine_backward: diff_src requested from a layer built without it");
        dnnl_memory_t w = a->weights_bwd.prim;
        if (a->bwd_reuses_fwd_weights && weights == a->fwd_weights)
            w = a->weights_fwd.prim; /* reordered by the forward, unchanged since */
        else
            port_in(&a->weights_bwd, weights);
        dnn_bind(a->diff_dst_data, grad);
        dnn_bind(a->diff_src, diff_src);
        dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, a->diff_dst_data},
                                  {DNNL_ARG_WEIGHTS, w},
                                  {DNNL_ARG_DIFF_SRC, a->diff_src}};
        dnn_exec(a->bwd_data, 3, args);
    }
    dnn_bind(a->src_bw, src);
    dnn_bind(a->diff_dst_bw, grad);
    dnn_bind(a->diff_bias, diff_bias);
    port_out_begin(&a->diff_weights, diff_weights);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, a->src_bw},
                              {DNNL_ARG_DIFF_DST, a->diff_dst_bw},
                              {DNNL_ARG_DIFF_WEIGHTS, a->diff_weights.prim},
                              {DNNL_ARG_DIFF_BIAS, a->diff_bias}};
    dnn_exec(a->bwd_weights, 4, args);
    port_out_end(&a->diff_weights);
}

void affine_free(Affine *a)
{
    dnnl_primitive_t prims[] = {a->fwd, a->bwd_data, a->bwd_weights};
    for (size_t i = 0; i < 3; i++)
        if (prims[i])
            dnnl_primitive_destroy(prims[i]);
    port_free(&a->weights_fwd);
    port_free(&a->weights_bwd);
    port_free(&a->diff_weights);
    dnnl_memory_t *mems[] = {&a->src, &a->bias, &a->dst, &a->diff_dst_data, &a->diff_src,
                             &a->src_bw, &a->diff_dst_bw, &a->diff_bias};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        dnn_mem_free(mems[i]);
    act_free(&a->act_op);
    free(a->diff_pre);
    memset(a, 0, sizeof *a);
}
