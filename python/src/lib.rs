//! `ebmrs._ebmrs`: the ebm library from Python, NumPy arrays in and out. The Python
//! package `ebmrs` (python/ebmrs/__init__.py) re-exports these functions and adds the
//! ArviZ conversion.
//!
//! - [`sample`]: MCMC draws `[chains, draws, dim]` of `exp(-beta E(y)) / Z` from a
//!   built-in target, a saved MLP energy or a Python callable
//!   `f(y[batch, dim]) -> (E[batch], dE/dy[batch, dim])`;
//! - [`summary`]: rank-normalized R-hat, bulk/tail ESS and MCSE of draws;
//! - [`log_z`]: `log Z_beta` of a built-in energy by quadrature and importance sampling.
//!
//! Errors are `ebmrs.EbmError` (a `ValueError`) with the library's one-line message; an
//! exception raised by a Python energy is raised again unchanged; a Rust panic becomes
//! pyo3's `PanicException`, never an abort.

use ebm::energy::{Energy, NeuralEnergy};
use ebm::eval::partition::Builtin;
use ebm::eval::sampling::{SamplerName, SamplerSpec};
use ndarray::{ArrayView2, ArrayViewMut2};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;

create_exception!(
    _ebmrs,
    EbmError,
    PyValueError,
    "An error of the ebm library: bad input, a shape, a file; its one-line message names the argument."
);

fn err(e: ebm::Error) -> PyErr {
    EbmError::new_err(e.to_string())
}

/// A Python callable `f(y) -> (energies, grads)` as an [`Energy`]. Each call passes one
/// block of chains `y[batch, dim]` (float64); a failed call (an exception, a result of
/// the wrong shape) gives NaN energies, which the samplers reject, and its error is kept
/// to be raised when the run ends.
struct PyEnergy {
    f: Py<PyAny>,
    dim: usize,
    error: Mutex<Option<PyErr>>,
}

impl PyEnergy {
    fn call(&self, y: ArrayView2<f64>, out: &mut [f64], mut grad: ArrayViewMut2<f64>) {
        let r = Python::attach(|py| -> PyResult<()> {
            let res = self.f.call1(py, (y.to_owned().into_pyarray(py),))?;
            let (e, g): (PyReadonlyArray1<f64>, PyReadonlyArray2<f64>) =
                res.extract(py).map_err(|_| {
                    EbmError::new_err(
                        "energy: the callable must return (energies[batch], grads[batch, dim]) as float64 arrays",
                    )
                })?;
            let (e, g) = (e.as_array(), g.as_array());
            if e.len() != out.len() || g.dim() != grad.dim() {
                return Err(EbmError::new_err(format!(
                    "energy: the callable returned energies of shape [{}] and grads of shape {:?} for y of shape [{}, {}]",
                    e.len(),
                    g.shape(),
                    y.nrows(),
                    y.ncols()
                )));
            }
            out.iter_mut().zip(e.iter()).for_each(|(o, v)| *o = *v);
            grad.assign(&g);
            Ok(())
        });
        if let Err(e) = r {
            out.fill(f64::NAN);
            grad.fill(f64::NAN);
            let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
        }
    }

    fn take_error(&self) -> Option<PyErr> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Energy for PyEnergy {
    fn dim(&self) -> usize {
        self.dim
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        let mut g = ndarray::Array2::zeros(y.dim());
        self.call(y, out, g.view_mut());
    }
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], grad: ArrayViewMut2<f64>) {
        self.call(y, out, grad);
    }
    fn name(&self) -> String {
        "python callable".into()
    }
}

/// A callable of dimension `dim` as an energy.
fn py_energy(f: &Bound<'_, PyAny>, dim: Option<usize>) -> PyResult<PyEnergy> {
    let dim = dim
        .ok_or_else(|| EbmError::new_err("dim: a callable energy needs its dimension (dim=...)"))?;
    if dim == 0 {
        return Err(EbmError::new_err("dim: must be at least 1"));
    }
    Ok(PyEnergy {
        f: f.clone().unbind(),
        dim,
        error: Mutex::new(None),
    })
}

/// The energy `name` names: a saved MLP energy (`.safetensors`) or a built-in target
/// (`t1`..`t5`, `gaussian`, `banana`, `funnel`, `logistic`, `mixture`).
fn named_energy(name: &Bound<'_, PyAny>) -> PyResult<Box<dyn Energy>> {
    let name: String = name.extract().map_err(|_| {
        EbmError::new_err("energy: a target name, a .safetensors path or a callable")
    })?;
    if name.ends_with(".safetensors") {
        return Ok(Box::new(
            NeuralEnergy::load(std::path::Path::new(&name)).map_err(err)?,
        ));
    }
    ebm::targets::by_name(&name).map_err(err)
}

/// An energy given from Python: a callable (whose first error is kept) or one built in
/// Rust.
enum Resolved {
    Py(PyEnergy),
    Boxed(Box<dyn Energy>),
}

impl Resolved {
    /// A callable of dimension `dim`, or what [`named_energy`] names.
    fn new(energy: &Bound<'_, PyAny>, dim: Option<usize>) -> PyResult<Resolved> {
        Ok(if energy.is_callable() {
            Resolved::Py(py_energy(energy, dim)?)
        } else {
            Resolved::Boxed(named_energy(energy)?)
        })
    }

    fn energy(&self) -> &dyn Energy {
        match self {
            Resolved::Py(p) => p,
            Resolved::Boxed(b) => b.as_ref(),
        }
    }

    /// The callable's own error first (a NaN energy it caused may have stopped the
    /// computation), else `r`'s.
    fn result<T>(&self, r: ebm::Result<T>) -> PyResult<T> {
        if let Resolved::Py(p) = self
            && let Some(e) = p.take_error()
        {
            return Err(e);
        }
        r.map_err(err)
    }
}

