//! An MCMC run as `ebm sample` makes it: the draws `[chains, draws, dim]` of an energy's
//! Gibbs distribution `exp(-beta E(y)) / Z` from NUTS ([`run_nuts`]) or from one of the
//! kernels of [`crate::mcmc`] ([`run_kernel`], chains started from `N(0, s^2 I)`), their
//! diagnostics (rank-normalized R-hat, bulk/tail ESS, MCSE: [`SamplingRun::summary`])
//! and their files (`.npy` or CSV, a scatter plot in 2-D).

use crate::diagnostics::{DrawStats, SamplerStats, Summary, summarize};
use crate::energy::Energy;
use crate::mcmc::{self, Kernel, KernelName, Rng, SampleConfig};
use crate::nuts::{NutsConfig, sample_nuts};
use crate::{Error, Result};
use ndarray::{Array2, Array3, Axis};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;

/// What a run produced, whichever sampler made it.
#[derive(Clone, Debug)]
pub struct SamplingRun {
    /// The sampler's short name (`nuts`, `hmc`, `mala`, ...).
    pub name: &'static str,
    /// `[chains, draws, dim]`.
    pub draws: Array3<f64>,
    /// Acceptance, divergences and gradient evaluations (all chains).
    pub stats: SamplerStats,
    /// The (adapted) step size, averaged over the chains for NUTS.
    pub step_size: f64,
    /// Seconds of warm-up and of draws (NUTS: all in the second).
    pub seconds: (f64, f64),
    /// Per-draw statistics in ArviZ's `sample_stats` names.
    pub draw_stats: DrawStats,
}

/// NUTS (nuts-rs) with the settings `cfg`.
pub fn run_nuts(energy: &dyn Energy, cfg: &NutsConfig) -> Result<SamplingRun> {
    mcmc::check_memory(cfg.chains, cfg.draws as usize, 1, energy.dim())?;
    let t = std::time::Instant::now();
    let tr = sample_nuts(energy, cfg)?;
    Ok(SamplingRun {
        name: "nuts",
        stats: SamplerStats {
            acceptance: tr.acceptance,
            divergences: tr.diverging.iter().sum(),
            grad_evals: tr.grad_evals,
        },
        draws: tr.draws,
        step_size: tr.step_size.iter().sum::<f64>() / cfg.chains.max(1) as f64,
        seconds: (0.0, t.elapsed().as_secs_f64()),
        draw_stats: tr.stats,
    })
}

/// `chains` chains of `kernel`, started from `N(0, init_scale^2 I)` (drawn from a stream
/// seeded with `cfg.seed ^ 0x1417`).
pub fn run_kernel(
    kernel: &mut dyn Kernel,
    energy: &dyn Energy,
    chains: usize,
    init_scale: f64,
    cfg: &SampleConfig,
) -> Result<SamplingRun> {
    mcmc::check_memory(chains, cfg.draws, cfg.thin, energy.dim())?;
    let mut rng = Rng::seed_from_u64(cfg.seed ^ 0x1417);
    let init = Array2::from_shape_simple_fn((chains, energy.dim()), || {
        let z: f64 = StandardNormal.sample(&mut rng);
        init_scale * z
    }); // [chains, dim]
    let tr = mcmc::sample(kernel, energy, init, cfg)?;
    Ok(SamplingRun {
        name: kernel.name(),
        stats: SamplerStats {
            acceptance: tr.acceptance,
            divergences: tr.divergences,
            grad_evals: tr.grad_evals * chains as u64,
        },
        draws: tr.draws,
        step_size: tr.step_size,
        seconds: (tr.seconds_warmup, tr.seconds_draws),
        draw_stats: tr.stats,
    })
}

impl SamplingRun {
    /// One [`Summary`] per coordinate, named `y[0]`, `y[1]`, ...
    pub fn summary(&self) -> Result<Vec<Summary>> {
        let names: Vec<String> = (0..self.draws.len_of(Axis(2)))
            .map(|j| format!("y[{j}]"))
            .collect();
        summarize(self.draws.view(), &names)
    }

    /// The draws to `path`: CSV if it ends in `.csv` ([`write_csv`]), else `.npy`
    /// ([`write_npy`]).
    pub fn write_draws(&self, path: &Path) -> Result<()> {
        if path.extension().is_some_and(|e| e == "csv") {
            write_csv(path, &self.draws)
        } else {
            write_npy(path, &self.draws)
        }
    }

