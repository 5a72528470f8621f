/* export_safetensors.h - the learnable tensors as a safetensors file that
 * PyTorch users can load_state_dict(strict=True) into the textbook's
 * nn.Sequential LeNet.
 *
 * File: 8-byte little-endian header length H, then H bytes of UTF-8 JSON,
 * then the data.  The JSON holds "__metadata__" (string -> string:
 * export_metadata's entries plus "format": "pt") and one entry per tensor,
 * keyed by its nn.Sequential key ("0.weight" ... "11.bias"), in LeNet table
 * order: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
 * offsets relative to the data area, contiguous from 0, covering all of it.
 * Shapes are PyTorch's: conv (out, in, kh, kw), linear (out, in), bias
 * (out).  The JSON is padded with spaces to a multiple of 8 bytes, so the
 * data starts 8-byte aligned.  Data: float32 little-endian.
 *
 * export_safetensors_encode: *out is a new buffer (free()).
 * export_safetensors_write replaces path atomically (atomic_write_file).
 * Both return 0, or -1 with base_error(). */
#ifndef SHARDNET_EXPORT_SAFETENSORS_H
#define SHARDNET_EXPORT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

int export_safetensors_encode(const ExportSource *s, uint8_t **out, size_t *size);
int export_safetensors_write(const ExportSource *s, const char *path);

#endif
