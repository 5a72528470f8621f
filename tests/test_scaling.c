/* test_scaling.c - the scaling report: the figures it derives (throughput,
 * speedup, efficiency, bandwidth), both files, and reading a baseline back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base.h"
#include "scaling.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = xcalloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_report(void **state)
{
    (void)state;
    char dir[] = "/tmp/shardnet-scaling-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char prefix[256], md[300], js[300];
    snprintf(prefix, sizeof prefix, "%s/report", dir);
    snprintf(md, sizeof md, "%s.md", prefix);
    snprintf(js, sizeof js, "%s.json", prefix);
    /* The probe: 10 all-reduces of 400 KB in 0.0625 s = 64 MB/s. */
    /* 100 steps of 2 micro-batches of 128: rank 0 computed 220 of them,
     * rank 1 (slower) 180, ending with 3 and 1. */
    RankTiming t[2] = {{1.5, 0.25, 0.125, 0.0625, 100, 8000000, 0.0625, 400000, 10, 220, 3, 1, 3},
                       {1.25, 0.5, 0.125, 0.0625, 100, 8000000, 0.0625, 400000, 10, 180, 1, 1, 3}};
    const char *hosts[2] = {"a", "b"};
    const char *odd_hosts[2] = {"a\"b", "c\\d"};
    ScalingReport r = {2, t, hosts, 2.0, 51200, 256, 128, "exact", 1, 7, 16000.0};
    assert_int_equal(scaling_write(prefix, &r), 0);
    char *m = slurp(md), *j = slurp(js);
    /* 51200 images in 2 s = 25600 img/s = 1.60x of 16000, 80% of 2 x 16000. */
    assert_non_null(strstr(m, "**25600 img/s**, 1.60x the P=1 baseline (16000 img/s), efficiency 80.0%"));
    /* 180 micro-batches of 128 in 1.25 s: 6.944 ms each, 18432 img/s. */
    assert_non_null(strstr(m, "| 1 | b | 1.250 | 0.500 | 0.125 | 0.062 | 100 | 180 (1-3, 1) | 6.944 "
                              "| 8.0 | 64 | 18432 |"));
    assert_non_null(strstr(m, "balance on (the assignment changed 7 times)"));
    json_t *o = json_loads(j, 0, NULL);
    assert_non_null(o);
    assert_true(json_is_true(json_object_get(o, "balance")));
    assert_int_equal(json_integer_value(json_object_get(o, "balance_changes")), 7);
    assert_float_equal(json_number_value(json_object_get(o, "speedup")), 1.6, 1e-12);
    assert_float_equal(json_number_value(json_object_get(o, "efficiency")), 0.8, 1e-12);
    json_t *r0 = json_array_get(json_object_get(o, "per_rank"), 0);
    assert_int_equal(json_integer_value(json_object_get(r0, "microbatches")), 220);
    assert_int_equal(json_integer_value(json_object_get(r0, "microbatches_last_step")), 3);
    assert_int_equal(json_integer_value(json_object_get(r0, "microbatches_min")), 1);
    assert_int_equal(json_integer_value(json_object_get(r0, "microbatches_max")), 3);
    json_t *r1 = json_array_get(json_object_get(o, "per_rank"), 1);
    assert_float_equal(json_number_value(json_object_get(r1, "allreduce_bytes_per_s")), 64e6, 1e-3);
    assert_int_equal(json_integer_value(json_object_get(r1, "probe_bytes")), 400000);
    assert_int_equal(json_integer_value(json_object_get(r1, "probe_reps")), 10);
    assert_string_equal(json_string_value(json_object_get(r1, "host")), "b");
    json_decref(o);
    assert_non_null(strstr(m, "(400.0 KB) all-reduced on its own after training, 10 times"));
    double base = 0;
    assert_int_equal(scaling_read_baseline(js, &base), 0);
    assert_true(base == 25600.0);
    assert_int_equal(scaling_read_baseline(md, &base), -1);
    assert_non_null(strstr(base_error(), "scaling baseline"));
    assert_non_null(strstr(base_error(), md));
    /* Host names that need escaping still give JSON that parses back. */
    unlink(md), unlink(js);
    r.hosts = odd_hosts;
    assert_int_equal(scaling_write(prefix, &r), 0);
    o = json_load_file(js, 0, NULL);
    assert_non_null(o);
    r1 = json_array_get(json_object_get(o, "per_rank"), 0);
    assert_string_equal(json_string_value(json_object_get(r1, "host")), "a\"b");
    json_decref(o);
    FILE *f = fopen(js, "w");
    assert_non_null(f);
    fputs("{\"ranks\": 1, \"img_per_s\": 0}\n", f);
    fclose(f);
    assert_int_equal(scaling_read_baseline(js, &base), -1);
    assert_non_null(strstr(base_error(), "no positive \"img_per_s\""));
    assert_int_equal(scaling_read_baseline("/nonexistent/x.json", &base), -1);
    unlink(md), unlink(js), rmdir(dir);
    free(m), free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_report)};
    return cmocka_run_group_tests_name("scaling", tests, NULL, NULL);
}