/// MCMC draws of `exp(-beta E(y)) / Z`.
///
/// `kernel`: `nuts` (nuts-rs), `hmc`, `ghmc`, `mala`, `ula` or `mh`; `step_size` is the
/// initial step (adapted in warm-up except for ULA). Returns a dict in ArviZ's layout:
/// `posterior` (`y`: float64 `[chains, draws, dim]`), `sample_stats` (per draw,
/// `[chains, draws]`: `lp`, `acceptance_rate`, `diverging`, `step_size`, `n_steps`;
/// NUTS adds `tree_depth`, `energy`, `energy_error`) and `attrs` (the sampler's name, the
/// run's mean acceptance, divergences, gradient evaluations, adapted step size, and
/// seconds of warm-up and draws).
#[pyfunction]
#[pyo3(signature = (energy, kernel="nuts", chains=4, warmup=1000, draws=1000, thin=1,
    step_size=0.1, leapfrog=10, beta=1.0, init_scale=1.0, target_accept=0.8, seed=0,
    dim=None))]
#[allow(clippy::too_many_arguments)]
fn sample<'py>(
    py: Python<'py>,
    energy: &Bound<'py, PyAny>,
    kernel: &str,
    chains: usize,
    warmup: usize,
    draws: usize,
    thin: usize,
    step_size: f64,
    leapfrog: usize,
    beta: f64,
    init_scale: f64,
    target_accept: f64,
    seed: u64,
    dim: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    use clap::ValueEnum;
    let kernel = SamplerName::from_str(kernel, true).map_err(|_| {
        EbmError::new_err(format!(
            "kernel: `{kernel}` is not one of nuts, hmc, ghmc, mala, ula, mh"
        ))
    })?;
    let resolved = Resolved::new(energy, dim)?;
    let e = resolved.energy();
    let spec = SamplerSpec {
        kernel,
        chains,
        warmup,
        draws,
        thin,
        step_size,
        leapfrog,
        beta,
        init_scale,
        target_accept,
    };
    // The GIL is released while the chains run: a Python energy takes it for each call.
    let run = py.detach(|| spec.run(e, seed));
    let run = resolved.result(run)?;
    let out = PyDict::new(py);
    let posterior = PyDict::new(py);
    posterior.set_item("y", run.draws.into_pyarray(py))?;
    out.set_item("posterior", posterior)?;
    out.set_item("sample_stats", draw_stats(py, run.draw_stats)?)?;
    let attrs = PyDict::new(py);
    attrs.set_item("sampler", run.name)?;
    attrs.set_item("acceptance_rate", run.stats.acceptance)?;
    attrs.set_item("divergences", run.stats.divergences)?;
    attrs.set_item("n_grad_evals", run.stats.grad_evals)?;
    attrs.set_item("step_size", run.step_size)?;
    attrs.set_item("seconds_warmup", run.seconds.0)?;
    attrs.set_item("seconds_draws", run.seconds.1)?;
    out.set_item("attrs", attrs)?;
    Ok(out)
}

/// The per-draw statistics as a dict of `[chains, draws]` arrays under ArviZ's names.
fn draw_stats(py: Python<'_>, s: ebm::diagnostics::DrawStats) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("lp", s.lp.into_pyarray(py))?;
    d.set_item("acceptance_rate", s.acceptance_rate.into_pyarray(py))?;
    d.set_item("diverging", s.diverging.into_pyarray(py))?;
    d.set_item("step_size", s.step_size.into_pyarray(py))?;
    d.set_item("n_steps", s.n_steps.into_pyarray(py))?;
    if let Some(t) = s.tree_depth {
        d.set_item("tree_depth", t.into_pyarray(py))?;
    }
    if let Some(e) = s.energy {
        d.set_item("energy", e.into_pyarray(py))?;
    }
    if let Some(e) = s.energy_error {
        d.set_item("energy_error", e.into_pyarray(py))?;
    }
    Ok(d)
}

/// Per coordinate of `draws[chains, draws, dim]`: mean, sd, MCSE of both, the 5/50/95%
/// quantiles, bulk and tail ESS and rank-normalized R-hat (ArviZ's definitions), as a
/// list of dicts named `y[0]`, `y[1]`, ...
#[pyfunction]
fn summary<'py>(
    py: Python<'py>,
    draws: PyReadonlyArray3<'py, f64>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let d = draws.as_array();
    let names: Vec<String> = (0..d.shape()[2]).map(|j| format!("y[{j}]")).collect();
    let rows = ebm::diagnostics::summarize(d, &names).map_err(err)?;
    rows.into_iter()
        .map(|r| {
            let row = PyDict::new(py);
            row.set_item("name", r.name)?;
            row.set_item("mean", r.mean)?;
            row.set_item("sd", r.sd)?;
            row.set_item("mcse_mean", r.mcse_mean)?;
            row.set_item("mcse_sd", r.mcse_sd)?;
            row.set_item("q05", r.q05)?;
            row.set_item("q50", r.q50)?;
            row.set_item("q95", r.q95)?;
            row.set_item("ess_bulk", r.ess_bulk)?;
            row.set_item("ess_tail", r.ess_tail)?;
            row.set_item("r_hat", r.rhat)?;
            Ok(row)
        })
        .collect()
}

/// `log Z_beta = log int exp(-beta E(y)) dy` by `method`: `quadrature` (the midpoint
/// rule on a box grown until it holds the mass; 1 to 3 dimensions), `is` (importance
/// sampling, `samples` draws) or `ais` (annealed importance sampling, `samples` runs over
/// `temperatures` steps; any dimension). `energy` is a built-in (`double-well`,
/// `mixture`, `banana`, whose centre and scale are known), a target name, a
/// `.safetensors` MLP energy or a callable (with `dim`); `center` and `scale` (default 0
/// and 1 per axis) place the box and the Gaussian the samplers start from.
#[pyfunction]
#[pyo3(signature = (energy, method="quadrature", beta=1.0, samples=None, temperatures=200,
    seed=0, dim=None, center=None, scale=None))]
