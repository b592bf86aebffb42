//! MCMC kernels on batches of chains: sampling the Gibbs distribution
//! `p_beta(y) = exp(-beta E(y)) / Z_beta` of any [`Energy`] (SPEC section 2: the NLL
//! gradient needs samples `y^ ~ P_w(y)`).
//!
//! In the style of BlackJAX: a [`State`] caches the positions of all chains
//! (`[chains, dim]`), their energies and `dE/dy`; a [`Kernel`] makes one transition of
//! every chain with one batched energy/gradient call per step (HMC: one per leapfrog
//! step) and fills an [`Info`] (acceptance probability, accepted, divergent, gradient
//! evaluations). Every kernel leaves `p_beta` invariant through a Metropolis-Hastings
//! correction `alpha = min(1, p(y') q(y | y') / (p(y) q(y' | y)))`, except the
//! unadjusted Langevin kernel (biased by O(step)).
//!
//! - [`RandomWalk`]: `y' = y + s xi`.
//! - [`Langevin`]: `y' = y - eps beta M^{-1} dE/dy + sqrt(2 eps M^{-1}) xi`, adjusted
//!   (MALA) or not (ULA).
//! - [`Hmc`]: leapfrog on `H(y, p) = beta E(y) + p^T M^{-1} p / 2`.
//! - [`GeneralizedHmc`]: HMC whose momentum is carried between transitions and only
//!   partly redrawn (Horowitz 1991).
//! - [`BitFlip`]: single-site Metropolis on binary vectors.
//! - [`BlockGibbs`]: exact conditionals of blocks of binary units (the RBM's sampler).
//! - [`ReplayBuffer`]: persistent chains with a fraction restarted from noise.
//! - [`ais`]: annealed importance sampling, one loop over any path of energies.
//! - [`Tempering`]: a kernel run along a schedule of betas, with the AIS weights.
//! - [`sample`]: warm-up (dual averaging of the step size, windowed diagonal mass
//!   matrix as in Stan) then draws, into a [`Trace`].
//!
//! Random numbers: each step hands every block of [`CHAIN_BLOCK`] chains its own
//! stream seeded from the caller's generator, so chains run in parallel and the draws do
//! not depend on the number of threads.
//!
//! Non-finite energies or gradients at a proposal are rejections, flagged divergent;
//! they never enter the state.

mod adapt;
pub mod ais;
mod block_gibbs;
mod ghmc;
mod hmc;
mod integrator;
mod langevin;
mod metropolis;
mod mh;
mod replay;
mod tempering;

pub use adapt::{DualAveraging, WarmupSchedule, WelfordVariance};
pub use block_gibbs::{BinaryBlocks, BlockGibbs, BlockState};
pub use ghmc::GeneralizedHmc;
pub use hmc::{Hmc, MAX_LEAPFROG};
pub use langevin::Langevin;
pub use mh::{BitFlip, RandomWalk};
pub use replay::{Noise, ReplayBuffer};
pub use tempering::{Tempering, TemperingResult};

use crate::energy::Energy;
use crate::{Error, Result};
use ndarray::{Array2, Array3, ArrayView2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator every sampler takes.
pub type Rng = Xoshiro256PlusPlus;

/// The batched transition kernels by name: what `ebm sample --kernel` and the
/// contrastive trainer's negatives (`ebm train toy --kernel`) offer. A new kernel is its
/// file and one line here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelName {
    /// Gaussian random-walk Metropolis-Hastings ([`RandomWalk`]).
    Mh,
    /// Unadjusted Langevin ([`Langevin::ula`]).
    Ula,
    /// Metropolis-adjusted Langevin ([`Langevin::mala`]).
    Mala,
    /// Hamiltonian Monte Carlo with a fixed number of leapfrog steps ([`Hmc`]).
    Hmc,
    /// Generalized HMC: partial momentum refresh, persistence 0.9 ([`GeneralizedHmc`]).
    Ghmc,
}

