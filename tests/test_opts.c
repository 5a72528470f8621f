/* test_opts.c - the shared option reader (trainer/opts.h): values of every
 * kind with their bounds, positional arguments moved to the front in order
 * and counted, `--` ending the options, --help anywhere, exact names only,
 * and each message in the one shape "--opt: what is wrong (what is allowed)". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base.h"
#include "opts.h"

typedef struct {
    bool flag, on, given;
    int64_t n;
    double x;
    int choice;
    const char *name;
    int custom;
} Values;

static int parse_even(const char *arg, void *dst)
{
    if (strlen(arg) % 2)
        return base_error_set("'%s' has an odd length", arg);
    *(int *)dst = (int)strlen(arg);
    return 0;
}

static const char *const colours[] = {"red", "green", NULL};

/* Parses words (NULL-terminated, after the command name) into v; the
 * positional count in *n_pos, the words in pos. */
static int parse(Values *v, char **pos, int *n_pos, const char *const *words)
{
    *v = (Values){.on = true, .n = 5, .x = 0.5};
    const Opt opts[] = {
        OPTION_FLAG("flag", &v->flag),
        OPTION_UNFLAG("no-on", &v->on),
        OPTION_INT("n", &v->n, 1, 10, .given = &v->given),
        OPTION_INT("number", &v->n, 0, INT64_MAX),
        OPTION_REAL("x", &v->x, 0, 1, OPT_LO_OPEN),
        OPTION_CHOICE("colour", &v->choice, colours),
        OPTION_STRING("name", &v->name, "a name"),
        OPTION_CUSTOM("even", &v->custom, parse_even, "a word of even length"),
        OPTS_END,
    };
    const OptSpec spec = {"test", opts, "FILE...", 0, 2};
    static char *argv[32];
    int argc = 0;
    argv[argc++] = "test";
    while (*words)
        argv[argc++] = (char *)*words++;
    int rc = opts_parse(&spec, argc, argv, n_pos);
    for (int i = 0; rc == OPTS_OK && i < *n_pos; i++)
        pos[i] = argv[1 + i];
    return rc;
}
#define PARSE(v, pos, n, ...) parse(v, pos, n, (const char *const[]){__VA_ARGS__, NULL})

static void test_values(void **state)
{
    (void)state;
    Values v;
    char *pos[8];
    int n;
    assert_int_equal(PARSE(&v, pos, &n, "a", "--flag", "--no-on", "--n", "7", "b", "--x=1",
                           "--colour", "green", "--name", "me", "--even", "ab"),
                     OPTS_OK);
    assert_true(v.flag);
    assert_false(v.on);
    assert_true(v.given);
    assert_int_equal(v.n, 7);
    assert_true(v.x == 1.0);
    assert_int_equal(v.choice, 1);
    assert_string_equal(v.name, "me");
    assert_int_equal(v.custom, 2);
    assert_int_equal(n, 2);
    assert_string_equal(pos[0], "a");
    assert_string_equal(pos[1], "b");
    /* The defaults stay when an option is absent; `--` ends the options. */
    assert_int_equal(PARSE(&v, pos, &n, "--", "--flag"), OPTS_OK);
    assert_false(v.flag);
    assert_false(v.given);
    assert_int_equal(v.n, 5);
    assert_int_equal(n, 1);
    assert_string_equal(pos[0], "--flag");
    /* A negative number is a value, not an option. */
    assert_int_equal(PARSE(&v, pos, &n, "--number", "-1"), -1);
    assert_string_equal(base_error(), "--number: -1 is out of range (an integer >= 0)");
    /* --help anywhere, even after an error would have been found. */
    assert_int_equal(PARSE(&v, pos, &n, "--n", "7", "-h"), OPTS_HELP);
    assert_int_equal(PARSE(&v, pos, &n, "x", "--help"), OPTS_HELP);
}

static const struct {
    const char *words[4];
    const char *message;
} bad[] = {
    {{"--nu"}, "--nu: unknown option (did you mean --number?)"},
    {{"--nam", "me"}, "--nam: unknown option (did you mean --name?)"},
    {{"--f=1"}, "--f: unknown option (did you mean --flag?)"},
    {{"--bogus"}, "--bogus: unknown option"},
    {{"-n", "3"}, "-n: unknown option (options are long, like --help)"},
    {{"--flag=1"}, "--flag: takes no value (got '1')"},
    {{"--n"}, "--n: missing value (an integer in 1..10)"},
    {{"--n", "--flag"}, "--n: missing value (an integer in 1..10)"},
    {{"--n", "11"}, "--n: 11 is out of range (an integer in 1..10)"},
    {{"--n", " 3"}, "--n: ' 3' is not valid (an integer in 1..10)"},
    {{"--n", "3x"}, "--n: '3x' is not valid (an integer in 1..10)"},
    {{"--n", "99999999999999999999"}, "--n: '99999999999999999999' is not valid"},
    {{"--x", "0"}, "--x: 0 is out of range (a number X with 0 < X <= 1)"},
    {{"--x", "inf"}, "--x: 'inf' is not valid (a number X with 0 < X <= 1)"},
    {{"--x", "1.5"}, "--x: 1.5 is out of range"},
    {{"--colour", "blue"}, "--colour: 'blue' is not a choice (red|green)"},
    {{"--colour"}, "--colour: missing value (red|green)"},
    {{"--name", ""}, "--name: empty value (a name)"},
    {{"--even", "abc"}, "--even: 'abc' has an odd length (a word of even length)"},
    {{"a", "b", "c"}, "unexpected argument 'c' (give FILE...)"},
    {{"--help=yes"}, "--help: takes no value"},
};

static void test_rejections(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Values v;
        char *pos[8];
        int n;
        base_error_set("(none)");
        int rc = parse(&v, pos, &n, bad[i].words);
        if (rc != -1)
            fail_msg("case %zu (%s ...): returned %d, want -1", i, bad[i].words[0], rc);
        if (strncmp(base_error(), bad[i].message, strlen(bad[i].message)))
            fail_msg("case %zu: message '%s', want '%s'", i, base_error(), bad[i].message);
    }
}

static void test_positional_counts(void **state)
{
    (void)state;
    const Opt none[] = {OPTS_END};
    char *argv[] = {"info", "a", "b", NULL};
    int n;
    const OptSpec one = {"info", none, "one FILE", 1, 1};
    assert_int_equal(opts_parse(&one, 1, argv, &n), -1);
    assert_string_equal(base_error(), "missing argument (give one FILE)");
    assert_int_equal(opts_parse(&one, 3, argv, &n), -1);
    assert_string_equal(base_error(), "unexpected argument 'b' (give one FILE)");
    const OptSpec no_args = {"bench", none, NULL, 0, 0};
    assert_int_equal(opts_parse(&no_args, 2, argv, &n), -1);
    assert_string_equal(base_error(), "unexpected argument 'a' (bench takes options only)");
    const OptSpec many = {"verify", none, "FILE...", 1, -1};
    assert_int_equal(opts_parse(&many, 3, argv, &n), OPTS_OK);
    assert_int_equal(n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_positional_counts),
    };
    return cmocka_run_group_tests_name("opts", tests, NULL, NULL);
}
