/* act.c - eltwise activations; see act.h. */
#include "act.h"

#include <string.h>

static dnnl_alg_kind_t alg_bwd(ActKind kind)
{
    switch (kind) {
    case ACT_SIGMOID: return dnnl_eltwise_logistic_use_dst_for_bwd;
    case ACT_RELU: return dnnl_eltwise_relu_use_dst_for_bwd;
    case ACT_TANH: return dnnl_eltwise_tanh_use_dst_for_bwd;
    case ACT_NONE: break;
    }
    die("activation %d has no eltwise algorithm", (int)kind);
}

static dnnl_alg_kind_t alg_plain(ActKind kind)
{
    switch (kind) {
    case ACT_SIGMOID: return dnnl_eltwise_logistic;
    case ACT_RELU: return dnnl_eltwise_relu;
    case ACT_TANH: return dnnl_eltwise_tanh;
    case ACT_NONE: break;
    }
    die("activation %d has no eltwise algorithm", (int)kind);
}

const char *act_name(ActKind kind)
{
    switch (kind) {
    case ACT_SIGMOID: return "Sigmoid";
    case ACT_RELU: return "ReLU";
    case ACT_TANH: return "Tanh";
    case ACT_NONE: break;
    }
    return "none";
}

void act_init_md(Act *a, ActKind kind, const dnnl_memory_desc_t *md)
{
    memset(a, 0, sizeof *a);
    a->kind = kind;
    dnnl_eltwise_desc_t fd, bd;
    DNNL_CHECK(dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, alg_bwd(kind), md, 0.0f, 0.0f));
    a->fwd_pd = dnn_pd(&fd, NULL, NULL);
    a->fwd = dnn_prim(a->fwd_pd);
    DNNL_CHECK(dnnl_eltwise_backward_desc_init(&bd, alg_bwd(kind), md, md, 0.0f, 0.0f));
    dnnl_primitive_desc_t bpd = dnn_pd(&bd, NULL, a->fwd_pd);
    a->bwd = dnn_prim(bpd);
    dnnl_primitive_desc_destroy(bpd);
    a->src = dnn_mem(md);
    a->dst = dnn_mem(md);
    a->diff_dst = dnn_mem(md);
    a->diff_src = dnn_mem(md);
}

int act_init(Act *a, ActKind kind, int64_t n, int64_t c, int64_t h, int64_t w, Layout layout)
{
    memset(a, 0, sizeof *a);
    if (kind == ACT_NONE)
        return base_error_set("activation: no activation kind given");
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return base_error_set("activation: sizes (%lld, %lld, %lld, %lld) must be at least 1",
                              (long long)n, (long long)c, (long long)h, (long long)w);
    dnnl_memory_desc_t md = dnn_md4(n, c, h, w, layout);
    act_init_md(a, kind, &md);
    return 0;
}

void act_forward(Act *a, const float *src, float *dst)
{
    dnn_bind(a->src, src);
    dnn_bind(a->dst, dst);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, a->src}, {DNNL_ARG_DST, a->dst}};
    dnn_exec(a->fwd, 2, args);
}

void act_backward(Act *a, const float *dst, const float *diff_dst, float *diff_src)
{
    dnn_bind(a->dst, dst);
    dnn_bind(a->diff_dst, diff_dst);
    dnn_bind(a->diff_src, diff_src);
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_DST, a->dst}, {DNNL_ARG_DIFF_DST, a->diff_dst}, {DNNL_ARG_DIFF_SRC, a->diff_src}};
    dnn_exec(a->bwd, 3, args);
}

void act_free(Act *a)
{
    if (a->fwd)
        dnnl_primitive_destroy(a->fwd);
    if (a->bwd)
        dnnl_primitive_destroy(a->bwd);
    if (a->fwd_pd)
        dnnl_primitive_desc_destroy(a->fwd_pd);
    dnn_mem_free(&a->src);
    dnn_mem_free(&a->dst);
    dnn_mem_free(&a->diff_dst);
    dnn_mem_free(&a->diff_src);
    memset(a, 0, sizeof *a);
}

dnnl_primitive_attr_t act_post_op_attr(ActKind kind)
{
    if (kind == ACT_NONE)
        return NULL;
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t ops;
    DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    DNNL_CHECK(dnnl_post_ops_create(&ops));
    DNNL_CHECK(dnnl_post_ops_append_eltwise(ops, 1.0f, alg_plain(kind), 0.0f, 0.0f));
    DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, ops));
    dnnl_post_ops_destroy(ops);
    return attr;
}
