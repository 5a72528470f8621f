#!/usr/bin/python3
"""plot.py - training curves and throughput from a `shardnet train --metrics`
file, as one PNG (Debian python3-matplotlib).

    scripts/plot.py METRICS.jsonl [--out curves.png] [--title TEXT]

Left: per epoch, the train loss, train accuracy and test accuracy (the
textbook's animator); right: training images per second at every logged step.
Exits 1 with a message when the file has no epoch records."""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    steps, epochs, start = [], [], None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"plot.py: {path}:{n}: not JSON ({e})")
            kind = rec.get("type")
            if kind == "step":
                steps.append(rec)
            elif kind == "epoch":
                epochs.append(rec)
            elif kind == "start":
                start = rec
    return start, steps, epochs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics")
    ap.add_argument("--out", default="curves.png")
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    start, steps, epochs = read(args.metrics)
    if not epochs:
        sys.exit(f"plot.py: {args.metrics} has no epoch records (did the run finish an epoch?)")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = [e["epoch"] for e in epochs]
    left.plot(x, [e["train_loss"] for e in epochs], "-", label="train loss")
    left.plot(x, [e["train_accuracy"] for e in epochs], "m--", label="train acc")
    test = [(e["epoch"], e["test_accuracy"]) for e in epochs if e.get("test_accuracy") is not None]
    if test:
        left.plot([t[0] for t in test], [t[1] for t in test], "g-.", label="test acc")
    left.set_xlabel("epoch")
    left.set_xlim(0.5, max(x) + 0.5)
    left.grid(True)
    left.legend()
    steps = [s for s in steps if s.get("img_per_s") is not None]
    if steps:
        right.plot([s["step"] for s in steps], [s["img_per_s"] for s in steps], ".-")
    right.set_xlabel("step")
    right.set_ylabel("training images / s")
    right.set_ylim(bottom=0)
    right.grid(True)
    ranks = start["world_size"] if start else "?"
    fig.suptitle(args.title or f"shardnet: {args.metrics} ({ranks} ranks)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"plot.py: wrote {args.out} ({len(epochs)} epochs, {len(steps)} step records)")


if __name__ == "__main__":
    main()
