#!/usr/bin/env python3
"""Peer benchmark: MALA on T5 (the 8-Gaussian ring), CPU, float32. Same workload as `ebm bench mala`
(src/bench.rs `mala_t5`; ebm runs it in float64).

Target T5: 2-D mixture of 8 Gaussians with equal weights, means mu_k = 2 (cos 2 pi k/8, sin 2 pi k/8),
std s = 0.1:
    log p(y) = logsumexp_k(log(1/8) - |y - mu_k|^2 / (2 s^2)) - log(2 pi s^2).
4,096 chains start from N(0, I) (seeded) and take 500 MALA steps with step size eps = 0.01:
    y' = y + eps grad log p(y) + sqrt(2 eps) xi,   xi ~ N(0, I)
    log a = log p(y') - log p(y) - (|y - y' - eps g(y')|^2 - |y' - y - eps g(y)|^2) / (4 eps)
accepted with probability min(1, exp(log a)).

--impl jax       batched step (jax.vmap(jax.value_and_grad(log p)) over chains, one gradient per step,
                 log p and its gradient carried), the 500 steps one jitted lax.scan;
--impl blackjax  blackjax.mala(log p, step_size=0.01); its init and step vmapped over the chains
                 (one key per chain per step), the 500 steps one jitted lax.scan;
--impl numpy     plain vectorized float32 numpy (closed-form gradient), numpy.random.default_rng.

JAX/BlackJAX: the jitted run is called once to compile (and run), then --repeats timed runs with the
same key (block_until_ready before the clock stops). NumPy: a 5-step warm-up, then --repeats timed runs,
each restarted from the same seed. The clock covers the 500 steps (for JAX also the initial log p and
gradient, one evaluation). Prints ONE JSON line per repeat on stdout:
    {"workload": "mala_t5", "impl": ..., "threads": T, "seconds": ..., "chains": 4096, "steps": 500,
     "acceptance": <mean over steps and chains of min(1, exp(log a))>, "mode_fractions": [8 fractions of
     chains nearest each mean], "near_mode": <fraction within 0.3 of a mean>, "dtype": "float32", ...}
Correct sampling: every mode holds 9-16% of the chains and near_mode > 0.95.

Threads: --threads T pins the process to the first T CPUs before jax/numpy are imported (XLA sizes its
thread pools from the affinity mask), sets OMP/MKL/OPENBLAS_NUM_THREADS=T and, for T=1,
--xla_cpu_multi_thread_eigen=false; the runner also uses taskset.
"""
import argparse
import json
import math
import os
import sys
import time

CHAINS, STEPS, STEP_SIZE, STD, RADIUS, MODES = 4096, 500, 0.01, 0.1, 2.0, 8


