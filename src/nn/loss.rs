//! Output costs `C(z_K, y)`: value (accumulated in f64) and `dC/dz_K` into a caller's buffer.
//!
//! - Squared error: `C = sum (z - y)^2` (`Sum`) or its mean over all entries (`Mean`);
//!   `dC/dz = 2 (z - y)` (divided by the count for `Mean`). PyTorch's `MSELoss`.
//! - Bernoulli cross-entropy from logits `l`: `C = sum softplus(l) - y l`
//!   `= -sum y ln s(l) + (1 - y) ln(1 - s(l))`; `dC/dl = s(l) - y`. PyTorch's
//!   `BCEWithLogitsLoss` (mean) and `binary_cross_entropy(sigmoid(l), y, reduction="sum")`.
//! - Gaussian negative log-likelihood in nats, output `[mean | log-variance]` (`2d` wide)
//!   and target `d` wide: `C = 1/2 sum ln(2 pi) + v + (y - m)^2 e^{-v}`;
//!   `dC/dm = (m - y) e^{-v}`, `dC/dv = 1/2 (1 - (y - m)^2 e^{-v})`.
//! - Gibbs negative log-likelihood over a finite set of classes from energies `E_k`
//!   (nats): `C = beta E_y + log sum_k exp(-beta E_k)`, `P_k = softargmax(-beta E)_k`;
//!   `dC/dE_k = beta (1[k = y] - P_k)`. The softmax cross-entropy with logits `-beta E`
//!   (PyTorch's `CrossEntropyLoss(-beta * E, y)`).

use super::fastmath as fm;
use ndarray::parallel::prelude::*;
use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};
use serde::{Deserialize, Serialize};

/// Sum over every entry, or mean over every entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    #[default]
    Sum,
    Mean,
}

impl Reduction {
    fn scale(self, n: usize) -> f64 {
        match self {
            Reduction::Sum => 1.0,
            Reduction::Mean => 1.0 / n.max(1) as f64,
        }
    }
}

/// A cost on a chain's output.
pub trait Cost: Send + Sync {
    /// Width of the output the cost expects for a target of width `target_dim`.
    fn output_dim(&self, target_dim: usize) -> usize {
        target_dim
    }
    /// `C(out, target)`; writes `dC/d out` into `grad` (same shape as `out`).
    fn cost_grad(
        &self,
        out: ArrayView2<f32>,
        target: ArrayView2<f32>,
        grad: ArrayViewMut2<f32>,
    ) -> f64;
    /// `C(out, target)` only.
    fn cost(&self, out: ArrayView2<f32>, target: ArrayView2<f32>) -> f64 {
        let mut g = ndarray::Array2::zeros(out.dim());
        self.cost_grad(out, target, g.view_mut())
    }
}

fn check(out: &ArrayView2<f32>, target: &ArrayView2<f32>, out_cols: usize, name: &str) {
    assert!(
        out.nrows() == target.nrows() && out.ncols() == out_cols,
        "{name}: output {:?} for target {:?}",
        out.dim(),
        target.dim()
    );
}

/// Squared error.
#[derive(Clone, Copy, Debug, Default)]
pub struct SquaredError(pub Reduction);

impl Cost for SquaredError {
    fn cost_grad(
        &self,
        out: ArrayView2<f32>,
        target: ArrayView2<f32>,
        mut grad: ArrayViewMut2<f32>,
    ) -> f64 {
        check(&out, &target, target.ncols(), "squared error");
        let s = self.0.scale(out.len());
        let mut total = 0.0f64;
        Zip::from(&mut grad)
            .and(&out)
            .and(&target)
            .for_each(|g, &o, &t| {
                let d = o - t;
                total += (d * d) as f64;
                *g = (2.0 * d as f64 * s) as f32;
            });
        total * s
    }
}

/// Bernoulli cross-entropy from logits.
#[derive(Clone, Copy, Debug, Default)]
pub struct BernoulliLogits(pub Reduction);

/// One Bernoulli term from a logit: `(softplus(l) - t l, sigmoid(l) - t)`, sharing
/// one `exp(-|l|)` between the cost and its gradient.
#[inline(always)]
fn bce_term(l: f32, t: f32) -> (f32, f32) {
    let u = fm::exp(-l.abs());
    let lp = if u < 1e-4 {
        u - 0.5 * u * u
    } else {
        fm::ln(1.0 + u)
    };
    let inv = 1.0 / (1.0 + u);
    let s = if l >= 0.0 { inv } else { u * inv };
    (l.max(0.0) + lp - t * l, s - t)
}

