/* testutil.h - helpers shared by the cmocka tests of the ops: deterministic
 * data, layout conversion, comparisons that say where they failed.
 * Header-only so each test program stays one file plus this. */
#ifndef SHARDNET_TESTUTIL_H
#define SHARDNET_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dnn.h"
#include "rng.h"

/* Integers in [lo, hi]: sums of their products are exact in float. */
static inline void fill_int(float *x, size_t n, int lo, int hi, Rng *r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1)));
}

static inline void fill_uniform(float *x, size_t n, float lo, float hi, Rng *r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * rng_uniform01(r);
}

/* Distinct values (a shuffled 0..n-1, scaled): no ties for max pooling. */
static inline void fill_distinct(float *x, size_t n, Rng *r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(r) % i);
        float t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] * 0.25f - (float)n * 0.125f;
}

/* (n, c, h, w) between NCHW and NHWC. */
static inline void to_layout(const float *nchw, float *out, int64_t n, int64_t c, int64_t h,
                             int64_t w, Layout layout)
{
    for (int64_t b = 0; b < n; b++)
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    size_t src = (size_t)(((b * c + ci) * h + y) * w + x);
                    size_t dst = layout == LAYOUT_NHWC ? (size_t)(((b * h + y) * w + x) * c + ci)
                                                       : src;
                    out[dst] = nchw[src];
                }
}

static inline void from_layout(const float *in, float *nchw, int64_t n, int64_t c, int64_t h,
                               int64_t w, Layout layout)
{
    for (int64_t b = 0; b < n; b++)
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    size_t dst = (size_t)(((b * c + ci) * h + y) * w + x);
                    size_t src = layout == LAYOUT_NHWC ? (size_t)(((b * h + y) * w + x) * c + ci)
                                                       : dst;
                    nchw[dst] = in[src];
                }
}

/* Fails naming the first element where |got - want| > atol + rtol * |want|. */
#define assert_close(got, want, n, atol, rtol, what)                                        \
    do {                                                                                    \
        for (size_t i_ = 0; i_ < (size_t)(n); i_++) {                                       \
            double g_ = (got)[i_], w_ = (want)[i_];                                         \
            if (!(fabs(g_ - w_) <= (atol) + (rtol) * fabs(w_)))                             \
                fail_msg("%s: element %zu of %zu: got %.9g, want %.9g", (what), i_,         \
                         (size_t)(n), g_, w_);                                              \
        }                                                                                   \
    } while (0)

static inline float *tmalloc(size_t count) { return xaligned(count * sizeof(float)); }

#endif
