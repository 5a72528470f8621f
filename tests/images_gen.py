#!/usr/bin/python3
"""images_gen.py - test inputs for tests/images.sh, made with Pillow and
checked against Pillow and h5py (Debian's python3-pil, python3-h5py).

  images_gen.py folder ROOT N_TRAIN N_TEST [gray]  image folder, 3 classes,
                                               28x28, PNG and JPEG, gray and RGB
                                               (only gray with "gray")
  images_gen.py bad ROOT                       a folder with one bad file of
                                               each kind (names printed)
  images_gen.py cifar DIR N_TRAIN N_TEST       CIFAR-10 binary batches
  images_gen.py check FILE.h5 ROOT C [HxW]     the dataset's pixels equal
                                               Pillow's decoding of ROOT's
                                               files (within 1 level with HxW:
                                               Pillow's bilinear resize)
  images_gen.py check-cifar FILE.h5 DIR        the dataset equals the batches
  images_gen.py png-big DIR N                  N 28x28 gray PNGs (benchmark)
  images_gen.py agree PREDICT.json EVAL.out     `shardnet predict --json --top K`
                                               of every test row (K = classes)
                                               gives eval's accuracy, confusion
                                               matrix and loss
  images_gen.py same A.json B.json             two predictions of the same
                                               samples: same classes and
                                               probabilities
"""
import io
import os
import random
import sys

from PIL import Image, ImageDraw

CLASSES = ["circle", "cross", "stripes"]


def draw(label, rng, mode):
    img = Image.new("RGB", (28, 28), tuple(rng.randrange(0, 60) for _ in range(3)))
    d = ImageDraw.Draw(img)
    fg = tuple(rng.randrange(150, 256) for _ in range(3))
    o = rng.randrange(-3, 4)
    if label == 0:
        d.ellipse((5 + o, 5 + o, 22 + o, 22 + o), outline=fg, width=3)
    elif label == 1:
        d.line((4, 14 + o, 24, 14 + o), fill=fg, width=3)
        d.line((14 + o, 4, 14 + o, 24), fill=fg, width=3)
    else:
        for y in range(2 + (o % 3), 28, 6):
            d.line((0, y, 27, y), fill=fg, width=2)
    px = img.load()
    for _ in range(40):
        x, y = rng.randrange(28), rng.randrange(28)
        px[x, y] = tuple(rng.randrange(256) for _ in range(3))
    return img.convert(mode)


def save(img, path):
    if path.endswith(".png"):
        img.save(path, "PNG")
    else:
        img.save(path, "JPEG", quality=90)


def folder(root, n_train, n_test, gray=False):
    rng = random.Random(17)
    for split, n in (("train", n_train), ("test", n_test)):
        for label, name in enumerate(CLASSES):
            d = os.path.join(root, split, name)
            os.makedirs(d, exist_ok=True)
            for i in range(n):
                kind = i % 4
                mode = "L" if kind in (0, 3) or gray else "RGB"
                ext = ".png" if kind < 2 else (".jpg" if kind == 2 else ".JPEG")
                save(draw(label, rng, mode), os.path.join(d, "img%04d%s" % (i, ext)))
    with open(os.path.join(root, "train", CLASSES[0], "notes.txt"), "w") as f:
        f.write("not an image\n")


def bad(root):
    folder(root, 4, 2)
    d = os.path.join(root, "train", CLASSES[1])
    rng = random.Random(5)
    with open(os.path.join(d, "text.png"), "w") as f:
        f.write("hello, not a PNG\n")
    open(os.path.join(d, "empty.jpeg"), "w").close()
    buf = io.BytesIO()
    draw(1, rng, "RGB").save(buf, "PNG")
    with open(os.path.join(d, "truncated.png"), "wb") as f:
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
    buf = io.BytesIO()
    draw(1, rng, "RGB").save(buf, "JPEG", quality=90)
    with open(os.path.join(d, "truncated.jpg"), "wb") as f:
        f.write(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    draw(1, rng, "RGBA").save(os.path.join(d, "rgba.png"))
    draw(1, rng, "CMYK").save(os.path.join(d, "cmyk.jpg"), "JPEG")
    draw(1, rng, "L").resize((30, 28)).save(os.path.join(d, "wide.png"))
    for n in ("cmyk.jpg", "empty.jpeg", "rgba.png", "text.png", "truncated.jpg",
              "truncated.png", "wide.png"):
        print(os.path.join(d, n))


def cifar(dirname, n_train, n_test):
    os.makedirs(dirname, exist_ok=True)
    rng = random.Random(10)
    files = [("data_batch_1.bin", n_train - n_train // 3), ("data_batch_2.bin", n_train // 3),
             ("test_batch.bin", n_test)]
    for name, n in files:
        with open(os.path.join(dirname, name), "wb") as f:
            for i in range(n):
                label = (i * 7 + len(name)) % 10
                img = draw(label % 3, rng, "RGB").resize((32, 32))
                r, g, b = img.split()
                f.write(bytes([label]) + r.tobytes() + g.tobytes() + b.tobytes())
    with open(os.path.join(dirname, "batches.meta.txt"), "w") as f:
        f.write("\n".join("class-%d" % i for i in range(10)) + "\n\n")


def planes(img):
    return [bytes(band.tobytes()) for band in img.split()]


def check(h5, root, channels, size):
    import h5py
    import numpy as np
    f = h5py.File(h5, "r")
    names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["class_names"]]
    classes = sorted(os.listdir(os.path.join(root, "train")))
    assert names == classes, (names, classes)
    for split in ("train", "test"):
        images, labels = f[split + "/images"][...], f[split + "/labels"][...]
        row = 0
        for label, cls in enumerate(classes):
            d = os.path.join(root, split, cls)
            for n in sorted(os.listdir(d)):
                if os.path.splitext(n)[1].lower() not in (".png", ".jpg", ".jpeg"):
                    continue
                img = Image.open(os.path.join(d, n)).convert("L" if channels == 1 else "RGB")
                if size:
                    img = img.resize((size[1], size[0]), Image.BILINEAR)
                want = np.stack([np.frombuffer(p, np.uint8) for p in planes(img)])
                got = images[row].reshape(channels, -1).astype(int)
                diff = np.abs(got - want.astype(int)).max()
                if diff > (1 if size else 0) or labels[row] != label:
                    sys.exit("%s: row %d differs from Pillow by %d (label %d, want %d)"
                             % (os.path.join(d, n), row, diff, labels[row], label))
                row += 1
        assert row == len(images), (split, row, len(images))
    print("check: %s equals Pillow's pixels of %s (%d train, %d test)"
          % (h5, root, len(f["train/labels"]), len(f["test/labels"])))


def check_cifar(h5, dirname):
    import h5py
    import numpy as np
    f = h5py.File(h5, "r")
    for split, names in (("train", ["data_batch_1.bin", "data_batch_2.bin"]),
                         ("test", ["test_batch.bin"])):
        raw = b"".join(open(os.path.join(dirname, n), "rb").read() for n in names)
        rec = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
        assert (f[split + "/labels"][...] == rec[:, 0]).all(), split
        assert (f[split + "/images"][...].reshape(len(rec), -1) == rec[:, 1:]).all(), split
    names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["class_names"]]
    assert names == ["class-%d" % i for i in range(10)], names
    print("check-cifar: %s equals the records of %s" % (h5, dirname))


