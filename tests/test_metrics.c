/* test_metrics.c - the JSON-lines records of --metrics and the progress
 * line: exact text, null for non-finite numbers, fixed width, a real file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "metrics.h"

static StepRecord step_record(void)
{
    return (StepRecord){.epoch = 2, .epochs = 10, .step = 300, .total_steps = 2340,
                        .loss = 0.5, .accuracy = 0.8125, .lr = 0.9, .img_per_s = 25000,
                        .eta_s = 3725, .param_hash = UINT64_C(0x00ab00cd00ef0012)};
}

static void test_step_json(void **state)
{
    (void)state;
    char buf[512];
    StepRecord r = step_record();
    metrics_format_step(&r, buf, sizeof buf);
    assert_string_equal(buf, "{\"type\":\"step\",\"epoch\":2,\"step\":300,\"total_steps\":2340,"
                             "\"loss\":0.5,\"accuracy\":0.8125,\"lr\":0.9,\"img_per_s\":25000,"
                             "\"eta_s\":3725,\"param_hash\":\"0x00ab00cd00ef0012\"}");
    r.loss = NAN;
    r.eta_s = -1;
    metrics_format_step(&r, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"loss\":null,"));
    assert_non_null(strstr(buf, "\"eta_s\":null,"));
}

static void test_epoch_json(void **state)
{
    (void)state;
    char buf[512];
    EpochRecord r = {.epoch = 1, .train_loss = 1.25, .train_accuracy = 0.5, .has_test = 1,
                     .test_loss = 1.5, .test_accuracy = 0.625, .seconds = 2.5,
                     .img_per_s = 24000, .param_hash = 1};
    metrics_format_epoch(&r, buf, sizeof buf);
    assert_string_equal(buf, "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":1.25,"
                             "\"train_accuracy\":0.5,\"test_loss\":1.5,\"test_accuracy\":0.625,"
                             "\"seconds\":2.5,\"img_per_s\":24000,"
                             "\"param_hash\":\"0x0000000000000001\"}");
    r.has_test = 0;
    metrics_format_epoch(&r, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"test_loss\":null,\"test_accuracy\":null,"));
}

static void test_start_json(void **state)
{
    (void)state;
    char buf[1024];
    StartRecord r = {.world_size = 2, .hosts = 1, .threads = 1, .steps_per_epoch = 234,
                     .total_steps = 2340, .config_hash = 2, .param_hash = 3,
                     .param_count = 61706, .config = "a=\"b\"\\c\n"};
    metrics_format_start(&r, buf, sizeof buf);
    assert_string_equal(buf, "{\"type\":\"start\",\"world_size\":2,\"hosts\":1,\"threads\":1,"
                             "\"steps_per_epoch\":234,\"total_steps\":2340,"
                             "\"param_count\":61706,\"config_hash\":\"0x0000000000000002\","
                             "\"param_hash\":\"0x0000000000000003\","
                             "\"config\":\"a=\\\"b\\\"\\\\c\\u000a\"}");
}

static void test_progress_line(void **state)
{
    (void)state;
    char a[256], b[256];
    StepRecord r = step_record();
    metrics_format_progress(&r, a, sizeof a);
    assert_string_equal(a, "epoch   2/10  step     300/2340    loss 0.500000  acc 0.8125  "
                           "lr 9.000e-01  img/s   25000  ETA 1:02:05");
    r.epoch = 10;
    r.step = 2340;
    r.loss = 2.302585;
    r.accuracy = 0.1;
    r.lr = 1e-5;
    r.img_per_s = 123;
    r.eta_s = 0;
    metrics_format_progress(&r, b, sizeof b);
    assert_int_equal(strlen(a), strlen(b));
    assert_non_null(strstr(b, "ETA 0:00:00"));
}

static void test_duration(void **state)
{
    (void)state;
    char buf[32];
    metrics_format_duration(59.6, buf, sizeof buf);
    assert_string_equal(buf, "0:01:00");
    metrics_format_duration(36000 + 61, buf, sizeof buf);
    assert_string_equal(buf, "10:01:01");
    metrics_format_duration(-1, buf, sizeof buf);
    assert_string_equal(buf, "-:--:--");
    metrics_format_duration(NAN, buf, sizeof buf);
    assert_string_equal(buf, "-:--:--");
}

static void test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/shardnet-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    Metrics m = {0};
    assert_int_equal(metrics_open(&m, path), 0);
    StepRecord s = step_record();
    EpochRecord e = {.epoch = 1, .has_test = 0};
    assert_int_equal(metrics_write_step(&m, &s), 0);
    assert_int_equal(metrics_write_epoch(&m, &e), 0);
    assert_int_equal(metrics_close(&m), 0);
    assert_int_equal(metrics_close(&m), 0); /* safe twice */

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512], want[512];
    assert_non_null(fgets(line, sizeof line, f));
    metrics_format_step(&s, want, sizeof want);
    strcat(want, "\n");
    assert_string_equal(line, want);
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "{\"type\":\"epoch\",\"epoch\":1,"));
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    unlink(path);

    assert_int_equal(metrics_open(&m, "/nonexistent-dir/m.jsonl"), -1);
    assert_non_null(strstr(base_error(), "--metrics /nonexistent-dir/m.jsonl: cannot create"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_json),
        cmocka_unit_test(test_epoch_json),
        cmocka_unit_test(test_start_json),
        cmocka_unit_test(test_progress_line),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
