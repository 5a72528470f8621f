/* ckpt.c - write, read and verify one HDF5 checkpoint; see ckpt.h for the
 * layout and the contract.
 *
 * Writing: HDF5 builds the file in memory (h5image.h), and
 * atomic_write_file() puts those bytes on disk
 * with plain write() (temp file, fsync, rename, directory fsync).  HDF5
 * never does I/O on the target filesystem: a full disk or an I/O error is
 * an exact errno from our own calls, and cannot leave HDF5 with a file it
 * failed to close (in 1.10.8 such a file crashes the library's exit
 * handler; a full /dev/shm, where the image used to be staged, did the
 * same).  The file format is pinned to HDF5 1.8 structures (H5F_LIBVER_V18): object headers, and with them every
 * attribute of /state, then carry HDF5's own metadata checksums in addition
 * to Fletcher-32 on the datasets, and 1.8+ tools can read the files.
 *
 * Reading checks in a fixed order and reports the first problem: the file
 * opens as HDF5, /state's attributes (format version first), then every
 * dataset's presence, type, dims and filter (before anything is
 * allocated, so a lying header cannot make us allocate terabytes), then the
 * data (Fletcher-32 verified by HDF5 on every chunk read), then the digest.
 */
#define _GNU_SOURCE /* mkostemp */
#include "ckpt.h"

#include "checksum.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <openssl/evp.h>

#include "atomic.h"
#include "base.h"
#include "h5image.h"
#include "shardnet_version.h"

/* The digest is defined over little-endian float32 bytes; on this host the
 * in-memory floats are exactly those bytes. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ckpt digest assumes little-endian");

#define DIGEST_HEX 65 /* 64 hex digits + NUL */

static const char *const groups[2] = {"params", "momentum"};

/* ---- HDF5 errors ------------------------------------------------------- */

