/* dataset.h - the HDF5 file holding a prepared image dataset: writer,
 * validating reader, and sample reads.  No MPI: which rank opens what is the
 * trainer's business.
 *
 * LAYOUT (format_version 3; readable with h5dump and h5py)
 *   /train/images   uint8 (N, C, H, W)   chunked by whole samples
 *   /train/labels   uint8 (N)            chunked
 *   /test/images    uint8 (T, C, H, W)
 *   /test/labels    uint8 (T)
 *   root attributes (`h5dump -A FILE` lists them):
 *     format_version  int32 scalar, 3 (2: as 3 without the per-channel and
 *                     descriptive attributes; still read, its scalar
 *                     pixel_mean/pixel_std applying to every channel)
 *     num_classes     int32 scalar, K in [1, 256]; every label < K
 *     class_names     K variable-length UTF-8 strings
 *     source_files    S variable-length strings: base names of the inputs
 *     source_sha256   S variable-length strings: lower-case hex SHA-256 of each
 *     pixel_mean      float64 scalar: mean of x/255 over all training pixels
 *     pixel_std       float64 scalar: population std of x/255, same pixels
 *     channel_mean    float64 (C): mean of x/255 over the training pixels of
 *                     each channel (what train --normalize subtracts)
 *     channel_std     float64 (C): population std of x/255, per channel
 *     axis_order      string "N,C,H,W": the order of the images' axes
 *     pixel_scale     string "uint8 0..255; the model reads x/255"
 *     source_format   string: what prepare read ("idx", ...)
 *     source_path     string: the input path prepare was given
 *     source_fingerprint  string: SHA-256 (hex) over the source_sha256 list
 *     created_by      string "shardnet VERSION"
 *     created_utc     string: ISO 8601 UTC time of writing, 2026-12-07T18:40:00Z
 *
 * dataset_write builds the file in memory (h5image.h) and writes it with
 * atomic_write_file (".NAME.tmp.XXXXXX" in the target directory, renamed to
 * PATH when complete); on any failure the temporary file is removed, so
 * PATH is either complete or untouched.
 *
 * dataset_open validates the layout (datasets present, uint8, ranks and dims,
 * equal counts, labels < num_classes, attributes, format version); each error
 * names the file and the dataset or attribute.  All functions return 0, or -1
 * with base_error() set.  HDF5's own error-stack printing is switched off by
 * these functions: errors are reported through base_error() instead.
 */
#ifndef SHARDNET_DATASET_H
#define SHARDNET_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "lenet.h"

/* 2: Fletcher-32 on every dataset, checksummed headers; 3: per-channel
 * statistics and the descriptive attributes. */
#define DATASET_FORMAT_VERSION 3
#define DATASET_OLDEST_READABLE 2
#define DATASET_MAX_CLASSES 256
#define DATASET_PIXEL_SCALE "uint8 0..255; the model reads x/255"

typedef enum { DATASET_TRAIN = 0, DATASET_TEST = 1 } DatasetSplit;

/* One split's arrays, as handed to the writer (not owned). */
typedef struct {
    const uint8_t *images; /* (count, C, H, W) */
    const uint8_t *labels; /* (count) */
    size_t count;
} DatasetArrays;

typedef struct {
    DatasetArrays train, test;
    size_t channels, height, width;
    int num_classes;
    const char *const *class_names;   /* (num_classes) */
    int num_sources;
    const char *const *source_files;  /* (num_sources) base names */
    const char *const *source_sha256; /* (num_sources) hex digests */
    const char *source_format;        /* "idx", "images", "cifar10"; NULL: "unknown" */
    const char *source_path;          /* the input prepare was given; NULL: "" */
    int deflate;                      /* 0: no compression, 1..9: deflate level */
    size_t chunk;                     /* samples per chunk; 0: about 1 MiB of images */
} DatasetContents;

typedef struct {
    hid_t file;
    hid_t images[2], labels[2]; /* open datasets, indexed by DatasetSplit */
    size_t count[2];            /* samples per split */
    size_t chunk[2];            /* samples per chunk of images (read granularity) */
    size_t channels, height, width;
    size_t sample_size;         /* C*H*W bytes */
    int format_version;
    int num_classes;
    char **class_names;         /* (num_classes) */
    int num_sources;
    char **source_files, **source_sha256;
    double pixel_mean, pixel_std;     /* over every channel */
    double channel_mean[LENET_MAX_CHANNELS], channel_std[LENET_MAX_CHANNELS]; /* (channels) */
    /* Descriptive attributes of format 3 (owned; "" when the file is format 2). */
    char *source_format, *source_path, *source_fingerprint, *created_by, *created_utc;
} Dataset;

/* What dataset_write computed from the training images and stored as the
 * pixel_mean/pixel_std and channel_mean/channel_std attributes. */
typedef struct {
    double pixel_mean, pixel_std;
    double channel_mean[LENET_MAX_CHANNELS], channel_std[LENET_MAX_CHANNELS]; /* (channels) */
} DatasetStats;

/* stats: NULL, or where the statistics written to the file go. */
int dataset_write(const char *path, const DatasetContents *c, DatasetStats *stats);

/* Mean and population std of x/255 over n bytes. */
void dataset_pixel_stats(const uint8_t *pixels, size_t n, double *mean, double *std);
/* The same per channel over count samples (count, channels, plane):
 * mean[c], std[c] for c < channels. */
void dataset_channel_stats(const uint8_t *images, size_t count, size_t channels, size_t plane,
                           double *mean, double *std);

int dataset_open(Dataset *ds, const char *path);
/* Closes and frees; safe on a zeroed Dataset. */
void dataset_free(Dataset *ds);

/* Samples [first, first+count) of a split.  images: (count, C, H, W), labels: (count). */
int dataset_read_range(const Dataset *ds, DatasetSplit split, size_t first, size_t count,
                       uint8_t *images, uint8_t *labels);

/* Samples index[0..n) (strictly ascending) of a split; sample index[i] goes to
 * row slot[i] of images (rows of C*H*W bytes) and labels.  Reads whole
 * chunk-aligned blocks that contain a wanted sample, one block at a time, so
 * extra memory is one chunk. */
int dataset_read_samples(const Dataset *ds, DatasetSplit split, const uint32_t *index,
                         const size_t *slot, size_t n, uint8_t *images, uint8_t *labels);

#endif