impl KernelName {
    /// Every name, in the order `--help` lists them.
    pub const ALL: [KernelName; 5] = [
        KernelName::Mh,
        KernelName::Ula,
        KernelName::Mala,
        KernelName::Hmc,
        KernelName::Ghmc,
    ];

    /// The short name (`mh`, `ula`, `mala`, `hmc`, `ghmc`).
    pub fn as_str(self) -> &'static str {
        match self {
            KernelName::Mh => "mh",
            KernelName::Ula => "ula",
            KernelName::Mala => "mala",
            KernelName::Hmc => "hmc",
            KernelName::Ghmc => "ghmc",
        }
    }

    /// The kernel named `name` (any case); the error lists the names, and for `nuts`
    /// says why it is not one of them.
    pub fn from_name(name: &str) -> Result<Self> {
        if name.eq_ignore_ascii_case("nuts") {
            return Err(Error::invalid(
                "kernel",
                "nuts is not a batched kernel: nuts-rs runs each chain alone with its own tree depth and adaptation, while a batched kernel makes one fixed-cost transition of the whole batch of chains (choose mh, ula, mala, hmc or ghmc)",
            ));
        }
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
                Error::invalid(
                    "kernel",
                    format!("unknown kernel '{name}' (choose {})", names.join(", ")),
                )
            })
    }

    /// The kernel at step size `step` (HMC: the leapfrog step, with `leapfrog` steps per
    /// transition; the others ignore it) and inverse temperature `beta`.
    pub fn build(self, step: f64, leapfrog: usize, beta: f64) -> Result<Box<dyn Kernel>> {
        Ok(match self {
            KernelName::Mh => Box::new(RandomWalk::new(step, beta)?),
            KernelName::Ula => Box::new(Langevin::ula(step, beta)?),
            KernelName::Mala => Box::new(Langevin::mala(step, beta)?),
            KernelName::Hmc => Box::new(Hmc::new(step, leapfrog, beta)?),
            KernelName::Ghmc => Box::new(GeneralizedHmc::new(step, leapfrog, beta)?),
        })
    }
}

/// Chains per parallel task, each with its own random stream.
pub const CHAIN_BLOCK: usize = 128;

/// Energy growth `beta (E' - E)` (HMC: of the Hamiltonian) beyond which a proposal is
/// called divergent, as in Stan and BlackJAX.
pub const DIVERGENCE_THRESHOLD: f64 = 1000.0;

/// Positions of a batch of chains with their cached energies and gradients.
#[derive(Clone, Debug)]
pub struct State {
    /// `[chains, dim]`.
    pub position: Array2<f64>,
    /// `E(y)` per chain (untempered: the kernel multiplies by its beta).
    pub energy: Vec<f64>,
    /// `dE/dy` per chain, `[chains, dim]`; zeros for gradient-free kernels.
    pub grad: Array2<f64>,
    /// Whether `grad` holds the gradient at `position`.
    pub has_grad: bool,
    pub(crate) scratch: Scratch,
}

/// Proposal buffers, made once per state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    pub proposal: Array2<f64>,
    pub energy: Vec<f64>,
    pub grad: Array2<f64>,
    pub momentum: Array2<f64>,
    /// The Hamiltonian at the start of an HMC trajectory, per chain.
    pub h0: Vec<f64>,
    /// The (jittered) HMC step of each chain in this transition.
    pub eps: Vec<f64>,
    pub rngs: Vec<Rng>,
    /// Generalized HMC's momentum, carried from one transition to the next (`[chains,
    /// dim]`), and whether it belongs to the current positions (cleared when the
    /// positions are edited: the next transition draws it afresh).
    pub kept_momentum: Array2<f64>,
    pub momentum_kept: bool,
}

impl State {
    /// Validates `position: [chains, dim]` against `energy` and caches `E` and `dE/dy`.
    pub fn new(energy: &dyn Energy, position: Array2<f64>) -> Result<State> {
        Self::build(energy, position, true)
    }

