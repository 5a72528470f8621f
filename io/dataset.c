/* dataset.c - HDF5 writer and validating reader of the dataset layout in
 * dataset.h.  The writer goes to a temporary file renamed on success; the
 * reader checks everything it will later rely on, so sample reads need no
 * further validation. */
#include "dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "base.h"
#include "checksum.h"
#include "h5image.h"
#include "lenet.h"
#include "shardnet_version.h"

static const char *const SPLIT_NAME[2] = {"train", "test"};
/* Chunks of about 1 MiB: large enough for fast sequential reads, small enough
 * that a sparse rank does not read much it throws away. */
#define CHUNK_BYTES ((size_t)1 << 20)

static void quiet_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* An HDF5 call on what should be there failed: a checksum failure (a
 * damaged file) is said as such. */
static int damaged(const char *what)
{
    char cause[256];
    h5image_cause(cause);
    return base_error_set("%s: %s (%s): the file is damaged; run shardnet prepare again", what,
                          h5image_is_checksum(cause) ? "checksum error" : "unreadable", cause);
}

/* Prefixes the current base_error() with the file name. */
static int error_in(const char *path)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", base_error());
    return base_error_set("%s: %s", path, msg);
}

static void close_id(hid_t *id, herr_t (*closer)(hid_t))
{
    if (*id > 0)
        closer(*id);
    *id = H5I_INVALID_HID;
}

/* ---- writer ---------------------------------------------------------- */

void dataset_pixel_stats(const uint8_t *pixels, size_t n, double *mean, double *std)
{
    size_t hist[256] = {0};
    for (size_t i = 0; i < n; i++)
        hist[pixels[i]]++;
    double sum = 0, sq = 0;
    for (int v = 0; v < 256; v++)
        sum += (double)hist[v] * (v / 255.0);
    *mean = n ? sum / (double)n : 0;
    for (int v = 0; v < 256; v++)
        sq += (double)hist[v] * (v / 255.0 - *mean) * (v / 255.0 - *mean);
    *std = n ? sqrt(sq / (double)n) : 0;
}

/* One histogram pass per channel: exact sums of x/255 in double, the same
 * arithmetic as dataset_pixel_stats (a 1-channel file's channel_mean equals
 * its pixel_mean bit for bit). */
void dataset_channel_stats(const uint8_t *images, size_t count, size_t channels, size_t plane,
                           double *mean, double *std)
{
    for (size_t c = 0; c < channels; c++) {
        size_t hist[256] = {0};
        for (size_t s = 0; s < count; s++) {
            const uint8_t *x = images + (s * channels + c) * plane;
            for (size_t i = 0; i < plane; i++)
                hist[x[i]]++;
        }
        size_t n = count * plane;
        double sum = 0, sq = 0;
        for (int v = 0; v < 256; v++)
            sum += (double)hist[v] * (v / 255.0);
        mean[c] = n ? sum / (double)n : 0;
        for (int v = 0; v < 256; v++)
            sq += (double)hist[v] * (v / 255.0 - mean[c]) * (v / 255.0 - mean[c]);
        std[c] = n ? sqrt(sq / (double)n) : 0;
    }
}

static int write_scalar(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                        const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, mem_type, value);
    close_id(&attr, H5Aclose);
    close_id(&space, H5Sclose);
    char cause[256];
    return rc < 0 ? base_error_set("cannot write attribute %s: %s", name, h5image_cause(cause)) : 0;
}

static int write_strings(hid_t loc, const char *name, const char *const *s, int n)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : n == 0 ? 0 : H5Awrite(attr, type, s);
    close_id(&attr, H5Aclose);
    close_id(&space, H5Sclose);
    close_id(&type, H5Tclose);
    char cause[256];
    return rc < 0 ? base_error_set("cannot write attribute %s: %s", name, h5image_cause(cause)) : 0;
}