    /// A scatter plot of all draws of a 2-D target, titled `title`.
    pub fn write_scatter(&self, path: &Path, title: &str) -> Result<()> {
        let (c, n, d) = self.draws.dim();
        let flat = self
            .draws
            .view()
            .into_shape_with_order((c * n, d))
            .map_err(|e| Error::invalid("draws", e.to_string()))?; // [chains * draws, 2]
        crate::plot::scatter(
            path,
            title,
            &flat.column(0).to_vec(),
            &flat.column(1).to_vec(),
        )
    }
}

/// The largest R-hat and the smallest bulk ESS over `rows`.
pub fn worst(rows: &[Summary]) -> (f64, f64) {
    let rhat = rows
        .iter()
        .map(|r| r.rhat)
        .fold(f64::NEG_INFINITY, f64::max);
    let ess = rows
        .iter()
        .map(|r| r.ess_bulk)
        .fold(f64::INFINITY, f64::min);
    (rhat, ess)
}

/// When not to trust the draws, as Stan and ArviZ say it: a warning with advice when
/// the largest rank-normalized R-hat is above 1.01, the smallest bulk or tail ESS is
/// below 100 per chain, or any transition diverged. Empty when all is well.
pub fn warnings(rows: &[Summary], chains: usize, divergences: usize) -> Vec<String> {
    let mut out = Vec::new();
    let (rhat, ess) = worst(rows);
    if rhat > 1.01 || rhat.is_nan() {
        out.push(format!(
            "R-hat up to {rhat:.3} (> 1.01): the chains have not mixed; run more warm-up and draws (--warmup, --draws) or reparameterize"
        ));
    }
    let need = 100.0 * chains.max(1) as f64;
    let tail = rows
        .iter()
        .map(|r| r.ess_tail)
        .fold(f64::INFINITY, f64::min);
    if ess < need || tail < need || ess.is_nan() || tail.is_nan() {
        out.push(format!(
            "bulk ESS down to {ess:.0}, tail ESS down to {tail:.0} (< 100 per chain = {need:.0}): means and quantiles are unreliable; draw more (--draws) or use a kernel that moves further (nuts, hmc)"
        ));
    }
    if divergences > 0 {
        out.push(format!(
            "{divergences} divergent transitions: the step size is too large for the curvature somewhere, so the draws may miss a region; raise --target-accept (e.g. 0.95), warm up longer, or reparameterize (e.g. the funnel non-centred)"
        ));
    }
    out
}

/// Stan's energy warning: chains whose BFMI ([`DrawStats::bfmi`], NUTS only) is below
/// 0.3, where momentum resampling cannot move the chain across the energy levels the
/// posterior spans (Betancourt 2016), typically a funnel's neck.
pub fn bfmi_warning(stats: &DrawStats) -> Option<String> {
    let b = stats.bfmi()?;
    let low: Vec<String> = b
        .iter()
        .enumerate()
        .filter(|(_, v)| **v < 0.3 || v.is_nan())
        .map(|(c, v)| format!("chain {c}: {v:.2}"))
        .collect();
    (!low.is_empty()).then(|| {
        format!(
            "E-BFMI below 0.3 ({}): the sampler explores the energy levels poorly, so tails may be missed; reparameterize (e.g. non-centred)",
            low.join(", ")
        )
    })
}

/// `.npy` (float64 `[chains, draws, dim]`) through `ndarray-npy`, written atomically.
pub fn write_npy(path: &Path, draws: &Array3<f64>) -> Result<()> {
    let mut buf = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(draws, &mut buf)
        .map_err(|e| Error::invalid("draws.npy", e.to_string()))?;
    crate::io::write_atomic(path, &buf)
}

/// CSV with a header `chain,draw,y0,...` and one row per draw, written atomically.
pub fn write_csv(path: &Path, draws: &Array3<f64>) -> Result<()> {
    use std::fmt::Write;
    let (c, _, d) = draws.dim();
    let mut s = String::from("chain,draw");
    for j in 0..d {
        let _ = write!(s, ",y{j}");
    }
    s.push('\n');
    for ci in 0..c {
        for (t, row) in draws.index_axis(Axis(0), ci).rows().into_iter().enumerate() {
            let _ = write!(s, "{ci},{t}");
            for v in row {
                let _ = write!(s, ",{v}");
            }
            s.push('\n');
        }
    }
    crate::io::write_atomic(path, s.as_bytes())
}

