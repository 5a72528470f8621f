/* export_dump.c - test tool: test images as the model's input and shardnet's
 * own logits for them, as raw files for runtimes that cannot read HDF5
 * (scripts/onnx_check.mjs, scripts/load_safetensors.py).
 *
 *   export_dump CHECKPOINT DATA.h5 PREFIX [COUNT]      (COUNT 0 or absent: all)
 *
 * Writes PREFIX.images.f32 (COUNT, C, H, W), PREFIX.logits.f32
 * (COUNT, classes), float32 little-endian, and PREFIX.labels.u8 (COUNT);
 * prints "COUNT C H W CLASSES".  The same code as `shardnet export`'s golden
 * batch: export_read_test (the loader's pixel arithmetic) and export_logits
 * (lenet_forward in NHWC, batches of 500, as `shardnet eval`).
 * Exit 0, or 1 with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "base.h"
#include "ckpt.h"
#include "export.h"

static int write_f32(const char *prefix, const char *what, const float *x, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.%s", prefix, what);
    uint8_t *le = xmalloc(4 * n);
    export_put_f32le(le, x, n);
    int rc = atomic_write_file(path, le, 4 * n);
    free(le);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: export_dump CHECKPOINT DATA.h5 PREFIX [COUNT]\n");
        return 1;
    }
    size_t count = argc == 5 ? strtoul(argv[4], NULL, 10) : 0, n_params;
    TrainState st;
    float *params = NULL, *momentum = NULL, *images = NULL, *logits = NULL;
    uint8_t *labels = NULL;
    base_flush_denormals();
    int rc = ckpt_read(argv[1], &st, &params, &momentum, &n_params);
    rc = rc ? rc : export_read_test(argv[2], &st, 0, &count, &images, &labels);
    if (rc == 0) {
        size_t k = (size_t)st.num_classes, sample = (size_t)(st.input_c * st.input_h * st.input_w);
        char path[4096];
        snprintf(path, sizeof path, "%s.labels.u8", argv[3]);
        logits = xmalloc(count * k * sizeof(float));
        rc = export_logits(&st, params, images, count, 500, logits);
        rc = rc ? rc : write_f32(argv[3], "images.f32", images, count * sample);
        rc = rc ? rc : write_f32(argv[3], "logits.f32", logits, count * k);
        rc = rc ? rc : atomic_write_file(path, labels, count);
    }
    if (rc == 0)
        printf("%zu %lld %lld %lld %lld\n", count, (long long)st.input_c, (long long)st.input_h,
               (long long)st.input_w, (long long)st.num_classes);
    else
        fprintf(stderr, "export_dump: %s\n", base_error());
    free(params), free(momentum), free(images), free(logits), free(labels);
    return rc ? 1 : 0;
}
