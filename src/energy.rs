//! Energies `E(y)` over batches, and their gradients (SPEC sections 1 and 4).
//!
//! An [`Energy`] maps a batch `y: [batch, dim]` to energies `[batch]` (low = likely),
//! and writes `dE/dy` into a caller's buffer — the one call a sampler or an estimator of
//! `log Z` makes per step. Closed forms serve as oracles:
//!
//! - [`Quadratic`]: `E(y) = 1/2 (y - m)^T A (y - m)`, so that
//!   `log Z_beta = log integral exp(-beta E) = d/2 log(2 pi / beta) - 1/2 log det A`.
//! - [`GaussianMixture`]: `E(y) = -log sum_k w_k N(y; mu_k, s_k^2 I)`, so `log Z_1 = 0`.
//! - [`DoubleWell`]: `E(y) = h (y^2 - 1)^2 + c y` in one dimension (two wells at about
//!   `y = +-1`, a barrier of height `h`; no closed-form `Z`: quadrature is exact enough).
//! - [`Banana`] (Haario et al. 1999): `E = y1^2/200 + (y2 + b y1^2 - 100 b)^2 / 2`,
//!   `log Z_1 = log(20 pi)`.
//!
//! Neural energies wrap an engine chain ([`NeuralEnergy`]); [`FnEnergy`] wraps a user
//! closure. Energies are f64 here (estimators accumulate in f64); a neural energy runs its
//! network in f32 and converts at the boundary.
//!
//! A latent-variable energy `E(y, z)` is a [`LatentEnergy`].

// Index loops read like the equations here.
#![allow(clippy::needless_range_loop)]

use crate::nn::{Parallelism, Sequential, Workspace};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rand::SeedableRng;
use std::sync::Mutex;

/// A batched energy `E(y)` with its gradient.
pub trait Energy: Send + Sync {
    /// Width of `y`.
    fn dim(&self) -> usize;
    /// `out[i] = E(y[i, :])`, `y: [batch, dim]`, `out: [batch]`.
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]);
    /// Energies and `grad[i, :] = dE/dy (y[i, :])`.
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], grad: ArrayViewMut2<f64>);
    /// `log integral exp(-beta E(y)) dy` when known in closed form.
    fn log_z(&self, _beta: f64) -> Option<f64> {
        None
    }
    /// A short name for messages and plots.
    fn name(&self) -> String {
        "energy".into()
    }
}

/// A latent-variable energy `E(y, z)` (lecture: `E(y, z) = C(y, Dec(z))`).
pub trait LatentEnergy: Send + Sync {
    /// Width of `y`.
    fn dim_y(&self) -> usize;
    /// Width of `z`.
    fn dim_z(&self) -> usize;
    /// `out[i] = E(y[i, :], z[i, :])`.
    fn energy(&self, y: ArrayView2<f64>, z: ArrayView2<f64>, out: &mut [f64]);
    /// Energies and `dE/dz` (what inference by gradient descent on `z` needs).
    fn energy_grad_z(
        &self,
        y: ArrayView2<f64>,
        z: ArrayView2<f64>,
        out: &mut [f64],
        grad_z: ArrayViewMut2<f64>,
    );
}

/// `E(y) = 1/2 (y - m)^T A (y - m)` with `A` symmetric positive definite.
#[derive(Clone, Debug)]
pub struct Quadratic {
    pub mean: Vec<f64>,
    pub a: Array2<f64>,
    log_det_a: f64,
}

impl Quadratic {
    /// Checks that `A` is `[d, d]`, symmetric and positive definite.
    pub fn new(mean: Vec<f64>, a: Array2<f64>) -> Result<Self> {
        if a.nrows() != mean.len() {
            return Err(Error::Shape {
                what: "quadratic energy: A for the mean".into(),
                expected: vec![mean.len(), mean.len()],
                found: vec![a.nrows(), a.ncols()],
            });
        }
        let l = crate::info::cholesky("quadratic energy A", a.view())?;
        let log_det_a = 2.0 * (0..l.nrows()).map(|i| l[[i, i]].ln()).sum::<f64>();
        Ok(Quadratic { mean, a, log_det_a })
    }
    /// Diagonal `A = diag(1 / sigma_i^2)`: the Gaussian with standard deviations `sigma`.
    pub fn diagonal(mean: Vec<f64>, sigma: &[f64]) -> Result<Self> {
        let d = sigma.len();
        let mut a = Array2::zeros((d, d));
        for (i, &s) in sigma.iter().enumerate() {
            a[[i, i]] = 1.0 / (s * s);
        }
        Self::new(mean, a)
    }
    /// `log det A`.
    pub fn log_det(&self) -> f64 {
        self.log_det_a
    }
}

