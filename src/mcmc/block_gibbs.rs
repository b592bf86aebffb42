//! Block Gibbs sampling of binary units: when the units split into blocks that are
//! independent given the other blocks (an RBM: `p(h | v) = prod_j p(h_j | v)` and
//! `p(v | h) = prod_i p(v_i | h)`), one sweep draws every block in turn from its exact
//! conditional, `u_i ~ Bernoulli(p(u_i = 1 | rest))`. Each block update leaves the
//! joint Gibbs distribution invariant; the two-block chain seen on one block is
//! reversible (`p(v) P(v -> v') = sum_h p(v, h) p(v, h) ... ` symmetric in `v, v'`).

use super::{CHAIN_BLOCK, Rng};
use crate::{Error, Result};
use ndarray::Array2;
use rand::{Rng as _, RngCore, SeedableRng};
use rayon::prelude::*;

/// A model of binary units in conditionally independent blocks.
pub trait BinaryBlocks: Sync {
    /// Units per block.
    fn block_sizes(&self) -> Vec<usize>;
    /// `prob[c, i] = p(u_i = 1 | the other blocks of chain c)` for the units of `block`
    /// at inverse temperature `beta`; `blocks[b]` is `[chains, size_b]` of 0/1 values.
    fn conditional(&self, block: usize, blocks: &[Array2<f64>], beta: f64, prob: &mut Array2<f64>);
}

/// The units of every chain, block by block, and the last conditionals drawn from.
#[derive(Clone, Debug)]
pub struct BlockState {
    /// `blocks[b]: [chains, size_b]`, values 0 or 1.
    pub blocks: Vec<Array2<f64>>,
    /// `probs[b]`: the conditional probabilities of the last draw of block `b`.
    pub probs: Vec<Array2<f64>>,
}

impl BlockState {
    /// Starts from given blocks (checked against the model's sizes and for 0/1 values).
    pub fn new(model: &dyn BinaryBlocks, blocks: Vec<Array2<f64>>) -> Result<Self> {
        let sizes = model.block_sizes();
        if blocks.len() != sizes.len() {
            return Err(Error::invalid(
                "block gibbs state",
                format!(
                    "{} blocks given, the model has {}",
                    blocks.len(),
                    sizes.len()
                ),
            ));
        }
        let chains = blocks.first().map_or(0, |b| b.nrows());
        if chains == 0 {
            return Err(Error::invalid("chains", "need at least one chain (got 0)"));
        }
        for (b, (x, &s)) in blocks.iter().zip(&sizes).enumerate() {
            if x.dim() != (chains, s) {
                return Err(Error::Shape {
                    what: format!("block {b} of the gibbs state"),
                    expected: vec![chains, s],
                    found: x.shape().to_vec(),
                });
            }
            if x.iter().any(|&v| v != 0.0 && v != 1.0) {
                return Err(Error::invalid(
                    "block gibbs state",
                    format!("block {b} holds values other than 0 and 1"),
                ));
            }
        }
        let probs = blocks.iter().map(|b| Array2::zeros(b.dim())).collect();
        Ok(BlockState { blocks, probs })
    }

    /// Every unit of `chains` chains uniformly at random.
    pub fn random(model: &dyn BinaryBlocks, chains: usize, rng: &mut Rng) -> Result<Self> {
        let blocks = model
            .block_sizes()
            .into_iter()
            .map(|s| Array2::from_shape_simple_fn((chains, s), || f64::from(rng.r#gen::<bool>())))
            .collect();
        Self::new(model, blocks)
    }
}

/// One sweep of block Gibbs at inverse temperature `beta`.
#[derive(Clone, Copy, Debug)]
pub struct BlockGibbs {
    pub beta: f64,
}

impl BlockGibbs {
    pub fn new(beta: f64) -> Result<Self> {
        crate::energy::validate_beta(beta)?;
        Ok(BlockGibbs { beta })
    }

    /// Draw every block in order from its conditional.
    pub fn step(&self, model: &dyn BinaryBlocks, state: &mut BlockState, rng: &mut Rng) {
        for b in 0..state.blocks.len() {
            self.step_block(model, state, b, rng);
        }
    }

    /// Draw block `b` alone from its conditional given the others.
    pub fn step_block(
        &self,
        model: &dyn BinaryBlocks,
        state: &mut BlockState,
        b: usize,
        rng: &mut Rng,
    ) {
        model.conditional(b, &state.blocks, self.beta, &mut state.probs[b]);
        sample_bernoulli(&state.probs[b], &mut state.blocks[b], rng);
    }
}

/// `out[c, i] ~ Bernoulli(prob[c, i])`, blocks of chains in parallel with their own
/// streams (the draws do not depend on the thread count).
pub fn sample_bernoulli(prob: &Array2<f64>, out: &mut Array2<f64>, rng: &mut Rng) {
    let (n, s) = prob.dim();
    let seeds: Vec<u64> = (0..n.div_ceil(CHAIN_BLOCK))
        .map(|_| rng.next_u64())
        .collect();
    let p = prob.as_slice().expect("standard layout");
    let o = out.as_slice_mut().expect("standard layout");
    let block = (CHAIN_BLOCK * s).max(1);
    o.par_chunks_mut(block)
        .zip(p.par_chunks(block))
        .zip(seeds.par_iter())
        .for_each(|((o, p), &seed)| {
            let mut r = Rng::seed_from_u64(seed);
            for (o, &p) in o.iter_mut().zip(p) {
                *o = f64::from(r.r#gen::<f64>() < p);
            }
        });
}
