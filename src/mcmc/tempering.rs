//! Tempering: a kernel run along a schedule `beta_0 < beta_1 < ... < beta_K`, a few
//! transitions at each, with the annealed importance weights (Neal 2001)
//! `log w = sum_k -(beta_k - beta_{k-1}) E(y_{k-1})`, so that for chains started from
//! `p_{beta_0}`, `log mean exp(log w)` estimates `log Z_{beta_K} - log Z_{beta_0}`: the
//! tempered path of [`super::ais`].

use super::ais::{AnnealingPath, Moves, anneal};
use super::{Info, Kernel, Rng, State};
use crate::energy::Energy;
use crate::{Error, Result};

/// A schedule of inverse temperatures and the transitions per temperature.
#[derive(Clone, Debug)]
pub struct Tempering {
    pub betas: Vec<f64>,
    pub steps_per_beta: usize,
}

/// The AIS log-weights per chain and the acceptance at each temperature.
#[derive(Clone, Debug)]
pub struct TemperingResult {
    pub log_weights: Vec<f64>,
    /// Mean acceptance of the transitions at each beta after the first.
    pub acceptance: Vec<f64>,
    pub divergences: usize,
}

impl Tempering {
    /// Checks the schedule: at least two finite betas >= 0.
    pub fn new(betas: Vec<f64>, steps_per_beta: usize) -> Result<Self> {
        if betas.len() < 2 {
            return Err(Error::invalid(
                "tempering betas",
                "need at least two temperatures",
            ));
        }
        if let Some(b) = betas.iter().find(|b| !(b.is_finite() && **b >= 0.0)) {
            return Err(Error::invalid(
                "tempering betas",
                format!("{b} (must be finite and >= 0)"),
            ));
        }
        Ok(Tempering {
            betas,
            steps_per_beta,
        })
    }

    /// `k + 1` betas spaced geometrically from `b0 > 0` to `b1`.
    pub fn geometric(b0: f64, b1: f64, k: usize, steps_per_beta: usize) -> Result<Self> {
        if !(b0 > 0.0 && b1 > 0.0) || k == 0 {
            return Err(Error::invalid(
                "tempering betas",
                "geometric schedule needs b0, b1 > 0 and k >= 1",
            ));
        }
        let r = (b1 / b0).ln();
        let mut betas: Vec<f64> = (0..=k)
            .map(|i| b0 * (r * i as f64 / k as f64).exp())
            .collect();
        betas[k] = b1;
        Self::new(betas, steps_per_beta)
    }

    /// Anneal the chains of `state` (which should start distributed as `p_{beta_0}`),
    /// leaving `kernel` at the last beta: [`anneal`] along the betas, with
    /// `steps_per_beta` transitions of `kernel` at each.
    pub fn run(
        &self,
        kernel: &mut dyn Kernel,
        energy: &dyn Energy,
        state: &mut State,
        rng: &mut Rng,
    ) -> Result<TemperingResult> {
        let n = state.chains();
        let mut path = TemperedPath {
            kernel,
            energy,
            state,
            steps: self.steps_per_beta,
            info: Info::default(),
        };
        let a = anneal(&mut path, &self.betas, n, rng, None)?;
        Ok(TemperingResult {
            log_weights: a.log_weights,
            acceptance: a.acceptance,
            divergences: a.divergences,
        })
    }
}

/// `U_beta = beta E`, the chains moved by a kernel set to each beta. The state caches
/// the untempered `E`, so a change of beta costs no energy evaluation.
struct TemperedPath<'a> {
    kernel: &'a mut dyn Kernel,
    energy: &'a dyn Energy,
    state: &'a mut State,
    steps: usize,
    info: Info,
}

impl AnnealingPath for TemperedPath<'_> {
    fn add_log_weights(&self, b0: f64, b1: f64, log_w: &mut [f64]) {
        let db = b1 - b0;
        for (w, e) in log_w.iter_mut().zip(&self.state.energy) {
            *w -= db * e;
        }
    }
    fn transition(&mut self, beta: f64, rng: &mut Rng) -> Result<Moves> {
        self.kernel.set_beta(beta);
        let (mut acc, mut divergences) = (0.0, 0);
        for _ in 0..self.steps {
            self.kernel
                .step(self.energy, self.state, rng, &mut self.info)?;
            acc += self.info.mean_acceptance();
            divergences += self.info.divergences();
        }
        Ok(Moves {
            acceptance: acc / self.steps.max(1) as f64,
            divergences,
        })
    }
}
