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

use super::{CHAIN_BLOCK, DIVERGENCE_THRESHOLD, Info, Kernel, Rng, State, accept_prob, validate};
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
        let ones;
        let m: &[f64] = if self.inv_mass.is_empty() {
            ones = vec![1.0; d];
            &ones
        } else if self.inv_mass.len() == d {
            &self.inv_mass
        } else {
            return Err(crate::Error::Shape {
                what: "hmc inverse mass".into(),
                expected: vec![d],
                found: vec![self.inv_mass.len()],
            });
        };
        if !state.has_grad {
            state.refresh(energy, true);
        }
        state.prepare(rng, true);
        info.reset(n);
        info.grad_evals = self.leapfrog_steps as u64;
        let (eps, beta) = (self.step_size, self.beta);
        let block = CHAIN_BLOCK * d;
        let sqrt_mass: Vec<f64> = m.iter().map(|mj| 1.0 / mj.sqrt()).collect();

        // Momenta and the starting Hamiltonian; the trajectory starts at the state.
        {
            let s = &mut state.scratch;
            s.proposal.assign(&state.position);
            s.grad.assign(&state.grad);
            let p = s.momentum.as_slice_mut().expect("standard layout");
            let jitter = self.jitter.clamp(0.0, 0.99);
            p.par_chunks_mut(block)
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
        }
        // Leapfrog: one batched gradient per step.
        for _ in 0..self.leapfrog_steps {
            let s = &mut state.scratch;
            let p = s.momentum.as_slice_mut().expect("standard layout");
            let y = s.proposal.as_slice_mut().expect("standard layout");
            let g = s.grad.as_slice().expect("standard layout");
            p.par_chunks_mut(block)
                .zip(y.par_chunks_mut(block))
                .zip(g.par_chunks(block))
                .zip(s.eps.par_chunks(CHAIN_BLOCK))
                .for_each(|(((p, y), g), ec)| {
                    for (((p, y), g), &eps) in p
                        .chunks_exact_mut(d)
                        .zip(y.chunks_exact_mut(d))
                        .zip(g.chunks_exact(d))
                        .zip(ec)
                    {
                        let half = 0.5 * eps * beta;
                        for j in 0..d {
                            p[j] -= half * g[j];
                            y[j] += eps * m[j] * p[j];
                        }
                    }
                });
            energy.energy_grad(s.proposal.view(), &mut s.energy, s.grad.view_mut());
            let p = s.momentum.as_slice_mut().expect("standard layout");
            let g = s.grad.as_slice().expect("standard layout");
            p.par_chunks_mut(block)
                .zip(g.par_chunks(block))
                .zip(s.eps.par_chunks(CHAIN_BLOCK))
                .for_each(|((p, g), ec)| {
                    for ((p, g), &eps) in p.chunks_exact_mut(d).zip(g.chunks_exact(d)).zip(ec) {
                        let half = 0.5 * eps * beta;
                        for (p, g) in p.iter_mut().zip(g) {
                            *p -= half * g;
                        }
                    }
                });
        }
        // Accept per chain.
        let s = &mut state.scratch;
        let x = state.position.as_slice_mut().expect("standard layout");
        let g = state.grad.as_slice_mut().expect("standard layout");
        let xp = s.proposal.as_slice().expect("standard layout");
        let gp = s.grad.as_slice().expect("standard layout");
        let p = s.momentum.as_slice().expect("standard layout");
        x.par_chunks_mut(block)
            .zip(g.par_chunks_mut(block))
            .zip(state.energy.par_chunks_mut(CHAIN_BLOCK))
            .zip(xp.par_chunks(block))
            .zip(gp.par_chunks(block))
            .zip(p.par_chunks(block))
            .zip(s.energy.par_chunks(CHAIN_BLOCK))
            .zip(s.h0.par_chunks(CHAIN_BLOCK))
            .zip(s.rngs.par_iter_mut())
            .zip(info.acceptance.par_chunks_mut(CHAIN_BLOCK))
            .zip(info.accepted.par_chunks_mut(CHAIN_BLOCK))
            .zip(info.divergent.par_chunks_mut(CHAIN_BLOCK))
            .for_each(
                |(((((((((((x, g), e), xp), gp), p), ep), h0), r), acc), ok), div)| {
                    for i in 0..e.len() {
                        let rows = i * d..(i + 1) * d;
                        let k: f64 = p[rows.clone()].iter().zip(m).map(|(p, m)| m * p * p).sum();
                        let h1 = beta * ep[i] + 0.5 * k;
                        let dh = h1 - h0[i];
                        let finite =
                            h1.is_finite() && gp[rows.clone()].iter().all(|v| v.is_finite());
                        if !finite || dh > DIVERGENCE_THRESHOLD {
                            div[i] = true;
                            continue;
                        }
                        let a = accept_prob(-dh);
                        acc[i] = a;
                        if r.r#gen::<f64>() < a {
                            ok[i] = true;
                            x[rows.clone()].copy_from_slice(&xp[rows.clone()]);
                            g[rows.clone()].copy_from_slice(&gp[rows]);
                            e[i] = ep[i];
                        }
                    }
                },
            );
        Ok(())
    }
}
