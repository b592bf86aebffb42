//! The Metropolis-Hastings accept/commit every adjusted kernel shares: chain `i` moves
//! to its proposal `y'_i` with probability `min(1, alpha_i)`,
//! `alpha = p(y') q(y | y') / (p(y) q(y' | y))` (HMC: `exp(H(y, p) - H(y', p'))`), by one
//! uniform draw from its block's stream; a proposal whose energy or gradient is not
//! finite, or whose energy grows by more than [`DIVERGENCE_THRESHOLD`], is rejected and
//! flagged divergent. A kernel supplies only its [`Verdict`] on one chain.
//!
//! [`DIVERGENCE_THRESHOLD`]: super::DIVERGENCE_THRESHOLD

use super::{CHAIN_BLOCK, Info, State, accept_prob};
use rand::Rng as _;
use rayon::prelude::*;

/// One chain at the moment of the decision: where it is and where it was proposed to go,
/// with the momentum (`[dim]`; empty for kernels without one) and the starting
/// Hamiltonian `h0` of an HMC trajectory.
pub(crate) struct Chain<'a> {
    pub x: &'a [f64],
    pub g: &'a [f64],
    pub e: f64,
    pub xp: &'a [f64],
    pub gp: &'a [f64],
    pub ep: f64,
    pub p: &'a [f64],
    pub h0: f64,
}

/// A kernel's decision on one chain.
pub(crate) enum Verdict {
    /// Rejected without a draw (non-finite or exploding): flagged divergent.
    Divergent,
    /// Moved without a draw (the unadjusted Langevin kernel), acceptance 1.
    Always,
    /// Moved with probability `min(1, exp(log_alpha))`.
    LogAlpha(f64),
}

/// Decide every chain by `verdict` and move the accepted ones to their proposals
/// (positions, energies and, with `with_grad`, gradients), filling `info`'s acceptance,
/// accepted and divergent flags. One uniform per chain that gets a
/// [`Verdict::LogAlpha`], from its block's stream (`state.scratch.rngs`).
pub(crate) fn commit(
    state: &mut State,
    info: &mut Info,
    with_grad: bool,
    verdict: impl Fn(&Chain) -> Verdict + Sync,
) {
    let d = state.position.ncols();
    let block = CHAIN_BLOCK * d;
    let s = &mut state.scratch;
    let x = state.position.as_slice_mut().expect("standard layout");
    let g = state.grad.as_slice_mut().expect("standard layout");
    let xp = s.proposal.as_slice().expect("standard layout");
    let gp = s.grad.as_slice().expect("standard layout");
    // Momenta and starting Hamiltonians where the kernel has them, else empty chunks.
    let n = state.energy.len();
    let (p, h0): (&[f64], &[f64]) = match s.momentum.as_slice() {
        Some(p) if p.len() == x.len() && s.h0.len() == n => (p, &s.h0),
        _ => (&[], &[]),
    };
    let n_blocks = n.div_ceil(CHAIN_BLOCK);
    let p_chunks = chunks_or_empty(p, block, n_blocks);
    let h_chunks = chunks_or_empty(h0, CHAIN_BLOCK, n_blocks);
    x.par_chunks_mut(block)
        .zip(g.par_chunks_mut(block))
        .zip(state.energy.par_chunks_mut(CHAIN_BLOCK))
        .zip(xp.par_chunks(block))
        .zip(gp.par_chunks(block))
        .zip(s.energy.par_chunks(CHAIN_BLOCK))
        .zip(p_chunks.into_par_iter().zip(h_chunks))
        .zip(s.rngs.par_iter_mut())
        .zip(info.acceptance.par_chunks_mut(CHAIN_BLOCK))
        .zip(info.accepted.par_chunks_mut(CHAIN_BLOCK))
        .zip(info.divergent.par_chunks_mut(CHAIN_BLOCK))
        .for_each(
            |((((((((((x, g), e), xp), gp), ep), (p, h0)), r), acc), ok), div)| {
                for i in 0..e.len() {
                    let rows = i * d..(i + 1) * d;
                    let (a, draw) = match verdict(&Chain {
                        x: &x[rows.clone()],
                        g: &g[rows.clone()],
                        e: e[i],
                        xp: &xp[rows.clone()],
                        gp: &gp[rows.clone()],
                        ep: ep[i],
                        p: p.get(rows.clone()).unwrap_or(&[]),
                        h0: h0.get(i).copied().unwrap_or(0.0),
                    }) {
                        Verdict::Divergent => {
                            div[i] = true;
                            continue;
                        }
                        Verdict::Always => (1.0, false),
                        Verdict::LogAlpha(log_alpha) => (accept_prob(log_alpha), true),
                    };
                    acc[i] = a;
                    if !draw || r.r#gen::<f64>() < a {
                        ok[i] = true;
                        x[rows.clone()].copy_from_slice(&xp[rows.clone()]);
                        if with_grad {
                            g[rows.clone()].copy_from_slice(&gp[rows]);
                        }
                        e[i] = ep[i];
                    }
                }
            },
        );
}

/// `data` cut into `n` chunks of `size` (empty chunks where `data` runs out).
fn chunks_or_empty(data: &[f64], size: usize, n: usize) -> Vec<&[f64]> {
    (0..n)
        .map(|k| {
            let lo = k.saturating_mul(size).min(data.len());
            let hi = lo.saturating_add(size).min(data.len());
            &data[lo..hi]
        })
        .collect()
}
