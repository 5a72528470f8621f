/* test_idx.c - the IDX reader on real tiny files, plain and gzip, and each
 * malformed input with its message; SHA-256 of a file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "checksum.h"
#include "fixtures.h"
#include "idx.h"

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

/* The error must mention both the file and what was wrong. */
static void assert_error(const char *path, const char *what)
{
    const char *msg = base_error();
    if (!strstr(msg, path) || !strstr(msg, what))
        fail_msg("error \"%s\" should name %s and say \"%s\"", msg, path, what);
}

static void read_and_check(const char *dir, int gz)
{
    fixture_write_idx_set(dir, 300, 7, 5, 4, gz);
    char images[4096], labels[4096];
    assert_int_equal(idx_find(images, sizeof images, dir, "train-images-idx3-ubyte"), 0);
    assert_int_equal(idx_find(labels, sizeof labels, dir, "train-labels-idx1-ubyte"), 0);
    assert_non_null(strstr(images, gz ? ".gz" : "ubyte"));
    Idx x, y;
    if (idx_read_pair(&x, &y, images, labels, 10))
        fail_msg("%s", base_error());
    assert_int_equal(x.count, 300);
    assert_int_equal(x.dims[1], 5);
    assert_int_equal(x.dims[2], 4);
    assert_int_equal(x.item_size, 20);
    for (size_t i = 0; i < 300; i++) {
        assert_int_equal(fixture_index_of(x.data + i * 20), i);
        assert_int_equal(y.data[i], i % 10);
    }
    idx_free(&x);
    idx_free(&y);
}

static void test_read_plain(void **state) { read_and_check(*state, 0); }
static void test_read_gzip(void **state) { read_and_check(*state, 1); }

static void test_wrong_magic(void **state)
{
    const char *path = fixture_path(*state, "labels-as-images");
    uint32_t dims[1] = {4};
    uint8_t y[4] = {0, 1, 2, 3};
    fixture_write_idx(path, IDX_MAGIC_LABELS, 1, dims, y, 4, 1);
    Idx x;
    assert_int_equal(idx_read(&x, path, 3), -1);
    assert_error(path, "wrong magic 0x00000801, expected 0x00000803");
    assert_null(x.data);
}

static void test_truncated_gzip(void **state)
{
    const char *path = fixture_path(*state, "cut.gz");
    uint32_t dims[3] = {200, 8, 8};
    uint8_t *x = fixture_images(200, 64);
    fixture_write_idx(path, IDX_MAGIC_IMAGES, 3, dims, x, 200 * 64, 1);
    free(x);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, size / 2), 0);
    Idx idx;
    assert_int_equal(idx_read(&idx, path, 3), -1);
    assert_error(path, "truncated");
}

/* Payload complete but the gzip trailer (CRC, length) cut off. */
static void test_truncated_gzip_trailer(void **state)
{
    const char *path = fixture_path(*state, "notrailer.gz");
    uint32_t dims[1] = {50};
    uint8_t *y = fixture_labels(50);
    fixture_write_idx(path, IDX_MAGIC_LABELS, 1, dims, y, 50, 1);
    free(y);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, size - 4), 0);
    Idx idx;
    assert_int_equal(idx_read(&idx, path, 1), -1);
    assert_error(path, "truncated");
}

static void test_truncated_plain(void **state)
{
    const char *path = fixture_path(*state, "short");
    uint32_t dims[3] = {10, 2, 2};
    uint8_t x[39] = {0};
    fixture_write_idx(path, IDX_MAGIC_IMAGES, 3, dims, x, sizeof x, 0);
    Idx idx;
    assert_int_equal(idx_read(&idx, path, 3), -1);
    assert_error(path, "truncated: the file has 55 bytes, its header declares 56");
}

/* The whole 8-byte trailer cut off a payload read in one large gzread
 * (4 MB of compressible pixels): accepted before, the CRC never checked. */
