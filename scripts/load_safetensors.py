#!/usr/bin/python3
"""load_safetensors.py - load a shardnet safetensors export into the
textbook's nn.Sequential LeNet in PyTorch, and check it.

    /usr/bin/python3 scripts/load_safetensors.py MODEL.safetensors
    /usr/bin/python3 scripts/load_safetensors.py MODEL.safetensors \\
        --inputs P.images.f32 --logits P.logits.f32 [--labels P.labels.u8]

Needs only Debian's python3-torch (no `safetensors` package: the file is
read by scripts/safetensors_strict.py, which also checks the format rules).
Checks, printing each result; exit 1 on the first failure:
  1. the strict format rules (safetensors_strict.read);
  2. load_state_dict(strict=True) into nn.Sequential(...) below;
  3. the golden batch in __metadata__["shardnet.golden"]: PyTorch's logits
     for the embedded images within its tolerance (1e-4) of shardnet's,
     same argmax - proves the weights mean what shardnet trained;
  4. with --inputs/--logits (raw float32 LE from tests/export_dump): the
     same on that test slice;
  5. shardnet.params_sha256: SHA-256 of the tensors' float32 little-endian
     bytes in nn.Sequential order (0.weight, 0.bias, 3.weight, ... 11.bias)
     - catches ANY changed byte, also one too small to move a logit by 1e-4.
The model input is float32 (N, C, H, W) = (pixel / 255 - mean) / std with
mean/std from __metadata__ (see io/export.h).
"""
import argparse
import base64
import hashlib
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_strict  # noqa: E402


def lenet(arch, channels=1, height=28, width=28, classes=10):
    """The textbook's LeNet (classic: sigmoid + average pooling) or its
    modern variant (ReLU + max pooling), as nn.Sequential: the keys of its
    state_dict are 0.weight, 0.bias, 3.weight, ... 11.bias."""
    act = {"classic": nn.Sigmoid, "modern": nn.ReLU}[arch]
    pool = {"classic": nn.AvgPool2d, "modern": nn.MaxPool2d}[arch]
    flat = 16 * ((height // 2 - 4) // 2) * ((width // 2 - 4) // 2)  # 400 for 28x28
    return nn.Sequential(
        nn.Conv2d(channels, 6, kernel_size=5, padding=2), act(), pool(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), act(), pool(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(flat, 120), act(),
        nn.Linear(120, 84), act(),
        nn.Linear(84, classes))


def sequential_order(name):
    layer, kind = name.split(".")
    return int(layer), kind != "weight"


def load(path):
    """(model in eval mode, metadata) from a shardnet safetensors export."""
    meta, tensors, _ = safetensors_strict.read(path)
    if sys.byteorder != "little":
        raise SystemExit("this example assumes a little-endian host")
    state = {}
    for name, (dtype, shape, data) in tensors.items():
        if dtype != "F32":
            raise safetensors_strict.FormatError(f"{name}: dtype {dtype}, expected F32")
        state[name] = torch.frombuffer(bytearray(data), dtype=torch.float32).reshape(shape)
    c, h, w = json.loads(meta["shardnet.input_shape"])
    model = lenet(meta["shardnet.arch"], c, h, w, len(json.loads(meta["shardnet.classes"])))
    model.load_state_dict(state, strict=True)
    return model.eval(), meta, tensors


def fail(msg):
    print(f"load_safetensors: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def compare(what, model, images, want, tol, labels=None):
    with torch.no_grad():
        got = model(images)
    diff = (got - want).abs().max().item()
    same = (got.argmax(1) == want.argmax(1)).sum().item()
    n = images.shape[0]
    acc = f", PyTorch correct {(got.argmax(1) == labels).sum().item()}/{n}" if labels is not None else ""
    print(f"{what}: {n} images, max |logit diff| {diff:.3e}, same argmax {same}/{n}{acc}")
    if not diff <= tol:  # NaN fails too
        fail(f"{what}: max |logit diff| {diff} > tolerance {tol}")
    if same != n:
        fail(f"{what}: argmax differs for {n - same} image(s)")


def raw_floats(path, shape):
    return torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.float32).reshape(shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--inputs")
    ap.add_argument("--logits")
    ap.add_argument("--labels")
    a = ap.parse_args()
    torch.set_num_threads(1)
    try:
        model, meta, tensors = load(a.model)
    except KeyError as e:
        fail(f"{a.model}: metadata entry {e} is missing")
    except (OSError, safetensors_strict.FormatError, RuntimeError) as e:
        fail(f"{a.model}: {e}")
    print(f"torch {torch.__version__}: {a.model} loaded with load_state_dict(strict=True) "
          f"into LeNet {meta['shardnet.arch']}")
    g = json.loads(meta["shardnet.golden"])
    images = torch.frombuffer(bytearray(base64.b64decode(g["images_base64"])),
                              dtype=torch.float32).reshape(g["shape"])
    compare("golden batch", model, images, torch.tensor(g["logits"], dtype=torch.float32),
            g["tolerance"])
    if a.inputs:
        k = len(json.loads(meta["shardnet.classes"]))
        want = raw_floats(a.logits, (-1, k))
        chw = json.loads(meta["shardnet.input_shape"])
        labels = None
        if a.labels:
            labels = torch.frombuffer(bytearray(open(a.labels, "rb").read()), dtype=torch.uint8).long()
        compare("test set", model, raw_floats(a.inputs, [-1] + chw), want, g["tolerance"], labels)
    digest = hashlib.sha256(b"".join(bytes(tensors[k][2])
                                     for k in sorted(tensors, key=sequential_order))).hexdigest()
    if digest != meta["shardnet.params_sha256"]:
        fail(f"params sha256 {digest} != shardnet.params_sha256 {meta['shardnet.params_sha256']}")
    print(f"params sha256 matches: {digest}")


if __name__ == "__main__":
    try:
        main()
    except KeyError as e:  # metadata a shardnet export always has
        fail(f"{sys.argv[1] if len(sys.argv) > 1 else ''}: metadata entry {e} is missing")
    except Exception as e:  # any other malformed input: a FAIL line, never a traceback
        fail(f"{sys.argv[1] if len(sys.argv) > 1 else ''}: {type(e).__name__}: {e}")
