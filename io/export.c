/* export.c - see export.h. */
#include "export.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base.h"
#include "dataset.h"
#include "loader.h"
#include "rng.h"
#include "shardnet_version.h"

static void base_name(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    snprintf(out, n, "%.*s", (int)n - 1, slash ? slash + 1 : path);
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

void export_pixels_to_raw(const TrainState *st, const uint8_t *pixels, size_t n, float *dst)
{
    TrainState plain = *st;
    for (int64_t c = 0; c < st->input_c; c++)
        plain.mean[c] = 0.0, plain.std[c] = 1.0;
    export_pixels_to_input(&plain, pixels, n, dst);
}

int export_recorded_data(const TrainState *st, char *out, size_t n)
{
    json_t *root = json_loadb(st->config, strnlen(st->config, sizeof st->config), 0, NULL);
    const char *data = json_string_value(json_object_get(root, "data"));
    int rc = data && data[0] && strlen(data) < n ? 0 : -1;
    if (rc == 0)
        snprintf(out, n, "%s", data);
    json_decref(root);
    return rc;
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

/* Test pixels [first, first + *count) of data (see export_read_test). */
static int read_test_pixels(const char *data, const TrainState *st, size_t first, size_t *count,
                            uint8_t **pixels, uint8_t **labels)
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
        *pixels = xmalloc(n * ds.sample_size);
        *labels = xmalloc(n);
        memcpy(*pixels, ev.images + first * ds.sample_size, n * ds.sample_size);
        memcpy(*labels, ev.labels + first, n);
    }
    loader_eval_free(&ev);
    dataset_free(&ds);
    return rc;
}

