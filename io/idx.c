/* idx.c - IDX reader over zlib's gz* API; see idx.h for the contract. */
#include "idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "base.h"

/* gzerror's text without the "path: " prefix zlib puts in front of it. */
static const char *gz_message(gzFile f, const char *path, int *errnum)
{
    const char *msg = gzerror(f, errnum);
    /* gzdopen names the stream "<fd:N>", gzopen by its path */
    const char *colon = strstr(msg, ": ");
    if (colon && (msg[0] == '<' || !strncmp(msg, path, strlen(path))))
        msg = colon + 2;
    return msg;
}

/* Reads exactly n bytes or explains why not: gzread takes an unsigned int
 * length, so large payloads go in slices. */
/* The CRC-32 and length of everything decompressed so far: checked against
 * the gzip trailer at the end (see check_trailer). */
static uLong g_crc;
static size_t g_total;

static int read_exact(gzFile f, const char *path, void *buf, size_t n, const char *what)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < (1u << 30) ? n - done : (1u << 30);
        int got = gzread(f, (char *)buf + done, (unsigned)want);
        if (got < 0 || (size_t)got < want) {
            int errnum = Z_OK;
            const char *msg = gz_message(f, path, &errnum);
            size_t have = done + (got > 0 ? (size_t)got : 0);
            /* zlib checks the CRC wherever its buffer reaches the end, which
             * may be while "the header" is read: say what it is. */
            if (errnum == Z_DATA_ERROR && strstr(msg, "incorrect data check"))
                return base_error_set("%s: the gzip CRC-32 does not match the data: the file is "
                                      "corrupt", path);
            /* gzread returns -1 without saying how far it got: no position then. */
            if (errnum != Z_OK && errnum != Z_STREAM_END && got < 0)
                return base_error_set("%s: corrupt or truncated gzip stream in the %s (%s)", path,
                                      what, msg);
            if (errnum != Z_OK && errnum != Z_STREAM_END)
                return base_error_set("%s: corrupt or truncated gzip stream in the %s after %zu of "
                                      "%zu bytes (%s)", path, what, have, n, msg);
            return base_error_set("%s: truncated: the %s has %zu of %zu bytes", path, what, have, n);
        }
        g_crc = crc32(g_crc, (const Bytef *)buf + done, (uInt)want);
        g_total += want;
        done += want;
    }
    return 0;
}

/* zlib checks the gzip trailer only when a read happens to run into it: a
 * file cut exactly after the deflate data was accepted when the payload was
 * read in one large gzread.  So check it here: the last 8 bytes of the file
 * are the CRC-32 and length (mod 2^32) of what was decompressed (a
 * single-member gzip, as gzip writes). */
static int check_trailer(int fd, const char *path)
{
    unsigned char t[8];
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 18 || pread(fd, t, 8, size - 8) != 8)
        return base_error_set("%s: truncated gzip file (no trailer)", path);
    uint32_t crc = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 |
                   (uint32_t)t[3] << 24;
    uint32_t len = (uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 |
                   (uint32_t)t[7] << 24;
    if (crc != (uint32_t)g_crc || len != (uint32_t)g_total)
        return base_error_set("%s: the gzip trailer does not match the data (CRC-32 %08x, "
                              "length %u; the data gives %08x, %u): the file is truncated, "
                              "corrupt or has bytes after its end", path, crc, len, (unsigned)g_crc, (unsigned)g_total);
    return 0;
}

/* After the payload the stream must end cleanly: no extra bytes, and for gzip
 * a complete trailer (its CRC is checked when gzread reaches it). */
