//! The No-U-Turn Sampler (NUTS) for any [`Energy`], through the `nuts-rs` crate.
//!
//! Hamiltonian Monte Carlo draws a Gaussian momentum `r`, then follows the dynamics of
//! `H(y, r) = beta E(y) + |r|^2_M / 2` with a leapfrog integrator and accepts the end
//! point so that `p(y) ∝ exp(-beta E(y))` is left invariant. NUTS (Hoffman & Gelman 2014,
//! "The No-U-Turn Sampler: Adaptively Setting Path Lengths in Hamiltonian Monte Carlo",
//! JMLR 15) removes the trajectory length as a tuning parameter: it doubles the trajectory
//! forward or backward in time at random until it starts to turn back on itself (the
//! U-turn criterion) or reaches `2^max_depth` leapfrog steps, then draws the next state
//! from the whole trajectory (multinomially, as in Stan). During warm-up the step size is
//! adapted by dual averaging towards a mean acceptance statistic `target_accept`, and a
//! diagonal mass matrix is fitted to the draws (and gradients). A leapfrog step whose
//! energy error explodes, or a point where `E` or `dE/dy` is not finite, ends the
//! trajectory as a *divergence*: a sign that the sampler could not follow the geometry
//! there (the neck of Neal's funnel is the classic case).
//!
//! The implementation is [`nuts-rs`](https://github.com/pymc-devs/nuts-rs) (the sampler
//! behind nutpie, by the PyMC developers); this module only adapts an [`Energy`] to its
//! `CpuLogpFunc` (`log p = -beta E`, `grad log p = -beta dE/dy`, no allocation per call),
//! runs chains in parallel on the rayon pool and gathers the draws into a [`NutsTrace`].
//!
//! Chain `c` draws its initial point and its nuts-rs random stream from a ChaCha8
//! generator keyed by `(seed, c)` ([`chain_rng`]), so a seed gives the same draws whatever
//! the number of threads.
//!
//! ```
//! use ebm::nuts::{sample_nuts, NutsConfig};
//! let cfg = NutsConfig { warmup: 200, draws: 200, chains: 2, seed: 7, ..Default::default() };
//! let trace = sample_nuts(&ebm::targets::t2(), &cfg).unwrap();
//! assert_eq!(trace.draws.dim(), (2, 200, 2));
//! ```

use crate::energy::Energy;
use crate::{Error, Result};
use ndarray::{Array3, ArrayView2, ArrayViewMut2, ArrayViewMut3, Axis};
use nuts_rs::rand::rngs::ChaCha8Rng;
use nuts_rs::rand::{RngExt, SeedableRng};
use nuts_rs::{
    Chain, CpuLogpFunc, CpuMath, CpuMathError, DiagNutsSettings, HasDims, LogpError, Settings,
};
use std::cell::Cell;
use std::collections::HashMap;

/// Where each chain starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Every coordinate uniform in `[-radius, radius]`, drawn per chain (Stan draws
    /// `[-2, 2]`); redrawn, up to 100 times, where the energy is not finite.
    Uniform { radius: f64 },
    /// The same given position for every chain.
    At(Vec<f64>),
}

impl Default for Init {
    fn default() -> Self {
        Init::Uniform { radius: 2.0 }
    }
}

/// Settings of [`sample_nuts`].
#[derive(Clone, Debug, PartialEq)]
pub struct NutsConfig {
    /// Warm-up (tuning) iterations per chain; discarded.
    pub warmup: u64,
    /// Kept draws per chain.
    pub draws: u64,
    /// Independent chains, run in parallel on the rayon pool.
    pub chains: usize,
    /// Maximum tree depth: at most `2^max_depth - 1` leapfrog steps per draw.
    pub max_depth: u64,
    /// The mean acceptance statistic the step size adapts to, in `(0, 1)`; raise it
    /// (0.95, 0.99) for smaller steps where the curvature varies (funnels).
    pub target_accept: f64,
    /// Inverse temperature: the target is `exp(-beta E)`.
    pub beta: f64,
    pub seed: u64,
    pub init: Init,
}

