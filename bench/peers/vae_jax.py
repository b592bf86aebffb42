#!/usr/bin/env python3
"""JAX peer benchmark: the VAE of pytorch/examples (examples/vae/main.py) on MNIST, CPU.

Same model, loss, optimiser and data as vae_torch.py:
  encoder  fc1 784-400 ReLU, heads fc21 400-20 (mean), fc22 400-20 (log-variance)
  z = mu + eps * exp(0.5 * logvar)
  decoder  fc3 20-400 ReLU, fc4 400-784 sigmoid
  loss = BCE summed over pixels and batch - 0.5 * sum(1 + logvar - mu^2 - exp(logvar))
  Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8) written by hand with torch.optim.Adam's formula,
  batch 128, reshuffled on the host with numpy every epoch, PyTorch's default nn.Linear init
  done by hand: weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

The BCE is computed from the fc4 logits with log_sigmoid (log p = log_sigmoid(l),
log(1-p) = log_sigmoid(-l)); this is the same function as BCE(sigmoid(l), x) and has the same
gradient (p - x) w.r.t. the logits, it only avoids PyTorch's clamp of log at -100 when the
float32 sigmoid saturates.

One jitted train step per batch (jax.value_and_grad + Adam, parameters/optimiser state donated),
the whole training set lives on the device and the step gathers its batch from a host-made
index vector. The last partial batch (60000 = 468*128 + 96) is handled by a SECOND COMPILATION
of the same step for the 96-row shape (jit caches both; the extra compile falls in epoch 1,
which is excluded from seconds_per_epoch). The running loss sum is kept on the device so the
loop never waits on the host; block_until_ready is called before the clock stops.

Threads: --threads T pins the process to the first T CPUs (os.sched_setaffinity, before jax is
imported, so XLA sizes its thread pools from the affinity mask) and sets XLA_FLAGS; the runner
additionally runs the process under taskset.

Human-readable progress goes to stderr; stdout gets exactly one JSON line at the end.
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


def limit_threads(t):
    """Restrict XLA:CPU to t threads. Must run before jax is imported."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > t:
            os.sched_setaffinity(0, cpus[:t])
    except (AttributeError, OSError):
        pass
    flags = os.environ.get("XLA_FLAGS", "")
    if t == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        # Single-threaded Eigen for the ops XLA hands to Eigen (matmuls, convolutions).
        flags += " --xla_cpu_multi_thread_eigen=false"
    os.environ["XLA_FLAGS"] = flags.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data/mnist", help="directory with the MNIST IDX .gz files")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()

    limit_threads(args.threads)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp

    LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-8
    SIZES = {"fc1": (784, 400), "fc21": (400, 20), "fc22": (400, 20), "fc3": (20, 400), "fc4": (400, 784)}

    def init_params(key):
        params = {}
        for name, (fan_in, fan_out) in SIZES.items():
            key, kw, kb = jax.random.split(key, 3)
            bound = 1.0 / np.sqrt(fan_in)
            params[name] = {
                "w": jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound),
                "b": jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound),
            }
        return params

    def dense(p, x):
        return x @ p["w"] + p["b"]

    def vae_loss(params, x, key):
        h1 = jax.nn.relu(dense(params["fc1"], x))
        mu = dense(params["fc21"], h1)
        logvar = dense(params["fc22"], h1)
        eps = jax.random.normal(key, mu.shape, mu.dtype)
        z = mu + eps * jnp.exp(0.5 * logvar)
        h3 = jax.nn.relu(dense(params["fc3"], z))
        logits = dense(params["fc4"], h3)  # recon = sigmoid(logits)
        bce = -jnp.sum(x * jax.nn.log_sigmoid(logits) + (1.0 - x) * jax.nn.log_sigmoid(-logits))
        kld = -0.5 * jnp.sum(1.0 + logvar - mu * mu - jnp.exp(logvar))
        return bce + kld

    def adam_update(params, grads, m, v, t):
        # torch.optim.Adam (no weight decay, amsgrad=False):
        #   m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2
        #   p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
        t = t + 1
        tf = t.astype(jnp.float32)
        bc1 = 1.0 - B1 ** tf
        bc2_sqrt = jnp.sqrt(1.0 - B2 ** tf)
        m = jax.tree_util.tree_map(lambda m_, g: B1 * m_ + (1.0 - B1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v_, g: B2 * v_ + (1.0 - B2) * g * g, v, grads)
        params = jax.tree_util.tree_map(
            lambda p, m_, v_: p - (LR / bc1) * m_ / (jnp.sqrt(v_) / bc2_sqrt + EPS), params, m, v)
        return params, m, v, t

    def train_step(state, x_all, idx):
        params, m, v, t, key, loss_sum = state
        key, sub = jax.random.split(key)
        x = x_all[idx]
        loss, grads = jax.value_and_grad(vae_loss)(params, x, sub)
        params, m, v, t = adam_update(params, grads, m, v, t)
        return (params, m, v, t, key, loss_sum + loss)

    # jit caches one executable per batch shape: 128 rows, and 96 rows for the last batch.
    train_step = jax.jit(train_step, donate_argnums=(0,))

    @jax.jit
    def test_loss_fn(params, x, key):
        return vae_loss(params, x, key)

    # --- data (outside the clock) ---
    x_train_np = load_images(args.data, "train")
    x_test_np = load_images(args.data, "t10k")
    n_train, n_test = x_train_np.shape[0], x_test_np.shape[0]
    x_train = jax.device_put(x_train_np)
    x_test = jax.device_put(x_test_np)

    rng = np.random.default_rng(args.seed)
    key = jax.random.key(args.seed)
    key, kinit, ktest = jax.random.split(key, 3)
    params = init_params(kinit)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros, jax.tree_util.tree_map(jnp.zeros_like, params),
             jnp.zeros((), jnp.int32), key, jnp.zeros((), jnp.float32))

    epoch_seconds, train_losses, test_losses = [], [], []
    for epoch in range(1, args.epochs + 1):
        # --- training loop (timed) ---
        t0 = time.perf_counter()
        perm = rng.permutation(n_train).astype(np.int32)
        state = state[:5] + (jnp.zeros((), jnp.float32),)
        for start in range(0, n_train, args.batch_size):
            state = train_step(state, x_train, perm[start : start + args.batch_size])
        jax.block_until_ready(state)
        dt = time.perf_counter() - t0
        epoch_seconds.append(dt)
        train_losses.append(float(state[5]) / n_train)

        # --- test loss (not timed): same loss over the 10,000 test images, z sampled ---
        ktest, sub = jax.random.split(ktest)
        test_losses.append(float(test_loss_fn(state[0], x_test, sub)) / n_test)
        print(
            f"[vae jax T={args.threads}] epoch {epoch}: train loss/img {train_losses[-1]:.4f}  "
            f"test loss/img {test_losses[-1]:.4f}  train time {dt:.3f} s",
            file=sys.stderr,
        )

    spe = statistics.median(epoch_seconds[1:]) if len(epoch_seconds) > 1 else epoch_seconds[0]
    print(json.dumps({
        "workload": "vae", "impl": "jax", "threads": args.threads, "epochs": args.epochs,
        "seconds_per_epoch": round(spe, 4),
        "epoch_seconds": [round(s, 4) for s in epoch_seconds],
        "train_loss": [round(l, 4) for l in train_losses],
        "test_loss": [round(l, 4) for l in test_losses],
    }), flush=True)


if __name__ == "__main__":
    main()
