//! The sampler target suite T1-T5: fixed definitions shared by tests, benchmarks and
//! `ebm sample`, each an [`Energy`] `E = -log p` (up to a constant).
//!
//! - T1 [`t1`]: 100-d Gaussian, mean 0, standard deviations `linspace(0.1, 10, 100)`.
//! - T2 [`t2`]: the banana of Haario et al. (1999), `b = 0.03`:
//!   `E = x1^2/200 + (x2 + b x1^2 - 100 b)^2 / 2`; `E[x] = (0, 0)`, `Var = (100, 19)`.
//! - T3 [`Funnel`]: Neal's funnel in 10-d: `v ~ N(0, 9)`, `x_i | v ~ N(0, e^v)`,
//!   `E = v^2/18 + sum_i x_i^2 e^{-v} / 2 + 9 v / 2`; `E[v] = 0`, `Var[v] = 9`.
//! - T4 [`LogisticRegression`]: Bayesian logistic regression, 1,000 rows of 25
//!   standard-normal features, true weights standard normal, prior `N(0, I)`:
//!   `E(w) = sum_i [softplus(x_i.w) - t_i x_i.w] + |w|^2 / 2`.
//! - T5 [`t5`]: 2-D mixture of 8 Gaussians on a circle of radius 2, std 0.1.

use crate::energy::{Banana, DiagonalGaussian, Energy, GaussianMixture, for_rows, for_rows_grad};
use crate::gibbs::softplus;
use crate::{Error, Result};
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// T1: 100-d Gaussian, mean 0, stds `linspace(0.1, 10, 100)`.
pub fn t1() -> DiagonalGaussian {
    let std = (0..100)
        .map(|i| 0.1 + (10.0 - 0.1) * i as f64 / 99.0)
        .collect();
    DiagonalGaussian::new(vec![0.0; 100], std).expect("valid T1")
}

/// T2: the banana with `b = 0.03`.
pub fn t2() -> Banana {
    Banana { b: 0.03 }
}

/// T3: Neal's funnel in 10-d.
pub fn t3() -> Funnel {
    Funnel { dim: 10 }
}

/// T4: Bayesian logistic regression on its fixed data (seed 0).
pub fn t4() -> LogisticRegression {
    LogisticRegression::synthetic(1000, 25, 0)
}

/// T5: 8 Gaussians on a circle of radius 2, std 0.1.
pub fn t5() -> GaussianMixture {
    GaussianMixture::ring(8, 2.0, 0.1, 2).expect("valid T5")
}

/// A target by name (`t1`..`t5`, or `gaussian`, `banana`, `funnel`, `logistic`,
/// `mixture`), for the CLI.
pub fn by_name(name: &str) -> Result<Box<dyn Energy>> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "t1" | "gaussian" => Box::new(t1()),
        "t2" | "banana" => Box::new(t2()),
        "t3" | "funnel" => Box::new(t3()),
        "t4" | "logistic" => Box::new(t4()),
        "t5" | "mixture" | "8gaussians" => Box::new(t5()),
        other => {
            return Err(Error::invalid(
                "target",
                format!(
                    "unknown target '{other}' (choose t1|gaussian, t2|banana, t3|funnel, t4|logistic, t5|mixture)"
                ),
            ));
        }
    })
}

/// Neal's funnel: `y = (v, x_1..x_{d-1})`, `v ~ N(0, 9)`, `x_i | v ~ N(0, e^v)`.
#[derive(Clone, Copy, Debug)]
pub struct Funnel {
    pub dim: usize,
}