static void h5_quiet(void)
{
    static int done;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

/* ---- state validation --------------------------------------------------- */

static int str_ok(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

/* Limits that keep the LeNet table and every buffer small and well-defined. */
static int state_check(const TrainState *st)
{
    if (st->input_c < 1 || st->input_c > CKPT_MAX_CHANNELS)
        return base_error_set("input channels %lld outside 1..%d", (long long)st->input_c,
                              CKPT_MAX_CHANNELS);
    if (st->input_h < 1 || st->input_h > CKPT_MAX_SIDE || st->input_w < 1 ||
        st->input_w > CKPT_MAX_SIDE)
        return base_error_set("input size %lldx%lld outside 1..%d", (long long)st->input_h,
                              (long long)st->input_w, CKPT_MAX_SIDE);
    if (st->num_classes < 2 || st->num_classes > CKPT_MAX_CLASSES)
        return base_error_set("num_classes %lld outside 2..%d", (long long)st->num_classes,
                              CKPT_MAX_CLASSES);
    if (st->global_batch < 1 || st->micro_batch < 1)
        return base_error_set("global batch %lld and micro-batch %lld must be positive",
                              (long long)st->global_batch, (long long)st->micro_batch);
    if (st->arch != ARCH_CLASSIC && st->arch != ARCH_MODERN)
        return base_error_set("unknown arch %d", (int)st->arch);
    for (int64_t k = 0; k < st->num_classes; k++)
        if (!str_ok(st->class_names[k], CKPT_CLASS_LEN))
            return base_error_set("class name %lld is not terminated", (long long)k);
    if (!str_ok(st->sched.name, CKPT_SCHED_LEN) || !str_ok(st->config, CKPT_CONFIG_LEN))
        return base_error_set("schedule name or config string is not terminated");
    return 0;
}

int ckpt_describe(const TrainState *st, LeNet *m)
{
    if (state_check(st) < 0)
        return -1;
    return lenet_describe(m, st->arch, 1, st->input_c, st->input_h, st->input_w,
                          st->num_classes);
}

size_t ckpt_size_estimate(const TrainState *st)
{
    LeNet m;
    if (ckpt_describe(st, &m) < 0)
        return 0;
    /* Two float copies, the strings, and 128 KiB for HDF5's metadata (a
     * LeNet checkpoint has about 63 KiB of it, mostly B-tree nodes). */
    size_t strings = (size_t)st->num_classes * CKPT_CLASS_LEN + CKPT_CONFIG_LEN;
    return 2 * m.n_params * sizeof(float) + strings + 128 * 1024;
}

/* ---- digest ------------------------------------------------------------- */

/* Every field of /state except the digest itself, as text with exact
 * (hex) doubles: the part of a format-2 digest that covers the state. */
static void state_text(const TrainState *st, char *out, size_t n)
{
    const CkptSchedule *s = &st->sched;
    int len = snprintf(out, n,
                       "format %d version %s step %llu epoch %llu in_epoch %llu seed %llu "
                       "batch %lld micro %lld world %d arch %s input %lld %lld %lld classes %lld "
                       "schedule %s lr %a momentum %a wd %a warmup %lld step_size %lld gamma %a "
                       "total %lld dataset %s config %s isa %s",
                       (int)st->format_version, st->shardnet_version, (unsigned long long)st->step,
                       (unsigned long long)st->epoch, (unsigned long long)st->step_in_epoch,
                       (unsigned long long)st->seed, (long long)st->global_batch,
                       (long long)st->micro_batch, (int)st->world_size,
                       lenet_arch_name(st->arch), (long long)st->input_c, (long long)st->input_h,
                       (long long)st->input_w, (long long)st->num_classes, s->name, s->lr,
                       s->momentum, s->weight_decay, (long long)s->warmup,
                       (long long)s->step_size, s->gamma, (long long)s->total_steps,
                       st->dataset_id, st->config, st->cpu_isa);
    for (int64_t k = 0; k < st->num_classes && len > 0 && (size_t)len < n; k++)
        len += snprintf(out + len, n - (size_t)len, " class %s", st->class_names[k]);
    for (int64_t c = 0; c < st->input_c && len > 0 && (size_t)len < n; c++)
        len += snprintf(out + len, n - (size_t)len, " norm %a %a", st->mean[c], st->std[c]);
}

/* SHA-256 of params then momentum, tensor by tensor in table order, and
 * (format 2; st NULL for format 1) then the state's text. */
static int digest_hex(const LeNet *m, const TrainState *st, const float *params,
                      const float *momentum, char hex[DIGEST_HEX])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    const float *bufs[2] = {params, momentum};
    for (int g = 0; g < 2 && ok; g++)
        for (int t = 0; t < LENET_TENSORS && ok; t++)
            ok = EVP_DigestUpdate(ctx, bufs[g] + m->tensors[t].offset,
                                  m->tensors[t].count * sizeof(float));
    if (st && ok) {
        size_t n = CKPT_CONFIG_LEN + CKPT_MAX_CLASSES * (CKPT_CLASS_LEN + 8) + 4096;
        char *text = xmalloc(n);
        state_text(st, text, n);
        ok = EVP_DigestUpdate(ctx, text, strlen(text));
        free(text);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &len) && len == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return base_error_set("OpenSSL SHA-256 failed");
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* Attribute name on loc: n elements of mtype stored as ftype (n = 0: scalar). */
static int attr_put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
                    const void *buf)
{
    hid_t space = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = space < 0 ? -1 : H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, mtype, buf);
    if (a >= 0)
        H5Aclose(a);
    if (space >= 0)
        H5Sclose(space);
    return rc < 0 ? -1 : 0;
}

static int put_u64(hid_t loc, const char *name, uint64_t v)
{
    return attr_put(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, &v);
}

static int put_i64(hid_t loc, const char *name, const int64_t *v, hsize_t n)
{
    return attr_put(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, n, v);
}

static int put_f64(hid_t loc, const char *name, const double *v, hsize_t n)
{
    return attr_put(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, n, v);
}

/* n strings (n = 0: one scalar string) of stride bytes each, stored as
 * fixed-length NUL-terminated strings as long as the longest. */
static int put_str(hid_t loc, const char *name, const char *s, hsize_t n, size_t stride)
{
    size_t count = n ? n : 1, width = 1;
    for (size_t i = 0; i < count; i++) {
        size_t l = strlen(s + i * stride) + 1;
        width = l > width ? l : width;
    }
    char *packed = xcalloc(count, width);
    for (size_t i = 0; i < count; i++)
        memcpy(packed + i * width, s + i * stride, strlen(s + i * stride));
    hid_t t = H5Tcopy(H5T_C_S1);
    int rc = t < 0 || H5Tset_size(t, width) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0
                 ? -1
                 : attr_put(loc, name, t, t, n, packed);
    if (t >= 0)
        H5Tclose(t);
    free(packed);
    return rc;
}