static void test_gzip_trailer_cut_large(void **state)
{
    const char *path = fixture_path(*state, "big.gz");
    uint32_t dims[3] = {5000, 28, 28};
    size_t n = 5000 * 28 * 28;
    uint8_t *x = calloc(n, 1);
    for (size_t i = 0; i < n; i += 5)
        x[i] = (uint8_t)(i * 7);
    fixture_write_idx(path, IDX_MAGIC_IMAGES, 3, dims, x, n, 1);
    free(x);
    Idx idx;
    assert_int_equal(idx_read(&idx, path, 3), 0);
    idx_free(&idx);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, size - 8), 0);
    assert_int_equal(idx_read(&idx, path, 3), -1);
    assert_error(path, "truncated");
}

/* A FIFO (or /dev/zero) is refused at once instead of read forever. */
static void test_not_regular(void **state)
{
    const char *path = fixture_path(*state, "fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    Idx idx;
    assert_int_equal(idx_read(&idx, path, 1), -1);
    assert_error(path, "not a regular file");
    assert_int_equal(idx_read(&idx, "/dev/zero", 3), -1);
    assert_error("/dev/zero", "not a regular file");
}

static void test_trailing_data(void **state)
{
    const char *path = fixture_path(*state, "long");
    uint32_t dims[1] = {3};
    uint8_t y[4] = {1, 2, 3, 4};
    fixture_write_idx(path, IDX_MAGIC_LABELS, 1, dims, y, sizeof y, 0);
    Idx idx;
    assert_int_equal(idx_read(&idx, path, 1), -1);
    assert_error(path, "trailing data");
}

static void test_zero_dimension(void **state)
{
    const char *path = fixture_path(*state, "zero");
    uint32_t dims[3] = {3, 0, 28};
    fixture_write_idx(path, IDX_MAGIC_IMAGES, 3, dims, NULL, 0, 0);
    Idx idx;
    assert_int_equal(idx_read(&idx, path, 3), -1);
    assert_error(path, "dimension 1 is 0");
}

static void test_count_mismatch(void **state)
{
    const char *images = fixture_path(*state, "img.gz"), *labels = fixture_path(*state, "lab.gz");
    uint32_t idims[3] = {6, 2, 2}, ldims[1] = {5};
    uint8_t *x = fixture_images(6, 4), *y = fixture_labels(5);
    fixture_write_idx(images, IDX_MAGIC_IMAGES, 3, idims, x, 24, 1);
    fixture_write_idx(labels, IDX_MAGIC_LABELS, 1, ldims, y, 5, 1);
    free(x);
    free(y);
    Idx a, b;
    assert_int_equal(idx_read_pair(&a, &b, images, labels, 10), -1);
    assert_error(images, "has 6 images but");
    assert_error(labels, "has 5 labels");
    assert_null(a.data);
    assert_null(b.data);
}

static void test_label_out_of_range(void **state)
{
    const char *images = fixture_path(*state, "img"), *labels = fixture_path(*state, "lab");
    uint32_t idims[3] = {4, 1, 1}, ldims[1] = {4};
    uint8_t x[4] = {0}, y[4] = {0, 9, 11, 3};
    fixture_write_idx(images, IDX_MAGIC_IMAGES, 3, idims, x, 4, 0);
    fixture_write_idx(labels, IDX_MAGIC_LABELS, 1, ldims, y, 4, 0);
    Idx a, b;
    assert_int_equal(idx_read_pair(&a, &b, images, labels, 10), -1);
    assert_error(labels, "label 11 of sample 2 is out of range (must be < 10 classes)");
}

static void test_missing_file(void **state)
{
    char out[4096];
    assert_int_equal(idx_find(out, sizeof out, *state, "t10k-labels-idx1-ubyte"), -1);
    assert_error(*state, "neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz");
    Idx idx;
    const char *path = fixture_path(*state, "absent");
    assert_int_equal(idx_read(&idx, path, 1), -1);
    assert_error(path, "cannot open");
}

static void test_sha256(void **state)
{
    const char *path = fixture_path(*state, "abc");
    FILE *f = fopen(path, "wb");
    fputs("abc", f);
    fclose(f);
    char hex[CHECKSUM_HEX_LEN + 1];
    assert_int_equal(checksum_sha256_file(path, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(checksum_sha256_file(fixture_path(*state, "absent"), hex), -1);
    assert_error("absent", "cannot open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_gzip_trailer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_trailer_cut_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_dimension, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha256, setup, teardown),
    };
    return cmocka_run_group_tests_name("idx", tests, NULL, NULL);
}
