"""Tests of the Python package against closed forms and Monte Carlo errors."""

import math

import numpy as np
import pytest

import ebmrs


def test_banana_log_z_is_log_20_pi():
    # Haario's banana at beta 1: Z = 20 pi (a closed form, written out here).
    r = ebmrs.log_z("banana", beta=1.0)
    assert r["method"] == "quadrature" and r["bounds"] is not None
    assert abs(r["log_z"] - math.log(20 * math.pi)) < 1e-6
    assert abs(r["free_energy"] + math.log(20 * math.pi)) < 1e-6
    r = ebmrs.log_z("banana", method="is", samples=20_000)
    assert abs(r["log_z"] - math.log(20 * math.pi)) < 5 * r["std_err"] + 1e-3


def test_ais_on_a_python_energy_in_20_dimensions():
    # A Gaussian with stds 0.5..3 as a NumPy callable: log Z_beta = sum log(sqrt(2 pi /
    # beta) s_j), where quadrature cannot go (20-d); AIS within 4 standard errors.
    s = np.linspace(0.5, 3.0, 20)
    f = lambda y: (0.5 * (y * y / s**2).sum(axis=1), y / s**2)
    truth = np.log(np.sqrt(2 * np.pi / 2.0) * s).sum()
    r = ebmrs.log_z(f, method="ais", beta=2.0, dim=20, samples=300, temperatures=100,
                    scale=list(s), seed=1)
    assert abs(r["log_z"] - truth) < 4 * r["std_err"], (r, truth)
    assert 0.3 < r["acceptance"] < 0.8
    assert abs(r["free_energy"] + truth / 2.0) < 4 * r["free_energy_std_err"]
    with pytest.raises(ebmrs.EbmError, match="quadrature"):
        ebmrs.log_z(f, dim=20)
    with pytest.raises(ebmrs.EbmError, match="method"):
        ebmrs.log_z(f, method="smc", dim=20)


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
    # Batched kernels call the energy once per gradient step with every chain's
    # position; NUTS (nuts-rs) runs each chain on its own, one row per call.
    assert all(c == ((1, 3) if kernel == "nuts" else (4, 3)) for c in calls), set(calls)
    # Per-draw statistics in ArviZ's sample_stats layout, consistent with the draws
    # (lp = -E(y), recomputed here) and with the run's totals.
    st, attrs = r["sample_stats"], r["attrs"]
    for k in ["lp", "acceptance_rate", "diverging", "step_size", "n_steps"]:
        assert st[k].shape == (4, 1000), k
    assert st["diverging"].dtype == np.bool_
    energies, _ = f(y.reshape(-1, 3))
    np.testing.assert_allclose(st["lp"].ravel(), -energies, rtol=1e-12)
    assert abs(st["acceptance_rate"].mean() - attrs["acceptance_rate"]) < 1e-12
    assert st["diverging"].sum() == attrs["divergences"]
    assert (st["step_size"] > 0).all()
    if kernel == "nuts":
        # A tree of depth d (and the doubling it threw away) makes fewer than 2^(d+1)
        # leapfrog steps; nuts-rs jitters a chain's step size within 10% per draw.
        assert (st["n_steps"] >= 1).all() and (st["n_steps"] < 2 ** (st["tree_depth"] + 1)).all()
        ratio = st["step_size"].max(axis=1) / st["step_size"].min(axis=1)
        assert (ratio <= 1.1 / 0.9 + 1e-12).all()
        assert np.isfinite(st["energy"]).all() and np.isfinite(st["energy_error"]).all()
        # The Hamiltonian is at least the potential energy: H = E + p^T M^-1 p / 2.
        assert (st["energy"] >= -st["lp"] - 1e-9).all()
    else:
        assert (st["n_steps"] == (10 if kernel == "hmc" else 1)).all()
        assert "tree_depth" not in st


def test_built_in_target_matches_the_rust_energy():
    # T2, the banana: y0 ~ N(0, 100), so its sd is 10 within Monte Carlo error.
    r = ebmrs.sample("banana", kernel="hmc", chains=4, warmup=1000, draws=2000, seed=0)
    row = ebmrs.summary(r["posterior"]["y"])[0]
    assert abs(row["sd"] - 10.0) < 4 * row["mcse_sd"], row
    assert r["attrs"]["sampler"] == "hmc"
    assert 0.0 < r["attrs"]["acceptance_rate"] <= 1.0


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


