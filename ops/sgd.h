/* sgd.h - stochastic gradient descent with momentum and weight decay, over
 * flat buffers of n floats (parameters, gradients, momentum):
 *
 *   g' = grads + weight_decay * params
 *   momentum = mu * momentum + g'        (momentum starts at zero)
 *   params  -= lr * momentum             (mu = 0: plain SGD, params -= lr * g')
 *
 * The same arithmetic as PyTorch's torch.optim.SGD (dampening 0, no
 * Nesterov).  Updates params and momentum in place; deterministic. */
#ifndef SHARDNET_SGD_H
#define SHARDNET_SGD_H

#include <stddef.h>

typedef struct {
    float lr, momentum, weight_decay;
} SgdConfig;

void sgd_step(const SgdConfig *cfg, float *params, const float *grads, float *momentum, size_t n);

#endif