def png_big(dirname, n):
    rng = random.Random(1)
    for split, count in (("train", n), ("test", max(n // 6, 1))):
        for label, cls in enumerate(CLASSES):
            os.makedirs(os.path.join(dirname, split, cls), exist_ok=True)
        base = [[draw(k, rng, "L") for _ in range(20)] for k in range(3)]
        for i in range(count):
            label = i % 3
            base[label][i % 20].save(os.path.join(dirname, split, CLASSES[label],
                                                  "%06d.png" % i))


def agree(pred_json, eval_out):
    import json
    import math
    import re
    doc = json.load(open(pred_json))
    k = len(doc["class_names"])
    text = open(eval_out).read()
    m = re.search(r"test loss ([0-9.]+)  accuracy [0-9.]+ \((\d+)/(\d+)\)", text)
    assert m, "no loss line in " + eval_out
    loss, correct, total = float(m.group(1)), int(m.group(2)), int(m.group(3))
    rows = text.split("confusion matrix")[1].strip().splitlines()[2:2 + k]
    confusion = [[int(x) for x in r.split()[1:]] for r in rows]
    preds = doc["predictions"]
    assert len(preds) == total, (len(preds), total)
    mine = [[0] * k for _ in range(k)]
    nll = 0.0
    for p in preds:
        assert len(p["top"]) == k
        probs = {t["class"]: t["probability"] for t in p["top"]}
        assert abs(sum(probs.values()) - 1) < 1e-9, sum(probs.values())
        ps = [t["probability"] for t in p["top"]]
        assert ps == sorted(ps, reverse=True), ps
        mine[p["label"]][p["top"][0]["class"]] += 1
        nll -= math.log(probs[p["label"]])
    hits = sum(mine[i][i] for i in range(k))
    if mine != confusion or hits != correct:
        sys.exit("predict's confusion %s (%d correct) differs from eval's %s (%d)"
                 % (mine, hits, confusion, correct))
    if abs(nll / total - loss) > 2e-5:
        sys.exit("predict's mean loss %.7f differs from eval's %.6f" % (nll / total, loss))
    print("agree: %d samples: the same %d correct, confusion matrix and loss %.6f (eval %.6f)"
          % (total, hits, nll / total, loss))


def same(a, b):
    import json
    pa, pb = json.load(open(a))["predictions"], json.load(open(b))["predictions"]
    assert len(pa) == len(pb), (len(pa), len(pb))
    for x, y in zip(pa, pb):
        cx = [(t["class"], t["probability"]) for t in x["top"]]
        cy = [(t["class"], t["probability"]) for t in y["top"]]
        if cx != cy:
            sys.exit("%s row %s: %s, but %s: %s" % (x["input"], x["row"], cx, y["input"], cy))
    print("same: %d predictions identical" % len(pa))


def main(argv):
    cmd = argv[1]
    if cmd == "folder":
        folder(argv[2], int(argv[3]), int(argv[4]), argv[5:] == ["gray"])
    elif cmd == "bad":
        bad(argv[2])
    elif cmd == "cifar":
        cifar(argv[2], int(argv[3]), int(argv[4]))
    elif cmd == "check":
        size = tuple(int(x) for x in argv[5].split("x")) if len(argv) > 5 else None
        check(argv[2], argv[3], int(argv[4]), size)
    elif cmd == "check-cifar":
        check_cifar(argv[2], argv[3])
    elif cmd == "agree":
        agree(argv[2], argv[3])
    elif cmd == "same":
        same(argv[2], argv[3])
    elif cmd == "png-big":
        png_big(argv[2], int(argv[3]))
    else:
        sys.exit("images_gen.py: unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
