#!/usr/bin/env python3
"""Peer benchmark: batched HMC on T1 with BlackJAX, CPU, float64. Same workload as `ebm bench hmc`
(src/bench.rs `hmc_t1`).

Target T1: 100-d Gaussian, mean 0, diagonal, stds linspace(0.1, 10, 100);
log p(x) = -1/2 sum_i (x_i / s_i)^2 (float64, jax_enable_x64).

4 chains from N(0, I) (seeded), HMC with 10 leapfrog steps (velocity Verlet):
  warm-up  blackjax.window_adaptation(blackjax.hmc, log p, num_integration_steps=10) (Stan's windowed
           schedule: step size by dual averaging towards acceptance 0.8, diagonal inverse mass matrix),
           1,000 steps, run per chain (jax.vmap of warmup.run over the 4 chains, each chain adapts its
           own step size and mass matrix);
  draws    1,000 HMC steps per chain with that chain's adapted (step_size, inverse_mass_matrix):
           blackjax.hmc.build_kernel() vmapped over chains inside a jitted lax.scan.
Warm-up and draws are two jitted functions; both are called once to compile (and run), then each of the
--repeats timed runs calls warm-up then draws with the same keys (block_until_ready after each).
"seconds" = seconds_warmup + seconds_draws, COMPILE EXCLUDED. Diagnostics (ArviZ) are outside the clock.

Gradient evaluations per chain: warm-up 1 (initial state) + 10 x 1,000 (window_adaptation does no
step-size search: initial step size 1.0), draws 10 x 1,000; checked from the kernels' info
(num_integration_steps).

Diagnostics on the [4, 1000, 100] draws with ArviZ: bulk ESS (az.ess(method="bulk")) min and median over
the 100 coordinates; min ESS per gradient (draws only: / (4 x 1000 x 10); total: / (4 x grads per chain));
max |mean_i| / mcse_mean_i (az.mcse(method="mean")); the variance error as in ebm,
max_i |mean(x_i^2) - s_i^2| / s_i^2 (truth mean 0), and its z, |mean(x_i^2) - s_i^2| / mcse of mean(x_i^2);
max R-hat (rank-normalized), min tail ESS (az.ess(method="tail")). Prints ONE JSON line per repeat on stdout.

Threads: --threads T pins the process to the first T CPUs before jax is imported (XLA sizes its thread
pools from the affinity mask), sets OMP/MKL/OPENBLAS_NUM_THREADS=T and, for T=1,
--xla_cpu_multi_thread_eigen=false; the runner also uses taskset.
"""
import argparse
import json
import os
import sys
import time
import warnings