    /// Like [`State::new`] without the gradient (for gradient-free kernels).
    pub fn without_grad(energy: &dyn Energy, position: Array2<f64>) -> Result<State> {
        Self::build(energy, position, false)
    }

    fn build(energy: &dyn Energy, position: Array2<f64>, grad: bool) -> Result<State> {
        let (n, d) = position.dim();
        if n == 0 {
            return Err(Error::invalid("chains", "need at least one chain (got 0)"));
        }
        if d != energy.dim() {
            return Err(Error::Shape {
                what: format!("initial positions for energy '{}'", energy.name()),
                expected: vec![n, energy.dim()],
                found: vec![n, d],
            });
        }
        if let Some(k) = position.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "initial position",
                format!(
                    "chain {} coordinate {} is {}",
                    k / d,
                    k % d,
                    position[[k / d, k % d]]
                ),
            ));
        }
        let mut e = vec![0.0; n];
        let mut g = Array2::zeros((n, d));
        if grad {
            energy.energy_grad(position.view(), &mut e, g.view_mut());
        } else {
            energy.energy(position.view(), &mut e);
        }
        if let Some(i) = e.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "initial position",
                format!("energy of chain {i} is {} (must be finite)", e[i]),
            ));
        }
        if grad && let Some(k) = g.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "initial position",
                format!("gradient of chain {} is not finite", k / d),
            ));
        }
        Ok(State {
            position,
            energy: e,
            grad: g,
            has_grad: grad,
            scratch: Scratch::default(),
        })
    }

    pub fn chains(&self) -> usize {
        self.position.nrows()
    }

    pub fn dim(&self) -> usize {
        self.position.ncols()
    }

    /// Recompute the cached energies (and gradients) after the positions were edited
    /// in place (a replay buffer restarting chains, say).
    pub fn refresh(&mut self, energy: &dyn Energy, with_grad: bool) {
        self.scratch.momentum_kept = false;
        if with_grad {
            energy.energy_grad(self.position.view(), &mut self.energy, self.grad.view_mut());
        } else {
            energy.energy(self.position.view(), &mut self.energy);
        }
        self.has_grad = with_grad;
    }

    /// Sizes the proposal buffers and draws one seed per block of chains from `rng`.
    pub(crate) fn prepare(&mut self, rng: &mut Rng, momentum: bool) {
        use rand::RngCore;
        let (n, d) = self.position.dim();
        let s = &mut self.scratch;
        if s.proposal.dim() != (n, d) {
            s.proposal = Array2::zeros((n, d));
            s.grad = Array2::zeros((n, d));
            s.energy = vec![0.0; n];
        }
        if momentum && s.momentum.dim() != (n, d) {
            s.momentum = Array2::zeros((n, d));
            s.h0 = vec![0.0; n];
            s.eps = vec![0.0; n];
        }
        let blocks = n.div_ceil(CHAIN_BLOCK);
        s.rngs.clear();
        s.rngs
            .extend((0..blocks).map(|_| Rng::seed_from_u64(rng.next_u64())));
    }
}

/// What one transition did, per chain.
#[derive(Clone, Debug, Default)]
pub struct Info {
    /// `min(1, alpha)`: the Metropolis-Hastings acceptance probability (1 for ULA).
    pub acceptance: Vec<f64>,
    pub accepted: Vec<bool>,
    /// A non-finite or exploding energy at the proposal (always rejected).
    pub divergent: Vec<bool>,
    /// Gradient evaluations per chain in this step.
    pub grad_evals: u64,
}

impl Info {
    pub(crate) fn reset(&mut self, n: usize) {
        self.acceptance.clear();
        self.acceptance.resize(n, 0.0);
        self.accepted.clear();
        self.accepted.resize(n, false);
        self.divergent.clear();
        self.divergent.resize(n, false);
        self.grad_evals = 0;
    }

    pub fn mean_acceptance(&self) -> f64 {
        if self.acceptance.is_empty() {
            return 0.0;
        }
        self.acceptance.iter().sum::<f64>() / self.acceptance.len() as f64
    }