#[allow(clippy::too_many_arguments)]
fn log_z<'py>(
    py: Python<'py>,
    energy: &Bound<'py, PyAny>,
    method: &str,
    beta: f64,
    samples: Option<usize>,
    temperatures: usize,
    seed: u64,
    dim: Option<usize>,
    center: Option<Vec<f64>>,
    scale: Option<Vec<f64>>,
) -> PyResult<Bound<'py, PyDict>> {
    use clap::ValueEnum;
    use ebm::eval::partition::{Method, Settings, estimate};
    let method = Method::from_str(method, true).map_err(|_| {
        EbmError::new_err(format!(
            "method: `{method}` is not one of quadrature, is, ais"
        ))
    })?;
    let builtin = energy
        .extract::<String>()
        .ok()
        .and_then(|n| Builtin::from_str(&n, true).ok());
    let (resolved, c0, s0) = match builtin {
        Some(b) => {
            let (e, c, s) = b.build();
            (Resolved::Boxed(e), c, s)
        }
        None => {
            let r = Resolved::new(energy, dim)?;
            let d = r.energy().dim();
            (r, vec![0.0; d], vec![1.0; d])
        }
    };
    let settings = Settings {
        method,
        beta,
        samples: samples.unwrap_or(if method == Method::Ais { 1000 } else { 100_000 }),
        temperatures,
        seed,
    };
    let (center, scale) = (center.unwrap_or(c0), scale.unwrap_or(s0));
    let e = resolved.energy();
    let r = py.detach(|| estimate(e, &center, &scale, &settings));
    let r = resolved.result(r)?;
    let out = PyDict::new(py);
    out.set_item(
        "method",
        method.to_possible_value().map(|v| v.get_name().to_string()),
    )?;
    out.set_item("beta", r.beta)?;
    out.set_item("log_z", r.log_z.log_z)?;
    out.set_item("std_err", r.log_z.std_err)?;
    out.set_item("ess", r.log_z.ess)?;
    out.set_item("closed_form", r.closed)?;
    let (f, f_se) = r.free_energy();
    out.set_item("free_energy", f)?;
    out.set_item("free_energy_std_err", f_se)?;
    out.set_item("bounds", r.bounds)?;
    out.set_item("acceptance", r.acceptance)?;
    Ok(out)
}

/// A JSON value as the Python value `json.loads` would give.
fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use pyo3::IntoPyObjectExt;
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_bound_py_any(py)?,
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_bound_py_any(py)?,
            (None, Some(i)) => i.into_bound_py_any(py)?,
            _ => n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?,
        },
        Value::String(s) => s.into_bound_py_any(py)?,
        Value::Array(a) => a
            .iter()
            .map(|x| json_to_py(py, x))
            .collect::<PyResult<Vec<_>>>()?
            .into_bound_py_any(py)?,
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// `--flag value` arguments from keyword arguments (`hidden=[64, 64]` is
/// `--hidden 64,64`, `spectral_norm=True` is `--spectral-norm`), so the options are
/// parsed, defaulted and checked as the command line does.
fn flags(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<String>> {
    let mut args = Vec::new();
    let Some(kw) = kwargs else {
        return Ok(args);
    };
    for (k, v) in kw.iter() {
        let name = format!("--{}", k.extract::<String>()?.replace('_', "-"));
        if let Ok(b) = v.cast::<pyo3::types::PyBool>() {
            if b.is_true() {
                args.push(name);
            }
            continue;
        }
        if v.is_none() {
            continue;
        }
        let text = if let Ok(items) = v.extract::<Vec<Bound<'_, PyAny>>>()
            && !v.is_instance_of::<pyo3::types::PyString>()
        {
            items
                .iter()
                .map(|x| x.str().map(|s| s.to_string()))
                .collect::<PyResult<Vec<_>>>()?
                .join(",")
        } else {
            v.str()?.to_string()
        };
        args.push(name);
        args.push(text);
    }
    Ok(args)
}

/// The loop's settings for a run trained from Python: `rounds`, the time budget and
/// kept checkpoints, the resume hint naming `function`, and Ctrl-C heard by asking the
/// interpreter at every update (no signal handler installed).
fn python_fit_config(
    function: &str,
    rounds: usize,
    minutes: Option<f64>,
    keep: usize,
) -> ebm::train::FitConfig {
    use ebm::train::{FitConfig, Interrupt};
    FitConfig {
        rounds,
        minutes,
        keep,
        command: format!("ebmrs.{function}(\"{{run}}\", resume=True)"),
        interrupt: Interrupt::Check(std::sync::Arc::new(|| {
            Python::attach(|py| py.check_signals().is_err())
        })),
        ..FitConfig::default()
    }
}

/// The run folder `run`: the existing one when `resume`, else a new one.
fn run_dir(run: &std::path::Path, resume: bool) -> ebm::Result<ebm::train::RunDir> {
    if resume {
        ebm::train::RunDir::resume(run)
    } else {
        ebm::train::RunDir::open(run)
    }
}

/// What `train_vae` and `train_rbm` return: `interrupted`, `run`, `curve` (the
/// metrics rows) and `report` (None when interrupted).
fn run_result<'py>(
    py: Python<'py>,
    run: &std::path::Path,
    (interrupted, report, curve): (bool, Option<std::path::PathBuf>, serde_json::Value),
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("interrupted", interrupted)?;
    out.set_item("run", run.display().to_string())?;
    out.set_item("curve", json_to_py(py, &curve)?)?;
    out.set_item("report", report.map(|p| p.display().to_string()))?;
    Ok(out)
}

