#!/usr/bin/python3
"""torch_lenet.py - the same LeNet trained in PyTorch on the same data, for
scripts/bench.sh's side-by-side figures (Debian python3-torch, python3-h5py).

    scripts/torch_lenet.py DATA.h5 [--arch classic|modern] [--batch 256]
                           [--steps 200] [--threads N]

Prints one line: "torch: N img/s (...)" - training throughput (forward,
backward, SGD step) measured after 20 warm-up steps, on data already in
memory as float32, the best case for PyTorch."""
import argparse
import time

import h5py
import numpy as np
import torch
from torch import nn


def lenet(arch):
    act = nn.Sigmoid if arch == "classic" else nn.ReLU
    pool = nn.AvgPool2d if arch == "classic" else nn.MaxPool2d
    net = nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), act(), pool(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), act(), pool(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(400, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, 10))
    for m in net:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
    return net


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--arch", default="classic", choices=["classic", "modern"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with h5py.File(args.data, "r") as f:
        n = args.batch * 64
        x = torch.from_numpy(f["train/images"][:n].astype(np.float32) / 255.0)
        y = torch.from_numpy(f["train/labels"][:n].astype(np.int64))
    net = lenet(args.arch)
    opt = torch.optim.SGD(net.parameters(), lr=0.9 if args.arch == "classic" else 0.1)
    loss_fn = nn.CrossEntropyLoss()
    batches = n // args.batch
    start = None
    for step in range(args.steps + 20):
        if step == 20:
            start = time.perf_counter()
        i = step % batches
        xb, yb = x[i * args.batch:(i + 1) * args.batch], y[i * args.batch:(i + 1) * args.batch]
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    print(f"torch: {args.steps * args.batch / seconds:.0f} img/s ({args.arch}, batch {args.batch}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, {args.steps} steps in "
          f"{seconds:.2f} s)")


if __name__ == "__main__":
    main()