int export_read_test(const char *data, const TrainState *st, size_t first, size_t *count,
                     float **images, uint8_t **labels)
{
    uint8_t *pixels;
    if (read_test_pixels(data, st, first, count, &pixels, labels) < 0)
        return -1;
    const size_t sample = (size_t)(st->input_c * st->input_h * st->input_w);
    *images = xmalloc(*count * sample * sizeof(float));
    export_pixels_to_input(st, pixels, *count, *images);
    free(pixels);
    return 0;
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

/* The golden batch from pixels (n, C, H, W): shardnet's logits from the
 * normalised input; the stored images are the export's input (pixel / 255
 * when baked). */
static int golden_from_pixels(ExportSource *s, const uint8_t *pixels, size_t n)
{
    const size_t sample = (size_t)(s->st.input_c * s->st.input_h * s->st.input_w);
    float *model_input = xmalloc(n * sample * sizeof(float));
    export_pixels_to_input(&s->st, pixels, n, model_input);
    s->golden_count = n;
    s->golden_logits = xmalloc(n * (size_t)s->st.num_classes * sizeof(float));
    int rc = export_logits(&s->st, s->params, model_input, n, n, s->golden_logits);
    if (s->baked) {
        s->golden_images = xmalloc(n * sample * sizeof(float));
        export_pixels_to_raw(&s->st, pixels, n, s->golden_images);
        free(model_input);
    } else {
        s->golden_images = model_input;
    }
    return rc;
}

/* golden_count synthetic images of SplitMix64 pixels, labelled with
 * shardnet's predictions (there is no ground truth). */
static int load_synthetic(ExportSource *s, size_t n)
{
    const size_t sample = (size_t)(s->st.input_c * s->st.input_h * s->st.input_w);
    const size_t k = (size_t)s->st.num_classes;
    uint8_t *pixels = xmalloc(n * sample);
    Rng r = {EXPORT_SYNTHETIC_SEED};
    for (size_t i = 0; i < n * sample; i++)
        pixels[i] = (uint8_t)(rng_next(&r) >> 56);
    s->synthetic = 1;
    snprintf(s->data_name, sizeof s->data_name, "synthetic");
    int rc = golden_from_pixels(s, pixels, n);
    free(pixels);
    s->golden_labels = xmalloc(n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t best = 0;
        for (size_t c = 1; c < k; c++)
            if (s->golden_logits[i * k + c] > s->golden_logits[i * k + best])
                best = c;
        s->golden_labels[i] = (uint8_t)best;
    }
    return rc;
}

static int load_golden(ExportSource *s, const char *data, size_t n)
{
    uint8_t *pixels;
    if (read_test_pixels(data, &s->st, 0, &n, &pixels, &s->golden_labels) < 0)
        return -1;
    int rc = golden_from_pixels(s, pixels, n);
    free(pixels);
    return rc;
}

int export_source_load(ExportSource *s, const char *checkpoint, const char *data,
                       size_t golden_count, int bake)
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
    s->baked = bake;
    if (data)
        base_name(data, s->data_name, sizeof s->data_name);
    if (checksum_sha256_file(checkpoint, s->checkpoint_sha256) < 0)
        return -1;
    s->tensor_le = xmalloc(4 * n);
    export_put_f32le(s->tensor_le, s->params, n);
    if (checksum_sha256(s->tensor_le, 4 * n, s->params_sha256) < 0)
        return -1;
    if (golden_count == 0)
        return base_error_set("export: the golden batch needs at least one image");
    if (data)
        return load_golden(s, data, golden_count);
    char recorded[4096];
    if (export_recorded_data(&s->st, recorded, sizeof recorded) < 0) {
        snprintf(s->golden_note, sizeof s->golden_note,
                 "the checkpoint records no dataset path");
        return load_synthetic(s, golden_count);
    }
    if (load_golden(s, recorded, golden_count) == 0) {
        base_name(recorded, s->data_name, sizeof s->data_name);
        snprintf(s->golden_note, sizeof s->golden_note,
                 "golden batch from %.900s, the dataset the checkpoint's run recorded", recorded);
        return 0;
    }
    snprintf(s->golden_note, sizeof s->golden_note,
             "the dataset the checkpoint's run recorded: %.900s", base_error());
    free(s->golden_images), free(s->golden_logits), free(s->golden_labels);
    s->golden_images = s->golden_logits = NULL, s->golden_labels = NULL;
    return load_synthetic(s, golden_count);
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
    text_printf(&t, ", \"split\": \"%s\", \"synthetic\": %s, \"first\": 0, \"count\": %zu, "
                "\"shape\": [%zu, %lld, %lld, %lld], \"dtype\": \"float32\", "
                "\"byte_order\": \"little\", \"tolerance\": %g, \"labels\": [",
                s->synthetic ? "synthetic" : "test", s->synthetic ? "true" : "false", n, n,
                (long long)st->input_c, (long long)st->input_h, (long long)st->input_w,
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
        {"shardnet.input",
         s->baked ? printed("float32 (N, %lld, %lld, %lld) NCHW; value = pixel / 255 for pixels "
                            "in 0..255 (raw: the graph's first nodes subtract "
                            "shardnet.input_mean and divide by shardnet.input_std per channel)",
                            (long long)st->input_c, (long long)st->input_h,
                            (long long)st->input_w)
                  : printed("float32 (N, %lld, %lld, %lld) NCHW; value = (pixel / 255 - "
                            "mean[c]) / std[c] for pixels in 0..255, mean and std from "
                            "shardnet.input_mean and shardnet.input_std",
                            (long long)st->input_c, (long long)st->input_h,
                            (long long)st->input_w)},
        {"shardnet.normalization", xstrdup(s->baked ? "baked" : "caller")},
        {"shardnet.input_shape", printed("[%lld, %lld, %lld]", (long long)st->input_c,
                                         (long long)st->input_h, (long long)st->input_w)},
        {"shardnet.input_mean", json_doubles(st->mean, c)},
        {"shardnet.input_std", json_doubles(st->std, c)},
        {"shardnet.source_checkpoint", xstrdup(s->checkpoint_name)},
        {"shardnet.source_checkpoint_sha256", xstrdup(s->checkpoint_sha256)},
        {"shardnet.source_step", printed("%" PRIu64, st->step)},
        {"shardnet.params_sha256", xstrdup(s->params_sha256)},
        {"shardnet.golden", json_golden(s)},
        {"shardnet.golden_source",
         s->synthetic ? printed("synthetic: %zu images of SplitMix64 pixels (seed %#llx), labels "
                                "= shardnet's predictions; no dataset was reachable",
                                s->golden_count, (unsigned long long)EXPORT_SYNTHETIC_SEED)
                      : printed("the first %zu test images of %s", s->golden_count,
                                s->data_name)},
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
