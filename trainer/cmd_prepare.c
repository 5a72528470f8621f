/* cmd_prepare.c - `shardnet prepare`: import a dataset into one HDF5 file:
 * the four IDX files of Fashion-MNIST and the like (io/import.h), an image
 * folder or CIFAR-10's binary batches (io/imagefolder.h).
 * Exit status: 0 written, 1 failed (nothing written), 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "imagefolder.h"
#include "outpath.h"
#include "commands.h"
#include "import.h"

#define DEFAULT_FROM "/usr/share/datasets/fashion-mnist"
#define DEFAULT_OUT "data/fashion-mnist.h5"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shardnet prepare [--from DIR] [--out FILE] [--force] [--format F]\n"
            "                        [--classes A,B,...] [--size HxW] [--resize]\n"
            "                        [--channels 1|3] [--on-bad-image fail|skip]\n\n"
            "Converts a dataset into one HDF5 file.  Formats (--format, default auto:\n"
            "images when DIR/train is a directory, cifar10 when DIR/test_batch.bin exists,\n"
            "else idx):\n"
            "  idx      train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
            "           t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each .gz or plain)\n"
            "  images   DIR/train/<class>/*.png|jpg|jpeg and DIR/test/<class>/...; classes\n"
            "           are the folder names, sorted, the same in both splits\n"
            "  cifar10  DIR/data_batch_*.bin and DIR/test_batch.bin (CIFAR-10's binary\n"
            "           version); class names from DIR/batches.meta.txt when present\n\n"
            "  --from DIR         source directory (default " DEFAULT_FROM ")\n"
            "  --out FILE         output file, missing directories created (default\n"
            "                     " DEFAULT_OUT " for idx, data/NAME.h5 for images and\n"
            "                     cifar10, NAME being DIR's last component); an existing\n"
            "                     FILE is refused\n"
            "  --force            replace an existing --out FILE\n"
            "  --format F         auto, idx, images or cifar10 (default auto)\n"
            "  --classes A,B,...  idx: class names, their number is the class count (default:\n"
            "                     Fashion-MNIST's ten names when the training labels are\n"
            "                     Fashion-MNIST's, else \"0\"..\"9\")\n"
            "images only:\n"
            "  --size HxW         image size (default: the first image's); every image must\n"
            "                     have it, unless --resize\n"
            "  --resize           resample images of another size to --size (bilinear,\n"
            "                     antialiased when shrinking; needs --size)\n"
            "  --channels 1|3     1: gray (RGB images by BT.601 luma), 3: RGB (gray images\n"
            "                     copied to R, G, B); default 1 when every image is gray,\n"
            "                     else 3\n"
            "  --on-bad-image A   fail (default): stop at the first bad image, naming it;\n"
            "                     skip: name each bad image on stderr, leave it out, count\n"
            "                     them.  Bad: unreadable, not a PNG/JPEG, damaged, with an\n"
            "                     alpha channel or CMYK, or of the wrong size\n"
            "  --help             this text\n"
            "Exit status: 0 written, 1 failed (nothing written), 2 usage error.\n");
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

/* "28x28" -> 28, 28 (each side 1..IMAGE_MAX_SIDE); -1 when malformed. */
static int parse_size(const char *s, size_t *h, size_t *w)
{
    char *end;
    if (*s < '1' || *s > '9')
        return -1;
    unsigned long a = strtoul(s, &end, 10);
    if (*end != 'x' || end[1] < '1' || end[1] > '9')
        return -1;
    unsigned long b = strtoul(end + 1, &end, 10);
    if (*end || a > 16384 || b > 16384)
        return -1;
    *h = a;
    *w = b;
    return 0;
}

typedef struct {
    int tty;
    double start, last;
} Progress;

/* At most every 0.25 s on a terminal (one rewritten line), every 5 s
 * otherwise (one line each), and only once the conversion runs for 1 s. */
static void progress(void *ctx, size_t done, size_t total)
{
    Progress *p = ctx;
    double t = now();
    if ((t - p->last < (p->tty ? 0.25 : 5.0) || t - p->start < 1.0) && done != total)
        return;
    if (done == total && p->last == p->start)
        return; /* short conversions print nothing */
    p->last = t;
    fprintf(stderr, "%sprepare: %zu/%zu images (%.0f%%), %.1f s%s", p->tty ? "\r" : "", done,
            total, 100.0 * (double)done / (double)total, t - p->start,
            p->tty && done != total ? "" : "\n");
    fflush(stderr);
}

static void skipped(void *ctx, const char *message)
{
    Progress *p = ctx;
    fprintf(stderr, "%sshardnet prepare: skipped %s\n", p->tty && p->last != p->start ? "\n" : "",
            message);
}

static void report_folder(const char *out, const FolderReport *rep, const char *format,
                          double seconds)
{
    printf("prepare: train %zu, test %zu samples of %zux%zux%zu, %d classes\n", rep->train,
           rep->test, rep->channels, rep->height, rep->width, rep->num_classes);
    printf("prepare: classes:");
    for (int i = 0; i < rep->num_classes; i++)
        printf("%s %s", i ? "," : "", rep->class_names[i]);
    printf("\nprepare: training pixels x/255: mean %.6f, std %.6f\n", rep->pixel_mean,
           rep->pixel_std);
    if (!strcmp(format, "images")) {
        printf("prepare: skipped %zu bad image(s), ignored %zu file(s) without a .png/.jpg/.jpeg "
               "name\n", rep->skipped, rep->ignored);
        printf("prepare: train manifest sha256 %s\nprepare: test manifest sha256 %s\n",
               rep->sha256[0], rep->sha256[1]);
    }
    for (size_t i = 0; i < rep->num_files; i++)
        printf("prepare: %s sha256 %s\n", rep->files[i], rep->file_sha256[i]);
    printf("prepare: wrote %s in %.2f s\n", out, seconds);
}

