/* imagefolder.h - an image folder and CIFAR-10's binary batches into the
 * HDF5 dataset file (dataset.h): the work behind `shardnet prepare
 * --format images|cifar10`.
 *
 * IMAGE FOLDER (the layout of torchvision's ImageFolder):
 *   ROOT/train/<class>/<file>.png|.jpg|.jpeg     ROOT/test/<class>/<file>...
 * Class names are the folder names, sorted bytewise (label i = i-th name);
 * both splits must have the same set.  Names starting with '.' are skipped;
 * other files without a .png/.jpg/.jpeg suffix (any case) are not images and
 * are counted as ignored.  Samples are in class order, then file-name order.
 * Each file is decoded and fitted by image.h's rules:
 *   size      cfg height x width, or (both 0) the size of the first image
 *             read; every image must have it unless cfg resize is set.
 *   channels  cfg channels 1 or 3, or (0) 1 when every image is grayscale
 *             (PNG gray, JPEG grayscale) and 3 when any is colour.
 * A bad file (unreadable, not a PNG/JPEG, damaged, alpha or CMYK, wrong
 * size) stops the import with its path and reason, or with skip_bad is
 * passed to on_skip and counted.  Dataset sources: "train" and "test", each
 * with the SHA-256 of its manifest, one line "<class>/<file> <sha256 of the
 * file>\n" per image converted, in sample order.
 *
 * CIFAR-10 (the "binary version"): DIR/data_batch_*.bin (all present,
 * sorted) for training and DIR/test_batch.bin for testing; each file is
 * whole records of 1 label byte + 3072 pixel bytes (R, G, B planes of 32x32,
 * rows top to bottom), so a record is already (C, H, W).  Class names: the
 * non-empty lines of DIR/batches.meta.txt when it exists, else CIFAR-10's
 * ten names; every label must be below their count.  Sources: the file
 * base names and their SHA-256.
 *
 * The output appears only when complete (dataset_write).  Functions return
 * 0, or -1 with base_error() set.  No MPI.
 */
#ifndef SHARDNET_IMAGEFOLDER_H
#define SHARDNET_IMAGEFOLDER_H

#include <stddef.h>

#include "checksum.h"
#include "dataset.h"

#define IMAGEFOLDER_NAME_LEN 64 /* a class name, with its NUL (checkpoints hold 64) */

typedef struct {
    const char *root, *out;
    size_t channels;      /* 1, 3, or 0: from the images */
    size_t height, width; /* 0, 0: from the first image */
    int resize;           /* resample images of another size */
    int skip_bad;         /* report bad files to on_skip instead of failing */
    int deflate;          /* 0 none, 1..9 */
    /* Optional: called after every file (done of total), and for every
     * skipped file with its message (path: reason). */
    void (*progress)(void *ctx, size_t done, size_t total);
    void (*on_skip)(void *ctx, const char *message);
    void *ctx;
} FolderConfig;

typedef struct {
    size_t train, test;   /* samples written */
    size_t channels, height, width;
    int num_classes;
    char (*class_names)[IMAGEFOLDER_NAME_LEN]; /* (num_classes), owned */
    size_t skipped;       /* bad files skipped */
    size_t ignored;       /* files that are not .png/.jpg/.jpeg */
    int any_colour;       /* some image was RGB */
    char sha256[2][CHECKSUM_HEX_LEN + 1]; /* manifests (folder) */
    size_t num_files;     /* CIFAR-10: the batch files read */
    char files[8][4096];
    char file_sha256[8][CHECKSUM_HEX_LEN + 1];
    DatasetStats stats;   /* training pixels, x/255, as written */
} FolderReport;

extern const char *const CIFAR10_CLASSES[10];

int imagefolder_import(const FolderConfig *cfg, FolderReport *rep);
int cifar10_import(const char *dir, const char *out, int deflate, FolderReport *rep);
void folder_report_free(FolderReport *rep);

#endif