static int write_doubles(hid_t loc, const char *name, const double *v, size_t n)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t attr = H5Acreate2(loc, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, H5T_NATIVE_DOUBLE, v);
    close_id(&attr, H5Aclose);
    close_id(&space, H5Sclose);
    char cause[256];
    return rc < 0 ? base_error_set("cannot write attribute %s: %s", name, h5image_cause(cause)) : 0;
}

/* A scalar variable-length UTF-8 string attribute. */
static int write_string(hid_t loc, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, type, &value);
    close_id(&attr, H5Aclose);
    close_id(&space, H5Sclose);
    close_id(&type, H5Tclose);
    char cause[256];
    return rc < 0 ? base_error_set("cannot write attribute %s: %s", name, h5image_cause(cause)) : 0;
}

static int write_array(hid_t group, const char *name, int rank, const hsize_t *dims,
                       const hsize_t *chunk, int deflate, const uint8_t *data)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    if (deflate)
        H5Pset_deflate(dcpl, (unsigned)deflate);
    H5Pset_fletcher32(dcpl); /* every chunk read is verified */
    hid_t dset = H5Dcreate2(group, name, H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    herr_t rc = dset < 0 ? -1 : H5Dwrite(dset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    close_id(&dset, H5Dclose);
    close_id(&dcpl, H5Pclose);
    close_id(&space, H5Sclose);
    char cause[256];
    return rc < 0 ? base_error_set("cannot write dataset %s: %s", name, h5image_cause(cause)) : 0;
}

static int write_split(hid_t file, const char *name, const DatasetArrays *a,
                       const DatasetContents *c)
{
    size_t sample = c->channels * c->height * c->width;
    size_t rows = c->chunk ? c->chunk : CHUNK_BYTES / sample ? CHUNK_BYTES / sample : 1;
    rows = rows < a->count ? rows : a->count;
    hsize_t dims[4] = {a->count, c->channels, c->height, c->width};
    hsize_t chunk[4] = {rows, c->channels, c->height, c->width};
    hsize_t label_chunk[1] = {a->count < 65536 ? a->count : 65536};
    hid_t group = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0)
        return base_error_set("cannot create group /%s", name);
    int rc = write_array(group, "images", 4, dims, chunk, c->deflate, a->images);
    if (!rc)
        rc = write_array(group, "labels", 1, dims, label_chunk, c->deflate, a->labels);
    H5Gclose(group);
    return rc;
}

static int check_contents(const DatasetContents *c)
{
    if (c->num_classes < 1 || c->num_classes > DATASET_MAX_CLASSES)
        return base_error_set("num_classes %d is not in [1, %d]", c->num_classes,
                              DATASET_MAX_CLASSES);
    if (!c->channels || !c->height || !c->width)
        return base_error_set("sample shape (%zu, %zu, %zu) has a zero dimension", c->channels,
                              c->height, c->width);
    if (c->channels > LENET_MAX_CHANNELS)
        return base_error_set("%zu channels: shardnet handles at most %d", c->channels,
                              LENET_MAX_CHANNELS);
    if (!c->train.count || !c->test.count)
        return base_error_set("empty split: %zu training and %zu test samples", c->train.count,
                              c->test.count);
    const DatasetArrays *split[2] = {&c->train, &c->test};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < split[s]->count; i++)
            if (split[s]->labels[i] >= c->num_classes)
                return base_error_set("%s label %d of sample %zu is not < num_classes %d",
                                      SPLIT_NAME[s], split[s]->labels[i], i, c->num_classes);
    return 0;
}

/* SHA-256 over the sources' digests, each followed by a newline: one value
 * that names the exact inputs. */
static int source_fingerprint(const DatasetContents *c, char *hex)
{
    size_t len = 0;
    for (int i = 0; i < c->num_sources; i++)
        len += strlen(c->source_sha256[i]) + 1;
    char *all = xmalloc(len + 1), *at = all;
    for (int i = 0; i < c->num_sources; i++)
        at += sprintf(at, "%s\n", c->source_sha256[i]);
    int rc = checksum_sha256(all, len, hex);
    free(all);
    return rc;
}