impl Energy for Quadratic {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        let r = &y - &ndarray::ArrayView1::from(&self.mean[..]); // [batch, d]
        let g = r.dot(&self.a); // (A (y - m))^T rows, A symmetric: [batch, d]
        for ((o, r), g) in out.iter_mut().zip(r.rows()).zip(g.rows()) {
            *o = 0.5 * r.dot(&g);
        }
    }
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], mut grad: ArrayViewMut2<f64>) {
        let r = &y - &ndarray::ArrayView1::from(&self.mean[..]); // [batch, d]
        let g = r.dot(&self.a); // dE/dy = A (y - m): [batch, d]
        for ((o, r), g) in out.iter_mut().zip(r.rows()).zip(g.rows()) {
            *o = 0.5 * r.dot(&g);
        }
        grad.assign(&g);
    }
    fn log_z(&self, beta: f64) -> Option<f64> {
        let d = self.dim() as f64;
        Some(0.5 * d * (2.0 * std::f64::consts::PI / beta).ln() - 0.5 * self.log_det_a)
    }
    fn name(&self) -> String {
        format!("quadratic-{}d", self.dim())
    }
}

/// `E(y) = sum_j (y_j - m_j)^2 / (2 s_j^2)`: a diagonal Gaussian in O(d) per row
/// (target T1 of the sampler suite), `log Z_beta = d/2 log(2 pi / beta) + sum_j log s_j`.
#[derive(Clone, Debug)]
pub struct DiagonalGaussian {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl DiagonalGaussian {
    /// Checks the widths agree and every std is finite and > 0.
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Result<Self> {
        if mean.len() != std.len() || mean.is_empty() {
            return Err(Error::Shape {
                what: "diagonal gaussian: stds for the mean".into(),
                expected: vec![mean.len()],
                found: vec![std.len()],
            });
        }
        if let Some(i) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::invalid(
                "diagonal gaussian std",
                format!("std {i} is {} (must be > 0)", std[i]),
            ));
        }
        Ok(DiagonalGaussian { mean, std })
    }
}

impl Energy for DiagonalGaussian {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        for_rows(y, out, |r| {
            r.iter()
                .zip(&self.mean)
                .zip(&self.std)
                .map(|((y, m), s)| {
                    let u = (y - m) / s;
                    0.5 * u * u
                })
                .sum()
        });
    }
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], grad: ArrayViewMut2<f64>) {
        for_rows_grad(y, out, grad, |r, g| {
            let mut e = 0.0;
            for (((gj, y), m), s) in g.iter_mut().zip(r).zip(&self.mean).zip(&self.std) {
                let u = (y - m) / s;
                *gj = u / s;
                e += 0.5 * u * u;
            }
            e
        });
    }
    fn log_z(&self, beta: f64) -> Option<f64> {
        let d = self.mean.len() as f64;
        Some(
            0.5 * d * (2.0 * std::f64::consts::PI / beta).ln()
                + self.std.iter().map(|s| s.ln()).sum::<f64>(),
        )
    }
    fn name(&self) -> String {
        format!("diagonal-gaussian-{}d", self.mean.len())
    }
}

/// `E(y) = -log sum_k w_k N(y; mu_k, s_k^2 I)`: a normalized mixture, `log Z_1 = 0`.
#[derive(Clone, Debug)]
pub struct GaussianMixture {
    pub weights: Vec<f64>,
    pub means: Vec<Vec<f64>>,
    pub stds: Vec<f64>,
}

