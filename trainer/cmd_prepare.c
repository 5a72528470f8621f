/* cmd_prepare.c - `shardnet prepare`: import a dataset into one HDF5 file:
 * the four IDX files of Fashion-MNIST and the like (io/import.h), an image
 * folder or CIFAR-10's binary batches (io/imagefolder.h).
 * Exit status: 0 written, 1 failed (nothing written), 2 usage error. */
#include <errno.h>
#include <stdbool.h>
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
#include "opts.h"

#define DEFAULT_FROM "/usr/share/datasets/fashion-mnist"
#define DEFAULT_OUT "data/fashion-mnist.h5"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: shardnet prepare [--from DIR] [--out FILE] [--force] [--format F]\n"
            "                        [--classes A,B,...] [--size HxW] [--resize]\n"
            "                        [--channels 1|3] [--on-bad-image fail|skip]\n\n"
            "Converts a dataset into one HDF5 file.  Formats (--format; auto: images when\n"
            "DIR/train is a directory, cifar10 when DIR/test_batch.bin exists, else idx):\n"
            "  idx      train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
            "           t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each .gz or plain)\n"
            "  images   DIR/train/<class>/*.png|jpg|jpeg and DIR/test/<class>/...; classes\n"
            "           are the folder names, sorted, the same in both splits\n"
            "  cifar10  DIR/data_batch_*.bin and DIR/test_batch.bin (CIFAR-10's binary\n"
            "           version); class names from DIR/batches.meta.txt when present\n\n"
            "  --from DIR         source directory (default: " DEFAULT_FROM ")\n"
            "  --out FILE         output file, missing directories created; an existing\n"
            "                     FILE is refused (default: " DEFAULT_OUT " for idx,\n"
            "                     data/NAME.h5 for images and cifar10, NAME being DIR's\n"
            "                     last component)\n"
            "  --force            replace an existing --out FILE\n"
            "  --format F         auto, idx, images or cifar10 (default: auto)\n"
            "  --classes A,B,...  idx: class names, their number is the class count (default:\n"
            "                     Fashion-MNIST's ten names when the training labels are\n"
            "                     Fashion-MNIST's, else \"0\"..\"9\")\n"
            "images only:\n"
            "  --size HxW         image size; every image must have it, unless --resize\n"
            "                     (default: the first image's)\n"
            "  --resize           resample images of another size to --size (bilinear,\n"
            "                     antialiased when shrinking; needs --size)\n"
            "  --channels 1|3     1: gray (RGB images by BT.601 luma), 3: RGB (gray images\n"
            "                     copied to R, G, B) (default: 1 when every image is gray,\n"
            "                     else 3)\n"
            "  --on-bad-image A   fail: stop at the first bad image, naming it; skip: name\n"
            "                     each bad image on stderr, leave it out, count them\n"
            "                     (default: fail).  Bad: unreadable, not a PNG/JPEG,\n"
            "                     damaged, with an alpha channel or CMYK, or of the wrong size\n"
            "  --help             this text\n"
            "Exit status: 0 written, 1 failed (nothing written), 2 usage error.\n");
}

/* --classes A,B,...: the names, split from a copy of the value (text,
 * owned: free it). */
typedef struct {
    char *text;
    const char *names[256];
    int n;
} ClassList;

static int parse_classes(const char *arg, void *dst)
{
    ClassList *l = dst;
    free(l->text);
    l->text = xstrdup(arg);
    l->n = 0;
    for (char *p = l->text;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p)
            return base_error_set("'%s' has an empty name", arg);
        if (l->n == 256)
            return base_error_set("more than 256 names");
        l->names[l->n++] = p;
        if (!comma)
            return 0;
        p = comma + 1;
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
    printf("\nprepare: training pixels x/255: mean %.6f, std %.6f\n", rep->stats.pixel_mean,
           rep->stats.pixel_std);
    for (int i = 0; i < IMPORT_NUM_FILES; i++)
        printf("prepare: %s sha256 %s\n", rep->files[i], rep->sha256[i]);
    printf("prepare: wrote %s in %.2f s\n", cfg->out, seconds);
}

