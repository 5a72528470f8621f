/* test_ckpt.c - checkpoints on real files in a fresh mkdtemp directory:
 * bit-exact round trip, every corruption refused by ckpt_read AND
 * ckpt_verify with a message naming what is bad, the directory (keep,
 * latest, resume fallback), and real write failures (a full tmpfs, a
 * read-only mount, a path under a regular file).  The mount tests need
 * root; without it they skip and say why. */
#define _GNU_SOURCE /* nftw, memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "atomic.h"
#include "base.h"
#include "ckpt.h"
#include "ckptdir.h"
#include "rng.h"
#include "shardnet_version.h"

static char g_root[64];    /* the test's mkdtemp directory */
static char g_path[4096];  /* a scratch checkpoint path inside it */

/* ---- fixtures ----------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/test_ckpt.XXXXXX");
    if (!mkdtemp(g_root))
        return -1;
    snprintf(g_path, sizeof g_path, "%s/ckpt.h5", g_root);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(g_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Every field distinct and not a round number. */
static void make_state(TrainState *st, uint64_t step)
{
    memset(st, 0, sizeof *st);
    st->step = step;
    st->epoch = 3;
    st->step_in_epoch = 17;
    st->seed = 0x9e3779b97f4a7c15ULL;
    st->global_batch = 256;
    st->micro_batch = 32;
    st->world_size = 4;
    st->arch = ARCH_MODERN;
    st->input_c = 1, st->input_h = 28, st->input_w = 28;
    st->num_classes = 10;
    const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    for (int k = 0; k < 10; k++)
        snprintf(st->class_names[k], CKPT_CLASS_LEN, "%s", names[k]);
    st->mean[0] = 0.2860402;
    st->std[0] = 0.3530239;
    snprintf(st->sched.name, CKPT_SCHED_LEN, "cosine");
    st->sched.lr = 0.1;
    st->sched.momentum = 0.9;
    st->sched.weight_decay = 5e-4;
    st->sched.warmup = 50;
    st->sched.step_size = 7;
    st->sched.gamma = 0.3;
    st->sched.total_steps = 2340;
    snprintf(st->config, CKPT_CONFIG_LEN, "{\"batch\": 256, \"reduce\": \"exact\"}");
    snprintf(st->cpu_isa, CKPT_ISA_LEN, "AVX2");
}

/* params and momentum for st (xaligned, *n floats each), from seed. */
static void make_tensors(const TrainState *st, float **params, float **momentum, size_t *n,
                         uint64_t seed)
{
    LeNet m;
    assert_int_equal(ckpt_describe(st, &m), 0);
    *n = m.n_params;
    *params = xaligned(*n * sizeof(float));
    *momentum = xaligned(*n * sizeof(float));
    Rng r = {seed};
    for (size_t i = 0; i < *n; i++) {
        (*params)[i] = rng_uniform01(&r) * 2.0f - 1.0f;
        (*momentum)[i] = (rng_uniform01(&r) - 0.5f) * 1e-3f;
    }
}

/* A checkpoint of step at path. */
static void write_sample(const char *path, uint64_t step)
{
    TrainState st;
    float *p, *m;
    size_t n;
    make_state(&st, step);
    make_tensors(&st, &p, &m, &n, step);
    if (ckpt_write(path, &st, p, m, n) < 0)
        fail_msg("ckpt_write: %s", base_error());
    free(p);
    free(m);
}

static void save_sample(const char *dir, uint64_t step, size_t keep)
{
    TrainState st;
    float *p, *m;
    size_t n;
    make_state(&st, step);
    make_tensors(&st, &p, &m, &n, step);
    if (ckpt_save(dir, &st, p, m, n, keep, NULL, 0) < 0)
        fail_msg("ckpt_save: %s", base_error());
    free(p);
    free(m);
}

/* Both ckpt_read and ckpt_verify refuse path, with every needle in the
 * message; ckpt_verify's report is collected to make sure it does not
 * claim success. */
