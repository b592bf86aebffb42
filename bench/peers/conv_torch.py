#!/usr/bin/env python3
"""PyTorch peer of `ebm bench conv` (the image EBM's workload), CPU, float32.

The same network as `ebm train image-ebm` at its defaults on 28x28 images
(features F = 16): Conv(1, F, 3, 1, 1), LeakyReLU(0.2), Conv(F, 2F, 4, 2, 1), LeakyReLU,
Conv(2F, 4F, 4, 2, 1), LeakyReLU, Conv(4F, 8F, 4, 2, 1), LeakyReLU, Conv(8F, 1, 3, 1, 0),
PyTorch's default initialization.

Two timings, each the median of --repeat runs after one warm-up run:

* `update_s`: one image-EBM update: a batch of B chains from uniform noise, --steps SGLD
  steps `x <- clamp(x - dE/dx + 0.01 xi, -1, 1)` (autograd.grad of E(x).sum() per step),
  then the contrastive loss `mean E(x+) - mean E(x-)` on B random positives and the B
  negatives, backward and an Adam step (lr 1e-4);
* `fwd_bwd_s`: one forward and backward (weights and input) of the network on B images.

Prints one JSON line. Threads: --threads (torch.set_num_threads); run under
`taskset -c 0` for one core as the README of ../../shared/peers says.

    /tmp/torchvenv/bin/python bench/peers/conv_torch.py --threads 1
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn


def net(f):
    return nn.Sequential(
        nn.Conv2d(1, f, 3, 1, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(f, 2 * f, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * f, 4 * f, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(4 * f, 8 * f, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(8 * f, 1, 3, 1, 0),
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--features", type=int, default=16)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    f = net(a.features)
    opt = torch.optim.Adam(f.parameters(), lr=1e-4)
    b = a.batch
    pos = torch.rand(b, 1, 28, 28) * 2 - 1

    def update():
        x = (torch.rand(b, 1, 28, 28) * 2 - 1).requires_grad_(True)
        for _ in range(a.steps):
            g = torch.autograd.grad(f(x).sum(), [x])[0]
            x = (x.detach() - g + 0.01 * torch.randn_like(x)).clamp(-1, 1).requires_grad_(True)
        neg = x.detach()
        loss = f(pos).mean() - f(neg).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def fwd_bwd():
        x = pos.clone().requires_grad_(True)
        f.zero_grad()
        f(x).sum().backward()

    def timed(fn):
        fn()  # warm-up
        ts = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    out = {
        "workload": "conv", "impl": "torch", "torch": torch.__version__,
        "threads": a.threads, "batch": b, "steps": a.steps, "features": a.features,
        "update_s": timed(update), "fwd_bwd_s": timed(fwd_bwd),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