/// Train a contrastive EBM on a 2-D toy set with exact evaluation, as `ebm train toy
/// --run RUN` does: the same options as keyword arguments (`dataset`, `negatives`,
/// `kernel`, `updates`, `eval_every`, `hidden`, ...: the TOML keys of `ebm train toy`),
/// the same run folder (metrics, checkpoints, figures, `report.html`) and resume
/// (`resume=True` continues the run in `run`; `updates` then extends it). Ctrl-C
/// (KeyboardInterrupt) finishes the update, saves the state and returns with
/// `interrupted` set. Returns `final` (exact test NLL, KL, log Z in nats; `None` when
/// interrupted), `curve` (one dict per evaluation point), `run` and `report`.
#[pyfunction]
#[pyo3(signature = (run, resume=false, seed=0, keep=None, minutes=None, sample_steps=500, **options))]
#[allow(clippy::too_many_arguments)]
fn train_toy<'py>(
    py: Python<'py>,
    run: std::path::PathBuf,
    resume: bool,
    seed: u64,
    keep: Option<usize>,
    minutes: Option<f64>,
    sample_steps: usize,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    use ebm::train::toy::{ToyOptions, ToyStep, finish_run, open_run};
    use ebm::train::{Outcome, fit, options_from_args};
    let opts: ToyOptions = options_from_args("train_toy", &flags(options)?).map_err(err)?;
    let result = py.detach(|| -> ebm::Result<_> {
        let (dir, t, saved) = open_run(&run, resume, &opts, seed)?;
        let mut step = ToyStep {
            keep: keep.or(saved).unwrap_or(3),
            run: t,
        };
        let cfg = python_fit_config("train_toy", step.rounds(), minutes, step.keep);
        let at = step.position();
        if fit(&mut step, Some(&dir), at, &cfg)? == Outcome::Interrupted {
            let curve = serde_json::to_value(step.run.curve()).expect("curve serializes");
            return Ok((None, curve));
        }
        let r = finish_run(step, &run, sample_steps)?;
        let report = ebm::report::write_report(&run)?;
        let curve = serde_json::to_value(&r.curve).expect("curve serializes");
        let f = &r.final_eval;
        let fin = serde_json::json!({
            "test_nll": f.test_nll, "kl": f.kl, "data_entropy": f.data_entropy,
            "log_z": f.log_z, "mass_outside": f.mass_outside,
            "box_holds_mass": f.box_holds_mass, "seconds": r.seconds,
        });
        Ok((Some((fin, report)), curve))
    });
    let (end, curve) = result.map_err(err)?;
    let out = PyDict::new(py);
    out.set_item("interrupted", end.is_none())?;
    out.set_item("run", run.display().to_string())?;
    out.set_item("curve", json_to_py(py, &curve)?)?;
    match end {
        Some((fin, report)) => {
            out.set_item("final", json_to_py(py, &fin)?)?;
            out.set_item("report", report.display().to_string())?;
        }
        None => {
            out.set_item("final", py.None())?;
            out.set_item("report", py.None())?;
        }
    }
    Ok(out)
}

/// The exact density `p(y) = exp(-beta E(y)) / Z` of a saved 2-D energy on a `grid` x
/// `grid` grid over a toy set's box, `Z` by quadrature on that grid: `x`, `y` (cell
/// midpoints), `density` (`[grid, grid]`, row `i` at `y[i]`: what `imshow(...,
/// origin="lower")` draws) and `log_z`.
#[pyfunction]
#[pyo3(signature = (checkpoint, dataset="8gaussians", grid=200, beta=1.0))]
fn toy_density<'py>(
    py: Python<'py>,
    checkpoint: std::path::PathBuf,
    dataset: &str,
    grid: usize,
    beta: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let data = ebm::toy::ToyData::from_name(dataset).map_err(err)?;
    let e = NeuralEnergy::load(&checkpoint).map_err(err)?;
    let b = data.support_box();
    let (dens, log_z) = py
        .detach(|| ebm::exact2d::density_grid(&e, beta, b, grid))
        .map_err(err)?;
    let mids = |i: usize| -> Vec<f64> {
        let h = (b.1[i] - b.0[i]) / grid as f64;
        (0..grid).map(|k| b.0[i] + (k as f64 + 0.5) * h).collect()
    };
    let out = PyDict::new(py);
    out.set_item("x", mids(0).into_pyarray(py))?;
    out.set_item("y", mids(1).into_pyarray(py))?;
    out.set_item("density", dens.into_pyarray(py))?;
    out.set_item("log_z", log_z)?;
    Ok(out)
}

/// `E(y)` of a saved MLP energy at the rows of `points[n, dim]`.
#[pyfunction]
fn energy<'py>(
    py: Python<'py>,
    checkpoint: std::path::PathBuf,
    points: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
    let e = NeuralEnergy::load(&checkpoint).map_err(err)?;
    let p = points.as_array();
    if p.ncols() != e.dim() {
        return Err(EbmError::new_err(format!(
            "points: {} columns for an energy of dimension {}",
            p.ncols(),
            e.dim()
        )));
    }
    let mut out = vec![0.0; p.nrows()];
    e.energy(p, &mut out);
    Ok(out.into_pyarray(py))
}

/// Two float32 arrays (a VAE's means and log-variances).
type ArrayPair<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<f32>>);

/// A saved VAE (`ebm train vae --save` or a run folder): `encode`, `decode`, `sample`,
/// `loss` and `nll` on NumPy arrays.
///
/// The lecture's VAE: an encoder `q(z|y) = N(mu(y), diag exp(log_var(y)))`, a decoder
/// energy `E(y, z)`, trained on the variational free energy `F(y) = E_q[E(y, z)] +
/// KL(q(z|y) || N(0, I))`, an upper bound of `-log p(y)`.
#[pyclass(name = "Vae", module = "ebmrs")]
struct PyVae {
    saved: Mutex<ebm::eval::vae::SavedVae>,
    rng: Mutex<rand_xoshiro::Xoshiro256PlusPlus>,
}

