/* test_config.c - `shardnet train` options: defaults, every flag, every
 * rejection naming its flag, the checks that need P and the dataset size,
 * and which fields the config hash covers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "config.h"

/* Parse a NULL-terminated list of words after the command name. */
static int parse_words(Config *cfg, const char *const *words)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = "train";
    while (*words)
        argv[argc++] = (char *)*words++;
    argv[argc] = NULL;
    return config_parse(cfg, argc, argv);
}
#define PARSE(cfg, ...) parse_words(cfg, (const char *const[]){__VA_ARGS__, NULL})

static void test_defaults(void **state)
{
    (void)state;
    Config c;
    assert_int_equal(parse_words(&c, (const char *const[]){NULL}), 0);
    assert_string_equal(c.data, "data/fashion-mnist.h5");
    assert_int_equal(c.arch, ARCH_CLASSIC);
    assert_int_equal(c.epochs, 10);
    assert_int_equal(c.batch, 256);
    assert_int_equal(c.micro_batch, 32); /* fixed, not B/P */
    assert_true(c.balance);
    assert_int_equal(c.slow_percent, 0);
    assert_true(c.lr == 0.9 && c.momentum == 0.0 && c.weight_decay == 0.0);
    assert_int_equal(c.schedule, SCHEDULE_CONSTANT);
    assert_int_equal(c.warmup, 0);
    assert_true(c.seed == 42);
    assert_int_equal(c.reduce, REDUCE_EXACT);
    assert_int_equal(c.on_nonfinite, NONFINITE_STOP);
    assert_int_equal(c.log_every, 50);
    assert_null(c.run);
    assert_true(c.tensorboard);
    assert_int_equal(c.val_count, 0);
    assert_int_equal(c.patience, 0);
    assert_false(c.quiet);
    assert_int_equal(c.limit, 0);
    assert_true(c.eval);
    assert_int_equal(c.threads, 0);
    assert_int_equal(c.inject_step, 0);
}

static void test_all_flags(void **state)
{
    (void)state;
    Config c;
    assert_int_equal(PARSE(&c, "--data", "x.h5", "--arch", "modern", "--epochs", "3",
                           "--batch", "512", "--micro-batch", "64", "--lr", "0.05",
                           "--momentum", "0.9", "--weight-decay", "5e-4", "--schedule",
                           "step", "--step-size", "100", "--gamma", "0.5", "--warmup", "10",
                           "--seed", "18446744073709551615", "--reduce", "float",
                           "--on-nonfinite", "skip", "--log-every", "7", "--run",
                           "runs/a", "--quiet", "--val", "0.25", "--best", "val_accuracy",
                           "--patience", "3", "--no-tensorboard", "--change-schedule", "--limit", "1000", "--no-eval",
                           "--threads", "2", "--inject-nonfinite", "5:1"),
                     0);
    assert_string_equal(c.data, "x.h5");
    assert_int_equal(c.arch, ARCH_MODERN);
    assert_int_equal(c.epochs, 3);
    assert_int_equal(c.batch, 512);
    assert_int_equal(c.micro_batch, 64);
    assert_true(c.lr == 0.05 && c.momentum == 0.9 && c.weight_decay == 5e-4);
    assert_int_equal(c.schedule, SCHEDULE_STEP);
    assert_int_equal(c.step_size, 100);
    assert_true(c.gamma == 0.5);
    assert_int_equal(c.warmup, 10);
    assert_true(c.seed == UINT64_MAX);
    assert_int_equal(c.reduce, REDUCE_FLOAT);
    assert_int_equal(c.on_nonfinite, NONFINITE_SKIP);
    assert_int_equal(c.log_every, 7);
    assert_string_equal(c.run, "runs/a");
    assert_true(c.val_fraction == 0.25 && c.val_count == 0);
    assert_int_equal(config_val_count(&c, 1000), 250);
    assert_int_equal(c.best, BEST_VAL_ACCURACY);
    assert_int_equal(c.patience, 3);
    assert_false(c.tensorboard);
    assert_true(c.change_schedule);
    assert_true(c.quiet);
    assert_int_equal(c.limit, 1000);
    assert_false(c.eval);
    assert_int_equal(c.threads, 2);
    assert_int_equal(c.inject_step, 5);
    assert_int_equal(c.inject_rank, 1);
    /* --eval after --no-eval turns it back on; --arg=value works. */
    assert_int_equal(PARSE(&c, "--no-eval", "--eval", "--lr=0.1"), 0);
    assert_true(c.eval);
    assert_true(c.lr == 0.1);
    assert_int_equal(PARSE(&c, "--help"), 1);
    assert_int_equal(PARSE(&c, "-h"), 1);
}