def limit_threads(t):
    """Restrict XLA:CPU / BLAS to t threads. Must run before jax or numpy is imported."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > t:
            os.sched_setaffinity(0, cpus[:t])
    except (AttributeError, OSError):
        pass
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[v] = str(t)
    flags = os.environ.get("XLA_FLAGS", "")
    if t == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        flags += " --xla_cpu_multi_thread_eigen=false"
    os.environ["XLA_FLAGS"] = flags.strip()


def means_np(np):
    ang = 2.0 * np.pi * np.arange(MODES) / MODES
    return (RADIUS * np.stack([np.cos(ang), np.sin(ang)], axis=1)).astype(np.float32)  # [8, 2]


def mode_stats(np, y, mu):
    """Fraction of chains nearest each mean, fraction within 0.3 of a mean."""
    y = np.asarray(y, dtype=np.float64)
    d2 = ((y[:, None, :] - mu[None, :, :].astype(np.float64)) ** 2).sum(-1)  # [N, 8]
    best = d2.argmin(1)
    frac = np.bincount(best, minlength=MODES) / y.shape[0]
    near = float((d2.min(1) < 0.09).mean())
    return [round(float(f), 5) for f in frac], near


def make_jax(impl, seed):
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp
    import numpy as np

    mu_np = means_np(np)
    mu = jnp.asarray(mu_np)
    log_w = jnp.float32(math.log(1.0 / MODES))
    log_norm = jnp.float32(math.log(2.0 * math.pi * STD * STD))
    inv_2s2 = jnp.float32(1.0 / (2.0 * STD * STD))

    def logp(y):  # one chain, y: [2]
        d2 = jnp.sum((y[None, :] - mu) ** 2, axis=-1)
        return jax.nn.logsumexp(log_w - d2 * inv_2s2) - log_norm

    key = jax.random.key(seed)
    key, k0 = jax.random.split(key)
    y0 = jax.random.normal(k0, (CHAINS, 2), jnp.float32)
    eps = jnp.float32(STEP_SIZE)
    s2e = jnp.float32(math.sqrt(2.0 * STEP_SIZE))
    versions = {"jax": jax.__version__}

    if impl == "jax":
        vg = jax.vmap(jax.value_and_grad(logp))

        @jax.jit
        def run(y, key):
            lp, g = vg(y)

            def step(carry, k):
                y, lp, g = carry
                kx, ku = jax.random.split(k)
                yp = y + eps * g + s2e * jax.random.normal(kx, y.shape, jnp.float32)
                lpp, gp = vg(yp)
                fwd = jnp.sum((yp - y - eps * g) ** 2, axis=1)
                bwd = jnp.sum((y - yp - eps * gp) ** 2, axis=1)
                log_a = lpp - lp - (bwd - fwd) / (4.0 * eps)
                a = jnp.where(jnp.isnan(log_a), 0.0, jnp.exp(jnp.minimum(log_a, 0.0)))
                u = jax.random.uniform(ku, lp.shape, jnp.float32)
                take = u < a
                y = jnp.where(take[:, None], yp, y)
                lp = jnp.where(take, lpp, lp)
                g = jnp.where(take[:, None], gp, g)
                return (y, lp, g), jnp.mean(a)

            (y, _, _), acc = jax.lax.scan(step, (y, lp, g), jax.random.split(key, STEPS))
            return y, jnp.mean(acc)
    else:
        import blackjax

        versions["blackjax"] = blackjax.__version__
        mala = blackjax.mala(logp, step_size=STEP_SIZE)

        @jax.jit
        def run(y, key):
            state = jax.vmap(mala.init)(y)

            def step(state, k):
                keys = jax.random.split(k, CHAINS)
                state, info = jax.vmap(mala.step)(keys, state)
                return state, jnp.mean(info.acceptance_rate)

            state, acc = jax.lax.scan(step, state, jax.random.split(key, STEPS))
            return state.position, jnp.mean(acc)

    def once():
        y, acc = jax.block_until_ready(run(y0, key))
        return np.asarray(y), float(acc)

    once()  # compile (and a first run)
    return once, mu_np, versions


def make_numpy(seed):
    import numpy as np

    mu = means_np(np)  # [8, 2] float32
    log_w = np.float32(math.log(1.0 / MODES))
    log_norm = np.float32(math.log(2.0 * math.pi * STD * STD))
    inv_s2 = np.float32(1.0 / (STD * STD))
    eps = np.float32(STEP_SIZE)
    s2e = np.float32(math.sqrt(2.0 * STEP_SIZE))

    def logp_grad(y):  # y: [N, 2] float32 -> log p [N], grad [N, 2]
        diff = mu[None, :, :] - y[:, None, :]  # [N, 8, 2]
        a = log_w - np.float32(0.5) * inv_s2 * np.einsum("nkd,nkd->nk", diff, diff)  # [N, 8]
        m = a.max(axis=1, keepdims=True)
        w = np.exp(a - m)
        sw = w.sum(axis=1, keepdims=True)
        lp = (m + np.log(sw))[:, 0] - log_norm
        g = inv_s2 * np.einsum("nk,nkd->nd", w / sw, diff)
        return lp, g

    def run(steps):
        rng = np.random.default_rng(seed)
        y = rng.standard_normal((CHAINS, 2), dtype=np.float32)
        lp, g = logp_grad(y)
        acc = 0.0
        for _ in range(steps):
            yp = y + eps * g + s2e * rng.standard_normal((CHAINS, 2), dtype=np.float32)
            lpp, gp = logp_grad(yp)
            fwd = yp - y - eps * g
            bwd = y - yp - eps * gp
            log_a = lpp - lp - ((bwd * bwd).sum(1) - (fwd * fwd).sum(1)) / (np.float32(4.0) * eps)
            with np.errstate(over="ignore", invalid="ignore"):
                a = np.where(np.isnan(log_a), np.float32(0.0), np.exp(np.minimum(log_a, np.float32(0.0))))
            take = rng.random(CHAINS, dtype=np.float32) < a
            y = np.where(take[:, None], yp, y)
            lp = np.where(take, lpp, lp)
            g = np.where(take[:, None], gp, g)
            acc += float(a.mean())
        assert y.dtype == np.float32
        return y, acc / max(steps, 1)

    run(5)  # warm-up
    return (lambda: run(STEPS)), mu, {}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", choices=["jax", "blackjax", "numpy"], default="jax")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    limit_threads(args.threads)
    import numpy as np

    if args.impl == "numpy":
        once, mu, versions = make_numpy(args.seed)
    else:
        once, mu, versions = make_jax(args.impl, args.seed)
    versions["numpy"] = np.__version__

    for r in range(max(args.repeats, 1)):
        t0 = time.perf_counter()
        y, acc = once()
        dt = time.perf_counter() - t0
        frac, near = mode_stats(np, y, mu)
        ok = all(0.09 <= f <= 0.16 for f in frac) and near > 0.95
        print(f"[mala_t5 {args.impl} T={args.threads} #{r}] {STEPS} steps in {dt:.3f} s, acceptance {acc:.3f}, "
              f"modes {frac}, near {near:.4f} ({'ok' if ok else 'OUT OF RANGE'})", file=sys.stderr)
        print(json.dumps({
            "workload": "mala_t5", "impl": args.impl, "threads": args.threads, "seconds": round(dt, 4),
            "chains": CHAINS, "steps": STEPS, "acceptance": round(acc, 5), "mode_fractions": frac,
            "near_mode": round(near, 5), "modes_ok": ok, "dtype": "float32", "seed": args.seed,
            "repeat": r, "versions": versions,
        }), flush=True)


if __name__ == "__main__":
    main()
