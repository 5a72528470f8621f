/* ref.c - naive reference loops; see ref.h.  Written for clarity, not speed:
 * they are the oracles the oneDNN operators are tested against. */
#include "ref.h"

#include <float.h>
#include <string.h>

void ref_corr2d(const float *x, size_t h, size_t w, const float *k, size_t kh, size_t kw, float *y)
{
    ref_corr2d_multi_in(x, 1, h, w, k, kh, kw, y);
}

void ref_corr2d_multi_in(const float *x, size_t c, size_t h, size_t w,
                         const float *k, size_t kh, size_t kw, float *y)
{
    size_t oh = h - kh + 1, ow = w - kw + 1;
    for (size_t i = 0; i < oh; i++)
        for (size_t j = 0; j < ow; j++) {
            float acc = 0.0f;
            for (size_t ci = 0; ci < c; ci++)
                for (size_t a = 0; a < kh; a++)
                    for (size_t b = 0; b < kw; b++)
                        acc += x[(ci * h + i + a) * w + j + b] * k[(ci * kh + a) * kw + b];
            y[i * ow + j] = acc;
        }
}

void ref_corr2d_multi_in_out(const float *x, size_t c, size_t h, size_t w,
                             const float *k, size_t o, size_t kh, size_t kw, float *y)
{
    size_t plane = (h - kh + 1) * (w - kw + 1);
    for (size_t oi = 0; oi < o; oi++)
        ref_corr2d_multi_in(x, c, h, w, k + oi * c * kh * kw, kh, kw, y + oi * plane);
}

void ref_pool2d(const float *x, size_t h, size_t w, size_t ph, size_t pw, PoolAlg alg, float *y)
{
    Window win = {.kh = (int64_t)ph, .kw = (int64_t)pw, .sh = 1, .sw = 1};
    ref_pool2d_forward(x, 1, 1, (int64_t)h, (int64_t)w, &win, alg, y);
}

static int64_t out_len(int64_t n, int64_t k, int64_t pl, int64_t pu, int64_t s)
{
    return (n - k + pl + pu + s) / s;
}

void ref_conv2d_forward(const float *src, int64_t n, int64_t ic, int64_t ih, int64_t iw,
                        const float *weights, const float *bias, int64_t oc, const Window *win,
                        float *dst)
{
    int64_t oh = out_len(ih, win->kh, win->pt, win->pb, win->sh);
    int64_t ow = out_len(iw, win->kw, win->pl, win->pr, win->sw);
    for (int64_t b = 0; b < n; b++)
        for (int64_t o = 0; o < oc; o++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t x = 0; x < ow; x++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (int64_t c = 0; c < ic; c++)
                        for (int64_t a = 0; a < win->kh; a++) {
                            int64_t sy = y * win->sh - win->pt + a;
                            if (sy < 0 || sy >= ih)
                                continue;
                            for (int64_t e = 0; e < win->kw; e++) {
                                int64_t sx = x * win->sw - win->pl + e;
                                if (sx < 0 || sx >= iw)
                                    continue;
                                acc += (double)src[((b * ic + c) * ih + sy) * iw + sx] *
                                       weights[((o * ic + c) * win->kh + a) * win->kw + e];
                            }
                        }
                    dst[((b * oc + o) * oh + y) * ow + x] = (float)acc;
                }
}

void ref_conv2d_backward_data(const float *diff_dst, const float *weights, int64_t n, int64_t ic,
                              int64_t ih, int64_t iw, int64_t oc, const Window *win,
                              float *diff_src)
{
    int64_t oh = out_len(ih, win->kh, win->pt, win->pb, win->sh);
    int64_t ow = out_len(iw, win->kw, win->pl, win->pr, win->sw);
    memset(diff_src, 0, sizeof(float) * (size_t)(n * ic * ih * iw));
    for (int64_t b = 0; b < n; b++)
        for (int64_t o = 0; o < oc; o++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t x = 0; x < ow; x++) {
                    float g = diff_dst[((b * oc + o) * oh + y) * ow + x];
                    for (int64_t c = 0; c < ic; c++)
                        for (int64_t a = 0; a < win->kh; a++) {
                            int64_t sy = y * win->sh - win->pt + a;
                            if (sy < 0 || sy >= ih)
                                continue;
                            for (int64_t e = 0; e < win->kw; e++) {
                                int64_t sx = x * win->sw - win->pl + e;
                                if (sx < 0 || sx >= iw)
                                    continue;
                                diff_src[((b * ic + c) * ih + sy) * iw + sx] +=
                                    g * weights[((o * ic + c) * win->kh + a) * win->kw + e];
                            }
                        }
                }
}