def _sleeps_through_the_signal():
    """A progress callback whose first call sleeps past the signal below, so that the
    KeyboardInterrupt is raised inside it (the binding must deliver it again)."""
    import time

    calls = []

    def report(*event):
        calls.append(event)
        if len(calls) == 1:
            time.sleep(2.0)

    return report


@pytest.mark.parametrize("callback", [None, _sleeps_through_the_signal])
def test_ctrl_c_stops_a_run_that_then_resumes(tmp_path, callback):
    import os
    import signal

    if callback is not None:
        ebmrs.progress(callback=callback())
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
        ebmrs.progress()
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


# Eight schools (Rubin 1981; the data as in Gelman et al., BDA3, table 5.2), non-centred:
# y = (mu, log tau, theta~[8]) with theta_j = mu + tau theta~_j, mu ~ N(0, 5^2),
# tau ~ HalfCauchy(5), theta~_j ~ N(0, 1), obs_j ~ N(theta_j, sigma_j^2).
SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(y):
    """E = -log p(mu, log tau, theta~ | obs) up to a constant, and dE/dy; y: [n, 10]."""
    mu, tau, tt = y[:, 0], np.exp(y[:, 1]), y[:, 2:]
    r = (SCHOOLS_Y - mu[:, None] - tau[:, None] * tt) / SCHOOLS_SIGMA**2  # [n, 8]
    u = 1.0 + (tau / 5.0) ** 2
    e = (mu**2 / 50.0 + np.log(u) - y[:, 1] + 0.5 * (tt * tt).sum(axis=1)
         + 0.5 * (r * r * SCHOOLS_SIGMA**2).sum(axis=1))
    g = np.empty_like(y)
    g[:, 0] = mu / 25.0 - r.sum(axis=1)
    g[:, 1] = tau * (2.0 * tau / 25.0) / u - 1.0 - tau * (r * tt).sum(axis=1)
    g[:, 2:] = tt - tau[:, None] * r
    return e, g


def eight_schools_by_quadrature():
    """Posterior means and sds of mu, tau and theta_1 computed another way: theta
    integrated out in closed form (obs_j ~ N(mu, sigma_j^2 + tau^2) given mu, tau), then a
    2-D grid over (mu, log tau), with E[theta_1 | mu, tau] and Var[theta_1 | mu, tau] from
    the normal-normal conjugate formulas."""
    mu = np.linspace(-40.0, 50.0, 1801)[:, None]  # [M, 1]
    lt = np.linspace(-14.0, 7.0, 2101)[None, :]  # [1, T]
    tau = np.exp(lt)
    v = SCHOOLS_SIGMA[:, None, None] ** 2 + tau**2  # [8, 1, T]
    logp = (-mu**2 / 50.0 - np.log1p((tau / 5.0) ** 2) + lt
            - 0.5 * (((SCHOOLS_Y[:, None, None] - mu) ** 2) / v + np.log(v)).sum(axis=0))
    w = np.exp(logp - logp.max())
    w /= w.sum()
    prec = 1.0 / SCHOOLS_SIGMA[0] ** 2 + 1.0 / tau**2
    th_mean = (SCHOOLS_Y[0] / SCHOOLS_SIGMA[0] ** 2 + mu / tau**2) / prec  # [M, T]
    th_var = 1.0 / prec

    def moments(x, var=0.0):
        m = (w * x).sum()
        return m, np.sqrt((w * (var + x * x)).sum() - m * m)

    return {"mu": moments(mu + 0 * tau), "tau": moments(tau + 0 * mu),
            "theta[0]": moments(th_mean, th_var)}