impl PyVae {
    fn with<T>(&self, f: impl FnOnce(&mut ebm::eval::vae::SavedVae) -> T) -> T {
        f(&mut self.saved.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// `x` as float32 `[n, width]`, every value finite; the error names `what`.
fn rows_f32(x: &Bound<'_, PyAny>, width: usize, what: &str) -> PyResult<ndarray::Array2<f32>> {
    // float32 as it comes (what encode returns), anything else through float64.
    let a: ndarray::Array2<f32> = if let Ok(a) = x.extract::<PyReadonlyArray2<f32>>() {
        a.as_array().to_owned()
    } else {
        let a: PyReadonlyArray2<f64> = x
            .extract()
            .map_err(|_| EbmError::new_err(format!("{what}: a 2-D array of float32 or float64")))?;
        a.as_array().mapv(|v| v as f32)
    };
    if a.ncols() != width {
        return Err(EbmError::new_err(format!(
            "{what}: has {} columns, the model takes {width}",
            a.ncols()
        )));
    }
    if let Some(v) = a.iter().find(|v| !v.is_finite()) {
        return Err(EbmError::new_err(format!(
            "{what}: holds {v} (must be finite)"
        )));
    }
    Ok(a)
}

#[pymethods]
impl PyVae {
    /// Loads `checkpoint` (a `.safetensors` file or a run folder); `seed` seeds the
    /// draws of `sample`, `loss` and `nll`.
    #[new]
    #[pyo3(signature = (checkpoint, seed=0))]
    fn new(checkpoint: std::path::PathBuf, seed: u64) -> PyResult<Self> {
        use rand::SeedableRng;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let saved = ebm::eval::vae::SavedVae::load(&checkpoint, &mut rng).map_err(err)?;
        Ok(PyVae {
            saved: Mutex::new(saved),
            rng: Mutex::new(rng),
        })
    }

    /// Width of `y` (784 for MNIST, 64 for the UCI digits).
    #[getter]
    fn input_dim(&self) -> usize {
        self.with(|s| s.vae.config.input_dim)
    }

    /// Width of `z`.
    #[getter]
    fn latent(&self) -> usize {
        self.with(|s| s.vae.config.latent)
    }

    /// The run's settings (`config.json`) as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.with(|s| s.run.clone());
        json_to_py(py, &v)
    }

    /// `q(z|y)`'s means and log-variances, float32 `[n, latent]` each, of the rows of
    /// `x` (`[n, input_dim]`, pixels in [0, 1]).
    fn encode<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<ArrayPair<'py>> {
        let x = rows_f32(x, self.input_dim(), "x")?;
        let (mu, lv) = py
            .detach(|| self.with(|s| s.vae.encode(x.view())))
            .map_err(err)?;
        Ok((mu.into_pyarray(py), lv.into_pyarray(py)))
    }

    /// The decoder's mean for codes `z` (`[n, latent]`): pixel probabilities (Bernoulli
    /// decoder) or means (Gaussian), float32 `[n, input_dim]`.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        z: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let z = rows_f32(z, self.latent(), "z")?;
        let y = py.detach(|| self.with(|s| s.vae.decode(z.view())));
        Ok(y.into_pyarray(py))
    }

    /// `n` images from the model: `z ~ N(0, I)`, then the decoder's mean.
    fn sample<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyArray2<f32>>> {
        use rand_distr::{Distribution, StandardNormal};
        if n == 0 {
            return Err(EbmError::new_err("n: must be at least 1"));
        }
        let d = self.latent();
        let z = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            ndarray::Array2::from_shape_simple_fn((n, d), || {
                let v: f32 = StandardNormal.sample(&mut *rng);
                v
            })
        }; // [n, latent]
        let y = py.detach(|| self.with(|s| s.vae.decode(z.view())));
        Ok(y.into_pyarray(py))
    }

    /// The variational free energy per image, in nats, over the rows of `x`, one `z`
    /// sample per row: `{"loss", "reconstruction", "kl", "images"}` (loss =
    /// reconstruction + KL).
    fn loss<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let x = rows_f32(x, self.input_dim(), "x")?;
        let l = py
            .detach(|| {
                let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
                self.with(|s| s.vae.evaluate(x.view(), 500, &mut *rng))
            })
            .map_err(err)?;
        let out = PyDict::new(py);
        let n = l.n.max(1) as f64;
        out.set_item("loss", l.per_row())?;
        out.set_item("reconstruction", l.recon / n)?;
        out.set_item("kl", l.kl / n)?;
        out.set_item("images", l.n)?;
        Ok(out)
    }

    /// `-L_k`, the importance-weighted bound with `k` samples per image (Burda et al.
    /// 2016), in nats per image over the rows of `x`, with its standard error: an
    /// estimate of the negative log-likelihood that tightens as `k` grows.
    #[pyo3(signature = (x, k=5000, seed=0))]
    fn nll<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        k: usize,
        seed: u64,
    ) -> PyResult<(f64, f64)> {
        let x = rows_f32(x, self.input_dim(), "x")?;
        if k == 0 {
            return Err(EbmError::new_err("k: must be at least 1"));
        }
        let (b, _) = py
            .detach(|| self.with(|s| ebm::eval::vae::nll_estimate(&mut s.vae, x.view(), k, seed)))
            .map_err(err)?;
        Ok((b.nll(), b.std_error()))
    }
}

/// Train a VAE as `ebm train vae --run RUN` does (keyword options = that command's
/// flags); returns `curve` (the metrics rows), `interrupted`, `run`, `report`.
#[pyfunction]
#[pyo3(signature = (run, resume=false, seed=0, keep=None, minutes=None, **options))]
fn train_vae<'py>(
    py: Python<'py>,
    run: std::path::PathBuf,
    resume: bool,
    seed: u64,
    keep: Option<usize>,
    minutes: Option<f64>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    use ebm::train::vae::{VaeOptions, train_run};
    use ebm::train::{DEFAULT_KEEP, Outcome, options_from_args};
    let opts: VaeOptions = options_from_args("train_vae", &flags(options)?).map_err(err)?;
    let result = py.detach(|| -> ebm::Result<_> {
        let dir = run_dir(&run, resume)?;
        let keep = keep.unwrap_or(DEFAULT_KEEP);
        let cfg = python_fit_config("train_vae", opts.epochs, minutes, keep);
        let (outcome, report) = train_run(&opts, Some(&dir), resume, seed, &cfg)?;
        Ok((outcome == Outcome::Interrupted, report, dir.read_metrics()?))
    });
    run_result(py, &run, result.map_err(err)?)
}

/// A saved RBM (`ebm train rbm --save`, or a run folder's checkpoint): the lecture's
/// Bernoulli-Bernoulli energy `E(v, h) = -b.v - c.h - v^T W h`, its free energy
/// `F(v) = -log sum_h exp(-E(v, h))`, `log Z` (exact for a small layer, else AIS) and
/// Gibbs samples, on NumPy arrays.
#[pyclass(name = "Rbm", module = "ebmrs")]
struct PyRbm {
    rbm: ebm::models::rbm::Rbm,
    config: ebm::models::rbm::RbmConfig,
}