/// The Bernoulli energy of one row, `sum_j softplus(l_j) - t_j l_j` (nats, f64 sum),
/// and when `grad` is given its gradient `(sigmoid(l_j) - t_j) * scale` written there.
/// What a per-sample weight (importance sampling, line search) needs.
pub fn bernoulli_row(l: &[f32], t: &[f32], grad: Option<(&mut [f32], f32)>) -> f64 {
    assert_eq!(l.len(), t.len(), "logits and targets of one row");
    super::simd::dispatch(
        #[inline(always)]
        || {
            let mut lanes = [0.0f32; 16];
            let mut rest = 0.0f64;
            let (lc, tc) = (l.chunks_exact(16), t.chunks_exact(16));
            let (lr, tr) = (lc.remainder(), tc.remainder());
            let n = l.len() - lr.len();
            match grad {
                Some((g, sf)) => {
                    assert_eq!(g.len(), l.len(), "gradient row");
                    for ((g, l), t) in g.chunks_exact_mut(16).zip(lc).zip(tc) {
                        for k in 0..16 {
                            let (c, d) = bce_term(l[k], t[k]);
                            lanes[k] += c;
                            g[k] = d * sf;
                        }
                    }
                    for (j, (&l, &t)) in lr.iter().zip(tr).enumerate() {
                        let (c, d) = bce_term(l, t);
                        rest += c as f64;
                        g[n + j] = d * sf;
                    }
                }
                None => {
                    for (l, t) in lc.zip(tc) {
                        for k in 0..16 {
                            lanes[k] += bce_term(l[k], t[k]).0;
                        }
                    }
                    for (&l, &t) in lr.iter().zip(tr) {
                        rest += bce_term(l, t).0 as f64;
                    }
                }
            }
            lanes.iter().map(|&v| v as f64).sum::<f64>() + rest
        },
    )
}

impl Cost for BernoulliLogits {
    fn cost_grad(
        &self,
        out: ArrayView2<f32>,
        target: ArrayView2<f32>,
        mut grad: ArrayViewMut2<f32>,
    ) -> f64 {
        check(&out, &target, target.ncols(), "bernoulli cross-entropy");
        let s = self.0.scale(out.len());
        let sf = s as f32;
        let row_cost = |mut g: ndarray::ArrayViewMut1<f32>,
                        l: ndarray::ArrayView1<f32>,
                        t: ndarray::ArrayView1<f32>|
         -> f64 {
            match (g.as_slice_mut(), l.as_slice(), t.as_slice()) {
                (Some(g), Some(l), Some(t)) => super::simd::dispatch(
                    #[inline(always)]
                    || {
                        // 16 partial sums (vectorized), added up in f64.
                        let mut lanes = [0.0f32; 16];
                        let (gc, lc, tc) = (
                            g.chunks_exact_mut(16),
                            l.chunks_exact(16),
                            t.chunks_exact(16),
                        );
                        let (lr, tr) = (lc.remainder(), tc.remainder());
                        let mut rest = 0.0f64;
                        for ((g, l), t) in gc.zip(lc).zip(tc) {
                            for k in 0..16 {
                                let (c, d) = bce_term(l[k], t[k]);
                                lanes[k] += c;
                                g[k] = d * sf;
                            }
                        }
                        let n = g.len() - lr.len();
                        for (j, (&l, &t)) in lr.iter().zip(tr).enumerate() {
                            let (c, d) = bce_term(l, t);
                            rest += c as f64;
                            g[n + j] = d * sf;
                        }
                        lanes.iter().map(|&v| v as f64).sum::<f64>() + rest
                    },
                ),
                _ => {
                    let mut r = 0.0f64;
                    for ((g, &l), &t) in g.iter_mut().zip(l.iter()).zip(t.iter()) {
                        let (c, d) = bce_term(l, t);
                        r += c as f64;
                        *g = d * sf;
                    }
                    r
                }
            }
        };
        let part_cost = |mut g: ArrayViewMut2<f32>, l: ArrayView2<f32>, t: ArrayView2<f32>| {
            let mut total = 0.0f64;
            for ((g, l), t) in g
                .axis_iter_mut(Axis(0))
                .zip(l.axis_iter(Axis(0)))
                .zip(t.axis_iter(Axis(0)))
            {
                total += row_cost(g, l, t);
            }
            total
        };
        // Large batches: one contiguous block of rows per thread, partial sums kept on the
        // stack and added in order, so the result depends only on the thread count.
        let parts = crate::threads::threads()
            .clamp(1, 64)
            .min(out.nrows().max(1));
        let total = if out.len() >= 1 << 16 && parts > 1 {
            let rows = out.nrows().div_ceil(parts);
            let mut partial = [0.0f64; 64];
            partial[..parts]
                .par_iter_mut()
                .zip(grad.axis_chunks_iter_mut(Axis(0), rows).into_par_iter())
                .zip(out.axis_chunks_iter(Axis(0), rows).into_par_iter())
                .zip(target.axis_chunks_iter(Axis(0), rows).into_par_iter())
                .for_each(|(((p, g), l), t)| *p = part_cost(g, l, t));
            partial[..parts].iter().sum()
        } else {
            part_cost(grad, out, target)
        };
        total * s
    }
}