def test_nuts_on_a_python_eight_schools_matches_quadrature():
    y0 = np.random.default_rng(3).standard_normal((5, 10))
    e, g = eight_schools(y0)
    h = 1e-6  # the gradient the sampler uses, against central differences
    for j in range(10):
        d = np.zeros(10)
        d[j] = h
        fd = (eight_schools(y0 + d)[0] - eight_schools(y0 - d)[0]) / (2 * h)
        np.testing.assert_allclose(g[:, j], fd, rtol=1e-6, atol=1e-6)
    r = ebmrs.sample(eight_schools, kernel="nuts", dim=10, chains=4, warmup=500,
                     draws=1000, target_accept=0.9, seed=0)
    y = r["posterior"]["y"]
    mu, tau = y[:, :, 0], np.exp(y[:, :, 1])
    theta0 = mu + tau * y[:, :, 2]
    rows = ebmrs.summary(np.stack([mu, tau, theta0], axis=2))
    ref = eight_schools_by_quadrature()
    assert r["attrs"]["divergences"] <= 10, r["attrs"]
    for row, (name, (mean, sd)) in zip(rows, ref.items()):
        assert row["r_hat"] < 1.01 and row["ess_bulk"] > 400, (name, row)
        assert abs(row["mean"] - mean) < 3 * row["mcse_mean"], (name, row, mean)
        assert abs(row["sd"] - sd) < 3 * row["mcse_sd"], (name, row, sd)


def test_arviz_reads_the_draws_and_agrees_with_the_summary():
    # Runs where ArviZ is installed (`pip install arviz`; .ci/run does not install it:
    # tests/suite/diagnostics.rs checks the same numbers against ArviZ's stored output).
    az = pytest.importorskip("arviz")
    r = ebmrs.sample("banana", kernel="nuts", chains=4, warmup=300, draws=400, seed=2)
    idata = ebmrs.to_inference_data(r)
    assert idata.sample_stats["diverging"].shape == (4, 400)
    table = az.summary(idata, var_names=["y"], round_to="none")
    for (_, a), row in zip(table.iterrows(), ebmrs.summary(r["posterior"]["y"])):
        for ours, theirs in [("mean", "mean"), ("sd", "sd"), ("ess_bulk", "ess_bulk"),
                             ("ess_tail", "ess_tail"), ("r_hat", "r_hat"),
                             ("mcse_mean", "mcse_mean")]:
            assert abs(row[ours] - a[theirs]) <= 1e-8 * max(1.0, abs(a[theirs])), (ours, row, a)
    # BFMI from the Hamiltonian energies nuts-rs reports, as ArviZ computes it.
    h = r["sample_stats"]["energy"]
    ours = (np.diff(h, axis=1) ** 2).mean(axis=1) / h.var(axis=1, ddof=1)
    np.testing.assert_allclose(az.bfmi(idata), ours, rtol=1e-12)


@pytest.mark.parametrize("worker", [False, True])
def test_a_rust_panic_becomes_a_python_exception(worker):
    # PyO3's PanicException (a BaseException, so `except Exception` does not swallow a
    # bug) carries the message, from the calling thread or a pool worker; the
    # interpreter and the library keep working afterwards.
    from ebmrs import _ebmrs

    with pytest.raises(BaseException, match="deliberate panic 42") as e:
        _ebmrs._panic("deliberate panic 42", worker=worker)
    assert type(e.value).__name__ == "PanicException"
    assert ebmrs.summary(np.zeros((2, 10, 1)) + np.arange(10.0)[None, :, None])[0]["mean"] == 4.5


