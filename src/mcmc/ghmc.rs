//! Generalized HMC with partial momentum refresh (Horowitz 1991; Neal 2011, section
//! 5.5.3): the momentum is kept from one transition to the next and only partly
//! redrawn, `p <- alpha p + sqrt(1 - alpha^2) xi`, `xi ~ N(0, M)`, which leaves
//! `N(0, M)` invariant; then `L` leapfrog steps (see [`super::integrator`]) and the
//! Metropolis test on `H(y, p) = beta E(y) + p^T M^{-1} p / 2`. An accepted chain keeps
//! the momentum at the end of its trajectory, a rejected one reverses its momentum
//! (`p <- -p`), so the joint `exp(-beta E(y)) N(p; 0, M)` stays invariant while a
//! chain keeps its direction over many short transitions: with one leapfrog step and
//! `alpha` near 1 it is a Metropolized underdamped Langevin diffusion (the kernel behind
//! short-run HMC negatives and MEADS, Hoffman and Sountsov 2022). `alpha = 0` is HMC
//! with a fresh momentum every transition.

use super::integrator::{hamiltonian_verdict, inverse_mass, kinetic, leapfrog};
use super::metropolis::commit;
use super::{CHAIN_BLOCK, Info, Kernel, Rng, State, validate};
use crate::energy::Energy;
use crate::{Error, Result};
use ndarray::{Array2, Zip};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Generalized HMC: `leapfrog_steps` steps per transition, momentum persistence `alpha`.
#[derive(Clone, Debug)]
pub struct GeneralizedHmc {
    pub step_size: f64,
    pub leapfrog_steps: usize,
    pub beta: f64,
    /// The fraction `alpha` of the momentum kept at each refresh, in `[0, 1)`.
    pub persistence: f64,
    /// Diagonal `M^{-1}` (empty: identity).
    pub inv_mass: Vec<f64>,
    /// Target acceptance for dual averaging: 0.9, above HMC's 0.8, as every rejection
    /// reverses the momentum and so undoes the persistence.
    pub target: f64,
}

impl GeneralizedHmc {
    /// The default persistence: 0.9 (the momentum decorrelates over about 10
    /// transitions).
    pub const PERSISTENCE: f64 = 0.9;

    /// `leapfrog_steps` in `1..=`[`super::MAX_LEAPFROG`], persistence
    /// [`GeneralizedHmc::PERSISTENCE`].
    pub fn new(step_size: f64, leapfrog_steps: usize, beta: f64) -> Result<Self> {
        Self::with_persistence(step_size, leapfrog_steps, beta, Self::PERSISTENCE)
    }

    /// Like [`GeneralizedHmc::new`] with persistence `alpha` in `[0, 1)`.
    pub fn with_persistence(
        step_size: f64,
        leapfrog_steps: usize,
        beta: f64,
        alpha: f64,
    ) -> Result<Self> {
        validate(step_size, beta)?;
        if !(1..=super::MAX_LEAPFROG).contains(&leapfrog_steps) {
            return Err(Error::invalid(
                "leapfrog steps",
                format!("{leapfrog_steps} (must be in 1..={})", super::MAX_LEAPFROG),
            ));
        }
        check_persistence(alpha)?;
        Ok(GeneralizedHmc {
            step_size,
            leapfrog_steps,
            beta,
            persistence: alpha,
            inv_mass: Vec::new(),
            target: 0.9,
        })
    }
}

/// `alpha` in `[0, 1)`, else an error naming the persistence.
fn check_persistence(alpha: f64) -> Result<()> {
    if (0.0..1.0).contains(&alpha) {
        Ok(())
    } else {
        Err(Error::invalid(
            "persistence",
            format!("{alpha} (must be in [0, 1))"),
        ))
    }
}

impl Kernel for GeneralizedHmc {
    fn name(&self) -> &'static str {
        "ghmc"
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
        let alpha = self.persistence;
        check_persistence(alpha)?;
        let (n, d) = state.position.dim();
        let m = inverse_mass(&self.inv_mass, d, "ghmc")?;
        if !state.has_grad {
            state.refresh(energy, true);
        }
        state.prepare(rng, true);
        info.reset(n);
        info.grad_evals = self.leapfrog_steps as u64;
        let (eps, beta) = (self.step_size, self.beta);
        let sqrt_mass: Vec<f64> = m.iter().map(|mj| 1.0 / mj.sqrt()).collect();
        let s = &mut state.scratch;
        if s.kept_momentum.dim() != (n, d) {
            s.kept_momentum = Array2::zeros((n, d));
            s.momentum_kept = false;
        }
        // The partial refresh (a full draw where no momentum is kept), in place in the
        // kept momentum; the trajectory starts from a copy of it at the state.
        let keep = if s.momentum_kept { alpha } else { 0.0 };
        let fresh = (1.0 - keep * keep).sqrt();
        let kept = s.kept_momentum.as_slice_mut().expect("standard layout");
        kept.par_chunks_mut(CHAIN_BLOCK * d)
            .zip(s.h0.par_chunks_mut(CHAIN_BLOCK))
            .zip(state.energy.par_chunks(CHAIN_BLOCK))
            .zip(s.rngs.par_iter_mut())
            .for_each(|(((p, h0), e), r)| {
                for ((p, h0), e) in p.chunks_exact_mut(d).zip(h0).zip(e) {
                    for j in 0..d {
                        let z: f64 = StandardNormal.sample(r);
                        p[j] = keep * p[j] + fresh * z * sqrt_mass[j];
                    }
                    *h0 = beta * e + kinetic(p, &m);
                }
            });
        s.eps.iter_mut().for_each(|e| *e = eps);
        s.momentum.assign(&s.kept_momentum);
        s.proposal.assign(&state.position);
        s.grad.assign(&state.grad);
        leapfrog(energy, s, d, beta, &m, self.leapfrog_steps);
        commit(state, info, true, |c| hamiltonian_verdict(c, beta, &m));
        // Accepted: the momentum at the trajectory's end; rejected: reversed.
        let s = &mut state.scratch;
        Zip::from(s.kept_momentum.rows_mut())
            .and(s.momentum.rows())
            .and(ndarray::ArrayView1::from(&info.accepted))
            .par_for_each(|mut kept, end, &ok| {
                if ok {
                    kept.assign(&end);
                } else {
                    kept.mapv_inplace(|v| -v);
                }
            });
        s.momentum_kept = true;
        Ok(())
    }
}