static int exists(const char *dir, const char *name, int want_dir)
{
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return !stat(path, &sb) && (want_dir ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
}

int cmd_prepare(int argc, char **argv)
{
    static const struct option options[] = {
        {"from", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"classes", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'F'},
        {"format", required_argument, NULL, 'm'},
        {"size", required_argument, NULL, 's'},
        {"resize", no_argument, NULL, 'r'},
        {"channels", required_argument, NULL, 'C'},
        {"on-bad-image", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    ImportConfig cfg = {.from = DEFAULT_FROM, .out = DEFAULT_OUT};
    FolderConfig fc = {0};
    const char *names[256], *format = "auto", *image_option = NULL;
    int opt, force = 0, out_given = 0;
    char out_name[4096];
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'f': cfg.from = optarg; break;
        case 'o': cfg.out = optarg; out_given = 1; break;
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
        case 'm':
            if (strcmp(optarg, "auto") && strcmp(optarg, "idx") && strcmp(optarg, "images") &&
                strcmp(optarg, "cifar10")) {
                fprintf(stderr, "shardnet prepare: --format must be auto, idx, images or "
                                "cifar10, not '%s'\n", optarg);
                return 2;
            }
            format = optarg;
            break;
        case 's':
            image_option = "--size";
            if (parse_size(optarg, &fc.height, &fc.width)) {
                fprintf(stderr, "shardnet prepare: --size needs HxW with each side 1..16384 "
                                "(e.g. 28x28), not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r': fc.resize = 1; image_option = "--resize"; break;
        case 'C':
            image_option = "--channels";
            if (strcmp(optarg, "1") && strcmp(optarg, "3")) {
                fprintf(stderr, "shardnet prepare: --channels must be 1 or 3, not '%s'\n",
                        optarg);
                return 2;
            }
            fc.channels = (size_t)(optarg[0] - '0');
            break;
        case 'b':
            image_option = "--on-bad-image";
            if (strcmp(optarg, "fail") && strcmp(optarg, "skip")) {
                fprintf(stderr, "shardnet prepare: --on-bad-image must be fail or skip, not "
                                "'%s'\n", optarg);
                return 2;
            }
            fc.skip_bad = !strcmp(optarg, "skip");
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
    if (fc.resize && !fc.height) {
        fprintf(stderr, "shardnet prepare: --resize needs --size HxW (the size to resample to)\n");
        return 2;
    }
    if (!strcmp(format, "auto"))
        format = exists(cfg.from, "train", 1)            ? "images"
                 : exists(cfg.from, "test_batch.bin", 0) ? "cifar10"
                                                         : "idx";
    if (image_option && strcmp(format, "images")) {
        fprintf(stderr, "shardnet prepare: %s is for image folders (--format images), and %s "
                        "is read as %s\n", image_option, cfg.from, format);
        return 2;
    }
    if (cfg.class_names && strcmp(format, "idx")) {
        fprintf(stderr, "shardnet prepare: --classes is for IDX files; %s is read as %s, whose "
                        "class names come from the data\n", cfg.from, format);
        return 2;
    }
    if (!out_given && strcmp(format, "idx")) {
        /* Not Fashion-MNIST: named after the source directory. */
        char from[4096];
        snprintf(from, sizeof from, "%s", cfg.from);
        size_t n = strlen(from);
        while (n > 1 && from[n - 1] == '/')
            from[--n] = '\0';
        const char *slash = strrchr(from, '/'), *name = slash ? slash + 1 : from;
        if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
            fprintf(stderr, "shardnet prepare: give --out FILE (no name to take from --from "
                            "'%s')\n", cfg.from);
            return 2;
        }
        snprintf(out_name, sizeof out_name, "data/%s.h5", name);
        cfg.out = out_name;
    }
    if (outpath_file(cfg.out, "--out", force, "give --force to replace it") < 0) {
        fprintf(stderr, "shardnet prepare: %s\n", base_error());
        return 1;
    }
    double t0 = now();
    if (strcmp(format, "idx")) {
        FolderReport rep;
        Progress p = {isatty(2), t0, t0};
        int rc;
        if (!strcmp(format, "images")) {
            fc.root = cfg.from;
            fc.out = cfg.out;
            fc.progress = progress;
            fc.on_skip = skipped;
            fc.ctx = &p;
            rc = imagefolder_import(&fc, &rep);
        } else {
            rc = cifar10_import(cfg.from, cfg.out, 0, &rep);
        }
        if (rc) {
            fprintf(stderr, "%sshardnet prepare: %s\n", p.tty && p.last != p.start ? "\n" : "",
                    base_error());
            folder_report_free(&rep);
            return 1;
        }
        report_folder(cfg.out, &rep, format, now() - t0);
        folder_report_free(&rep);
        return 0;
    }
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
