/* opts.h - one way for every subcommand to read its options, and one voice
 * for what it says when they are wrong.
 *
 * A command describes its options in a table of Opt rows (name, kind, where
 * the value goes, what is allowed) ending with OPTS_END, and calls
 * opts_parse.  Every usage error then reads the same:
 *
 *   shardnet CMD: --opt: what is wrong (what is allowed)
 *   Try 'shardnet CMD --help'.
 *
 * on stderr, exit status 2 (opts_fail prints it).  The rules, the same for
 * every command:
 *   - long options only, matched by their EXACT name: a unique prefix
 *     (`--epoch` for `--epochs`) is an unknown option, so that a future
 *     option cannot change what an old script means;
 *   - a value follows as the next word or after '=' (`--epochs 3`,
 *     `--epochs=3`); a next word that starts with "--" is not taken as a
 *     value (`--data --epochs 3` says --data misses its value);
 *   - `--help` and `-h` anywhere ask for the help (OPTS_HELP);
 *   - options and positional arguments may be mixed; `--` ends the options;
 *   - a value is checked when it is read: integers against their range,
 *     choices against their list, strings for being non-empty; a custom
 *     parser says what is wrong in base_error().
 *
 * Help texts write defaults as "(default: X)".  Pure: no MPI, no I/O but
 * opts_fail's two lines on stderr.
 *
 * A command's whole CLI code, as in cmd_verify.c:
 *
 *   bool quiet = false;                         (defaults in the variables)
 *   const Opt opts[] = {OPTION_FLAG("quiet", &quiet), OPTS_END};
 *   const OptSpec spec = {"verify", opts, "one or more CHECKPOINT files", 1, -1};
 *   int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
 *   if (rc == OPTS_HELP) { verify_usage(stdout); return 0; }
 *   if (rc) return opts_fail("verify", base_error());
 *   ... the files are argv[1..n_pos] ...
 *
 * and a command that computes calls threads_setup (threads.h) with its
 * --threads value; checks between options after parsing put the option
 * first too ("--micro-batch: 100 does not divide --batch 256 (...)"). */
#ifndef SHARDNET_OPTS_H
#define SHARDNET_OPTS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    OPT_FLAG,   /* no value: *(bool *)dst = true */
    OPT_UNFLAG, /* no value: *(bool *)dst = false (the --no-X of a flag) */
    OPT_INT,    /* *(int64_t *)dst, an integer in lo..hi */
    OPT_REAL,   /* *(double *)dst, a finite number in rlo..rhi (see open) */
    OPT_CHOICE, /* *(int *)dst = the index of the value in choices */
    OPT_STRING, /* *(const char **)dst = the value (points into argv), non-empty */
    OPT_CUSTOM, /* parse(value, dst): 0, or -1 with base_error() saying what is wrong */
} OptKind;

/* OPT_REAL: which ends of rlo..rhi are excluded. */
enum { OPT_LO_OPEN = 1, OPT_HI_OPEN = 2 };

typedef struct {
    const char *name;    /* the long name without "--"; NULL ends the table */
    OptKind kind;
    void *dst;
    const char *allowed; /* what is allowed, for messages ("N steps or Ne
                            epochs"); NULL: derived from the kind and bounds */
    int64_t lo, hi;      /* OPT_INT */
    double rlo, rhi;     /* OPT_REAL */
    unsigned open;       /* OPT_REAL: OPT_LO_OPEN | OPT_HI_OPEN */
    const char *const *choices;             /* OPT_CHOICE, NULL-terminated */
    int (*parse)(const char *arg, void *dst); /* OPT_CUSTOM */
    bool *given;         /* optional: set when the option appears */
} Opt;

/* One row of a table each; extra designated fields may follow
 * (`.given = &seen`, `.allowed = "..."`). */
#define OPTION_FLAG(n, d, ...) {.name = n, .kind = OPT_FLAG, .dst = d, __VA_ARGS__}
#define OPTION_UNFLAG(n, d, ...) {.name = n, .kind = OPT_UNFLAG, .dst = d, __VA_ARGS__}
#define OPTION_INT(n, d, l, h, ...) \
    {.name = n, .kind = OPT_INT, .dst = d, .lo = l, .hi = h, __VA_ARGS__}
#define OPTION_REAL(n, d, l, h, o, ...) \
    {.name = n, .kind = OPT_REAL, .dst = d, .rlo = l, .rhi = h, .open = o, __VA_ARGS__}
#define OPTION_CHOICE(n, d, c, ...) {.name = n, .kind = OPT_CHOICE, .dst = d, .choices = c, __VA_ARGS__}
#define OPTION_STRING(n, d, what, ...) \
    {.name = n, .kind = OPT_STRING, .dst = d, .allowed = what, __VA_ARGS__}
#define OPTION_CUSTOM(n, d, fn, what, ...) \
    {.name = n, .kind = OPT_CUSTOM, .dst = d, .parse = fn, .allowed = what, __VA_ARGS__}
#define OPTS_END {.name = NULL}

typedef struct {
    const char *cmd;        /* "train": messages start "shardnet train: " */
    const Opt *opts;        /* the table */
    const char *positional; /* what the positional arguments are, for
                               messages ("CHECKPOINT..."); NULL: none */
    int min_pos, max_pos;   /* how many; max_pos < 0: no upper limit */
} OptSpec;

enum { OPTS_OK = 0, OPTS_HELP = 1 };

/* Reads argv[1..argc-1] (argv[0] is the command name) into the table's
 * destinations, which hold the defaults on entry.  The positional
 * arguments are moved, in order, to argv[1..*n_pos].  Returns OPTS_OK,
 * OPTS_HELP when --help or -h was given (print the help on stdout, exit
 * 0), or -1 with base_error() = "--opt: what is wrong (what is allowed)"
 * or, for positional arguments, "what is wrong (what is allowed)". */
int opts_parse(const OptSpec *spec, int argc, char **argv, int *n_pos);

/* The two lines of a usage error on stderr (see above); returns 2, the
 * exit status of every usage error. */
int opts_fail(const char *cmd, const char *message);

#endif