static int write_attributes(hid_t file, const DatasetContents *c, DatasetStats *st)
{
    int version = DATASET_FORMAT_VERSION;
    double *cmean = st->channel_mean, *cstd = st->channel_std;
    const size_t plane = c->height * c->width;
    dataset_pixel_stats(c->train.images, c->train.count * c->channels * plane, &st->pixel_mean,
                        &st->pixel_std);
    dataset_channel_stats(c->train.images, c->train.count, c->channels, plane, cmean, cstd);
    for (size_t ch = 0; ch < c->channels; ch++)
        if (!(cstd[ch] > 0))
            return base_error_set("channel %zu of the training images is constant (every pixel "
                                  "%.0f): the file could not be normalised; check the input "
                                  "images", ch, cmean[ch] * 255.0);
    char fingerprint[CHECKSUM_HEX_LEN + 1], created[32];
    if (source_fingerprint(c, fingerprint) < 0)
        return -1;
    time_t now = time(NULL);
    struct tm utc;
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &utc));
    if (write_scalar(file, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &version) ||
        write_scalar(file, "num_classes", H5T_STD_I32LE, H5T_NATIVE_INT, &c->num_classes) ||
        write_strings(file, "class_names", c->class_names, c->num_classes) ||
        write_strings(file, "source_files", c->source_files, c->num_sources) ||
        write_strings(file, "source_sha256", c->source_sha256, c->num_sources) ||
        write_scalar(file, "pixel_mean", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &st->pixel_mean) ||
        write_scalar(file, "pixel_std", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &st->pixel_std) ||
        write_doubles(file, "channel_mean", cmean, c->channels) ||
        write_doubles(file, "channel_std", cstd, c->channels) ||
        write_string(file, "axis_order", "N,C,H,W") ||
        write_string(file, "pixel_scale", DATASET_PIXEL_SCALE) ||
        write_string(file, "source_format", c->source_format ? c->source_format : "unknown") ||
        write_string(file, "source_path", c->source_path ? c->source_path : "") ||
        write_string(file, "source_fingerprint", fingerprint) ||
        write_string(file, "created_by", "shardnet " SHARDNET_VERSION) ||
        write_string(file, "created_utc", created))
        return -1;
    return 0;
}

/* Builds the whole file in memory (h5image.h: HDF5 never writes to the
 * target filesystem, whose full disk crashed HDF5's exit handler). */
static int write_file(H5Image *im, const DatasetContents *c, DatasetStats *st)
{
    /* HDF5 1.8 structures: object headers, and with them the attributes,
     * carry HDF5's metadata checksums (a flipped byte of pixel_mean is
     * caught); the datasets carry Fletcher-32. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18);
    hid_t file = h5image_fapl(fapl, im) < 0
                     ? H5I_INVALID_HID
                     : H5Fcreate("shardnet-dataset-image", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    char cause[256];
    if (file < 0)
        return base_error_set("cannot create HDF5 file: %s", h5image_cause(cause));
    int rc = write_split(file, "train", &c->train, c);
    if (!rc)
        rc = write_split(file, "test", &c->test, c);
    if (!rc)
        rc = write_attributes(file, c, st);
    if (H5Fclose(file) < 0 && !rc)
        rc = base_error_set("cannot close HDF5 file: %s", h5image_cause(cause));
    if (!rc && (!im->image || !im->size))
        rc = base_error_set("HDF5 left no file image");
    return rc;
}

int dataset_write(const char *path, const DatasetContents *c, DatasetStats *stats)
{
    DatasetStats own;
    quiet_hdf5();
    if (check_contents(c))
        return error_in(path);
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (atomic_dirname(path, dir, sizeof dir) < 0)
        return error_in(path);
    /* Leftovers of a prepare that was killed (never of a live one: those
     * hold their temporary file locked). */
    atomic_clean_stale(dir, slash ? slash + 1 : path, stderr);
    H5Image im = {0};
    int rc = write_file(&im, c, stats ? stats : &own);
    if (!rc)
        rc = atomic_write_file(path, im.image, im.size);
    free(im.image);
    return rc ? error_in(path) : 0;
}

