/* gradred.c - fixed-point gradient sums.  See gradred.h for the format,
 * the range and why the overflow check is exact. */
#include "gradred.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

int gradred_bound_bits(size_t terms)
{
    int c = 0;
    while (((size_t)1 << c) < terms)
        c++;
    return 31 - c;
}

int gradred_to_fixed(float g, int bound_bits, int64_t *out)
{
    if (!isfinite(g))
        return GRADRED_NONFINITE;
    /* Compare the float itself with a power of two: exact.  A float below
     * 2^bound_bits scaled by 2^32 is an exact double below 2^(63-c); its
     * float spacing there is >= 2^(39-c) >= 1, so it is an integer and
     * llrint cannot overflow. */
    if (!(fabsf(g) < ldexpf(1.0f, bound_bits)))
        return GRADRED_OVERFLOW;
    *out = llrint(ldexp((double)g, GRADRED_SCALE_BITS));
    return GRADRED_OK;
}

float gradred_from_fixed(int64_t sum, double count)
{
    double total = ldexp((double)sum, -GRADRED_SCALE_BITS);
    double mean = total / count;
    return (float)mean;
}

int gradred_init(GradReducer *r, size_t n, ReduceMode mode, size_t terms)
{
    memset(r, 0, sizeof *r);
    if (n == 0)
        return base_error_set("gradient reducer: no gradient elements");
    if (terms == 0 || terms > GRADRED_MAX_TERMS)
        return base_error_set("gradient reducer: %zu micro-batches per step is outside 1..%d",
                              terms, GRADRED_MAX_TERMS);
    r->mode = mode;
    r->n = n;
    r->terms = terms;
    r->bound_bits = gradred_bound_bits(terms);
    if (mode == REDUCE_EXACT)
        r->acc = xaligned((n + 1) * sizeof *r->acc);
    else
        r->fsum = xaligned((n + 1) * sizeof *r->fsum);
    return 0;
}

void gradred_free(GradReducer *r)
{
    free(r->acc);
    free(r->fsum);
    memset(r, 0, sizeof *r);
}

void gradred_reset(GradReducer *r)
{
    if (r->acc)
        memset(r->acc, 0, (r->n + 1) * sizeof *r->acc);
    if (r->fsum)
        memset(r->fsum, 0, (r->n + 1) * sizeof *r->fsum);
    r->added = 0;
    r->status = GRADRED_OK;
}

static int add_failed(GradReducer *r, int status, size_t i, float g)
{
    if (r->status == GRADRED_OK)
        r->status = status;
    if (status == GRADRED_NONFINITE)
        base_error_set("non-finite gradient: element %zu of local micro-batch %zu is %g",
                       i, r->added, (double)g);
    else
        base_error_set("gradient element %zu of local micro-batch %zu is %g, outside the "
                       "exact-reduce range |g| < 2^%d = %g for %zu micro-batches per step "
                       "(fixed point with scale 2^%d in int64); lower --lr, or use "
                       "--reduce float",
                       i, r->added, (double)g, r->bound_bits, ldexp(1.0, r->bound_bits),
                       r->terms, GRADRED_SCALE_BITS);
    return status;
}

int gradred_add(GradReducer *r, const float *grad)
{
    if (r->added >= r->terms) {
        /* More local adds than the range allows: a caller bug, not data. */
        die("gradient reducer: micro-batch %zu added, but the step has only %zu",
            r->added + 1, r->terms);
    }
    if (r->mode == REDUCE_FLOAT) {
        for (size_t i = 0; i < r->n; i++) {
            if (!isfinite(grad[i]))
                return add_failed(r, GRADRED_NONFINITE, i, grad[i]);
            r->fsum[i] += grad[i];
        }
        r->fsum[r->n] += 1.0f;
        r->added++;
        return GRADRED_OK;
    }
    for (size_t i = 0; i < r->n; i++) {
        int64_t v;
        int s = gradred_to_fixed(grad[i], r->bound_bits, &v);
        if (s != GRADRED_OK)
            return add_failed(r, s, i, grad[i]);
        r->acc[i] += v;
    }
    r->acc[r->n] += 1;
    r->added++;
    return GRADRED_OK;
}

void *gradred_buffer(GradReducer *r)
{
    return r->mode == REDUCE_EXACT ? (void *)r->acc : (void *)r->fsum;
}

size_t gradred_buffer_len(const GradReducer *r) { return r->n + 1; }

int gradred_finish(const GradReducer *r, float *mean_out)
{
    if (r->mode == REDUCE_FLOAT) {
        float count = r->fsum[r->n];
        if (!(count >= 1.0f && count <= (float)r->terms))
            return base_error_set("gradient reduce: %g micro-batches summed over all ranks, "
                                  "expected 1..%zu",
                                  (double)count, r->terms);
        for (size_t i = 0; i < r->n; i++)
            mean_out[i] = r->fsum[i] / count;
        return 0;
    }
    int64_t count = r->acc[r->n];
    if (count < 1 || (uint64_t)count > r->terms)
        return base_error_set("gradient reduce: %lld micro-batches summed over all ranks, "
                              "expected 1..%zu (beyond that the int64 sums may overflow)",
                              (long long)count, r->terms);
    for (size_t i = 0; i < r->n; i++)
        mean_out[i] = gradred_from_fixed(r->acc[i], (double)count);
    return 0;
}