impl GaussianMixture {
    /// Weights are normalized; every mean must have the same width; stds > 0.
    pub fn new(weights: Vec<f64>, means: Vec<Vec<f64>>, stds: Vec<f64>) -> Result<Self> {
        let k = weights.len();
        if k == 0 || means.len() != k || stds.len() != k {
            return Err(Error::invalid(
                "gaussian mixture",
                format!(
                    "{} weights, {} means and {} stds must be equal and non-zero",
                    k,
                    means.len(),
                    stds.len()
                ),
            ));
        }
        let d = means[0].len();
        if let Some(i) = means.iter().position(|m| m.len() != d) {
            return Err(Error::Shape {
                what: format!("gaussian mixture mean {i}"),
                expected: vec![d],
                found: vec![means[i].len()],
            });
        }
        if let Some(i) = stds.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::invalid(
                "gaussian mixture stds",
                format!("std {i} is {} (must be > 0)", stds[i]),
            ));
        }
        let tot: f64 = weights.iter().sum();
        if tot.is_nan() || tot <= 0.0 || weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::invalid(
                "gaussian mixture weights",
                "must be finite, >= 0, not all 0",
            ));
        }
        Ok(GaussianMixture {
            weights: weights.iter().map(|w| w / tot).collect(),
            means,
            stds,
        })
    }
    /// `n` equal components with means on a circle of `radius` in the first two
    /// coordinates of a `dim`-dimensional space (the 8-Gaussians toy set: n = 8, r = 2).
    pub fn ring(n: usize, radius: f64, std: f64, dim: usize) -> Result<Self> {
        let dim = dim.max(2);
        let means = (0..n)
            .map(|k| {
                let t = 2.0 * std::f64::consts::PI * k as f64 / n.max(1) as f64;
                let mut m = vec![0.0; dim];
                m[0] = radius * t.cos();
                m[1] = radius * t.sin();
                m
            })
            .collect();
        Self::new(vec![1.0; n], means, vec![std; n])
    }

    /// `(log w_k - d/2 log(2 pi s_k^2), 1/s_k^2)` per component and the means in one
    /// flat `[K * d]` buffer: what a row needs.
    fn coefficients(&self) -> (Vec<(f64, f64)>, Vec<f64>) {
        let d = self.dim() as f64;
        let coef = self
            .weights
            .iter()
            .zip(&self.stds)
            .map(|(w, s)| {
                let s2 = s * s;
                (
                    w.ln() - 0.5 * d * (2.0 * std::f64::consts::PI * s2).ln(),
                    1.0 / s2,
                )
            })
            .collect();
        (coef, self.means.concat())
    }

    /// `E(y)` and `dE/dy = sum_k r_k (y - mu_k) / s_k^2` (`r_k` the responsibilities)
    /// for one row, with `terms` as scratch of length K. The width is dispatched to a
    /// constant for 1-D and 2-D rows so the inner loops unroll.
    fn row_energy_grad(
        coef: &[(f64, f64)],
        means: &[f64],
        y: &[f64],
        terms: &mut [f64],
        g: Option<&mut [f64]>,
    ) -> f64 {
        match y.len() {
            1 => Self::row_d(1, coef, means, y, terms, g),
            2 => Self::row_d(2, coef, means, y, terms, g),
            d => Self::row_d(d, coef, means, y, terms, g),
        }
    }

    #[inline(always)]
    fn row_d(
        d: usize,
        coef: &[(f64, f64)],
        means: &[f64],
        y: &[f64],
        terms: &mut [f64],
        g: Option<&mut [f64]>,
    ) -> f64 {
        let y = &y[..d];
        let mut mx = f64::NEG_INFINITY;
        for ((t, &(c, inv_s2)), m) in terms.iter_mut().zip(coef).zip(means.chunks_exact(d)) {
            let mut r2 = 0.0;
            for j in 0..d {
                let u = y[j] - m[j];
                r2 += u * u;
            }
            *t = c - 0.5 * r2 * inv_s2;
            mx = mx.max(*t);
        }
        // Terms below e^-40 of the largest are under half an ulp of the sum (>= 1):
        // they cannot change it, so their exponentials are skipped (exact in f64; a
        // sampler's chains sit near one component, so most terms are skipped).
        let mut tot = 0.0;
        for t in terms.iter_mut() {
            let u = *t - mx;
            *t = if u < -40.0 { 0.0 } else { u.exp() };
            tot += *t;
        }
        if let Some(g) = g {
            let g = &mut g[..d];
            g.fill(0.0);
            let inv_tot = 1.0 / tot;
            for ((&t, &(_, inv_s2)), m) in terms.iter().zip(coef).zip(means.chunks_exact(d)) {
                if t == 0.0 {
                    continue;
                }
                let r = t * inv_tot * inv_s2;
                for j in 0..d {
                    g[j] += r * (y[j] - m[j]);
                }
            }
        }
        // tot = 1 + (the other terms): ln_1p keeps their contribution exact.
        -(mx + (tot - 1.0).ln_1p())
    }
}

/// Rows handed to one task of the pool by [`for_rows`] and [`for_rows_grad`].
const ROWS_PER_TASK: usize = 256;

