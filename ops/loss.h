/* loss.h - softmax + cross-entropy over a batch of logits.
 *
 *   logits (n, k) plain, labels (n) in [0, k)
 *
 * loss = mean_i (logsumexp(logits_i) - logits_i[label_i]), computed with the
 * maximum subtracted first so that large logits cannot overflow.
 * diff_logits (n, k), OVERWRITTEN: d loss / d logits = (softmax - onehot) / n.
 * Labels are not validated here (io/ validates them when reading).
 */
#ifndef SHARDNET_LOSS_H
#define SHARDNET_LOSS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double loss;     /* mean cross-entropy over the batch */
    double loss_sum; /* sum over the batch */
    size_t correct;  /* samples whose arg-max logit is the label (first max wins) */
} LossResult;

/* diff_logits may be NULL (evaluation). */
LossResult loss_softmax_xent(const float *logits, const int32_t *labels, size_t n, size_t k,
                             float *diff_logits);

#endif
