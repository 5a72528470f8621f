/* export.h - what both exports (ONNX, safetensors) are made from: a verified
 * checkpoint, its tensors as little-endian float32 bytes, the metadata, and
 * the golden batch that proves the file.
 *
 * export_source_load reads and verifies the checkpoint (ckpt_read), hashes
 * the checkpoint file and the exported tensors, reads the first
 * golden_count test images of the dataset, converts them to the model's
 * input exactly as shardnet's loader does, and computes shardnet's own logits
 * for them with lenet_forward on the checkpoint's parameters.  When no
 * dataset is reachable (see export_source_load) the golden images are
 * synthetic: golden_count images of SplitMix64 pixels (seed
 * EXPORT_SYNTHETIC_SEED, the same on any host), labelled with shardnet's own
 * prediction; metadata shardnet.golden_source says which.
 *
 * The model input (both formats, and the golden images):
 *   float32 (N, C, H, W), NCHW, value = (pixel / 255 - mean[c]) / std[c]
 *   for a pixel in 0..255, with mean/std from the checkpoint (0 and 1 when it
 *   was trained without --normalize, i.e. plain pixel / 255).
 * With bake (ONNX only): the model input is pixel / 255 and the graph's first
 * nodes subtract mean[c] and divide by std[c]; the golden images are then
 * pixel / 255 and the golden logits still shardnet's (from the normalised
 * input).
 *
 * Metadata (ONNX metadata_props, safetensors __metadata__; every value a
 * string, JSON inside it where structured):
 *   shardnet.version, shardnet.arch          the exporting version; classic|modern
 *   shardnet.classes                         JSON array of class names, logit order
 *   shardnet.input                           the input rule above, as text
 *   shardnet.input_shape                     JSON [C, H, W]
 *   shardnet.input_mean, shardnet.input_std  JSON arrays, one number per channel
 *   shardnet.source_checkpoint(_sha256)      the checkpoint's file name; SHA-256
 *                                            of its bytes (sha256sum)
 *   shardnet.source_step                     optimizer steps the checkpoint had done
 *   shardnet.params_sha256                   SHA-256 of the exported tensors' float32
 *                                            LE bytes in nn.Sequential order
 *                                            (0.weight ... 11.bias): the fingerprint
 *   shardnet.golden                          JSON: dataset, split "test", first 0,
 *                                            count 8, shape, dtype float32,
 *                                            byte_order little, tolerance 1e-4,
 *                                            labels, logits (9 digits: exact
 *                                            float32), images_base64 (the model
 *                                            INPUT, normalised, float32 LE)
 * A checker runs the model on the golden images and requires every logit
 * within the tolerance and the same argmax: a flipped high byte of one
 * conv1.weight moves the logits by ~0.47.  Changes in the lowest mantissa
 * bits may move a logit by less than 1e-4; params_sha256 catches any byte.
 *
 * Contract: the ExportSource owns every buffer (export_source_free; safe on
 * a zeroed struct).  Functions return 0, or -1 with base_error() naming the
 * file and the problem; nothing here dies on bad input.  No MPI. */
#ifndef SHARDNET_EXPORT_H
#define SHARDNET_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "checksum.h"
#include "ckpt.h"
#include "jsonw.h"
#include "lenet.h"

#define EXPORT_GOLDEN_COUNT 8   /* test images in the golden batch */
#define EXPORT_TOLERANCE 1e-4   /* max |logit difference| a checker accepts */
#define EXPORT_NAME_LEN 256
#define EXPORT_SYNTHETIC_SEED 0x676f6c64656eull /* "golden" */

typedef struct {
    TrainState st;
    LeNet net;          /* described for batch 1: tensor table and layer geometry */
    float *params;      /* (net.n_params) */
    uint8_t *tensor_le; /* the tensors, little-endian float32, in table order */
    char checkpoint_name[EXPORT_NAME_LEN]; /* base name of the checkpoint */
    char data_name[EXPORT_NAME_LEN];       /* base name of the dataset; "synthetic" */
    int synthetic;      /* golden images are synthetic (no dataset) */
    char golden_note[1024]; /* why synthetic, or which recorded dataset was used; "" otherwise */
    int baked;          /* model input is pixel / 255; normalisation inside the graph */
    char checkpoint_sha256[CHECKSUM_HEX_LEN + 1]; /* of the checkpoint file's bytes */
    char params_sha256[CHECKSUM_HEX_LEN + 1];     /* of tensor_le (4 * n_params bytes) */
    size_t golden_count;
    float *golden_images;   /* (golden_count, C, H, W): model input */
    float *golden_logits;   /* (golden_count, classes): shardnet's lenet_forward */
    uint8_t *golden_labels; /* (golden_count) */
} ExportSource;

/* data: the dataset for the golden batch; a failure to read it is an
 * error.  data NULL: the dataset the checkpoint's run recorded
 * (export_recorded_data) when it opens and fits the checkpoint, otherwise
 * synthetic golden images - never an error; golden_note says which and why.
 * bake: see above. */
int export_source_load(ExportSource *s, const char *checkpoint, const char *data,
                       size_t golden_count, int bake);
void export_source_free(ExportSource *s);

/* Test images [first, first + *count) of data as model input for st
 * (*count = 0: all from first on; clipped to the test set).  *images
 * (count, C, H, W) and *labels are new buffers (free()).  -1 when the
 * dataset's image shape or class count differs from the checkpoint's. */
int export_read_test(const char *data, const TrainState *st, size_t first, size_t *count,
                     float **images, uint8_t **labels);

/* Pixels (n, C, H, W) in 0..255 -> model input, the loader's arithmetic. */
void export_pixels_to_input(const TrainState *st, const uint8_t *pixels, size_t n, float *dst);

/* Pixels -> plain pixel / 255 (the input of a baked export). */
void export_pixels_to_raw(const TrainState *st, const uint8_t *pixels, size_t n, float *dst);

/* The dataset a checkpoint's run trained on: "data" of the config the
 * checkpoint records (st->config), into out; -1 when it records none. */
int export_recorded_data(const TrainState *st, char *out, size_t n);

/* shardnet's logits (n, classes) for images (n, C, H, W): lenet_forward in
 * NHWC (as `shardnet eval`), batches of up to `batch`; the last partial
 * batch is padded with zeros and its padding dropped. */
int export_logits(const TrainState *st, const float *params, const float *images, size_t n,
                  size_t batch, float *logits);

/* dst[4 i .. 4 i + 3] = src[i] as IEEE float32 little-endian, any host. */
void export_put_f32le(uint8_t *dst, const float *src, size_t n);

/* One metadata entry (both formats store string -> string). */
typedef struct {
    const char *key;
    char *value; /* owned */
} ExportMeta;

#define EXPORT_META_MAX 16

/* The metadata both formats carry (keys "shardnet.*", see the top),
 * values as text (JSON where structured).  *n entries into meta. */
int export_metadata(const ExportSource *s, ExportMeta meta[EXPORT_META_MAX], size_t *n);
void export_metadata_free(ExportMeta *meta, size_t n);

#endif
