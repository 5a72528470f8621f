/* import.h - turn a directory of IDX files into the HDF5 dataset file
 * (dataset.h): the work behind `shardnet prepare`.
 *
 * Inputs, each found as NAME.gz or plain NAME in the source directory:
 *   train-images-idx3-ubyte  train-labels-idx1-ubyte
 *   t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte
 * All four are validated (idx.h) before anything is written; the output
 * directory is created if missing; the output appears only when complete.
 *
 * Class names: the caller's list when given (its length is the class count);
 * otherwise, when the training labels file is Fashion-MNIST's (recognised by
 * its SHA-256, gzip or plain), the ten Fashion-MNIST names; otherwise ten
 * names "0".."9" (MNIST digits and the like).  Labels must be < the count.
 */
#ifndef SHARDNET_IMPORT_H
#define SHARDNET_IMPORT_H

#include <stddef.h>

#include "checksum.h"
#include "dataset.h"

#define IMPORT_NUM_FILES 4

typedef struct {
    const char *from;               /* source directory */
    const char *out;                /* output HDF5 path */
    int num_classes;                /* with class_names; 0 for the default */
    const char *const *class_names; /* NULL for the default */
    int deflate;                    /* 0 none, 1..9 */
} ImportConfig;

typedef struct {
    size_t train, test;            /* sample counts */
    size_t height, width;
    int num_classes;
    int fashion;                   /* 1 when the Fashion-MNIST names were chosen */
    DatasetStats stats;            /* of the training set, x/255 */
    char files[IMPORT_NUM_FILES][4096];
    char sha256[IMPORT_NUM_FILES][CHECKSUM_HEX_LEN + 1];
} ImportReport;

extern const char *const IMPORT_FASHION_CLASSES[10];

int import_idx(const ImportConfig *cfg, ImportReport *rep);

/* mkdir -p of the directory part of path ("a/b/c.h5" creates a/b). */
int import_make_parent(const char *path);

#endif
