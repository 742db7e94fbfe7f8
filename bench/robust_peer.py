#!/usr/bin/env python3
"""PGD throughput peer for bench/bench_robust.sh: PyTorch on the CPU, for benchmarks only.

The net is mlaudit's dknn preset (the Deep kNN paper's MNIST net): conv 64 8x8 stride 2
pad 3, ReLU; conv 128 6x6 stride 2, ReLU; conv 128 5x5, ReLU; flatten; dense 10, with
PyTorch's default random initialisation (speed does not depend on the weights), in
evaluation mode with its parameters frozen (an attack needs input gradients only).

PGD L_inf as mlaudit runs it: x0 = clip01(x + U(-eps, eps)); STEPS times
x <- clip(clip01(x + step * sign(d CE / dx)), x - eps, x + eps); eps 0.3, step 0.01,
cross-entropy summed over the batch (the sign of each sample's gradient is the same as
with the mean).

Measures: seconds for the attack loop alone (no loading) on the first N test images of
MNIST in batches of B, and prints one JSON line with images_per_second.

Usage: /usr/bin/python3 bench/robust_peer.py [--images N] [--batch B] [--steps S]
       [--threads T] [--data DIR]   (DIR holds t10k-images-idx3-ubyte and
       t10k-labels-idx1-ubyte, plain or .gz; default data/mnist)
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(root, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(root, name)
        if os.path.exists(path):
            with (gzip.open if name.endswith(".gz") else open)(path, "rb") as f:
                return f.read()
    raise FileNotFoundError(os.path.join(root, stem))


def dknn_net():
    return nn.Sequential(
        nn.Conv2d(1, 64, 8, stride=2, padding=3), nn.ReLU(),
        nn.Conv2d(64, 128, 6, stride=2), nn.ReLU(),
        nn.Conv2d(128, 128, 5), nn.ReLU(),
        nn.Flatten(), nn.Linear(128, 10))


def pgd(model, x, y, eps, step, steps):
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = torch.min(torch.max((adv + step * g.sign()).clamp(0, 1), x - eps), x + eps)
    return adv.detach()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "mnist"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    raw = read_idx(a.data, "t10k-images-idx3-ubyte")
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)[: a.images].astype(np.float32) / 255
    y = np.frombuffer(read_idx(a.data, "t10k-labels-idx1-ubyte"), dtype=np.uint8, offset=8)[: a.images]
    x, y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    model = dknn_net().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    t0 = time.perf_counter()
    for i in range(0, len(x), a.batch):
        pgd(model, x[i:i + a.batch], y[i:i + a.batch], 0.3, 0.01, a.steps)
    t = time.perf_counter() - t0
    print(json.dumps({"bench": "pgd", "tool": "pytorch", "torch": torch.__version__, "threads": a.threads,
                      "images": len(x), "batch": a.batch, "steps": a.steps, "seconds": round(t, 3),
                      "images_per_second": round(len(x) / t, 2)}))


if __name__ == "__main__":
    main()
