/* export.c - see export.h. */
#include "export.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "dataset.h"
#include "loader.h"
#include "shardnet_version.h"

static void base_name(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    snprintf(out, n, "%s", slash ? slash + 1 : path);
}

void export_put_f32le(uint8_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        dst[4 * i] = (uint8_t)u, dst[4 * i + 1] = (uint8_t)(u >> 8);
        dst[4 * i + 2] = (uint8_t)(u >> 16), dst[4 * i + 3] = (uint8_t)(u >> 24);
    }
}

/* The loader's arithmetic (io/loader.c set_scale/to_float), per channel. */
void export_pixels_to_input(const TrainState *st, const uint8_t *pixels, size_t n, float *dst)
{
    const size_t plane = (size_t)(st->input_h * st->input_w), c = (size_t)st->input_c;
    for (size_t s = 0; s < n; s++)
        for (size_t ch = 0; ch < c; ch++) {
            float scale = (float)(1.0 / (255.0 * st->std[ch]));
            float shift = (float)(-st->mean[ch] / st->std[ch]);
            size_t at = (s * c + ch) * plane;
            for (size_t i = 0; i < plane; i++)
                dst[at + i] = (float)pixels[at + i] * scale + shift;
        }
}

static int check_shape(const Dataset *ds, const TrainState *st, const char *data)
{
    if (st->input_c == (int64_t)ds->channels && st->input_h == (int64_t)ds->height &&
        st->input_w == (int64_t)ds->width && st->num_classes == ds->num_classes)
        return 0;
    return base_error_set("%s: images %zux%zux%zu with %d classes, the checkpoint expects "
                          "%lldx%lldx%lld with %lld classes", data, ds->channels, ds->height,
                          ds->width, ds->num_classes, (long long)st->input_c,
                          (long long)st->input_h, (long long)st->input_w,
                          (long long)st->num_classes);
}

int export_read_test(const char *data, const TrainState *st, size_t first, size_t *count,
                     float **images, uint8_t **labels)
{
    Dataset ds;
    EvalSet ev = {0};
    if (dataset_open(&ds, data) < 0)
        return -1;
    int rc = check_shape(&ds, st, data);
    if (rc == 0)
        rc = loader_eval_init(&ev, &ds, 1, 0, 0);
    if (rc == 0 && first >= ev.count)
        rc = base_error_set("%s: test image %zu requested, the test set has %zu", data, first,
                            ev.count);
    if (rc == 0) {
        size_t n = ev.count - first;
        if (*count && *count < n)
            n = *count;
        *count = n;
        *images = xmalloc(n * ds.sample_size * sizeof(float));
        *labels = xmalloc(n);
        export_pixels_to_input(st, ev.images + first * ds.sample_size, n, *images);
        memcpy(*labels, ev.labels + first, n);
    }
    loader_eval_free(&ev);
    dataset_free(&ds);
    return rc;
}

int export_logits(const TrainState *st, const float *params, const float *images, size_t n,
                  size_t batch, float *logits)
{
    const size_t b = n < batch ? n : batch, k = (size_t)st->num_classes;
    const size_t sample = (size_t)(st->input_c * st->input_h * st->input_w);
    LeNet m;
    if (b == 0)
        return base_error_set("export: no images to run");
    if (lenet_init(&m, st->arch, (int64_t)b, st->input_c, st->input_h, st->input_w,
                   st->num_classes, LAYOUT_NHWC) < 0) {
        lenet_free(&m);
        return -1;
    }
    float *src = xaligned(b * sample * sizeof(float)); /* (b, C, H, W), zero padding */
    for (size_t i = 0; i < n; i += b) {
        size_t now = n - i < b ? n - i : b;
        memcpy(src, images + i * sample, now * sample * sizeof(float));
        lenet_forward(&m, params, src);
        memcpy(logits + i * k, m.logits, now * k * sizeof(float));
    }
    free(src);
    lenet_free(&m);
    return 0;
}

static int load_golden(ExportSource *s, const char *data, size_t golden_count)
{
    size_t n = golden_count;
    if (export_read_test(data, &s->st, 0, &n, &s->golden_images, &s->golden_labels) < 0)
        return -1;
    s->golden_count = n;
    s->golden_logits = xmalloc(n * (size_t)s->st.num_classes * sizeof(float));
    return export_logits(&s->st, s->params, s->golden_images, n, n, s->golden_logits);
}

int export_source_load(ExportSource *s, const char *checkpoint, const char *data,
                       size_t golden_count)
{
    memset(s, 0, sizeof *s);
    float *momentum = NULL;
    size_t n = 0;
    if (ckpt_read(checkpoint, &s->st, &s->params, &momentum, &n) < 0)
        return -1;
    free(momentum);
    if (ckpt_describe(&s->st, &s->net) < 0 || s->net.n_params != n)
        return base_error_set("%s: the checkpoint's tensors do not match its LeNet table",
                              checkpoint);
    base_name(checkpoint, s->checkpoint_name, sizeof s->checkpoint_name);
    base_name(data, s->data_name, sizeof s->data_name);
    if (checksum_sha256_file(checkpoint, s->checkpoint_sha256) < 0)
        return -1;
    s->tensor_le = xmalloc(4 * n);
    export_put_f32le(s->tensor_le, s->params, n);
    if (checksum_sha256(s->tensor_le, 4 * n, s->params_sha256) < 0)
        return -1;
    if (golden_count == 0)
        return base_error_set("export: the golden batch needs at least one image");
    return load_golden(s, data, golden_count);
}