/// `out[i] = f(y[i, :])` over the rows of `y: [batch, dim]`, split over the thread pool
/// when the batch is large (closed-form energies are cheap per row; a sampler calls
/// them with thousands of chains).
pub fn for_rows(y: ArrayView2<f64>, out: &mut [f64], f: impl Fn(&[f64]) -> f64 + Sync) {
    use rayon::prelude::*;
    let d = y.ncols().max(1);
    let y = y.as_standard_layout();
    let ys = y.as_slice().expect("standard layout");
    let serial = |o: &mut [f64], yc: &[f64]| {
        for (o, row) in o.iter_mut().zip(yc.chunks_exact(d)) {
            *o = f(row);
        }
    };
    if out.len() <= ROWS_PER_TASK || crate::threads::threads() == 1 {
        serial(out, ys);
    } else {
        out.par_chunks_mut(ROWS_PER_TASK)
            .zip(ys.par_chunks(ROWS_PER_TASK * d))
            .for_each(|(o, yc)| serial(o, yc));
    }
}

/// `out[i] = f(y[i, :], grad[i, :])` (the function writes the row's gradient and
/// returns its energy), split over the thread pool like [`for_rows`].
pub fn for_rows_grad(
    y: ArrayView2<f64>,
    out: &mut [f64],
    mut grad: ArrayViewMut2<f64>,
    f: impl Fn(&[f64], &mut [f64]) -> f64 + Sync,
) {
    use rayon::prelude::*;
    let d = y.ncols().max(1);
    let y = y.as_standard_layout();
    let ys = y.as_slice().expect("standard layout");
    let run = |out: &mut [f64], gs: &mut [f64]| {
        let serial = |o: &mut [f64], yc: &[f64], gc: &mut [f64]| {
            for ((o, row), g) in o
                .iter_mut()
                .zip(yc.chunks_exact(d))
                .zip(gc.chunks_exact_mut(d))
            {
                *o = f(row, g);
            }
        };
        if out.len() <= ROWS_PER_TASK || crate::threads::threads() == 1 {
            serial(out, ys, gs);
        } else {
            out.par_chunks_mut(ROWS_PER_TASK)
                .zip(ys.par_chunks(ROWS_PER_TASK * d))
                .zip(gs.par_chunks_mut(ROWS_PER_TASK * d))
                .for_each(|((o, yc), gc)| serial(o, yc, gc));
        }
    };
    match grad.as_slice_mut() {
        Some(gs) => run(out, gs),
        None => {
            let mut tmp = Array2::<f64>::zeros(grad.dim());
            run(out, tmp.as_slice_mut().expect("fresh array"));
            grad.assign(&tmp);
        }
    }
}

impl Energy for GaussianMixture {
    fn dim(&self) -> usize {
        self.means[0].len()
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        let (coef, means) = self.coefficients();
        let k = self.weights.len();
        for_rows(y, out, |row| {
            let mut terms = [0.0f64; 16];
            if k <= 16 {
                Self::row_energy_grad(&coef, &means, row, &mut terms[..k], None)
            } else {
                Self::row_energy_grad(&coef, &means, row, &mut vec![0.0; k], None)
            }
        });
    }
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], grad: ArrayViewMut2<f64>) {
        let (coef, means) = self.coefficients();
        let k = self.weights.len();
        for_rows_grad(y, out, grad, |row, g| {
            let mut terms = [0.0f64; 16];
            if k <= 16 {
                Self::row_energy_grad(&coef, &means, row, &mut terms[..k], Some(g))
            } else {
                Self::row_energy_grad(&coef, &means, row, &mut vec![0.0; k], Some(g))
            }
        });
    }
    fn log_z(&self, beta: f64) -> Option<f64> {
        // Only beta = 1 has a closed form (the mixture is normalized).
        ((beta - 1.0).abs() < 1e-15).then_some(0.0)
    }
    fn name(&self) -> String {
        format!("gaussian-mixture-{}x{}d", self.weights.len(), self.dim())
    }
}

/// `E(y) = h (y^2 - 1)^2 + c y` in one dimension.
#[derive(Clone, Copy, Debug)]
pub struct DoubleWell {
    /// Barrier height between the wells.
    pub height: f64,
    /// Tilt: `c > 0` favours the left well.
    pub tilt: f64,
}

impl Energy for DoubleWell {
    fn dim(&self) -> usize {
        1
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        for (o, row) in out.iter_mut().zip(y.rows()) {
            let v = row[0];
            *o = self.height * (v * v - 1.0).powi(2) + self.tilt * v;
        }
    }
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], mut grad: ArrayViewMut2<f64>) {
        for ((o, row), mut g) in out.iter_mut().zip(y.rows()).zip(grad.rows_mut()) {
            let v = row[0];
            *o = self.height * (v * v - 1.0).powi(2) + self.tilt * v;
            g[0] = 4.0 * self.height * v * (v * v - 1.0) + self.tilt;
        }
    }
    fn name(&self) -> String {
        "double-well".into()
    }
}