impl Energy for Funnel {
    fn dim(&self) -> usize {
        self.dim
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        let n = (self.dim - 1) as f64;
        for_rows(y, out, |r| {
            let v = r[0];
            let s: f64 = r[1..].iter().map(|x| x * x).sum();
            v * v / 18.0 + 0.5 * s * (-v).exp() + 0.5 * n * v
        });
    }
    fn energy_grad(&self, y: ArrayView2<f64>, out: &mut [f64], grad: ArrayViewMut2<f64>) {
        let n = (self.dim - 1) as f64;
        for_rows_grad(y, out, grad, |r, g| {
            let v = r[0];
            let ev = (-v).exp();
            let mut s = 0.0;
            for (gj, x) in g[1..].iter_mut().zip(&r[1..]) {
                s += x * x;
                *gj = x * ev;
            }
            g[0] = v / 9.0 - 0.5 * s * ev + 0.5 * n;
            v * v / 18.0 + 0.5 * s * ev + 0.5 * n * v
        });
    }
    fn log_z(&self, beta: f64) -> Option<f64> {
        // Normalized density times exp(-E): Z_1 = sqrt(2 pi 9) (2 pi)^{(d-1)/2}.
        ((beta - 1.0).abs() < 1e-15).then(|| {
            0.5 * (18.0 * std::f64::consts::PI).ln()
                + 0.5 * (self.dim - 1) as f64 * (2.0 * std::f64::consts::PI).ln()
        })
    }
    fn name(&self) -> String {
        format!("funnel-{}d", self.dim)
    }
}

/// Bayesian logistic regression: design `x: [n, d]`, labels `t in {0, 1}`, prior
/// `N(0, I)` on the weights.
#[derive(Clone, Debug)]
pub struct LogisticRegression {
    pub x: Array2<f64>,
    pub t: Array1<f64>,
    /// The weights that generated the labels.
    pub w_true: Array1<f64>,
}

impl LogisticRegression {
    /// `n` rows of `d` standard-normal features, `w_true ~ N(0, I)`,
    /// `t_i ~ Bernoulli(sigmoid(x_i . w_true))`, all from `seed`.
    pub fn synthetic(n: usize, d: usize, seed: u64) -> Self {
        use rand::Rng;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let x = Array2::from_shape_simple_fn((n, d), || StandardNormal.sample(&mut rng));
        let w_true = Array1::from_shape_simple_fn(d, || StandardNormal.sample(&mut rng));
        let logits = x.dot(&w_true); // [n]
        let t = logits.mapv(|l: f64| {
            let p = 1.0 / (1.0 + (-l).exp());
            if rng.r#gen::<f64>() < p { 1.0 } else { 0.0 }
        });
        LogisticRegression { x, t, w_true }
    }
}

impl Energy for LogisticRegression {
    fn dim(&self) -> usize {
        self.x.ncols()
    }
    fn energy(&self, w: ArrayView2<f64>, out: &mut [f64]) {
        let logits = w.dot(&self.x.t()); // [chains, n]
        for ((o, l), wr) in out.iter_mut().zip(logits.rows()).zip(w.rows()) {
            let nll: f64 = l
                .iter()
                .zip(&self.t)
                .map(|(&l, &t)| softplus(l) - t * l)
                .sum();
            *o = nll + 0.5 * wr.dot(&wr);
        }
    }
    fn energy_grad(&self, w: ArrayView2<f64>, out: &mut [f64], mut grad: ArrayViewMut2<f64>) {
        let mut logits = w.dot(&self.x.t()); // [chains, n]
        for ((o, mut l), wr) in out.iter_mut().zip(logits.rows_mut()).zip(w.rows()) {
            let mut nll = 0.0;
            // l <- sigmoid(l) - t, the residual that X^T maps to the gradient.
            for (l, &t) in l.iter_mut().zip(&self.t) {
                nll += softplus(*l) - t * *l;
                *l = 1.0 / (1.0 + (-*l).exp()) - t;
            }
            *o = nll + 0.5 * wr.dot(&wr);
        }
        grad.assign(&logits.dot(&self.x)); // [chains, d]
        grad += &w;
    }
    fn name(&self) -> String {
        format!("logistic-{}x{}", self.x.nrows(), self.x.ncols())
    }
}
