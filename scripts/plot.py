#!/usr/bin/python3
"""plot.py - a run's whole history from its metrics file (shardnet train
--run DIR writes DIR/metrics.jsonl, appended across resumes), as one PNG
(Debian python3-matplotlib).

    scripts/plot.py RUN_DIR|METRICS.jsonl [--out curves.png] [--title TEXT]

Four panels over the global step, so a stopped and resumed run is one
continuous curve: loss (train at every logged step, and per epoch train,
validation and test), accuracy (the same), the learning rate, and training
images per second.  Vertical marks: resumes (red, dashed, with the number of
ranks), stops (orange), checkpoints (grey, dotted) and the best checkpoint
(green).  Exits 1 with a message when the file has no step records."""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    by_type = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"plot.py: {path}:{n}: not JSON ({e})")
            by_type.setdefault(rec.get("type"), []).append(rec)
    return by_type


def series(records, key):
    pts = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", help="a run directory or its metrics.jsonl")
    ap.add_argument("--out", default="curves.png")
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    path = args.metrics
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    if os.path.exists(args.out):
        sys.exit(f"plot.py: --out {args.out}: the file exists and is not overwritten; remove it first")
    rec = read(path)
    steps, epochs = rec.get("step", []), rec.get("epoch", [])
    if not steps:
        sys.exit(f"plot.py: {path} has no step records (did the run log a step?)")
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
    (loss, acc), (lr, speed) = axes

    x, y = series(steps, "loss")
    loss.plot(x, y, "-", color="tab:blue", alpha=0.35, label="train (logged step)")
    x, y = series(steps, "accuracy")
    acc.plot(x, y, "-", color="tab:blue", alpha=0.35, label="train (logged step)")
    for key, ax, label, style in [("train_loss", loss, "train (epoch mean)", "b-o"),
                                  ("val_loss", loss, "validation", "m-s"),
                                  ("test_loss", loss, "test", "g-^"),
                                  ("train_accuracy", acc, "train (epoch mean)", "b-o"),
                                  ("val_accuracy", acc, "validation", "m-s"),
                                  ("test_accuracy", acc, "test", "g-^")]:
        x, y = series(epochs, key)
        if x:
            ax.plot(x, y, style, markersize=4, label=label)
    loss.set_ylabel("loss (cross-entropy)")
    acc.set_ylabel("accuracy")
    x, y = series(steps, "lr")
    lr.plot(x, y, "-", color="tab:purple")
    lr.set_ylabel("learning rate")
    x, y = series(steps, "img_per_s")
    speed.plot(x, y, ".-", color="tab:gray")
    speed.set_ylabel("training images / s")
    speed.set_ylim(bottom=0)

    marks = [("resume", "red", "--"), ("stop", "orange", "-"), ("checkpoint", "gray", ":"),
             ("best", "green", "-.")]
    for kind, color, style in marks:
        for r in rec.get(kind, []):
            for ax in axes.flat:
                ax.axvline(r["step"], color=color, linestyle=style, linewidth=1, alpha=0.7)
    for r in rec.get("resume", []):
        loss.annotate(f"resume ({r.get('world_size', '?')} ranks)", (r["step"], 1), xycoords=("data", "axes fraction"),
                      rotation=90, va="top", ha="right", color="red", fontsize=8)
    handles = [plt.Line2D([], [], color=c, linestyle=s, label=k) for k, c, s in marks
               if rec.get(k)]
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("global step")
    loss.legend(fontsize=8)
    acc.legend(handles=acc.get_legend_handles_labels()[0] + handles, fontsize=8)
    start = (rec.get("start") or rec.get("resume") or [{}])[0]
    fig.suptitle(args.title or f"shardnet: {path} ({start.get('world_size', '?')} ranks at start, "
                 f"{len(rec.get('resume', []))} resume(s))")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"plot.py: wrote {args.out} ({len(epochs)} epochs, {len(steps)} step records, "
          f"{len(rec.get('resume', []))} resumes, {len(rec.get('checkpoint', []))} checkpoints)")


if __name__ == "__main__":
    main()