/// `v` as float32 `[n, width]` of zeros and ones; the error names `what`.
fn binary_rows(v: &Bound<'_, PyAny>, width: usize, what: &str) -> PyResult<ndarray::Array2<f32>> {
    let a = rows_f32(v, width, what)?;
    if let Some(x) = a.iter().find(|x| **x != 0.0 && **x != 1.0) {
        return Err(EbmError::new_err(format!(
            "{what}: holds {x} (an RBM's visible units are 0 or 1; binarize first)"
        )));
    }
    Ok(a)
}

#[pymethods]
impl PyRbm {
    /// Loads `checkpoint`: a `.safetensors` file, or a run folder (its latest model,
    /// `model.safetensors`).
    #[new]
    fn new(checkpoint: std::path::PathBuf) -> PyResult<Self> {
        let path = if checkpoint.is_dir() {
            checkpoint.join("model.safetensors")
        } else {
            checkpoint
        };
        let (rbm, config) = ebm::models::rbm::Rbm::load(&path).map_err(err)?;
        Ok(PyRbm { rbm, config })
    }

    #[getter]
    fn visible(&self) -> usize {
        self.rbm.visible()
    }

    #[getter]
    fn hidden(&self) -> usize {
        self.rbm.hidden()
    }

    /// The training settings saved with the weights, as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(
            py,
            &serde_json::to_value(&self.config).expect("config serializes"),
        )
    }

    /// The parameters as float32 arrays: `w` `[visible, hidden]`, `b` `[visible]`, `c`
    /// `[hidden]`.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        out.set_item("w", self.rbm.weights().to_owned().into_pyarray(py))?;
        out.set_item("b", self.rbm.b.value.clone().into_pyarray(py))?;
        out.set_item("c", self.rbm.c.value.clone().into_pyarray(py))?;
        Ok(out)
    }

    /// `F(v) = -b.v - sum_j softplus(c_j + (v W)_j)` of each row of `v` (`[n, visible]`,
    /// zeros and ones), float64 `[n]`.
    fn free_energy<'py>(
        &self,
        py: Python<'py>,
        v: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
        let v = binary_rows(v, self.rbm.visible(), "v")?;
        let f = py.detach(|| self.rbm.free_energy(v.view())).map_err(err)?;
        Ok(f.into_pyarray(py))
    }

    /// `log Z = log sum_{v,h} exp(-E(v, h))`: exactly when the smaller layer has at
    /// most 24 units (`method="exact"`), else by AIS from the base-rate RBM fitted to
    /// `data` (`[n, visible]`; Salakhutdinov and Murray's schedule of `betas`
    /// distributions, `runs` particles). Returns `log_z`, `std_err` (0 when exact),
    /// `method`.
    #[pyo3(signature = (method="exact", data=None, runs=100, betas=14_500, seed=0))]
    fn log_z<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        data: Option<&Bound<'py, PyAny>>,
        runs: usize,
        betas: usize,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        use ebm::models::rbm::{ais_log_z, ais_schedule, base_rate_bias, check_ais_memory};
        let out = PyDict::new(py);
        out.set_item("method", method)?;
        match method {
            "exact" => {
                let l = py.detach(|| self.rbm.log_z_exact()).map_err(err)?;
                out.set_item("log_z", l)?;
                out.set_item("std_err", 0.0)?;
            }
            "ais" => {
                let base = match data {
                    Some(d) => base_rate_bias(binary_rows(d, self.rbm.visible(), "data")?.view()),
                    None => vec![0.0; self.rbm.visible()],
                };
                check_ais_memory(runs, betas, self.rbm.visible(), self.rbm.hidden())
                    .map_err(err)?;
                let sched = ais_schedule(Some(betas));
                let e = py
                    .detach(|| ais_log_z(&self.rbm, &base, &sched, runs, seed))
                    .map_err(err)?;
                out.set_item("log_z", e.log_z)?;
                out.set_item("std_err", e.std_err)?;
                out.set_item("ess", e.ess)?;
            }
            other => {
                return Err(EbmError::new_err(format!(
                    "method: `{other}` is not one of exact, ais"
                )));
            }
        }
        Ok(out)
    }

    /// `log p(v) = -F(v) - log Z` of each row of `v`, float64 `[n]`, given `log_z`.
    fn log_prob<'py>(
        &self,
        py: Python<'py>,
        v: &Bound<'py, PyAny>,
        log_z: f64,
    ) -> PyResult<Bound<'py, numpy::PyArray1<f64>>> {
        let v = binary_rows(v, self.rbm.visible(), "v")?;
        let f = py.detach(|| self.rbm.free_energy(v.view())).map_err(err)?;
        let lp: Vec<f64> = f.iter().map(|f| -f - log_z).collect();
        Ok(lp.into_pyarray(py))
    }

    /// `sweeps` block-Gibbs sweeps of `n` chains started from uniform random images
    /// (or from the rows of `start`); returns `p(v = 1 | h)` of the last sweep, float32
    /// `[n, visible]`.
    #[pyo3(signature = (n=16, sweeps=1000, seed=0, start=None))]
    fn sample<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        sweeps: usize,
        seed: u64,
        start: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        use rand::{Rng, SeedableRng};
        let v0 = match start {
            Some(s) => binary_rows(s, self.rbm.visible(), "start")?,
            None => {
                if n == 0 {
                    return Err(EbmError::new_err("n: must be at least 1"));
                }
                let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed);
                ndarray::Array2::from_shape_simple_fn((n, self.rbm.visible()), || {
                    f32::from(u8::from(rng.r#gen::<bool>()))
                })
            }
        };
        let p = py
            .detach(|| ebm::models::rbm::gibbs_chains(&self.rbm, v0.view(), sweeps, seed))
            .map_err(err)?;
        Ok(p.into_pyarray(py))
    }
}