/// Gaussian negative log-likelihood with a learned log-variance (nats).
#[derive(Clone, Copy, Debug, Default)]
pub struct GaussianNll(pub Reduction);

impl Cost for GaussianNll {
    fn output_dim(&self, target_dim: usize) -> usize {
        2 * target_dim
    }
    fn cost_grad(
        &self,
        out: ArrayView2<f32>,
        target: ArrayView2<f32>,
        mut grad: ArrayViewMut2<f32>,
    ) -> f64 {
        let d = target.ncols();
        check(&out, &target, 2 * d, "gaussian nll");
        let s = self.0.scale(target.len());
        let ln2pi = (2.0 * std::f64::consts::PI).ln();
        let mut total = 0.0f64;
        for ((mut g, o), t) in grad
            .axis_iter_mut(Axis(0))
            .zip(out.axis_iter(Axis(0)))
            .zip(target.axis_iter(Axis(0)))
        {
            for j in 0..d {
                let (m, v, y) = (o[j] as f64, o[d + j] as f64, t[j] as f64);
                let iv = (-v).exp();
                let r2 = (y - m) * (y - m);
                total += 0.5 * (ln2pi + v + r2 * iv);
                g[j] = ((m - y) * iv * s) as f32;
                g[d + j] = (0.5 * (1.0 - r2 * iv) * s) as f32;
            }
        }
        total * s
    }
}

/// Gibbs negative log-likelihood of a class from its energy row (nats): the exact
/// maximum-likelihood cost when `y` takes finitely many values, so the partition
/// function is a sum.
///
/// The output row holds the energies `E(x, k)` of every class; the target row holds
/// class weights `t_k` (one-hot for a label): `C = sum_k t_k (beta E_k + log Z)`,
/// `log Z = log sum_k exp(-beta E_k)`, `dC/dE_k = beta (t_k - P_k sum_j t_j)`. Each
/// row is done in f64. `Mean` divides by the number of rows (not of entries): the
/// mean NLL per example.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GibbsNll {
    /// Inverse temperature, finite and `> 0`.
    pub beta: f32,
    pub reduction: Reduction,
}

impl GibbsNll {
    /// The cost at inverse temperature `beta`, summed over rows.
    pub fn new(beta: f32) -> Self {
        GibbsNll {
            beta,
            reduction: Reduction::Sum,
        }
    }
}

impl Cost for GibbsNll {
    fn cost_grad(
        &self,
        out: ArrayView2<f32>,
        target: ArrayView2<f32>,
        mut grad: ArrayViewMut2<f32>,
    ) -> f64 {
        check(&out, &target, target.ncols(), "gibbs nll");
        assert!(
            self.beta.is_finite() && self.beta > 0.0,
            "gibbs nll: beta {} is not > 0",
            self.beta
        );
        let beta = self.beta as f64;
        let s = self.reduction.scale(out.nrows());
        let mut total = 0.0f64;
        for ((mut g, e), t) in grad
            .axis_iter_mut(Axis(0))
            .zip(out.axis_iter(Axis(0)))
            .zip(target.axis_iter(Axis(0)))
        {
            // a_k = -beta E_k; log Z = m + ln(1 + sum_{k != argmax} e^{a_k - m}), so that
            // the NLL of a confident row, (m - a_y) + ln(1 + small), keeps its digits.
            let (mut m, mut am) = (f64::NEG_INFINITY, 0);
            for (k, &ek) in e.iter().enumerate() {
                let a = -beta * ek as f64;
                if a > m || k == 0 {
                    (m, am) = (a, k);
                }
            }
            let rest: f64 = e
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != am)
                .map(|(_, &ek)| (-beta * ek as f64 - m).exp())
                .sum();
            let ln_s = rest.ln_1p();
            let t_sum: f64 = t.iter().map(|&v| v as f64).sum();
            for ((g, &ek), &tk) in g.iter_mut().zip(e.iter()).zip(t.iter()) {
                let a = -beta * ek as f64;
                let p = (a - m - ln_s).exp(); // P_k
                total += tk as f64 * ((m - a) + ln_s);
                *g = (beta * (tk as f64 - p * t_sum) * s) as f32;
            }
        }
        total * s
    }
}