impl Default for NutsConfig {
    fn default() -> Self {
        NutsConfig {
            warmup: 1000,
            draws: 1000,
            chains: 4,
            max_depth: 10,
            target_accept: 0.8,
            beta: 1.0,
            seed: 0,
            init: Init::default(),
        }
    }
}

impl NutsConfig {
    /// The nuts-rs settings this configuration runs (diagonal mass matrix adaptation,
    /// nuts-rs defaults otherwise), for callers who drive nuts-rs themselves.
    pub fn settings(&self) -> DiagNutsSettings {
        let mut s = DiagNutsSettings {
            num_tune: self.warmup,
            num_draws: self.draws,
            num_chains: self.chains,
            maxdepth: self.max_depth,
            seed: self.seed,
            ..Default::default()
        };
        s.adapt_options.step_size_settings.target_accept = self.target_accept;
        s
    }

    fn validate(&self, energy: &dyn Energy) -> Result<()> {
        let field = "nuts config";
        if self.chains == 0 {
            return Err(Error::invalid(field, "chains must be at least 1"));
        }
        if self.draws == 0 {
            return Err(Error::invalid(field, "draws must be at least 1"));
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::invalid(
                field,
                format!("beta must be finite and > 0, got {}", self.beta),
            ));
        }
        if !(self.target_accept > 0.0 && self.target_accept < 1.0) {
            return Err(Error::invalid(
                field,
                format!(
                    "target_accept must be in (0, 1), got {}",
                    self.target_accept
                ),
            ));
        }
        if self.max_depth == 0 || self.max_depth > 30 {
            return Err(Error::invalid(
                field,
                format!("max_depth must be in 1..=30, got {}", self.max_depth),
            ));
        }
        let per_chain = self.warmup.checked_add(self.draws);
        let total = per_chain
            .and_then(|n| n.checked_mul(self.chains as u64))
            .and_then(|n| n.checked_mul(energy.dim() as u64));
        if total.is_none_or(|n| usize::try_from(n).is_err()) {
            return Err(Error::invalid(field, "warmup + draws do not fit in memory"));
        }
        let dim = energy.dim();
        if dim == 0 {
            return Err(Error::invalid(field, "the energy has dimension 0"));
        }
        match &self.init {
            Init::Uniform { radius } => {
                if !(radius.is_finite() && *radius >= 0.0) {
                    return Err(Error::invalid(
                        "nuts init",
                        format!("uniform radius must be finite and >= 0, got {radius}"),
                    ));
                }
            }
            Init::At(y) => {
                if y.len() != dim {
                    return Err(Error::invalid(
                        "nuts init",
                        format!(
                            "initial position has {} coordinates, the energy '{}' has dimension {dim}",
                            y.len(),
                            energy.name()
                        ),
                    ));
                }
                if let Some(i) = y.iter().position(|v| !v.is_finite()) {
                    return Err(Error::invalid(
                        "nuts init",
                        format!("initial position coordinate {i} is {}", y[i]),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The draws of [`sample_nuts`] and what the sampler saw while making them.
#[derive(Clone, Debug)]
pub struct NutsTrace {
    /// `[chains, draws, dim]`, warm-up excluded.
    pub draws: Array3<f64>,
    /// Divergent transitions per chain, after warm-up.
    pub diverging: Vec<usize>,
    /// Gradient evaluations (`energy_grad` calls) over all chains: the initial-point
    /// check(s), warm-up and draws.
    pub grad_evals: u64,
    /// The step size of each chain's last draw: the adapted one, jittered by nuts-rs
    /// by a factor drawn from `[0.9, 1.1]` at every draw.
    pub step_size: Vec<f64>,
    /// Mean tree depth after warm-up, over all chains.
    pub mean_tree_depth: f64,
    /// Mean of nuts-rs's `mean_tree_accept` after warm-up, over all chains.
    pub acceptance: f64,
    /// Per draw: `-beta E`, acceptance, divergence, step size, leapfrog steps, tree
    /// depth, the Hamiltonian and its error.
    pub stats: crate::diagnostics::DrawStats,
}

/// A non-finite energy or gradient: recoverable, so nuts-rs records a divergence.
#[derive(Debug, thiserror::Error)]
pub enum NonFinite {
    #[error("energy is not finite ({0})")]
    Energy(f64),
    #[error("energy gradient is not finite")]
    Gradient,
}

impl LogpError for NonFinite {
    fn is_recoverable(&self) -> bool {
        true
    }
}

/// An [`Energy`] at inverse temperature `beta` as a nuts-rs log density:
/// `logp = -beta E(y)`, `grad = -beta dE/dy`, the position seen as a `[1, dim]` batch and
/// the gradient written straight into nuts-rs's buffer (nothing allocated per call).
pub struct EnergyLogp<'a> {
    energy: &'a dyn Energy,
    beta: f64,
    dim: usize,
    evals: &'a Cell<u64>,
}

impl<'a> EnergyLogp<'a> {
    /// The adapter; `evals` counts the gradient evaluations.
    pub fn new(energy: &'a dyn Energy, beta: f64, evals: &'a Cell<u64>) -> Self {
        EnergyLogp {
            energy,
            beta,
            dim: energy.dim(),
            evals,
        }
    }
}

impl HasDims for EnergyLogp<'_> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([("unconstrained_parameter".to_string(), self.dim as u64)])
    }
}

impl CpuLogpFunc for EnergyLogp<'_> {
    type LogpError = NonFinite;
    type FlowParameters = ();
    type ExpandedVector = ();

    fn dim(&self) -> usize {
        self.dim
    }

    #[inline]
    fn logp(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> std::result::Result<f64, NonFinite> {
        self.evals.set(self.evals.get() + 1);
        let y = ArrayView2::from_shape((1, self.dim), position).expect("nuts-rs position length");
        let g =
            ArrayViewMut2::from_shape((1, self.dim), &mut *gradient).expect("nuts-rs grad length");
        let mut e = [0.0];
        self.energy.energy_grad(y, &mut e, g);
        let logp = -self.beta * e[0];
        if !logp.is_finite() {
            return Err(NonFinite::Energy(e[0]));
        }
        // grad log p = -beta dE/dy, in place.
        let nb = -self.beta;
        let mut finite = true;
        for g in gradient.iter_mut() {
            *g *= nb;
            finite &= g.is_finite();
        }
        if !finite {
            return Err(NonFinite::Gradient);
        }
        Ok(logp)
    }

    fn expand_vector<R: nuts_rs::rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        _array: &[f64],
    ) -> std::result::Result<(), CpuMathError> {
        Ok(())
    }
}

/// The random stream of chain `chain` under `seed`: its initial point is drawn from it,
/// then nuts-rs seeds the chain's own generator from it.
pub fn chain_rng(seed: u64, chain: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&chain.to_le_bytes());
    key[16..24].copy_from_slice(b"ebm-nuts");
    ChaCha8Rng::from_seed(key)
}

/// What one chain reports besides its draws.
struct ChainSummary {
    diverging: usize,
    grad_evals: u64,
    step_size: f64,
    depth_sum: u64,
    accept_sum: f64,
    /// This chain's row of the per-draw statistics (`[1, draws]` each).
    stats: crate::diagnostics::DrawStats,
}

/// Draws from `exp(-beta E)` with NUTS (nuts-rs), `cfg.chains` chains in parallel.
///
/// Errors: invalid settings or initial position, an initial point where the energy or its
/// gradient is not finite, or a failure nuts-rs cannot recover from.
pub fn sample_nuts(energy: &dyn Energy, cfg: &NutsConfig) -> Result<NutsTrace> {
    use rayon::prelude::*;
    cfg.validate(energy)?;
    let dim = energy.dim();
    let mut draws = Array3::<f64>::zeros((cfg.chains, cfg.draws as usize, dim));
    let summaries: Vec<Result<ChainSummary>> = if cfg.chains == 1 {
        vec![run_chain(energy, cfg, 0, draws.view_mut())]
    } else {
        draws
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .map(|(c, out)| run_chain(energy, cfg, c as u64, out.insert_axis(Axis(0))))
            .collect()
    };
    let summaries = summaries.into_iter().collect::<Result<Vec<_>>>()?;
    let kept = (cfg.chains as u64 * cfg.draws) as f64;
    let stats = stack_stats(summaries.iter().map(|s| &s.stats));
    Ok(NutsTrace {
        draws,
        diverging: summaries.iter().map(|s| s.diverging).collect(),
        grad_evals: summaries.iter().map(|s| s.grad_evals).sum(),
        step_size: summaries.iter().map(|s| s.step_size).collect(),
        mean_tree_depth: summaries.iter().map(|s| s.depth_sum).sum::<u64>() as f64 / kept,
        acceptance: summaries.iter().map(|s| s.accept_sum).sum::<f64>() / kept,
        stats,
    })
}

/// The chains' `[1, draws]` statistics stacked into `[chains, draws]`.
fn stack_stats<'a>(
    rows: impl Iterator<Item = &'a crate::diagnostics::DrawStats> + Clone,
) -> crate::diagnostics::DrawStats {
    use crate::diagnostics::DrawStats;
    use ndarray::Array2;
    // Every chain has each optional statistic or none does (they all run NUTS).
    fn stack<'a, T: Clone + 'a>(
        rows: impl Iterator<Item = &'a DrawStats>,
        field: impl Fn(&'a DrawStats) -> Option<&'a Array2<T>>,
    ) -> Option<Array2<T>> {
        let parts = rows
            .map(|r| field(r).map(|a| a.view()))
            .collect::<Option<Vec<_>>>()?;
        Some(ndarray::concatenate(Axis(0), &parts).expect("rows of equal length"))
    }
    DrawStats {
        lp: stack(rows.clone(), |r| Some(&r.lp)).expect("always there"),
        acceptance_rate: stack(rows.clone(), |r| Some(&r.acceptance_rate)).expect("always there"),
        diverging: stack(rows.clone(), |r| Some(&r.diverging)).expect("always there"),
        step_size: stack(rows.clone(), |r| Some(&r.step_size)).expect("always there"),
        n_steps: stack(rows.clone(), |r| Some(&r.n_steps)).expect("always there"),
        tree_depth: stack(rows.clone(), |r| r.tree_depth.as_ref()),
        energy: stack(rows.clone(), |r| r.energy.as_ref()),
        energy_error: stack(rows, |r| r.energy_error.as_ref()),
    }
}

/// The initial point of a chain: the given one, or a uniform jitter redrawn until the
/// energy and its gradient are finite and the gradient has no zero coordinate (100 tries).
fn initial_position(
    energy: &dyn Energy,
    cfg: &NutsConfig,
    rng: &mut ChaCha8Rng,
    evals: &Cell<u64>,
) -> Result<Vec<f64>> {
    let dim = energy.dim();
    let mut logp = EnergyLogp::new(energy, cfg.beta, evals);
    let mut grad = vec![0.0; dim];
    // nuts-rs starts its mass matrix from 1 / |gradient|: every coordinate must be
    // finite and non-zero (a point exactly at a mode is refused).
    let mut check = |y: &[f64]| match logp.logp(y, &mut grad) {
        Err(e) => Err(e.to_string()),
        Ok(_) => match grad.iter().position(|g| *g == 0.0) {
            Some(i) => Err(format!(
                "energy gradient coordinate {i} is 0 (nuts-rs needs a non-zero gradient to start)"
            )),
            None => Ok(()),
        },
    };
    match &cfg.init {
        Init::At(y) => match check(y) {
            Ok(()) => Ok(y.clone()),
            Err(e) => Err(Error::invalid(
                "nuts init",
                format!("{e} at the given initial position"),
            )),
        },
        Init::Uniform { radius } => {
            let r = *radius;
            let mut y = vec![0.0; dim];
            let mut last = String::new();
            for _ in 0..100 {
                for v in y.iter_mut() {
                    *v = rng.random_range(-r..=r);
                }
                match check(&y) {
                    Ok(()) => return Ok(y),
                    Err(e) => last = e,
                }
            }
            Err(Error::invalid(
                "nuts init",
                format!("{last} at 100 uniform draws in [-{r}, {r}]^{dim}; give Init::At"),
            ))
        }
    }
}

/// The first line of an error's message: nuts-rs errors may carry a backtrace after it.
fn first_line(e: &dyn std::fmt::Display) -> String {
    let msg = format!("{e:#}");
    msg.lines().next().unwrap_or_default().to_string()
}

/// One chain: warm-up, then `cfg.draws` draws written into `out: [1, draws, dim]`.
fn run_chain(
    energy: &dyn Energy,
    cfg: &NutsConfig,
    chain: u64,
    mut out: ArrayViewMut3<f64>,
) -> Result<ChainSummary> {
    let mut rng = chain_rng(cfg.seed, chain);
    let evals = Cell::new(0u64);
    let init = initial_position(energy, cfg, &mut rng, &evals)?;
    let math = CpuMath::new(EnergyLogp::new(energy, cfg.beta, &evals));
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::Diverged(format!(
            "NUTS chain {chain} ({}): {what}: {}",
            energy.name(),
            first_line(e)
        ))
    };
    let mut sampler = cfg
        .settings()
        .new_chain(chain, math, &mut rng)
        .map_err(|e| Error::invalid("nuts config", first_line(&e)))?;
    sampler
        .set_position(&init)
        .map_err(|e| fail("initial point", &e))?;
    for _ in 0..cfg.warmup {
        sampler.draw().map_err(|e| fail("warm-up", &e))?;
    }
    let mut s = ChainSummary {
        diverging: 0,
        grad_evals: 0,
        step_size: f64::NAN,
        depth_sum: 0,
        accept_sum: 0.0,
        stats: crate::diagnostics::DrawStats::zeros(1, cfg.draws as usize, true),
    };
    for (n, mut row) in out
        .index_axis_mut(Axis(0), 0)
        .rows_mut()
        .into_iter()
        .enumerate()
    {
        // The stats' fields are read directly: nuts-rs's generic `Storable::get_all`
        // would allocate names and values for every stat on every draw (measured 16% of
        // a T1 run).
        let (position, _, stats, progress) =
            sampler.expanded_draw().map_err(|e| fail("draw", &e))?;
        row.as_slice_mut()
            .expect("fresh array rows are contiguous")
            .copy_from_slice(&position);
        s.diverging += progress.diverging as usize;
        s.step_size = progress.step_size;
        s.depth_sum += stats.depth;
        s.accept_sum += stats.adapt.step_size.mean_tree_accept;
        let d = &mut s.stats;
        d.lp[[0, n]] = stats.point.logp;
        d.acceptance_rate[[0, n]] = stats.adapt.step_size.mean_tree_accept;
        d.diverging[[0, n]] = progress.diverging;
        d.step_size[[0, n]] = progress.step_size;
        d.n_steps[[0, n]] = progress.num_steps;
        let set = |a: &mut Option<ndarray::Array2<f64>>, v: f64| {
            if let Some(a) = a {
                a[[0, n]] = v;
            }
        };
        set(&mut d.energy, stats.point.energy);
        set(&mut d.energy_error, stats.point.energy_error);
        if let Some(t) = &mut d.tree_depth {
            t[[0, n]] = stats.depth;
        }
    }
    s.grad_evals = evals.get();
    Ok(s)
}
