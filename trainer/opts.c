/* opts.c - the shared option reader and its messages.  See opts.h. */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

/* What an option allows, for its messages: the table's text, else one
 * derived from the kind ("an integer in 1..1000000", "classic|modern"). */
static const char *allowed_text(const Opt *o, char *buf, size_t cap)
{
    if (o->allowed)
        return o->allowed;
    switch (o->kind) {
    case OPT_INT:
        if (o->hi == INT64_MAX)
            snprintf(buf, cap, "an integer >= %lld", (long long)o->lo);
        else
            snprintf(buf, cap, "an integer in %lld..%lld", (long long)o->lo, (long long)o->hi);
        break;
    case OPT_REAL:
        snprintf(buf, cap, "a number X with %g %s X %s %g", o->rlo,
                 o->open & OPT_LO_OPEN ? "<" : "<=", o->open & OPT_HI_OPEN ? "<" : "<=", o->rhi);
        break;
    case OPT_CHOICE: {
        size_t n = 0;
        buf[0] = '\0';
        for (const char *const *c = o->choices; *c && n < cap; c++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", c == o->choices ? "" : "|", *c);
        break;
    }
    default: snprintf(buf, cap, "a non-empty value"); break;
    }
    return buf;
}

/* Whole-string decimal integer with an optional sign (strtoll alone would
 * skip leading blanks and accept "12abc"'s prefix). */
static int read_int(const char *s, int64_t *out)
{
    const char *d = s + (s[0] == '-' || s[0] == '+');
    if (*d < '0' || *d > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

/* The value of option o into its destination; -1 with base_error(). */
static int set_value(const Opt *o, const char *arg)
{
    char allowed[256];
    const char *ok = allowed_text(o, allowed, sizeof allowed);
    switch (o->kind) {
    case OPT_INT: {
        int64_t v;
        if (read_int(arg, &v) < 0)
            return base_error_set("--%s: '%s' is not valid (%s)", o->name, arg, ok);
        if (v < o->lo || v > o->hi)
            return base_error_set("--%s: %lld is out of range (%s)", o->name, (long long)v, ok);
        *(int64_t *)o->dst = v;
        return 0;
    }
    case OPT_REAL: {
        char *end;
        errno = 0;
        double v = strtod(arg, &end);
        if (end == arg || *end || errno == ERANGE || !isfinite(v) || arg[0] == ' ')
            return base_error_set("--%s: '%s' is not valid (%s)", o->name, arg, ok);
        if (v < o->rlo || v > o->rhi || (v == o->rlo && (o->open & OPT_LO_OPEN)) ||
            (v == o->rhi && (o->open & OPT_HI_OPEN)))
            return base_error_set("--%s: %s is out of range (%s)", o->name, arg, ok);
        *(double *)o->dst = v;
        return 0;
    }
    case OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (!strcmp(arg, o->choices[i])) {
                *(int *)o->dst = i;
                return 0;
            }
        return base_error_set("--%s: '%s' is not a choice (%s)", o->name, arg, ok);
    case OPT_STRING:
        if (!*arg)
            return base_error_set("--%s: empty value (%s)", o->name, ok);
        *(const char **)o->dst = arg;
        return 0;
    case OPT_CUSTOM:
        if (o->parse(arg, o->dst) == 0)
            return 0;
        {
            char what[512];
            snprintf(what, sizeof what, "%s", base_error());
            return base_error_set("--%s: %s (%s)", o->name, what, ok);
        }
    default: return base_error_set("--%s: internal error: no value expected", o->name);
    }
}

/* An unknown --name: say which option was probably meant when name is a
 * prefix of exactly one, since prefixes are not accepted. */
static int unknown(const OptSpec *spec, const char *name, size_t len)
{
    const char *meant = NULL;
    int matches = 0;
    for (const Opt *o = spec->opts; o->name; o++)
        if (!strncmp(o->name, name, len)) {
            meant = o->name;
            matches++;
        }
    if (matches == 1)
        return base_error_set("--%.*s: unknown option (did you mean --%s?)", (int)len, name,
                              meant);
    return base_error_set("--%.*s: unknown option", (int)len, name);
}

static int is_option(const char *s) { return s[0] == '-' && s[1] == '-' && s[2]; }

int opts_parse(const OptSpec *spec, int argc, char **argv, int *n_pos)
{
    int pos = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || !a[1]) {
            argv[1 + pos++] = a; /* never overtakes i: pos < i */
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return OPTS_HELP;
        if (a[1] != '-')
            return base_error_set("%s: unknown option (options are long, like --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 4 && !strncmp(name, "help", 4))
            return base_error_set("--help: takes no value");
        const Opt *o = spec->opts;
        while (o->name && (strlen(o->name) != len || strncmp(o->name, name, len)))
            o++;
        if (!o->name)
            return unknown(spec, name, len);
        if (o->given)
            *o->given = true;
        if (o->kind == OPT_FLAG || o->kind == OPT_UNFLAG) {
            if (eq)
                return base_error_set("--%s: takes no value (got '%s')", o->name, eq + 1);
            *(bool *)o->dst = o->kind == OPT_FLAG;
            continue;
        }
        const char *arg = eq ? eq + 1 : NULL;
        if (!arg && i + 1 < argc && !is_option(argv[i + 1]))
            arg = argv[++i];
        if (!arg) {
            char allowed[256];
            return base_error_set("--%s: missing value (%s)", o->name,
                                  allowed_text(o, allowed, sizeof allowed));
        }
        if (set_value(o, arg) < 0)
            return -1;
    }
    const char *what = spec->positional ? spec->positional : "no arguments";
    if (pos > 0 && !spec->positional)
        return base_error_set("unexpected argument '%s' (%s takes options only)", argv[1],
                              spec->cmd);
    if (spec->max_pos >= 0 && pos > spec->max_pos)
        return base_error_set("unexpected argument '%s' (give %s)", argv[1 + spec->max_pos],
                              what);
    if (pos < spec->min_pos)
        return base_error_set("missing argument (give %s)", what);
    *n_pos = pos;
    return OPTS_OK;
}

int opts_fail(const char *cmd, const char *message)
{
    fprintf(stderr, "shardnet %s: %s\nTry 'shardnet %s --help'.\n", cmd, message, cmd);
    return 2;
}