    pub fn divergences(&self) -> usize {
        self.divergent.iter().filter(|&&d| d).count()
    }
}

/// One MCMC transition for a batch of chains targeting `exp(-beta E)`.
pub trait Kernel: Send + Sync {
    /// A short name (`mh`, `mala`, `ula`, `hmc`, ...).
    fn name(&self) -> &'static str;
    fn beta(&self) -> f64;
    fn set_beta(&mut self, beta: f64);
    /// The step size that adaptation tunes.
    fn step_size(&self) -> f64;
    fn set_step_size(&mut self, step: f64);
    /// The acceptance rate step-size adaptation aims for (`None`: not adapted, e.g. ULA,
    /// which accepts everything).
    fn target_accept(&self) -> Option<f64>;
    /// Whether the kernel reads `State::grad`.
    fn needs_grad(&self) -> bool;
    /// Whether the kernel takes a diagonal inverse mass matrix (preconditioner).
    fn uses_mass(&self) -> bool {
        false
    }
    /// Set the diagonal inverse mass `M^{-1}` (ignored by kernels without one).
    fn set_inverse_mass(&mut self, _inv_mass: &[f64]) {}
    /// The diagonal inverse mass in use (kernels with one).
    fn inverse_mass(&self) -> Option<Vec<f64>> {
        None
    }
    /// One transition of every chain.
    fn step(
        &self,
        energy: &dyn Energy,
        state: &mut State,
        rng: &mut Rng,
        info: &mut Info,
    ) -> Result<()>;
}

/// Checks a step size (finite, > 0) and a beta.
pub(crate) fn validate(step: f64, beta: f64) -> Result<()> {
    if !(step.is_finite() && step > 0.0) {
        return Err(Error::invalid(
            "step size",
            format!("{step} (must be finite and > 0)"),
        ));
    }
    crate::energy::validate_beta(beta)
}

/// Accept or reject chain `i` from its log acceptance ratio (NaN counts as divergent).
#[inline]
pub(crate) fn accept_prob(log_alpha: f64) -> f64 {
    if log_alpha.is_nan() {
        0.0
    } else {
        log_alpha.min(0.0).exp()
    }
}

/// Settings of [`sample`].
#[derive(Clone, Debug)]
pub struct SampleConfig {
    /// Warm-up transitions (adaptation; not stored).
    pub warmup: usize,
    /// Stored draws per chain.
    pub draws: usize,
    /// Keep every `thin`-th transition.
    pub thin: usize,
    /// Tune the step size by dual averaging during warm-up.
    pub adapt_step_size: bool,
    /// Estimate a diagonal inverse mass matrix in Stan's windows (kernels that use one).
    pub adapt_mass: bool,
    pub seed: u64,
    /// Show a progress bar (stderr; a log line per interval off a terminal; nothing
    /// under `--quiet`) over the warm-up and the draws.
    pub progress: bool,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            warmup: 1000,
            draws: 1000,
            thin: 1,
            adapt_step_size: true,
            adapt_mass: true,
            seed: 0,
            progress: false,
        }
    }
}

/// Draws and statistics of one [`sample`] run.
#[derive(Clone, Debug)]
pub struct Trace {
    /// `[chains, draws, dim]`.
    pub draws: Array3<f64>,
    /// `E(y)` of every stored draw, `[chains, draws]`.
    pub energies: Array2<f64>,
    /// Mean acceptance probability over the stored transitions.
    pub acceptance: f64,
    /// Divergent transitions after warm-up (all chains).
    pub divergences: usize,
    /// Divergent transitions during warm-up.
    pub warmup_divergences: usize,
    /// Gradient evaluations per chain, warm-up included.
    pub grad_evals: u64,
    /// The step size after warm-up.
    pub step_size: f64,
    /// The diagonal inverse mass after warm-up (kernels that use one).
    pub inv_mass: Option<Vec<f64>>,
    /// Seconds for warm-up and for the draws.
    pub seconds_warmup: f64,
    pub seconds_draws: f64,
    /// Acceptance, divergence, step size, leapfrog steps and `-beta E` of every draw.
    pub stats: crate::diagnostics::DrawStats,
}

