/* test_metrics.c - the JSON-lines records of the run's metrics file and the
 * progress line: each record parses back (jansson) with type and time first,
 * null for non-finite numbers, doubles that round-trip exactly, appending
 * across opens (a resumed run), fixed width of the progress line. */
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

#define FP "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static StepRecord step_record(void)
{
    return (StepRecord){.epoch = 2, .epochs = 10, .step = 300, .total_steps = 2340,
                        .loss = 0.5, .accuracy = 0.8125, .lr = 0.9, .img_per_s = 25000,
                        .eta_s = 3725, .fingerprint = FP};
}

static void test_step_fields(void **state)
{
    (void)state;
    StepRecord r = step_record();
    r.loss = 0.1 + 0.2; /* not a short decimal: must round-trip */
    json_t *j = metrics_step_fields(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "step")), 300);
    assert_true(json_real_value(json_object_get(j, "loss")) == 0.1 + 0.2);
    assert_string_equal(json_string_value(json_object_get(j, "fingerprint")), FP);
    json_decref(j);
    r.loss = NAN;
    r.eta_s = -1;
    j = metrics_step_fields(&r);
    assert_true(json_is_null(json_object_get(j, "loss")));
    assert_true(json_is_null(json_object_get(j, "eta_s")));
    json_decref(j);
}

static void test_epoch_fields(void **state)
{
    (void)state;
    EpochRecord r = {.epoch = 1, .step = 50, .train_loss = 1.25, .train_accuracy = 0.5,
                     .has_val = 1, .val_loss = 1.75, .val_accuracy = 0.25, .has_test = 1,
                     .test_loss = 1.5, .test_accuracy = 0.625, .seconds = 2.5,
                     .img_per_s = 24000, .fingerprint = FP};
    json_t *j = metrics_epoch_fields(&r);
    assert_true(json_real_value(json_object_get(j, "val_loss")) == 1.75);
    assert_true(json_real_value(json_object_get(j, "test_accuracy")) == 0.625);
    json_decref(j);
    r.has_test = 0;
    r.has_val = 0;
    j = metrics_epoch_fields(&r);
    assert_true(json_is_null(json_object_get(j, "test_loss")));
    assert_true(json_is_null(json_object_get(j, "val_accuracy")));
    json_decref(j);
}

static void test_progress_line(void **state)
{
    (void)state;
    char a[256], b[256];
    StepRecord r = step_record();
    metrics_format_progress(&r, a, sizeof a);
    assert_string_equal(a, "epoch   2/10  step     300/2340    loss 0.500000  acc 0.8125  "
                           "lr 9.000e-01  img/s   25000  ETA 1:02:05  sha256 0123456789ab");
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

/* Two opens of one file (a run and its resume): every line is kept, in
 * order, each one JSON object starting with type and time. */
static void test_file_appends(void **state)
{
    (void)state;
    char path[] = "/tmp/shardnet-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    double before = metrics_now();
    Metrics m = {0};
    StepRecord s = step_record();
    assert_int_equal(metrics_open(&m, path), 0);
    assert_int_equal(metrics_write(&m, "start", json_pack("{s:i}", "world_size", 2)), 0);
    assert_int_equal(metrics_write(&m, "step", metrics_step_fields(&s)), 0);
    assert_int_equal(metrics_close(&m), 0);
    assert_int_equal(metrics_close(&m), 0); /* safe twice */
    assert_int_equal(metrics_open(&m, path), 0);
    assert_int_equal(metrics_write(&m, "resume", NULL), 0);
    assert_int_equal(metrics_close(&m), 0);
    assert_int_equal(metrics_write(&m, "ignored", NULL), 0); /* not open: nothing */

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    const char *want[] = {"start", "step", "resume"};
    char line[2048];
    for (int i = 0; i < 3; i++) {
        assert_non_null(fgets(line, sizeof line, f));
        char head[64];
        snprintf(head, sizeof head, "{\"type\":\"%s\",\"time\":", want[i]);
        assert_true(strncmp(line, head, strlen(head)) == 0);
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        double t = json_real_value(json_object_get(j, "time"));
        assert_true(t >= before - 1 && t < before + 3600);
        json_decref(j);
    }
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    unlink(path);

    assert_int_equal(metrics_open(&m, "/nonexistent-dir/m.jsonl"), -1);
    assert_non_null(strstr(base_error(), "/nonexistent-dir/m.jsonl: cannot open for appending"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_fields),
        cmocka_unit_test(test_epoch_fields),
        cmocka_unit_test(test_progress_line),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_file_appends),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
