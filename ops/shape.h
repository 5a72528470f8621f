/* shape.h - the geometry shared by convolution and pooling: a 2-D window
 * (kernel, stride, padding given per side) and the output-size rule.
 *
 * Output size along one dimension (the textbook's formula, with the padding
 * of both sides added): out = floor((n - k + p_lower + p_upper + s) / s).
 * It is valid only when k <= n + p_lower + p_upper and s >= 1.
 */
#ifndef SHARDNET_SHAPE_H
#define SHARDNET_SHAPE_H

#include <stdint.h>

typedef struct {
    int64_t kh, kw;         /* kernel height, width */
    int64_t sh, sw;         /* stride */
    int64_t pt, pb, pl, pr; /* padding: top, bottom, left, right */
} Window;

/* Window with a square kernel k, stride s and padding p on every side. */
Window window_square(int64_t k, int64_t s, int64_t p);

/* Output length for input length n; -1 with base_error() set when the
 * arguments are invalid (n < 1, k < 1, s < 1, negative padding, or a kernel
 * larger than the padded input). */
int64_t shape_out_size(int64_t n, int64_t k, int64_t p_lower, int64_t p_upper, int64_t s);

/* Both output sizes of a window over an ih x iw input; -1 and base_error()
 * on invalid arguments, 0 otherwise. */
int shape_window_out(const Window *w, int64_t ih, int64_t iw, int64_t *oh, int64_t *ow);

#endif
