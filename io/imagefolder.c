/* imagefolder.c - image folders and CIFAR-10 batches -> HDF5 dataset; see
 * imagefolder.h.
 *
 * The folder is listed completely (and the class sets compared) before any
 * image is decoded, so a layout mistake is reported at once.  Each file is
 * read into memory once: hashed for the manifest, then decoded.  The output
 * buffer holds every sample; with channels chosen from the images it holds
 * three planes per sample and is compacted to one at the end when every
 * image was grayscale. */
#include "imagefolder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base.h"
#include "dataset.h"
#include "image.h"
#include "import.h"
#include "jsonw.h"
#include "paths.h"

const char *const CIFAR10_CLASSES[10] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

static const char *const SPLITS[2] = {"train", "test"};

typedef struct {
    char **names;
    size_t count, cap;
} Names;

static void names_add(Names *n, const char *s)
{
    if (n->count == n->cap) {
        n->cap = n->cap ? 2 * n->cap : 64;
        char **grown = realloc(n->names, n->cap * sizeof *grown);
        if (!grown)
            die("out of memory listing %zu names", n->cap);
        n->names = grown;
    }
    n->names[n->count++] = xstrdup(s);
}

static void names_free(Names *n)
{
    for (size_t i = 0; i < n->count; i++)
        free(n->names[i]);
    free(n->names);
    *n = (Names){0};
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                   !strcasecmp(dot, ".jpeg"));
}

/* The entries of dir that are directories (dirs) or else regular files,
 * sorted, hidden ones skipped; *other counts entries of the other kind. */
static int list_dir(const char *dir, int dirs, Names *out, size_t *other)
{
    DIR *d = opendir(dir);
    if (!d)
        return base_error_set("%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, 0)) {
            int err = errno;
            closedir(d);
            return base_error_set("%s/%s: cannot stat: %s", dir, e->d_name, strerror(err));
        }
        if (dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode) && is_image_name(e->d_name))
            names_add(out, e->d_name);
        else if (other)
            (*other)++;
    }
    closedir(d);
    if (out->count)
        qsort(out->names, out->count, sizeof *out->names, cmp_str);
    return 0;
}

/* The classes of both splits, which must agree. */
static int list_classes(const char *root, Names *classes)
{
    Names split[2] = {{0}};
    char path[4096];
    int rc = 0;
    for (int s = 0; s < 2 && !rc; s++) {
        snprintf(path, sizeof path, "%s/%s", root, SPLITS[s]);
        rc = list_dir(path, 1, &split[s], NULL);
        if (rc) {
            char why[4096];
            snprintf(why, sizeof why, "%s", base_error());
            base_error_set("%s (an image folder holds ROOT/train/<class>/ and "
                           "ROOT/test/<class>/)", why);
        }
        else if (!split[s].count)
            rc = base_error_set("%s: no class folders (an image folder holds "
                                "ROOT/%s/<class>/<images>)", path, SPLITS[s]);
    }
    for (size_t i = 0; !rc && (i < split[0].count || i < split[1].count); i++) {
        const char *a = i < split[0].count ? split[0].names[i] : NULL;
        const char *b = i < split[1].count ? split[1].names[i] : NULL;
        if (!a || !b || strcmp(a, b)) {
            /* The smaller name is the one missing from the other split. */
            int in_train = a && (!b || strcmp(a, b) < 0);
            rc = base_error_set("%s/%s has class '%s' but %s/%s has not: both splits need the "
                                "same class folders", root, in_train ? "train" : "test",
                                in_train ? a : b, root, in_train ? "test" : "train");
        }
    }
    if (!rc && split[0].count > DATASET_MAX_CLASSES)
        rc = base_error_set("%s/train: %zu class folders; at most %d are possible", root,
                            split[0].count, DATASET_MAX_CLASSES);
    for (size_t i = 0; !rc && i < split[0].count; i++)
        if (strlen(split[0].names[i]) >= IMAGEFOLDER_NAME_LEN)
            rc = base_error_set("%s/train/%s: class name longer than %d bytes", root,
                                split[0].names[i], IMAGEFOLDER_NAME_LEN - 1);
    if (!rc) {
        *classes = split[0];
        split[0] = (Names){0};
    }
    names_free(&split[0]);
    names_free(&split[1]);
    return rc;
}

typedef struct {
    char *path;       /* ROOT/split/class/file */
    const char *rel;  /* class/file, inside path */
    uint8_t label;
} Entry;

typedef struct {
    Entry *e;
    size_t count, cap;
} Entries;

