#!/usr/bin/env python3
"""PyTorch peer benchmark: unadjusted Langevin dynamics on a fixed MLP energy, CPU, float32.

Energy E(y) = MLP 2-128-128-1 with SiLU after the first two layers; weights are fixed random,
PyTorch's default nn.Linear init drawn after torch.manual_seed(seed) (--init torch, default).
--init numpy instead draws weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and the starting points
from numpy.random.default_rng(seed), the same way langevin_jax.py does with --init numpy, so
the two implementations then sample the same energy from the same start.

4096 chains in 2-D start from N(0, I) and take 200 steps of
    y <- y - 0.01 * dE/dy + sqrt(0.02) * noise,   noise ~ N(0, I)
where dE/dy is the gradient of sum_chains E(y) (torch.autograd.grad; the weights do not
require grad). One warm-up run of 5 steps (on a copy of the start), then the 200 steps are
timed. Prints ONE JSON line on stdout.
"""
import argparse
import json
import math
import sys
import time

import numpy as np

CHAINS, STEPS, STEP_SIZE = 4096, 200, 0.01


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=["torch", "numpy"], default="torch")
    args = ap.parse_args()

    import torch
    import torch.nn as nn

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)

    energy = nn.Sequential(
        nn.Linear(2, 128), nn.SiLU(),
        nn.Linear(128, 128), nn.SiLU(),
        nn.Linear(128, 1),
    )
    if args.init == "numpy":
        rng = np.random.default_rng(args.seed)
        with torch.no_grad():
            for layer in (energy[0], energy[2], energy[4]):
                fan_out, fan_in = layer.weight.shape
                bound = 1.0 / math.sqrt(fan_in)
                # drawn as (fan_in, fan_out) like the JAX script, then transposed
                layer.weight.copy_(torch.from_numpy(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32).T))
                layer.bias.copy_(torch.from_numpy(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)))
        y0 = torch.from_numpy(rng.standard_normal((CHAINS, 2)).astype(np.float32))
    else:
        y0 = torch.randn(CHAINS, 2)
    energy.requires_grad_(False)

    noise_scale = math.sqrt(2.0 * STEP_SIZE)

    def run(y, steps):
        for _ in range(steps):
            y = y.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(energy(y).sum(), y)
            with torch.no_grad():
                y = y - STEP_SIZE * g + noise_scale * torch.randn_like(y)
        return y.detach()

    run(y0.clone(), 5)  # warm-up
    t0 = time.perf_counter()
    y = run(y0, STEPS)
    dt = time.perf_counter() - t0
    with torch.no_grad():
        mean_energy = energy(y).mean().item()
    print(f"[langevin pytorch T={args.threads}] {STEPS} steps in {dt:.3f} s, mean energy {mean_energy:.5f}",
          file=sys.stderr)
    print(json.dumps({
        "workload": "langevin", "impl": "pytorch", "threads": args.threads, "seconds": round(dt, 4),
        "chains": CHAINS, "steps": STEPS, "mean_energy_end": round(mean_energy, 6),
    }), flush=True)


if __name__ == "__main__":
    main()
