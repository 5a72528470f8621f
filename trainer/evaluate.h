/* evaluate.h - test-set evaluation of a parameter buffer on this rank's
 * share of the test set (loader_eval_init), with integer results that the
 * caller sums across ranks (dist_sum_i64), so accuracy and the loss are the
 * same for any number of ranks.
 *
 * The loss of every sample is added in 64-bit fixed point (control.h), not
 * in float, so the summed test loss does not depend on how the test set is
 * split.  No MPI here. */
#ifndef SHARDNET_EVALUATE_H
#define SHARDNET_EVALUATE_H

#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "lenet.h"
#include "loader.h"

typedef struct {
    LeNet model;   /* forward only, batch `batch` */
    size_t batch;
    float *src;    /* (batch, C, H, W) */
    int32_t *labels;
    float *logits_out; /* NULL, or (ev->count, classes): each sample's logits, set by the caller */
} Evaluator;

typedef struct {
    int64_t classes;
    Control totals;     /* loss_fixed, correct, samples (microbatches = samples) */
    int64_t *confusion; /* (classes, classes): [true label][predicted] */
} EvalCounts;

/* -1 and base_error() when the model cannot be built for the data's shape. */
int evaluator_init(Evaluator *e, LeNetArch arch, const Dataset *ds, size_t batch);
/* Adds this rank's share to counts (zeroed by evalcounts_init); the last
 * partial batch is padded and its padding ignored. */
int evaluator_run(Evaluator *e, const EvalSet *ev, const float *params, EvalCounts *counts);
void evaluator_free(Evaluator *e);

void evalcounts_init(EvalCounts *c, int64_t classes);
void evalcounts_free(EvalCounts *c);

#endif
