//! A replay buffer of persistent chains (PCD, Tieleman 2008; the sample buffer of Du
//! and Mordatch 2019): a pool of past samples; each draw takes a batch of pool entries,
//! restarting each one from noise with probability `restart`, the caller runs its
//! kernel on them and puts them back.

use super::Rng;
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};

/// Where restarted chains start.
#[derive(Clone, Copy, Debug)]
pub enum Noise {
    /// Uniform in `[low, high]` per coordinate.
    Uniform { low: f64, high: f64 },
    /// `N(0, std^2)` per coordinate.
    Normal { std: f64 },
}

impl Noise {
    /// Fill `row` (any length: one chain or a whole `[n, dim]` buffer) with noise.
    pub fn fill(&self, row: &mut [f64], rng: &mut Rng) {
        for v in row {
            *v = match *self {
                Noise::Uniform { low, high } => low + (high - low) * rng.r#gen::<f64>(),
                Noise::Normal { std } => {
                    let z: f64 = StandardNormal.sample(rng);
                    std * z
                }
            };
        }
    }
}

/// A pool of persistent chains.
#[derive(Clone, Debug)]
pub struct ReplayBuffer {
    /// `[capacity, dim]`.
    pool: Array2<f64>,
    /// Probability that a drawn entry restarts from noise.
    pub restart: f64,
    pub noise: Noise,
}

impl ReplayBuffer {
    /// A pool of `capacity` chains in `dim` dimensions, all started from `noise`.
    pub fn new(
        capacity: usize,
        dim: usize,
        restart: f64,
        noise: Noise,
        rng: &mut Rng,
    ) -> Result<Self> {
        if capacity == 0 || dim == 0 {
            return Err(Error::invalid(
                "replay buffer",
                format!("capacity {capacity} and dim {dim} must be > 0"),
            ));
        }
        if !(0.0..=1.0).contains(&restart) {
            return Err(Error::invalid(
                "replay buffer restart",
                format!("{restart} (must be a probability in [0, 1])"),
            ));
        }
        let mut pool = Array2::zeros((capacity, dim));
        for mut row in pool.rows_mut() {
            noise.fill(row.as_slice_mut().expect("standard layout"), rng);
        }
        Ok(ReplayBuffer {
            pool,
            restart,
            noise,
        })
    }

    pub fn capacity(&self) -> usize {
        self.pool.nrows()
    }

    pub fn pool(&self) -> ArrayView2<'_, f64> {
        self.pool.view()
    }

    /// Replace the chains by `pool` (`[capacity, dim]`, e.g. saved from [`Self::pool`]
    /// to resume a run).
    pub fn set_pool(&mut self, pool: ArrayView2<f64>) -> Result<()> {
        if pool.dim() != self.pool.dim() {
            return Err(Error::Shape {
                what: "replay buffer pool".into(),
                expected: self.pool.shape().to_vec(),
                found: pool.shape().to_vec(),
            });
        }
        self.pool.assign(&pool);
        Ok(())
    }

    /// `batch` distinct entries (uniformly at random), each restarted from noise with
    /// probability `restart`; returns their indices, the rows `[batch, dim]` and how many
    /// were restarted.
    pub fn draw(&self, batch: usize, rng: &mut Rng) -> Result<(Vec<usize>, Array2<f64>, usize)> {
        if batch == 0 || batch > self.capacity() {
            return Err(Error::invalid(
                "replay buffer batch",
                format!("{batch} (must be in 1..={})", self.capacity()),
            ));
        }
        let idx = rand::seq::index::sample(rng, self.capacity(), batch).into_vec();
        let mut rows = Array2::zeros((batch, self.pool.ncols())); // [batch, dim]
        let mut restarted = 0;
        for (mut row, &i) in rows.rows_mut().into_iter().zip(&idx) {
            if rng.r#gen::<f64>() < self.restart {
                self.noise
                    .fill(row.as_slice_mut().expect("standard layout"), rng);
                restarted += 1;
            } else {
                row.assign(&self.pool.row(i));
            }
        }
        Ok((idx, rows, restarted))
    }

    /// Write the chains back where they were drawn from.
    pub fn put_back(&mut self, idx: &[usize], rows: ArrayView2<f64>) -> Result<()> {
        if rows.dim() != (idx.len(), self.pool.ncols()) {
            return Err(Error::Shape {
                what: "replay buffer put_back rows".into(),
                expected: vec![idx.len(), self.pool.ncols()],
                found: rows.shape().to_vec(),
            });
        }
        for (&i, row) in idx.iter().zip(rows.rows()) {
            if i >= self.capacity() {
                return Err(Error::invalid(
                    "replay buffer index",
                    format!("{i} (capacity {})", self.capacity()),
                ));
            }
            self.pool.row_mut(i).assign(&row);
        }
        Ok(())
    }
}
