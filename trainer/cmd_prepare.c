/* cmd_prepare.c - `shardnet prepare`: import the four IDX files of an image
 * dataset (Fashion-MNIST by default) into one HDF5 file (io/import.h).
 * Exit status: 0 written, 1 failed (nothing written), 2 usage error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"
#include "outpath.h"
#include "commands.h"
#include "import.h"

#define DEFAULT_FROM "/usr/share/datasets/fashion-mnist"
#define DEFAULT_OUT "data/fashion-mnist.h5"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shardnet prepare [--from DIR] [--out FILE] [--force] [--classes A,B,...]\n\n"
            "Converts train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte\n"
            "and t10k-labels-idx1-ubyte (each .gz or plain) into one HDF5 file.\n\n"
            "  --from DIR         source directory (default " DEFAULT_FROM ")\n"
            "  --out FILE         output file, missing directories created (default\n"
            "                     " DEFAULT_OUT "); an existing FILE is refused\n"
            "  --force            replace an existing --out FILE\n"
            "  --classes A,B,...  class names, their number is the class count (default:\n"
            "                     Fashion-MNIST's ten names when the training labels are\n"
            "                     Fashion-MNIST's, else \"0\"..\"9\")\n"
            "  --help             this text\n");
}

/* Splits a comma-separated list in place; returns the count, 0 if any name is empty. */
static int split_classes(char *list, const char **names, int max)
{
    int n = 0;
    for (char *p = list;; p++) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p || n == max)
            return 0;
        names[n++] = p;
        if (!comma)
            return n;
        p = comma;
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void report(const ImportConfig *cfg, const ImportReport *rep, const char *const *names,
                   double seconds)
{
    printf("prepare: train %zu, test %zu samples of 1x%zux%zu, %d classes\n", rep->train,
           rep->test, rep->height, rep->width, rep->num_classes);
    printf("prepare: classes:");
    for (int i = 0; i < rep->num_classes; i++)
        printf("%s %s", i ? "," : "", names[i]);
    printf("\nprepare: training pixels x/255: mean %.6f, std %.6f\n", rep->pixel_mean,
           rep->pixel_std);
    for (int i = 0; i < IMPORT_NUM_FILES; i++)
        printf("prepare: %s sha256 %s\n", rep->files[i], rep->sha256[i]);
    printf("prepare: wrote %s in %.2f s\n", cfg->out, seconds);
}

int cmd_prepare(int argc, char **argv)
{
    static const struct option options[] = {
        {"from", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"classes", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    ImportConfig cfg = {.from = DEFAULT_FROM, .out = DEFAULT_OUT};
    const char *names[256];
    int opt, force = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'f': cfg.from = optarg; break;
        case 'o': cfg.out = optarg; break;
        case 'F': force = 1; break;
        case 'c':
            cfg.num_classes = split_classes(optarg, names, 256);
            if (!cfg.num_classes) {
                fprintf(stderr, "shardnet prepare: --classes needs 1 to 256 non-empty names\n");
                usage(stderr);
                return 2;
            }
            cfg.class_names = names;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "shardnet prepare: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (outpath_file(cfg.out, "--out", force, "give --force to replace it") < 0) {
        fprintf(stderr, "shardnet prepare: %s\n", base_error());
        return 1;
    }
    double t0 = now();
    ImportReport rep;
    if (import_idx(&cfg, &rep)) {
        fprintf(stderr, "shardnet prepare: %s\n", base_error());
        return 1;
    }
    report(&cfg, &rep, cfg.class_names ? cfg.class_names
                       : rep.fashion   ? IMPORT_FASHION_CLASSES
                                       : (const char *const[]){"0", "1", "2", "3", "4", "5", "6",
                                                               "7", "8", "9"},
           now() - t0);
    return 0;
}
