//! Annealed importance sampling (Neal 2001), the one loop every estimator of `log Z` by
//! annealing runs. Particles start from `pi_{t_0}`; for each `t_k` of a schedule
//! `t_0, t_1, ..., t_K` (usually increasing):
//!
//! `log w += -(U_{t_k}(x) - U_{t_{k-1}}(x))` at the current particles, then transitions
//! that leave `pi_{t_k} = exp(-U_{t_k}) / Z_{t_k}` invariant,
//!
//! so that `log mean exp(log w)` estimates `log Z_{t_K} - log Z_{t_0}`. A path supplies
//! the particles, the increments and the transitions ([`AnnealingPath`]); the three in
//! ebm are the tempered energy `U_beta = beta E` moved by any batched kernel
//! ([`super::Tempering`]), the RBM's path from its base-rate model with block Gibbs
//! sweeps ([`crate::models::rbm::ais_log_z`]), and the geometric bridge from a Gaussian
//! to `exp(-beta E)` with Langevin moves ([`crate::partition::ais`]).

use super::Rng;
use crate::progress::Progress;
use crate::{Error, Result};

/// A path of distributions `pi_t = exp(-U_t) / Z_t` with its particles.
pub trait AnnealingPath {
    /// Add `-(U_{t1}(x_r) - U_{t0}(x_r))` to `log_w[r]` for every particle `r`.
    fn add_log_weights(&self, t0: f64, t1: f64, log_w: &mut [f64]);
    /// Move every particle by transitions that leave `pi_t` invariant.
    fn transition(&mut self, t: f64, rng: &mut Rng) -> Result<Moves>;
}

/// What the transitions at one `t` did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moves {
    /// Mean acceptance probability (1 for exact Gibbs sweeps; NaN for no transition).
    pub acceptance: f64,
    pub divergences: usize,
}

/// The log-weights and what the transitions did along the schedule.
#[derive(Clone, Debug)]
pub struct Annealed {
    /// One log-weight per particle.
    pub log_weights: Vec<f64>,
    /// Mean acceptance at each `t_k` after the first.
    pub acceptance: Vec<f64>,
    pub divergences: usize,
}

/// Anneal the `particles` of `path` along `schedule` (finite, at least two points), ticking `progress` by 100 every 100 temperatures. A log-weight that
/// becomes NaN stops the run with an error naming `t`.
pub fn anneal(
    path: &mut dyn AnnealingPath,
    schedule: &[f64],
    particles: usize,
    rng: &mut Rng,
    progress: Option<&Progress>,
) -> Result<Annealed> {
    if schedule.len() < 2 {
        return Err(Error::invalid(
            "annealing schedule",
            "need at least two temperatures",
        ));
    }
    if let Some(t) = schedule.iter().find(|t| !t.is_finite()) {
        return Err(Error::invalid(
            "annealing schedule",
            format!("{t} (must be finite)"),
        ));
    }
    let mut log_w = vec![0.0; particles];
    let mut acceptance = Vec::with_capacity(schedule.len() - 1);
    let mut divergences = 0;
    for k in 1..schedule.len() {
        let (t0, t) = (schedule[k - 1], schedule[k]);
        path.add_log_weights(t0, t, &mut log_w);
        if log_w.iter().any(|v| v.is_nan()) {
            return Err(Error::Diverged(format!(
                "AIS weights became NaN at t = {t}"
            )));
        }
        let m = path.transition(t, rng)?;
        acceptance.push(m.acceptance);
        divergences += m.divergences;
        if let Some(p) = progress
            && k % 100 == 0
        {
            p.inc(100, None);
        }
    }
    Ok(Annealed {
        log_weights: log_w,
        acceptance,
        divergences,
    })
}
