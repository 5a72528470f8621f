/* idx.h - read IDX files (the MNIST / Fashion-MNIST format), gzip-compressed
 * or plain: zlib's gzread reads both transparently.
 *
 * Only unsigned-byte IDX is accepted: magic 0x00000803 for images
 * (N, rows, cols) and 0x00000801 for labels (N).  Dimensions are big-endian
 * uint32.  The payload must end exactly where the header says: a short
 * read, a truncated or corrupt gzip stream (gzerror) or trailing bytes are
 * errors.  Every function returns 0, or -1 with base_error() naming the file
 * and what was wrong; nothing here dies on bad input.  The caller owns the
 * Idx and releases it with idx_free (safe on a zeroed Idx).
 */
#ifndef SHARDNET_IDX_H
#define SHARDNET_IDX_H

#include <stddef.h>
#include <stdint.h>

#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAGIC_IMAGES 0x00000803u
/* A header claiming more payload than this is rejected before allocating. */
#define IDX_MAX_BYTES ((size_t)1 << 34)

typedef struct {
    int ndim;         /* 1 for labels, 3 for images */
    size_t dims[3];   /* (N) or (N, rows, cols) */
    size_t count;     /* dims[0] */
    size_t item_size; /* bytes per item: 1 or rows*cols */
    uint8_t *data;    /* (N) or (N, rows, cols), owned */
} Idx;

/* Reads an images file (ndim 3) or a labels file (ndim 1).  Regular files
 * only; a gzip file's trailer (CRC-32, length) must match the data. */
int idx_read(Idx *idx, const char *path, int ndim);
/* The header only (idx->data stays NULL): dims and count, and for a plain
 * file its exact size, so that pairs can be compared before any payload is
 * read. */
int idx_read_header(Idx *idx, const char *path, int ndim);
void idx_free(Idx *idx);

/* Labels all < num_classes; the error names the file, the sample and the label. */
int idx_check_labels(const Idx *labels, const char *path, int num_classes);

/* Reads an images/labels pair and checks counts match and the label range. */
int idx_read_pair(Idx *images, Idx *labels, const char *images_path, const char *labels_path,
                  int num_classes);

/* Finds DIR/STEM.gz or else DIR/STEM; writes the path to out (size n).
 * Returns 0, or -1 when neither exists. */
int idx_find(char *out, size_t n, const char *dir, const char *stem);

#endif