impl Trace {
    /// Draws of coordinate `j` as `[chains, draws]` (what the diagnostics take).
    pub fn coordinate(&self, j: usize) -> ArrayView2<'_, f64> {
        self.draws.index_axis(ndarray::Axis(2), j)
    }
}

/// Warm up `kernel` from `init: [chains, dim]` (step size by dual averaging to the
/// kernel's target acceptance; diagonal inverse mass from the pooled variance of the
/// chains in Stan's doubling windows), then store `draws` transitions per chain.
/// Refuse a run whose chains (positions, gradients, momenta and proposals: about 8
/// f64 per coordinate) and kept draws (`chains x draws / thin x dim` f64) do not fit
/// in memory; the error names `chains`/`draws`.
pub fn check_memory(chains: usize, draws: usize, thin: usize, dim: usize) -> Result<()> {
    let (c, d) = (chains as u64, dim as u64);
    let kept = (draws / thin.max(1)) as u64;
    crate::budget::check(
        "chains/draws",
        crate::budget::bytes(
            crate::budget::sum(&[
                c.checked_mul(d).and_then(|x| x.checked_mul(8)),
                // draws, and their five per-draw statistics
                c.checked_mul(kept).and_then(|x| x.checked_mul(d + 5)),
            ]),
            8,
        ),
        &format!("{chains} chains x {kept} kept draws x {dim} dimensions"),
    )
}

