#!/usr/bin/python3
"""onnx_verify.py - static checks of a shardnet ONNX export with Debian's
python3-onnx (1.12; run with /usr/bin/python3).

    /usr/bin/python3 scripts/onnx_verify.py MODEL.onnx

  1. onnx.checker.check_model(model, full_check=True);
  2. onnx.shape_inference.infer_shapes(model, strict_mode=True), and the
     inferred output `logits` is (N, classes) with N the symbolic batch of
     input `images` (N, C, H, W);
  3. IR version 7, opset 13;
  4. shardnet.params_sha256: SHA-256 of the initializers' float32 LE bytes in
     nn.Sequential order (from each initializer's doc_string key) - catches
     ANY changed weight byte.  (Running the golden batch needs a runtime:
     scripts/onnx_check.mjs.)
Exit 0 when all pass, 1 with a message otherwise.
"""
import hashlib
import json
import sys

import onnx
from onnx import numpy_helper, shape_inference


def fail(msg):
    print(f"onnx_verify: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def params_digest(model):
    keyed = []
    for t in model.graph.initializer:
        key = t.doc_string.rsplit(" ", 1)[-1]  # "nn.Sequential key 0.weight"
        layer, kind = key.split(".")
        keyed.append(((int(layer), kind != "weight"), numpy_helper.to_array(t)))
    return hashlib.sha256(b"".join(a.astype("<f4").tobytes() for _, a in sorted(keyed, key=lambda e: e[0]))).hexdigest()


def main(argv):
    if len(argv) != 2:
        print("usage: onnx_verify.py MODEL.onnx", file=sys.stderr)
        return 2
    model = onnx.load(argv[1])
    meta = {p.key: p.value for p in model.metadata_props}
    try:
        onnx.checker.check_model(model, full_check=True)
        inferred = shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as e:  # the checker raises several exception types
        fail(f"{argv[1]}: {type(e).__name__}: {e}")
    print(f"onnx {onnx.__version__}: check_model(full_check=True) and strict shape inference accept {argv[1]}")
    opset = {o.domain: o.version for o in model.opset_import}
    if model.ir_version != 7 or opset.get("", None) != 13:
        fail(f"IR {model.ir_version}, opsets {opset}; expected IR 7, opset 13")
    classes = len(json.loads(meta["shardnet.classes"]))
    c, h, w = json.loads(meta["shardnet.input_shape"])
    inp, out = dims(model.graph.input[0]), dims(inferred.graph.output[0])
    if model.graph.input[0].name != "images" or inp != ["N", c, h, w]:
        fail(f"input {model.graph.input[0].name} {inp}, expected images ['N', {c}, {h}, {w}]")
    if inferred.graph.output[0].name != "logits" or out != ["N", classes]:
        fail(f"inferred output {inferred.graph.output[0].name} {out}, expected logits ['N', {classes}]")
    print(f"IR 7, opset 13; images {inp} -> logits {out} (inferred)")
    digest = params_digest(model)
    if digest != meta.get("shardnet.params_sha256"):
        fail(f"params sha256 {digest} != shardnet.params_sha256 {meta.get('shardnet.params_sha256')}")
    print(f"params sha256 matches: {digest}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except KeyError as e:  # metadata a shardnet export always has
        fail(f"{sys.argv[1] if len(sys.argv) > 1 else ''}: metadata entry {e} is missing")
    except Exception as e:  # any other malformed input: a FAIL line, never a traceback
        fail(f"{sys.argv[1] if len(sys.argv) > 1 else ''}: {type(e).__name__}: {e}")
