//! Free energies over a latent variable (SPEC sections 4 and 6).
//!
//! With a prior `p(z)` (a Gaussian `N(0, r^2 I)`, or the flat Lebesgue measure):
//!
//! - free energy `F_beta(y) = -1/beta log integral p(z) exp(-beta E(y, z)) dz`, by
//!   quadrature over `z` (1 to 3 dimensions) or importance sampling (any dimension), both
//!   through [`crate::partition`] with `y` held fixed;
//! - its zero-temperature limit `F_inf(y) = min_z E(y, z)` by gradient descent on `z`;
//! - the variational free energy of a Gaussian `q(z) = N(m, diag(s^2))`:
//!   `F~_q(y) = <E(y, z)>_q + 1/beta KL(q || p)` (for the flat prior, `KL = -H(q)`: the
//!   Helmholtz form `<E> - T S`), estimated with reparameterized samples `z = m + s eps`
//!   (the KL in closed form), and minimized over `(m, log s)` by gradient descent with the
//!   reparameterization gradients `d<E>/dm = <dE/dz>`, `d<E>/ds = <dE/dz eps>`.
//!
//! Jensen: `F_beta(y) <= F~_q(y)` for every `q`, with equality at the Gibbs posterior
//! `q*(z) ∝ p(z) exp(-beta E(y, z))`.

// Index loops read like the equations here.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

use crate::energy::{Energy, LatentEnergy, validate_beta};
use crate::partition::{self, LogZ};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The prior over `z`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Prior {
    /// `N(0, r^2 I)`.
    Gaussian { r: f64 },
    /// The flat (Lebesgue) measure: `F = -1/beta log integral exp(-beta E) dz`.
    Flat,
}

impl Prior {
    fn log_p(&self, z: &[f64]) -> f64 {
        match *self {
            Prior::Flat => 0.0,
            Prior::Gaussian { r } => {
                let d = z.len() as f64;
                -0.5 * z.iter().map(|v| v * v).sum::<f64>() / (r * r)
                    - 0.5 * d * (2.0 * std::f64::consts::PI * r * r).ln()
            }
        }
    }
    fn grad_log_p(&self, z: &[f64], out: &mut [f64]) {
        match *self {
            Prior::Flat => out.fill(0.0),
            Prior::Gaussian { r } => out.iter_mut().zip(z).for_each(|(o, v)| *o = -v / (r * r)),
        }
    }
}

/// `z -> E(y, z) - log p(z) / beta` for a fixed `y`: its partition function at `beta` is
/// `integral p(z) exp(-beta E(y, z)) dz`.
pub struct AtY<'a> {
    pub latent: &'a dyn LatentEnergy,
    pub y: Vec<f64>,
    pub prior: Prior,
    pub beta: f64,
}

impl<'a> AtY<'a> {
    /// `E(y, .)` at a fixed `y` (beta checked).
    pub fn new(latent: &'a dyn LatentEnergy, y: &[f64], prior: Prior, beta: f64) -> Result<Self> {
        validate_beta(beta)?;
        Ok(AtY {
            latent,
            y: y.to_vec(),
            prior,
            beta,
        })
    }
}

impl Energy for AtY<'_> {
    fn dim(&self) -> usize {
        self.latent.dim_z()
    }
    fn energy(&self, z: ArrayView2<f64>, out: &mut [f64]) {
        let y = Array2::from_shape_fn((z.nrows(), self.y.len()), |(_, j)| self.y[j]); // [batch, dim_y]
        self.latent.energy(y.view(), z, out);
        for (o, row) in out.iter_mut().zip(z.rows()) {
            *o -= self.prior.log_p(&row.to_vec()) / self.beta;
        }
    }
    fn energy_grad(&self, z: ArrayView2<f64>, out: &mut [f64], mut grad: ArrayViewMut2<f64>) {
        let y = Array2::from_shape_fn((z.nrows(), self.y.len()), |(_, j)| self.y[j]);
        self.latent.energy_grad_z(y.view(), z, out, grad.view_mut());
        let mut g = vec![0.0; z.ncols()];
        for ((o, row), mut gr) in out.iter_mut().zip(z.rows()).zip(grad.rows_mut()) {
            let zr = row.to_vec();
            *o -= self.prior.log_p(&zr) / self.beta;
            self.prior.grad_log_p(&zr, &mut g);
            gr.iter_mut()
                .zip(&g)
                .for_each(|(a, &b)| *a -= b / self.beta);
        }
    }
    fn name(&self) -> String {
        "energy at fixed y".into()
    }
}

