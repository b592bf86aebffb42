#!/usr/bin/env python3
"""ArviZ reference values for `ebm::diagnostics` (tests/diagnostics.rs, oracle 3).

Writes two files the Rust test reads:

* tests/data/diagnostics_arviz.csv: a fixed data set of 4 chains x 200 draws, one row per
  (chain, draw), columns
    ar1     AR(1) x_t = 0.7 x_{t-1} + sqrt(1 - 0.7^2) e_t, e_t ~ N(0, 1), x_0 ~ N(0, 1);
    heavy   AR(1) with phi = 0.3 and Student-t (2 degrees of freedom) innovations (heavy tails);
    counts  iid Poisson(3) (many ties: exercises the average ranks and the quantile indicators);
    shifted AR(1) with phi = 0.5 plus 0.3 * chain (chains not mixed: R-hat well above 1).
  Floats are written with repr(), which round-trips exactly.
* tests/data/diagnostics_arviz.json: for each column (and for `ar1_odd`, the first 199 draws
  of ar1 in each chain: an odd length, whose middle draw split R-hat / split ESS drop),
  ArviZ's rank-normalized R-hat, split R-hat, ess_bulk, ess_tail, ess_mean, the ESS of the
  0.3 quantile, mcse_mean, mcse_sd, the mean, sd (ddof 1) and the type-7 quantiles 5/50/95 %;
  plus scipy's norm.ppf at a few probabilities.

Rerun (from the repository root):
    python3 -m venv /tmp/arviz && /tmp/arviz/bin/pip install arviz numpy
    /tmp/arviz/bin/python bench/peers/diagnostics_arviz.py
"""
import json
import os
import warnings

import numpy as np

warnings.filterwarnings("ignore", category=FutureWarning)
import arviz as az  # noqa: E402
import scipy  # noqa: E402
from scipy import stats  # noqa: E402
from arviz.stats.stats_utils import quantile as az_quantile  # noqa: E402

CHAINS, DRAWS = 4, 200


def ar1(rng, phi, innov):
    x = np.empty((CHAINS, DRAWS))
    x[:, 0] = innov((CHAINS,))
    scale = np.sqrt(1.0 - phi**2)
    for t in range(1, DRAWS):
        x[:, t] = phi * x[:, t - 1] + scale * innov((CHAINS,))
    return x


def main():
    rng = np.random.default_rng(20210308)
    data = {
        "ar1": ar1(rng, 0.7, lambda s: rng.standard_normal(s)),
        "heavy": ar1(rng, 0.3, lambda s: rng.standard_t(2.0, s)),
        "counts": rng.poisson(3.0, (CHAINS, DRAWS)).astype(float),
        "shifted": ar1(rng, 0.5, lambda s: rng.standard_normal(s))
        + 0.3 * np.arange(CHAINS)[:, None],
    }
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data")
    os.makedirs(root, exist_ok=True)
    names = list(data)
    with open(os.path.join(root, "diagnostics_arviz.csv"), "w") as f:
        f.write("chain,draw," + ",".join(names) + "\n")
        for c in range(CHAINS):
            for d in range(DRAWS):
                f.write(f"{c},{d}," + ",".join(repr(float(data[n][c, d])) for n in names) + "\n")

    cases = dict(data)
    cases["ar1_odd"] = data["ar1"][:, : DRAWS - 1]
    expected = {}
    for name, x in cases.items():
        x = np.ascontiguousarray(x)
        expected[name] = {
            "rhat": float(az.rhat(x, method="rank")),
            "rhat_split": float(az.rhat(x, method="split")),
            "ess_bulk": float(az.ess(x, method="bulk")),
            "ess_tail": float(az.ess(x, method="tail")),
            "ess_mean": float(az.ess(x, method="mean")),
            "ess_q30": float(az.ess(x, method="quantile", prob=0.3)),
            "mcse_mean": float(az.mcse(x, method="mean")),
            "mcse_sd": float(az.mcse(x, method="sd")),
            "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)),
            "q05": float(az_quantile(x, 0.05)[0]),
            "q50": float(az_quantile(x, 0.5)[0]),
            "q95": float(az_quantile(x, 0.95)[0]),
        }
    probs = [1e-300, 1e-20, 1e-10, 1e-3, 0.02425, 0.05, 0.3, 0.5, 0.7, 0.975, 0.999, 1 - 1e-12]
    out = {
        "versions": {"arviz": az.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
        "chains": CHAINS,
        "draws": DRAWS,
        "expected": expected,
        "norm_ppf": [[p, float(stats.norm.ppf(p))] for p in probs],
    }
    with open(os.path.join(root, "diagnostics_arviz.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(json.dumps(expected, indent=1))


if __name__ == "__main__":
    main()