static int list_files(const char *root, int split, const Names *classes, Entries *out,
                      size_t *ignored)
{
    char dir[4096];
    for (size_t c = 0; c < classes->count; c++) {
        snprintf(dir, sizeof dir, "%s/%s/%s", root, SPLITS[split], classes->names[c]);
        Names files = {0};
        if (list_dir(dir, 0, &files, ignored))
            return -1;
        for (size_t i = 0; i < files.count; i++) {
            if (out->count == out->cap) {
                out->cap = out->cap ? 2 * out->cap : 1024;
                Entry *grown = realloc(out->e, out->cap * sizeof *grown);
                if (!grown)
                    die("out of memory listing %zu files", out->cap);
                out->e = grown;
            }
            size_t n = strlen(dir) + strlen(files.names[i]) + 2;
            char *path = xmalloc(n);
            snprintf(path, n, "%s/%s", dir, files.names[i]);
            out->e[out->count++] = (Entry){path, path + strlen(root) + strlen(SPLITS[split]) + 2,
                                           (uint8_t)c};
        }
        names_free(&files);
    }
    if (!out->count)
        return base_error_set("%s/%s: no .png, .jpg or .jpeg files in any class folder", root,
                              SPLITS[split]);
    return 0;
}

static void entries_free(Entries *en)
{
    for (size_t i = 0; i < en->count; i++)
        free(en->e[i].path);
    free(en->e);
    *en = (Entries){0};
}

/* The converted samples of both splits. */
typedef struct {
    uint8_t *images[2], *labels[2];
    size_t count[2];
    size_t planes;        /* channels per sample in the buffers (3 while undecided) */
    Text manifest[2];
} Samples;

/* Reads, hashes, decodes and fits one file into the next row of its split.
 * 1 when the file is bad (base_error() says why), 0 when converted. */
static int convert_one(const FolderConfig *cfg, FolderReport *rep, Samples *s, int split,
                       const Entry *en, size_t capacity)
{
    uint8_t *bytes;
    size_t n;
    Image img = {0};
    if (image_slurp(en->path, &bytes, &n))
        return 1;
    int bad = image_decode(&img, bytes, n, en->path) != 0;
    if (!bad && !rep->height) {
        /* The first image read sets the size. */
        rep->height = img.height;
        rep->width = img.width;
    }
    if (!bad && !s->images[0]) {
        size_t sample = s->planes * rep->height * rep->width;
        s->images[0] = xmalloc(capacity * sample);
        s->images[1] = s->images[0]; /* rows of both splits follow each other */
    }
    if (!bad) {
        size_t sample = s->planes * rep->height * rep->width;
        uint8_t *row = s->images[split] + s->count[split] * sample;
        bad = image_fit(&img, s->planes, rep->height, rep->width, cfg->resize, row, en->path);
    }
    if (!bad) {
        char hex[CHECKSUM_HEX_LEN + 1];
        if (checksum_sha256(bytes, n, hex))
            die("%s", base_error());
        text_printf(&s->manifest[split], "%s %s\n", en->rel, hex);
        rep->any_colour |= img.channels == 3;
        s->labels[split][s->count[split]++] = en->label;
    }
    image_free(&img);
    free(bytes);
    return bad;
}

/* Keeps plane 0 of every 3-plane sample (all images were gray: R = G = B). */
static void compact_to_gray(uint8_t *images, size_t count, size_t plane)
{
    for (size_t i = 0; i < count; i++)
        memmove(images + i * plane, images + i * 3 * plane, plane);
}

static int convert_all(const FolderConfig *cfg, FolderReport *rep, Entries en[2], Samples *s)
{
    size_t total = en[0].count + en[1].count, done = 0;
    for (int split = 0; split < 2; split++) {
        s->labels[split] = xmalloc(en[split].count + 1);
        text_init(&s->manifest[split]);
    }
    for (int split = 0; split < 2; split++) {
        if (split == 1 && s->images[0]) {
            /* Test rows start after the training rows actually kept. */
            s->images[1] = s->images[0] + s->count[0] * s->planes * rep->height * rep->width;
        }
        for (size_t i = 0; i < en[split].count; i++) {
            if (convert_one(cfg, rep, s, split, &en[split].e[i], total)) {
                if (!cfg->skip_bad) {
                    char why[4096];
                    snprintf(why, sizeof why, "%s", base_error());
                    return base_error_set("%s (give --on-bad-image skip to leave bad images "
                                          "out)", why);
                }
                rep->skipped++;
                if (cfg->on_skip)
                    cfg->on_skip(cfg->ctx, base_error());
            }
            if (cfg->progress)
                cfg->progress(cfg->ctx, ++done, total);
        }
        if (!s->count[split])
            return base_error_set("%s/%s: no usable images (%zu skipped as bad)", cfg->root,
                                  SPLITS[split], rep->skipped);
    }
    return 0;
}

