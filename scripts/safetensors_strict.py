#!/usr/bin/python3
"""safetensors_strict.py - a strict reader of the safetensors format, with
no dependency beyond the Python standard library (Debian 12 has no
python3-safetensors).

    /usr/bin/python3 scripts/safetensors_strict.py FILE.safetensors

Rules checked (the format as documented by huggingface/safetensors):
  - 8-byte little-endian unsigned header length H; 8 + H <= file size;
  - H is a multiple of 8 (the JSON is padded with spaces, so the data area
    starts 8-byte aligned) and at most 100 MB;
  - the header is UTF-8 JSON: one object starting with '{', trailing bytes
    only spaces, no duplicate keys;
  - optional "__metadata__": an object of string -> string;
  - every other entry is a tensor with exactly "dtype", "shape",
    "data_offsets"; dtype known; shape a list of non-negative integers;
    data_offsets [begin, end] integers, end - begin = product(shape) * size;
  - sorted by begin, the tensors are contiguous from 0 and end exactly at
    the end of the file's data area (no gap, no overlap, no trailing bytes).
read() returns (metadata, {name: (dtype, shape, memoryview of the bytes)},
names in header order).  Exit status of the CLI: 0 valid, 1 with a message.
"""
import json
import struct
import sys

DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
              "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}
MAX_HEADER = 100 * 1000 * 1000


class FormatError(Exception):
    pass


def _no_duplicates(pairs):
    out = {}
    dup = set()
    for k, v in pairs:  # one pass: 130,000 keys must not take quadratic time
        if k in out:
            dup.add(k)
        out[k] = v
    if dup:
        shown = sorted(dup)
        more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
        raise FormatError(f"duplicate JSON keys {shown[:5]}{more}")
    return out


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _header(buf):
    if len(buf) < 8:
        raise FormatError(f"file of {len(buf)} bytes has no 8-byte header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER or 8 + n > len(buf):
        raise FormatError(f"header length {n} does not fit the file of {len(buf)} bytes")
    if n % 8:
        raise FormatError(f"header length {n} is not a multiple of 8 (padding missing)")
    raw = bytes(buf[8:8 + n])
    body = raw.rstrip(b" ")
    if not body.startswith(b"{") or not body.endswith(b"}"):
        raise FormatError("header is not one JSON object followed only by space padding")
    try:
        header = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"header is not UTF-8 JSON: {e}") from None
    return n, header


def _metadata(header):
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in meta.items()):
        raise FormatError("__metadata__ is not an object of string -> string")
    return meta


def _tensor(name, t):
    if not isinstance(t, dict) or set(t) != {"dtype", "shape", "data_offsets"}:
        raise FormatError(f"tensor {name!r}: needs exactly dtype, shape, data_offsets; got {t!r}")
    dtype, shape, offs = t["dtype"], t["shape"], t["data_offsets"]
    if dtype not in DTYPE_SIZE:
        raise FormatError(f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise FormatError(f"tensor {name!r}: bad shape {shape!r}")
    if (not isinstance(offs, list) or len(offs) != 2 or not all(_is_int(o) for o in offs)
            or not 0 <= offs[0] <= offs[1]):
        raise FormatError(f"tensor {name!r}: bad data_offsets {offs!r}")
    count = 1
    for d in shape:
        count *= d
    if offs[1] - offs[0] != count * DTYPE_SIZE[dtype]:
        raise FormatError(f"tensor {name!r}: {offs[1] - offs[0]} bytes for shape {shape} {dtype}")
    return dtype, shape, offs


def read(path):
    with open(path, "rb") as f:
        buf = memoryview(f.read())
    n, header = _header(buf)
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object")
    meta = _metadata(header)
    data = buf[8 + n:]
    entries = {name: _tensor(name, t) for name, t in header.items()}
    end = 0
    for name, (_, _, (begin, stop)) in sorted(entries.items(), key=lambda e: e[1][2]):
        if begin != end:
            raise FormatError(f"tensor {name!r} starts at {begin}, expected {end} (gap or overlap)")
        end = stop
    if end != len(data):
        raise FormatError(f"tensors cover {end} bytes, the data area has {len(data)}")
    tensors = {name: (d, s, data[b:e]) for name, (d, s, (b, e)) in entries.items()}
    return meta, tensors, list(header)


def main(argv):
    if len(argv) != 2:
        print("usage: safetensors_strict.py FILE.safetensors", file=sys.stderr)
        return 2
    try:
        meta, tensors, order = read(argv[1])
    except (OSError, FormatError) as e:
        print(f"safetensors_strict: FAIL: {argv[1]}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # any other malformed input: a FAIL line, never a traceback
        print(f"safetensors_strict: FAIL: {argv[1]}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    for name in order:
        dtype, shape, _ = tensors[name]
        print(f"  {name:12s} {dtype} {shape}")
    print(f"safetensors_strict: OK {argv[1]}: {len(tensors)} tensors, {len(meta)} metadata entries")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
