/* test_dataset.c - the HDF5 layout: round trip through dataset_write and
 * dataset_open, sample reads, no partial output, and one malformed file per
 * validation rule, each made with the HDF5 API from a valid file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "dataset.h"
#include "fixtures.h"
#include "shardnet_version.h"

enum { NTRAIN = 3000, NTEST = 123, C = 2, H = 3, W = 5, SS = C * H * W };

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

static const char *good_file(void **state)
{
    const char *path = fixture_path(*state, "good.h5");
    fixture_write_dataset(path, NTRAIN, NTEST, C, H, W);
    return path;
}

static void test_round_trip(void **state)
{
    Dataset ds;
    if (dataset_open(&ds, good_file(state)))
        fail_msg("%s", base_error());
    assert_int_equal(ds.count[DATASET_TRAIN], NTRAIN);
    assert_int_equal(ds.count[DATASET_TEST], NTEST);
    assert_int_equal(ds.channels, C);
    assert_int_equal(ds.height, H);
    assert_int_equal(ds.width, W);
    assert_int_equal(ds.format_version, DATASET_FORMAT_VERSION);
    assert_int_equal(ds.chunk[DATASET_TRAIN], FIXTURE_CHUNK);
    assert_int_equal(ds.num_classes, 10);
    assert_string_equal(ds.class_names[9], "c9");
    assert_int_equal(ds.num_sources, 1);
    assert_string_equal(ds.source_files[0], "synthetic");
    uint8_t *x = fixture_images(NTRAIN, SS);
    double mean, std;
    dataset_pixel_stats(x, (size_t)NTRAIN * SS, &mean, &std);
    assert_true(ds.pixel_mean == mean && ds.pixel_std == std);
    /* Per channel: a plain two-pass mean and population std of channel c's
     * pixels, within rounding of the histogram sums. */
    for (size_t c = 0; c < C; c++) {
        double sum = 0, sq = 0, n = (double)NTRAIN * H * W;
        for (size_t s = 0; s < NTRAIN; s++)
            for (size_t i = 0; i < H * W; i++)
                sum += x[s * SS + c * H * W + i] / 255.0;
        double m = sum / n;
        for (size_t s = 0; s < NTRAIN; s++)
            for (size_t i = 0; i < H * W; i++) {
                double d = x[s * SS + c * H * W + i] / 255.0 - m;
                sq += d * d;
            }
        if (fabs(ds.channel_mean[c] - m) > 1e-12 ||
            fabs(ds.channel_std[c] - sqrt(sq / n)) > 1e-12)
            fail_msg("channel %zu: mean %.17g std %.17g, expected %.17g %.17g", c,
                     ds.channel_mean[c], ds.channel_std[c], m, sqrt(sq / n));
    }
    assert_true(ds.channel_mean[0] != ds.channel_mean[1]); /* the fixture's channels differ */
    assert_string_equal(ds.source_format, "unknown");
    assert_string_equal(ds.created_by, "shardnet " SHARDNET_VERSION);
    assert_int_equal(strlen(ds.created_utc), 20);
    assert_int_equal(ds.created_utc[10], 'T');
    assert_int_equal(strlen(ds.source_fingerprint), 64);
    free(x);
    dataset_free(&ds);
}

/* A format-2 file (no channel_mean/channel_std, no descriptive strings):
 * still read, its scalar statistics applying to every channel. */
static void test_format2_still_read(void **state)
{
    const char *path = good_file(state);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    const char *gone[] = {"channel_mean", "channel_std", "axis_order", "pixel_scale",
                          "source_format", "source_path", "source_fingerprint", "created_by",
                          "created_utc"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        assert_true(H5Adelete(f, gone[i]) >= 0);
    int two = 2;
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &two) >= 0);
    H5Aclose(a);
    H5Fclose(f);
    Dataset ds;
    if (dataset_open(&ds, path))
        fail_msg("%s", base_error());
    assert_int_equal(ds.format_version, 2);
    for (size_t c = 0; c < C; c++)
        assert_true(ds.channel_mean[c] == ds.pixel_mean && ds.channel_std[c] == ds.pixel_std);
    assert_string_equal(ds.created_utc, "");
    dataset_free(&ds);
}

