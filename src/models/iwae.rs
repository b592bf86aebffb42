//! The importance-weighted bound on `log p(y)` (Burda, Grosse, Salakhutdinov 2016), the
//! test log-likelihood estimate of a VAE:
//!
//! `L_k(y) = log (1/k) sum_{i=1..k} p(y|z_i) p(z_i) / q(z_i|y)`,  `z_i ~ q(z|y)`.
//!
//! `E[L_1]` is the negative variational free energy (the ELBO); `E[L_k] <= E[L_{k+1}]
//! <= log p(y)` and `L_k -> log p(y)` as `k` grows. The lecture's free energy
//! `F(y) = -log p(y)` is thus bounded from above by `-L_k`, reported in nats.
//!
//! Evaluation runs the decoder alone on blocks of at most [`ROWS`] samples (memory stays
//! bounded for any `k`), one block per thread; each image draws from its own random
//! stream, so the estimate does not depend on the thread count.

use crate::models::vae::{Vae, row_energy};
use crate::nn::Workspace;
use crate::{Error, Result};
use ndarray::{ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// Decoder rows per block.
pub const ROWS: usize = 500;

/// `L_k` for each image (nats).
#[derive(Clone, Debug, PartialEq)]
pub struct BoundEstimate {
    /// Samples per image.
    pub k: usize,
    /// `L_k(y)` per image.
    pub per_image: Vec<f64>,
}

impl BoundEstimate {
    /// Mean of `L_k` over the images (f64).
    pub fn mean(&self) -> f64 {
        self.per_image.iter().sum::<f64>() / self.per_image.len().max(1) as f64
    }
    /// Standard error of that mean across images.
    pub fn std_error(&self) -> f64 {
        let n = self.per_image.len();
        if n < 2 {
            return f64::NAN;
        }
        let m = self.mean();
        let v = self.per_image.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        (v / n as f64).sqrt()
    }
    /// The negative log-likelihood estimate `-mean L_k` (nats per image; an upper bound
    /// in expectation).
    pub fn nll(&self) -> f64 {
        -self.mean()
    }
}

/// The stream of image `i` under `seed` (SplitMix64 seeding decorrelates neighbours).
fn image_rng(seed: u64, i: usize) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `L_k(y)` for every row of `y` (`[n, input_dim]`) with `k` samples per image.
pub fn log_likelihood_bound(
    vae: &mut Vae,
    y: ArrayView2<f32>,
    k: usize,
    seed: u64,
) -> Result<BoundEstimate> {
    log_likelihood_bound_with(vae, y, k, seed, None)
}

/// [`log_likelihood_bound`] reporting the images done to `progress`.
pub fn log_likelihood_bound_with(
    vae: &mut Vae,
    y: ArrayView2<f32>,
    k: usize,
    seed: u64,
    progress: Option<&crate::progress::Progress>,
) -> Result<BoundEstimate> {
    if k == 0 {
        return Err(Error::invalid("iwae k", "must be at least 1"));
    }
    if y.ncols() != vae.config.input_dim {
        return Err(Error::Shape {
            what: "images for the importance-weighted bound".into(),
            expected: vec![y.nrows(), vae.config.input_dim],
            found: vec![y.nrows(), y.ncols()],
        });
    }
    let l = vae.config.latent;
    // q(z|y) for all images, in chunks (bounded memory).
    let mut mu = ndarray::Array2::<f32>::zeros((y.nrows(), l)); // [n, L]
    let mut lv = ndarray::Array2::<f32>::zeros((y.nrows(), l)); // [n, L]
    for (c, chunk) in y.axis_chunks_iter(Axis(0), 1000).enumerate() {
        let (m, v) = vae.encode(chunk)?;
        let r = c * 1000;
        mu.slice_mut(ndarray::s![r..r + chunk.nrows(), ..])
            .assign(&m);
        lv.slice_mut(ndarray::s![r..r + chunk.nrows(), ..])
            .assign(&v);
    }
    let kc = k.min(ROWS); // samples of one image per block
    let per_block = (ROWS / kc).max(1); // images per block
    let decoder = &vae.decoder;
    let lik = vae.config.likelihood;
    let n = y.nrows();
    let blocks: Vec<usize> = (0..n).step_by(per_block).collect();
    let par = gemm::Parallelism::None;
    let out: Vec<Vec<f64>> = blocks
        .par_iter()
        .map_init(
            || (Workspace::default(), Vec::<f64>::new()),
            |(ws, lwp), &i0| {
                let imgs = per_block.min(n - i0);
                let mut rngs: Vec<Xoshiro256PlusPlus> =
                    (i0..i0 + imgs).map(|i| image_rng(seed, i)).collect();
                // Running log-sum-exp per image: (max, sum of exp(. - max)).
                let mut acc = vec![(f64::NEG_INFINITY, 0.0f64); imgs];
                let mut s0 = 0;
                while s0 < k {
                    let kk = kc.min(k - s0);
                    let rows = imgs * kk;
                    lwp.resize(rows, 0.0);
                    {
                        let mut zin = decoder.input_mut(ws, rows); // [imgs kk, L]
                        for r in 0..rows {
                            let i = r / kk;
                            let (m, v) = (mu.row(i0 + i), lv.row(i0 + i));
                            let mut a = 0.0f64;
                            for c in 0..l {
                                let e: f32 = rngs[i].sample(StandardNormal);
                                let z = m[c] + e * (0.5 * v[c]).exp();
                                zin[[r, c]] = z;
                                a += 0.5 * ((e as f64).powi(2) + v[c] as f64 - (z as f64).powi(2));
                            }
                            lwp[r] = a;
                        }
                    }
                    let o = decoder.forward_from_ws(ws, par); // [imgs kk, D]
                    for (r, &lp) in lwp.iter().enumerate().take(rows) {
                        let i = r / kk;
                        let lw = lp - row_energy(lik, o.row(r), y.row(i0 + i), None);
                        let (m, s) = &mut acc[i];
                        if lw > *m {
                            *s = *s * (*m - lw).exp() + 1.0;
                            *m = lw;
                        } else {
                            *s += (lw - *m).exp();
                        }
                    }
                    s0 += kk;
                }
                if let Some(p) = progress {
                    p.inc(imgs as u64, None);
                }
                acc.iter()
                    .map(|&(m, s)| m + s.ln() - (k as f64).ln())
                    .collect()
            },
        )
        .collect();
    let per_image: Vec<f64> = out.into_iter().flatten().collect();
    if let Some(i) = per_image.iter().position(|v| !v.is_finite()) {
        return Err(Error::Diverged(format!(
            "importance-weighted bound of image {i} is {}",
            per_image[i]
        )));
    }
    Ok(BoundEstimate { k, per_image })
}