/// The samplers of `ebm sample`: the batched kernels of [`crate::mcmc`] and NUTS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplerName {
    /// Gaussian random-walk Metropolis-Hastings.
    Mh,
    /// Unadjusted Langevin (no step adaptation: biased by O(step)).
    Ula,
    /// Metropolis-adjusted Langevin.
    Mala,
    /// HMC with --leapfrog steps, adapted step size and diagonal mass.
    Hmc,
    /// Generalized HMC: --leapfrog steps per transition, the momentum kept between
    /// transitions and partly redrawn (persistence 0.9), adapted step and mass.
    Ghmc,
    /// NUTS (nuts-rs): adapted step size and diagonal mass, no step count to choose.
    Nuts,
}

/// One sampling run's settings, whichever sampler (`ebm sample`'s flags).
#[derive(clap::Args, Clone, Debug)]
pub struct SamplerSpec {
    /// Transition kernel: mh, ula, mala, hmc, ghmc or nuts (any case).
    #[arg(long, value_enum, default_value = "hmc")]
    pub kernel: SamplerName,
    /// Independent chains (R-hat compares them; 4 or more); >= 1.
    #[arg(long, default_value_t = 4)]
    pub chains: usize,
    /// Warm-up transitions per chain (adaptation; not kept).
    #[arg(long, default_value_t = 1000)]
    pub warmup: usize,
    /// Kept draws per chain (after --thin).
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    /// Keep every N-th transition (NUTS keeps every one); >= 1; 0 counts as 1.
    #[arg(long, default_value_t = 1)]
    pub thin: usize,
    /// Initial step size (adapted during warm-up except for ULA); > 0, finite.
    #[arg(long, default_value_t = 0.1)]
    pub step_size: f64,
    /// Leapfrog steps per HMC or GHMC transition, 1..=1024.
    #[arg(long, default_value_t = 10)]
    pub leapfrog: usize,
    /// Inverse temperature: the chains sample exp(-beta E); > 0, finite.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Chains start from N(0, s^2 I); > 0.
    #[arg(long, default_value_t = 1.0)]
    pub init_scale: f64,
    /// NUTS only: target acceptance of the step-size adaptation, in (0, 1) (raise it,
    /// e.g. 0.95, when divergences are reported; HMC and MALA adapt to 0.8 and 0.57).
    #[arg(long, default_value_t = 0.8)]
    pub target_accept: f64,
}

impl SamplerSpec {
    /// The settings' ranges that the samplers do not check themselves.
    pub fn check(&self) -> Result<()> {
        if !(self.target_accept > 0.0 && self.target_accept < 1.0) {
            return Err(Error::invalid(
                "--target-accept",
                format!("{} (must be in (0, 1))", self.target_accept),
            ));
        }
        if self.target_accept != 0.8 && self.kernel != SamplerName::Nuts {
            return Err(Error::invalid(
                "--target-accept",
                format!(
                    "only NUTS takes it (the {:?} kernel adapts to its own target)",
                    self.kernel
                ),
            ));
        }
        if !(self.init_scale.is_finite() && self.init_scale > 0.0) {
            return Err(Error::invalid(
                "--init-scale",
                format!("{} (must be > 0)", self.init_scale),
            ));
        }
        Ok(())
    }

    /// The draws of `energy`'s Gibbs distribution, seeded with `seed` (the settings
    /// checked first).
    pub fn run(&self, energy: &dyn Energy, seed: u64) -> Result<SamplingRun> {
        self.check()?;
        let kernel = match self.kernel {
            SamplerName::Nuts => {
                if self.thin != 1 {
                    return Err(Error::invalid(
                        "--thin",
                        "NUTS keeps every draw (use --thin 1)",
                    ));
                }
                let cfg = NutsConfig {
                    warmup: self.warmup as u64,
                    draws: self.draws as u64,
                    chains: self.chains,
                    target_accept: self.target_accept,
                    beta: self.beta,
                    seed,
                    ..NutsConfig::default()
                };
                return run_nuts(energy, &cfg);
            }
            SamplerName::Mh => KernelName::Mh,
            SamplerName::Ula => KernelName::Ula,
            SamplerName::Mala => KernelName::Mala,
            SamplerName::Hmc => KernelName::Hmc,
            SamplerName::Ghmc => KernelName::Ghmc,
        };
        let mut kernel = kernel.build(self.step_size, self.leapfrog, self.beta)?;
        let cfg = SampleConfig {
            warmup: self.warmup,
            draws: self.draws,
            thin: self.thin,
            seed,
            progress: true,
            ..SampleConfig::default()
        };
        run_kernel(kernel.as_mut(), energy, self.chains, self.init_scale, &cfg)
    }
}
