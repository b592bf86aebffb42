//! Langevin kernels: the discretized Langevin diffusion as a proposal,
//! `y' = y - eps beta M^{-1} dE/dy(y) + sqrt(2 eps M^{-1}) xi`, `xi ~ N(0, I)`.
//!
//! ULA takes `y'` as is (biased by O(eps)); MALA (Roberts and Tweedie 1996) accepts it
//! with probability `min(1, exp(-beta (E(y') - E(y))) q(y | y') / q(y' | y))`, where
//! `log q(y' | y) = -sum_j (y'_j - y_j + eps beta m_j g_j(y))^2 / (4 eps m_j)` and
//! `m = diag(M^{-1})`.

use super::integrator::inverse_mass;
use super::metropolis::{Verdict, commit};
use super::{CHAIN_BLOCK, DIVERGENCE_THRESHOLD, Info, Kernel, Rng, State, validate};
use crate::Result;
use crate::energy::Energy;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Unadjusted (ULA) or Metropolis-adjusted (MALA) Langevin.
#[derive(Clone, Debug)]
pub struct Langevin {
    pub step_size: f64,
    pub beta: f64,
    /// MALA when true, ULA when false.
    pub adjusted: bool,
    /// Diagonal `M^{-1}` (empty: identity).
    pub inv_mass: Vec<f64>,
}

impl Langevin {
    /// MALA at step `eps` and inverse temperature `beta`.
    pub fn mala(step_size: f64, beta: f64) -> Result<Self> {
        validate(step_size, beta)?;
        Ok(Langevin {
            step_size,
            beta,
            adjusted: true,
            inv_mass: Vec::new(),
        })
    }

    /// ULA at step `eps` and inverse temperature `beta`.
    pub fn ula(step_size: f64, beta: f64) -> Result<Self> {
        validate(step_size, beta)?;
        Ok(Langevin {
            step_size,
            beta,
            adjusted: false,
            inv_mass: Vec::new(),
        })
    }
}

impl Kernel for Langevin {
    fn name(&self) -> &'static str {
        if self.adjusted { "mala" } else { "ula" }
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
        // Roberts and Rosenthal (1998): 0.574 is optimal for MALA in high dimension.
        self.adjusted.then_some(0.574)
    }
    fn needs_grad(&self) -> bool {
        true
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
        let (n, d) = state.position.dim();
        let m = inverse_mass(&self.inv_mass, d, "langevin")?;
        if !state.has_grad {
            state.refresh(energy, true);
        }
        state.prepare(rng, false);
        info.reset(n);
        info.grad_evals = 1;
        let (eps, beta) = (self.step_size, self.beta);
        let noise_scale: Vec<f64> = m.iter().map(|mj| (2.0 * eps * mj).sqrt()).collect();
        let block = CHAIN_BLOCK * d;

        // Proposals, block by block with the block's stream.
        {
            let x = state.position.as_slice().expect("standard layout");
            let g = state.grad.as_slice().expect("standard layout");
            let s = &mut state.scratch;
            let xp = s.proposal.as_slice_mut().expect("standard layout");
            xp.par_chunks_mut(block)
                .zip(x.par_chunks(block))
                .zip(g.par_chunks(block))
                .zip(s.rngs.par_iter_mut())
                .for_each(|(((xp, x), g), r)| {
                    for ((xp, x), g) in xp
                        .chunks_exact_mut(d)
                        .zip(x.chunks_exact(d))
                        .zip(g.chunks_exact(d))
                    {
                        for j in 0..d {
                            let z: f64 = StandardNormal.sample(r);
                            xp[j] = x[j] - eps * beta * m[j] * g[j] + noise_scale[j] * z;
                        }
                    }
                });
        }
        let s = &mut state.scratch;
        energy.energy_grad(s.proposal.view(), &mut s.energy, s.grad.view_mut());

        // Accept or reject per chain.
        let adjusted = self.adjusted;
        commit(state, info, true, |c| {
            let finite = c.ep.is_finite() && c.gp.iter().all(|v| v.is_finite());
            let de = beta * (c.ep - c.e);
            if !finite || de > DIVERGENCE_THRESHOLD {
                return Verdict::Divergent;
            }
            if !adjusted {
                return Verdict::Always;
            }
            // log q(y | y') - log q(y' | y).
            let mut back = 0.0;
            let mut fwd = 0.0;
            for j in 0..d {
                let b = c.x[j] - c.xp[j] + eps * beta * m[j] * c.gp[j];
                let f = c.xp[j] - c.x[j] + eps * beta * m[j] * c.g[j];
                back += b * b / m[j];
                fwd += f * f / m[j];
            }
            Verdict::LogAlpha(-de - (back - fwd) / (4.0 * eps))
        });
        Ok(())
    }
}