/// A free energy with its standard error (nats / beta units of energy).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FreeEnergy {
    pub value: f64,
    pub std_err: f64,
}

fn from_log_z(l: LogZ, beta: f64) -> FreeEnergy {
    FreeEnergy {
        value: -l.log_z / beta,
        std_err: l.std_err / beta,
    }
}

/// `F_beta(y)` by quadrature over `z` in the box `[lo, hi]` (1 to 3 latent dimensions).
pub fn by_quadrature(
    latent: &dyn LatentEnergy,
    y: &[f64],
    prior: Prior,
    beta: f64,
    lo: &[f64],
    hi: &[f64],
    n: usize,
) -> Result<FreeEnergy> {
    let e = AtY::new(latent, y, prior, beta)?;
    Ok(from_log_z(
        partition::quadrature(&e, beta, lo, hi, n)?,
        beta,
    ))
}

/// `F_beta(y)` by importance sampling over `z` from `N(mean, diag(std^2))`.
pub fn by_importance(
    latent: &dyn LatentEnergy,
    y: &[f64],
    prior: Prior,
    beta: f64,
    mean: &[f64],
    std: &[f64],
    n: usize,
    seed: u64,
) -> Result<FreeEnergy> {
    let e = AtY::new(latent, y, prior, beta)?;
    Ok(from_log_z(
        partition::importance(&e, beta, mean, std, n, seed)?,
        beta,
    ))
}

/// `F_inf(y) = min_z E(y, z)` by gradient descent on `z` from `z0` (step `lr`, at most
/// `steps`, stopping when the gradient norm falls below `tol`). Returns `(min E, argmin z)`.
pub fn zero_temperature(
    latent: &dyn LatentEnergy,
    y: &[f64],
    z0: &[f64],
    lr: f64,
    steps: usize,
    tol: f64,
) -> Result<(f64, Vec<f64>)> {
    let dz = latent.dim_z();
    if z0.len() != dz {
        return Err(Error::Shape {
            what: "initial z".into(),
            expected: vec![dz],
            found: vec![z0.len()],
        });
    }
    let ya = Array2::from_shape_vec((1, y.len()), y.to_vec())
        .map_err(|_| Error::invalid("y", "bad length"))?;
    let mut z = Array2::from_shape_vec((1, dz), z0.to_vec()).expect("shape");
    let mut e = [0.0];
    let mut g = Array2::zeros((1, dz));
    for _ in 0..steps {
        latent.energy_grad_z(ya.view(), z.view(), &mut e, g.view_mut());
        if !e[0].is_finite() {
            return Err(Error::Diverged(format!(
                "E(y, z) = {} during descent on z",
                e[0]
            )));
        }
        if g.iter().map(|v| v * v).sum::<f64>().sqrt() < tol {
            break;
        }
        z.zip_mut_with(&g, |a, &b| *a -= lr * b);
    }
    latent.energy(ya.view(), z.view(), &mut e);
    Ok((e[0], z.row(0).to_vec()))
}

/// A diagonal Gaussian `q(z) = N(mean, diag(std^2))`.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianQ {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl GaussianQ {
    /// `KL(q || p)` in nats: closed form for the Gaussian prior, `-H(q)` for the flat one.
    pub fn kl(&self, prior: Prior) -> f64 {
        let ln2pie = (2.0 * std::f64::consts::PI * std::f64::consts::E).ln();
        match prior {
            Prior::Flat => -self.std.iter().map(|s| 0.5 * ln2pie + s.ln()).sum::<f64>(),
            Prior::Gaussian { r } => self
                .mean
                .iter()
                .zip(&self.std)
                .map(|(m, s)| (r / s).ln() + (m * m + s * s) / (2.0 * r * r) - 0.5)
                .sum(),
        }
    }
}

