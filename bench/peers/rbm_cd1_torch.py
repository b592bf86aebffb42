#!/usr/bin/env python3
"""PyTorch peer benchmark: one CD-k epoch of a Bernoulli-Bernoulli RBM on MNIST (the loop of
`ebm train rbm`, `RbmTrainer::train_epoch` in src/models/rbm.rs), CPU, float32.

Data: the 60,000 MNIST training images (IDX gzip), binarized once as v ~ Bernoulli(x / 255)
with numpy's default_rng(seed) (ebm uses its own generator, so the bits differ, not the law).
Model: V = 784 visible, H = --hidden (500) hidden; W ~ N(0, 0.01^2), hidden bias 0, visible
bias logit((sum_n v + 1) / (N + 2)) (the base rate).

Each epoch visits the images in a fresh random order, in batches of --batch (100); per batch v0:
  ph0 = sigmoid(c + v0 W)                                   (data term: v0^T ph0 / m, mean v0, mean ph0)
  h0 ~ Bernoulli(ph0);  pv = sigmoid(b + h0 W^T)            (recon += ||pv - v0||^2)
  vk ~ Bernoulli(pv); phk = sigmoid(c + vk W); k - 1 more sweeps h ~ p(h|v), v ~ p(v|h)
                                                            (model term: vk^T phk / m, mean vk, mean phk)
  vel_W = mom vel_W + lr (pos_W - neg_W - decay W);  W += vel_W
  vel_b = mom vel_b + lr (pos_b - neg_b);  vel_c likewise (no decay on the biases)
momentum 0.5 for the first 5 epochs then 0.9; lr linear from --lr at the first epoch to
--lr-final at the last; weight decay 2e-4. Five GEMMs of m x 784 x 500 per batch:
10 N V H = 235 GFLOP per epoch for 784x500.

The clock covers the training loop of an epoch (shuffle, batch gather, updates, the recon sum);
loading and binarizing the data are outside. One JSON line per epoch on stdout, progress on
stderr.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np


def read_idx(path):
    """Read an IDX file (optionally gzip-compressed): big-endian magic, dims, then u8 data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not a u8 IDX file (magic {raw[:4].hex()})")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {np.prod(dims)} values, found {data.size}")
    return data.reshape(dims)


def load_images(data_dir, prefix):
    for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            imgs = read_idx(path)
            return imgs.reshape(imgs.shape[0], -1).astype(np.float32) / 255.0
    raise FileNotFoundError(f"no {prefix} images in {data_dir}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.normpath(os.path.join(here, "../../../shared/data/mnist")),
                    help="directory with the MNIST IDX files (default ../shared/data/mnist from the repository root)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--k", type=int, default=1, help="Gibbs sweeps per update (CD-k)")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--lr-final", type=float, default=0.05)
    ap.add_argument("--weight-decay", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.epochs < 1 or args.batch < 1 or args.k < 1 or args.hidden < 1:
        ap.error("--epochs, --batch, --k and --hidden must be at least 1")

    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)

    # --- data (outside the clock) ---
    rng = np.random.default_rng(args.seed)
    x = load_images(args.data, "train")
    v_all = torch.from_numpy((rng.random(x.shape, dtype=np.float32) < x).astype(np.float32))
    n, nv = v_all.shape
    nh = args.hidden

    p = (v_all.double().sum(0) + 1.0) / (n + 2.0)
    b = torch.log(p / (1.0 - p)).float()
    w = torch.randn(nv, nh) * 0.01
    c = torch.zeros(nh)
    vel_w, vel_b, vel_c = torch.zeros_like(w), torch.zeros_like(b), torch.zeros_like(c)
    gflop = 2.0 * (4 + 2 * args.k - 1) * n * nv * nh / 1e9  # 5 GEMMs per batch for k = 1

    def bernoulli(prob):
        return (torch.rand_like(prob) < prob).float()

    with torch.no_grad():
        for epoch in range(args.epochs):
            t = epoch / (args.epochs - 1) if args.epochs > 1 else 0.0
            lr = args.lr + t * (args.lr_final - args.lr)
            mom = 0.5 if epoch < 5 else 0.9
            t0 = time.perf_counter()
            order = torch.randperm(n)
            recon = 0.0
            for start in range(0, n, args.batch):
                v0 = v_all[order[start : start + args.batch]]
                m = v0.shape[0]
                ph0 = torch.sigmoid(torch.addmm(c, v0, w))
                pos_w = v0.t() @ ph0
                pos_b, pos_c = v0.mean(0), ph0.mean(0)
                h0 = bernoulli(ph0)
                pv = torch.sigmoid(torch.addmm(b, h0, w.t()))
                recon += float(((pv - v0) ** 2).sum())
                vk = bernoulli(pv)
                phk = torch.sigmoid(torch.addmm(c, vk, w))
                for _ in range(1, args.k):
                    hk = bernoulli(phk)
                    vk = bernoulli(torch.sigmoid(torch.addmm(b, hk, w.t())))
                    phk = torch.sigmoid(torch.addmm(c, vk, w))
                neg_w = vk.t() @ phk
                # vel = mom vel + lr ((pos - neg) / m - decay W); W += vel
                vel_w.mul_(mom).add_((pos_w - neg_w) / m - args.weight_decay * w, alpha=lr)
                w.add_(vel_w)
                vel_b.mul_(mom).add_(pos_b - vk.mean(0), alpha=lr)
                b.add_(vel_b)
                vel_c.mul_(mom).add_(pos_c - phk.mean(0), alpha=lr)
                c.add_(vel_c)
            dt = time.perf_counter() - t0
            if not torch.isfinite(w).all():
                raise SystemExit(f"diverged: weights not finite after epoch {epoch + 1}")
            print(f"[rbm cd-{args.k} pytorch T={args.threads}] epoch {epoch + 1}: recon {recon / n:.3f}  "
                  f"{dt:.3f} s  {gflop / dt:.1f} GFLOP/s", file=sys.stderr)
            print(json.dumps({
                "workload": f"rbm_cd{args.k}", "impl": "pytorch", "threads": args.threads,
                "epoch": epoch + 1, "seconds": round(dt, 4), "gflop": round(gflop, 2),
                "gflops_per_s": round(gflop / dt, 2), "recon_error": round(recon / n, 4),
                "visible": nv, "hidden": nh, "batch": args.batch, "lr": lr, "momentum": mom,
                "images": n, "torch": torch.__version__,
            }), flush=True)


if __name__ == "__main__":
    main()
