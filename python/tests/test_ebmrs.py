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


# --- the toy EBM from Python -------------------------------------------------------

SMALL = dict(dataset="8gaussians", hidden=[32, 32], batch=64, eval_every=100, grid=96)


def _metrics(run):
    import csv

    with open(f"{run}/metrics.csv") as f:
        return list(csv.DictReader(f))


def test_train_toy_writes_the_run_the_cli_writes_and_its_numbers(tmp_path):
    run = tmp_path / "toy"
    r = ebmrs.train_toy(str(run), seed=0, updates=300, sample_steps=20, **SMALL)
    assert not r["interrupted"]
    final, curve = r["final"], r["curve"]
    assert [p["step"] for p in curve] == [100, 200, 300]
    # The returned numbers are the run folder's.
    rows = _metrics(run)
    assert [float(r["test_nll"]) for r in rows] == [p["test_nll"] for p in curve]
    assert 0.0 <= curve[-1]["kl"] < curve[0]["kl"], curve
    assert 0.0 <= final["kl"] < curve[0]["kl"], (final, curve[0])
    for name in ["energy.safetensors", "trainer.safetensors", "config.json", "report.html"]:
        assert (run / name).exists(), name
    # The exact density of the saved energy: it integrates to one, its log Z is the
    # final evaluation's (same box, its grid of 256), and each cell is exp(-E - log Z)
    # at its midpoint; on the curve's grid of 96, the last evaluation point's.
    d96 = ebmrs.toy_density(str(run / "energy.safetensors"), "8gaussians", grid=96)
    assert abs(d96["log_z"] - curve[-1]["log_z"]) < 1e-9
    d = ebmrs.toy_density(str(run / "energy.safetensors"), "8gaussians", grid=256)
    hx, hy = d["x"][1] - d["x"][0], d["y"][1] - d["y"][0]
    assert abs(d["density"].sum() * hx * hy - 1.0) < 1e-9
    assert abs(d["log_z"] - final["log_z"]) < 1e-9
    i, j = 40, 57
    e = ebmrs.energy(str(run / "energy.safetensors"), np.array([[d["x"][j], d["y"][i]]]))
    assert abs(math.exp(-e[0] - d["log_z"]) / d["density"][i, j] - 1.0) < 1e-9


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    # Without learning-rate decays (at fractions of the total) a run extended from 200 to
    # 300 updates is the run of 300.
    flat = dict(SMALL, lr_decay_at=[])
    whole = ebmrs.train_toy(str(tmp_path / "a"), updates=300, sample_steps=20, **flat)
    part = ebmrs.train_toy(str(tmp_path / "b"), updates=200, sample_steps=20, **flat)
    assert [p["step"] for p in part["curve"]] == [100, 200]
    rest = ebmrs.train_toy(str(tmp_path / "b"), resume=True, updates=300, sample_steps=20)
    assert rest["final"]["test_nll"] == whole["final"]["test_nll"]
    assert rest["curve"] == [
        {**p, "seconds": q["seconds"]} for p, q in zip(whole["curve"], rest["curve"])
    ]


def test_ctrl_c_stops_a_run_that_then_resumes(tmp_path):
    import os
    import signal

    run = str(tmp_path / "c")
    # A KeyboardInterrupt half a second in, as Ctrl-C raises it: SIGALRM from the kernel
    # (no Python thread needed to send it) with Python's own Ctrl-C handler.
    # Python's Ctrl-C handler on SIGINT too (a shell's background job inherits SIGINT
    # ignored), to see below that the binding replaced neither.
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    old = signal.signal(signal.SIGALRM, signal.default_int_handler)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        r = ebmrs.train_toy(run, updates=3000, sample_steps=20, **SMALL)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert r["interrupted"] and r["final"] is None
    stopped_at = len(r["curve"])
    # Python still has its own Ctrl-C: the binding installed no handler.
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10**7):
                pass
    finally:
        signal.signal(signal.SIGINT, old_int)
    assert stopped_at < 30
    rest = ebmrs.train_toy(run, resume=True, sample_steps=20)
    assert not rest["interrupted"]
    assert [p["step"] for p in rest["curve"]] == list(range(100, 3001, 100))


def test_toy_options_are_checked_as_the_command_line_checks_them(tmp_path):
    with pytest.raises(ebmrs.EbmError, match="--updates"):
        ebmrs.train_toy(str(tmp_path / "x"), updates=-1)
    with pytest.raises(ebmrs.EbmError, match="no-such-option"):
        ebmrs.train_toy(str(tmp_path / "x"), no_such_option=1)
    with pytest.raises(ebmrs.EbmError, match="unknown set `nope`"):
        ebmrs.train_toy(str(tmp_path / "x"), dataset="nope")