static void expect_refused(const char *path, const char *needle1, const char *needle2)
{
    TrainState *st = xmalloc(sizeof *st);
    float *p = NULL, *m = NULL;
    size_t n = 0;
    int rc = ckpt_read(path, st, &p, &m, &n);
    free(st);
    if (rc == 0)
        fail_msg("ckpt_read accepted %s (wanted '%s')", path, needle1);
    assert_null(p);
    const char *needles[2] = {needle1, needle2};
    for (int i = 0; i < 2; i++)
        if (needles[i] && !strstr(base_error(), needles[i]))
            fail_msg("ckpt_read message lacks '%s': %s", needles[i], base_error());
    char *text = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&text, &len);
    rc = ckpt_verify(path, report);
    fclose(report);
    if (rc == 0)
        fail_msg("ckpt_verify accepted %s (wanted '%s'); report:\n%s", path, needle1, text);
    for (int i = 0; i < 2; i++)
        if (needles[i] && !strstr(base_error(), needles[i]))
            fail_msg("ckpt_verify message lacks '%s': %s", needles[i], base_error());
    assert_null(strstr(text, "param_digest sha256")); /* never got to the end */
    free(text);
}

/* Names in dir that look like our temporary files. */
static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static off_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

/* ---- round trip ---------------------------------------------------------- */

static void test_round_trip(void **state)
{
    (void)state;
    TrainState *in = xmalloc(sizeof *in), *out = xmalloc(sizeof *out);
    float *p, *m, *rp, *rm;
    size_t n, rn;
    make_state(in, 1234);
    make_tensors(in, &p, &m, &n, 7);
    if (ckpt_write(g_path, in, p, m, n) < 0)
        fail_msg("ckpt_write: %s", base_error());
    assert_int_equal(count_temp_files(g_root), 0);
    if (ckpt_read(g_path, out, &rp, &rm, &rn) < 0)
        fail_msg("ckpt_read: %s", base_error());
    assert_int_equal(rn, n);
    assert_memory_equal(rp, p, n * sizeof(float));
    assert_memory_equal(rm, m, n * sizeof(float));

    assert_int_equal(out->format_version, CKPT_FORMAT_VERSION);
    assert_string_equal(out->shardnet_version, SHARDNET_VERSION);
    assert_int_equal(out->step, 1234);
    assert_int_equal(out->epoch, in->epoch);
    assert_int_equal(out->step_in_epoch, in->step_in_epoch);
    assert_true(out->seed == in->seed);
    assert_int_equal(out->global_batch, in->global_batch);
    assert_int_equal(out->micro_batch, in->micro_batch);
    assert_int_equal(out->world_size, in->world_size);
    assert_int_equal(out->arch, ARCH_MODERN);
    assert_int_equal(out->input_c, 1);
    assert_int_equal(out->input_h, 28);
    assert_int_equal(out->input_w, 28);
    assert_int_equal(out->num_classes, 10);
    for (int k = 0; k < 10; k++)
        assert_string_equal(out->class_names[k], in->class_names[k]);
    assert_memory_equal(out->mean, in->mean, sizeof in->mean);
    assert_memory_equal(out->std, in->std, sizeof in->std);
    assert_string_equal(out->sched.name, "cosine");
    assert_memory_equal(&out->sched.lr, &in->sched.lr, sizeof(double));
    assert_memory_equal(&out->sched.momentum, &in->sched.momentum, sizeof(double));
    assert_memory_equal(&out->sched.weight_decay, &in->sched.weight_decay, sizeof(double));
    assert_memory_equal(&out->sched.gamma, &in->sched.gamma, sizeof(double));
    assert_int_equal(out->sched.warmup, 50);
    assert_int_equal(out->sched.step_size, 7);
    assert_int_equal(out->sched.total_steps, 2340);
    assert_string_equal(out->config, in->config);
    assert_string_equal(out->cpu_isa, "AVX2");
    /* Nothing else differs either (both zeroed before filling). */
    in->format_version = out->format_version;
    memcpy(in->shardnet_version, out->shardnet_version, CKPT_VERSION_LEN);
    assert_memory_equal(out, in, sizeof *in);

    /* A file with another arch reads back with that arch's table. */
    in->arch = ARCH_CLASSIC;
    in->input_c = 3, in->input_h = 32, in->input_w = 32;
    in->mean[1] = 0.5, in->std[2] = 0.25;
    in->cpu_isa[0] = '\0'; /* not recorded (as in older files): the attribute is left out */
    free(p), free(m), free(rp), free(rm);
    make_tensors(in, &p, &m, &n, 8);
    assert_int_equal(ckpt_write(g_path, in, p, m, n), 0);
    assert_int_equal(ckpt_read(g_path, out, &rp, &rm, &rn), 0);
    assert_int_equal(rn, n);
    assert_memory_equal(rp, p, n * sizeof(float));
    assert_int_equal(out->arch, ARCH_CLASSIC);
    assert_memory_equal(out->std, in->std, sizeof in->std);
    assert_string_equal(out->cpu_isa, "");
    free(p), free(m), free(rp), free(rm), free(in), free(out);
}

