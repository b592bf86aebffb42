//! What the Hamiltonian kernels share: the diagonal metric and the leapfrog integrator
//! of `H(y, p) = beta E(y) + p^T M^{-1} p / 2` (Neal 2011, section 5.2.3.3):
//! `p <- p - eps/2 beta dE/dy`, `y <- y + eps M^{-1} p`, `p <- p - eps/2 beta dE/dy`,
//! volume-preserving and reversible, so a Metropolis test on `H` corrects its error.

use super::{CHAIN_BLOCK, Scratch};
use crate::energy::Energy;
use crate::{Error, Result};
use rayon::prelude::*;
use std::borrow::Cow;

/// The diagonal inverse mass `M^{-1}` for `d` coordinates: `inv_mass` itself, or the
/// identity when it is empty; another length is a shape error naming `what`.
pub(crate) fn inverse_mass<'a>(
    inv_mass: &'a [f64],
    d: usize,
    what: &str,
) -> Result<Cow<'a, [f64]>> {
    if inv_mass.is_empty() {
        Ok(Cow::Owned(vec![1.0; d]))
    } else if inv_mass.len() == d {
        Ok(Cow::Borrowed(inv_mass))
    } else {
        Err(Error::Shape {
            what: format!("{what} inverse mass"),
            expected: vec![d],
            found: vec![inv_mass.len()],
        })
    }
}

/// The kinetic energy `p^T M^{-1} p / 2` of one chain (`m = diag(M^{-1})`).
#[inline]
pub(crate) fn kinetic(p: &[f64], m: &[f64]) -> f64 {
    0.5 * p.iter().zip(m).map(|(p, m)| m * p * p).sum::<f64>()
}

/// `steps` leapfrog steps from `(s.proposal, s.momentum)`, `s.grad` holding `dE/dy` at
/// the start; chain `i` steps by `s.eps[i]`. One batched energy/gradient call per step;
/// on return `s.proposal`, `s.momentum`, `s.energy` and `s.grad` are at the end of the
/// trajectory.
pub(crate) fn leapfrog(
    energy: &dyn Energy,
    s: &mut Scratch,
    d: usize,
    beta: f64,
    m: &[f64],
    steps: usize,
) {
    let block = CHAIN_BLOCK * d;
    for _ in 0..steps {
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
}

/// The HMC verdict on a chain at the end of its trajectory: divergent when `H` or the
/// gradient is not finite or `H` grew by more than the threshold, else
/// `log alpha = H(y, p) - H(y', p')`.
pub(crate) fn hamiltonian_verdict(
    c: &super::metropolis::Chain,
    beta: f64,
    m: &[f64],
) -> super::metropolis::Verdict {
    use super::metropolis::Verdict;
    let h1 = beta * c.ep + kinetic(c.p, m);
    let dh = h1 - c.h0;
    let finite = h1.is_finite() && c.gp.iter().all(|v| v.is_finite());
    if !finite || dh > super::DIVERGENCE_THRESHOLD {
        Verdict::Divergent
    } else {
        Verdict::LogAlpha(-dh)
    }
}