/// `F~_q(y) = <E(y, z)>_q + KL(q || p) / beta`, `<E>` from `n` reparameterized samples
/// (its standard error is the estimate's), the KL in closed form.
pub fn variational(
    latent: &dyn LatentEnergy,
    y: &[f64],
    q: &GaussianQ,
    prior: Prior,
    beta: f64,
    n: usize,
    seed: u64,
) -> Result<FreeEnergy> {
    validate_beta(beta)?;
    let dz = latent.dim_z();
    if q.mean.len() != dz || q.std.len() != dz {
        return Err(Error::Shape {
            what: "q (mean, std)".into(),
            expected: vec![dz],
            found: vec![q.mean.len().min(q.std.len())],
        });
    }
    if n < 2 {
        return Err(Error::invalid("samples", "need at least 2"));
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let z = Array2::from_shape_fn((n, dz), |(_, j)| {
        let e: f64 = StandardNormal.sample(&mut rng);
        q.mean[j] + q.std[j] * e
    }); // [n, dz]
    let ya = Array2::from_shape_fn((n, y.len()), |(_, j)| y[j]);
    let mut e = vec![0.0; n];
    latent.energy(ya.view(), z.view(), &mut e);
    let mean = e.iter().sum::<f64>() / n as f64;
    let var = e.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
    Ok(FreeEnergy {
        value: mean + q.kl(prior) / beta,
        std_err: (var / n as f64).sqrt(),
    })
}

/// Minimize `F~_q(y)` over a diagonal Gaussian `q` by gradient descent on `(mean, log std)`
/// with `samples` reparameterized draws per step (common random numbers across steps).
pub fn minimize_variational(
    latent: &dyn LatentEnergy,
    y: &[f64],
    q0: GaussianQ,
    prior: Prior,
    beta: f64,
    lr: f64,
    steps: usize,
    samples: usize,
    seed: u64,
) -> Result<GaussianQ> {
    validate_beta(beta)?;
    let dz = latent.dim_z();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let eps: Array2<f64> =
        Array2::from_shape_fn((samples.max(2), dz), |_| StandardNormal.sample(&mut rng)); // [S, dz]
    let s = eps.nrows();
    let ya = Array2::from_shape_fn((s, y.len()), |(_, j)| y[j]);
    let mut q = q0;
    let mut z = Array2::<f64>::zeros((s, dz));
    let mut e = vec![0.0; s];
    let mut g = Array2::<f64>::zeros((s, dz));
    for _ in 0..steps {
        for r in 0..s {
            for j in 0..dz {
                z[[r, j]] = q.mean[j] + q.std[j] * eps[[r, j]];
            }
        }
        latent.energy_grad_z(ya.view(), z.view(), &mut e, g.view_mut());
        for j in 0..dz {
            let gm = (0..s).map(|r| g[[r, j]]).sum::<f64>() / s as f64;
            let gs = (0..s).map(|r| g[[r, j]] * eps[[r, j]]).sum::<f64>() / s as f64;
            let (m, sd) = (q.mean[j], q.std[j]);
            // d KL / d m and d KL / d log s.
            let (dkl_m, dkl_ls) = match prior {
                Prior::Flat => (0.0, -1.0),
                Prior::Gaussian { r } => (m / (r * r), -1.0 + sd * sd / (r * r)),
            };
            let d_m = gm + dkl_m / beta;
            let d_ls = gs * sd + dkl_ls / beta;
            q.mean[j] = m - lr * d_m;
            q.std[j] = (sd.ln() - lr * d_ls).exp();
        }
        if q.mean.iter().chain(&q.std).any(|v| !v.is_finite()) {
            return Err(Error::Diverged(
                "variational parameters became non-finite; lower lr".into(),
            ));
        }
    }
    Ok(q)
}