void export_source_free(ExportSource *s)
{
    free(s->params);
    free(s->tensor_le);
    free(s->golden_images);
    free(s->golden_logits);
    free(s->golden_labels);
    memset(s, 0, sizeof *s);
}

/* ---- metadata ---- */

static char *take(Text *t) { return t->data; }

static char *json_doubles(const double *v, size_t n)
{
    Text t = {0};
    text_put(&t, "[");
    for (size_t i = 0; i < n; i++) {
        text_put(&t, i ? ", " : "");
        text_json_f64(&t, v[i]);
    }
    text_put(&t, "]");
    return take(&t);
}

static char *json_classes(const TrainState *st)
{
    Text t = {0};
    text_put(&t, "[");
    for (int64_t i = 0; i < st->num_classes; i++) {
        text_put(&t, i ? ", " : "");
        if (text_json_string(&t, st->class_names[i]) < 0) {
            text_free(&t);
            return NULL;
        }
    }
    text_put(&t, "]");
    return take(&t);
}

/* The golden batch as JSON: images as base64 float32 LE, logits as numbers
 * that parse back to the exact float32 values. */
static char *json_golden(const ExportSource *s)
{
    const TrainState *st = &s->st;
    const size_t n = s->golden_count, k = (size_t)st->num_classes;
    const size_t floats = n * (size_t)(st->input_c * st->input_h * st->input_w);
    Text t = {0};
    text_put(&t, "{\"dataset\": ");
    if (text_json_string(&t, s->data_name) < 0) {
        text_free(&t);
        return NULL;
    }
    text_printf(&t, ", \"split\": \"test\", \"first\": 0, \"count\": %zu, "
                "\"shape\": [%zu, %lld, %lld, %lld], \"dtype\": \"float32\", "
                "\"byte_order\": \"little\", \"tolerance\": %g, \"labels\": [",
                n, n, (long long)st->input_c, (long long)st->input_h, (long long)st->input_w,
                EXPORT_TOLERANCE);
    for (size_t i = 0; i < n; i++)
        text_printf(&t, "%s%u", i ? ", " : "", s->golden_labels[i]);
    text_put(&t, "], \"logits\": [");
    for (size_t i = 0; i < n; i++) {
        text_put(&t, i ? ", [" : "[");
        for (size_t j = 0; j < k; j++) {
            text_put(&t, j ? ", " : "");
            text_json_f32(&t, s->golden_logits[i * k + j]);
        }
        text_put(&t, "]");
    }
    text_put(&t, "], \"images_base64\": \"");
    uint8_t *le = xmalloc(4 * floats);
    export_put_f32le(le, s->golden_images, floats);
    text_base64(&t, le, 4 * floats);
    free(le);
    text_put(&t, "\"}");
    return take(&t);
}

static char *printed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printed(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int export_metadata(const ExportSource *s, ExportMeta meta[EXPORT_META_MAX], size_t *n)
{
    const TrainState *st = &s->st;
    const size_t c = (size_t)st->input_c;
    ExportMeta m[] = {
        {"shardnet.version", xstrdup(SHARDNET_VERSION)},
        {"shardnet.arch", xstrdup(lenet_arch_name(st->arch))},
        {"shardnet.classes", json_classes(st)},
        {"shardnet.input", printed("float32 (N, %lld, %lld, %lld) NCHW; value = (pixel / 255 - "
                                   "mean[c]) / std[c] for pixels in 0..255, mean and std from "
                                   "shardnet.input_mean and shardnet.input_std",
                                   (long long)st->input_c, (long long)st->input_h,
                                   (long long)st->input_w)},
        {"shardnet.input_shape", printed("[%lld, %lld, %lld]", (long long)st->input_c,
                                         (long long)st->input_h, (long long)st->input_w)},
        {"shardnet.input_mean", json_doubles(st->mean, c)},
        {"shardnet.input_std", json_doubles(st->std, c)},
        {"shardnet.source_checkpoint", xstrdup(s->checkpoint_name)},
        {"shardnet.source_checkpoint_sha256", xstrdup(s->checkpoint_sha256)},
        {"shardnet.source_step", printed("%" PRIu64, st->step)},
        {"shardnet.params_sha256", xstrdup(s->params_sha256)},
        {"shardnet.golden", json_golden(s)},
    };
    *n = sizeof m / sizeof m[0];
    _Static_assert(sizeof m / sizeof m[0] <= EXPORT_META_MAX, "EXPORT_META_MAX too small");
    memcpy(meta, m, sizeof m);
    for (size_t i = 0; i < *n; i++)
        if (!meta[i].value) {
            char why[512];
            snprintf(why, sizeof why, "%s", base_error());
            export_metadata_free(meta, *n);
            return base_error_set("export: metadata %s: %s", m[i].key, why);
        }
    return 0;
}

void export_metadata_free(ExportMeta *meta, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(meta[i].value);
        meta[i].value = NULL;
    }
}