def test_a_vae_trained_from_python_and_its_checkpoint(tmp_path):
    run = str(tmp_path / "vae")
    r = ebmrs.train_vae(run, epochs=3, latent=4, hidden=[32], batch=64, seed=0)
    assert not r["interrupted"] and len(r["curve"]) == 3
    assert r["curve"][-1]["test_loss"] < r["curve"][0]["test_loss"]
    vae = ebmrs.Vae(run, seed=1)
    assert (vae.input_dim, vae.latent) == (64, 4) and vae.config["vae"]["latent"] == 4
    x = ebmrs.load_images(seed=0)["test"].astype(np.float64)  # the run's own test split
    mu, lv = vae.encode(x)
    assert mu.shape == lv.shape == (x.shape[0], 4) and mu.dtype == np.float32
    # The loss's KL term is KL(q(z|y) || N(0, I)) in closed form: the same number from
    # the encoder's outputs, computed here.
    kl = 0.5 * (mu.astype(np.float64) ** 2 + np.exp(lv) - 1.0 - lv).sum(axis=1).mean()
    loss = vae.loss(x)
    assert abs(loss["kl"] - kl) < 1e-3 * max(1.0, kl), (loss, kl)
    assert abs(loss["loss"] - loss["reconstruction"] - loss["kl"]) < 1e-6 * loss["loss"]
    # The run's last test loss is this loss on the same images (one z draw per image:
    # within a few percent, not bit for bit).
    assert abs(loss["loss"] - r["curve"][-1]["test_loss"]) < 0.05 * loss["loss"]
    # -L_k bounds -log p(y) from above and tightens with k: -L_50 < -L_1 ~ F (the same
    # images; their standard errors are between images, so not the scale of the gap).
    nll_1, _ = vae.nll(x, k=1, seed=2)
    nll_50, _ = vae.nll(x, k=50, seed=2)
    assert nll_50 < nll_1 - 0.1, (nll_1, nll_50)
    assert abs(nll_1 - loss["loss"]) < 0.05 * loss["loss"]
    y = vae.decode(mu)
    assert y.shape == x.shape and (y >= 0).all() and (y <= 1).all()
    s = vae.sample(7)
    assert s.shape == (7, 64)
    with pytest.raises(ebmrs.EbmError, match="z: has 3 columns, the model takes 4"):
        vae.decode(np.zeros((2, 3)))
    with pytest.raises(ebmrs.EbmError, match="x: holds NaN"):
        vae.encode(np.full((1, 64), np.nan))


def _softplus(x):
    return np.logaddexp(0.0, x)


def test_an_rbm_trained_from_python_and_its_checkpoint(tmp_path):
    run = str(tmp_path / "rbm")
    r = ebmrs.train_rbm(run, hidden=10, epochs=3, seed=0)
    assert not r["interrupted"] and len(r["curve"]) == 3, r["curve"]
    rbm = ebmrs.Rbm(run)
    assert (rbm.visible, rbm.hidden) == (64, 10)
    p = {k: v.astype(np.float64) for k, v in rbm.params.items()}
    w, b, c = p["w"], p["b"], p["c"]
    # The embedded digits binarized as the trainer does (intensity > 0.5).
    test = (ebmrs.load_images(seed=0)["test"] > 0.5).astype(np.float64)
    # F(v) = -b.v - sum_j softplus(c_j + (v W)_j), and log Z by summing over all 2^10
    # hidden states in NumPy: log sum_h exp(c.h + sum_i softplus(b_i + (W h)_i)).
    f = -(test @ b) - _softplus(c + test @ w).sum(axis=1)
    np.testing.assert_allclose(rbm.free_energy(test), f, rtol=1e-5, atol=1e-4)
    h = ((np.arange(2**10)[:, None] >> np.arange(10)) & 1).astype(np.float64)  # [1024, 10]
    terms = h @ c + _softplus(b + h @ w.T).sum(axis=1)
    m = terms.max()
    log_z = m + np.log(np.exp(terms - m).sum())
    exact = rbm.log_z()
    assert exact["method"] == "exact" and abs(exact["log_z"] - log_z) < 1e-4 * abs(log_z)
    # The run's last exact test log-likelihood is the mean of log p(v) over the test set.
    lp = rbm.log_prob(test, exact["log_z"])
    last = r["curve"][-1]
    assert last["unit"] == "nats per image"
    assert abs(lp.mean() - last["test_ll"]) < 1e-3, (lp.mean(), last)
    # AIS from the base-rate RBM agrees with the exact value within 4 standard errors.
    train = (ebmrs.load_images(seed=0)["train"] > 0.5).astype(np.float64)
    ais = rbm.log_z(method="ais", data=train, runs=100, betas=2000, seed=1)
    assert abs(ais["log_z"] - log_z) < 4 * ais["std_err"] + 1e-3, (ais, log_z)
    s = rbm.sample(n=5, sweeps=50, seed=2)
    assert s.shape == (5, 64) and (s >= 0).all() and (s <= 1).all()
    with pytest.raises(ebmrs.EbmError, match="v: holds 0.5"):
        rbm.free_energy(np.full((1, 64), 0.5))
    with pytest.raises(ebmrs.EbmError, match="method"):
        rbm.log_z(method="quadrature")