pub fn sample(
    kernel: &mut dyn Kernel,
    energy: &dyn Energy,
    init: Array2<f64>,
    cfg: &SampleConfig,
) -> Result<Trace> {
    if cfg.draws == 0 {
        return Err(Error::invalid("draws", "need at least one draw (got 0)"));
    }
    validate(kernel.step_size(), kernel.beta())?;
    check_memory(init.nrows(), cfg.draws, cfg.thin, init.ncols())?;
    let mut rng = Rng::seed_from_u64(cfg.seed);
    let mut state = if kernel.needs_grad() {
        State::new(energy, init)?
    } else {
        State::without_grad(energy, init)?
    };
    let (n, d) = state.position.dim();
    let mut info = Info::default();
    let t0 = std::time::Instant::now();
    let mut grad_evals = 0u64;
    let mut warmup_divergences = 0usize;

    // Warm-up.
    let schedule = WarmupSchedule::stan(cfg.warmup);
    let adapt_mass = cfg.adapt_mass && kernel.uses_mass();
    let target = kernel.target_accept();
    let adapt_step = cfg.adapt_step_size && target.is_some();
    if adapt_step && cfg.warmup > 0 {
        let eps = find_reasonable_step(kernel, energy, &state, &mut rng)?;
        kernel.set_step_size(eps);
    }
    let target = target.unwrap_or(0.8);
    let mut da = DualAveraging::new(kernel.step_size(), target);
    let mut welford = WelfordVariance::new(d);
    let total = (cfg.warmup + cfg.draws) as u64;
    let bar = cfg
        .progress
        .then(|| crate::progress::Progress::new(total, kernel.name()));
    // The message is refreshed about 100 times per run, not at every transition.
    let every = (total / 100).max(1);
    let tick = |t: u64, msg: &dyn Fn() -> String| {
        if let Some(b) = &bar {
            b.inc(1, t.is_multiple_of(every).then(msg));
        }
    };
    for t in 0..cfg.warmup {
        kernel.step(energy, &mut state, &mut rng, &mut info)?;
        tick(t as u64, &|| {
            format!(
                "warm-up, step {:.3e}, acceptance {:.2}",
                kernel.step_size(),
                info.mean_acceptance()
            )
        });
        grad_evals += info.grad_evals;
        warmup_divergences += info.divergences();
        if adapt_step {
            da.update(info.mean_acceptance());
            kernel.set_step_size(da.current());
        }
        if adapt_mass && schedule.in_slow_window(t) {
            for row in state.position.rows() {
                welford.push(row.as_slice().expect("standard layout"));
            }
            if schedule.ends_slow_window(t) {
                let inv_mass = welford.regularized_variance();
                kernel.set_inverse_mass(&inv_mass);
                welford = WelfordVariance::new(d);
                if adapt_step {
                    let eps = find_reasonable_step(kernel, energy, &state, &mut rng)?;
                    kernel.set_step_size(eps);
                    da = DualAveraging::new(eps, target);
                }
            }
        }
    }
    if adapt_step && cfg.warmup > 0 {
        kernel.set_step_size(da.final_step());
    }
    let seconds_warmup = t0.elapsed().as_secs_f64();

    // Draws.
    let t1 = std::time::Instant::now();
    let thin = cfg.thin.max(1);
    let mut draws = Array3::zeros((n, cfg.draws, d)); // [chains, draws, dim]
    let mut energies = Array2::zeros((n, cfg.draws)); // [chains, draws]
    let mut stats = crate::diagnostics::DrawStats::zeros(n, cfg.draws, false);
    let (mut acc, mut divergences, mut transitions) = (0.0, 0usize, 0usize);
    for s in 0..cfg.draws {
        for _ in 0..thin {
            kernel.step(energy, &mut state, &mut rng, &mut info)?;
            grad_evals += info.grad_evals;
            acc += info.mean_acceptance();
            divergences += info.divergences();
            transitions += 1;
            for c in 0..n {
                stats.acceptance_rate[[c, s]] += info.acceptance[c] / thin as f64;
                stats.diverging[[c, s]] |= info.divergent[c];
                stats.n_steps[[c, s]] += info.grad_evals;
            }
        }
        stats.step_size.column_mut(s).fill(kernel.step_size());
        let beta = kernel.beta();
        stats
            .lp
            .column_mut(s)
            .iter_mut()
            .zip(&state.energy)
            .for_each(|(o, &e)| *o = -beta * e);
        tick((cfg.warmup + s) as u64, &|| {
            format!(
                "draws, acceptance {:.2}, divergences {divergences}",
                acc / transitions as f64
            )
        });
        draws
            .index_axis_mut(ndarray::Axis(1), s)
            .assign(&state.position);
        energies
            .column_mut(s)
            .iter_mut()
            .zip(&state.energy)
            .for_each(|(o, &e)| *o = e);
    }
    if let Some(b) = &bar {
        b.finish();
    }
    Ok(Trace {
        draws,
        energies,
        acceptance: acc / transitions as f64,
        divergences,
        warmup_divergences,
        grad_evals,
        step_size: kernel.step_size(),
        inv_mass: kernel.inverse_mass(),
        seconds_warmup,
        seconds_draws: t1.elapsed().as_secs_f64(),
        stats,
    })
}

/// Stan's heuristic: double or halve the step from the current one until the mean
/// acceptance of one trial transition crosses 1/2 (on a copy of the state).
fn find_reasonable_step(
    kernel: &mut dyn Kernel,
    energy: &dyn Energy,
    state: &State,
    rng: &mut Rng,
) -> Result<f64> {
    let mut eps = kernel.step_size();
    let mut info = Info::default();
    let mut trial = state.clone();
    kernel.step(energy, &mut trial, rng, &mut info)?;
    let up = info.mean_acceptance() > 0.5;
    for _ in 0..50 {
        let next = if up { eps * 2.0 } else { eps * 0.5 };
        kernel.set_step_size(next);
        trial.clone_from(state);
        kernel.step(energy, &mut trial, rng, &mut info)?;
        let a = info.mean_acceptance();
        if (up && a < 0.5) || (!up && a > 0.5) {
            // Keep the last step on the good side of 1/2.
            let keep = if up { eps } else { next };
            kernel.set_step_size(keep);
            return Ok(keep);
        }
        eps = next;
    }
    kernel.set_step_size(eps);
    Ok(eps)
}