/* --size "28x28" -> (size_t[2]){28, 28}, each side 1..16384. */
static int parse_size(const char *s, void *dst)
{
    size_t *hw = dst;
    char *end;
    if (*s < '1' || *s > '9')
        return base_error_set("'%s' is not valid", s);
    unsigned long a = strtoul(s, &end, 10);
    if (*end != 'x' || end[1] < '1' || end[1] > '9')
        return base_error_set("'%s' is not valid", s);
    unsigned long b = strtoul(end + 1, &end, 10);
    if (*end)
        return base_error_set("'%s' is not valid", s);
    if (a > 16384 || b > 16384)
        return base_error_set("%s is out of range", s);
    hw[0] = a;
    hw[1] = b;
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
    printf("\nprepare: training pixels x/255: mean %.6f, std %.6f\n", rep->stats.pixel_mean,
           rep->stats.pixel_std);
    if (rep->channels > 1) {
        printf("prepare: per channel (what --normalize uses): mean");
        for (size_t c = 0; c < rep->channels; c++)
            printf(" %.6f", rep->stats.channel_mean[c]);
        printf(", std");
        for (size_t c = 0; c < rep->channels; c++)
            printf(" %.6f", rep->stats.channel_std[c]);
        printf("\n");
    }
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

/* The checks between options once the format is known (auto resolved
 * into *format), and the default --out of a folder or CIFAR-10 into
 * out_name; -1 with base_error() "--opt: what is wrong (what is allowed)". */
static int settle(ImportConfig *cfg, const char **format, const char *image_option,
                  bool resize, bool size_given, bool out_given, char *out_name, size_t cap)
{
    if (resize && !size_given)
        return base_error_set("--resize: no --size to resample to (give --size HxW with it)");
    if (!strcmp(*format, "auto"))
        *format = exists(cfg->from, "train", 1)            ? "images"
                  : exists(cfg->from, "test_batch.bin", 0) ? "cifar10"
                                                           : "idx";
    if (image_option && strcmp(*format, "images"))
        return base_error_set("--%s: %s is read as %s, not as an image folder (--size, "
                              "--resize, --channels and --on-bad-image are for --format "
                              "images)", image_option, cfg->from, *format);
    if (cfg->class_names && strcmp(*format, "idx"))
        return base_error_set("--classes: %s is read as %s, whose class names come from the "
                              "data (--classes is for --format idx)", cfg->from, *format);
    if (!out_given && strcmp(*format, "idx")) {
        /* Not Fashion-MNIST: named after the source directory. */
        char from[4096];
        snprintf(from, sizeof from, "%s", cfg->from);
        size_t n = strlen(from);
        while (n > 1 && from[n - 1] == '/')
            from[--n] = '\0';
        const char *slash = strrchr(from, '/'), *name = slash ? slash + 1 : from;
        if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
            return base_error_set("--out: not given, and --from '%s' has no name to take for "
                                  "it (give --out FILE)", cfg->from);
        snprintf(out_name, cap, "data/%s.h5", name);
        cfg->out = out_name;
    }
    return 0;
}

/* Writes the dataset: 0, or 1 with the message printed. */
static int run(ImportConfig *cfg, FolderConfig *fc, const char *format, bool force)
{
    if (outpath_file(cfg->out, "--out", force, "give --force to replace it") < 0) {
        fprintf(stderr, "shardnet prepare: %s\n", base_error());
        return 1;
    }
    double t0 = now();
    if (strcmp(format, "idx")) {
        FolderReport rep;
        Progress p = {isatty(2), t0, t0};
        int rc;
        if (!strcmp(format, "images")) {
            fc->root = cfg->from;
            fc->out = cfg->out;
            fc->progress = progress;
            fc->on_skip = skipped;
            fc->ctx = &p;
            rc = imagefolder_import(fc, &rep);
        } else {
            rc = cifar10_import(cfg->from, cfg->out, 0, &rep);
        }
        if (rc) {
            fprintf(stderr, "%sshardnet prepare: %s\n", p.tty && p.last != p.start ? "\n" : "",
                    base_error());
            folder_report_free(&rep);
            return 1;
        }
        report_folder(cfg->out, &rep, format, now() - t0);
        folder_report_free(&rep);
        return 0;
    }
    ImportReport rep;
    if (import_idx(cfg, &rep)) {
        fprintf(stderr, "shardnet prepare: %s\n", base_error());
        return 1;
    }
    report(cfg, &rep, cfg->class_names ? cfg->class_names
                       : rep.fashion   ? IMPORT_FASHION_CLASSES
                                       : (const char *const[]){"0", "1", "2", "3", "4", "5", "6",
                                                               "7", "8", "9"},
           now() - t0);
    return 0;
}

int cmd_prepare(int argc, char **argv)
{
    static const char *const formats[] = {"auto", "idx", "images", "cifar10", NULL};
    static const char *const channel_counts[] = {"1", "3", NULL};
    static const char *const on_bad[] = {"fail", "skip", NULL};
    ImportConfig cfg = {.from = DEFAULT_FROM, .out = DEFAULT_OUT};
    FolderConfig fc = {0};
    ClassList classes = {0};
    size_t size[2] = {0, 0}; /* H, W */
    int format_index = 0, channels_index = -1, on_bad_index = 0;
    bool force = false, resize = false, out_given = false, size_given = false,
         channels_given = false, on_bad_given = false;
    const Opt opts[] = {
        OPTION_STRING("from", &cfg.from, "a directory"),
        OPTION_STRING("out", &cfg.out, "a file name", .given = &out_given),
        OPTION_FLAG("force", &force),
        OPTION_CHOICE("format", &format_index, formats),
        OPTION_CUSTOM("classes", &classes, parse_classes,
                      "1 to 256 non-empty names separated by commas"),
        OPTION_CUSTOM("size", size, parse_size, "HxW with each side 1..16384, e.g. 28x28",
                      .given = &size_given),
        OPTION_FLAG("resize", &resize),
        OPTION_CHOICE("channels", &channels_index, channel_counts, .given = &channels_given),
        OPTION_CHOICE("on-bad-image", &on_bad_index, on_bad, .given = &on_bad_given),
        OPTS_END,
    };
    const OptSpec spec = {"prepare", opts, NULL, 0, 0};
    char out_name[4096];
    int n_pos, rc = opts_parse(&spec, argc, argv, &n_pos);
    if (rc == OPTS_HELP) {
        usage(stdout);
        rc = 0;
    } else if (rc == OPTS_OK) {
        const char *format = formats[format_index];
        const char *image_option = size_given       ? "size"
                                   : resize         ? "resize"
                                   : channels_given ? "channels"
                                   : on_bad_given   ? "on-bad-image"
                                                    : NULL;
        if (classes.n) {
            cfg.num_classes = classes.n;
            cfg.class_names = classes.names;
        }
        fc.height = size[0];
        fc.width = size[1];
        fc.resize = resize;
        fc.channels = channels_index < 0 ? 0 : channels_index ? 3 : 1;
        fc.skip_bad = on_bad_index == 1;
        rc = settle(&cfg, &format, image_option, resize, size_given, out_given, out_name,
                    sizeof out_name) < 0
                 ? opts_fail("prepare", base_error())
                 : run(&cfg, &fc, format, force);
    } else {
        rc = opts_fail("prepare", base_error());
    }
    free(classes.text);
    return rc;
}
