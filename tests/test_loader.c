/* test_loader.c - the readers on a real synthetic HDF5 file whose sample i
 * carries i: every micro-batch of every step holds exactly the samples the
 * shard contract gives it, in whatever order the micro-batches are asked
 * for (a rank may be given any of them), and the evaluation shares of
 * P = 1..8 ranks cover the test set once. */
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

/* 840 micro-batches per global batch.  The file has chunks of
 * FIXTURE_CHUNK samples, so reads cross many chunks. */
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

/* Every micro-batch of epoch e, asked for from the last to the first (a
 * rank's order does not matter), into got[position]. */
static void run_epoch(const Dataset *ds, uint64_t seed, uint64_t epoch, uint32_t *got)
{
    float src[M * SS];
    int32_t labels[M];
    uint32_t indices[M];
    Loader ld;
    LoaderConfig cfg = {.seed = seed, .batch = B, .micro = M};
    if (loader_init(&ld, ds, &cfg) || loader_epoch(&ld, epoch))
        fail_msg("%s", base_error());
    assert_int_equal(ld.shard.micro_per_step, B / M);
    for (size_t b = ld.shard.steps; b-- > 0;)
        for (size_t g = ld.shard.micro_per_step; g-- > 0;) {
            assert_int_equal(loader_get(&ld, b, g, src, labels, indices), 0);
            for (size_t j = 0; j < M; j++) {
                assert_int_equal(decode(src + j * SS), indices[j]); /* data is that sample */
                assert_int_equal(labels[j], indices[j] % 10);
                got[shard_position(&ld.shard, b, g, j)] = indices[j];
            }
        }
    loader_free(&ld);
}

static void test_epoch_follows_permutation(void **state)
{
    Fixture *f = *state;
    size_t used = (NTRAIN / B) * B;
    uint32_t *perm = xmalloc(NTRAIN * sizeof *perm), *got = xmalloc(used * sizeof *got);
    shard_permutation(5, 2, NTRAIN, perm);
    memset(got, 0xff, used * sizeof *got);
    run_epoch(&f->ds, 5, 2, got);
    for (size_t i = 0; i < used; i++)
        if (got[i] != perm[i])
            fail_msg("position %zu: sample %u, want %u", i, got[i], perm[i]);
    free(perm);
    free(got);
}

static void test_samples_disjoint(void **state)
{
    Fixture *f = *state;
    size_t used = (NTRAIN / B) * B;
    uint32_t *got = xmalloc(used * sizeof *got);
    char *seen = xcalloc(NTRAIN, 1);
    run_epoch(&f->ds, 9, 0, got);
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
    run_epoch(&f->ds, 1, 0, a);
    run_epoch(&f->ds, 1, 1, b);
    assert_memory_not_equal(a, b, used * 4);
    run_epoch(&f->ds, 1, 0, b);
    assert_memory_equal(a, b, used * 4);
    free(a);
    free(b);
}

static void test_normalize(void **state)
{
    Fixture *f = *state;
    Loader ld;
    LoaderConfig cfg = {.seed = 1, .batch = B, .micro = M, .normalize = 1};
    assert_int_equal(loader_init(&ld, &f->ds, &cfg), 0);
    float src[M * SS];
    int32_t labels[M];
    assert_int_equal(loader_get(&ld, 0, 0, src, labels, NULL), -1); /* no epoch yet */
    assert_non_null(strstr(base_error(), "call loader_epoch first"));
    assert_int_equal(loader_epoch(&ld, 0), 0);
    assert_int_equal(loader_get(&ld, 1, 3, src, labels, NULL), 0);
    for (size_t j = 0; j < M; j++) {
        const uint8_t *raw = ld.images + ld.perm[1 * B + 3 * M + j] * SS;
        for (size_t p = 0; p < SS; p++) {
            double want = (raw[p] / 255.0 - f->ds.pixel_mean) / f->ds.pixel_std;
            assert_true(fabs(src[j * SS + p] - want) < 1e-5);
        }
    }
    assert_int_equal(loader_get(&ld, 3, 0, src, labels, NULL), -1); /* only 3 steps */
    assert_int_equal(loader_get(&ld, 0, B / M, src, labels, NULL), -1);
    loader_free(&ld);
}

static void test_bad_micro(void **state)
{
    Fixture *f = *state;
    Loader ld;
    LoaderConfig cfg = {.seed = 1, .batch = 64, .micro = 6};
    assert_int_equal(loader_init(&ld, &f->ds, &cfg), -1);
    assert_non_null(strstr(base_error(), "micro-batch 6 does not divide the global batch 64"));
    loader_free(&ld);
}

/* --limit: only the first L samples take part, in full batches. */
static void test_limit(void **state)
{
    Fixture *f = *state;
    enum { L = 2 * B + 5 };
    Loader ld;
    LoaderConfig cfg = {.seed = 3, .batch = B, .micro = M, .limit = L};
    assert_int_equal(loader_init(&ld, &f->ds, &cfg), 0);
    assert_int_equal(ld.shard.steps, 2);
    assert_int_equal(loader_epoch(&ld, 0), 0);
    int32_t labels[M];
    uint32_t indices[M];
    float src[M * SS];
    for (size_t b = 0; b < ld.shard.steps; b++)
        for (size_t g = 0; g < ld.shard.micro_per_step; g++) {
            assert_int_equal(loader_get(&ld, b, g, src, labels, indices), 0);
            for (size_t j = 0; j < M; j++)
                assert_true(indices[j] < L);
        }
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
        T(test_epoch_follows_permutation), T(test_samples_disjoint), T(test_epochs_differ),
        T(test_normalize),                 T(test_bad_micro),        T(test_eval_split),
        T(test_limit),
    };
    return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