/// The banana of Haario et al. (1999): `E = y1^2/200 + (y2 + b y1^2 - 100 b)^2 / 2`.
#[derive(Clone, Copy, Debug)]
pub struct Banana {
    pub b: f64,
}

impl Energy for Banana {
    fn dim(&self) -> usize {
        2
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        let b = self.b;
        for_rows(y, out, |r| {
            let u = r[1] + b * r[0] * r[0] - 100.0 * b;
            r[0] * r[0] / 200.0 + 0.5 * u * u
        });
    }
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], grad: ArrayViewMut2<f64>) {
        let b = self.b;
        for_rows_grad(y, out, grad, |r, g| {
            let u = r[1] + b * r[0] * r[0] - 100.0 * b;
            g[0] = r[0] / 100.0 + u * 2.0 * b * r[0];
            g[1] = u;
            r[0] * r[0] / 200.0 + 0.5 * u * u
        });
    }
    fn log_z(&self, beta: f64) -> Option<f64> {
        // y1 ~ N(0, 100/beta), y2 | y1 ~ N(., 1/beta): Z = 2 pi sqrt(100) / beta.
        Some((2.0 * std::f64::consts::PI * 10.0 / beta).ln())
    }
    fn name(&self) -> String {
        "banana".into()
    }
}

/// A gradient closure `g(y, dE/dy)`.
type GradFn = dyn Fn(&[f64], &mut [f64]) + Send + Sync;

/// A user closure `E(y)` for one row, with its gradient given or by central differences.
pub struct FnEnergy<F> {
    dim: usize,
    f: F,
    grad: Option<Box<GradFn>>,
}

impl<F: Fn(&[f64]) -> f64 + Send + Sync> FnEnergy<F> {
    /// An energy from `f`; gradients by central differences (step `1e-6 (1 + |y_i|)`).
    pub fn new(dim: usize, f: F) -> Self {
        FnEnergy { dim, f, grad: None }
    }
    /// An energy from `f` with its exact gradient `g(y, out)`.
    pub fn with_grad(
        dim: usize,
        f: F,
        g: impl Fn(&[f64], &mut [f64]) + Send + Sync + 'static,
    ) -> Self {
        FnEnergy {
            dim,
            f,
            grad: Some(Box::new(g)),
        }
    }
}

impl<F: Fn(&[f64]) -> f64 + Send + Sync> Energy for FnEnergy<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        for (o, row) in out.iter_mut().zip(y.rows()) {
            *o = (self.f)(&row.to_vec());
        }
    }
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], mut grad: ArrayViewMut2<f64>) {
        let mut g = vec![0.0; self.dim];
        for ((o, row), mut gr) in out.iter_mut().zip(y.rows()).zip(grad.rows_mut()) {
            let mut v = row.to_vec();
            *o = (self.f)(&v);
            match &self.grad {
                Some(gf) => gf(&v, &mut g),
                None => {
                    for i in 0..self.dim {
                        let h = 1e-6 * (1.0 + v[i].abs());
                        let x0 = v[i];
                        v[i] = x0 + h;
                        let fp = (self.f)(&v);
                        v[i] = x0 - h;
                        let fm = (self.f)(&v);
                        v[i] = x0;
                        g[i] = (fp - fm) / (2.0 * h);
                    }
                }
            }
            gr.iter_mut().zip(&g).for_each(|(a, &b)| *a = b);
        }
    }
    fn name(&self) -> String {
        "closure".into()
    }
}

/// A neural energy: an engine chain with a scalar output, run in f32.
pub struct NeuralEnergy {
    pub net: Sequential,
    /// The architecture, when built by [`NeuralEnergy::mlp`] (what a checkpoint stores).
    pub spec: Option<MlpSpec>,
    pool: Mutex<Vec<Workspace>>,
}

/// An MLP energy `R^d -> R`: `in_dim`, hidden widths, one activation after each hidden
/// layer, a scalar output.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MlpSpec {
    pub in_dim: usize,
    pub hidden: Vec<usize>,
    pub activation: crate::nn::ActivationKind,
}

