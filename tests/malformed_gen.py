#!/usr/bin/python3
"""malformed_gen.py - writes the inputs of tests/malformed.sh into DIR.

    /usr/bin/python3 tests/malformed_gen.py DIR STAGE

STAGE idx: DIR/good/ (a small valid IDX set, gzip) and one directory per
broken IDX or gzip case, DIR/idx-NAME/ (the four files, one of them bad).
STAGE h5 GOOD.h5 CKPT.h5: HDF5 datasets and checkpoints broken in ways the
byte-level cases cannot reach (declared shapes, missing checksums, a
consistent edit of /state), with h5py (Debian python3-h5py).
Each case is deterministic (fixed seeds)."""
import gzip
import os
import shutil
import struct
import sys
import zlib

STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def good_set(n_train=512, n_test=128, side=28):
    """name -> raw IDX bytes of a small learnable set (pixels follow the label)."""
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = bytes((i * 7 + 3) % 10 for i in range(n))
        img = bytearray(n * side * side)
        for i in range(n):
            for j in range(0, side * side, 3):
                img[i * side * side + j] = (labels[i] * 25 + j) % 256
        files[f"{prefix}-images-idx3-ubyte"] = idx_bytes(0x803, [n, side, side], bytes(img))
        files[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(0x801, [n], labels)
    return files


def write_set(d, files, gz=True, replace=None):
    os.makedirs(d, exist_ok=True)
    for stem, raw in files.items():
        if replace and stem in replace:
            name, data = replace[stem]
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            continue
        name = stem + (".gz" if gz else "")
        with open(os.path.join(d, name), "wb") as f:
            f.write(gzip.compress(raw, mtime=0) if gz else raw)


def stage_idx(out):
    files = good_set()
    write_set(os.path.join(out, "good"), files)
    ti, tl = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
    raw_ti = files[ti]
    gz_ti = gzip.compress(raw_ti, mtime=0)
    # A large compressible payload read in one gzread, its trailer cut off:
    # accepted by zlib's gzread (the CRC never checked) before the fix.
    n_big = 6000
    big = bytes((i * 7) % 256 if i % 5 == 0 else 0 for i in range(n_big * 784))
    big_raw = idx_bytes(0x803, [n_big, 28, 28], big)
    big_gz = gzip.compress(big_raw, compresslevel=9, mtime=0)
    big_labels = idx_bytes(0x801, [n_big], bytes(i % 10 for i in range(n_big)))
    flipped = bytearray(gz_ti)
    flipped[len(flipped) // 2] ^= 0x10
    crc_bad = bytearray(gz_ti)
    crc_bad[-6] ^= 0xFF
    # 2000 x 1000 x 1000 images honestly compressed (2 GB of zeros in ~2 MB)
    # against 128 labels: must be refused from the headers, at once.
    honest = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = idx_bytes(0x803, [2000, 1000, 1000], b"")
    chunk = bytes(1 << 20)
    parts = [honest.compress(head)]
    for _ in range(2000 * 1000 * 1000 // len(chunk)):
        parts.append(honest.compress(chunk))
    parts.append(honest.compress(bytes(2000 * 1000 * 1000 % len(chunk))))
    parts.append(honest.flush())
    honest_gz = b"".join(parts)
    cases = {
        # plain IDX
        "idx-magic": {ti: (ti, idx_bytes(0x802, [128, 28, 28], raw_ti[16:]))},
        "idx-zero-dim": {ti: (ti, idx_bytes(0x803, [128, 0, 28], b""))},
        "idx-truncated": {ti: (ti, raw_ti[:-100])},
        "idx-trailing": {ti: (ti, raw_ti + b"extra")},
        "idx-header-only": {ti: (ti, raw_ti[:8])},
        "idx-empty": {ti: (ti, b"")},
        "idx-count-mismatch": {tl: (tl, idx_bytes(0x801, [127], files[tl][8:-1]))},
        "idx-label-range": {tl: (tl, files[tl][:8] + bytes([255]) + files[tl][9:])},
        "idx-over-limit": {ti: (ti, idx_bytes(0x803, [0xFFFFFFFF, 0xFFFF, 0xFFFF], b""))},
        "idx-shape-differs": {ti: (ti, idx_bytes(0x803, [128, 28, 27], bytes(128 * 28 * 27)))},
        # gzip
        "gz-trailer-cut-large": {"t10k-images-idx3-ubyte": (ti + ".gz", big_gz[:-8]),
                                 tl: (tl + ".gz", gzip.compress(big_labels, mtime=0))},
        "gz-trailer-cut": {ti: (ti + ".gz", gz_ti[:-8])},
        "gz-truncated": {ti: (ti + ".gz", gz_ti[: len(gz_ti) // 2])},
        "gz-flipped": {ti: (ti + ".gz", bytes(flipped))},
        "gz-bad-crc": {ti: (ti + ".gz", bytes(crc_bad))},
        "gz-garbage-after": {ti: (ti + ".gz", gz_ti + b"garbage")},
        "gz-honest-huge": {ti: (ti + ".gz", honest_gz)},
    }
    for name, replace in cases.items():
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        write_set(d, files, replace=replace)
        # the replaced file must be the one found: drop its other spelling
        for stem in replace:
            for other in (stem, stem + ".gz"):
                if other != replace[stem][0] and os.path.exists(os.path.join(d, other)):
                    os.remove(os.path.join(d, other))
    for name, kind in (("idx-fifo", "fifo"), ("idx-devzero", "zero"), ("idx-dir", "dir")):
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        write_set(d, files)
        p = os.path.join(d, ti + ".gz")
        os.remove(p)
        if kind == "fifo":
            os.mkfifo(p)
        elif kind == "zero":
            os.symlink("/dev/zero", p)
        else:
            os.mkdir(p)


def stage_h5(out, good, ckpt):
    import h5py
    import numpy as np

    def copy(name):
        p = os.path.join(out, name)
        shutil.copy(good, p)
        return p

    def replace(f, name, shape, chunks, fletcher=True, dtype="u1"):
        del f[name]
        f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, fletcher32=fletcher)

    with h5py.File(copy("ds-huge-sides.h5"), "r+") as f:  # SIGFPE in oneDNN before the fix
        replace(f, "/train/images", (512, 1, 2**32, 2**32), (1, 1, 64, 64))
    with h5py.File(copy("ds-65536.h5"), "r+") as f:  # 549 GB allocation before the fix
        replace(f, "/train/images", (512, 1, 65536, 65536), (1, 1, 64, 64))
    with h5py.File(copy("ds-17-channels.h5"), "r+") as f:  # failed only at the first checkpoint
        replace(f, "/train/images", (512, 17, 28, 28), (64, 17, 28, 28))
        replace(f, "/test/images", (128, 17, 28, 28), (64, 17, 28, 28))
    with h5py.File(copy("ds-no-checksums.h5"), "r+") as f:
        data = f["/test/images"][...]
        del f["/test/images"]
        f.create_dataset("/test/images", data=data)
    with h5py.File(copy("ds-format-1.h5"), "r+") as f:
        f.attrs.modify("format_version", np.int32(1))
    with h5py.File(copy("ds-missing-split.h5"), "r+") as f:
        del f["/test"]
    with h5py.File(copy("ds-wrong-dtype.h5"), "r+") as f:
        replace(f, "/train/labels", (512,), (512,), dtype="i2")
    with h5py.File(copy("ds-label-range.h5"), "r+") as f:
        lab = f["/train/labels"][...]
        lab[100] = 200
        f["/train/labels"][...] = lab

    def ccopy(name):
        p = os.path.join(out, name)
        shutil.copy(ckpt, p)
        return p

    with h5py.File(ccopy("ck-step-edit.h5"), "r+") as f:  # consistent edit: HDF5 checksums fine
        f["/state"].attrs.modify("step", np.uint64(3))
    with h5py.File(ccopy("ck-arch-edit.h5"), "r+") as f:
        del f["/state"].attrs["arch"]
        f["/state"].attrs.create("arch", np.bytes_("modern"), dtype=h5py.string_dtype("ascii", 7))
    with h5py.File(ccopy("ck-enormous.h5"), "r+") as f:  # consistent enormous dims
        f["/state"].attrs.modify("input_shape", np.array([1, 4096, 4096], dtype="<i8"))
        for g in ("params", "momentum"):
            key = f[f"/{g}/fc1.weight"].attrs["key"]
            del f[f"/{g}/fc1.weight"]
            d = f.create_dataset(f"/{g}/fc1.weight", shape=(120, 16 * 1022 * 1022),
                                 dtype="<f4", chunks=(1, 4096), fletcher32=True)
            d.attrs.create("key", np.bytes_(key), dtype=h5py.string_dtype("ascii", len(key) + 1))


def main():
    out, stage = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if stage == "idx":
        stage_idx(out)
    else:
        stage_h5(out, sys.argv[3], sys.argv[4])


if __name__ == "__main__":
    main()