/* Each bad command line and a piece of the message it must give. */
static const struct {
    const char *words[4];
    const char *message;
} bad[] = {
    {{"--epochs", "0"}, "--epochs: 0 is out of range (an integer in 1..1000000)"},
    {{"--epochs", "ten"}, "--epochs: 'ten' is not valid (an integer in 1..1000000)"},
    {{"--epochs", "3x"}, "--epochs: '3x' is not valid"},
    {{"--batch", "0"}, "--batch: 0 is out of range (an integer in 1..65536)"},
    {{"--batch", "65537"}, "--batch: 65537 is out of range"},
    {{"--micro-batch", "-4"}, "--micro-batch: -4 is out of range"},
    {{"--batch", "256", "--micro-batch", "100"}, "--micro-batch: 100 does not divide --batch 256 (a divisor of 256)"},
    {{"--lr", "0"}, "--lr: 0 is out of range (a number X with 0 < X <= 1e+06)"},
    {{"--lr", "nan"}, "--lr: 'nan' is not valid"},
    {{"--lr", "-0.1"}, "--lr: -0.1 is out of range"},
    {{"--momentum", "1"}, "--momentum: 1 is out of range (a number X with 0 <= X < 1)"},
    {{"--weight-decay", "-1"}, "--weight-decay: -1 is out of range"},
    {{"--arch", "resnet"}, "--arch: 'resnet' is not a choice (classic|modern)"},
    {{"--schedule", "linear"}, "--schedule: 'linear' is not a choice (constant|step|cosine)"},
    {{"--schedule", "step"}, "--schedule: step needs --step-size N"},
    {{"--step-size", "10"}, "--step-size: only applies to --schedule step"},
    {{"--gamma", "0.5"}, "--gamma: only applies to --schedule step"},
    {{"--schedule", "step", "--gamma", "0"}, "--gamma: 0 is out of range (a number X with 0 < X <= 1)"},
    {{"--warmup", "-1"}, "--warmup: -1 is out of range"},
    {{"--seed", "-1"}, "--seed: '-1' is not valid (an integer in 0..2^64-1)"},
    {{"--seed", "18446744073709551616"}, "--seed: '18446744073709551616'"},
    {{"--reduce", "approx"}, "--reduce: 'approx' is not a choice (exact|float)"},
    {{"--on-nonfinite", "ignore"}, "--on-nonfinite: 'ignore' is not a choice (stop|skip)"},
    {{"--log-every", "0"}, "--log-every: 0 is out of range"},
    {{"--limit", "0"}, "--limit: 0 is out of range"},
    {{"--threads", "0"}, "--threads: 0 is out of range (an integer in 1..1024)"},
    {{"--threading", "openmp"}, "--threading: 'openmp' is not a choice (workers|onednn)"},
    {{"--inject-nonfinite", "5"}, "--inject-nonfinite: '5' is not valid (STEP:RANK"},
    {{"--inject-nonfinite", "0:1"}, "--inject-nonfinite: STEP 0 is out of range"},
    {{"--inject-nonfinite", "3:x"}, "--inject-nonfinite: RANK 'x' is not an integer"},
    {{"--balance", "yes"}, "--balance: 'yes' is not a choice (off|on)"},
    {{"--test-slow", "1"}, "--test-slow: '1' is not valid (RANK:PERCENT"},
    {{"--test-slow", "1:0"}, "--test-slow: PERCENT 0 is out of range (RANK:PERCENT, PERCENT in 1..100)"},
    {{"--test-slow", "1:101"}, "--test-slow: PERCENT 101 is out of range"},
    {{"--data", ""}, "--data: empty value (an HDF5 dataset file)"},
    {{"--run", ""}, "--run: empty value (a directory)"},
    {{"--metrics", "m.jsonl"}, "--metrics: this option is gone (a run's metrics and checkpoints live in"},
    {{"--ckpt-dir", "c"}, "--ckpt-dir: this option is gone"},
    {{"--val", "0"}, "--val: sample count 0 is out of range"},
    {{"--val", "1.0"}, "--val: 1.0 is out of range (a sample count N >= 1 or a fraction 0 < X < 1)"},
    {{"--val", "0.0"}, "--val: 0.0 is out of range"},
    {{"--patience", "2"}, "--patience: needs --val N"},
    {{"--best", "val_accuracy"}, "--best: needs --val N"},
    {{"--val", "10", "--best", "test"}, "--best: 'test' is not a choice (val_loss|val_accuracy)"},
    {{"--bogus"}, "--bogus: unknown option"},
    {{"-x"}, "-x: unknown option"},
    {{"--quiet=yes"}, "--quiet: takes no value (got 'yes')"},
    {{"--lr"}, "--lr: missing value (a number X with 0 < X <= 1e+06)"},
    {{"--epoch", "3"}, "--epoch: unknown option (did you mean --epochs?)"},
    {{"--no"}, "--no: unknown option"},
    {{"--data", "--epochs", "3"}, "--data: missing value (an HDF5 dataset file)"},
    {{"--quiet", "--help=1"}, "--help: takes no value"},
    {{"extra"}, "unexpected argument 'extra' (train takes options only)"},
};