impl MlpSpec {
    /// Number of parameters of `in_dim -> hidden.. -> 1`, `None` on overflow.
    pub fn param_count(&self) -> Option<u64> {
        let mut dims = vec![self.in_dim];
        dims.extend(&self.hidden);
        dims.push(1);
        crate::budget::dense_params(&dims)
    }
}

impl NeuralEnergy {
    /// A fresh MLP energy (PyTorch's default initialization).
    pub fn mlp(spec: MlpSpec, rng: &mut impl rand::Rng) -> Result<Self> {
        if spec.in_dim == 0 || spec.hidden.contains(&0) {
            return Err(Error::invalid(
                "mlp energy",
                format!(
                    "widths must be > 0 (in {}, hidden {:?})",
                    spec.in_dim, spec.hidden
                ),
            ));
        }
        crate::budget::check(
            "hidden",
            crate::budget::bytes(spec.param_count(), 16),
            &format!(
                "an MLP energy {}-{:?}-1 (weights, gradients, Adam moments)",
                spec.in_dim, spec.hidden
            ),
        )?;
        let net = Sequential::mlp(
            spec.in_dim,
            &spec.hidden,
            1,
            spec.activation,
            crate::nn::init::Init::PyTorchDefault,
            rng,
        );
        let mut e = Self::new(net)?;
        e.spec = Some(spec);
        Ok(e)
    }

    /// Save the weights (safetensors) with the spec as config, atomically.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let spec = self.spec.as_ref().ok_or_else(|| {
            Error::invalid(
                "neural energy",
                "only an energy built by NeuralEnergy::mlp can be saved",
            )
        })?;
        let cfg = serde_json::json!({ "model": "mlp_energy", "spec": spec });
        crate::nn::checkpoint::save(path, &self.net, &cfg)
    }

    /// Load an energy saved by [`NeuralEnergy::save`].
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let cfg = crate::nn::checkpoint::read_config(path)?;
        if cfg.get("model").and_then(|m| m.as_str()) != Some("mlp_energy") {
            return Err(Error::format(
                path,
                "config field `model` is not \"mlp_energy\"",
            ));
        }
        let spec: MlpSpec = serde_json::from_value(cfg["spec"].clone())
            .map_err(|e| Error::format(path, format!("config field `spec`: {e}")))?;
        crate::nn::checkpoint::check_stored_size(path, "spec", spec.param_count())?;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
        let mut e = Self::mlp(spec, &mut rng)?;
        crate::nn::checkpoint::load(path, &mut e.net)?;
        Ok(e)
    }
}

impl NeuralEnergy {
    /// Wraps `net`, whose output width must be 1.
    pub fn new(net: Sequential) -> Result<Self> {
        if net.out_dim() != 1 {
            return Err(Error::Shape {
                what: "neural energy output".into(),
                expected: vec![1],
                found: vec![net.out_dim()],
            });
        }
        Ok(NeuralEnergy {
            net,
            spec: None,
            pool: Mutex::new(Vec::new()),
        })
    }
}

impl Energy for NeuralEnergy {
    fn dim(&self) -> usize {
        self.net.in_dim()
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        // A workspace from the pool energy_grad keeps (grown as needed), not a fresh one
        // per call: the grid negatives evaluate blocks of 4,096 rows every rebuild.
        let mut ws = {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.pop().unwrap_or_default()
        };
        self.net
            .input_mut(&mut ws, y.nrows())
            .zip_mut_with(&y, |a, &b| *a = b as f32); // [batch, dim]
        let e = self.net.forward_from_ws(&mut ws, Parallelism::None); // [batch, 1]
        out.iter_mut()
            .zip(e.iter())
            .for_each(|(o, &v)| *o = v as f64);
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(ws);
    }
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], mut grad: ArrayViewMut2<f64>) {
        let y32 = y.mapv(|v| v as f32); // [batch, dim]
        let mut e = vec![0.0f32; y.nrows()];
        let mut g = Array2::<f32>::zeros(y.dim());
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        // Tiles of at most 256 rows, at least one per thread.
        let tile = y.nrows().div_ceil(crate::threads::threads()).clamp(16, 256);
        self.net
            .energy_and_grad(y32.view(), &mut e, g.view_mut(), &mut pool, tile);
        out.iter_mut().zip(&e).for_each(|(o, &v)| *o = v as f64);
        grad.zip_mut_with(&g, |a, &b| *a = b as f64);
    }
    fn name(&self) -> String {
        "neural".into()
    }
}

/// Check `beta` (finite, > 0): the error every estimator returns otherwise.
pub use crate::gibbs::validate_beta;
