#!/usr/bin/env python3
"""JAX peer benchmark: unadjusted Langevin dynamics on a fixed MLP energy, CPU, float32.

Energy E(y) = MLP 2-128-128-1 with SiLU after the first two layers; weights are fixed random
with PyTorch's default nn.Linear distribution, weights and biases ~ U(-1/sqrt(fan_in),
1/sqrt(fan_in)), drawn with jax.random from --seed (--init jax, default; this is the same
distribution as langevin_torch.py but not the same numbers). --init numpy draws weights and
starting points from numpy.random.default_rng(seed) exactly as langevin_torch.py --init numpy
does, so both sample the same energy from the same start (the noise still differs).

4096 chains in 2-D start from N(0, I) and take 200 steps of
    y <- y - 0.01 * dE/dy + sqrt(0.02) * noise,   noise ~ N(0, I)
with dE/dy = jax.grad of sum_chains E(y). The whole 200-step loop is one jitted
lax.fori_loop (key split inside the loop). It is run once to compile, then a second run is
timed (block_until_ready before the clock stops). Prints ONE JSON line on stdout.

Threads: --threads T pins the process to the first T CPUs before jax is imported (XLA sizes
its thread pools from the affinity mask) and, for T=1, sets --xla_cpu_multi_thread_eigen=false;
the runner also uses taskset.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

CHAINS, STEPS, STEP_SIZE = 4096, 200, 0.01
SIZES = [(2, 128), (128, 128), (128, 1)]


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
        flags += " --xla_cpu_multi_thread_eigen=false"
    os.environ["XLA_FLAGS"] = flags.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", choices=["jax", "numpy"], default="jax")
    args = ap.parse_args()

    limit_threads(args.threads)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp

    key = jax.random.key(args.seed)
    params = []
    if args.init == "numpy":
        rng = np.random.default_rng(args.seed)
        for fan_in, fan_out in SIZES:
            bound = 1.0 / math.sqrt(fan_in)
            w = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
            b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
            params.append((jnp.asarray(w), jnp.asarray(b)))
        y0 = jnp.asarray(rng.standard_normal((CHAINS, 2)).astype(np.float32))
        key, kloop = jax.random.split(key)
    else:
        for fan_in, fan_out in SIZES:
            key, kw, kb = jax.random.split(key, 3)
            bound = 1.0 / math.sqrt(fan_in)
            params.append((jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound),
                           jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound)))
        key, ky, kloop = jax.random.split(key, 3)
        y0 = jax.random.normal(ky, (CHAINS, 2), jnp.float32)

    def energy(params, y):
        (w1, b1), (w2, b2), (w3, b3) = params
        h = jax.nn.silu(y @ w1 + b1)
        h = jax.nn.silu(h @ w2 + b2)
        return (h @ w3 + b3)[:, 0]

    grad_total_energy = jax.grad(lambda y, params: jnp.sum(energy(params, y)))
    noise_scale = math.sqrt(2.0 * STEP_SIZE)

    @jax.jit
    def run(params, y, key):
        def body(_, carry):
            y, key = carry
            key, sub = jax.random.split(key)
            g = grad_total_energy(y, params)
            y = y - STEP_SIZE * g + noise_scale * jax.random.normal(sub, y.shape, y.dtype)
            return y, key
        y, _ = jax.lax.fori_loop(0, STEPS, body, (y, key))
        return y

    run(params, y0, kloop).block_until_ready()  # compile (and a first run)
    t0 = time.perf_counter()
    y = run(params, y0, kloop).block_until_ready()
    dt = time.perf_counter() - t0
    mean_energy = float(jnp.mean(energy(params, y)))
    print(f"[langevin jax T={args.threads}] {STEPS} steps in {dt:.3f} s, mean energy {mean_energy:.5f}",
          file=sys.stderr)
    print(json.dumps({
        "workload": "langevin", "impl": "jax", "threads": args.threads, "seconds": round(dt, 4),
        "chains": CHAINS, "steps": STEPS, "mean_energy_end": round(mean_energy, 6),
    }), flush=True)


if __name__ == "__main__":
    main()
