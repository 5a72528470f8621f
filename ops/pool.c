/* pool.c - pooling primitives; see pool.h. */
#include "pool.h"

#include <stdio.h>
#include <string.h>

static dnnl_alg_kind_t pool_alg(PoolAlg alg)
{
    switch (alg) {
    case POOL_MAX: return dnnl_pooling_max;
    case POOL_AVG_INCLUDE_PAD: return dnnl_pooling_avg_include_padding;
    case POOL_AVG_EXCLUDE_PAD: return dnnl_pooling_avg_exclude_padding;
    }
    die("unknown pooling algorithm %d", (int)alg);
}

static int pool_validate(const PoolSpec *s, int64_t *oh, int64_t *ow)
{
    if (s->n < 1 || s->c < 1)
        return base_error_set("pooling: batch %lld and channels %lld must be at least 1",
                              (long long)s->n, (long long)s->c);
    if (s->alg != POOL_MAX && s->alg != POOL_AVG_INCLUDE_PAD && s->alg != POOL_AVG_EXCLUDE_PAD)
        return base_error_set("pooling: unknown algorithm %d", (int)s->alg);
    char why[600];
    if (shape_window_out(&s->win, s->ih, s->iw, oh, ow) < 0) {
        snprintf(why, sizeof why, "%s", base_error());
        return base_error_set("pooling: %s", why);
    }
    const Window *w = &s->win;
    if (w->pt >= w->kh || w->pb >= w->kh || w->pl >= w->kw || w->pr >= w->kw)
        return base_error_set("pooling: padding (%lld, %lld, %lld, %lld) must be smaller than "
                              "the kernel %lldx%lld",
                              (long long)w->pt, (long long)w->pb, (long long)w->pl,
                              (long long)w->pr, (long long)w->kh, (long long)w->kw);
    return 0;
}

/* oneDNN 2.6's AVX-512 pooling backward is 3-4x slower than its AVX2 one on
 * LeNet's NHWC shapes (one core, batch 128, 6x28x28 -> 14x14: 687 us vs 181
 * us average, 635 vs 228 max; forward is fine), so backward avoids it. */
static const char *const slow_backward[] = {"jit:avx512_core", NULL};

int pool_init(Pool *p, const PoolSpec *spec)
{
    memset(p, 0, sizeof *p);
    if (pool_validate(spec, &p->oh, &p->ow) < 0)
        return -1;
    p->spec = *spec;
    const PoolSpec *s = spec;
    dnnl_memory_desc_t src = dnn_md4(s->n, s->c, s->ih, s->iw, s->layout);
    dnnl_memory_desc_t dst = dnn_md4(s->n, s->c, p->oh, p->ow, s->layout);
    dnnl_dims_t strides = {s->win.sh, s->win.sw}, kernel = {s->win.kh, s->win.kw};
    dnnl_dims_t dilation = {0, 0};
    dnnl_dims_t pad_l = {s->win.pt, s->win.pl}, pad_r = {s->win.pb, s->win.pr};

    dnnl_pooling_v2_desc_t fd, bd;
    DNNL_CHECK(dnnl_pooling_v2_forward_desc_init(&fd, dnnl_forward_training, pool_alg(s->alg), &src,
                                                 &dst, strides, kernel, dilation, pad_l, pad_r));
    dnnl_primitive_desc_t fpd = dnn_pd(&fd, NULL, NULL);
    p->fwd = dnn_prim(fpd);
    dnn_impl(fpd, p->impl_fwd, sizeof p->impl_fwd);
    DNNL_CHECK(dnnl_pooling_v2_backward_desc_init(&bd, pool_alg(s->alg), &src, &dst, strides,
                                                  kernel, dilation, pad_l, pad_r));
    dnnl_primitive_desc_t bpd = dnn_pd_avoiding(&bd, NULL, fpd, slow_backward);
    p->bwd = dnn_prim(bpd);
    dnn_impl(bpd, p->impl_bwd, sizeof p->impl_bwd);
    if (s->alg == POOL_MAX) {
        dnnl_memory_desc_t ws = dnn_query(fpd, dnnl_query_workspace_md, 0);
        p->workspace = dnn_mem_owned(&ws);
    }
    dnnl_primitive_desc_destroy(bpd);
    dnnl_primitive_desc_destroy(fpd);
    p->src = dnn_mem(&src);
    p->dst = dnn_mem(&dst);
    p->diff_dst = dnn_mem(&dst);
    p->diff_src = dnn_mem(&src);
    return 0;
}

void pool_forward(Pool *p, const float *src, float *dst)
{
    dnn_bind(p->src, src);
    dnn_bind(p->dst, dst);
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, p->src}, {DNNL_ARG_DST, p->dst}, {DNNL_ARG_WORKSPACE, p->workspace}};
    dnn_exec(p->fwd, p->workspace ? 3 : 2, args);
}

void pool_backward(Pool *p, const float *diff_dst, float *diff_src)
{
    dnn_bind(p->diff_dst, diff_dst);
    dnn_bind(p->diff_src, diff_src);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, p->diff_dst},
                              {DNNL_ARG_DIFF_SRC, p->diff_src},
                              {DNNL_ARG_WORKSPACE, p->workspace}};
    dnn_exec(p->bwd, p->workspace ? 3 : 2, args);
}

void pool_free(Pool *p)
{
    if (p->fwd)
        dnnl_primitive_destroy(p->fwd);
    if (p->bwd)
        dnnl_primitive_destroy(p->bwd);
    dnn_mem_free(&p->src);
    dnn_mem_free(&p->dst);
    dnn_mem_free(&p->workspace);
    dnn_mem_free(&p->diff_dst);
    dnn_mem_free(&p->diff_src);
    memset(p, 0, sizeof *p);
}
