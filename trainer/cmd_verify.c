/* cmd_verify.c - `shardnet verify CHECKPOINT...`: checks each checkpoint's
 * structure, format version, Fletcher-32 checksums and parameter digest
 * (ckpt_verify), printing what was checked.  Exit 0 when every file is
 * good, 1 when any is bad (its message names the first bad dataset or
 * attribute), 2 on a usage error.  Reads files only; no MPI. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base.h"
#include "ckpt.h"
#include "commands.h"

static void verify_usage(FILE *out)
{
    fprintf(out, "usage: shardnet verify [--quiet] CHECKPOINT...\n\n"
                 "Checks each checkpoint: every dataset of the LeNet table present with its\n"
                 "shape and float32 type, the format version, the Fletcher-32 checksum of\n"
                 "every dataset, and the SHA-256 digest of the parameters and momentum.\n"
                 "Prints what it checked, then OK or BAD with the first problem found.\n\n"
                 "  --quiet   print only one OK/BAD line per file\n"
                 "  --help    this text\n"
                 "Exit status: 0 all good, 1 a checkpoint is bad, 2 usage error.\n");
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int quiet = 0, c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'q': quiet = 1; break;
        case 'h': verify_usage(stdout); return 0;
        default: verify_usage(stderr); return 2;
        }
    }
    if (optind == argc) {
        fprintf(stderr, "shardnet verify: no checkpoint given\n\n");
        verify_usage(stderr);
        return 2;
    }
    int bad = 0;
    for (int i = optind; i < argc; i++) {
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
