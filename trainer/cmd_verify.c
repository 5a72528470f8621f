/* cmd_verify.c - `shardnet verify CHECKPOINT...`: checks each checkpoint's
 * structure, format version, Fletcher-32 checksums and parameter digest
 * (ckpt_verify), printing what was checked.  Exit 0 when every file is
 * good, 1 when any is bad (its message names the first bad dataset or
 * attribute), 2 on a usage error.  Reads files only; no MPI. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base.h"
#include "ckpt.h"
#include "commands.h"
#include "opts.h"

static void verify_usage(FILE *out)
{
    fprintf(out, "usage: shardnet verify [--quiet] CHECKPOINT...\n\n"
                 "Checks each checkpoint: every dataset of the LeNet table present with its\n"
                 "shape and float32 type, the format version, the Fletcher-32 checksum of\n"
                 "every dataset, and the SHA-256 digest of the parameters and momentum.\n"
                 "Prints what it checked, then OK or BAD with the first problem found.\n\n"
                 "  --quiet   print only one OK/BAD line per file (default: what was checked)\n"
                 "  --help    this text\n"
                 "Exit status: 0 all good, 1 a checkpoint is bad, 2 usage error.\n");
}

int cmd_verify(int argc, char **argv)
{
    bool quiet = false;
    const Opt opts[] = {
        OPTION_FLAG("quiet", &quiet),
        OPTS_END,
    };
    const OptSpec spec = {"verify", opts, "one or more CHECKPOINT files", 1, -1};
    int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
    if (rc == OPTS_HELP) {
        verify_usage(stdout);
        return 0;
    }
    if (rc)
        return opts_fail("verify", base_error());
    int bad = 0;
    for (int i = 1; i <= n_pos; i++) {
        if (ckpt_verify(argv[i], quiet ? NULL : stdout) == 0) {
            printf("OK %s\n", argv[i]);
        } else {
            fflush(stdout);
            fprintf(stderr, "BAD %s\n", base_error());
            bad = 1;
        }
    }
    return bad;
}