def test_progress_reaches_a_callback_and_can_be_silenced(tmp_path):
    events = []
    ebmrs.progress(callback=lambda *e: events.append(e))
    try:
        ebmrs.sample("banana", kernel="hmc", chains=2, warmup=150, draws=150, seed=0)
        ebmrs.train_toy(str(tmp_path / "toy"), updates=20, eval_every=10, hidden=[16, 16])
    finally:
        ebmrs.progress()
    starts = {e[1]: e for e in events if e[0] == "start"}
    finished = [e[1] for e in events if e[0] == "finish"]
    assert sorted(finished) == sorted(starts), events  # each report finishes once
    sampling = [e for e in starts.values() if e[3] == 300]  # warm-up + draws
    assert len(sampling) == 1, starts
    done = [e[4] for e in events if e[0] == "update" and e[1] == sampling[0][1]]
    assert done and done[-1] == 300 and done == sorted(done), done
    assert len(starts) >= 3  # the toy run: one report per evaluation interval, and more
    events.clear()
    ebmrs.progress(enabled=False)
    try:
        ebmrs.progress(enabled=False, callback=lambda *e: events.append(e))
        ebmrs.sample("banana", kernel="mala", chains=2, warmup=50, draws=50, seed=0)
    finally:
        ebmrs.progress()
    assert events == []


def test_kl_and_entropy_match_closed_forms_written_here():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3))
    b = rng.standard_normal((3, 3))
    sp, sq = a @ a.T + np.eye(3), b @ b.T + 0.5 * np.eye(3)
    mp, mq = rng.standard_normal(3), rng.standard_normal(3)
    # KL(N(mp, Sp) || N(mq, Sq)), written out independently of the library.
    iq = np.linalg.inv(sq)
    d = mq - mp
    closed = 0.5 * (np.trace(iq @ sp) + d @ iq @ d - 3
                    + np.linalg.slogdet(sq)[1] - np.linalg.slogdet(sp)[1])
    p, q = {"mean": mp, "cov": sp}, {"mean": mq, "cov": sq}
    assert abs(ebmrs.kl(p, q) - closed) < 1e-12
    assert abs(ebmrs.kl(p, q, bits=True) - closed / np.log(2)) < 1e-12
    assert ebmrs.kl(p, p) == pytest.approx(0.0, abs=1e-12)
    # Diagonal, given as variances, equals the full form with a diagonal matrix.
    vp, vq = np.array([0.5, 2.0, 1.5]), np.array([1.0, 1.0, 3.0])
    diag = ebmrs.kl({"mean": mp, "var": vp}, {"mean": mq, "var": vq})
    assert abs(diag - ebmrs.kl({"mean": mp, "cov": np.diag(vp)}, {"mean": mq, "var": vq})) < 1e-12
    assert abs(diag - 0.5 * (np.log(vq / vp) + (vp + (mp - mq) ** 2) / vq - 1).sum()) < 1e-12
    # Entropy: 1/2 ln det(2 pi e S); a fair coin has 1 bit.
    h = 0.5 * np.linalg.slogdet(2 * np.pi * np.e * sp)[1]
    assert abs(ebmrs.entropy(p) - h) < 1e-12
    assert abs(ebmrs.entropy([0.5, 0.5], bits=True) - 1.0) < 1e-15
    assert ebmrs.kl([0.5, 0.5], [1.0, 0.0]) == math.inf
    with pytest.raises(ebmrs.EbmError, match=r"q\['cov'\]"):
        ebmrs.kl(p, {"mean": mq, "cov": -sq})
    with pytest.raises(ebmrs.EbmError, match=r"p\['var'\]\[1\]"):
        ebmrs.kl({"mean": mp, "var": [1.0, 0.0, 1.0]}, q)
    with pytest.raises(ebmrs.EbmError, match="same kind"):
        ebmrs.kl(p, [0.5, 0.5])
