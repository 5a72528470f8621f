/* control.c - the per-step control record.  See control.h. */
#include "control.h"

#include <math.h>
#include <string.h>

#include "base.h"
#include "gradred.h"

_Static_assert(sizeof(Control) == 7 * sizeof(int64_t), "Control must be int64 fields only");

void control_reset(Control *c) { memset(c, 0, sizeof *c); }

void control_add_microbatch(Control *c, float loss, int64_t correct, int64_t samples)
{
    int64_t v;
    int s = gradred_to_fixed(loss, CONTROL_LOSS_BOUND_BITS, &v);
    if (s == GRADRED_OK)
        c->loss_fixed += v;
    else if (s == GRADRED_NONFINITE)
        base_error_set("non-finite loss %g in local micro-batch %lld", (double)loss,
                       (long long)c->microbatches);
    else
        base_error_set("loss %g in local micro-batch %lld is outside the range |loss| < 2^%d "
                       "of the exact loss sum", (double)loss, (long long)c->microbatches,
                       CONTROL_LOSS_BOUND_BITS);
    control_note_grad_status(c, s);
    c->correct += correct;
    c->samples += samples;
    c->microbatches += 1;
}

_Static_assert(CONTROL_N == 7, "a new Control field needs its rule in control_merge");

void control_merge(Control *into, const Control *from)
{
    into->loss_fixed += from->loss_fixed;
    into->correct += from->correct;
    into->samples += from->samples;
    into->microbatches += from->microbatches;
    into->nonfinite_ranks |= from->nonfinite_ranks;
    into->overflow_ranks |= from->overflow_ranks;
    into->stop_ranks |= from->stop_ranks;
}

void control_note_grad_status(Control *c, int gradred_status)
{
    if (gradred_status == GRADRED_NONFINITE)
        c->nonfinite_ranks = 1;
    else if (gradred_status == GRADRED_OVERFLOW)
        c->overflow_ranks = 1;
}

double control_mean_loss(const Control *c)
{
    if (c->microbatches <= 0)
        return 0.0;
    return ldexp((double)c->loss_fixed, -GRADRED_SCALE_BITS) / (double)c->microbatches;
}

double control_accuracy(const Control *c)
{
    return c->samples > 0 ? (double)c->correct / (double)c->samples : 0.0;
}