/* ---- reader ---------------------------------------------------------- */

static int check_uint8(hid_t dset, const char *name)
{
    hid_t type = H5Dget_type(dset);
    int ok = H5Tget_class(type) == H5T_INTEGER && H5Tget_size(type) == 1 &&
             H5Tget_sign(type) == H5T_SGN_NONE;
    size_t size = H5Tget_size(type);
    int is_int = H5Tget_class(type) == H5T_INTEGER;
    H5Tclose(type);
    if (!ok)
        return base_error_set("%s: dtype is %s of %zu byte%s, expected uint8", name,
                              is_int ? "an integer" : "not an unsigned integer", size,
                              size == 1 ? "" : "s");
    return 0;
}

/* Opens NAME, checks uint8 and rank; dims receives the extents. */
static hid_t open_array(hid_t file, const char *name, int rank, hsize_t *dims)
{
    htri_t has = H5Lexists(file, name, H5P_DEFAULT);
    if (has <= 0) {
        if (has < 0)
            damaged(name);
        else
            base_error_set("%s: missing dataset", name);
        return H5I_INVALID_HID;
    }
    hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
    if (dset < 0) {
        char cause[256];
        if (h5image_is_checksum(h5image_cause(cause)))
            damaged(name);
        else
            base_error_set("%s: is not a dataset", name);
        return H5I_INVALID_HID;
    }
    hid_t space = H5Dget_space(dset);
    int got = H5Sget_simple_extent_ndims(space);
    if (got == rank)
        H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    if (check_uint8(dset, name) ||
        (got != rank && base_error_set("%s: has %d dimensions, expected %d", name, got, rank))) {
        H5Dclose(dset);
        return H5I_INVALID_HID;
    }
    return dset;
}

static int has_fletcher32(hid_t dset)
{
    hid_t dcpl = H5Dget_create_plist(dset);
    int ok = h5image_has_fletcher32(dcpl);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return ok;
}

static size_t chunk_rows(hid_t dset, size_t count)
{
    hid_t dcpl = H5Dget_create_plist(dset);
    hsize_t chunk[4] = {0};
    size_t rows = count;
    if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 4, chunk) == 4 && chunk[0] > 0)
        rows = chunk[0];
    H5Pclose(dcpl);
    return rows ? rows : 1;
}

static int check_shape(Dataset *ds, const char *name, const hsize_t *dims, int first)
{
    if (!dims[0] || !dims[1] || !dims[2] || !dims[3])
        return base_error_set("%s: dims (%llu, %llu, %llu, %llu) contain a zero", name,
                              (unsigned long long)dims[0], (unsigned long long)dims[1],
                              (unsigned long long)dims[2], (unsigned long long)dims[3]);
    /* Before any product of them is formed: LeNet's limits, and sample
     * indices that fit the loader's 32-bit permutation. */
    if (dims[0] > UINT32_MAX || dims[1] > LENET_MAX_CHANNELS || dims[2] > LENET_MAX_SIDE ||
        dims[3] > LENET_MAX_SIDE)
        return base_error_set("%s: dims (%llu, %llu, %llu, %llu) are outside what shardnet "
                              "handles: at most %u samples, %d channels, %dx%d pixels", name,
                              (unsigned long long)dims[0], (unsigned long long)dims[1],
                              (unsigned long long)dims[2], (unsigned long long)dims[3],
                              UINT32_MAX, LENET_MAX_CHANNELS, LENET_MAX_SIDE, LENET_MAX_SIDE);
    if (first) {
        ds->channels = dims[1];
        ds->height = dims[2];
        ds->width = dims[3];
        ds->sample_size = ds->channels * ds->height * ds->width;
    } else if (dims[1] != ds->channels || dims[2] != ds->height || dims[3] != ds->width) {
        return base_error_set("%s: sample shape (%llu, %llu, %llu) differs from /train/images "
                              "(%zu, %zu, %zu)", name, (unsigned long long)dims[1],
                              (unsigned long long)dims[2], (unsigned long long)dims[3],
                              ds->channels, ds->height, ds->width);
    }
    return 0;
}

