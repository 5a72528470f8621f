/* test_outpath.c - the output-path policy (io/outpath.h): missing parents
 * created, an existing file refused unless replace, a parent that is a file
 * refused naming it, a file given where a directory exists refused, the
 * used-directory test; and the TensorBoard file framing (io/tfevents.h):
 * CRC-32C's check value, the mask, and records that parse back. */
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
#include "outpath.h"
#include "tfevents.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/shardnet-outpath-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_parents_created(void **state)
{
    (void)state;
    char path[256], dir[256];
    snprintf(path, sizeof path, "%s/a/b/c/out.bin", root);
    assert_int_equal(outpath_file(path, "--out", false, "give --force"), 0);
    snprintf(dir, sizeof dir, "%s/a/b/c", root);
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_false(outpath_exists(path)); /* only the parents */
    snprintf(dir, sizeof dir, "%s/x//y/", root);
    assert_int_equal(outpath_mkdirs(dir, "--run"), 0);
    assert_true(outpath_exists(dir));
}

static void test_existing_refused(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/exists.bin", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(outpath_file(path, "--out", false, "give --force to replace it"), -1);
    char want[400];
    snprintf(want, sizeof want, "--out %s: the file exists and is not overwritten; give --force "
             "to replace it", path);
    assert_string_equal(base_error(), want);
    assert_int_equal(outpath_file(path, "--out", true, "unused"), 0);
    /* A directory where a file should go. */
    assert_int_equal(outpath_file(root, "--out", true, "unused"), -1);
    assert_non_null(strstr(base_error(), "is a directory, expected a file"));
}

static void test_parent_is_file(void **state)
{
    (void)state;
    char file[256], path[300], want[700];
    snprintf(file, sizeof file, "%s/plain", root);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/sub/x.json", file);
    assert_int_equal(outpath_file(path, "--scaling-report", false, "x"), -1);
    snprintf(want, sizeof want, "--scaling-report %s: %s exists and is not a directory", path, file);
    assert_string_equal(base_error(), want);
    snprintf(path, sizeof path, "%s/run", file);
    assert_int_equal(outpath_mkdirs(path, "--run"), -1);
    assert_non_null(strstr(base_error(), "exists and is not a directory"));
}

static void test_dir_used(void **state)
{
    (void)state;
    char dir[256], file[300];
    snprintf(dir, sizeof dir, "%s/run", root);
    assert_false(outpath_dir_used(dir)); /* missing */
    assert_int_equal(outpath_mkdirs(dir, "--run"), 0);
    assert_false(outpath_dir_used(dir)); /* empty */
    snprintf(file, sizeof file, "%s/.hidden", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_true(outpath_dir_used(dir));
}

static void test_crc32c(void **state)
{
    (void)state;
    /* The CRC-32C check value (RFC 3720 / the Castagnoli catalogue). */
    assert_int_equal(tfevents_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(tfevents_crc32c("", 0), 0);
    uint32_t c = 0xE3069283u;
    assert_int_equal(tfevents_mask(c), (((c >> 15) | (c << 17)) + 0xa282ead8u) & 0xFFFFFFFFu);
}

/* Walks the records of a file: lengths and both CRCs hold, count them. */
static int count_records(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    int n = 0;
    uint64_t len;
    uint32_t crc;
    while (fread(&len, sizeof len, 1, f) == 1) {
        assert_int_equal(fread(&crc, sizeof crc, 1, f), 1);
        assert_int_equal(crc, tfevents_mask(tfevents_crc32c(&len, sizeof len)));
        assert_true(len < 4096);
        unsigned char data[4096];
        assert_int_equal(fread(data, 1, len, f), len);
        assert_int_equal(fread(&crc, sizeof crc, 1, f), 1);
        assert_int_equal(crc, tfevents_mask(tfevents_crc32c(data, len)));
        if (n == 0) {
            int found = 0;
            for (size_t i = 0; i + 13 <= len; i++)
                found |= memcmp(data + i, "brain.Event:2", 13) == 0;
            assert_true(found);
        }
        n++;
    }
    fclose(f);
    return n;
}

static void test_tfevents_append(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/events.out.tfevents.test", root);
    TfEvents w;
    assert_int_equal(tfevents_open(&w, path, 1.5e9), 0);
    assert_int_equal(tfevents_scalar(&w, 1.5e9, 10, "train/loss", 2.25f), 0);
    assert_int_equal(tfevents_close(&w), 0);
    assert_int_equal(count_records(path), 2);
    /* A resumed run appends; the file_version record is not repeated. */
    assert_int_equal(tfevents_open(&w, path, 1.6e9), 0);
    assert_int_equal(tfevents_scalar(&w, 1.6e9, 20, "train/loss", 2.0f), 0);
    assert_int_equal(tfevents_close(&w), 0);
    assert_int_equal(tfevents_close(&w), 0); /* safe twice */
    assert_int_equal(count_records(path), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parents_created), cmocka_unit_test(test_existing_refused),
        cmocka_unit_test(test_parent_is_file),  cmocka_unit_test(test_dir_used),
        cmocka_unit_test(test_crc32c),          cmocka_unit_test(test_tfevents_append),
    };
    return cmocka_run_group_tests_name("outpath", tests, setup, teardown);
}
