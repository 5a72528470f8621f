/* loss.c - numerically stable softmax cross-entropy; see loss.h. */
#include "loss.h"

#include <math.h>

LossResult loss_softmax_xent(const float *logits, const int32_t *labels, size_t n, size_t k,
                             float *diff_logits)
{
    LossResult r = {0};
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * k;
        size_t arg = 0;
        for (size_t j = 1; j < k; j++)
            if (z[j] > z[arg])
                arg = j;
        double max = z[arg], sum = 0.0;
        for (size_t j = 0; j < k; j++)
            sum += exp((double)z[j] - max);
        double lse = max + log(sum);
        r.loss_sum += lse - z[labels[i]];
        r.correct += arg == (size_t)labels[i];
        if (diff_logits)
            for (size_t j = 0; j < k; j++) {
                double p = exp((double)z[j] - lse);
                diff_logits[i * k + j] = (float)((p - (j == (size_t)labels[i])) / (double)n);
            }
    }
    r.loss = n ? r.loss_sum / (double)n : 0.0;
    return r;
}