static int put_state(hid_t g, const TrainState *st, const char *digest)
{
    int32_t fv = CKPT_FORMAT_VERSION, ws = st->world_size;
    int64_t shape[3] = {st->input_c, st->input_h, st->input_w};
    const CkptSchedule *s = &st->sched;
    hsize_t k = (hsize_t)st->num_classes, c = (hsize_t)st->input_c;
    int rc = 0;
    rc |= attr_put(g, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &fv);
    rc |= put_str(g, "shardnet_version", SHARDNET_VERSION, 0, 0);
    rc |= put_u64(g, "step", st->step);
    rc |= put_u64(g, "epoch", st->epoch);
    rc |= put_u64(g, "step_in_epoch", st->step_in_epoch);
    rc |= put_u64(g, "seed", st->seed);
    rc |= put_i64(g, "global_batch", &st->global_batch, 0);
    rc |= put_i64(g, "micro_batch", &st->micro_batch, 0);
    rc |= attr_put(g, "world_size", H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &ws);
    rc |= put_str(g, "arch", lenet_arch_name(st->arch), 0, 0);
    rc |= put_i64(g, "input_shape", shape, 3);
    rc |= put_i64(g, "num_classes", &st->num_classes, 0);
    rc |= put_str(g, "class_names", st->class_names[0], k, CKPT_CLASS_LEN);
    rc |= put_f64(g, "norm_mean", st->mean, c);
    rc |= put_f64(g, "norm_std", st->std, c);
    rc |= put_str(g, "schedule", s->name, 0, 0);
    rc |= put_f64(g, "lr", &s->lr, 0);
    rc |= put_f64(g, "sgd_momentum", &s->momentum, 0);
    rc |= put_f64(g, "weight_decay", &s->weight_decay, 0);
    rc |= put_i64(g, "warmup", &s->warmup, 0);
    rc |= put_i64(g, "step_size", &s->step_size, 0);
    rc |= put_f64(g, "gamma", &s->gamma, 0);
    rc |= put_i64(g, "total_steps", &s->total_steps, 0);
    rc |= put_str(g, "config", st->config, 0, 0);
    rc |= put_str(g, "dataset_id", st->dataset_id, 0, 0);
    if (st->cpu_isa[0])
        rc |= put_str(g, "cpu_isa", st->cpu_isa, 0, 0);
    rc |= put_str(g, "param_digest", digest, 0, 0);
    return rc ? -1 : 0;
}

/* One chunked, Fletcher-32 dataset per tensor under /<group>. */
static int put_tensors(hid_t f, const char *group, const LeNet *m, const float *buf)
{
    hid_t g = H5Gcreate2(f, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = g < 0 ? -1 : 0;
    for (int t = 0; t < LENET_TENSORS && rc == 0; t++) {
        const TensorView *v = &m->tensors[t];
        hsize_t dims[4];
        for (int d = 0; d < v->ndims; d++)
            dims[d] = (hsize_t)v->dims[d];
        hid_t space = H5Screate_simple(v->ndims, dims, NULL);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        rc = space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, v->ndims, dims) < 0 ||
                     H5Pset_fletcher32(dcpl) < 0
                 ? -1
                 : 0;
        hid_t ds = rc < 0 ? -1
                          : H5Dcreate2(g, v->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl,
                                       H5P_DEFAULT);
        if (ds < 0 ||
            H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + v->offset) < 0 ||
            put_str(ds, "key", v->key, 0, 0) < 0)
            rc = -1;
        if (ds >= 0)
            H5Dclose(ds);
        if (dcpl >= 0)
            H5Pclose(dcpl);
        if (space >= 0)
            H5Sclose(space);
    }
    if (g >= 0)
        H5Gclose(g);
    return rc;
}

/* Builds the whole checkpoint as an HDF5 file in memory (the core driver,
 * no backing store) and closes it; *im receives its bytes. */