static void test_rejections(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Config c;
        base_error_set("(none)");
        int rc = parse_words(&c, bad[i].words);
        if (rc != -1)
            fail_msg("case %zu (%s ...): returned %d, want -1", i, bad[i].words[0], rc);
        if (!strstr(base_error(), bad[i].message))
            fail_msg("case %zu: message '%s' lacks '%s'", i, base_error(), bad[i].message);
    }
}

static void test_default_micro(void **state)
{
    (void)state;
    /* The largest divisor of B up to 32: a function of B alone. */
    const int64_t want[][2] = {{256, 32}, {64, 32}, {96, 32}, {100, 25}, {48, 24}, {7, 7},
                               {1, 1}, {37, 1}, {20, 20}, {65536, 32}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(config_default_micro(want[i][0]), want[i][1]);
    Config c;
    assert_int_equal(PARSE(&c, "--batch", "100"), 0);
    assert_int_equal(c.micro_batch, 25);
    assert_int_equal(PARSE(&c, "--balance", "off", "--test-slow", "1:60"), 0);
    assert_false(c.balance);
    assert_int_equal(c.slow_rank, 1);
    assert_int_equal(c.slow_percent, 60);
    char a[1024], b[1024];
    config_describe(&c, a, sizeof a);
    assert_int_equal(PARSE(&c, "--test-slow", "1:60"), 0);
    config_describe(&c, b, sizeof b);
    assert_string_not_equal(a, b); /* ranks must agree on --balance */
}

static void test_check_world(void **state)
{
    (void)state;
    Config c;
    /* Defaults: m = 32, K = 8 micro-batches: every P from 1 to 8, also 3, 5, 7. */
    for (int p = 1; p <= 8; p++) {
        assert_int_equal(PARSE(&c, "--threads", "1"), 0);
        assert_int_equal(config_check_world(&c, p), 0);
        assert_int_equal(c.micro_batch, 32);
        assert_int_equal(config_terms(&c), 8);
    }
    /* P above K names a micro-batch and a batch that work. */
    assert_int_equal(PARSE(&c, "--threads", "1"), 0);
    assert_int_equal(config_check_world(&c, 9), -1);
    assert_non_null(strstr(base_error(), "9 ranks, but a step has only --batch 256 / "
                                         "--micro-batch 32 = 8 micro-batches"));
    assert_non_null(strstr(base_error(), "use --micro-batch 16 or --batch 288, or at most 8 "
                                         "ranks"));
    assert_int_equal(PARSE(&c, "--micro-batch", "64", "--threads", "1"), 0);
    assert_int_equal(config_check_world(&c, 3), 0); /* 4 micro-batches: 2, 1, 1 */
    assert_int_equal(PARSE(&c, "--batch", "12", "--micro-batch", "4", "--threads", "1"), 0);
    assert_int_equal(config_check_world(&c, 5), -1);
    assert_non_null(strstr(base_error(), "use --micro-batch 2 or --batch 20"));
    /* No micro-batch of B gives P micro-batches: only the batch is named. */
    assert_int_equal(PARSE(&c, "--batch", "4", "--threads", "1"), 0);
    assert_int_equal(config_check_world(&c, 5), -1);
    assert_non_null(strstr(base_error(), "use --batch 20, or at most 1 ranks"));

    assert_int_equal(PARSE(&c, "--inject-nonfinite", "3:2", "--threads", "1"), 0);
    assert_int_equal(config_check_world(&c, 2), -1);
    assert_non_null(strstr(base_error(), "rank 2 does not exist with 2 ranks"));
    assert_int_equal(PARSE(&c, "--test-slow", "2:50", "--threads", "1"), 0);
    assert_int_equal(config_check_world(&c, 2), -1);
    assert_non_null(strstr(base_error(), "--test-slow: rank 2 does not exist with 2 ranks"));
    assert_int_equal(config_check_world(&c, 0), -1);
}

static void test_threads(void **state)
{
    (void)state;
    Config c;
    const char *saved = getenv("OMP_NUM_THREADS");
    char *copy = saved ? xstrdup(saved) : NULL;

    unsetenv("OMP_NUM_THREADS");
    assert_int_equal(PARSE(&c, "--lr", "1"), 0);
    assert_int_equal(config_check_world(&c, 2), 0);
    assert_int_equal(c.threads, 1);
    assert_int_equal(PARSE(&c, "--lr", "1"), 0);
    assert_int_equal(config_check_world(&c, 1), 0);
    assert_int_equal(c.threads, 1); /* the same default for every P: exactness */
    assert_false(c.normalize);
    assert_int_equal(PARSE(&c, "--normalize"), 0);
    assert_true(c.normalize);

    setenv("OMP_NUM_THREADS", "3", 1);
    assert_int_equal(PARSE(&c, "--lr", "1"), 0);
    assert_int_equal(config_check_world(&c, 2), 0);
    assert_int_equal(c.threads, 3);
    assert_int_equal(PARSE(&c, "--threads", "2"), 0); /* the flag wins */
    assert_int_equal(config_check_world(&c, 2), 0);
    assert_int_equal(c.threads, 2);
    assert_false(c.onednn_threads); /* micro-batch workers by default */
    char workers[1024], onednn[1024];
    config_describe(&c, workers, sizeof workers);
    assert_int_equal(PARSE(&c, "--threads", "2", "--threading", "onednn"), 0);
    assert_true(c.onednn_threads);
    config_describe(&c, onednn, sizeof onednn);
    assert_non_null(strstr(onednn, "threading=onednn")); /* ranks must agree on it */
    assert_string_not_equal(workers, onednn);

    setenv("OMP_NUM_THREADS", "4,2", 1);
    assert_int_equal(PARSE(&c, "--lr", "1"), 0);
    assert_int_equal(config_check_world(&c, 2), -1);
    assert_non_null(strstr(base_error(), "OMP_NUM_THREADS"));

    if (copy)
        setenv("OMP_NUM_THREADS", copy, 1);
    else
        unsetenv("OMP_NUM_THREADS");
    free(copy);
}

static void test_check_data(void **state)
{
    (void)state;
    Config c;
    int64_t steps = -1;
    assert_int_equal(PARSE(&c, "--threads", "1"), 0);
    assert_int_equal(config_check_data(&c, 60000, &steps), 0);
    assert_int_equal(steps, 234); /* 60000 / 256, the partial batch dropped */

    assert_int_equal(PARSE(&c, "--limit", "1000"), 0);
    assert_int_equal(config_check_data(&c, 60000, &steps), 0);
    assert_int_equal(steps, 3);

    assert_int_equal(PARSE(&c, "--limit", "60001"), 0);
    assert_int_equal(config_check_data(&c, 60000, &steps), -1);
    assert_non_null(strstr(base_error(), "--limit 60001 exceeds the 60000 training samples"));

    assert_int_equal(PARSE(&c, "--limit", "100"), 0);
    assert_int_equal(config_check_data(&c, 60000, &steps), -1);
    assert_non_null(strstr(base_error(), "--batch 256 is larger than the 100"));

    assert_int_equal(PARSE(&c, "--limit", "1024", "--epochs", "2", "--warmup", "8"), 0);
    assert_int_equal(config_check_data(&c, 60000, &steps), -1);
    assert_non_null(strstr(base_error(), "--warmup 8 must be below the 8 steps"));

    assert_int_equal(PARSE(&c, "--limit", "1024", "--epochs", "1", "--inject-nonfinite",
                           "5:0"), 0);
    assert_int_equal(config_check_data(&c, 60000, &steps), -1);
    assert_non_null(strstr(base_error(), "step 5 is beyond the 4 steps"));

    Schedule s;
    assert_int_equal(PARSE(&c, "--schedule", "cosine", "--warmup", "3", "--lr", "0.5"), 0);
    s = config_schedule(&c, 100);
    assert_int_equal(s.kind, SCHEDULE_COSINE);
    assert_int_equal(s.warmup, 3);
    assert_int_equal(s.total_steps, 100);
    assert_true(s.lr == 0.5);
}

/* --timeout and --test-stall: defaults, values, every rejection names its flag. */
static void test_cluster_options(void **state)
{
    (void)state;
    Config c;
    assert_int_equal(PARSE(&c, "--batch", "64"), 0);
    assert_int_equal(c.timeout, CONFIG_DEFAULT_TIMEOUT);
    assert_int_equal(c.stall_step, 0);
    assert_int_equal(PARSE(&c, "--timeout", "0", "--test-stall", "5:1:30"), 0);
    assert_int_equal(c.timeout, 0);
    assert_int_equal(c.stall_step, 5);
    assert_int_equal(c.stall_rank, 1);
    assert_int_equal(c.stall_seconds, 30);
    assert_int_equal(PARSE(&c, "--timeout", "-1"), -1);
    assert_non_null(strstr(base_error(), "--timeout"));
    assert_int_equal(PARSE(&c, "--timeout", "10s"), -1);
    assert_non_null(strstr(base_error(), "--timeout"));
    const char *bad[] = {"5:1", "5", "0:1:3", "5:1:0", "5:-1:3", "a:1:3", "5:1:3:4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(PARSE(&c, "--test-stall", bad[i]), -1);
        assert_non_null(strstr(base_error(), "--test-stall"));
    }
    assert_int_equal(PARSE(&c, "--batch", "64", "--micro-batch", "16", "--test-stall", "5:2:3"),
                     0);
    assert_int_equal(config_check_world(&c, 2), -1);
    assert_non_null(strstr(base_error(), "--test-stall: rank 2 does not exist with 2 ranks"));
    assert_int_equal(PARSE(&c, "--batch", "64", "--micro-batch", "16", "--test-stall", "99:0:3",
                           "--epochs", "1"), 0);
    assert_int_equal(config_check_world(&c, 1), 0);
    int64_t steps;
    assert_int_equal(config_check_data(&c, 640, &steps), -1);
    assert_non_null(strstr(base_error(), "--test-stall: step 99 is beyond the 10 steps"));
}

static void test_hash_fields(void **state)
{
    (void)state;
    Config a, b;
    assert_int_equal(PARSE(&a, "--lr", "0.1", "--seed", "7"), 0);
    assert_int_equal(PARSE(&b, "--seed", "7", "--lr", "0.1"), 0);
    assert_true(config_hash(&a) == config_hash(&b));
    /* Per-host or cosmetic fields are left out of the hash. */
    assert_int_equal(PARSE(&b, "--seed", "7", "--lr", "0.1", "--data", "/other/f.h5",
                           "--run", "r1", "--quiet", "--threads", "2"), 0);
    assert_true(config_hash(&a) == config_hash(&b));
    /* Training fields are in it, down to the last bit of a double. */
    assert_int_equal(PARSE(&b, "--lr", "0.10000000000000002", "--seed", "7"), 0);
    assert_true(config_hash(&a) != config_hash(&b));
    assert_int_equal(PARSE(&b, "--lr", "0.1", "--seed", "8"), 0);
    assert_true(config_hash(&a) != config_hash(&b));
    assert_int_equal(PARSE(&b, "--lr", "0.1", "--seed", "7", "--reduce", "float"), 0);
    assert_true(config_hash(&a) != config_hash(&b));
    char text[1024];
    config_describe(&a, text, sizeof text);
    assert_non_null(strstr(text, "seed=7"));
    assert_non_null(strstr(text, "reduce=exact"));
}

/* The effective configuration as JSON: every key a resume compares is in
 * it, values are exact (doubles, the 64-bit seed as text), and --val keeps
 * its form (a count or a fraction); held-out samples come off the end. */
static void test_json(void **state)
{
    (void)state;
    Config c;
    assert_int_equal(PARSE(&c, "--lr", "0.1", "--seed", "18446744073709551615", "--val",
                           "0.1", "--epochs", "3"), 0);
    assert_int_equal(config_check_world(&c, 2), 0);
    json_t *j = config_to_json(&c, "abc", 2);
    for (const char *const *k = config_resume_fixed; *k; k++)
        assert_non_null(json_object_get(j, *k));
    for (const char *const *k = config_resume_schedule; *k; k++)
        assert_non_null(json_object_get(j, *k));
    assert_true(json_real_value(json_object_get(j, "lr")) == 0.1);
    assert_string_equal(json_string_value(json_object_get(j, "seed")), "18446744073709551615");
    assert_true(json_real_value(json_object_get(j, "val")) == 0.1);
    assert_int_equal(json_integer_value(json_object_get(j, "micro_batch")), 32); /* the default */
    assert_string_equal(json_string_value(json_object_get(j, "data_sha256")), "abc");
    json_decref(j);
    int64_t steps = 0;
    assert_int_equal(config_val_count(&c, 60000), 6000);
    assert_int_equal(config_check_data(&c, 60000, &steps), 0);
    assert_int_equal(steps, 54000 / 256);
    assert_int_equal(PARSE(&c, "--val", "100", "--limit", "59901"), 0);
    assert_int_equal(config_check_world(&c, 1), 0);
    assert_int_equal(config_check_data(&c, 60000, &steps), -1);
    assert_non_null(strstr(base_error(), "--limit 59901 exceeds the 59900 training samples left "
                                         "after --val"));
    assert_int_equal(PARSE(&c, "--val", "60000"), 0);
    assert_int_equal(config_check_world(&c, 1), 0);
    assert_int_equal(config_check_data(&c, 60000, &steps), -1);
    assert_non_null(strstr(base_error(), "leaves nothing to train on"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_flags),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_default_micro),
        cmocka_unit_test(test_check_world),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_check_data),
        cmocka_unit_test(test_cluster_options),
        cmocka_unit_test(test_hash_fields),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
