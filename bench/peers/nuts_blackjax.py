#!/usr/bin/env python3
"""BlackJAX peer benchmark: NUTS on target T1, CPU, float64.

The workload of `examples/nuts_overhead.rs` (ebm::nuts::sample_nuts over nuts-rs):
T1 = the 100-d Gaussian with mean 0 and standard deviations linspace(0.1, 10, 100)
(ebm::targets::t1), log p(y) = -sum (y_j / s_j)^2 / 2. One chain, started uniform in
[-2, 2]^100 (as Stan and ebm do), then

- blackjax.window_adaptation(blackjax.nuts, ...) for 1,000 steps (Stan's windowed
  adaptation: dual-averaging step size towards target acceptance 0.8, diagonal mass
  matrix);
- 1,000 NUTS draws with the adapted step size and inverse mass matrix (max 10 doublings,
  BlackJAX's default, like ebm's max_depth 10),

all in ONE jitted function (the adaptation's scan and the sampling lax.scan). It is run
once to compile, then timed on a second call with the same key (block_until_ready before
the clock stops), so the time excludes compilation. Gradient evaluations are the sum of
`num_integration_steps` over warm-up and draws. The draws' variances are checked against
s_j^2 (printed as the range of var_j / s_j^2 over the 100 coordinates).

Prints ONE JSON line on stdout. Options: --seed (0), --warmup (1000), --draws (1000),
--threads (1; pins the process to the first T CPUs before jax is imported and, for T=1,
sets --xla_cpu_multi_thread_eigen=false).

Install: python3 -m venv /tmp/bjx && /tmp/bjx/bin/pip install blackjax jax numpy
"""
import argparse
import json
import os
import time

import numpy as np


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
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()
    limit_threads(args.threads)

    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platform_name", "cpu")
    import blackjax

    std = jnp.asarray(np.linspace(0.1, 10.0, 100))

    def logdensity(y):
        u = y / std
        return -0.5 * jnp.sum(u * u)

    warmup = blackjax.window_adaptation(blackjax.nuts, logdensity, target_acceptance_rate=0.8)

    @jax.jit
    def run(key):
        k_init, k_warm, k_draw = jax.random.split(key, 3)
        y0 = jax.random.uniform(k_init, (100,), minval=-2.0, maxval=2.0, dtype=jnp.float64)
        (state, params), warm_info = warmup.run(k_warm, y0, num_steps=args.warmup)
        step = blackjax.nuts(logdensity, **params).step

        def one(state, k):
            state, info = step(k, state)
            return state, (state.position, info.num_integration_steps, info.is_divergent, info.acceptance_rate)

        _, (ys, nsteps, div, acc) = jax.lax.scan(one, state, jax.random.split(k_draw, args.draws))
        grads = jnp.sum(warm_info.info.num_integration_steps) + jnp.sum(nsteps)
        return ys, grads, jnp.sum(div), jnp.mean(acc), params["step_size"]

    key = jax.random.key(args.seed)
    t0 = time.perf_counter()
    jax.block_until_ready(run(key))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    ys, grads, div, acc, eps = jax.block_until_ready(run(key))
    seconds = time.perf_counter() - t0

    ratio = np.var(np.asarray(ys), axis=0) / np.asarray(std) ** 2
    print(json.dumps({
        "workload": "nuts", "target": "t1", "impl": "blackjax", "version": blackjax.__version__,
        "jax": jax.__version__, "threads": args.threads, "chains": 1, "warmup": args.warmup,
        "draws": args.draws, "seed": args.seed, "seconds": round(seconds, 4),
        "first_call_seconds": round(first, 4), "grad_evals": int(grads), "divergences": int(div),
        "mean_acceptance": round(float(acc), 4), "step_size": round(float(eps), 4),
        "var_ratio_min": round(float(ratio.min()), 3), "var_ratio_max": round(float(ratio.max()), 3),
    }))


if __name__ == "__main__":
    main()
