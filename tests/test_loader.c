/* test_loader.c - the per-rank readers on a real synthetic HDF5 file whose
 * sample i carries i: for P = 1..8 simulated ranks every micro-batch holds
 * exactly the samples the shard contract assigns, global batches are the
 * same for every P, and the evaluation shares cover the test set once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "fixtures.h"
#include "loader.h"

/* 840 micro-batches per global batch: divisible by every P in 1..8.  The
 * file has chunks of FIXTURE_CHUNK samples, so reads cross many chunks. */
enum { M = 2, B = 840 * M, NTRAIN = 3 * B + 11, NTEST = 1001, C = 1, H = 4, W = 4, SS = 16 };

typedef struct {
    char *dir;
    Dataset ds;
} Fixture;

static int setup(void **state)
{
    Fixture *f = xcalloc(1, sizeof *f);
    f->dir = fixture_tmpdir();
    const char *path = fixture_path(f->dir, "d.h5");
    fixture_write_dataset(path, NTRAIN, NTEST, C, H, W);
    if (dataset_open(&f->ds, path))
        fail_msg("%s", base_error());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    dataset_free(&f->ds);
    fixture_rmdir(f->dir);
    free(f);
    return 0;
}

/* Decodes the sample index carried by pixels 0 and 1 of a float x/255 sample. */
static size_t decode(const float *src)
{
    return (size_t)lrintf(src[0] * 255.0f) + 256 * (size_t)lrintf(src[1] * 255.0f);
}

/* Runs every rank of P over epoch e and appends, in rank / micro-batch /
 * sample order, the sample index of every step's samples to got[b*B ...]. */
static void run_ranks(const Dataset *ds, int P, uint64_t seed, uint64_t epoch, uint32_t *got)
{
    float src[M * SS];
    int32_t labels[M];
    uint32_t indices[M];
    for (int r = 0; r < P; r++) {
        Loader ld;
        LoaderConfig cfg = {.seed = seed, .batch = B, .micro = M, .ranks = P, .rank = r};
        if (loader_init(&ld, ds, &cfg) || loader_epoch(&ld, epoch))
            fail_msg("P=%d r=%d: %s", P, r, base_error());
        assert_int_equal(ld.count, ld.shard.steps * B / (size_t)P); /* about N/P held */
        for (size_t b = 0; b < ld.shard.steps; b++)
            for (size_t k = 0; k < ld.shard.micro_per_rank; k++) {
                assert_int_equal(loader_get(&ld, b, k, src, labels, indices), 0);
                for (size_t j = 0; j < M; j++) {
                    assert_int_equal(decode(src + j * SS), indices[j]); /* data is that sample */
                    assert_int_equal(labels[j], indices[j] % 10);
                    got[shard_position(&ld.shard, b, k, j)] = indices[j];
                }
            }
        loader_free(&ld);
    }
}

static void test_epoch_same_for_every_P(void **state)
{
    Fixture *f = *state;
    size_t used = (NTRAIN / B) * B;
    uint32_t *perm = xmalloc(NTRAIN * sizeof *perm), *got = xmalloc(used * sizeof *got);
    shard_permutation(5, 2, NTRAIN, perm);
    for (int P = 1; P <= 8; P++) {
        memset(got, 0xff, used * sizeof *got);
        run_ranks(&f->ds, P, 5, 2, got);
        /* Every position of every global batch filled with perm's sample:
         * union of ranks == the batch, same micro-batch order for all P. */
        for (size_t i = 0; i < used; i++)
            if (got[i] != perm[i])
                fail_msg("P=%d position %zu: sample %u, want %u", P, i, got[i], perm[i]);
    }
    free(perm);
    free(got);
}

static void test_ranks_disjoint(void **state)
{
    Fixture *f = *state;
    size_t used = (NTRAIN / B) * B;
    uint32_t *got = xmalloc(used * sizeof *got);
    char *seen = xcalloc(NTRAIN, 1);
    run_ranks(&f->ds, 6, 9, 0, got);
    for (size_t i = 0; i < used; i++) {
        assert_true(got[i] < NTRAIN);
        if (seen[got[i]]++)
            fail_msg("sample %u handed out twice", got[i]);
    }
    free(got);
    free(seen);
}

