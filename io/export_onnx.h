/* export_onnx.h - the whole LeNet (classic or modern) as an ONNX model.
 *
 * IR version 7, opset 13 (default domain).  Graph, in nn.Sequential order:
 *   images float (N, C, H, W), N symbolic
 *   -> Conv(pads 2) -> Sigmoid|Relu -> AveragePool|MaxPool(2, 2)
 *   -> Conv -> Sigmoid|Relu -> AveragePool|MaxPool(2, 2) -> Flatten(axis 1)
 *   -> Gemm(transB 1) -> Sigmoid|Relu -> Gemm(transB 1) -> Sigmoid|Relu
 *   -> Gemm(transB 1) -> logits float (N, classes)
 * Initializers: float32, raw little-endian data, named by the readable
 * tensor names of the LeNet table (conv1.weight ... fc3.bias) with the
 * nn.Sequential key in each initializer's doc_string.  Kernel, stride and
 * padding come from lenet_describe (the numbers lenet_forward uses).
 * Model metadata_props: export_metadata (export.h).
 *
 * Serialised with the protobuf-c code that meson generates from Debian's
 * onnx.proto (io/meson.build), not by hand.
 * export_onnx_encode: *out is a new buffer (free()).  export_onnx_write
 * replaces path atomically (atomic_write_file): no partial file ever.
 * Both return 0, or -1 with base_error(). */
#ifndef SHARDNET_EXPORT_ONNX_H
#define SHARDNET_EXPORT_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

#define EXPORT_ONNX_IR_VERSION 7
#define EXPORT_ONNX_OPSET 13

int export_onnx_encode(const ExportSource *s, uint8_t **out, size_t *size);
int export_onnx_write(const ExportSource *s, const char *path);

#endif
