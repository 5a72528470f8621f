/* evaluate.c - see evaluate.h. */
#include "evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "loss.h"

int evaluator_init(Evaluator *e, LeNetArch arch, const Dataset *ds, size_t batch)
{
    memset(e, 0, sizeof *e);
    if (lenet_init(&e->model, arch, (int64_t)batch, (int64_t)ds->channels, (int64_t)ds->height,
                   (int64_t)ds->width, ds->num_classes, LAYOUT_NHWC) < 0)
        return -1;
    e->batch = batch;
    e->src = xaligned(batch * ds->sample_size * sizeof(float));
    e->labels = xcalloc(batch, sizeof *e->labels);
    return 0;
}

int evaluator_run(Evaluator *e, const EvalSet *ev, const float *params, EvalCounts *counts)
{
    const size_t k = (size_t)counts->classes;
    for (size_t i = 0; i < ev->count; i += e->batch) {
        size_t n = ev->count - i < e->batch ? ev->count - i : e->batch;
        if (loader_eval_get(ev, i, n, e->src, e->labels) < 0)
            return -1;
        lenet_forward(&e->model, params, e->src);
        if (e->logits_out)
            memcpy(e->logits_out + i * k, e->model.logits, n * k * sizeof(float));
        for (size_t j = 0; j < n; j++) {
            const float *logits = e->model.logits + j * k;
            LossResult r = loss_softmax_xent(logits, e->labels + j, 1, k, NULL);
            control_add_microbatch(&counts->totals, (float)r.loss, (int64_t)r.correct, 1);
            size_t pred = 0;
            for (size_t c = 1; c < k; c++)
                if (logits[c] > logits[pred])
                    pred = c;
            counts->confusion[(size_t)e->labels[j] * k + pred]++;
        }
    }
    return 0;
}

void evaluator_free(Evaluator *e)
{
    lenet_free(&e->model);
    free(e->src);
    free(e->labels);
    memset(e, 0, sizeof *e);
}

void evalcounts_init(EvalCounts *c, int64_t classes)
{
    memset(c, 0, sizeof *c);
    c->classes = classes;
    control_reset(&c->totals);
    c->confusion = xcalloc((size_t)(classes * classes), sizeof *c->confusion);
}

void evalcounts_free(EvalCounts *c)
{
    free(c->confusion);
    memset(c, 0, sizeof *c);
}
