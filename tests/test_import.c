/* test_import.c - IDX directory -> HDF5: the real Fashion-MNIST from the
 * Debian package, synthetic gzip/plain sets with default and given class
 * names, and failures that must leave no output behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "dataset.h"
#include "fixtures.h"
#include "idx.h"
#include "import.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* sha256sum of the files of Debian 12's dataset-fashion-mnist package. */
static const char *const FASHION_SHA256[4] = {
    "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", /* train-images */
    "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", /* train-labels */
    "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", /* t10k-images */
    "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", /* t10k-labels */
};

static int setup(void **state)
{
    *state = fixture_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    fixture_rmdir(*state);
    return 0;
}

static void test_fashion_mnist(void **state)
{
    const char *out = fixture_path(*state, "sub/dir/fashion-mnist.h5");
    ImportConfig cfg = {.from = FASHION_DIR, .out = out};
    ImportReport rep;
    if (import_idx(&cfg, &rep))
        fail_msg("%s", base_error());
    assert_true(rep.fashion);
    Dataset ds;
    if (dataset_open(&ds, out))
        fail_msg("%s", base_error());
    assert_int_equal(ds.count[DATASET_TRAIN], 60000);
    assert_int_equal(ds.count[DATASET_TEST], 10000);
    assert_int_equal(ds.channels, 1);
    assert_int_equal(ds.height, 28);
    assert_int_equal(ds.width, 28);
    assert_int_equal(ds.num_classes, 10);
    assert_string_equal(ds.class_names[0], "T-shirt/top");
    assert_string_equal(ds.class_names[9], "Ankle boot");
    assert_int_equal(ds.num_sources, 4);
    assert_string_equal(ds.source_files[0], "train-images-idx3-ubyte.gz");
    for (int i = 0; i < 4; i++)
        assert_string_equal(ds.source_sha256[i], FASHION_SHA256[i]);
    /* The published Fashion-MNIST statistics: mean 0.2860, std 0.3530. */
    assert_true(fabs(ds.pixel_mean - 0.2860) < 1e-4 && fabs(ds.pixel_std - 0.3530) < 1e-4);
    /* One channel: its statistics are the scalar ones, bit for bit (so
     * --normalize trains exactly as before the per-channel attributes). */
    assert_true(ds.channel_mean[0] == ds.pixel_mean && ds.channel_std[0] == ds.pixel_std);
    assert_string_equal(ds.source_format, "idx");
    assert_string_equal(ds.source_path, FASHION_DIR);
    dataset_free(&ds);
}

static void test_synthetic_digits(void **state)
{
    const char *dir = *state;
    fixture_write_idx_set(dir, 500, 70, 6, 7, 0);
    const char *out = fixture_path(dir, "out.h5");
    ImportConfig cfg = {.from = dir, .out = out, .deflate = 4};
    ImportReport rep;
    if (import_idx(&cfg, &rep))
        fail_msg("%s", base_error());
    assert_false(rep.fashion);
    Dataset ds;
    assert_int_equal(dataset_open(&ds, out), 0);
    assert_int_equal(ds.count[DATASET_TRAIN], 500);
    assert_int_equal(ds.count[DATASET_TEST], 70);
    assert_int_equal(ds.height * 10 + ds.width, 67);
    assert_string_equal(ds.class_names[0], "0");
    assert_string_equal(ds.class_names[9], "9");
    assert_string_equal(ds.source_sha256[1], rep.sha256[1]);
    uint8_t images[6 * 7], labels[1];
    assert_int_equal(dataset_read_range(&ds, DATASET_TRAIN, 299, 1, images, labels), 0);
    assert_int_equal(fixture_index_of(images), 299);
    assert_int_equal(labels[0], 9);
    dataset_free(&ds);
}

static void test_given_classes(void **state)
{
    const char *dir = *state;
    fixture_write_idx_set(dir, 30, 10, 2, 2, 1);
    const char *names[10] = {"zero", "one", "two", "three", "four",
                             "five", "six", "seven", "eight", "nine"};
    ImportConfig cfg = {.from = dir, .out = fixture_path(dir, "o.h5"), .num_classes = 10,
                        .class_names = names};
    ImportReport rep;
    assert_int_equal(import_idx(&cfg, &rep), 0);
    Dataset ds;
    assert_int_equal(dataset_open(&ds, cfg.out), 0);
    assert_string_equal(ds.class_names[7], "seven");
    dataset_free(&ds);
    /* Nine names cannot hold label 9. */
    cfg.num_classes = 9;
    cfg.out = fixture_path(dir, "nine.h5");
    assert_int_equal(import_idx(&cfg, &rep), -1);
    assert_non_null(strstr(base_error(), "label 9 of sample 9 is out of range (must be < 9"));
    assert_int_equal(access(cfg.out, F_OK), -1);
}

/* A bad file among the four: error names it, and nothing is written. */
static void test_failure_leaves_nothing(void **state)
{
    const char *dir = *state;
    fixture_write_idx_set(dir, 40, 12, 3, 3, 1);
    uint32_t dims[1] = {11};
    uint8_t y[11] = {0};
    const char *labels = fixture_path(dir, "t10k-labels-idx1-ubyte.gz");
    fixture_write_idx(labels, IDX_MAGIC_LABELS, 1, dims, y, 11, 1);
    int before = fixture_count_entries(dir);
    ImportConfig cfg = {.from = dir, .out = fixture_path(dir, "x.h5")};
    ImportReport rep;
    assert_int_equal(import_idx(&cfg, &rep), -1);
    assert_non_null(strstr(base_error(), "t10k-images-idx3-ubyte.gz has 12 images but"));
    assert_non_null(strstr(base_error(), "t10k-labels-idx1-ubyte.gz has 11 labels"));
    assert_int_equal(fixture_count_entries(dir), before);
}

static void test_missing_source(void **state)
{
    ImportConfig cfg = {.from = *state, .out = fixture_path(*state, "x.h5")};
    ImportReport rep;
    assert_int_equal(import_idx(&cfg, &rep), -1);
    assert_non_null(strstr(base_error(), "neither train-images-idx3-ubyte nor"));
    assert_int_equal(fixture_count_entries(*state), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fashion_mnist), T(test_synthetic_digits), T(test_given_classes),
        T(test_failure_leaves_nothing), T(test_missing_source),
    };
    return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
