/* sgd.c - see sgd.h. */
#include "sgd.h"

void sgd_step(const SgdConfig *cfg, float *params, const float *grads, float *momentum, size_t n)
{
    const float lr = cfg->lr, mu = cfg->momentum, wd = cfg->weight_decay;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i] + wd * params[i];
        float v = mu * momentum[i] + g;
        momentum[i] = v;
        params[i] -= lr * v;
    }
}
