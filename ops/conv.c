/* conv.c - convolution descriptors for the affine core; see conv.h. */
#include "conv.h"

#include <stdio.h>
#include <string.h>

static int conv_validate(const ConvSpec *s, int64_t *oh, int64_t *ow)
{
    if (s->n < 1 || s->ic < 1 || s->oc < 1)
        return base_error_set("convolution: batch %lld, input channels %lld and output channels "
                              "%lld must all be at least 1",
                              (long long)s->n, (long long)s->ic, (long long)s->oc);
    char why[600];
    if (shape_window_out(&s->win, s->ih, s->iw, oh, ow) < 0) {
        snprintf(why, sizeof why, "%s", base_error());
        return base_error_set("convolution: %s", why);
    }
    return 0;
}

int conv_init(Conv *c, const ConvSpec *spec)
{
    memset(c, 0, sizeof *c);
    if (conv_validate(spec, &c->oh, &c->ow) < 0)
        return -1;
    c->spec = *spec;
    const ConvSpec *s = spec;
    dnnl_memory_desc_t src = dnn_md4(s->n, s->ic, s->ih, s->iw, s->layout);
    dnnl_memory_desc_t dst = dnn_md4(s->n, s->oc, c->oh, c->ow, s->layout);
    int64_t wdims[4] = {s->oc, s->ic, s->win.kh, s->win.kw};
    dnnl_memory_desc_t w_plain = dnn_md_tag(4, wdims, dnnl_oihw);
    dnnl_memory_desc_t w_any = dnn_md_tag(4, wdims, dnnl_format_tag_any);
    dnnl_memory_desc_t bias = dnn_md_tag(1, &s->oc, dnnl_x);
    dnnl_dims_t strides = {s->win.sh, s->win.sw};
    dnnl_dims_t pad_l = {s->win.pt, s->win.pl};
    dnnl_dims_t pad_r = {s->win.pb, s->win.pr};

    dnnl_convolution_desc_t fwd, bwd_data, bwd_weights;
    DNNL_CHECK(dnnl_convolution_forward_desc_init(&fwd, dnnl_forward_training, dnnl_convolution_direct,
                                                  &src, &w_any, &bias, &dst, strides, pad_l, pad_r));
    DNNL_CHECK(dnnl_convolution_backward_data_desc_init(&bwd_data, dnnl_convolution_direct, &src,
                                                        &w_any, &dst, strides, pad_l, pad_r));
    DNNL_CHECK(dnnl_convolution_backward_weights_desc_init(&bwd_weights, dnnl_convolution_direct,
                                                           &src, &w_any, &bias, &dst, strides,
                                                           pad_l, pad_r));
    affine_init(&c->core, &fwd, s->need_diff_src ? &bwd_data : NULL, &bwd_weights, &w_plain,
                &bias, &src, &dst, s->act);
    return 0;
}

void conv_forward(Conv *c, const float *src, const float *weights, const float *bias, float *dst)
{
    affine_forward(&c->core, src, weights, bias, dst);
}

void conv_backward(Conv *c, const float *src, const float *dst, const float *diff_dst,
                   const float *weights, float *diff_src, float *diff_weights, float *diff_bias)
{
    affine_backward(&c->core, src, dst, diff_dst, weights, diff_src, diff_weights, diff_bias);
}

void conv_free(Conv *c)
{
    affine_free(&c->core);
    memset(c, 0, sizeof *c);
}