static int open_split(Dataset *ds, int s)
{
    char images[32], labels[32];
    hsize_t idims[4], ldims[1];
    snprintf(images, sizeof images, "/%s/images", SPLIT_NAME[s]);
    snprintf(labels, sizeof labels, "/%s/labels", SPLIT_NAME[s]);
    htri_t has = H5Lexists(ds->file, SPLIT_NAME[s], H5P_DEFAULT);
    if (has < 0)
        return damaged(images);
    if (has == 0)
        return base_error_set("/%s: missing group (datasets %s and %s)", SPLIT_NAME[s], images,
                              labels);
    ds->images[s] = open_array(ds->file, images, 4, idims);
    if (ds->images[s] < 0 || check_shape(ds, images, idims, s == DATASET_TRAIN))
        return -1;
    ds->labels[s] = open_array(ds->file, labels, 1, ldims);
    if (ds->labels[s] < 0)
        return -1;
    if (ldims[0] != idims[0])
        return base_error_set("%s has %llu samples but %s has %llu", images,
                              (unsigned long long)idims[0], labels, (unsigned long long)ldims[0]);
    if (!has_fletcher32(ds->images[s]) || !has_fletcher32(ds->labels[s]))
        return base_error_set("%s or %s has no Fletcher-32 checksums: written by another "
                              "program; run shardnet prepare to make a checked file", images,
                              labels);
    ds->count[s] = idims[0];
    ds->chunk[s] = chunk_rows(ds->images[s], ds->count[s]);
    return 0;
}

static hid_t open_attr(hid_t file, const char *name, H5T_class_t cls, hssize_t npoints)
{
    htri_t has = H5Aexists(file, name);
    hid_t attr = has > 0 ? H5Aopen(file, name, H5P_DEFAULT) : H5I_INVALID_HID;
    if (has == 0) {
        base_error_set("attribute %s: missing", name);
        return H5I_INVALID_HID;
    }
    if (attr < 0) {
        char what[96];
        snprintf(what, sizeof what, "attribute %s", name);
        damaged(what);
        return H5I_INVALID_HID;
    }
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    int ok_class = H5Tget_class(type) == cls;
    hssize_t got = H5Sget_simple_extent_npoints(space);
    H5Tclose(type);
    H5Sclose(space);
    if (!ok_class || (npoints >= 0 && got != npoints)) {
        H5Aclose(attr);
        base_error_set("attribute %s: wrong type or size (%lld values)", name, (long long)got);
        return H5I_INVALID_HID;
    }
    return attr;
}

static int read_scalar(hid_t file, const char *name, H5T_class_t cls, hid_t mem, void *out)
{
    hid_t attr = open_attr(file, name, cls, 1);
    if (attr < 0)
        return -1;
    herr_t rc = H5Aread(attr, mem, out);
    H5Aclose(attr);
    return rc < 0 ? base_error_set("attribute %s: cannot read", name) : 0;
}

/* Reads a string-array attribute into owned copies; *n receives the length
 * (checked against want when want >= 0). */
