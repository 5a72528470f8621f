/* gradred.c - fixed-point gradient sums.  See gradred.h for the format,
 * the range and why the overflow check is exact. */
#include "gradred.h"

#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
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

/* round(g * 2^32) to nearest, ties to even, for |g| within the bound.
 * g * 2^32 is exact in double (a power-of-two scaling), so only the final
 * rounding rounds; on x86-64 one cvtsd2si does it in the default MXCSR
 * rounding mode (nearest-even), the same as llrint but without a libm call
 * per element (which cost ~10 ns, 0.6 ms per LeNet gradient). */
static inline int64_t fixed_round(float g)
{
    double x = (double)g * 0x1p32;
#if defined(__x86_64__)
    return _mm_cvtsd_si64(_mm_set_sd(x));
#else
    return llrint(x);
#endif
}

int gradred_to_fixed(float g, int bound_bits, int64_t *out)
{
    if (!isfinite(g))
        return GRADRED_NONFINITE;
    /* Compare the float itself with a power of two: exact.  A float below
     * 2^bound_bits scaled by 2^32 is an exact double below 2^(63-c); its
     * float spacing there is >= 2^(39-c) >= 1, so it is an integer and
     * the conversion cannot overflow. */
    if (!(fabsf(g) < ldexpf(1.0f, bound_bits)))
        return GRADRED_OVERFLOW;
    *out = fixed_round(g);
    return GRADRED_OK;
}

float gradred_from_fixed(int64_t sum, double count)
{
    double total = (double)sum * 0x1p-32; /* exact: a power-of-two scaling */
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

int gradred_add_range(GradReducer *r, const float *grad, size_t first, size_t last)
{
    if (first > last || last > r->n)
        die("gradient reducer: range [%zu, %zu) of %zu elements", first, last, r->n);
    if (r->mode == REDUCE_FLOAT) {
        float *fsum = r->fsum;
        for (size_t i = first; i < last; i++) {
            if (!isfinite(grad[i]))
                return add_failed(r, GRADRED_NONFINITE, i, grad[i]);
            fsum[i] += grad[i];
        }
        return GRADRED_OK;
    }
    /* One comparison per element: NaN fails it too; the slow path only
     * classifies the failure for the message. */
    const float bound = ldexpf(1.0f, r->bound_bits);
    int64_t *acc = r->acc;
    for (size_t i = first; i < last; i++) {
        float g = grad[i];
        if (!(fabsf(g) < bound))
            return add_failed(r, isfinite(g) ? GRADRED_OVERFLOW : GRADRED_NONFINITE, i, g);
        acc[i] += fixed_round(g);
    }
    return GRADRED_OK;
}

void gradred_count(GradReducer *r)
{
    if (r->added >= r->terms) {
        /* More local adds than the range allows: a caller bug, not data. */
        die("gradient reducer: micro-batch %zu added, but the step has only %zu",
            r->added + 1, r->terms);
    }
    if (r->mode == REDUCE_FLOAT)
        r->fsum[r->n] += 1.0f;
    else
        r->acc[r->n] += 1;
    r->added++;
}

void gradred_merge_range(GradReducer *into, const GradReducer *from, size_t first, size_t last)
{
    if (into->mode != from->mode || into->n != from->n || into->terms != from->terms ||
        first > last || last > into->n + 1)
        die("gradient reducer: merging range [%zu, %zu) of reducers that differ", first, last);
    if (into->mode == REDUCE_FLOAT)
        for (size_t i = first; i < last; i++)
            into->fsum[i] += from->fsum[i];
    else
        for (size_t i = first; i < last; i++)
            into->acc[i] += from->acc[i];
    if (last == into->n + 1)
        into->added += from->added;
    if (into->status == GRADRED_OK)
        into->status = from->status;
}

int gradred_add(GradReducer *r, const float *grad)
{
    int status = gradred_add_range(r, grad, 0, r->n);
    if (status == GRADRED_OK)
        gradred_count(r);
    return status;
}

void *gradred_buffer(GradReducer *r)
{
    return r->mode == REDUCE_EXACT ? (void *)r->acc : (void *)r->fsum;
}

size_t gradred_buffer_len(const GradReducer *r) { return r->n + 1; }

size_t gradred_elem_size(const GradReducer *r)
{
    return r->mode == REDUCE_EXACT ? sizeof *r->acc : sizeof *r->fsum;
}

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
    if ((count & (count - 1)) == 0) {
        /* count = 2^k: dividing by it is an exact power-of-two scaling (no
         * double underflows here), so one multiply gives the same bits as
         * gradred_from_fixed's division, at a fraction of its cost. */
        int k = 0;
        while (((int64_t)1 << k) < count)
            k++;
        const double scale = ldexp(1.0, -GRADRED_SCALE_BITS - k);
        for (size_t i = 0; i < r->n; i++)
            mean_out[i] = (float)((double)r->acc[i] * scale);
        return 0;
    }
    for (size_t i = 0; i < r->n; i++)
        mean_out[i] = gradred_from_fixed(r->acc[i], (double)count);
    return 0;
}

size_t gradred_wire_blocks(size_t n)
{
    return (n + GRADRED_WIRE_BLOCK - 1) / GRADRED_WIRE_BLOCK;
}

void gradred_wire_pack(const int64_t *acc, size_t n, uint32_t *wire, int64_t *bound)
{
    for (size_t b = 0; b * GRADRED_WIRE_BLOCK < n; b++) {
        size_t first = b * GRADRED_WIRE_BLOCK;
        size_t last = first + GRADRED_WIRE_BLOCK < n ? first + GRADRED_WIRE_BLOCK : n;
        uint64_t most = 0;
        for (size_t i = first; i < last; i++) {
            /* |a| in unsigned arithmetic: defined for every int64. */
            uint64_t a = (uint64_t)acc[i];
            uint64_t mag = acc[i] < 0 ? 0 - a : a;
            most = mag > most ? mag : most;
            wire[i] = (uint32_t)a; /* conversion to unsigned: a mod 2^32 */
        }
        bound[b] = most < (uint64_t)GRADRED_WIRE_CLAMP ? (int64_t)most : GRADRED_WIRE_CLAMP;
    }
}

int gradred_wire_fits(int64_t bound_sum) { return bound_sum >= 0 && bound_sum <= INT32_MAX; }

void gradred_wire_unpack(const uint32_t *wire, size_t n, int64_t *acc)
{
    /* u in [0, 2^32): u itself below 2^31, u - 2^32 from there; both in
     * int64 arithmetic that cannot overflow. */
    for (size_t i = 0; i < n; i++)
        acc[i] = (int64_t)wire[i] - ((int64_t)(wire[i] >> 31) << 32);
}
