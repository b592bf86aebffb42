"""Tests of the Python package against closed forms and Monte Carlo errors."""

import math

import numpy as np
import pytest

import ebmrs


def test_banana_log_z_is_log_20_pi():
    # Haario's banana at beta 1: Z = 20 pi (a closed form, written out here).
    r = ebmrs.log_z("banana", beta=1.0, samples=20_000)
    value, se = r["quadrature"]
    assert abs(value - math.log(20 * math.pi)) < 1e-6
    assert abs(r["free_energy"] + math.log(20 * math.pi)) < 1e-6
    is_value, is_se = r["importance"]
    assert abs(is_value - math.log(20 * math.pi)) < 5 * is_se + 1e-3


def _gaussian(scales):
    """E(y) = sum y_j^2 / (2 s_j^2): N(0, diag s^2); returns (E, dE/dy)."""
    s2 = np.asarray(scales, dtype=np.float64) ** 2
    calls = []

    def f(y):
        calls.append(y.shape)
        return 0.5 * (y * y / s2).sum(axis=1), y / s2

    return f, calls


@pytest.mark.parametrize("kernel", ["nuts", "hmc", "mala"])
def test_a_python_energy_is_sampled_within_monte_carlo_error(kernel):
    scales = [0.5, 1.0, 2.0]
    f, calls = _gaussian(scales)
    r = ebmrs.sample(f, kernel=kernel, dim=3, chains=4, warmup=500, draws=1000, seed=1)
    y = r["posterior"]["y"]
    assert y.shape == (4, 1000, 3) and y.dtype == np.float64
    rows = ebmrs.summary(y)
    for row, s in zip(rows, scales):
        assert row["ess_bulk"] >= 300, row
        assert abs(row["mean"]) < 4 * row["mcse_mean"], row
        assert abs(row["sd"] - s) < 4 * row["mcse_sd"], row
        assert row["r_hat"] < 1.02, row
    # Batched kernels call the energy on blocks of chains, not one chain at a time.
    if kernel != "nuts":
        assert max(c[0] for c in calls) > 1


def test_built_in_target_matches_the_rust_energy():
    # T2, the banana: y0 ~ N(0, 100), so its sd is 10 within Monte Carlo error.
    r = ebmrs.sample("banana", kernel="hmc", chains=4, warmup=1000, draws=2000, seed=0)
    row = ebmrs.summary(r["posterior"]["y"])[0]
    assert abs(row["sd"] - 10.0) < 4 * row["mcse_sd"], row
    assert r["sampler"] == "hmc"
    assert 0.0 < r["sample_stats"]["acceptance_rate"] <= 1.0


def test_summary_of_independent_draws():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((4, 1000, 2))
    for row in ebmrs.summary(y):
        assert abs(row["r_hat"] - 1.0) < 0.01
        assert 3000 < row["ess_bulk"] < 5000


def test_errors_are_one_line_and_name_the_argument():
    with pytest.raises(ebmrs.EbmError, match="kernel"):
        ebmrs.sample("banana", kernel="gibbs")
    with pytest.raises(ebmrs.EbmError, match="dim"):
        ebmrs.sample(lambda y: (y.sum(axis=1), y), kernel="mala")
    with pytest.raises(ebmrs.EbmError, match="target"):
        ebmrs.sample("no-such-target")
    with pytest.raises(ebmrs.EbmError, match="target-accept") as e:
        ebmrs.sample("banana", kernel="nuts", target_accept=1.5)
    assert "\n" not in str(e.value)
    with pytest.raises(ebmrs.EbmError, match="energy"):
        ebmrs.log_z("no-such-energy")


def test_an_exception_in_the_energy_is_raised_again():
    def bad(y):
        raise RuntimeError("boom in the energy")

    with pytest.raises(RuntimeError, match="boom in the energy"):
        ebmrs.sample(bad, kernel="mala", dim=2, warmup=10, draws=10)


def test_a_wrong_shape_from_the_energy_is_an_error():
    with pytest.raises(ebmrs.EbmError, match="shape"):
        ebmrs.sample(lambda y: (y.sum(axis=1)[:1], y), kernel="mala", dim=2, warmup=5, draws=5)
