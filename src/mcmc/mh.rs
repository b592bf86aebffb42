//! Metropolis-Hastings with symmetric proposals: accept `y'` with probability
//! `min(1, exp(-beta (E(y') - E(y))))`.
//!
//! - [`RandomWalk`]: `y' = y + s xi`, `xi ~ N(0, diag(M^{-1}))` (Gaussian random walk).
//! - [`BitFlip`]: binary `y in {0, 1}^d`; `y'` flips one coordinate chosen uniformly.

use super::integrator::inverse_mass;
use super::metropolis::{Verdict, commit};
use super::{CHAIN_BLOCK, DIVERGENCE_THRESHOLD, Info, Kernel, Rng, State, validate};
use crate::Result;
use crate::energy::Energy;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Gaussian random-walk Metropolis.
#[derive(Clone, Debug)]
pub struct RandomWalk {
    /// Proposal standard deviation `s`.
    pub step_size: f64,
    pub beta: f64,
    /// Diagonal proposal covariance scale (empty: identity).
    pub inv_mass: Vec<f64>,
}

impl RandomWalk {
    pub fn new(step_size: f64, beta: f64) -> Result<Self> {
        validate(step_size, beta)?;
        Ok(RandomWalk {
            step_size,
            beta,
            inv_mass: Vec::new(),
        })
    }
}

/// Propose with `propose(x_row, xp_row, rng)`, evaluate the energy, accept per chain.
fn metropolis(
    energy: &dyn Energy,
    state: &mut State,
    rng: &mut Rng,
    info: &mut Info,
    beta: f64,
    propose: impl Fn(&[f64], &mut [f64], &mut Rng) + Sync,
) {
    let (n, d) = state.position.dim();
    state.prepare(rng, false);
    info.reset(n);
    let block = CHAIN_BLOCK * d;
    {
        let x = state.position.as_slice().expect("standard layout");
        let s = &mut state.scratch;
        let xp = s.proposal.as_slice_mut().expect("standard layout");
        xp.par_chunks_mut(block)
            .zip(x.par_chunks(block))
            .zip(s.rngs.par_iter_mut())
            .for_each(|((xp, x), r)| {
                for (xp, x) in xp.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
                    propose(x, xp, r);
                }
            });
    }
    let s = &mut state.scratch;
    energy.energy(s.proposal.view(), &mut s.energy);
    state.has_grad = false;
    commit(state, info, false, |c| {
        let de = beta * (c.ep - c.e);
        if !c.ep.is_finite() || de > DIVERGENCE_THRESHOLD {
            Verdict::Divergent
        } else {
            Verdict::LogAlpha(-de)
        }
    });
}

impl Kernel for RandomWalk {
    fn name(&self) -> &'static str {
        "mh"
    }
    fn beta(&self) -> f64 {
        self.beta
    }
    fn set_beta(&mut self, beta: f64) {
        self.beta = beta;
    }
    fn step_size(&self) -> f64 {
        self.step_size
    }
    fn set_step_size(&mut self, step: f64) {
        self.step_size = step;
    }
    fn target_accept(&self) -> Option<f64> {
        // Roberts, Gelman and Gilks (1997): 0.234 in high dimension.
        Some(0.234)
    }
    fn needs_grad(&self) -> bool {
        false
    }
    fn uses_mass(&self) -> bool {
        true
    }
    fn set_inverse_mass(&mut self, inv_mass: &[f64]) {
        self.inv_mass = inv_mass.to_vec();
    }
    fn inverse_mass(&self) -> Option<Vec<f64>> {
        (!self.inv_mass.is_empty()).then(|| self.inv_mass.clone())
    }
    fn step(
        &self,
        energy: &dyn Energy,
        state: &mut State,
        rng: &mut Rng,
        info: &mut Info,
    ) -> Result<()> {
        validate(self.step_size, self.beta)?;
        let d = state.dim();
        let m = inverse_mass(&self.inv_mass, d, "random-walk")?;
        let scale: Vec<f64> = m.iter().map(|m| self.step_size * m.sqrt()).collect();
        metropolis(energy, state, rng, info, self.beta, |x, xp, r| {
            for ((xp, x), s) in xp.iter_mut().zip(x).zip(&scale) {
                let z: f64 = StandardNormal.sample(r);
                *xp = x + s * z;
            }
        });
        Ok(())
    }
}

/// Single-site Metropolis on `{0, 1}^d`: flip one uniformly chosen coordinate.
#[derive(Clone, Debug)]
pub struct BitFlip {
    pub beta: f64,
}

impl BitFlip {
    pub fn new(beta: f64) -> Result<Self> {
        crate::energy::validate_beta(beta)?;
        Ok(BitFlip { beta })
    }
}

impl Kernel for BitFlip {
    fn name(&self) -> &'static str {
        "bitflip"
    }
    fn beta(&self) -> f64 {
        self.beta
    }
    fn set_beta(&mut self, beta: f64) {
        self.beta = beta;
    }
    fn step_size(&self) -> f64 {
        1.0
    }
    fn set_step_size(&mut self, _step: f64) {}
    fn target_accept(&self) -> Option<f64> {
        None
    }
    fn needs_grad(&self) -> bool {
        false
    }
    fn step(
        &self,
        energy: &dyn Energy,
        state: &mut State,
        rng: &mut Rng,
        info: &mut Info,
    ) -> Result<()> {
        crate::energy::validate_beta(self.beta)?;
        let d = state.dim();
        metropolis(energy, state, rng, info, self.beta, |x, xp, r| {
            xp.copy_from_slice(x);
            let j = r.gen_range(0..d);
            xp[j] = 1.0 - xp[j];
        });
        Ok(())
    }
}