int imagefolder_import(const FolderConfig *cfg, FolderReport *rep)
{
    *rep = (FolderReport){0};
    if (cfg->channels != 0 && cfg->channels != 1 && cfg->channels != 3)
        return base_error_set("channels must be 1 or 3, not %zu", cfg->channels);
    if ((cfg->height == 0) != (cfg->width == 0) || (cfg->resize && !cfg->height))
        return base_error_set("a size needs both height and width (and resizing needs a size)");
    rep->height = cfg->height;
    rep->width = cfg->width;
    Names classes = {0};
    Entries en[2] = {{0}};
    Samples s = {.planes = cfg->channels ? cfg->channels : 3};
    int rc = list_classes(cfg->root, &classes);
    for (int split = 0; split < 2 && !rc; split++)
        rc = list_files(cfg->root, split, &classes, &en[split], &rep->ignored);
    if (!rc) {
        PathRole out = {"--out", cfg->out};
        rc = paths_check_outputs(&out, 1, NULL, 0);
    }
    if (!rc)
        rc = convert_all(cfg, rep, en, &s);
    if (!rc) {
        size_t plane = rep->height * rep->width;
        rep->channels = s.planes;
        if (!cfg->channels && !rep->any_colour) {
            compact_to_gray(s.images[0], s.count[0] + s.count[1], plane);
            rep->channels = 1;
            s.images[1] = s.images[0] + s.count[0] * plane;
        }
        rep->num_classes = (int)classes.count;
        rep->class_names = xcalloc(classes.count, sizeof *rep->class_names);
        for (size_t i = 0; i < classes.count; i++)
            snprintf(rep->class_names[i], IMAGEFOLDER_NAME_LEN, "%s", classes.names[i]);
        for (int split = 0; split < 2; split++)
            if (checksum_sha256(s.manifest[split].data, s.manifest[split].len,
                                rep->sha256[split]))
                die("%s", base_error());
        const char *sources[2] = {"train", "test"};
        const char *sha[2] = {rep->sha256[0], rep->sha256[1]};
        DatasetContents c = {
            .train = {s.images[0], s.labels[0], s.count[0]},
            .test = {s.images[1], s.labels[1], s.count[1]},
            .channels = rep->channels, .height = rep->height, .width = rep->width,
            .num_classes = rep->num_classes,
            .class_names = (const char *const *)classes.names,
            .num_sources = 2, .source_files = sources, .source_sha256 = sha,
            .source_format = "images", .source_path = cfg->root,
            .deflate = cfg->deflate,
        };
        rep->train = s.count[0];
        rep->test = s.count[1];
        rc = import_make_parent(cfg->out);
        if (!rc)
            rc = dataset_write(cfg->out, &c, &rep->stats);
    }
    free(s.images[0]);
    for (int split = 0; split < 2; split++) {
        free(s.labels[split]);
        text_free(&s.manifest[split]);
        entries_free(&en[split]);
    }
    names_free(&classes);
    return rc;
}

/* ---- CIFAR-10 ---- */

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_MAX_FILES 8

/* DIR/batches.meta.txt's non-empty lines, trailing blanks removed; 0 names
 * when the file does not exist. */
static int cifar_meta(const char *dir, Names *names)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : base_error_set("%s: cannot open: %s", path, strerror(errno));
    char line[1024];
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
                     line[n - 1] == '\t'))
            line[--n] = '\0';
        if (!n)
            continue;
        if (n >= IMAGEFOLDER_NAME_LEN)
            rc = base_error_set("%s: class name '%s' longer than %d bytes", path, line,
                                IMAGEFOLDER_NAME_LEN - 1);
        else if (names->count == DATASET_MAX_CLASSES)
            rc = base_error_set("%s: more than %d class names", path, DATASET_MAX_CLASSES);
        else
            names_add(names, line);
    }
    fclose(f);
    return rc;
}

/* Appends the records of one batch file to images/labels. */
static int cifar_read(const char *path, uint8_t **images, uint8_t **labels, size_t *count)
{
    uint8_t *bytes;
    size_t n;
    if (image_slurp(path, &bytes, &n))
        return -1;
    if (n == 0 || n % CIFAR_RECORD) {
        free(bytes);
        return base_error_set("%s: %zu bytes is not a whole number of %d-byte CIFAR-10 records "
                              "(1 label + 3x32x32 pixels): truncated or not a CIFAR-10 batch",
                              path, n, CIFAR_RECORD);
    }
    size_t records = n / CIFAR_RECORD;
    uint8_t *im = realloc(*images, (*count + records) * CIFAR_PIXELS);
    uint8_t *lb = realloc(*labels, *count + records);
    if (!im || !lb)
        die("out of memory reading %s", path);
    *images = im;
    *labels = lb;
    for (size_t r = 0; r < records; r++) {
        lb[*count + r] = bytes[r * CIFAR_RECORD];
        memcpy(im + (*count + r) * CIFAR_PIXELS, bytes + r * CIFAR_RECORD + 1, CIFAR_PIXELS);
    }
    *count += records;
    free(bytes);
    return 0;
}

