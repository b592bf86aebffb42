"""HMC on T5 (the 8-Gaussian ring: std 0.1 on a circle of radius 2) with 4,096 chains: the energy as a NumPy callable against the same energy
built in Rust (`ebmrs.sample("t5", ...)`), runs interleaved (issue 20's first target:
the callable within 1.3x). Run with the package built by `pip install ./python`
(release profile):

    python bench/py_callable.py [--rounds 3]

Prints one line per run with the seconds of warm-up + draws and the load average.
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


def t5(y):
    d = y[:, None, :] - C[None, :, :]  # [n, 8, 2]
    q = -(d * d).sum(axis=2) / (2 * S * S)  # [n, 8]
    m = q.max(axis=1, keepdims=True)
    w = np.exp(q - m)
    z = w.sum(axis=1, keepdims=True)
    e = -(m[:, 0] + np.log(z[:, 0] / K)) + np.log(2 * np.pi * S * S)
    p = w / z  # responsibilities [n, 8]
    g = (p[:, :, None] * d).sum(axis=1) / (S * S)  # dE/dy [n, 2]
    return e, g


def run(energy, **kw):
    t = time.perf_counter()
    r = ebmrs.sample(energy, kernel="hmc", chains=4096, warmup=200, draws=200,
                     leapfrog=10, step_size=0.1, seed=0, **kw)
    return time.perf_counter() - t, r


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    for i in range(a.rounds):
        for name, e, kw in [("rust", "t5", {}), ("numpy", t5, {"dim": 2})]:
            secs, r = run(e, **kw)
            d = r["posterior"]["y"]
            print(f"round {i} {name:>5}: {secs:.2f} s, acceptance "
                  f"{r['sample_stats']['acceptance_rate']:.3f}, mean radius "
                  f"{np.linalg.norm(d, axis=2).mean():.3f}, load {os.getloadavg()[0]:.2f}")