void ref_conv2d_backward_weights(const float *src, const float *diff_dst, int64_t n, int64_t ic,
                                 int64_t ih, int64_t iw, int64_t oc, const Window *win,
                                 float *diff_weights, float *diff_bias)
{
    int64_t oh = out_len(ih, win->kh, win->pt, win->pb, win->sh);
    int64_t ow = out_len(iw, win->kw, win->pl, win->pr, win->sw);
    for (int64_t o = 0; o < oc; o++) {
        if (diff_bias) {
            double acc = 0.0;
            for (int64_t b = 0; b < n; b++)
                for (int64_t i = 0; i < oh * ow; i++)
                    acc += diff_dst[(b * oc + o) * oh * ow + i];
            diff_bias[o] = (float)acc;
        }
        for (int64_t c = 0; c < ic; c++)
            for (int64_t a = 0; a < win->kh; a++)
                for (int64_t e = 0; e < win->kw; e++) {
                    double acc = 0.0;
                    for (int64_t b = 0; b < n; b++)
                        for (int64_t y = 0; y < oh; y++) {
                            int64_t sy = y * win->sh - win->pt + a;
                            if (sy < 0 || sy >= ih)
                                continue;
                            for (int64_t x = 0; x < ow; x++) {
                                int64_t sx = x * win->sw - win->pl + e;
                                if (sx < 0 || sx >= iw)
                                    continue;
                                acc += (double)src[((b * ic + c) * ih + sy) * iw + sx] *
                                       diff_dst[((b * oc + o) * oh + y) * ow + x];
                            }
                        }
                    diff_weights[((o * ic + c) * win->kh + a) * win->kw + e] = (float)acc;
                }
    }
}

/* Visits the real (unpadded) input positions of output (y, x)'s window. */
typedef struct {
    int64_t y0, y1, x0, x1; /* [y0, y1) x [x0, x1) clipped to the input */
} Span;

static Span window_span(const Window *win, int64_t ih, int64_t iw, int64_t y, int64_t x)
{
    Span s;
    s.y0 = y * win->sh - win->pt;
    s.x0 = x * win->sw - win->pl;
    s.y1 = s.y0 + win->kh;
    s.x1 = s.x0 + win->kw;
    if (s.y0 < 0) s.y0 = 0;
    if (s.x0 < 0) s.x0 = 0;
    if (s.y1 > ih) s.y1 = ih;
    if (s.x1 > iw) s.x1 = iw;
    return s;
}

static float window_divisor(const Window *win, const Span *s, PoolAlg alg)
{
    if (alg == POOL_AVG_INCLUDE_PAD)
        return (float)(win->kh * win->kw);
    return (float)((s->y1 - s->y0) * (s->x1 - s->x0));
}

void ref_pool2d_forward(const float *src, int64_t n, int64_t c, int64_t ih, int64_t iw,
                        const Window *win, PoolAlg alg, float *dst)
{
    int64_t oh = out_len(ih, win->kh, win->pt, win->pb, win->sh);
    int64_t ow = out_len(iw, win->kw, win->pl, win->pr, win->sw);
    for (int64_t p = 0; p < n * c; p++) {
        const float *in = src + p * ih * iw;
        for (int64_t y = 0; y < oh; y++)
            for (int64_t x = 0; x < ow; x++) {
                Span s = window_span(win, ih, iw, y, x);
                float best = -FLT_MAX;
                double sum = 0.0;
                for (int64_t a = s.y0; a < s.y1; a++)
                    for (int64_t e = s.x0; e < s.x1; e++) {
                        float v = in[a * iw + e];
                        if (v > best)
                            best = v;
                        sum += v;
                    }
                dst[(p * oh + y) * ow + x] =
                    alg == POOL_MAX ? best : (float)(sum / window_divisor(win, &s, alg));
            }
    }
}

void ref_pool2d_backward(const float *src, const float *diff_dst, int64_t n, int64_t c, int64_t ih,
                         int64_t iw, const Window *win, PoolAlg alg, float *diff_src)
{
    int64_t oh = out_len(ih, win->kh, win->pt, win->pb, win->sh);
    int64_t ow = out_len(iw, win->kw, win->pl, win->pr, win->sw);
    memset(diff_src, 0, sizeof(float) * (size_t)(n * c * ih * iw));
    for (int64_t p = 0; p < n * c; p++) {
        const float *in = src + p * ih * iw;
        float *gin = diff_src + p * ih * iw;
        for (int64_t y = 0; y < oh; y++)
            for (int64_t x = 0; x < ow; x++) {
                Span s = window_span(win, ih, iw, y, x);
                float g = diff_dst[(p * oh + y) * ow + x];
                if (alg == POOL_MAX) {
                    int64_t arg = s.y0 * iw + s.x0;
                    for (int64_t a = s.y0; a < s.y1; a++)
                        for (int64_t e = s.x0; e < s.x1; e++)
                            if (in[a * iw + e] > in[arg])
                                arg = a * iw + e;
                    gin[arg] += g;
                } else {
                    float share = g / window_divisor(win, &s, alg);
                    for (int64_t a = s.y0; a < s.y1; a++)
                        for (int64_t e = s.x0; e < s.x1; e++)
                            gin[a * iw + e] += share;
                }
            }
    }
}