static void test_verify_report(void **state)
{
    (void)state;
    write_sample(g_path, 42);
    char *text = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&text, &len);
    int rc = ckpt_verify(g_path, report);
    fclose(report);
    if (rc < 0)
        fail_msg("ckpt_verify: %s", base_error());
    const char *want[] = {"format_version 2", "step 42,", "arch modern, input 1x28x28",
                          "/params/conv1.weight", "(6, 1, 5, 5)", "/params/fc3.bias",
                          "/momentum/fc1.weight", "(120, 400)", "fletcher32 ok",
                          "param_digest sha256"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(text, want[i]))
            fail_msg("report lacks '%s':\n%s", want[i], text);
    free(text);
}

static void test_write_rejects_bad_input(void **state)
{
    (void)state;
    TrainState st;
    float *p, *m;
    size_t n;
    make_state(&st, 1);
    make_tensors(&st, &p, &m, &n, 1);
    assert_int_equal(ckpt_write(g_path, &st, p, m, n - 1), -1);
    assert_non_null(strstr(base_error(), "parameters given"));
    st.num_classes = 1;
    assert_int_equal(ckpt_write(g_path, &st, p, m, n), -1);
    assert_non_null(strstr(base_error(), "num_classes"));
    assert_int_equal(access(g_path, F_OK), -1); /* nothing was written */
    free(p), free(m);
}

/* ---- corruptions --------------------------------------------------------- */

static void test_truncated(void **state)
{
    (void)state;
    write_sample(g_path, 5);
    assert_int_equal(truncate(g_path, file_size(g_path) / 2), 0);
    expect_refused(g_path, "truncated", g_path);
}

/* File offset of the single chunk of dataset name, and its size.  HDF5
 * 1.10.8's H5Dget_num_chunks/H5Dget_chunk_info report no chunks for these
 * datasets (v1 B-tree index), so when they do, the chunk is found instead
 * by its content: the first 64 bytes of the tensor's data, which are
 * stored unencoded (Fletcher-32 only appends 4 bytes). */