DIM, CHAINS, LEAPFROG, WARMUP, DRAWS = 100, 4, 10, 1000, 1000


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    limit_threads(args.threads)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import numpy as np
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import blackjax
    from blackjax.adaptation.base import get_filter_adapt_info_fn
    warnings.filterwarnings("ignore", category=FutureWarning)
    import arviz as az

    std_np = np.linspace(0.1, 10.0, DIM)
    std = jnp.asarray(std_np)

    def logdensity(x):
        return -0.5 * jnp.sum((x / std) ** 2)

    warmup = blackjax.window_adaptation(
        blackjax.hmc, logdensity, num_integration_steps=LEAPFROG,
        adaptation_info_fn=get_filter_adapt_info_fn(
            info_keys={"acceptance_rate", "is_divergent", "num_integration_steps"}),
    )
    kernel = blackjax.hmc.build_kernel()

    def warm_one(key, x0):
        (state, params), ainfo = warmup.run(key, x0, num_steps=WARMUP)
        return state, params, jnp.sum(ainfo.info.num_integration_steps), jnp.sum(ainfo.info.is_divergent)

    def draws_one(key, state, step_size, inv_mass):
        def body(st, k):
            st, info = kernel(k, st, logdensity, step_size, inv_mass, LEAPFROG)
            return st, (st.position, info.acceptance_rate, info.is_divergent, info.num_integration_steps)

        _, (pos, acc, div, nint) = jax.lax.scan(body, state, jax.random.split(key, DRAWS))
        return pos, jnp.mean(acc), jnp.sum(div), jnp.sum(nint)

    warm = jax.jit(jax.vmap(warm_one))
    draw = jax.jit(jax.vmap(draws_one))

    key = jax.random.key(args.seed)
    key, k0, kw, kd = jax.random.split(key, 4)
    x0 = jax.random.normal(k0, (CHAINS, DIM), jnp.float64)
    kws, kds = jax.random.split(kw, CHAINS), jax.random.split(kd, CHAINS)

    def once():
        t0 = time.perf_counter()
        state, params, w_nint, w_div = jax.block_until_ready(warm(kws, x0))
        t1 = time.perf_counter()
        out = jax.block_until_ready(draw(kds, state, params["step_size"], params["inverse_mass_matrix"]))
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, params, w_nint, w_div, out

    t_c = time.perf_counter()
    once()  # compile (and a first run)
    compile_s = time.perf_counter() - t_c

    for r in range(max(args.repeats, 1)):
        tw, td, params, w_nint, w_div, (pos, acc, div, nint) = once()
        x = np.asarray(pos)  # [4, 1000, 100]
        assert x.shape == (CHAINS, DRAWS, DIM) and x.dtype == np.float64
        grads_warm = 1 + np.asarray(w_nint)  # per chain
        grads_draw = np.asarray(nint)
        assert (grads_warm == 1 + WARMUP * LEAPFROG).all() and (grads_draw == DRAWS * LEAPFROG).all()
        grad_per_chain = int(grads_warm[0] + grads_draw[0])

        ds = az.convert_to_dataset(x)
        ess = ds_values(az.ess(ds, method="bulk"))
        ess_tail = ds_values(az.ess(ds, method="tail"))
        mcse = ds_values(az.mcse(ds, method="mean"))
        rhat = ds_values(az.rhat(ds))
        s2 = std_np ** 2
        m2 = (x * x).mean(axis=(0, 1))
        mcse_m2 = ds_values(az.mcse(az.convert_to_dataset(x * x), method="mean"))
        mean = x.mean(axis=(0, 1))
        ess_min, ess_med = float(ess.min()), float(np.median(ess))
        res = {
            "workload": "hmc_t1", "impl": "blackjax", "threads": args.threads,
            "seconds": round(tw + td, 4), "seconds_warmup": round(tw, 4), "seconds_draws": round(td, 4),
            "compile_excluded": True, "compile_and_first_run_seconds": round(compile_s, 3),
            "chains": CHAINS, "leapfrog": LEAPFROG, "warmup": WARMUP, "draws": DRAWS,
            "step_size": [round(float(s), 5) for s in np.asarray(params["step_size"])],
            "acceptance": round(float(np.mean(np.asarray(acc))), 5),
            "divergences": int(np.sum(np.asarray(div))), "divergences_warmup": int(np.sum(np.asarray(w_div))),
            "grad_evals": grad_per_chain, "grad_evals_total": CHAINS * grad_per_chain,
            "ess_bulk_min": round(ess_min, 2), "ess_bulk_median": round(ess_med, 2),
            "min_ess_per_grad_draws": ess_min / (CHAINS * DRAWS * LEAPFROG),
            "min_ess_per_grad_total": ess_min / (CHAINS * grad_per_chain),
            "max_mean_z": round(float(np.max(np.abs(mean) / mcse)), 4),
            "max_mean_err_over_std": round(float(np.max(np.abs(mean) / std_np)), 5),
            "max_var_rel_err": round(float(np.max(np.abs(m2 - s2) / s2)), 5),
            "max_var_z": round(float(np.max(np.abs(m2 - s2) / mcse_m2)), 4),
            "max_var_rel_err_coord": int(np.argmax(np.abs(m2 - s2) / s2)),
            "ess_tail_min": round(float(ess_tail.min()), 2),
            "max_rhat": round(float(rhat.max()), 5),
            "dtype": "float64", "seed": args.seed, "repeat": r,
            "versions": {"jax": jax.__version__, "blackjax": blackjax.__version__, "numpy": np.__version__,
                         "arviz": az.__version__},
        }
        print(f"[hmc_t1 blackjax T={args.threads} #{r}] warm-up {tw:.3f} s + draws {td:.3f} s "
              f"(compile+first run {compile_s:.1f} s), step sizes {res['step_size']}, acceptance "
              f"{res['acceptance']:.3f}, ESS bulk min {ess_min:.0f} median {ess_med:.0f}, "
              f"max mean z {res['max_mean_z']:.2f}, max var rel err {res['max_var_rel_err']:.3f}",
              file=sys.stderr)
        print(json.dumps(res), flush=True)


def ds_values(ds):
    """The single data variable of an ArviZ result Dataset as a numpy array."""
    import numpy as np

    return np.asarray(ds[list(ds.data_vars)[0]].values)


if __name__ == "__main__":
    main()