static int read_strings(hid_t file, const char *name, int want, char ***out, int *n)
{
    hid_t attr = open_attr(file, name, H5T_STRING, want);
    if (attr < 0)
        return -1;
    hid_t space = H5Aget_space(attr);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    hid_t type = H5Aget_type(attr); /* keeps the file's cset: no ASCII/UTF-8 conversion */
    char **raw = xcalloc((size_t)count + 1, sizeof *raw);
    herr_t rc = H5Tis_variable_str(type) <= 0 ? -1 : count ? H5Aread(attr, type, raw) : 0;
    *n = (int)count;
    *out = xcalloc((size_t)count + 1, sizeof **out);
    for (hssize_t i = 0; rc >= 0 && i < count; i++)
        (*out)[i] = xstrdup(raw[i] ? raw[i] : "");
    if (rc >= 0 && count)
        H5Dvlen_reclaim(type, space, H5P_DEFAULT, raw);
    free(raw);
    H5Tclose(type);
    H5Sclose(space);
    H5Aclose(attr);
    return rc < 0 ? base_error_set("attribute %s: cannot read as variable-length strings", name) : 0;
}

static int read_attributes(Dataset *ds)
{
    hid_t f = ds->file;
    if (read_scalar(f, "format_version", H5T_INTEGER, H5T_NATIVE_INT, &ds->format_version))
        return -1;
    if (ds->format_version == 1)
        return base_error_set("attribute format_version: 1, a file without checksums written by "
                              "an older shardnet; run shardnet prepare again (version %d)",
                              DATASET_FORMAT_VERSION);
    if (ds->format_version < DATASET_OLDEST_READABLE || ds->format_version > DATASET_FORMAT_VERSION)
        return base_error_set("attribute format_version: %d, this program reads versions %d to %d",
                              ds->format_version, DATASET_OLDEST_READABLE,
                              DATASET_FORMAT_VERSION);
    if (read_scalar(f, "num_classes", H5T_INTEGER, H5T_NATIVE_INT, &ds->num_classes))
        return -1;
    if (ds->num_classes < 1 || ds->num_classes > DATASET_MAX_CLASSES)
        return base_error_set("attribute num_classes: %d is not in [1, %d]", ds->num_classes,
                              DATASET_MAX_CLASSES);
    int n = 0;
    if (read_strings(f, "class_names", ds->num_classes, &ds->class_names, &n) ||
        read_strings(f, "source_files", -1, &ds->source_files, &ds->num_sources) ||
        read_strings(f, "source_sha256", ds->num_sources, &ds->source_sha256, &n) ||
        read_scalar(f, "pixel_mean", H5T_FLOAT, H5T_NATIVE_DOUBLE, &ds->pixel_mean) ||
        read_scalar(f, "pixel_std", H5T_FLOAT, H5T_NATIVE_DOUBLE, &ds->pixel_std))
        return -1;
    if (!isfinite(ds->pixel_mean) || !(ds->pixel_std > 0) || !isfinite(ds->pixel_std))
        return base_error_set("attributes pixel_mean %g / pixel_std %g: not a usable mean/std",
                              ds->pixel_mean, ds->pixel_std);
    return 0;
}