/// Train an RBM as `ebm train rbm --run RUN` does (keyword options = that command's
/// flags); returns `curve` (the metrics rows), `interrupted`, `run`, `report`.
#[pyfunction]
#[pyo3(signature = (run, resume=false, seed=0, keep=None, minutes=None, **options))]
fn train_rbm<'py>(
    py: Python<'py>,
    run: std::path::PathBuf,
    resume: bool,
    seed: u64,
    keep: Option<usize>,
    minutes: Option<f64>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    use ebm::train::rbm::{RbmOptions, RbmRunInfo, train_run};
    use ebm::train::{Outcome, options_from_args};
    let opts: RbmOptions = options_from_args("train_rbm", &flags(options)?).map_err(err)?;
    let result = py.detach(|| -> ebm::Result<_> {
        let info = RbmRunInfo::resolve(&opts, resume.then_some(run.as_path()), seed, keep)?;
        let dir = run_dir(&run, resume)?;
        let fit_config = |epochs, _| python_fit_config("train_rbm", epochs, minutes, info.keep);
        let (outcome, report) = train_run(&opts, &info, Some(&dir), resume, fit_config)?;
        Ok((outcome == Outcome::Interrupted, report, dir.read_metrics()?))
    });
    run_result(py, &run, result.map_err(err)?)
}

/// A distribution given from Python: a Gaussian (a dict with `mean` and `cov`, a
/// `[d, d]` covariance, or `var`, the `[d]` variances of a diagonal one) or a
/// categorical (a 1-D array of probabilities).
enum Dist {
    Normal(Vec<f64>, ndarray::Array2<f64>),
    NormalDiag(Vec<f64>, Vec<f64>),
    Categorical(Vec<f64>),
}

impl Dist {
    /// Checks a Gaussian's mean and covariance (finite; variances > 0; a covariance
    /// square, of the mean's size, symmetric positive definite), naming `name`.
    fn checked(self, name: &str) -> PyResult<Dist> {
        let bad = |what: String| EbmError::new_err(format!("{name}{what}"));
        let (mean, d) = match &self {
            Dist::Categorical(_) => return Ok(self),
            Dist::Normal(m, s) => (m, s.nrows()),
            Dist::NormalDiag(m, v) => (m, v.len()),
        };
        if let Some(i) = mean.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!("['mean'][{i}]: {} (must be finite)", mean[i])));
        }
        if mean.len() != d {
            return Err(bad(format!(
                ": the mean has {} entries, the covariance {d} rows",
                mean.len()
            )));
        }
        match &self {
            Dist::NormalDiag(_, v) => {
                if let Some(i) = v.iter().position(|x| !(x.is_finite() && *x > 0.0)) {
                    return Err(bad(format!("['var'][{i}]: {} (must be > 0)", v[i])));
                }
            }
            Dist::Normal(_, s) => {
                ebm::info::cholesky(&format!("{name}['cov']"), s.view()).map_err(err)?;
            }
            Dist::Categorical(_) => {}
        }
        Ok(self)
    }

    fn parse(x: &Bound<'_, PyAny>, name: &str) -> PyResult<Dist> {
        let bad = || {
            EbmError::new_err(format!(
                "{name}: a dict {{'mean', 'cov'}} or {{'mean', 'var'}} (a Gaussian) or a 1-D array of probabilities"
            ))
        };
        if let Ok(d) = x.cast::<PyDict>() {
            let mean: Vec<f64> = d
                .get_item("mean")?
                .ok_or_else(bad)?
                .extract()
                .map_err(|_| {
                    EbmError::new_err(format!("{name}['mean']: a 1-D array of numbers"))
                })?;
            if let Some(c) = d.get_item("cov")? {
                let c: PyReadonlyArray2<f64> = c.extract().map_err(|_| {
                    EbmError::new_err(format!("{name}['cov']: a 2-D float64 array"))
                })?;
                return Ok(Dist::Normal(mean, c.as_array().to_owned()));
            }
            if let Some(v) = d.get_item("var")? {
                let v: Vec<f64> = v.extract().map_err(|_| {
                    EbmError::new_err(format!("{name}['var']: a 1-D array of variances"))
                })?;
                return Ok(Dist::NormalDiag(mean, v));
            }
            return Err(bad());
        }
        let p: Vec<f64> = x.extract().map_err(|_| bad())?;
        Ok(Dist::Categorical(p))
    }
}

/// `KL(p || q)` in nats (bits with `bits=True`) in closed form, for two Gaussians
/// (`1/2 [tr(Sq^-1 Sp) + (mq - mp)^T Sq^-1 (mq - mp) - d + ln det Sq - ln det Sp]`, full
/// or diagonal covariances) or two categoricals over the same outcomes (`sum_k p_k
/// ln(p_k / q_k)`, infinite where `q` has no mass and `p` has). A Gaussian is a dict
/// `{"mean": m, "cov": S}` or `{"mean": m, "var": v}`; a categorical, an array of
/// probabilities.
#[pyfunction]
#[pyo3(signature = (p, q, bits=false))]
fn kl(p: &Bound<'_, PyAny>, q: &Bound<'_, PyAny>, bits: bool) -> PyResult<f64> {
    use ebm::info;
    // The library names its arguments after KL(q || p); check each here under the name
    // the caller gave it, so that an error names `p[...]` or `q[...]`.
    let (p, q) = (
        Dist::parse(p, "p")?.checked("p")?,
        Dist::parse(q, "q")?.checked("q")?,
    );
    let full = |v: &[f64]| ndarray::Array2::from_diag(&ndarray::Array1::from(v.to_vec()));
    let nats = match (p, q) {
        (Dist::Categorical(p), Dist::Categorical(q)) => info::kl_discrete(&p, &q),
        (Dist::NormalDiag(mp, vp), Dist::NormalDiag(mq, vq)) => {
            info::kl_diag_gauss(&mp, &vp, &mq, &vq)
        }
        (Dist::Normal(mp, sp), Dist::Normal(mq, sq)) => {
            info::kl_gauss_full(&mp, sp.view(), &mq, sq.view())
        }
        (Dist::Normal(mp, sp), Dist::NormalDiag(mq, vq)) => {
            info::kl_gauss_full(&mp, sp.view(), &mq, full(&vq).view())
        }
        (Dist::NormalDiag(mp, vp), Dist::Normal(mq, sq)) => {
            info::kl_gauss_full(&mp, full(&vp).view(), &mq, sq.view())
        }
        _ => {
            return Err(EbmError::new_err(
                "q: must be the same kind of distribution as p (both Gaussian or both categorical)",
            ));
        }
    }
    .map_err(err)?;
    Ok(if bits { info::nats_to_bits(nats) } else { nats })
}

