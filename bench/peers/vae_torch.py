#!/usr/bin/env python3
"""PyTorch peer benchmark: the VAE of pytorch/examples (examples/vae/main.py) on MNIST, CPU.

Model, loss and optimiser are those of the example:
  encoder  fc1 784-400 ReLU, heads fc21 400-20 (mean), fc22 400-20 (log-variance)
  z = mu + eps * exp(0.5 * logvar)
  decoder  fc3 20-400 ReLU, fc4 400-784 sigmoid
  loss = BCE(recon, x, reduction='sum') - 0.5 * sum(1 + logvar - mu^2 - exp(logvar))
  Adam(lr=1e-3), batch 128, reshuffled every epoch, default nn.Linear init.
Pixels are x/255 in [0, 1] (not binarised), read from the IDX gzip files with numpy + gzip
(no torchvision, no downloads).

Human-readable progress goes to stderr; stdout gets exactly one JSON line at the end.
Timing covers the training loop of each epoch only (per-epoch shuffle, batch gather, forward,
backward, Adam step); data loading and the test evaluation are outside the clock.
"""
import argparse
import gzip
import json
import os
import statistics
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
            return (imgs.reshape(imgs.shape[0], -1).astype(np.float32) / 255.0)
    raise FileNotFoundError(f"no {prefix} images in {data_dir}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data/mnist", help="directory with the MNIST IDX .gz files")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            eps = torch.randn_like(std)
            return mu + eps * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    # --- data (outside the clock) ---
    x_train = torch.from_numpy(load_images(args.data, "train"))
    x_test = torch.from_numpy(load_images(args.data, "t10k"))
    n_train, n_test = x_train.shape[0], x_test.shape[0]

    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    epoch_seconds, train_losses, test_losses = [], [], []
    for epoch in range(1, args.epochs + 1):
        # --- training loop (timed) ---
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n_train)  # what DataLoader(shuffle=True) does
        train_loss = 0.0
        for start in range(0, n_train, args.batch_size):
            data = x_train[perm[start : start + args.batch_size]]
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        dt = time.perf_counter() - t0
        epoch_seconds.append(dt)
        train_losses.append(train_loss / n_train)

        # --- test loss (not timed): same loss, z sampled as in the example ---
        model.eval()
        with torch.no_grad():
            test_loss = 0.0
            for start in range(0, n_test, args.batch_size):
                data = x_test[start : start + args.batch_size]
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
        test_losses.append(test_loss / n_test)
        print(
            f"[vae pytorch T={args.threads}] epoch {epoch}: train loss/img {train_losses[-1]:.4f}  "
            f"test loss/img {test_losses[-1]:.4f}  train time {dt:.3f} s",
            file=sys.stderr,
        )

    spe = statistics.median(epoch_seconds[1:]) if len(epoch_seconds) > 1 else epoch_seconds[0]
    print(json.dumps({
        "workload": "vae", "impl": "pytorch", "threads": args.threads, "epochs": args.epochs,
        "seconds_per_epoch": round(spe, 4),
        "epoch_seconds": [round(s, 4) for s in epoch_seconds],
        "train_loss": [round(l, 4) for l in train_losses],
        "test_loss": [round(l, 4) for l in test_losses],
    }), flush=True)


if __name__ == "__main__":
    main()
