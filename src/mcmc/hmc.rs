//! Hamiltonian Monte Carlo (Duane et al. 1987; Neal 2011): momenta `p ~ N(0, M)`,
//! `L` leapfrog steps of size `eps` on `H(y, p) = beta E(y) + p^T M^{-1} p / 2`:
//! `p <- p - eps/2 beta dE/dy`, `y <- y + eps M^{-1} p`, `p <- p - eps/2 beta dE/dy`,
//! then accept per chain with probability `min(1, exp(H(y, p) - H(y', p')))`.
//! A trajectory whose Hamiltonian grows by more than 1000 (or stops being finite) is
//! divergent and rejected.
//!
//! Each chain draws its step for the transition uniformly in `eps (1 +- jitter)`
//! (Neal 2011, section 5.4.2.2): with a fixed `eps L` near a period of the dynamics
//! (`2 pi` in the whitened coordinates of a Gaussian) the chains would return to
//! where they started and stop mixing.

use super::integrator::{hamiltonian_verdict, inverse_mass, leapfrog};
use super::metropolis::commit;
use super::{CHAIN_BLOCK, Info, Kernel, Rng, State, validate};
use crate::Result;
use crate::energy::Energy;
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// HMC with a fixed number of leapfrog steps and a diagonal mass matrix.
#[derive(Clone, Debug)]
pub struct Hmc {
    pub step_size: f64,
    pub leapfrog_steps: usize,
    pub beta: f64,
    /// Diagonal `M^{-1}` (empty: identity).
    pub inv_mass: Vec<f64>,
    /// Target acceptance for dual averaging (0.8 as in BlackJAX and Stan).
    pub target: f64,
    /// Relative step-size jitter per chain and transition, in `[0, 1)` (default 0.5:
    /// on T1 it gave the steadiest minimum ESS over seeds; see BENCHMARKS.md).
    pub jitter: f64,
}

/// Most leapfrog steps per transition (NUTS trees stop at 1,023).
pub const MAX_LEAPFROG: usize = 1024;

impl Hmc {
    /// `leapfrog_steps` in `1..=`[`MAX_LEAPFROG`].
    pub fn new(step_size: f64, leapfrog_steps: usize, beta: f64) -> Result<Self> {
        validate(step_size, beta)?;
        if !(1..=MAX_LEAPFROG).contains(&leapfrog_steps) {
            return Err(crate::Error::invalid(
                "leapfrog steps",
                format!("{leapfrog_steps} (must be in 1..={MAX_LEAPFROG})"),
            ));
        }
        Ok(Hmc {
            step_size,
            leapfrog_steps,
            beta,
            inv_mass: Vec::new(),
            target: 0.8,
            jitter: 0.5,
        })
    }
}

impl Kernel for Hmc {
    fn name(&self) -> &'static str {
        "hmc"
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
        Some(self.target)
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
        let m = inverse_mass(&self.inv_mass, d, "hmc")?;
        if !state.has_grad {
            state.refresh(energy, true);
        }
        state.prepare(rng, true);
        info.reset(n);
        info.grad_evals = self.leapfrog_steps as u64;
        let (eps, beta) = (self.step_size, self.beta);
        let sqrt_mass: Vec<f64> = m.iter().map(|mj| 1.0 / mj.sqrt()).collect();

        // Momenta, each chain's jittered step and the starting Hamiltonian; the
        // trajectory starts at the state.
        let s = &mut state.scratch;
        s.proposal.assign(&state.position);
        s.grad.assign(&state.grad);
        let p = s.momentum.as_slice_mut().expect("standard layout");
        let jitter = self.jitter.clamp(0.0, 0.99);
        p.par_chunks_mut(CHAIN_BLOCK * d)
            .zip(s.h0.par_chunks_mut(CHAIN_BLOCK))
            .zip(s.eps.par_chunks_mut(CHAIN_BLOCK))
            .zip(state.energy.par_chunks(CHAIN_BLOCK))
            .zip(s.rngs.par_iter_mut())
            .for_each(|((((p, h0), ec), e), r)| {
                for (((p, h0), ec), e) in p.chunks_exact_mut(d).zip(h0).zip(ec).zip(e) {
                    *ec = eps * (1.0 + jitter * (2.0 * r.r#gen::<f64>() - 1.0));
                    let mut k = 0.0;
                    for j in 0..d {
                        let z: f64 = StandardNormal.sample(r);
                        p[j] = z * sqrt_mass[j];
                        k += m[j] * p[j] * p[j];
                    }
                    *h0 = beta * e + 0.5 * k;
                }
            });
        leapfrog(energy, s, d, beta, &m, self.leapfrog_steps);
        commit(state, info, true, |c| hamiltonian_verdict(c, beta, &m));
        Ok(())
    }
}