/* A constant channel cannot be normalised: the writer says which. */
static void test_constant_channel_refused(void **state)
{
    const char *names[10] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    uint8_t x[4 * SS], y[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (i % SS) < H * W ? 7 : (uint8_t)i; /* channel 0 is 7 everywhere */
    DatasetContents c = {.train = {x, y, 4}, .test = {x, y, 2}, .channels = C, .height = H,
                         .width = W, .num_classes = 10, .class_names = names};
    assert_int_equal(dataset_write(fixture_path(*state, "flat.h5"), &c, NULL), -1);
    if (!strstr(base_error(), "channel 0 of the training images is constant (every pixel 7)"))
        fail_msg("unexpected error: %s", base_error());
    assert_int_equal(fixture_count_entries(*state), 0);
}

static void test_pixel_stats(void **state)
{
    (void)state;
    const uint8_t px[4] = {0, 255, 0, 255};
    double mean, std;
    dataset_pixel_stats(px, 4, &mean, &std);
    assert_true(fabs(mean - 0.5) < 1e-12 && fabs(std - 0.5) < 1e-12);
}

static void test_read_range_and_samples(void **state)
{
    Dataset ds;
    assert_int_equal(dataset_open(&ds, good_file(state)), 0);
    uint8_t images[5 * SS], labels[5];
    assert_int_equal(dataset_read_range(&ds, DATASET_TEST, 118, 5, images, labels), 0);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(fixture_index_of(images + i * SS), 118 + i);
        assert_int_equal(labels[i], (118 + i) % 10);
    }
    assert_int_equal(dataset_read_range(&ds, DATASET_TEST, 119, 5, images, labels), -1);
    assert_non_null(strstr(base_error(), "/test: samples [119, 124) are outside [0, 123)"));
    /* Indices spread over several chunks, delivered to scrambled slots. */
    const uint32_t index[5] = {0, 1, 1500, 2998, 2999};
    const size_t slot[5] = {4, 2, 0, 1, 3};
    assert_int_equal(dataset_read_samples(&ds, DATASET_TRAIN, index, slot, 5, images, labels), 0);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(fixture_index_of(images + slot[i] * SS), index[i]);
        assert_int_equal(labels[slot[i]], index[i] % 10);
    }
    const uint32_t unsorted[2] = {5, 4};
    assert_int_equal(dataset_read_samples(&ds, DATASET_TRAIN, unsorted, slot, 2, images, labels),
                     -1);
    dataset_free(&ds);
}

static void test_no_partial_output(void **state)
{
    const char *names[10] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    uint8_t x[4 * SS] = {0}, y[4] = {1, 2, 11, 3};
    DatasetContents c = {.train = {x, y, 4}, .test = {x, y, 2}, .channels = C, .height = H,
                         .width = W, .num_classes = 10, .class_names = names};
    const char *path = fixture_path(*state, "bad.h5");
    assert_int_equal(dataset_write(path, &c, NULL), -1);
    assert_non_null(strstr(base_error(), "train label 11 of sample 2 is not < num_classes 10"));
    assert_int_equal(fixture_count_entries(*state), 0);
    assert_int_equal(dataset_write(fixture_path(*state, "no/such/dir/x.h5"), &c, NULL), -1);
    assert_int_equal(fixture_count_entries(*state), 0);
}

/* ---- malformed files: start from a valid one and break one thing ------ */

static hid_t reopen(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        fail_msg("cannot reopen %s", path);
    return f;
}

static void replace_dataset(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims)
{
    assert_true(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d);
    H5Sclose(space);
}

static void expect_open_error(const char *path, const char *what)
{
    Dataset ds;
    assert_int_equal(dataset_open(&ds, path), -1);
    if (!strstr(base_error(), path) || !strstr(base_error(), what))
        fail_msg("error \"%s\" should name %s and say \"%s\"", base_error(), path, what);
    assert_true(ds.file < 0);
    dataset_free(&ds); /* safe after a failed open */
}

static void test_missing_dataset(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    assert_true(H5Ldelete(f, "/train/labels", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_open_error(path, "/train/labels: missing dataset");
}

static void test_wrong_dtype(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    hsize_t dims[4] = {NTEST, C, H, W};
    replace_dataset(f, "/test/images", H5T_IEEE_F32LE, 4, dims);
    H5Fclose(f);
    expect_open_error(path, "/test/images: dtype is not an unsigned integer of 4 bytes, expected uint8");
}

static void test_wrong_dtype_int8(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    hsize_t dims[1] = {NTRAIN};
    replace_dataset(f, "/train/labels", H5T_STD_I8LE, 1, dims);
    H5Fclose(f);
    expect_open_error(path, "/train/labels: dtype is an integer of 1 byte, expected uint8");
}

static void test_wrong_rank(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    hsize_t dims[3] = {NTRAIN, H, W};
    replace_dataset(f, "/train/images", H5T_STD_U8LE, 3, dims);
    H5Fclose(f);
    expect_open_error(path, "/train/images: has 3 dimensions, expected 4");
}

static void test_wrong_sample_shape(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    hsize_t dims[4] = {NTEST, C, H, W + 1};
    replace_dataset(f, "/test/images", H5T_STD_U8LE, 4, dims);
    H5Fclose(f);
    expect_open_error(path, "/test/images: sample shape (2, 3, 6) differs from /train/images (2, 3, 5)");
}

static void test_count_mismatch(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    hsize_t dims[1] = {NTEST - 1};
    replace_dataset(f, "/test/labels", H5T_STD_U8LE, 1, dims);
    H5Fclose(f);
    expect_open_error(path, "/test/images has 123 samples but /test/labels has 122");
}

static void write_int_attr(const char *path, const char *name, int value)
{
    hid_t f = reopen(path);
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, H5T_NATIVE_INT, &value) >= 0);
    H5Aclose(a);
    H5Fclose(f);
}

