#!/usr/bin/env python3
"""JAX peer benchmark: annealed importance sampling (AIS) of log Z, CPU, float64.

The same computation as `ebm bench ais` (src/bench.rs `ais`, src/partition.rs `ais`):

Energy E(y) = 1/2 (y - m)^T A (y - m), A = R diag(lambda) R^T with lambda_i =
10^(-1 + 2 i / (d - 1)) (0.1 .. 10), R the product of Givens rotations (c, s) = (0.8, 0.6)
on coordinates (i, i + 1) for i = 0 .. d - 2 in order (A <- G A G^T each), m_i = 0.1 i
(ebm::bench::ill_conditioned_quadratic). Closed form: log Z = d/2 log(2 pi) - 1/2 log det A.

AIS on the geometric path log pi_t = (1 - t) log q0 + t (-E) from q0 = N(0, b^2 I) over
Grosse et al.'s sigmoid schedule of K intervals (delta 4, rescaled to [0, 1]). Per
temperature t_k, for all runs at once (jax.vmap over runs):
    log w += (t_k - t_{k-1}) (-E(y) - log q0(y))
then ONE MALA step on U_t = -(1 - t) log q0 + t E with step eps:
    y' = y - eps grad U_t(y) + sqrt(2 eps) xi,
    log a = U_t(y) - U_t(y') - (|y - y' + eps grad U_t(y')|^2 - |y' - y + eps grad U_t(y)|^2) / (4 eps),
accept with probability min(1, exp(log a)), and then eps *= exp(mean_acceptance - 0.57).
log Z = log mean w with the delta-method standard error sd(w) / (sqrt(n) mean(w)) and
ESS = (sum w)^2 / sum w^2.

The whole annealing loop is one jitted lax.scan. It is run once to compile, then a second
run (same key) is timed, block_until_ready before the clock stops. float64 throughout
(jax_enable_x64) to match ebm. Prints ONE JSON line on stdout.

Options: --dim (100), --temps (1000), --runs (256), --base-std (3.0), --step-size (0.05),
--seed (0), --threads (1; pins the process to the first T CPUs before jax is imported and,
for T=1, sets --xla_cpu_multi_thread_eigen=false).
"""
import argparse
import json
import math
import os
import sys
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


def ill_conditioned_quadratic(d):
    """(mean, A) exactly as ebm::bench::ill_conditioned_quadratic."""
    a = np.diag([10.0 ** (-1.0 + 2.0 * i / (max(d, 2) - 1)) for i in range(d)])
    c, s = 0.8, 0.6
    for i in range(d - 1):
        x, y = a[i, :].copy(), a[i + 1, :].copy()
        a[i, :], a[i + 1, :] = c * x - s * y, s * x + c * y
        x, y = a[:, i].copy(), a[:, i + 1].copy()
        a[:, i], a[:, i + 1] = c * x - s * y, s * x + c * y
    mean = np.sin(0.7 * np.arange(d, dtype=np.float64))  # bounded: |m| ~ sqrt(d / 2)
    return mean, a