/// The entropy of a Gaussian (differential, `1/2 [d ln(2 pi e) + ln det S]`) or of a
/// categorical (`-sum_k p_k ln p_k`), in nats (bits with `bits=True`); the same
/// descriptions as [`kl`].
#[pyfunction]
#[pyo3(signature = (p, bits=false))]
fn entropy(p: &Bound<'_, PyAny>, bits: bool) -> PyResult<f64> {
    use ebm::info;
    let nats = match Dist::parse(p, "p")?.checked("p")? {
        Dist::Categorical(p) => info::entropy_discrete(&p),
        Dist::NormalDiag(_, v) => info::entropy_gauss_diag(&v),
        Dist::Normal(_, s) => info::entropy_gauss_full(s.view()),
    }
    .map_err(err)?;
    Ok(if bits { info::nats_to_bits(nats) } else { nats })
}

/// The images the trainers read: MNIST from `data` (a folder of IDX files, gzip or
/// not), or without it the embedded UCI digits (8 x 8, split into train and test with
/// `seed`, as `ebm train vae --seed` splits them). Returns `train`, `test` (float32
/// `[n, pixels]`, intensities in [0, 1]), `train_labels`, `test_labels` (uint8) and
/// `what`.
#[pyfunction]
#[pyo3(signature = (data=None, seed=0))]
fn load_images<'py>(
    py: Python<'py>,
    data: Option<std::path::PathBuf>,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let d = py
        .detach(|| ebm::data::images::ImageSet::load(data.as_deref(), seed))
        .map_err(err)?;
    let out = PyDict::new(py);
    out.set_item("train", d.train.into_pyarray(py))?;
    out.set_item("test", d.test.into_pyarray(py))?;
    out.set_item("train_labels", d.train_labels.into_pyarray(py))?;
    out.set_item("test_labels", d.test_labels.into_pyarray(py))?;
    out.set_item("what", d.what)?;
    Ok(out)
}

/// Progress reports of later calls go to `callback(kind, id, label, total, done,
/// message)` (`kind`: "start", "update", "finish"; updates at most every 100 ms and at
/// the end), or with `None` back to the library's own terminal bar and log lines. An
/// error the callback raises is reported as unraisable and ignored.
#[pyfunction]
#[pyo3(signature = (callback=None))]
fn set_progress(callback: Option<Py<PyAny>>) {
    use ebm::progress::{Event, Reporter};
    let r = callback.map(|cb| -> Reporter {
        std::sync::Arc::new(move |e: Event<'_>| {
            Python::attach(|py| {
                let r = match e {
                    Event::Start { id, label, total } => {
                        cb.call1(py, ("start", id, label, total, 0u64, ""))
                    }
                    Event::Update { id, done, message } => {
                        cb.call1(py, ("update", id, "", 0u64, done, message))
                    }
                    Event::Finish { id } => cb.call1(py, ("finish", id, "", 0u64, 0u64, "")),
                };
                match r {
                    Ok(_) => {}
                    // A Ctrl-C that arrived while the callback ran: its KeyboardInterrupt
                    // is raised inside the callback, not where the caller waits for it.
                    // Deliver it again, for the training loop's check (or the
                    // interpreter, once the call returns) to see.
                    Err(err) if err.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) => {
                        // SAFETY: PyErr_SetInterrupt takes no arguments and only marks
                        // SIGINT as pending in the interpreter (CPython documents it as
                        // callable from any thread, with or without the GIL; it is in the
                        // limited API since 3.2). No Rust memory is touched. Tested by
                        // test_ctrl_c_stops_a_run_that_then_resumes with tqdm's callback.
                        unsafe { pyo3::ffi::PyErr_SetInterrupt() };
                    }
                    Err(err) => err.write_unraisable(py, None),
                }
            })
        })
    });
    ebm::progress::set_reporter(r);
}

/// Silence (`True`) or restore progress reports.
#[pyfunction]
fn set_quiet(quiet: bool) {
    ebm::progress::set_quiet(quiet);
}

/// Panics with `msg`, on a worker thread of the pool with the GIL released when
/// `worker`: what the tests use to check that a Rust panic reaches Python as PyO3's
/// `PanicException` carrying its message, and leaves the interpreter usable (the build
/// unwinds; it must not abort).
#[pyfunction]
#[pyo3(signature = (msg, worker=false))]
fn _panic(py: Python<'_>, msg: &str, worker: bool) {
    py.detach(|| {
        if worker {
            rayon::join(|| (), || panic!("{msg}"));
        } else {
            panic!("{msg}");
        }
    })
}

#[pymodule]
fn _ebmrs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add_function(wrap_pyfunction!(summary, m)?)?;
    m.add_function(wrap_pyfunction!(log_z, m)?)?;
    m.add_function(wrap_pyfunction!(train_toy, m)?)?;
    m.add_function(wrap_pyfunction!(toy_density, m)?)?;
    m.add_function(wrap_pyfunction!(energy, m)?)?;
    m.add_function(wrap_pyfunction!(_panic, m)?)?;
    m.add_function(wrap_pyfunction!(set_progress, m)?)?;
    m.add_function(wrap_pyfunction!(set_quiet, m)?)?;
    m.add_function(wrap_pyfunction!(kl, m)?)?;
    m.add_function(wrap_pyfunction!(entropy, m)?)?;
    m.add_function(wrap_pyfunction!(train_vae, m)?)?;
    m.add_class::<PyVae>()?;
    m.add_function(wrap_pyfunction!(load_images, m)?)?;
    m.add_function(wrap_pyfunction!(train_rbm, m)?)?;
    m.add_class::<PyRbm>()?;
    m.add("EbmError", m.py().get_type::<EbmError>())?;
    Ok(())
}
