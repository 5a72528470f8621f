/* linear.c - inner-product descriptors for the affine core; see linear.h. */
#include "linear.h"

#include <string.h>

int linear_init(Linear *l, const LinearSpec *spec)
{
    memset(l, 0, sizeof *l);
    const LinearSpec *s = spec;
    if (s->n < 1 || s->c < 1 || s->h < 1 || s->w < 1 || s->oc < 1)
        return base_error_set("inner product: sizes n=%lld c=%lld h=%lld w=%lld outputs=%lld "
                              "must all be at least 1",
                              (long long)s->n, (long long)s->c, (long long)s->h,
                              (long long)s->w, (long long)s->oc);
    l->spec = *spec;
    int flat = s->h == 1 && s->w == 1;
    dnnl_memory_desc_t src, w_plain, w_any;
    if (flat) {
        int64_t sd[2] = {s->n, s->c}, wd[2] = {s->oc, s->c};
        src = dnn_md_tag(2, sd, dnnl_nc);
        w_plain = dnn_md_tag(2, wd, dnnl_oi);
        w_any = dnn_md_tag(2, wd, dnnl_format_tag_any);
    } else {
        int64_t wd[4] = {s->oc, s->c, s->h, s->w};
        src = dnn_md4(s->n, s->c, s->h, s->w, s->layout);
        w_plain = dnn_md_tag(4, wd, dnnl_oihw);
        w_any = dnn_md_tag(4, wd, dnnl_format_tag_any);
    }
    int64_t dd[2] = {s->n, s->oc};
    dnnl_memory_desc_t dst = dnn_md_tag(2, dd, dnnl_nc);
    dnnl_memory_desc_t bias = dnn_md_tag(1, &s->oc, dnnl_x);

    dnnl_inner_product_desc_t fwd, bwd_data, bwd_weights;
    DNNL_CHECK(dnnl_inner_product_forward_desc_init(&fwd, dnnl_forward_training, &src, &w_any,
                                                    &bias, &dst));
    DNNL_CHECK(dnnl_inner_product_backward_data_desc_init(&bwd_data, &src, &w_any, &dst));
    DNNL_CHECK(dnnl_inner_product_backward_weights_desc_init(&bwd_weights, &src, &w_any, &bias,
                                                             &dst));
    affine_init(&l->core, &fwd, s->need_diff_src ? &bwd_data : NULL, &bwd_weights, &w_plain,
                &bias, &src, &dst, s->act);
    return 0;
}

void linear_forward(Linear *l, const float *src, const float *weights, const float *bias,
                    float *dst)
{
    affine_forward(&l->core, src, weights, bias, dst);
}

void linear_backward(Linear *l, const float *src, const float *dst, const float *diff_dst,
                     const float *weights, float *diff_src, float *diff_weights,
                     float *diff_bias)
{
    affine_backward(&l->core, src, dst, diff_dst, weights, diff_src, diff_weights, diff_bias);
}

void linear_free(Linear *l)
{
    affine_free(&l->core);
    memset(l, 0, sizeof *l);
}
