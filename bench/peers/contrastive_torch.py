#!/usr/bin/env python3
"""PyTorch peer benchmark: contrastive EBM training (the loop of `ebm bench contrastive`), CPU, float32.

Energy E(y) = MLP 2-128-128-1, SiLU after the two hidden layers, PyTorch's default init.
Data: 8 Gaussians on the circle of radius 2, std 0.1 (fresh batch each update).
Each update (batch 256):
  - draw 256 chains from a replay buffer of 8,192 (uniform, without replacement); each restarts
    from U[-3, 3]^2 with probability 0.05;
  - 20 unadjusted Langevin steps y <- y - 0.005 dE/dy + sqrt(0.01) noise (autograd w.r.t. y,
    the weights not differentiated), chains written back to the buffer;
  - loss = mean E(data) - mean E(neg) + 0.01 (mean E(data)^2 + mean E(neg)^2), Adam lr 1e-3.
One warm-up update, then --updates updates are timed. Prints ONE JSON line on stdout.
"""
import argparse
import json
import math
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()

    import torch
    import torch.nn as nn

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)
    net = nn.Sequential(nn.Linear(2, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    buf = torch.rand(8192, 2) * 6 - 3
    eps, B, K = 0.005, args.batch, args.steps
    angles = torch.arange(8) * (2 * math.pi / 8)
    means = torch.stack([2 * torch.cos(angles), 2 * torch.sin(angles)], 1)

    def data_batch():
        k = torch.randint(0, 8, (B,))
        return means[k] + 0.1 * torch.randn(B, 2)

    def update():
        idx = torch.randperm(8192)[:B]
        y = buf[idx].clone()
        fresh = torch.rand(B) < 0.05
        y[fresh] = torch.rand(int(fresh.sum()), 2) * 6 - 3
        for p in net.parameters():
            p.requires_grad_(False)
        for _ in range(K):
            y.requires_grad_(True)
            g, = torch.autograd.grad(net(y).sum(), y)
            y = (y - eps * g + math.sqrt(2 * eps) * torch.randn_like(y)).detach()
        for p in net.parameters():
            p.requires_grad_(True)
        buf[idx] = y
        x = data_batch()
        ed, en = net(x).squeeze(1), net(y).squeeze(1)
        loss = ed.mean() - en.mean() + 0.01 * ((ed ** 2).mean() + (en ** 2).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        return ed.mean().item(), en.mean().item()

    update()
    t = time.perf_counter()
    last = []
    for i in range(args.updates):
        last.append(update())
    secs = time.perf_counter() - t
    tail = last[-10:]
    print(json.dumps({
        "workload": "contrastive", "impl": "pytorch", "torch": torch.__version__,
        "threads": args.threads, "seconds": secs, "seconds_per_update": secs / args.updates,
        "updates": args.updates, "batch": B, "langevin_steps": K,
        "e_data": sum(a for a, _ in tail) / len(tail), "e_neg": sum(b for _, b in tail) / len(tail),
    }))


if __name__ == "__main__":
    main()
