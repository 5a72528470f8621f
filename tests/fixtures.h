/* fixtures.h - real files for the io tests: a temporary directory, tiny
 * synthetic IDX and HDF5 datasets in which sample i carries its index
 * (pixel 0 = i % 256, pixel 1 = i / 256 % 256, label = i % 10). */
#ifndef SHARDNET_FIXTURES_H
#define SHARDNET_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* mkdtemp under $TMPDIR or /tmp; owned string.  fixture_rmdir removes it
 * with everything inside. */
char *fixture_tmpdir(void);
void fixture_rmdir(char *dir);
/* dir/name into a static buffer of one of 4 rotating slots. */
const char *fixture_path(const char *dir, const char *name);
/* Number of entries in dir (excluding . and ..). */
int fixture_count_entries(const char *dir);

/* (n, size) pixels and (n) labels of the index-carrying pattern; owned. */
uint8_t *fixture_images(size_t n, size_t size);
uint8_t *fixture_labels(size_t n);
size_t fixture_index_of(const uint8_t *sample);

/* Writes an IDX file with the given magic and dims (ndim 1 or 3) and
 * payload; gz selects gzip.  Aborts the test on I/O failure. */
void fixture_write_idx(const char *path, uint32_t magic, int ndim, const uint32_t *dims,
                       const uint8_t *data, size_t nbytes, int gz);
/* The four standard IDX files in dir: ntrain/ntest samples of rows x cols. */
void fixture_write_idx_set(const char *dir, size_t ntrain, size_t ntest, size_t rows,
                           size_t cols, int gz);
/* A valid dataset file (10 classes) of (C, H, W) samples, chunked by
 * FIXTURE_CHUNK samples (not a divisor of the test sizes: partial chunks). */
#define FIXTURE_CHUNK 100
void fixture_write_dataset(const char *path, size_t ntrain, size_t ntest, size_t c, size_t h,
                           size_t w);

#endif