def sigmoid_schedule(k):
    """ebm::partition::AisConfig::sigmoid_schedule."""
    delta = 4.0
    x = -delta + 2.0 * delta * np.arange(k + 1, dtype=np.float64) / k
    s = 1.0 / (1.0 + np.exp(-x))
    return (s - s[0]) / (s[-1] - s[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--temps", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=256)
    ap.add_argument("--base-std", type=float, default=3.0)
    ap.add_argument("--step-size", type=float, default=0.05)
    args = ap.parse_args()

    limit_threads(args.threads)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    d, n, b = args.dim, args.runs, args.base_std
    mean_np, a_np = ill_conditioned_quadratic(d)
    truth = 0.5 * d * math.log(2.0 * math.pi) - 0.5 * np.linalg.slogdet(a_np)[1]
    m, A = jnp.asarray(mean_np), jnp.asarray(a_np)
    sch = sigmoid_schedule(args.temps)
    ts = jnp.asarray(np.stack([sch[:-1], sch[1:]], axis=1))  # [K, 2]: (t_{k-1}, t_k)
    log_q_const = -d * math.log(b) - 0.5 * d * math.log(2.0 * math.pi)

    def energy_grad(y):  # one run: E(y), dE/dy
        r = y - m
        g = A @ r
        return 0.5 * r @ g, g

    def log_q0(y):
        return -0.5 * jnp.sum(y * y) / (b * b) + log_q_const

    def u(t, y, e):
        return -(1.0 - t) * log_q0(y) + t * e

    def grad_u(t, y, ge):
        return (1.0 - t) * y / (b * b) + t * ge

    def mala(t, eps, y, e, ge, xi, v):  # one run, one MALA step
        s2 = jnp.sqrt(2.0 * eps)
        gu = grad_u(t, y, ge)
        yp = y - eps * gu + s2 * xi
        ep, gp = energy_grad(yp)
        gup = grad_u(t, yp, gp)
        fwd = jnp.sum((yp - y + eps * gu) ** 2)
        bwd = jnp.sum((y - yp + eps * gup) ** 2)
        log_a = -u(t, yp, ep) + u(t, y, e) - (bwd - fwd) / (4.0 * eps)
        a = jnp.where(jnp.isnan(log_a) | ~jnp.isfinite(ep), 0.0, jnp.exp(jnp.minimum(log_a, 0.0)))
        take = v < a
        return jnp.where(take, yp, y), jnp.where(take, ep, e), jnp.where(take, gp, ge), a

    mala_runs = jax.vmap(mala, in_axes=(None, None, 0, 0, 0, 0, 0))
    energy_grad_runs = jax.vmap(energy_grad)
    log_q0_runs = jax.vmap(log_q0)

    @jax.jit
    def run(key, eps0):
        key, k0 = jax.random.split(key)
        y = b * jax.random.normal(k0, (n, d), jnp.float64)
        e, ge = energy_grad_runs(y)

        def step(carry, tt):
            y, e, ge, lw, eps, acc_sum, key = carry
            t0, t = tt[0], tt[1]
            lw = lw + (t - t0) * (-e - log_q0_runs(y))
            key, kx, kv = jax.random.split(key, 3)
            xi = jax.random.normal(kx, (n, d), jnp.float64)
            v = jax.random.uniform(kv, (n,), jnp.float64)
            y, e, ge, a = mala_runs(t, eps, y, e, ge, xi, v)
            acc = jnp.mean(a)
            eps = eps * jnp.exp(acc - 0.57)
            return (y, e, ge, lw, eps, acc_sum + acc, key), None

        init = (y, e, ge, jnp.zeros(n, jnp.float64), eps0, jnp.float64(0.0), key)
        (y, e, ge, lw, eps, acc_sum, _), _ = jax.lax.scan(step, init, ts)
        return lw, acc_sum / ts.shape[0]

    key = jax.random.key(args.seed)
    eps0 = jnp.float64(args.step_size)
    jax.block_until_ready(run(key, eps0))  # compile (and a first run)
    t_start = time.perf_counter()
    lw, acc = jax.block_until_ready(run(key, eps0))
    dt = time.perf_counter() - t_start

    lw = np.asarray(lw)
    mx = lw.max()
    w = np.exp(lw - mx)
    mean_w = w.mean()
    log_z = mx + math.log(mean_w)
    se = math.sqrt(w.var(ddof=1) / n) / mean_w
    ess = w.sum() ** 2 / (w * w).sum()
    print(f"[ais jax T={args.threads}] d={d} K={args.temps} runs={n}: log Z {log_z:.4f} +- {se:.4f} "
          f"(truth {truth:.4f}, error {log_z - truth:+.4f}), ESS {ess:.1f}, acceptance {float(acc):.3f}, "
          f"{dt:.3f} s", file=sys.stderr)
    print(json.dumps({
        "workload": "ais", "impl": "jax", "threads": args.threads, "seconds": round(dt, 4),
        "dim": d, "temps": args.temps, "runs": n, "log_z": log_z, "std_err": se, "truth": truth,
        "error": log_z - truth, "ess": ess, "acceptance": float(acc), "seed": args.seed,
    }), flush=True)


if __name__ == "__main__":
    main()