static int build_image(const TrainState *st, const LeNet *m, const float *params,
                       const float *momentum, H5Image *im)
{
    char digest[DIGEST_HEX], cause[256];
    if (digest_hex(m, st, params, momentum, digest) < 0)
        return -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = -1, g = -1;
    const char *step = "create";
    int rc = fapl < 0 || H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
                     h5image_fapl(fapl, im) < 0
                 ? -1
                 : 0;
    if (rc == 0)
        rc = (f = H5Fcreate("shardnet-ckpt-image", H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0 ? -1
                                                                                        : 0;
    if (rc == 0) {
        step = "write tensors of";
        rc = put_tensors(f, groups[0], m, params) | put_tensors(f, groups[1], m, momentum);
    }
    if (rc == 0) {
        step = "write /state of";
        rc = (g = H5Gcreate2(f, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = put_state(g, st, digest);
    if (g >= 0)
        H5Gclose(g);
    if (rc < 0)
        base_error_set("HDF5 could not %s the in-memory checkpoint: %s", step, h5image_cause(cause));
    if (f >= 0 && H5Fclose(f) < 0 && rc == 0)
        rc = base_error_set("HDF5 could not close the in-memory checkpoint: %s", h5image_cause(cause));
    if (fapl >= 0)
        H5Pclose(fapl);
    if (rc == 0 && (!im->image || im->size == 0))
        rc = base_error_set("HDF5 left no in-memory checkpoint image");
    return rc;
}

int ckpt_write(const char *path, const TrainState *st, const float *params,
               const float *momentum, size_t n_params)
{
    h5_quiet();
    LeNet m;
    char why[1000];
    if (ckpt_describe(st, &m) < 0) {
        snprintf(why, sizeof why, "%s", base_error());
        return base_error_set("cannot write checkpoint '%s': invalid state: %s", path, why);
    }
    if (m.n_params != n_params)
        return base_error_set("cannot write checkpoint '%s': %zu parameters given, the %s LeNet "
                              "for this input has %zu", path, n_params,
                              lenet_arch_name(st->arch), m.n_params);
    /* What the file will say: this format and this shardnet's version. */
    TrainState *w = xmalloc(sizeof *w);
    *w = *st;
    w->format_version = CKPT_FORMAT_VERSION;
    snprintf(w->shardnet_version, sizeof w->shardnet_version, "%s", SHARDNET_VERSION);
    w->dataset_id[CKPT_DATASET_ID_LEN - 1] = '\0';
    H5Image im = {0};
    int rc = build_image(w, &m, params, momentum, &im);
    free(w);
    if (rc == 0)
        rc = atomic_write_file(path, im.image, im.size);
    free(im.image);
    if (rc < 0) {
        snprintf(why, sizeof why, "%s", base_error());
        return base_error_set("cannot write checkpoint '%s': %s", path, why);
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

/* One open checkpoint being read; rd_error() prefixes messages with the path. */
typedef struct {
    const char *path;
    hid_t file, state;
    FILE *report;
} Reader;

static int rd_error(const Reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int rd_error(const Reader *r, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return base_error_set("checkpoint '%s': %s", r->path, msg);
}

/* An HDF5 call failed on what should be there: report a metadata checksum
 * failure as such (a byte flip in the file), anything else with HDF5's
 * innermost message. */
static int h5_damaged(const Reader *r, const char *what)
{
    char cause[256];
    h5image_cause(cause);
    if (h5image_is_checksum(cause))
        return rd_error(r, "checksum error in the HDF5 metadata of %s (%s): the file is damaged",
                        what, cause);
    return rd_error(r, "cannot read %s: damaged file (%s)", what, cause);
}

/* Opens attribute name of loc (called where in messages), checks its class
 * and element count (n = 0: scalar). */
static hid_t attr_get_at(const Reader *r, hid_t loc, const char *where, const char *name,
                         H5T_class_t cls, hsize_t n)
{
    htri_t exists = H5Aexists(loc, name);
    if (exists == 0)
        return rd_error(r, "attribute %s/%s is missing", where, name);
    hid_t a = exists < 0 ? -1 : H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) {
        char what[160];
        snprintf(what, sizeof what, "attribute %s/%s", where, name);
        return h5_damaged(r, what);
    }
    hid_t type = a < 0 ? -1 : H5Aget_type(a);
    hid_t space = a < 0 ? -1 : H5Aget_space(a);
    int ok = type >= 0 && space >= 0 && H5Tget_class(type) == cls;
    if (ok && n == 0)
        ok = H5Sget_simple_extent_type(space) == H5S_SCALAR;
    else if (ok) {
        hsize_t dims[1];
        ok = H5Sget_simple_extent_ndims(space) == 1 &&
             H5Sget_simple_extent_dims(space, dims, NULL) == 1 && dims[0] == n;
    }
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (!ok) {
        if (a >= 0)
            H5Aclose(a);
        char count[32] = "a scalar";
        if (n)
            snprintf(count, sizeof count, "%llu values", (unsigned long long)n);
        return rd_error(r, "attribute %s/%s has the wrong type or size (want %s, %s)", where,
                        name, cls == H5T_STRING ? "string" : cls == H5T_FLOAT ? "float" : "integer",
                        count);
    }
    return a;
}

static hid_t attr_get(const Reader *r, const char *name, H5T_class_t cls, hsize_t n)
{
    return attr_get_at(r, r->state, "/state", name, cls, n);
}

static int get_num(const Reader *r, const char *name, H5T_class_t cls, hid_t mtype, hsize_t n,
                   void *out)
{
    hid_t a = attr_get(r, name, cls, n);
    if (a < 0)
        return -1;
    herr_t rc = H5Aread(a, mtype, out);
    H5Aclose(a);
    char cause[256];
    return rc < 0 ? rd_error(r, "attribute /state/%s: %s", name, h5image_cause(cause)) : 0;
}

static int get_u64(const Reader *r, const char *name, uint64_t *v)
{
    return get_num(r, name, H5T_INTEGER, H5T_NATIVE_UINT64, 0, v);
}

static int get_i64(const Reader *r, const char *name, int64_t *v, hsize_t n)
{
    return get_num(r, name, H5T_INTEGER, H5T_NATIVE_INT64, n, v);
}

static int get_f64(const Reader *r, const char *name, double *v, hsize_t n)
{
    return get_num(r, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, n, v);
}

/* Fixed-length string attribute of loc (n = 0: scalar) into n slots of
 * stride bytes; each must fit with its NUL.  where names loc in messages. */
static int get_str_at(const Reader *r, hid_t loc, const char *where, const char *name, char *out,
                      hsize_t n, size_t stride)
{
    hid_t a = attr_get_at(r, loc, where, name, H5T_STRING, n);
    if (a < 0)
        return -1;
    hid_t ftype = H5Aget_type(a);
    size_t width = ftype < 0 ? 0 : H5Tget_size(ftype);
    htri_t vlen = ftype < 0 ? 1 : H5Tis_variable_str(ftype);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (vlen != 0 || width == 0 || width > stride) {
        H5Aclose(a);
        return rd_error(r, "attribute %s/%s: not a fixed-length string of at most %zu bytes",
                        where, name, stride - 1);
    }
    size_t count = n ? n : 1;
    char *buf = xcalloc(count, width);
    hid_t mtype = H5Tcopy(H5T_C_S1);
    herr_t rc = H5Tset_size(mtype, width) < 0 ? -1 : H5Aread(a, mtype, buf);
    H5Tclose(mtype);
    H5Aclose(a);
    for (size_t i = 0; i < count && rc >= 0; i++) {
        memset(out + i * stride, 0, stride);
        memcpy(out + i * stride, buf + i * width, width);
        out[i * stride + stride - 1] = '\0';
        if (strnlen(buf + i * width, width) == width && width == stride)
            rc = -1; /* no room left for the terminator */
    }
    free(buf);
    char cause[256];
    return rc < 0 ? rd_error(r, "attribute %s/%s: unreadable string (%s)", where, name,
                             h5image_cause(cause))
                  : 0;
}

static int get_str(const Reader *r, const char *name, char *out, hsize_t n, size_t stride)
{
    return get_str_at(r, r->state, "/state", name, out, n, stride);
}

/* format_version first: a different version may lay out everything else
 * differently, so nothing else is trusted before it matches. */
static int read_version(const Reader *r, TrainState *st)
{
    hid_t a = attr_get(r, "format_version", H5T_INTEGER, 0);
    if (a < 0)
        return -1;
    int64_t v = 0;
    herr_t rc = H5Aread(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    if (rc < 0)
        return rd_error(r, "attribute /state/format_version is unreadable");
    if (v != 1 && v != CKPT_FORMAT_VERSION)
        return rd_error(r, "attribute /state/format_version is %lld; this shardnet reads "
                           "formats 1 and %d", (long long)v, CKPT_FORMAT_VERSION);
    st->format_version = (int32_t)v;
    return get_str(r, "shardnet_version", st->shardnet_version, 0, CKPT_VERSION_LEN);
}

static int read_state(const Reader *r, TrainState *st)
{
    int64_t shape[3];
    char arch[16];
    int32_t ws = 0;
    CkptSchedule *s = &st->sched;
    if (read_version(r, st) < 0 || get_u64(r, "step", &st->step) < 0 ||
        get_u64(r, "epoch", &st->epoch) < 0 || get_u64(r, "step_in_epoch", &st->step_in_epoch) < 0 ||
        get_u64(r, "seed", &st->seed) < 0 || get_i64(r, "global_batch", &st->global_batch, 0) < 0 ||
        get_i64(r, "micro_batch", &st->micro_batch, 0) < 0 ||
        get_num(r, "world_size", H5T_INTEGER, H5T_NATIVE_INT32, 0, &ws) < 0 ||
        get_str(r, "arch", arch, 0, sizeof arch) < 0 || get_i64(r, "input_shape", shape, 3) < 0 ||
        get_i64(r, "num_classes", &st->num_classes, 0) < 0)
        return -1;
    st->world_size = ws;
    if (lenet_arch_parse(arch, &st->arch) < 0)
        return rd_error(r, "attribute /state/arch is '%s' (expected classic or modern)", arch);
    st->input_c = shape[0], st->input_h = shape[1], st->input_w = shape[2];
    if (state_check(st) < 0) {
        char why[600];
        snprintf(why, sizeof why, "%s", base_error());
        return rd_error(r, "attributes of /state out of range: %s", why);
    }
    hsize_t k = (hsize_t)st->num_classes, c = (hsize_t)st->input_c;
    if (get_str(r, "class_names", st->class_names[0], k, CKPT_CLASS_LEN) < 0 ||
        get_f64(r, "norm_mean", st->mean, c) < 0 || get_f64(r, "norm_std", st->std, c) < 0 ||
        get_str(r, "schedule", s->name, 0, CKPT_SCHED_LEN) < 0 || get_f64(r, "lr", &s->lr, 0) < 0 ||
        get_f64(r, "sgd_momentum", &s->momentum, 0) < 0 ||
        get_f64(r, "weight_decay", &s->weight_decay, 0) < 0 ||
        get_i64(r, "warmup", &s->warmup, 0) < 0 || get_i64(r, "step_size", &s->step_size, 0) < 0 ||
        get_f64(r, "gamma", &s->gamma, 0) < 0 || get_i64(r, "total_steps", &s->total_steps, 0) < 0 ||
        get_str(r, "config", st->config, 0, CKPT_CONFIG_LEN) < 0)
        return -1;
    if (st->format_version >= 2 &&
        get_str(r, "dataset_id", st->dataset_id, 0, CKPT_DATASET_ID_LEN) < 0)
        return -1;
    st->cpu_isa[0] = '\0'; /* optional: checkpoints before it was recorded lack it */
    if (H5Aexists(r->state, "cpu_isa") > 0 &&
        get_str(r, "cpu_isa", st->cpu_isa, 0, CKPT_ISA_LEN) < 0)
        return -1;
    return 0;
}

static void shape_str(char *out, size_t n, int ndims, const hsize_t *dims)
{
    int len = snprintf(out, n, "(");
    for (int d = 0; d < ndims && len > 0 && (size_t)len < n; d++)
        len += snprintf(out + len, n - (size_t)len, "%s%llu", d ? ", " : "",
                        (unsigned long long)dims[d]);
    if (len > 0 && (size_t)len < n)
        snprintf(out + len, n - (size_t)len, ")");
}

/* Structure of /<group>/<tensor>: present, float32, dims, chunked with
 * Fletcher-32, key attribute.  Returns the open dataset or -1. */
static hid_t open_tensor(const Reader *r, const char *group, const TensorView *v)
{
    char name[128], want[96], got[96];
    snprintf(name, sizeof name, "/%s/%s", group, v->name);
    char gpath[64];
    snprintf(gpath, sizeof gpath, "/%s", group);
    htri_t has = H5Lexists(r->file, gpath, H5P_DEFAULT);
    if (has > 0)
        has = H5Lexists(r->file, name, H5P_DEFAULT);
    if (has < 0)
        return h5_damaged(r, name);
    if (has == 0)
        return rd_error(r, "dataset %s is missing", name);
    hid_t ds = H5Dopen2(r->file, name, H5P_DEFAULT);
    if (ds < 0)
        return h5image_is_checksum(h5image_cause((char[256]){0})) ? h5_damaged(r, name)
                                                             : rd_error(r, "%s is not a dataset", name);
    hid_t type = H5Dget_type(ds), space = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds);
    hsize_t dims[H5S_MAX_RANK] = {0}, wdims[4];
    int nd = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    if (nd > 0 && nd <= H5S_MAX_RANK)
        H5Sget_simple_extent_dims(space, dims, NULL);
    for (int d = 0; d < v->ndims; d++)
        wdims[d] = (hsize_t)v->dims[d];
    int same = nd == v->ndims && !memcmp(dims, wdims, (size_t)nd * sizeof *dims);
    int is_f32 = type >= 0 && H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 4;
    int fletcher = h5image_has_fletcher32(dcpl);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    int rc = 0;
    if (!is_f32)
        rc = rd_error(r, "dataset %s is not float32", name);
    else if (!same) {
        shape_str(got, sizeof got, nd < 0 ? 0 : nd, dims);
        shape_str(want, sizeof want, v->ndims, wdims);
        rc = rd_error(r, "dataset %s has shape %s, expected %s", name, got, want);
    } else if (!fletcher)
        rc = rd_error(r, "dataset %s is not chunked with the Fletcher-32 filter", name);
    else {
        char key[32];
        rc = get_str_at(r, ds, name, "key", key, 0, sizeof key);
        if (rc == 0 && strcmp(key, v->key))
            rc = rd_error(r, "attribute %s/key is '%s', expected '%s'", name, key, v->key);
    }
    if (rc < 0) {
        H5Dclose(ds);
        return -1;
    }
    return ds;
}

static int check_tensors(const Reader *r, const LeNet *m)
{
    for (int g = 0; g < 2; g++)
        for (int t = 0; t < LENET_TENSORS; t++) {
            hid_t ds = open_tensor(r, groups[g], &m->tensors[t]);
            if (ds < 0)
                return -1;
            H5Dclose(ds);
        }
    return 0;
}

/* Reads every tensor of /<group>; HDF5 verifies each chunk's Fletcher-32. */
static int read_tensors(const Reader *r, const char *group, const LeNet *m, float *buf)
{
    for (int t = 0; t < LENET_TENSORS; t++) {
        const TensorView *v = &m->tensors[t];
        hid_t ds = open_tensor(r, group, v);
        if (ds < 0)
            return -1;
        herr_t rc = H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + v->offset);
        char cause[256];
        h5image_cause(cause);
        H5Dclose(ds);
        if (rc < 0 && h5image_is_checksum(cause))
            return rd_error(r, "dataset /%s/%s: checksum error (Fletcher-32): %s", group, v->name,
                            cause);
        if (rc < 0)
            return rd_error(r, "dataset /%s/%s: read failed: %s", group, v->name, cause);
        if (r->report) {
            char s[96], name[128];
            hsize_t dims[4];
            for (int d = 0; d < v->ndims; d++)
                dims[d] = (hsize_t)v->dims[d];
            shape_str(s, sizeof s, v->ndims, dims);
            snprintf(name, sizeof name, "/%s/%s", group, v->name);
            fprintf(r->report, "  %-24s %-10s %-16s float32 fletcher32 ok\n", name, v->key, s);
        }
    }
    return 0;
}

static int check_digest(const Reader *r, const LeNet *m, const TrainState *st,
                        const float *params, const float *momentum)
{
    char stored[DIGEST_HEX], computed[DIGEST_HEX];
    int with_state = st->format_version >= 2;
    if (get_str(r, "param_digest", stored, 0, sizeof stored) < 0)
        return -1;
    if (digest_hex(m, with_state ? st : NULL, params, momentum, computed) < 0)
        return -1;
    if (strcmp(stored, computed))
        return rd_error(r, "checksum error: attribute /state/param_digest does not match the "
                           "%s (stored %.16s..., computed %.16s...)",
                        with_state ? "tensors and /state" : "tensors", stored, computed);
    if (r->report) {
        char fingerprint[CHECKSUM_HEX_LEN + 1];
        checksum_params(params, m->n_params, fingerprint);
        fprintf(r->report, "  param_digest sha256 %s ok (%s)\n", computed,
                with_state ? "tensors and /state" : "tensors only: format 1");
        fprintf(r->report, "  parameters sha256 %s (the fingerprint)\n", fingerprint);
    }
    return 0;
}

/* A digest only proves the bytes are the ones written; NaN or Inf weights
 * would still make every prediction meaningless. */
static int check_finite(const Reader *r, const LeNet *m, const float *params,
                        const float *momentum)
{
    const float *bufs[2] = {params, momentum};
    for (int g = 0; g < 2; g++)
        for (int t = 0; t < LENET_TENSORS; t++) {
            const TensorView *v = &m->tensors[t];
            for (size_t i = 0; i < v->count; i++)
                if (!isfinite(bufs[g][v->offset + i]))
                    return rd_error(r, "dataset /%s/%s holds a non-finite value (%g) at "
                                       "element %zu", groups[g], v->name,
                                    (double)bufs[g][v->offset + i], i);
        }
    return 0;
}

/* The tensors hold 2 x n_params floats: a file smaller than that has a
 * header that lies about the shapes, and nothing is allocated for it. */
static int check_file_size(const Reader *r, const LeNet *m)
{
    struct stat sb;
    if (stat(r->path, &sb) < 0)
        return rd_error(r, "cannot stat: %s", strerror(errno));
    unsigned long long need = 2ULL * m->n_params * sizeof(float);
    if ((unsigned long long)sb.st_size < need)
        return rd_error(r, "its header declares %zu parameters (%llu bytes of tensors) but the "
                           "file has only %lld bytes: damaged or forged header",
                        m->n_params, need, (long long)sb.st_size);
    return 0;
}

/* Opens path as HDF5 with clear messages for missing, unreadable, non-HDF5
 * and damaged files. */
static int open_file(Reader *r)
{
    char cause[256];
    int fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0)
        return rd_error(r, "cannot open: %s", strerror(errno));
    struct stat sb;
    int regular = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    close(fd);
    if (!regular)
        return rd_error(r, "not a regular file (%s): give a checkpoint file",
                        S_ISDIR(sb.st_mode) ? "a directory" : "a device, FIFO or socket");
    htri_t is = H5Fis_hdf5(r->path);
    if (is == 0)
        return rd_error(r, "not an HDF5 file");
    r->file = is < 0 ? -1 : H5Fopen(r->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0)
        return rd_error(r, "damaged or truncated HDF5 file: %s", h5image_cause(cause));
    htri_t has = H5Lexists(r->file, "/state", H5P_DEFAULT);
    if (has < 0)
        return h5_damaged(r, "the root group");
    if (has == 0 || (r->state = H5Gopen2(r->file, "/state", H5P_DEFAULT)) < 0)
        return has == 0 ? rd_error(r, "group /state is missing: not a shardnet checkpoint")
                        : h5_damaged(r, "group /state");
    return 0;
}

static void print_state(FILE *out, const TrainState *st)
{
    fprintf(out, "  format_version %d (written by shardnet %s)\n", st->format_version,
            st->shardnet_version);
    fprintf(out, "  step %llu, epoch %llu, step_in_epoch %llu, seed %llu\n",
            (unsigned long long)st->step, (unsigned long long)st->epoch,
            (unsigned long long)st->step_in_epoch, (unsigned long long)st->seed);
    fprintf(out, "  arch %s, input %lldx%lldx%lld, %lld classes, batch %lld (micro %lld), "
                 "saved by %d ranks\n",
            lenet_arch_name(st->arch), (long long)st->input_c, (long long)st->input_h,
            (long long)st->input_w, (long long)st->num_classes, (long long)st->global_batch,
            (long long)st->micro_batch, (int)st->world_size);
    fprintf(out, "  schedule %s, lr %g, momentum %g, weight_decay %g\n", st->sched.name,
            st->sched.lr, st->sched.momentum, st->sched.weight_decay);
    fprintf(out, "  oneDNN ISA %s\n", st->cpu_isa[0] ? st->cpu_isa : "(not recorded)");
}

static int load(const char *path, TrainState *st, float **params, float **momentum,
                size_t *n_params, FILE *report)
{
    h5_quiet();
    Reader r = {path, -1, -1, report};
    LeNet m;
    float *p = NULL, *mo = NULL;
    memset(st, 0, sizeof *st);
    int rc = open_file(&r);
    if (rc == 0)
        rc = read_state(&r, st);
    if (rc == 0 && report)
        print_state(report, st);
    if (rc == 0 && ckpt_describe(st, &m) < 0) {
        char why[600];
        snprintf(why, sizeof why, "%s", base_error());
        rc = rd_error(&r, "stored arch/input shape rejected: %s", why);
    }
    if (rc == 0)
        rc = check_tensors(&r, &m);
    if (rc == 0)
        rc = check_file_size(&r, &m);
    if (rc == 0) {
        p = xaligned(m.n_params * sizeof(float));
        mo = xaligned(m.n_params * sizeof(float));
        rc = read_tensors(&r, groups[0], &m, p);
    }
    if (rc == 0)
        rc = read_tensors(&r, groups[1], &m, mo);
    if (rc == 0)
        rc = check_finite(&r, &m, p, mo);
    if (rc == 0)
        rc = check_digest(&r, &m, st, p, mo);
    if (r.state >= 0)
        H5Gclose(r.state);
    if (r.file >= 0)
        H5Fclose(r.file);
    if (rc < 0 || !params) {
        free(p);
        free(mo);
        return rc;
    }
    *params = p, *momentum = mo, *n_params = m.n_params;
    return 0;
}

int ckpt_read(const char *path, TrainState *st, float **params, float **momentum,
              size_t *n_params)
{
    return load(path, st, params, momentum, n_params, NULL);
}

int ckpt_verify(const char *path, FILE *report)
{
    TrainState *st = xmalloc(sizeof *st);
    if (report)
        fprintf(report, "%s\n", path);
    int rc = load(path, st, NULL, NULL, NULL, report);
    free(st);
    return rc;
}
