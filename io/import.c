/* import.c - IDX directory -> HDF5 dataset file; see import.h. */
#include "import.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base.h"
#include "dataset.h"
#include "idx.h"
#include "paths.h"

const char *const IMPORT_FASHION_CLASSES[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};
static const char *const DIGIT_CLASSES[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

/* Order: train images, train labels, test images, test labels. */
static const char *const STEMS[IMPORT_NUM_FILES] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",  "t10k-labels-idx1-ubyte",
};

/* SHA-256 of Fashion-MNIST's train-labels-idx1-ubyte, gzip (as in Debian's
 * dataset-fashion-mnist) and decompressed. */
static const char *const FASHION_LABELS_SHA256[2] = {
    "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
};

int import_make_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0777) && errno != EEXIST)
            return base_error_set("%s: cannot create directory: %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0777) && errno != EEXIST)
        return base_error_set("%s: cannot create directory: %s", dir, strerror(errno));
    return 0;
}

/* Finds the four files and checks their headers against each other before
 * any payload is read or hashed: a wrong count or a FIFO is reported at
 * once, not after gigabytes. */
static int find_and_check(const ImportConfig *cfg, ImportReport *rep)
{
    Idx head[IMPORT_NUM_FILES];
    for (int i = 0; i < IMPORT_NUM_FILES; i++)
        if (idx_find(rep->files[i], sizeof rep->files[i], cfg->from, STEMS[i]) ||
            idx_read_header(&head[i], rep->files[i], i % 2 ? 1 : 3))
            return -1;
    for (int i = 0; i < IMPORT_NUM_FILES; i += 2)
        if (head[i].count != head[i + 1].count)
            return base_error_set("%s has %zu images but %s has %zu labels", rep->files[i],
                                  head[i].count, rep->files[i + 1], head[i + 1].count);
    if (head[0].dims[1] != head[2].dims[1] || head[0].dims[2] != head[2].dims[2])
        return base_error_set("%s has %zux%zu images but %s has %zux%zu", rep->files[0],
                              head[0].dims[1], head[0].dims[2], rep->files[2], head[2].dims[1],
                              head[2].dims[2]);
    return 0;
}

static int hash_inputs(ImportReport *rep)
{
    for (int i = 0; i < IMPORT_NUM_FILES; i++)
        if (checksum_sha256_file(rep->files[i], rep->sha256[i]))
            return -1;
    return 0;
}

static void choose_classes(const ImportConfig *cfg, ImportReport *rep, const char *const **names)
{
    if (cfg->class_names) {
        rep->num_classes = cfg->num_classes;
        *names = cfg->class_names;
        return;
    }
    rep->fashion = !strcmp(rep->sha256[1], FASHION_LABELS_SHA256[0]) ||
                   !strcmp(rep->sha256[1], FASHION_LABELS_SHA256[1]);
    rep->num_classes = 10;
    *names = rep->fashion ? IMPORT_FASHION_CLASSES : DIGIT_CLASSES;
}

static int check_shapes(const Idx *train, const Idx *test, const ImportReport *rep)
{
    if (train->dims[1] != test->dims[1] || train->dims[2] != test->dims[2])
        return base_error_set("%s has %zux%zu images but %s has %zux%zu", rep->files[0],
                              train->dims[1], train->dims[2], rep->files[2], test->dims[1],
                              test->dims[2]);
    return 0;
}

static int write_output(const ImportConfig *cfg, ImportReport *rep, const Idx *idx,
                        const char *const *names)
{
    const char *base[IMPORT_NUM_FILES], *sha[IMPORT_NUM_FILES];
    for (int i = 0; i < IMPORT_NUM_FILES; i++) {
        const char *slash = strrchr(rep->files[i], '/');
        base[i] = slash ? slash + 1 : rep->files[i];
        sha[i] = rep->sha256[i];
    }
    DatasetContents c = {
        .train = {idx[0].data, idx[1].data, idx[0].count},
        .test = {idx[2].data, idx[3].data, idx[2].count},
        .channels = 1, .height = idx[0].dims[1], .width = idx[0].dims[2],
        .num_classes = rep->num_classes, .class_names = names,
        .num_sources = IMPORT_NUM_FILES, .source_files = base, .source_sha256 = sha,
        .source_format = "idx", .source_path = cfg->from,
        .deflate = cfg->deflate,
    };
    rep->train = c.train.count;
    rep->test = c.test.count;
    rep->height = c.height;
    rep->width = c.width;
    if (import_make_parent(cfg->out))
        return -1;
    return dataset_write(cfg->out, &c, &rep->stats);
}

int import_idx(const ImportConfig *cfg, ImportReport *rep)
{
    *rep = (ImportReport){0};
    const char *const *names = NULL;
    if (find_and_check(cfg, rep))
        return -1;
    PathRole out = {"--out", cfg->out}, in[IMPORT_NUM_FILES];
    for (int i = 0; i < IMPORT_NUM_FILES; i++)
        in[i] = (PathRole){"the input", rep->files[i]};
    if (paths_check_outputs(&out, 1, in, IMPORT_NUM_FILES) < 0)
        return -1;
    Idx idx[IMPORT_NUM_FILES] = {{0}};
    /* Validate every byte first (labels against the most classes any
     * naming allows), hash the validated files, then the class count. */
    int rc = idx_read_pair(&idx[0], &idx[1], rep->files[0], rep->files[1], DATASET_MAX_CLASSES);
    if (!rc)
        rc = idx_read_pair(&idx[2], &idx[3], rep->files[2], rep->files[3], DATASET_MAX_CLASSES);
    if (!rc)
        rc = hash_inputs(rep);
    if (!rc) {
        choose_classes(cfg, rep, &names);
        for (int i = 1; i < IMPORT_NUM_FILES && !rc; i += 2)
            rc = idx_check_labels(&idx[i], rep->files[i], rep->num_classes);
    }
    if (!rc)
        rc = check_shapes(&idx[0], &idx[2], rep);
    if (!rc)
        rc = write_output(cfg, rep, idx, names);
    for (int i = 0; i < IMPORT_NUM_FILES; i++)
        idx_free(&idx[i]);
    return rc;
}