static void test_epochs_differ(void **state)
{
    Fixture *f = *state;
    size_t used = (NTRAIN / B) * B;
    uint32_t *a = xmalloc(used * 4), *b = xmalloc(used * 4);
    run_ranks(&f->ds, 2, 1, 0, a);
    run_ranks(&f->ds, 2, 1, 1, b);
    assert_memory_not_equal(a, b, used * 4);
    run_ranks(&f->ds, 2, 1, 0, b);
    assert_memory_equal(a, b, used * 4);
    free(a);
    free(b);
}

static void test_normalize(void **state)
{
    Fixture *f = *state;
    Loader ld;
    LoaderConfig cfg = {.seed = 1, .batch = B, .micro = M, .ranks = 1, .rank = 0, .normalize = 1};
    assert_int_equal(loader_init(&ld, &f->ds, &cfg), 0);
    assert_int_equal(loader_epoch(&ld, 0), 0);
    float src[M * SS];
    int32_t labels[M];
    assert_int_equal(loader_get(&ld, 1, 3, src, labels, NULL), 0);
    const uint8_t *raw = ld.images + (1 * B + 3 * M) * SS;
    for (size_t p = 0; p < M * SS; p++) {
        double want = (raw[p] / 255.0 - f->ds.pixel_mean) / f->ds.pixel_std;
        assert_true(fabs(src[p] - want) < 1e-5);
    }
    assert_int_equal(loader_get(&ld, 3, 0, src, labels, NULL), -1); /* only 3 steps */
    loader_free(&ld);
}

static void test_bad_ranks(void **state)
{
    Fixture *f = *state;
    Loader ld;
    LoaderConfig cfg = {.seed = 1, .batch = 64, .micro = 8, .ranks = 3, .rank = 0};
    assert_int_equal(loader_init(&ld, &f->ds, &cfg), -1);
    assert_non_null(strstr(base_error(), "3 ranks do not divide the 8 micro-batches"));
    loader_free(&ld);
}

/* --limit: only the first L samples take part, in full batches. */
static void test_limit(void **state)
{
    Fixture *f = *state;
    enum { L = 2 * B + 5 };
    Loader ld;
    LoaderConfig cfg = {.seed = 3, .batch = B, .micro = M, .ranks = 1, .rank = 0, .limit = L};
    assert_int_equal(loader_init(&ld, &f->ds, &cfg), 0);
    assert_int_equal(ld.shard.steps, 2);
    assert_int_equal(loader_epoch(&ld, 0), 0);
    for (size_t i = 0; i < ld.count; i++)
        assert_true(ld.indices[i] < L);
    loader_free(&ld);
    cfg.limit = NTRAIN + 1;
    assert_int_equal(loader_init(&ld, &f->ds, &cfg), -1);
    assert_non_null(strstr(base_error(), "exceeds the"));
    loader_free(&ld);
}

static void test_eval_split(void **state)
{
    Fixture *f = *state;
    float src[NTEST * SS];
    int32_t labels[NTEST];
    for (int P = 1; P <= 8; P++) {
        size_t next = 0;
        for (int r = 0; r < P; r++) {
            EvalSet ev;
            assert_int_equal(loader_eval_init(&ev, &f->ds, P, r, 0), 0);
            assert_int_equal(ev.first, next);
            assert_true(ev.count >= NTEST / (size_t)P && ev.count <= NTEST / (size_t)P + 1);
            assert_int_equal(loader_eval_get(&ev, 0, ev.count, src, labels), 0);
            for (size_t i = 0; i < ev.count; i++) {
                assert_int_equal(decode(src + i * SS), ev.first + i);
                assert_int_equal(labels[i], (ev.first + i) % 10);
            }
            next += ev.count;
            loader_eval_free(&ev);
        }
        assert_int_equal(next, NTEST);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_epoch_same_for_every_P), T(test_ranks_disjoint), T(test_epochs_differ),
        T(test_normalize),              T(test_bad_ranks),      T(test_eval_split),
        T(test_limit),
    };
    return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