static void test_wrong_format_version(void **state)
{
    const char *path = good_file(state);
    write_int_attr(path, "format_version", 4);
    expect_open_error(path, "attribute format_version: 4, this program reads versions 2 to 3");
    path = good_file(state);
    write_int_attr(path, "format_version", 1);
    expect_open_error(path, "without checksums");
}

/* One flipped image byte is caught by Fletcher-32 when the sample is read. */
static void test_flipped_image_byte(void **state)
{
    const char *path = good_file(state);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/test/images", H5P_DEFAULT);
    hsize_t at[4] = {0, 0, 0, 0}, size = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned mask;
    assert_true(H5Dget_chunk_info_by_coord(d, at, &mask, &addr, &size) >= 0);
    H5Dclose(d), H5Fclose(f);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, (long)addr + 3, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, (long)addr + 3, SEEK_SET);
    fputc(c ^ 0x01, fp);
    fclose(fp);
    Dataset ds;
    assert_int_equal(dataset_open(&ds, path), 0);
    uint8_t img[SS], lab[1];
    assert_int_equal(dataset_read_range(&ds, DATASET_TEST, 0, 1, img, lab), -1);
    if (!strstr(base_error(), "checksum error"))
        fail_msg("flipped image byte: %s", base_error());
    dataset_free(&ds);
}

/* A few-KB file declaring 2^32 x 2^32 images: refused before any size is
 * computed from it (it overflowed LeNet's arithmetic: SIGFPE). */
static void test_huge_sides(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    assert_true(H5Ldelete(f, "/train/images", H5P_DEFAULT) >= 0);
    hsize_t dims[4] = {NTRAIN, 1, 1ULL << 32, 1ULL << 32}, chunk[4] = {1, 1, 64, 64};
    hid_t space = H5Screate_simple(4, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 4, chunk);
    H5Pset_fletcher32(dcpl);
    hid_t d = H5Dcreate2(f, "/train/images", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(space), H5Fclose(f);
    expect_open_error(path, "outside what shardnet handles");
}

/* Datasets without Fletcher-32 (another writer) are refused: their bytes
 * could not be checked. */
static void test_no_checksums(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    hsize_t dims[1] = {NTEST};
    replace_dataset(f, "/test/labels", H5T_STD_U8LE, 1, dims);
    H5Fclose(f);
    expect_open_error(path, "no Fletcher-32 checksums");
}

static void test_missing_attribute(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    assert_true(H5Adelete(f, "pixel_std") >= 0);
    H5Fclose(f);
    expect_open_error(path, "attribute pixel_std: missing");
}

static void test_label_out_of_range(void **state)
{
    const char *path = good_file(state);
    hid_t f = reopen(path);
    hid_t d = H5Dopen2(f, "/train/labels", H5P_DEFAULT);
    hid_t space = H5Dget_space(d);
    hsize_t start[1] = {2047}, count[1] = {1};
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mem = H5Screate_simple(1, count, NULL);
    uint8_t eleven = 11;
    assert_true(H5Dwrite(d, H5T_NATIVE_UINT8, mem, space, H5P_DEFAULT, &eleven) >= 0);
    H5Sclose(mem);
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(f);
    expect_open_error(path, "/train/labels: label 11 of sample 2047 is not < num_classes 10");
}

static void test_class_names_count(void **state)
{
    const char *path = good_file(state);
    write_int_attr(path, "num_classes", 12);
    expect_open_error(path, "attribute class_names: wrong type or size (10 values)");
}

static void test_not_hdf5(void **state)
{
    const char *path = fixture_path(*state, "plain.txt");
    FILE *fp = fopen(path, "w");
    fputs("hello\n", fp);
    fclose(fp);
    expect_open_error(path, "not an HDF5 file");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_round_trip),        T(test_pixel_stats),         T(test_read_range_and_samples),
        T(test_no_partial_output), T(test_missing_dataset),     T(test_wrong_dtype),
        T(test_wrong_dtype_int8),  T(test_wrong_rank),          T(test_wrong_sample_shape),
        T(test_count_mismatch),    T(test_wrong_format_version), T(test_missing_attribute),
        T(test_label_out_of_range), T(test_class_names_count),  T(test_not_hdf5),
        T(test_flipped_image_byte), T(test_huge_sides),         T(test_no_checksums),
        T(test_format2_still_read), T(test_constant_channel_refused),
    };
    return cmocka_run_group_tests_name("dataset", tests, NULL, NULL);
}
