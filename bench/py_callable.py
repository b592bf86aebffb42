"""HMC on T5 (the 8-Gaussian ring: std 0.1 on a circle of radius 2) with 4,096 chains,
10 leapfrog steps per transition, 200 warm-up + 200 draws (issue 20's first target):

- `rust`: `ebmrs.sample("t5", kernel="hmc", ...)`, the energy built in Rust;
- `numpy`: the same energy as a NumPy callable `f(y) -> (E, dE/dy)`, written with
  broadcasting (`y[:, None, :] - C`), and `numpy-mm`, written with one matrix product
  (`|y - c|^2 = |y|^2 - 2 y.c + |c|^2`), the way a NumPy user who times it would;
- `jax`: the energy as a jitted JAX function (`jit(vmap(value_and_grad))`) handed to
  ebmrs as the callable (its outputs converted with `np.asarray`);
- `blackjax`: BlackJAX's HMC, the whole run jitted (`lax.scan` over `vmap`ped steps),
  compilation excluded, 400 transitions of 10 leapfrog steps at ebm's adapted step
  size, float64: the same number of gradient evaluations per chain.

For each callable the script also reports the seconds spent inside it and the number of
calls: ebmrs calls it once per leapfrog step for all 4,096 chains, so the seconds outside
it are the sampler's own work plus the crossing into Python. Run with the package built
by `pip install ./python` (release profile), for 1 thread as

    RAYON_NUM_THREADS=1 XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
        taskset -c 1 python bench/py_callable.py --rounds 3

and for 2 threads without the prefix. Prints one line per run with the load average.
"""

import argparse
import os
import time

import numpy as np

import ebmrs

# T5 as src/targets.rs builds it: an equal mixture of 8 isotropic Gaussians, std 0.1,
# centres on the circle of radius 2 (t5() = GaussianMixture::ring(8, 2.0, 0.1, 2)).
K, R, S = 8, 2.0, 0.1
ANG = 2 * np.pi * np.arange(K) / K
C = np.stack([R * np.cos(ANG), R * np.sin(ANG)], axis=1)  # [8, 2]
CC = (C * C).sum(axis=1)  # |c_k|^2: [8]
LOG_NORM = np.log(2 * np.pi * S * S)
CHAINS, WARMUP, DRAWS, LEAPFROG = 4096, 200, 200, 10


def t5(y):
    """E(y) = -log (1/K) sum_k N(y; c_k, S^2 I) and dE/dy, by broadcasting."""
    d = y[:, None, :] - C[None, :, :]  # [n, 8, 2]
    q = -(d * d).sum(axis=2) / (2 * S * S)  # [n, 8]
    m = q.max(axis=1, keepdims=True)
    w = np.exp(q - m)
    z = w.sum(axis=1, keepdims=True)
    e = -(m[:, 0] + np.log(z[:, 0] / K)) + LOG_NORM
    p = w / z  # responsibilities [n, 8]
    g = (p[:, :, None] * d).sum(axis=1) / (S * S)  # dE/dy [n, 2]
    return e, g


def t5_mm(y):
    """The same energy with one matrix product: -|y - c|^2 / 2S^2 as y.c/S^2 - ..."""
    q = (y @ C.T - 0.5 * CC - 0.5 * (y * y).sum(axis=1)[:, None]) / (S * S)  # [n, 8]
    m = q.max(axis=1, keepdims=True)
    w = np.exp(q - m)
    z = w.sum(axis=1)
    e = -(m[:, 0] + np.log(z / K)) + LOG_NORM
    g = (y - (w / z[:, None]) @ C) / (S * S)  # y - E_p[c], over S^2: [n, 2]
    return e, g


def jax_energy():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    c = jnp.asarray(C)

    def energy(y):  # y: [2]
        q = -jnp.sum((y[None, :] - c) ** 2, axis=1) / (2 * S * S)
        return -(jax.scipy.special.logsumexp(q) - np.log(K)) + LOG_NORM

    f = jax.jit(jax.vmap(jax.value_and_grad(energy)))

    def call(y):
        e, g = f(y)
        return np.asarray(e), np.asarray(g)

    return call


def blackjax_run(step_size):
    """BlackJAX HMC, 400 transitions of 10 leapfrog steps, jitted; returns a timed
    function of a seed (compiled on the first call)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import blackjax
    import jax.numpy as jnp

    c = jnp.asarray(C)

    def logdensity(y):
        q = -jnp.sum((y[None, :] - c) ** 2, axis=1) / (2 * S * S)
        return jax.scipy.special.logsumexp(q) - np.log(K) - LOG_NORM

    hmc = blackjax.hmc(logdensity, step_size, jnp.ones(2), LEAPFROG)

    @jax.jit
    def run(key, y0):
        states = jax.vmap(hmc.init)(y0)

        def one(states, k):
            keys = jax.random.split(k, CHAINS)
            states, info = jax.vmap(hmc.step)(keys, states)
            return states, jnp.mean(info.acceptance_rate)

        states, acc = jax.lax.scan(one, states, jax.random.split(key, WARMUP + DRAWS))
        return states.position, jnp.mean(acc)

    y0 = jnp.asarray(np.random.default_rng(0).standard_normal((CHAINS, 2)))
    run(jax.random.PRNGKey(1), y0)[0].block_until_ready()  # compile

    def timed(seed):
        t = time.perf_counter()
        pos, acc = run(jax.random.PRNGKey(seed), y0)
        pos.block_until_ready()
        return time.perf_counter() - t, float(acc), np.asarray(pos)

    return timed


class Timed:
    """A callable that counts its calls and the seconds spent in them."""

    def __init__(self, f):
        self.f, self.calls, self.seconds = f, 0, 0.0

    def __call__(self, y):
        t = time.perf_counter()
        r = self.f(y)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return r


def run(energy, **kw):
    t = time.perf_counter()
    r = ebmrs.sample(energy, kernel="hmc", chains=CHAINS, warmup=WARMUP, draws=DRAWS,
                     leapfrog=LEAPFROG, step_size=0.1, seed=0, **kw)
    return time.perf_counter() - t, r


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--impl", nargs="*",
                    default=["rust", "numpy", "numpy-mm", "jax", "blackjax"])
    a = ap.parse_args()
    energies = {"rust": "t5", "numpy": t5, "numpy-mm": t5_mm}
    if "jax" in a.impl:
        energies["jax"] = jax_energy()
    step = run("t5")[1]["attrs"]["step_size"]
    bj = blackjax_run(step) if "blackjax" in a.impl else None
    print(f"threads {os.environ.get('RAYON_NUM_THREADS', 'all')}, "
          f"ebm's adapted step {step:.4f}")
    for i in range(a.rounds):
        for name in a.impl:
            if name == "blackjax":
                secs, acc, pos = bj(i)
                inside = ""
                radius = np.linalg.norm(pos, axis=1).mean()
            else:
                e = energies[name]
                f = e if isinstance(e, str) else Timed(e)
                secs, r = run(f, **({} if isinstance(e, str) else {"dim": 2}))
                acc = r["attrs"]["acceptance_rate"]
                radius = np.linalg.norm(r["posterior"]["y"], axis=2).mean()
                inside = "" if isinstance(e, str) else \
                    f", {f.seconds:.2f} s in {f.calls} calls"
            print(f"round {i} {name:>8}: {secs:.2f} s{inside}, acceptance {acc:.3f}, "
                  f"mean radius {radius:.3f}, load {os.getloadavg()[0]:.2f}", flush=True)
