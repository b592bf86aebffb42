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
use ebm::eval::partition::{Builtin, log_z_row};
use ebm::eval::sampling::{SamplerName, SamplerSpec};
use ndarray::{ArrayView2, ArrayViewMut2};
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
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

/// MCMC draws of `exp(-beta E(y)) / Z`.
///
/// `kernel`: `nuts` (nuts-rs), `hmc`, `ghmc`, `mala`, `ula` or `mh`; `step_size` is the
/// initial step (adapted in warm-up except for ULA). Returns a dict: `posterior` (`y`:
/// float64 `[chains, draws, dim]`), `sample_stats` (acceptance rate, divergences and
/// gradient evaluations of the whole run, the adapted step size), `sampler` and
/// `seconds` (warm-up, draws).
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
    let (callable, named) = if energy.is_callable() {
        (Some(py_energy(energy, dim)?), None)
    } else {
        (None, Some(named_energy(energy)?))
    };
    let e: &dyn Energy = match (&callable, &named) {
        (Some(c), _) => c,
        (None, Some(n)) => n.as_ref(),
        (None, None) => unreachable!("one of the two was built"),
    };
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
    ebm::progress::set_quiet(true);
    // The GIL is released while the chains run: a Python energy takes it for each call.
    let run = py.detach(|| spec.run(e, seed));
    // The energy's own error first: a NaN energy it caused may have stopped the run.
    if let Some(pe) = callable.as_ref().and_then(PyEnergy::take_error) {
        return Err(pe);
    }
    let run = run.map_err(err)?;
    let out = PyDict::new(py);
    let posterior = PyDict::new(py);
    posterior.set_item("y", run.draws.into_pyarray(py))?;
    out.set_item("posterior", posterior)?;
    let stats = PyDict::new(py);
    stats.set_item("acceptance_rate", run.stats.acceptance)?;
    stats.set_item("diverging", run.stats.divergences)?;
    stats.set_item("n_grad_evals", run.stats.grad_evals)?;
    stats.set_item("step_size", run.step_size)?;
    out.set_item("sample_stats", stats)?;
    out.set_item("sampler", run.name)?;
    out.set_item("seconds", run.seconds)?;
    Ok(out)
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

/// `log Z_beta = log int exp(-beta E(y)) dy` of a built-in energy (`double-well`,
/// `mixture`, `banana`) two ways: quadrature on a box grown until it holds the mass, and
/// importance sampling (`samples` draws); each with its standard error, and the closed
/// form where there is one (`None` else). Also `free_energy = -log Z / beta`.
#[pyfunction]
#[pyo3(signature = (energy, beta=1.0, samples=100_000, seed=0))]
fn log_z<'py>(
    py: Python<'py>,
    energy: &str,
    beta: f64,
    samples: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    use clap::ValueEnum;
    let b = Builtin::from_str(energy, true).map_err(|_| {
        EbmError::new_err(format!(
            "energy: `{energy}` is not one of double-well, mixture, banana"
        ))
    })?;
    let (e, center, scale) = b.build();
    let r = py
        .detach(|| log_z_row(e.as_ref(), beta, &center, &scale, samples, seed))
        .map_err(err)?;
    let out = PyDict::new(py);
    out.set_item("beta", r.beta)?;
    out.set_item("quadrature", (r.quadrature.log_z, r.quadrature.std_err))?;
    out.set_item("importance", (r.importance.log_z, r.importance.std_err))?;
    out.set_item("importance_ess", r.importance.ess)?;
    out.set_item("closed_form", r.closed)?;
    out.set_item("free_energy", r.free_energy().0)?;
    Ok(out)
}

#[pymodule]
fn _ebmrs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add_function(wrap_pyfunction!(summary, m)?)?;
    m.add_function(wrap_pyfunction!(log_z, m)?)?;
    m.add("EbmError", m.py().get_type::<EbmError>())?;
    Ok(())
}
