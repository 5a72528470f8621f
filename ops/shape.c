/* shape.c - validation and the output-size formula for 2-D windows. */
#include "shape.h"

#include <inttypes.h>
#include <stdio.h>

#include "base.h"

Window window_square(int64_t k, int64_t s, int64_t p)
{
    return (Window){.kh = k, .kw = k, .sh = s, .sw = s, .pt = p, .pb = p, .pl = p, .pr = p};
}

int64_t shape_out_size(int64_t n, int64_t k, int64_t p_lower, int64_t p_upper, int64_t s)
{
    if (n < 1)
        return base_error_set("input size %" PRId64 " must be at least 1", n);
    if (k < 1)
        return base_error_set("kernel size %" PRId64 " must be at least 1", k);
    if (s < 1)
        return base_error_set("stride %" PRId64 " must be at least 1", s);
    if (p_lower < 0 || p_upper < 0)
        return base_error_set("padding (%" PRId64 ", %" PRId64 ") must not be negative",
                              p_lower, p_upper);
    if (k > n + p_lower + p_upper)
        return base_error_set("kernel %" PRId64 " is larger than the padded input %" PRId64
                              " (input %" PRId64 " + padding %" PRId64 " + %" PRId64 ")",
                              k, n + p_lower + p_upper, n, p_lower, p_upper);
    return (n - k + p_lower + p_upper + s) / s;
}

int shape_window_out(const Window *w, int64_t ih, int64_t iw, int64_t *oh, int64_t *ow)
{
    char why[512];
    int64_t h = shape_out_size(ih, w->kh, w->pt, w->pb, w->sh);
    if (h < 0) {
        snprintf(why, sizeof why, "%s", base_error());
        return base_error_set("height: %s", why);
    }
    int64_t x = shape_out_size(iw, w->kw, w->pl, w->pr, w->sw);
    if (x < 0) {
        snprintf(why, sizeof why, "%s", base_error());
        return base_error_set("width: %s", why);
    }
    *oh = h;
    *ow = x;
    return 0;
}