static void chunk_location(const char *path, const char *name, haddr_t *addr, hsize_t *size)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT), space = H5Dget_space(ds);
    assert_true(ds >= 0 && space >= 0);
    hsize_t nchunks = 0, offset[4];
    unsigned mask;
    *addr = HADDR_UNDEF;
    if (H5Dget_num_chunks(ds, space, &nchunks) >= 0 && nchunks == 1)
        assert_true(H5Dget_chunk_info(ds, space, 0, offset, &mask, addr, size) >= 0);
    hsize_t bytes = (hsize_t)H5Sget_simple_extent_npoints(space) * 4;
    float *data = xmalloc(bytes);
    assert_true(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Sclose(space), H5Dclose(ds), H5Fclose(f);
    if (*addr == HADDR_UNDEF) {
        size_t n = (size_t)file_size(path), probe = bytes < 64 ? bytes : 64;
        char *file = xmalloc(n);
        FILE *in = fopen(path, "rb");
        assert_int_equal(fread(file, 1, n, in), n);
        fclose(in);
        char *hit = memmem(file, n, data, probe);
        assert_non_null(hit);
        assert_null(memmem(hit + 1, n - (size_t)(hit + 1 - file), data, probe)); /* unique */
        *addr = (haddr_t)(hit - file);
        *size = bytes + 4;
        assert_memory_equal(hit, data, bytes); /* the whole tensor is there, in order */
        free(file);
    }
    free(data);
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void test_flipped_byte(void **state)
{
    (void)state;
    write_sample(g_path, 6);
    haddr_t addr;
    hsize_t size;
    chunk_location(g_path, "/params/fc1.weight", &addr, &size);
    assert_int_equal(size, 120 * 400 * 4 + 4); /* data + Fletcher-32 */
    flip_byte(g_path, (off_t)(addr + size / 2));
    expect_refused(g_path, "/params/fc1.weight", "checksum error");
}

static void test_flipped_checksum_byte(void **state)
{
    (void)state;
    write_sample(g_path, 6);
    haddr_t addr;
    hsize_t size;
    chunk_location(g_path, "/momentum/conv1.bias", &addr, &size);
    flip_byte(g_path, (off_t)(addr + size - 1)); /* the stored checksum itself */
    expect_refused(g_path, "/momentum/conv1.bias", "checksum error");
}

/* Opens path read-write; the caller closes. */
static hid_t open_rw(const char *path)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static void test_missing_dataset(void **state)
{
    (void)state;
    write_sample(g_path, 7);
    hid_t f = open_rw(g_path);
    assert_true(H5Ldelete(f, "/momentum/conv2.bias", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_refused(g_path, "/momentum/conv2.bias", "missing");
}

static void test_missing_group(void **state)
{
    (void)state;
    write_sample(g_path, 7);
    hid_t f = open_rw(g_path);
    assert_true(H5Ldelete(f, "/params", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_refused(g_path, "/params/conv1.weight", "missing");
}

/* Replaces dataset name by a Fletcher-32 float32 one of the given dims. */
static void replace_dataset(const char *path, const char *name, hid_t type, int nd,
                            const hsize_t *dims)
{
    hid_t f = open_rw(path);
    assert_true(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t space = H5Screate_simple(nd, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(H5Pset_chunk(dcpl, nd, dims) >= 0 && H5Pset_fletcher32(dcpl) >= 0);
    hid_t ds = H5Dcreate2(f, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(ds >= 0);
    H5Dclose(ds), H5Pclose(dcpl), H5Sclose(space), H5Fclose(f);
}

static void test_wrong_shape(void **state)
{
    (void)state;
    write_sample(g_path, 8);
    replace_dataset(g_path, "/params/fc2.weight", H5T_IEEE_F32LE, 2, (hsize_t[]){84, 119});
    expect_refused(g_path, "/params/fc2.weight", "shape (84, 119), expected (84, 120)");
}

static void test_wrong_type(void **state)
{
    (void)state;
    write_sample(g_path, 8);
    replace_dataset(g_path, "/params/fc2.bias", H5T_IEEE_F64LE, 1, (hsize_t[]){84});
    expect_refused(g_path, "/params/fc2.bias", "not float32");
}

/* Replaces integer attribute name of /state by a 64-bit one holding v
 * (deleted and recreated: HDF5 1.10.8 cannot H5Awrite an attribute kept in
 * dense storage, "can't locate open attribute"). */
static void set_state_int(const char *path, const char *name, int64_t v)
{
    hid_t f = open_rw(path);
    hid_t g = H5Gopen2(f, "/state", H5P_DEFAULT), space = H5Screate(H5S_SCALAR);
    assert_true(H5Adelete(g, name) >= 0);
    hid_t a = H5Acreate2(g, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a), H5Sclose(space), H5Gclose(g), H5Fclose(f);
}

static void test_wrong_format_version(void **state)
{
    (void)state;
    write_sample(g_path, 9);
    set_state_int(g_path, "format_version", 3);
    expect_refused(g_path, "/state/format_version is 3", "reads formats 1 and 2");
}

static void test_bad_state_attribute(void **state)
{
    (void)state;
    write_sample(g_path, 9);
    set_state_int(g_path, "num_classes", 100000);
    expect_refused(g_path, "num_classes 100000", "/state");
    write_sample(g_path, 9);
    hid_t f = open_rw(g_path);
    assert_true(H5Adelete_by_name(f, "/state", "seed", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_refused(g_path, "/state/seed", "missing");
}

static void test_digest_mismatch(void **state)
{
    (void)state;
    write_sample(g_path, 10);
    hid_t f = open_rw(g_path);
    assert_true(H5Adelete_by_name(f, "/state", "param_digest", H5P_DEFAULT) >= 0);
    hid_t g = H5Gopen2(f, "/state", H5P_DEFAULT), t = H5Tcopy(H5T_C_S1);
    hid_t space = H5Screate(H5S_SCALAR);
    char fake[65];
    memset(fake, '0', 64);
    fake[64] = '\0';
    H5Tset_size(t, sizeof fake);
    hid_t a = H5Acreate2(g, "param_digest", t, space, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, t, fake) >= 0);
    H5Aclose(a), H5Sclose(space), H5Tclose(t), H5Gclose(g), H5Fclose(f);
    expect_refused(g_path, "/state/param_digest", "does not match");
}

/* Data changed through HDF5 (so Fletcher-32 is recomputed and passes):
 * only the digest catches it. */
static void test_data_rewritten_digest_catches(void **state)
{
    (void)state;
    write_sample(g_path, 11);
    hid_t f = open_rw(g_path);
    hid_t ds = H5Dopen2(f, "/momentum/fc3.bias", H5P_DEFAULT);
    float bias[10] = {0};
    assert_true(ds >= 0 &&
                H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, bias) >= 0);
    H5Dclose(ds), H5Fclose(f);
    expect_refused(g_path, "/state/param_digest", "does not match");
}

/* A consistent edit of /state (HDF5 recomputes its own metadata checksums)
 * is caught by the format-2 digest, which covers every state field. */
static void test_state_edit_digest_catches(void **state)
{
    (void)state;
    write_sample(g_path, 11);
    set_state_int(g_path, "step", 7);
    expect_refused(g_path, "/state/param_digest", "tensors and /state");
    write_sample(g_path, 11);
    hid_t f = open_rw(g_path);
    hid_t g = H5Gopen2(f, "/state", H5P_DEFAULT);
    assert_true(H5Adelete(g, "arch") >= 0);
    H5Gclose(g), H5Fclose(f);
    f = open_rw(g_path);
    g = H5Gopen2(f, "/state", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, 8);
    hid_t a = H5Acreate2(g, "arch", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, t, "classic") >= 0);
    H5Aclose(a), H5Sclose(sp), H5Tclose(t), H5Gclose(g), H5Fclose(f);
    expect_refused(g_path, "does not match", NULL);
}

/* NaN weights written with a valid digest are refused on reading. */
static void test_nonfinite_refused(void **state)
{
    (void)state;
    TrainState st;
    float *p, *m;
    size_t n;
    make_state(&st, 5);
    make_tensors(&st, &p, &m, &n, 5);
    p[n - 1] = NAN;
    assert_int_equal(ckpt_write(g_path, &st, p, m, n), 0);
    expect_refused(g_path, "non-finite", "/params/fc3.bias");
    free(p), free(m);
}

/* A header that declares enormous but consistent dims (here the largest
 * input side) with tensors to match in structure only: refused by size
 * before anything is allocated. */
static void test_enormous_dims_refused(void **state)
{
    (void)state;
    write_sample(g_path, 3);
    hid_t f = open_rw(g_path);
    hid_t g = H5Gopen2(f, "/state", H5P_DEFAULT);
    int64_t shape[3] = {1, 4096, 4096};
    hsize_t three = 3;
    assert_true(H5Adelete(g, "input_shape") >= 0);
    hid_t sp = H5Screate_simple(1, &three, NULL);
    hid_t a = H5Acreate2(g, "input_shape", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, shape) >= 0);
    H5Aclose(a), H5Sclose(sp), H5Gclose(g);
    /* fc1 of that input: (120, 16*1022*1022), declared but never written. */
    hsize_t dims[2] = {120, 16ULL * 1022 * 1022}, chunk[2] = {1, 1024};
    for (int grp = 0; grp < 2; grp++) {
        char name[64];
        snprintf(name, sizeof name, "/%s/fc1.weight", grp ? "momentum" : "params");
        assert_true(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
        hid_t s2 = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(dcpl, 2, chunk);
        H5Pset_fletcher32(dcpl);
        hid_t ds = H5Dcreate2(f, name, H5T_IEEE_F32LE, s2, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        assert_true(ds >= 0);
        hid_t ks = H5Screate(H5S_SCALAR), kt = H5Tcopy(H5T_C_S1);
        H5Tset_size(kt, 9);
        hid_t ka = H5Acreate2(ds, "key", kt, ks, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(ka, kt, "7.weight");
        H5Aclose(ka), H5Tclose(kt), H5Sclose(ks), H5Dclose(ds), H5Pclose(dcpl), H5Sclose(s2);
    }
    H5Fclose(f);
    expect_refused(g_path, "forged header", "file has only");
}

static void test_not_hdf5(void **state)
{
    (void)state;
    FILE *f = fopen(g_path, "w");
    fputs("step,loss\n1,2.30\n", f);
    fclose(f);
    expect_refused(g_path, "not an HDF5 file", g_path);
    f = fopen(g_path, "w"); /* empty */
    fclose(f);
    expect_refused(g_path, "not an HDF5 file", NULL);
    expect_refused("/nonexistent/ckpt.h5", "No such file", "/nonexistent/ckpt.h5");
    /* HDF5, but not a checkpoint. */
    hid_t h = H5Fcreate(g_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    expect_refused(g_path, "/state is missing", NULL);
    /* A directory is not a checkpoint. */
    expect_refused(g_root, "not a regular file", "directory");
}

/* 512 random bytes over the superblock, then at random places of a valid
 * file: never a crash, and either refused with a message naming the file
 * or (the bytes hit unused space) read back exactly as written. */
static void test_garbage_never_crashes(void **state)
{
    (void)state;
    Rng r = {99};
    int unused = 0;
    for (int trial = 0; trial < 20; trial++) {
        write_sample(g_path, 12);
        off_t size = file_size(g_path);
        int fd = open(g_path, O_RDWR);
        assert_true(fd >= 0);
        unsigned char junk[512];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (unsigned char)rng_next(&r);
        off_t at = trial == 0 ? 8 : (off_t)(rng_next(&r) % (uint64_t)(size - (off_t)sizeof junk));
        assert_int_equal(pwrite(fd, junk, sizeof junk, at), (ssize_t)sizeof junk);
        close(fd);
        TrainState *st = xmalloc(sizeof *st), *want = xmalloc(sizeof *want);
        float *p = NULL, *m = NULL, *wp, *wm;
        size_t n, wn;
        int rc = ckpt_read(g_path, st, &p, &m, &n);
        if (rc < 0 && !strstr(base_error(), g_path))
            fail_msg("trial %d: message does not name the file: %s", trial, base_error());
        if (rc == 0) {
            unused++;
            make_state(want, 12);
            make_tensors(want, &wp, &wm, &wn, 12);
            assert_int_equal(n, wn);
            assert_memory_equal(p, wp, n * sizeof(float));
            assert_memory_equal(m, wm, n * sizeof(float));
            assert_true(st->step == 12 && !strcmp(st->config, want->config));
            free(p), free(m), free(wp), free(wm);
        }
        free(st), free(want);
    }
    print_message("garbage: %d of 20 trials hit unused bytes and read back intact\n", unused);
}

/* ---- directory ----------------------------------------------------------- */

static void subdir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_root, name);
}

static void test_keep_and_latest(void **state)
{
    (void)state;
    char dir[1024], latest[64];
    subdir(dir, sizeof dir, "keep");
    assert_int_equal(ckpt_check_room(dir, 1), 0); /* creates it */
    for (uint64_t s = 100; s <= 500; s += 100)
        save_sample(dir, s, 3);
    uint64_t *steps;
    size_t n;
    assert_int_equal(ckpt_list(dir, &steps, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(steps[0], 300);
    assert_int_equal(steps[2], 500);
    free(steps);
    assert_int_equal(ckpt_get_latest(dir, latest, sizeof latest), 0);
    assert_string_equal(latest, "ckpt-00000500.h5");
    assert_int_equal(count_temp_files(dir), 0);
    /* keep 0 keeps everything */
    save_sample(dir, 600, 0);
    assert_int_equal(ckpt_list(dir, &steps, &n), 0);
    assert_int_equal(n, 4);
    free(steps);
    /* names sort as numbers beyond 8 digits too */
    save_sample(dir, 123456789, 2);
    assert_int_equal(ckpt_list(dir, &steps, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(steps[0], 600);
    assert_int_equal(steps[1], 123456789);
    free(steps);
    assert_int_equal(ckpt_get_latest(dir, latest, sizeof latest), 0);
    assert_string_equal(latest, "ckpt-123456789.h5");
}

static void test_find_resume(void **state)
{
    (void)state;
    char dir[1024], path[4096], want[4096];
    subdir(dir, sizeof dir, "resume");
    assert_int_equal(ckpt_find_resume(dir, path, sizeof path, NULL), 1); /* no dir: fresh */
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(ckpt_find_resume(dir, path, sizeof path, NULL), 1); /* empty: fresh */
    for (uint64_t s = 1; s <= 3; s++)
        save_sample(dir, s, 0);
    /* A complete file under a temporary name is never taken. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/.ckpt-00000009.h5.tmp.4242", dir);
    write_sample(tmp, 9);
    assert_int_equal(ckpt_find_resume(dir, path, sizeof path, NULL), 0);
    ckpt_path(dir, 3, want, sizeof want);
    assert_string_equal(path, want);

    /* Newest corrupt (flipped data byte), the one before truncated. */
    haddr_t addr;
    hsize_t size;
    chunk_location(want, "/params/conv2.weight", &addr, &size);
    flip_byte(want, (off_t)(addr + 7));
    char second[4096];
    ckpt_path(dir, 2, second, sizeof second);
    assert_int_equal(truncate(second, 1000), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&text, &len);
    int rc = ckpt_find_resume(dir, path, sizeof path, report);
    fclose(report);
    if (rc != 0)
        fail_msg("find_resume: %s", base_error());
    ckpt_path(dir, 1, want, sizeof want);
    assert_string_equal(path, want);
    const char *needles[] = {"skipping", "ckpt-00000003.h5", "/params/conv2.weight: checksum",
                             "ckpt-00000002.h5", "truncated", "resuming from older"};
    for (size_t i = 0; i < sizeof needles / sizeof *needles; i++)
        if (!strstr(text, needles[i]))
            fail_msg("report lacks '%s':\n%s", needles[i], text);
    free(text);

    /* None verifies: an error, not a fresh start. */
    assert_int_equal(truncate(want, 10), 0);
    assert_int_equal(ckpt_find_resume(dir, path, sizeof path, NULL), -1);
    assert_non_null(strstr(base_error(), "none of the 3 checkpoints"));
}

/* mount(2) a tmpfs at dir; 0, or -1 with errno when not permitted. */
/* A restart that gets the PID of a killed writer: its leftover temporary
 * file (the old ".<name>.tmp.<pid>" naming) no longer blocks the write
 * ("File exists" forever before); the stale files are cleaned, a file
 * still locked by a live writer is not. */
static void test_stale_temp_files(void **state)
{
    (void)state;
    char dir[1024], a[4096], b[4096], live[4096], other[4096], latest[4096];
    subdir(dir, sizeof dir, "stale");
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(a, sizeof a, "%s/.latest.tmp.%ld", dir, (long)getpid());
    snprintf(b, sizeof b, "%s/.ckpt-00000004.h5.tmp.%ld", dir, (long)getpid());
    snprintf(live, sizeof live, "%s/.ckpt-00000008.h5.tmp.XXXXXX", dir);
    snprintf(other, sizeof other, "%s/notes.tmp.txt", dir);
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(i ? b : a, "w");
        fputs("half a file", f);
        fclose(f);
    }
    FILE *f = fopen(other, "w");
    fclose(f);
    save_sample(dir, 4, 0); /* writes ckpt-00000004.h5 and latest past the leftovers */
    assert_int_equal(ckpt_get_latest(dir, latest, sizeof latest), 0);
    assert_string_equal(latest, "ckpt-00000004.h5");
    int fd = atomic_create_locked(live); /* a writer that is alive */
    assert_true(fd >= 0);
    assert_int_equal(atomic_clean_stale(dir, NULL, NULL), 2);
    assert_int_equal(access(a, F_OK), -1);
    assert_int_equal(access(b, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    assert_int_equal(access(other, F_OK), 0);
    close(fd); /* the writer dies: now its file is stale */
    assert_int_equal(atomic_clean_stale(dir, NULL, NULL), 1);
    assert_int_equal(access(live, F_OK), -1);
    assert_int_equal(count_temp_files(dir), 1); /* notes.tmp.txt: not ours, kept */;
}

static int mount_tmpfs(const char *dir, const char *opts, unsigned long flags)
{
    return mount("tmpfs", dir, "tmpfs", flags, opts);
}

static void unmount(const char *dir)
{
    if (umount(dir) < 0)
        umount2(dir, MNT_DETACH);
}

static void test_disk_full(void **state)
{
    (void)state;
    char dir[1024], opts[64], first[4096];
    write_sample(g_path, 1);
    off_t one = file_size(g_path); /* one checkpoint */
    subdir(dir, sizeof dir, "full");
    assert_int_equal(mkdir(dir, 0755), 0);
    /* Room for one checkpoint and half of the next. */
    snprintf(opts, sizeof opts, "size=%lld", (long long)((one + one / 2 + 4095) / 4096 * 4096));
    if (mount_tmpfs(dir, opts, 0) < 0) {
        print_message("SKIP disk full: cannot mount a tmpfs (%s); needs root\n", strerror(errno));
        skip();
    }
    TrainState st;
    make_state(&st, 1);
    assert_true(ckpt_size_estimate(&st) >= (size_t)one);
    int room1 = ckpt_check_room(dir, ckpt_size_estimate(&st));
    char why1[1024];
    snprintf(why1, sizeof why1, "%s", base_error());
    save_sample(dir, 1, 0);
    ckpt_path(dir, 1, first, sizeof first);

    float *p, *m;
    size_t n;
    make_state(&st, 2);
    make_tensors(&st, &p, &m, &n, 2);
    int rc = ckpt_save(dir, &st, p, m, n, 1, NULL, 0);
    char why2[1024];
    snprintf(why2, sizeof why2, "%s", base_error());
    int room2 = ckpt_check_room(dir, ckpt_size_estimate(&st));
    char why3[1024];
    snprintf(why3, sizeof why3, "%s", base_error());
    int verified = ckpt_verify(first, NULL);
    char latest[64] = "";
    ckpt_get_latest(dir, latest, sizeof latest);
    int temps = count_temp_files(dir);
    uint64_t *steps;
    size_t count;
    ckpt_list(dir, &steps, &count);
    free(steps), free(p), free(m);
    unmount(dir);

    if (room1 != 0)
        fail_msg("empty tmpfs reported no room: %s", why1);
    if (rc == 0)
        fail_msg("second checkpoint fitted in %s; the test needs a full disk", opts);
    if (!strstr(why2, "No space left on device") || !strstr(why2, "ckpt-00000002.h5"))
        fail_msg("unclear disk-full message: %s", why2);
    assert_int_equal(verified, 0);
    assert_int_equal(temps, 0);
    assert_int_equal(count, 1);
    assert_string_equal(latest, "ckpt-00000001.h5");
    if (room2 == 0 || !strstr(why3, "no room"))
        fail_msg("check_room on a full disk: rc %d, '%s'", room2, why3);
}

static void test_unwritable(void **state)
{
    (void)state;
    char file[1024], dir[2048], path[4096];
    /* A path under a regular file: even root cannot create it. */
    subdir(file, sizeof file, "plainfile");
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(dir, sizeof dir, "%s/ckpts", file);
    assert_int_equal(ckpt_check_room(dir, 1), -1);
    assert_non_null(strstr(base_error(), "not a directory"));
    assert_non_null(strstr(base_error(), dir));
    snprintf(path, sizeof path, "%s/ckpt-00000001.h5", dir);
    TrainState st;
    float *p, *m;
    size_t n;
    make_state(&st, 1);
    make_tensors(&st, &p, &m, &n, 1);
    assert_int_equal(ckpt_write(path, &st, p, m, n), -1);
    assert_non_null(strstr(base_error(), "Not a directory"));
    assert_non_null(strstr(base_error(), path));

    /* A read-only mount. */
    subdir(dir, sizeof dir, "ro");
    assert_int_equal(mkdir(dir, 0755), 0);
    if (mount_tmpfs(dir, "size=1m", MS_RDONLY) < 0) {
        free(p), free(m);
        print_message("SKIP read-only mount: cannot mount a tmpfs (%s); needs root\n",
                      strerror(errno));
        skip();
    }
    int room = ckpt_check_room(dir, 1);
    char why1[1024];
    snprintf(why1, sizeof why1, "%s", base_error());
    snprintf(path, sizeof path, "%s/ckpt-00000001.h5", dir);
    int rc = ckpt_write(path, &st, p, m, n);
    char why2[1024];
    snprintf(why2, sizeof why2, "%s", base_error());
    unmount(dir);
    free(p), free(m);
    if (room == 0 || !strstr(why1, "not writable: Read-only file system"))
        fail_msg("check_room on a read-only mount: rc %d, '%s'", room, why1);
    if (rc == 0 || !strstr(why2, "Read-only file system") || !strstr(why2, path))
        fail_msg("ckpt_write on a read-only mount: rc %d, '%s'", rc, why2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_rejects_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_checksum_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dataset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_format_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_edit_digest_catches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_temp_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonfinite_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enormous_dims_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_state_attribute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_rewritten_digest_catches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_hdf5, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_never_crashes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_and_latest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
    };
    return cmocka_run_group_tests_name("ckpt", tests, NULL, NULL);
}