static int cifar_check_labels(const char *path, const uint8_t *labels, size_t first,
                              size_t count, size_t classes, const char *why)
{
    for (size_t i = first; i < count; i++)
        if (labels[i] >= classes)
            return base_error_set("%s: record %zu has label %d, not below the %zu classes %s",
                                  path, i - first, labels[i], classes, why);
    return 0;
}

int cifar10_import(const char *dir, const char *out, int deflate, FolderReport *rep)
{
    *rep = (FolderReport){0};
    Names batches = {0}, names = {0};
    int rc = 0;
    DIR *d = opendir(dir);
    if (!d)
        rc = base_error_set("%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (!strncmp(e->d_name, "data_batch_", 11) && n > 15 && !strcmp(e->d_name + n - 4, ".bin"))
            names_add(&batches, e->d_name);
    }
    if (d)
        closedir(d);
    if (!rc && !batches.count)
        rc = base_error_set("%s: no data_batch_*.bin files (CIFAR-10's binary version: "
                            "data_batch_1.bin .. data_batch_5.bin and test_batch.bin)", dir);
    if (!rc && batches.count >= CIFAR_MAX_FILES)
        rc = base_error_set("%s: %zu data_batch_*.bin files; at most %d are read", dir,
                            batches.count, CIFAR_MAX_FILES - 1);
    if (!rc) {
        qsort(batches.names, batches.count, sizeof *batches.names, cmp_str);
        names_add(&batches, "test_batch.bin");
        rc = cifar_meta(dir, &names);
    }
    uint8_t *images[2] = {NULL, NULL}, *labels[2] = {NULL, NULL};
    size_t count[2] = {0, 0};
    size_t classes = names.count ? names.count : 10;
    const char *why = names.count ? "named in batches.meta.txt" : "of CIFAR-10";
    for (size_t i = 0; !rc && i < batches.count; i++) {
        int split = i + 1 == batches.count;
        snprintf(rep->files[i], sizeof rep->files[i], "%s/%s", dir, batches.names[i]);
        size_t before = count[split];
        rc = cifar_read(rep->files[i], &images[split], &labels[split], &count[split]);
        if (!rc)
            rc = cifar_check_labels(rep->files[i], labels[split], before, count[split], classes,
                                    why);
        if (!rc)
            rc = checksum_sha256_file(rep->files[i], rep->file_sha256[i]);
        rep->num_files = i + 1;
    }
    if (!rc) {
        PathRole o = {"--out", out}, in[CIFAR_MAX_FILES];
        for (size_t i = 0; i < batches.count; i++)
            in[i] = (PathRole){"the input", rep->files[i]};
        rc = paths_check_outputs(&o, 1, in, batches.count);
    }
    if (!rc) {
        rep->num_classes = (int)classes;
        rep->class_names = xcalloc(classes, sizeof *rep->class_names);
        const char *cls[DATASET_MAX_CLASSES], *sha[CIFAR_MAX_FILES];
        for (size_t i = 0; i < classes; i++) {
            cls[i] = names.count ? names.names[i] : CIFAR10_CLASSES[i];
            snprintf(rep->class_names[i], IMAGEFOLDER_NAME_LEN, "%s", cls[i]);
        }
        for (size_t i = 0; i < batches.count; i++)
            sha[i] = rep->file_sha256[i];
        DatasetContents c = {
            .train = {images[0], labels[0], count[0]},
            .test = {images[1], labels[1], count[1]},
            .channels = 3, .height = CIFAR_SIDE, .width = CIFAR_SIDE,
            .num_classes = (int)classes, .class_names = cls,
            .num_sources = (int)batches.count,
            .source_files = (const char *const *)batches.names, .source_sha256 = sha,
            .source_format = "cifar10", .source_path = dir,
            .deflate = deflate,
        };
        rep->train = count[0];
        rep->test = count[1];
        rep->channels = 3;
        rep->height = rep->width = CIFAR_SIDE;
        rep->any_colour = 1;
        rc = import_make_parent(out);
        if (!rc)
            rc = dataset_write(out, &c, &rep->stats);
    }
    for (int s = 0; s < 2; s++)
        free(images[s]), free(labels[s]);
    names_free(&batches);
    names_free(&names);
    return rc;
}

void folder_report_free(FolderReport *rep)
{
    free(rep->class_names);
    rep->class_names = NULL;
}
