/* fixtures.c - see fixtures.h.  Failures here are test failures (fail_msg). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fixtures.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base.h"
#include "dataset.h"
#include "idx.h"

char *fixture_tmpdir(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/shardnet-test-XXXXXX", base);
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp %s failed", tmpl);
    return xstrdup(tmpl);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fixture_rmdir(char *dir)
{
    if (dir)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

const char *fixture_path(const char *dir, const char *name)
{
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

int fixture_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        fail_msg("opendir %s failed", dir);
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

uint8_t *fixture_images(size_t n, size_t size)
{
    uint8_t *x = xmalloc(n * size);
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < size; p++)
            x[i * size + p] = p == 0 ? (uint8_t)(i % 256)
                            : p == 1 ? (uint8_t)(i / 256 % 256)
                                     : (uint8_t)((i * 7 + p * 13) % 256);
    return x;
}

uint8_t *fixture_labels(size_t n)
{
    uint8_t *y = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        y[i] = (uint8_t)(i % 10);
    return y;
}

size_t fixture_index_of(const uint8_t *sample) { return sample[0] + 256 * (size_t)sample[1]; }

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void fixture_write_idx(const char *path, uint32_t magic, int ndim, const uint32_t *dims,
                       const uint8_t *data, size_t nbytes, int gz)
{
    uint8_t head[16];
    if (ndim != 1 && ndim != 3)
        fail_msg("fixture_write_idx: ndim %d", ndim);
    size_t hsize = 4 + 4 * (size_t)ndim;
    put_be32(head, magic);
    for (int d = 0; d < ndim && d < 3; d++)
        put_be32(head + 4 + 4 * d, dims[d]);
    gzFile f = gzopen(path, gz ? "wb" : "wbT");
    if (!f)
        fail_msg("cannot create %s", path);
    if (gzwrite(f, head, (unsigned)hsize) != (int)hsize ||
        (nbytes && gzwrite(f, data, (unsigned)nbytes) != (int)nbytes))
        fail_msg("cannot write %s", path);
    if (gzclose(f) != Z_OK)
        fail_msg("cannot close %s", path);
}

static void write_pair(const char *dir, const char *images, const char *labels, size_t n,
                       size_t rows, size_t cols, int gz)
{
    char name[256];
    uint8_t *x = fixture_images(n, rows * cols), *y = fixture_labels(n);
    uint32_t idims[3] = {(uint32_t)n, (uint32_t)rows, (uint32_t)cols}, ldims[1] = {(uint32_t)n};
    snprintf(name, sizeof name, "%s%s", images, gz ? ".gz" : "");
    fixture_write_idx(fixture_path(dir, name), IDX_MAGIC_IMAGES, 3, idims, x, n * rows * cols, gz);
    snprintf(name, sizeof name, "%s%s", labels, gz ? ".gz" : "");
    fixture_write_idx(fixture_path(dir, name), IDX_MAGIC_LABELS, 1, ldims, y, n, gz);
    free(x);
    free(y);
}

void fixture_write_idx_set(const char *dir, size_t ntrain, size_t ntest, size_t rows,
                           size_t cols, int gz)
{
    write_pair(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", ntrain, rows, cols, gz);
    write_pair(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", ntest, rows, cols, gz);
}

void fixture_write_dataset(const char *path, size_t ntrain, size_t ntest, size_t c, size_t h,
                           size_t w)
{
    static const char *const names[10] = {"c0", "c1", "c2", "c3", "c4",
                                          "c5", "c6", "c7", "c8", "c9"};
    static const char *const files[1] = {"synthetic"};
    static const char *const sha[1] = {"00"};
    uint8_t *xt = fixture_images(ntrain, c * h * w), *yt = fixture_labels(ntrain);
    uint8_t *xe = fixture_images(ntest, c * h * w), *ye = fixture_labels(ntest);
    DatasetContents contents = {
        .train = {xt, yt, ntrain}, .test = {xe, ye, ntest},
        .channels = c, .height = h, .width = w,
        .num_classes = 10, .class_names = names,
        .num_sources = 1, .source_files = files, .source_sha256 = sha,
        .chunk = FIXTURE_CHUNK,
    };
    if (dataset_write(path, &contents, NULL))
        fail_msg("fixture_write_dataset: %s", base_error());
    free(xt);
    free(yt);
    free(xe);
    free(ye);
}