static int read_string(hid_t file, const char *name, char **out)
{
    hid_t attr = open_attr(file, name, H5T_STRING, 1);
    if (attr < 0)
        return -1;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    char *raw = NULL;
    herr_t rc = H5Tis_variable_str(type) <= 0 ? -1 : H5Aread(attr, type, &raw);
    if (rc >= 0) {
        *out = xstrdup(raw ? raw : "");
        H5Dvlen_reclaim(type, space, H5P_DEFAULT, &raw);
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Aclose(attr);
    return rc < 0 ? base_error_set("attribute %s: cannot read as a variable-length string", name)
                  : 0;
}

/* Format 3: channel_mean/channel_std of length C and the descriptive
 * strings; format 2: the scalar statistics for every channel, "" for the
 * strings.  After open_split (the channel count comes from the images). */
static int read_channel_attributes(Dataset *ds)
{
    hid_t f = ds->file;
    const char *names[] = {"source_format", "source_path", "source_fingerprint", "created_by",
                           "created_utc"};
    char **dst[] = {&ds->source_format, &ds->source_path, &ds->source_fingerprint,
                    &ds->created_by, &ds->created_utc};
    if (ds->format_version == 2) {
        for (size_t c = 0; c < ds->channels; c++)
            ds->channel_mean[c] = ds->pixel_mean, ds->channel_std[c] = ds->pixel_std;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            *dst[i] = xstrdup("");
        return 0;
    }
    const char *stat[2] = {"channel_mean", "channel_std"};
    double *into[2] = {ds->channel_mean, ds->channel_std};
    for (int k = 0; k < 2; k++) {
        hid_t attr = open_attr(f, stat[k], H5T_FLOAT, (hssize_t)ds->channels);
        if (attr < 0)
            return -1;
        herr_t rc = H5Aread(attr, H5T_NATIVE_DOUBLE, into[k]);
        H5Aclose(attr);
        if (rc < 0)
            return base_error_set("attribute %s: cannot read", stat[k]);
    }
    for (size_t c = 0; c < ds->channels; c++)
        if (!isfinite(ds->channel_mean[c]) || !(ds->channel_std[c] > 0) ||
            !isfinite(ds->channel_std[c]))
            return base_error_set("attributes channel_mean[%zu] %g / channel_std[%zu] %g: not a "
                                  "usable mean/std (a constant channel?)", c,
                                  ds->channel_mean[c], c, ds->channel_std[c]);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (read_string(f, names[i], dst[i]))
            return -1;
    return 0;
}

/* Reads the labels in blocks and checks each is < num_classes. */
static int check_labels(const Dataset *ds, int s)
{
    size_t block = 65536;
    uint8_t *buf = xmalloc(block);
    int rc = 0;
    for (size_t first = 0; !rc && first < ds->count[s]; first += block) {
        size_t n = ds->count[s] - first < block ? ds->count[s] - first : block;
        rc = dataset_read_range(ds, (DatasetSplit)s, first, n, NULL, buf);
        for (size_t i = 0; !rc && i < n; i++)
            if (buf[i] >= ds->num_classes)
                rc = base_error_set("/%s/labels: label %d of sample %zu is not < num_classes %d",
                                    SPLIT_NAME[s], buf[i], first + i, ds->num_classes);
    }
    free(buf);
    return rc;
}

int dataset_open(Dataset *ds, const char *path)
{
    *ds = (Dataset){.file = H5I_INVALID_HID,
                    .images = {H5I_INVALID_HID, H5I_INVALID_HID},
                    .labels = {H5I_INVALID_HID, H5I_INVALID_HID}};
    quiet_hdf5();
    struct stat sb;
    if (stat(path, &sb) < 0)
        return base_error_set("%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) /* HDF5 would block on a FIFO, read /dev/zero forever */
        return base_error_set("%s: not a regular file (a directory, device or FIFO): give the "
                              "dataset file made by shardnet prepare", path);
    if (H5Fis_hdf5(path) <= 0)
        return base_error_set("%s: cannot open, or not an HDF5 file", path);
    ds->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (ds->file < 0)
        return base_error_set("%s: cannot open as HDF5", path);
    if (read_attributes(ds) || open_split(ds, DATASET_TRAIN) || open_split(ds, DATASET_TEST) ||
        read_channel_attributes(ds) || check_labels(ds, DATASET_TRAIN) ||
        check_labels(ds, DATASET_TEST)) {
        error_in(path);
        dataset_free(ds);
        return -1;
    }
    return 0;
}

static void free_strings(char **s, int n)
{
    for (int i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

void dataset_free(Dataset *ds)
{
    for (int s = 0; s < 2; s++) {
        close_id(&ds->images[s], H5Dclose);
        close_id(&ds->labels[s], H5Dclose);
    }
    close_id(&ds->file, H5Fclose);
    free_strings(ds->class_names, ds->num_classes);
    free_strings(ds->source_files, ds->num_sources);
    free_strings(ds->source_sha256, ds->num_sources);
    free(ds->source_format), free(ds->source_path), free(ds->source_fingerprint);
    free(ds->created_by), free(ds->created_utc);
    *ds = (Dataset){.file = H5I_INVALID_HID,
                    .images = {H5I_INVALID_HID, H5I_INVALID_HID},
                    .labels = {H5I_INVALID_HID, H5I_INVALID_HID}};
}

/* ---- sample reads ---------------------------------------------------- */

/* Rows [first, first+count) of an opened (N, ...) dataset with rank dims. */
static int read_rows(hid_t dset, int rank, const hsize_t *shape, size_t first, size_t count,
                     void *dst, char cause[256])
{
    hsize_t start[4] = {first, 0, 0, 0}, dims[4] = {count, 0, 0, 0};
    for (int d = 1; d < rank; d++)
        dims[d] = shape[d];
    hid_t file_space = H5Dget_space(dset);
    hid_t mem_space = H5Screate_simple(rank, dims, NULL);
    herr_t rc = H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, dims, NULL);
    if (rc >= 0)
        rc = H5Dread(dset, H5T_NATIVE_UINT8, mem_space, file_space, H5P_DEFAULT, dst);
    if (rc < 0)
        h5image_cause(cause); /* before the next call clears HDF5's error stack */
    H5Sclose(mem_space);
    H5Sclose(file_space);
    return rc < 0 ? -1 : 0;
}

int dataset_read_range(const Dataset *ds, DatasetSplit split, size_t first, size_t count,
                       uint8_t *images, uint8_t *labels)
{
    if (first > ds->count[split] || count > ds->count[split] - first)
        return base_error_set("/%s: samples [%zu, %zu) are outside [0, %zu)", SPLIT_NAME[split],
                              first, first + count, ds->count[split]);
    if (!count)
        return 0;
    hsize_t shape[4] = {0, ds->channels, ds->height, ds->width};
    char cause[256];
    if (images && read_rows(ds->images[split], 4, shape, first, count, images, cause))
        return base_error_set("/%s/images: read of samples [%zu, %zu) failed: %s%s",
                              SPLIT_NAME[split], first, first + count,
                              h5image_is_checksum(cause) ? "checksum error, the file is "
                                                             "damaged: " : "", cause);
    if (labels && read_rows(ds->labels[split], 1, shape, first, count, labels, cause))
        return base_error_set("/%s/labels: read of samples [%zu, %zu) failed: %s%s",
                              SPLIT_NAME[split], first, first + count,
                              h5image_is_checksum(cause) ? "checksum error, the file is "
                                                             "damaged: " : "", cause);
    return 0;
}

static int check_index(const Dataset *ds, DatasetSplit split, const uint32_t *index, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (index[i] >= ds->count[split])
            return base_error_set("/%s: sample %u is outside [0, %zu)", SPLIT_NAME[split],
                                  index[i], ds->count[split]);
        if (i && index[i] <= index[i - 1])
            return base_error_set("dataset_read_samples: indices not strictly ascending at %zu", i);
    }
    return 0;
}

int dataset_read_samples(const Dataset *ds, DatasetSplit split, const uint32_t *index,
                         const size_t *slot, size_t n, uint8_t *images, uint8_t *labels)
{
    if (check_index(ds, split, index, n))
        return -1;
    size_t block = ds->chunk[split], ss = ds->sample_size;
    uint8_t *block_images = xmalloc(block * ss), *block_labels = xmalloc(block);
    int rc = 0;
    for (size_t i = 0; !rc && i < n;) {
        size_t first = index[i] / block * block;
        size_t count = ds->count[split] - first < block ? ds->count[split] - first : block;
        rc = dataset_read_range(ds, split, first, count, block_images, block_labels);
        for (; !rc && i < n && index[i] < first + count; i++) {
            memcpy(images + slot[i] * ss, block_images + (index[i] - first) * ss, ss);
            labels[slot[i]] = block_labels[index[i] - first];
        }
    }
    free(block_images);
    free(block_labels);
    return rc;
}
