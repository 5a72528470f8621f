/* balance.c - the assignment of a step's micro-batches to ranks.  See
 * balance.h for the rules. */
#include "balance.h"

#include <stdlib.h>
#include <string.h>

#include "base.h"

/* Costs are clamped to [1, 2^40] ns (18 minutes a micro-batch), so that
 * 2^40 / c >= 1 and K * (2^40 / c) <= 2^16 * 2^40 stays inside int64. */
#define COST_MAX ((int64_t)1 << 40)

static void set_firsts(Balance *b)
{
    int64_t next = 0;
    for (int r = 0; r < b->ranks; r++) {
        b->first[r] = next;
        next += b->count[r];
    }
}

int balance_init(Balance *b, int ranks, int64_t terms, bool measured)
{
    memset(b, 0, sizeof *b);
    if (ranks < 1 || terms < ranks)
        return base_error_set("balance: %d ranks cannot share %lld micro-batches (each rank "
                              "needs at least one)", ranks, (long long)terms);
    b->ranks = ranks;
    b->terms = terms;
    b->measured = measured;
    b->count = xcalloc((size_t)ranks, sizeof *b->count);
    b->first = xcalloc((size_t)ranks, sizeof *b->first);
    b->cost = xcalloc((size_t)ranks, sizeof *b->cost);
    for (int r = 0; r < ranks; r++)
        b->count[r] = terms / ranks + (r < terms % ranks);
    set_firsts(b);
    return 0;
}

static int64_t step_time(const int64_t *count, const int64_t *cost, int ranks)
{
    int64_t t = 0;
    for (int r = 0; r < ranks; r++)
        if (count[r] * cost[r] > t)
            t = count[r] * cost[r];
    return t;
}

/* The counts the measured rule wants for the current costs. */
static void proportional(const Balance *b, int64_t *count)
{
    const int P = b->ranks;
    int64_t w_sum = 0, total = 0;
    for (int r = 0; r < P; r++)
        w_sum += COST_MAX / b->cost[r];
    for (int r = 0; r < P; r++) {
        int64_t w = COST_MAX / b->cost[r];
        /* K * w <= 2^56; the quotient is at most K. */
        count[r] = b->terms * w / w_sum;
        if (count[r] < 1)
            count[r] = 1;
        total += count[r];
    }
    while (total < b->terms) { /* at most P - 1 rounds: each floor lost < 1 */
        int best = 0;
        for (int r = 1; r < P; r++)
            if ((count[r] + 1) * b->cost[r] < (count[best] + 1) * b->cost[best])
                best = r;
        count[best]++;
        total++;
    }
    while (total > b->terms) { /* at most P - 1 rounds: each minimum added < 1 */
        int worst = -1;
        for (int r = 0; r < P; r++)
            if (count[r] > 1 &&
                (worst < 0 || count[r] * b->cost[r] >= count[worst] * b->cost[worst]))
                worst = r;
        count[worst]--;
        total--;
    }
}

void balance_update(Balance *b, const int64_t *ns)
{
    if (!b->measured)
        return;
    for (int r = 0; r < b->ranks; r++) {
        int64_t x = ns[r] < 1 ? 1 : ns[r] > COST_MAX ? COST_MAX : ns[r];
        b->cost[r] = b->cost[r] ? (3 * b->cost[r] + x) / 4 : x;
        if (b->cost[r] < 1)
            b->cost[r] = 1;
    }
    int64_t *want = xmalloc((size_t)b->ranks * sizeof *want);
    proportional(b, want);
    int64_t now = step_time(b->count, b->cost, b->ranks);
    int64_t next = step_time(want, b->cost, b->ranks);
    /* next < 0.97 now, in integers: 100 next < 97 now (both < 2^57). */
    if (100 * (next / 8) < 97 * (now / 8)) {
        memcpy(b->count, want, (size_t)b->ranks * sizeof *want);
        set_firsts(b);
        b->changes++;
    }
    free(want);
}

void balance_free(Balance *b)
{
    free(b->count);
    free(b->first);
    free(b->cost);
    memset(b, 0, sizeof *b);
}