static int check_end(gzFile f, const char *path, size_t payload)
{
    unsigned char extra;
    int got = gzread(f, &extra, 1);
    int errnum = Z_OK;
    const char *msg = gz_message(f, path, &errnum);
    if (got > 0)
        return base_error_set("%s: trailing data after the %zu payload bytes the header declares",
                              path, payload);
    if (got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END))
        return base_error_set("%s: corrupt or truncated gzip stream at its end (%s)", path, msg);
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int parse_header(Idx *idx, gzFile f, const char *path, int ndim)
{
    unsigned char head[16];
    uint32_t want = ndim == 3 ? IDX_MAGIC_IMAGES : IDX_MAGIC_LABELS;
    if (read_exact(f, path, head, 4, "header"))
        return -1;
    uint32_t magic = be32(head);
    if (magic != want)
        return base_error_set("%s: wrong magic 0x%08x, expected 0x%08x (unsigned-byte %s, %d "
                              "dimension%s)", path, magic, want, ndim == 3 ? "images" : "labels",
                              ndim, ndim == 1 ? "" : "s");
    if (read_exact(f, path, head + 4, 4 * (size_t)ndim, "header"))
        return -1;
    idx->ndim = ndim;
    idx->item_size = 1;
    for (int d = 0; d < ndim; d++) {
        idx->dims[d] = be32(head + 4 + 4 * d);
        if (idx->dims[d] == 0)
            return base_error_set("%s: dimension %d is 0", path, d);
        if (d > 0)
            idx->item_size *= idx->dims[d];
    }
    idx->count = idx->dims[0];
    if (idx->count > IDX_MAX_BYTES / idx->item_size)
        return base_error_set("%s: header declares %zu x %zu bytes, over the %zu-byte limit", path,
                              idx->count, idx->item_size, IDX_MAX_BYTES);
    return 0;
}

/* Header only (with_data 0) or the whole file.  Only regular files: a FIFO
 * or /dev/zero would never end.  A plain file's size must be exactly what
 * its header declares before anything is allocated. */
static int read_file(Idx *idx, const char *path, int ndim, int with_data)
{
    *idx = (Idx){0};
    if (ndim != 1 && ndim != 3)
        return base_error_set("%s: idx_read supports 1 or 3 dimensions, not %d", path, ndim);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return base_error_set("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
        close(fd);
        return base_error_set("%s: not a regular file (a directory, device or FIFO): give the "
                              "IDX file itself", path);
    }
    int gfd = dup(fd);
    gzFile f = gfd < 0 ? NULL : gzdopen(gfd, "rb");
    if (!f) {
        if (gfd >= 0)
            close(gfd);
        close(fd);
        return base_error_set("%s: cannot open", path);
    }
    gzbuffer(f, 1u << 20);
    g_crc = crc32(0L, Z_NULL, 0);
    g_total = 0;
    int rc = parse_header(idx, f, path, ndim);
    size_t n = idx->count * idx->item_size, head = 4 + 4 * (size_t)ndim;
    if (!rc && gzdirect(f) && (size_t)sb.st_size != head + n)
        rc = base_error_set("%s: %s: the file has %lld bytes, its header declares %zu", path,
                            (size_t)sb.st_size < head + n ? "truncated" : "trailing data",
                            (long long)sb.st_size, head + n);
    if (!rc && with_data) {
        idx->data = xmalloc(n);
        rc = read_exact(f, path, idx->data, n, "data");
        if (!rc)
            rc = check_end(f, path, n);
        if (!rc && !gzdirect(f))
            rc = check_trailer(fd, path);
    }
    gzclose(f);
    close(fd);
    if (rc)
        idx_free(idx);
    return rc;
}

int idx_read(Idx *idx, const char *path, int ndim) { return read_file(idx, path, ndim, 1); }

int idx_read_header(Idx *idx, const char *path, int ndim) { return read_file(idx, path, ndim, 0); }

void idx_free(Idx *idx)
{
    free(idx->data);
    *idx = (Idx){0};
}

int idx_check_labels(const Idx *labels, const char *path, int num_classes)
{
    for (size_t i = 0; i < labels->count; i++)
        if (labels->data[i] >= num_classes)
            return base_error_set("%s: label %d of sample %zu is out of range (must be < %d classes)",
                                  path, labels->data[i], i, num_classes);
    return 0;
}

int idx_read_pair(Idx *images, Idx *labels, const char *images_path, const char *labels_path,
                  int num_classes)
{
    *labels = (Idx){0};
    if (idx_read(images, images_path, 3) || idx_read(labels, labels_path, 1))
        goto fail;
    if (images->count != labels->count) {
        base_error_set("%s has %zu images but %s has %zu labels", images_path, images->count,
                       labels_path, labels->count);
        goto fail;
    }
    if (idx_check_labels(labels, labels_path, num_classes))
        goto fail;
    return 0;
fail:
    idx_free(images);
    idx_free(labels);
    return -1;
}

int idx_find(char *out, size_t n, const char *dir, const char *stem)
{
    struct stat st;
    snprintf(out, n, "%s/%s.gz", dir, stem);
    if (!stat(out, &st))
        return 0;
    snprintf(out, n, "%s/%s", dir, stem);
    if (!stat(out, &st))
        return 0;
    return base_error_set("%s: neither %s nor %s.gz found", dir, stem, stem);
}
