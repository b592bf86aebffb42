//! Information content of a latent variable (SPEC section 5), the KL term of the
//! variational free energy (SPEC section 6).
//!
//! A latent `z` inferred as a distribution `q(z|y)` instead of a point carries a finite
//! amount of information about `y`, measured against a prior `p(z)` by the
//! Kullback-Leibler divergence
//!
//! ```text
//! KL(q || p) = integral q(z) log(q(z) / p(z)) dz  >= 0,   zero iff q = p.
//! ```
//!
//! Units are in the names: every function returns **nats** (natural log) unless its name
//! ends in `_bits`; [`nats_to_bits`] and [`bits_to_nats`] convert (`1 bit = ln 2 nats`).
//!
//! Closed forms implemented here:
//!
//! * Uniform hypercubes: `q` uniform on a cube of side `s` inside `p` uniform on a cube of
//!   side `r` (both in `d` dimensions): `KL = d log2(r / s)` bits. It is infinite when the
//!   support of `q` is not inside that of `p` (`s > r`).
//! * Gaussians, one dimension:
//!   `KL(N(m, s^2) || N(0, r^2)) = log(r/s) + (m^2 + s^2) / (2 r^2) - 1/2` nats,
//!   minimal (zero) at `m = 0, s = r`.
//! * Diagonal Gaussians, summed over dimensions:
//!   `KL = 1/2 sum_i [ln(vp_i / vq_i) + (vq_i + (mq_i - mp_i)^2) / vp_i - 1]`;
//!   against `N(0, r^2 I)` with `log_var = ln vq` this is the VAE's KL term (`r = 1`).
//! * Full covariance:
//!   `KL = 1/2 [tr(Sp^-1 Sq) + (mp - mq)^T Sp^-1 (mp - mq) - d + ln det Sp - ln det Sq]`,
//!   computed through Cholesky factors `Sp = Lp Lp^T`, `Sq = Lq Lq^T`:
//!   `tr(Sp^-1 Sq) = ||Lp^-1 Lq||_F^2`, `ln det S = 2 sum_i ln L_ii`.
//! * Entropies: `H(N(m, diag v)) = 1/2 sum_i ln(2 pi e v_i)`,
//!   `H(N(m, S)) = 1/2 [d ln(2 pi e) + ln det S]`, `H(p) = -sum_k p_k ln p_k` (with
//!   `0 ln 0 = 0`), and `H(U[cube of side s]) = d ln s` (differential, may be negative).
//! * Cross-entropy `H(q, p) = -E_q[log p]`, so that `KL(q || p) = H(q, p) - H(q)`.
//!
//! For any two log-densities, [`kl_monte_carlo`] estimates
//! `KL = E_{z~q}[log q(z) - log p(z)]` by the sample mean over `n` draws from `q`, with
//! its standard error `std / sqrt(n)`; it agrees with each closed form above.
//!
//! ```
//! use ebm::info::{kl_gauss_1d, kl_monte_carlo, kl_uniform_cubes_bits, log_normal_diag};
//! use rand_distr::{Distribution, StandardNormal};
//!
//! assert_eq!(kl_uniform_cubes_bits(3, 4.0, 1.0).unwrap(), 6.0);
//! let exact = kl_gauss_1d(0.5, 0.8, 1.0).unwrap();
//! let est = kl_monte_carlo(
//!     |z| log_normal_diag(z, &[0.5], &[0.64]),
//!     |z| log_normal_diag(z, &[0.0], &[1.0]),
//!     |rng| {
//!         let e: f64 = StandardNormal.sample(rng);
//!         vec![0.5 + 0.8 * e]
//!     },
//!     10_000,
//!     7,
//! )
//! .unwrap();
//! assert!((est.value - exact).abs() < 5.0 * est.std_err, "{est} vs {exact}");
//! ```

use std::f64::consts::{E, PI};
use std::fmt;

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The random generator every sampler in this module receives (seeded by the caller's seed).
pub type Rng = rand_xoshiro::Xoshiro256PlusPlus;

/// `ln 2`: nats per bit.
pub const LN_2: f64 = std::f64::consts::LN_2;

/// Converts nats to bits (divides by `ln 2`).
pub fn nats_to_bits(nats: f64) -> f64 {
    nats / LN_2
}

/// Converts bits to nats (multiplies by `ln 2`).
pub fn bits_to_nats(bits: f64) -> f64 {
    bits * LN_2
}

// ---------------------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------------------

fn check_finite(field: &str, x: f64) -> Result<()> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("must be finite, got {x}")))
    }
}

fn check_positive(field: &str, x: f64, what: &str) -> Result<()> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{what} must be finite and > 0, got {x}"),
        ))
    }
}

fn check_all_finite(field: &str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(
            format!("{field}[{i}]"),
            format!("must be finite, got {}", xs[i]),
        )),
    }
}

fn check_variances(field: &str, var: &[f64]) -> Result<()> {
    match var.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(
            format!("{field}[{i}]"),
            format!("a variance must be finite and > 0, got {}", var[i]),
        )),
    }
}

fn check_len(what: &str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::Shape {
            what: what.to_string(),
            expected: vec![expected],
            found: vec![found],
        })
    }
}

/// A finite result, or an error naming the input that made it overflow.
fn finite_result(field: &str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::invalid(
            field,
            format!("the result is not finite ({x}); the inputs are out of range for f64"),
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Uniform hypercubes
// ---------------------------------------------------------------------------------------

fn check_cubes(r: f64, s: f64) -> Result<()> {
    check_positive("r", r, "the side of p's cube")?;
    check_positive("s", s, "the side of q's cube")?;
    if s > r {
        return Err(Error::invalid(
            "s",
            format!(
                "q's side s = {s} exceeds p's side r = {r}: q's support is not inside p's, \
                 so KL(q || p) is infinite"
            ),
        ));
    }
    Ok(())
}

/// `KL(q || p) = d log2(r / s)` bits, for `q` uniform on a `d`-cube of side `s` lying inside
/// `p`, uniform on a `d`-cube of side `r`. Requires `0 < s <= r` (for `s > r` the support of
/// `q` is not inside that of `p` and the divergence is infinite).
pub fn kl_uniform_cubes_bits(d: usize, r: f64, s: f64) -> Result<f64> {
    check_cubes(r, s)?;
    Ok(d as f64 * (r / s).log2())
}

/// [`kl_uniform_cubes_bits`] in nats: `d ln(r / s)`.
pub fn kl_uniform_cubes(d: usize, r: f64, s: f64) -> Result<f64> {
    check_cubes(r, s)?;
    Ok(d as f64 * (r / s).ln())
}

/// Differential entropy of the uniform distribution on a `d`-cube of side `s`: `d ln s`
/// nats (negative when `s < 1`).
pub fn entropy_uniform_cube(d: usize, s: f64) -> Result<f64> {
    check_positive("s", s, "the side of the cube")?;
    Ok(d as f64 * s.ln())
}

// ---------------------------------------------------------------------------------------
// Gaussians: closed forms
// ---------------------------------------------------------------------------------------

/// `KL(N(m, s^2) || N(0, r^2)) = ln(r/s) + (m^2 + s^2) / (2 r^2) - 1/2` nats, where `s` and
/// `r` are standard deviations. Zero exactly at `m = 0, s = r`, positive elsewhere.
pub fn kl_gauss_1d(m: f64, s: f64, r: f64) -> Result<f64> {
    check_finite("m", m)?;
    check_positive("s", s, "the standard deviation of q")?;
    check_positive("r", r, "the standard deviation of p")?;
    let ratio = s / r;
    let mr = m / r;
    // ln(r/s) + (m^2 + s^2)/(2 r^2) - 1/2 written with ratios to avoid overflow.
    finite_result("m", -ratio.ln() + 0.5 * (mr * mr + ratio * ratio) - 0.5)
}

/// One dimension of the diagonal KL: `1/2 [ln(vp/vq) + (vq + (mq - mp)^2)/vp - 1]`.
fn kl_diag_term(mq: f64, vq: f64, mp: f64, vp: f64) -> f64 {
    let ratio = vq / vp;
    let dm = mq - mp;
    0.5 * (-ratio.ln() + ratio + dm * dm / vp - 1.0)
}

/// Validate two diagonal Gaussians `(mu_q, var_q)`, `(mu_p, var_p)` of one dimension;
/// returns it.
fn check_diag_pair(mu_q: &[f64], var_q: &[f64], mu_p: &[f64], var_p: &[f64]) -> Result<usize> {
    let d = mu_q.len();
    check_len("var_q (length of mu_q)", d, var_q.len())?;
    check_len("mu_p (length of mu_q)", d, mu_p.len())?;
    check_len("var_p (length of mu_q)", d, var_p.len())?;
    check_all_finite("mu_q", mu_q)?;
    check_all_finite("mu_p", mu_p)?;
    check_variances("var_q", var_q)?;
    check_variances("var_p", var_p)?;
    Ok(d)
}

/// `KL(N(mu_q, diag var_q) || N(mu_p, diag var_p))` in nats, summed over dimensions:
/// `1/2 sum_i [ln(vp_i/vq_i) + (vq_i + (mq_i - mp_i)^2)/vp_i - 1]`. Variances, not standard
/// deviations; all four slices must have the same length.
pub fn kl_diag_gauss(mu_q: &[f64], var_q: &[f64], mu_p: &[f64], var_p: &[f64]) -> Result<f64> {
    let d = check_diag_pair(mu_q, var_q, mu_p, var_p)?;
    let kl = (0..d)
        .map(|i| kl_diag_term(mu_q[i], var_q[i], mu_p[i], var_p[i]))
        .sum();
    finite_result("mu_q", kl)
}

/// `KL(N(mu, diag exp(log_var)) || N(0, r^2 I))` in nats: the VAE's KL term when `r = 1`,
/// `1/2 sum_i [2 ln r - log_var_i + (exp(log_var_i) + mu_i^2)/r^2 - 1]`.
pub fn kl_diag_vs_isotropic(mu: &[f64], log_var: &[f64], r: f64) -> Result<f64> {
    check_len("log_var (length of mu)", mu.len(), log_var.len())?;
    check_all_finite("mu", mu)?;
    check_all_finite("log_var", log_var)?;
    check_positive("r", r, "the prior's standard deviation")?;
    let log_vp = 2.0 * r.ln();
    let vp = r * r;
    let kl: f64 = mu
        .iter()
        .zip(log_var)
        .map(|(&m, &lv)| {
            let ratio = (lv - log_vp).exp();
            0.5 * (log_vp - lv + ratio + m * m / vp - 1.0)
        })
        .sum();
    finite_result("log_var", kl)
}

/// `H(N(m, diag var)) = 1/2 sum_i ln(2 pi e var_i)` nats (differential entropy).
pub fn entropy_gauss_diag(var: &[f64]) -> Result<f64> {
    check_variances("var", var)?;
    Ok(0.5 * var.iter().map(|v| (2.0 * PI * E * v).ln()).sum::<f64>())
}

/// Cross-entropy `H(q, p) = -E_q[ln p] = 1/2 sum_i [ln(2 pi vp_i) + (vq_i + (mq_i - mp_i)^2)/vp_i]`
/// nats for diagonal Gaussians; `KL(q || p) = H(q, p) - H(q)`.
pub fn cross_entropy_gauss_diag(
    mu_q: &[f64],
    var_q: &[f64],
    mu_p: &[f64],
    var_p: &[f64],
) -> Result<f64> {
    let d = check_diag_pair(mu_q, var_q, mu_p, var_p)?;
    let h = (0..d)
        .map(|i| {
            let dm = mu_q[i] - mu_p[i];
            0.5 * ((2.0 * PI * var_p[i]).ln() + (var_q[i] + dm * dm) / var_p[i])
        })
        .sum();
    finite_result("mu_q", h)
}

/// `ln N(z; mu, diag var) = -1/2 sum_i [ln(2 pi var_i) + (z_i - mu_i)^2 / var_i]`.
///
/// The unchecked fast path for inner loops: the caller guarantees equal lengths and
/// positive variances (use [`log_normal_diag_checked`] on user input). Panics if the
/// lengths differ (a bug, not an input error).
pub fn log_normal_diag(z: &[f64], mu: &[f64], var: &[f64]) -> f64 {
    assert!(
        z.len() == mu.len() && z.len() == var.len(),
        "log_normal_diag: lengths z {}, mu {}, var {} differ",
        z.len(),
        mu.len(),
        var.len()
    );
    let mut acc = 0.0;
    for i in 0..z.len() {
        let dz = z[i] - mu[i];
        acc += (2.0 * PI * var[i]).ln() + dz * dz / var[i];
    }
    -0.5 * acc
}

/// [`log_normal_diag`] with its inputs validated (lengths, finite values, variances > 0).
pub fn log_normal_diag_checked(z: &[f64], mu: &[f64], var: &[f64]) -> Result<f64> {
    check_len("mu (length of z)", z.len(), mu.len())?;
    check_len("var (length of z)", z.len(), var.len())?;
    check_all_finite("z", z)?;
    check_all_finite("mu", mu)?;
    check_variances("var", var)?;
    Ok(log_normal_diag(z, mu, var))
}

// ---------------------------------------------------------------------------------------
// Full covariance: a small f64 Cholesky
// ---------------------------------------------------------------------------------------

/// Lower-triangular Cholesky factor `L` (`S = L L^T`) of a symmetric positive definite
/// matrix, with errors that name the matrix (`field`).
pub fn cholesky(field: &str, s: ArrayView2<f64>) -> Result<Array2<f64>> {
    let (rows, cols) = s.dim();
    if rows != cols {
        return Err(Error::Shape {
            what: format!("{field} (a covariance must be square)"),
            expected: vec![rows, rows],
            found: vec![rows, cols],
        });
    }
    let d = rows;
    let mut max_abs = 0.0f64;
    for ((i, j), &v) in s.indexed_iter() {
        if !v.is_finite() {
            return Err(Error::invalid(
                format!("{field}[{i}, {j}]"),
                format!("must be finite, got {v}"),
            ));
        }
        max_abs = max_abs.max(v.abs());
    }
    let tol = 1e-10 * max_abs;
    for i in 0..d {
        for j in 0..i {
            if (s[[i, j]] - s[[j, i]]).abs() > tol {
                return Err(Error::invalid(
                    field,
                    format!(
                        "is not symmetric: entry [{i}, {j}] = {} but [{j}, {i}] = {}",
                        s[[i, j]],
                        s[[j, i]]
                    ),
                ));
            }
        }
    }
    let mut l = Array2::<f64>::zeros((d, d));
    for j in 0..d {
        let mut diag = s[[j, j]];
        for k in 0..j {
            diag -= l[[j, k]] * l[[j, k]];
        }
        // Relative threshold: a pivot lost to round-off is as singular as a zero one.
        let threshold = 1e-14 * s[[j, j]].abs().max(f64::MIN_POSITIVE);
        if diag.is_nan() || diag <= threshold {
            return Err(Error::invalid(
                field,
                format!(
                    "is not symmetric positive definite (Cholesky pivot {j} is {diag:e}, \
                     must be > 0)"
                ),
            ));
        }
        let ljj = diag.sqrt();
        l[[j, j]] = ljj;
        for i in (j + 1)..d {
            // Use the lower triangle, averaged with the upper one (symmetric within tol).
            let mut v = 0.5 * (s[[i, j]] + s[[j, i]]);
            for k in 0..j {
                v -= l[[i, k]] * l[[j, k]];
            }
            l[[i, j]] = v / ljj;
        }
    }
    Ok(l)
}

/// `ln det S = 2 sum_i ln L_ii` from the Cholesky factor.
fn log_det_chol(l: &Array2<f64>) -> f64 {
    2.0 * l.diag().iter().map(|v| v.ln()).sum::<f64>()
}

/// Solves `L x = b` in place (forward substitution, `L` lower triangular).
fn forward_solve(l: &Array2<f64>, b: &mut [f64]) {
    let d = b.len();
    for i in 0..d {
        let mut v = b[i];
        for k in 0..i {
            v -= l[[i, k]] * b[k];
        }
        b[i] = v / l[[i, i]];
    }
}

fn check_mean_cov(mu_field: &str, mu: &[f64], cov_field: &str, d: usize) -> Result<()> {
    check_len(&format!("{mu_field} (side of {cov_field})"), d, mu.len())?;
    check_all_finite(mu_field, mu)
}

/// `KL(N(mu_q, cov_q) || N(mu_p, cov_p))` in nats, full covariances:
/// `1/2 [tr(Sp^-1 Sq) + (mp - mq)^T Sp^-1 (mp - mq) - d + ln det Sp - ln det Sq]`, via
/// Cholesky factors. Errors name the matrix that is not square, not symmetric or not
/// positive definite.
pub fn kl_gauss_full(
    mu_q: &[f64],
    cov_q: ArrayView2<f64>,
    mu_p: &[f64],
    cov_p: ArrayView2<f64>,
) -> Result<f64> {
    let lq = cholesky("cov_q", cov_q)?;
    let lp = cholesky("cov_p", cov_p)?;
    let d = lq.nrows();
    if lp.nrows() != d {
        return Err(Error::Shape {
            what: "cov_p (same size as cov_q)".to_string(),
            expected: vec![d, d],
            found: vec![lp.nrows(), lp.ncols()],
        });
    }
    check_mean_cov("mu_q", mu_q, "cov_q", d)?;
    check_mean_cov("mu_p", mu_p, "cov_q", d)?;

    // tr(Sp^-1 Sq) = ||Lp^-1 Lq||_F^2, column by column of Lq.
    let mut trace = 0.0;
    let mut col = vec![0.0; d];
    for j in 0..d {
        for i in 0..d {
            col[i] = lq[[i, j]];
        }
        forward_solve(&lp, &mut col);
        trace += col.iter().map(|v| v * v).sum::<f64>();
    }
    // (mp - mq)^T Sp^-1 (mp - mq) = ||Lp^-1 (mp - mq)||^2.
    let mut dm: Vec<f64> = mu_p.iter().zip(mu_q).map(|(p, q)| p - q).collect();
    forward_solve(&lp, &mut dm);
    let maha: f64 = dm.iter().map(|v| v * v).sum();
    let kl = 0.5 * (trace + maha - d as f64 + log_det_chol(&lp) - log_det_chol(&lq));
    finite_result("cov_q", kl)
}

/// `H(N(m, S)) = 1/2 [d ln(2 pi e) + ln det S]` nats, `S` symmetric positive definite.
pub fn entropy_gauss_full(cov: ArrayView2<f64>) -> Result<f64> {
    let l = cholesky("cov", cov)?;
    let d = l.nrows() as f64;
    Ok(0.5 * (d * (2.0 * PI * E).ln() + log_det_chol(&l)))
}

/// Cross-entropy `H(q, p) = -E_q[ln p]` nats for full-covariance Gaussians:
/// `1/2 [d ln(2 pi) + ln det Sp + tr(Sp^-1 Sq) + (mp - mq)^T Sp^-1 (mp - mq)]`.
pub fn cross_entropy_gauss_full(
    mu_q: &[f64],
    cov_q: ArrayView2<f64>,
    mu_p: &[f64],
    cov_p: ArrayView2<f64>,
) -> Result<f64> {
    // H(q, p) = KL(q || p) + H(q).
    let kl = kl_gauss_full(mu_q, cov_q, mu_p, cov_p)?;
    let h = entropy_gauss_full(cov_q)?;
    Ok(kl + h)
}

/// A multivariate normal `N(mean, cov)` with its Cholesky factor computed once: log-density,
/// sampling and entropy for full-covariance Gaussians.
#[derive(Debug, Clone)]
pub struct MvNormal {
    mean: Vec<f64>,
    chol: Array2<f64>,
    log_norm: f64,
}

impl MvNormal {
    /// Validates `cov` (square, symmetric, positive definite) and `mean` (its length).
    pub fn new(mean: &[f64], cov: ArrayView2<f64>) -> Result<Self> {
        let chol = cholesky("cov", cov)?;
        let d = chol.nrows();
        check_mean_cov("mean", mean, "cov", d)?;
        let log_norm = -0.5 * (d as f64 * (2.0 * PI).ln() + log_det_chol(&chol));
        Ok(MvNormal {
            mean: mean.to_vec(),
            chol,
            log_norm,
        })
    }

    /// The dimension `d`.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// The mean.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The lower Cholesky factor `L` of the covariance (`S = L L^T`).
    pub fn chol(&self) -> &Array2<f64> {
        &self.chol
    }

    /// `ln N(z; mean, cov)`. Panics if `z.len() != dim()` (a bug, not an input error).
    pub fn log_density(&self, z: &[f64]) -> f64 {
        assert_eq!(z.len(), self.dim(), "MvNormal::log_density: wrong length");
        let mut w: Vec<f64> = z.iter().zip(&self.mean).map(|(a, b)| a - b).collect();
        forward_solve(&self.chol, &mut w);
        self.log_norm - 0.5 * w.iter().map(|v| v * v).sum::<f64>()
    }

    /// One draw `mean + L e`, `e ~ N(0, I)`.
    pub fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        let d = self.dim();
        let e: Vec<f64> = (0..d).map(|_| StandardNormal.sample(rng)).collect();
        (0..d)
            .map(|i| self.mean[i] + (0..=i).map(|k| self.chol[[i, k]] * e[k]).sum::<f64>())
            .collect()
    }

    /// Differential entropy in nats, `1/2 [d ln(2 pi e) + ln det S]`.
    pub fn entropy(&self) -> f64 {
        0.5 * (self.dim() as f64 * (2.0 * PI * E).ln() + log_det_chol(&self.chol))
    }
}

// ---------------------------------------------------------------------------------------
// Discrete entropy
// ---------------------------------------------------------------------------------------

/// `H(p) = -sum_k p_k ln p_k` nats, with `0 ln 0 = 0`. `p` must be non-negative, finite and
/// sum to 1 within `1e-9`.
pub fn entropy_discrete(p: &[f64]) -> Result<f64> {
    check_discrete("p", p)?;
    Ok(-p
        .iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| v * v.ln())
        .sum::<f64>())
}

/// `KL(p || q) = sum_k p_k ln(p_k / q_k)` nats over the same outcomes, with `0 ln 0 = 0`;
/// infinite where `q_k = 0 < p_k` (p puts mass where q has none). Both are checked as
/// [`entropy_discrete`] checks `p`.
pub fn kl_discrete(p: &[f64], q: &[f64]) -> Result<f64> {
    check_discrete("p", p)?;
    check_discrete("q", q)?;
    if p.len() != q.len() {
        return Err(Error::Shape {
            what: "q for p (the same outcomes)".into(),
            expected: vec![p.len()],
            found: vec![q.len()],
        });
    }
    Ok(p.iter()
        .zip(q)
        .filter(|(p, _)| **p > 0.0)
        .map(|(&p, &q)| {
            if q > 0.0 {
                p * (p / q).ln()
            } else {
                f64::INFINITY
            }
        })
        .sum())
}

/// A probability vector: non-empty, finite, non-negative, summing to 1 within `1e-9`.
fn check_discrete(name: &str, p: &[f64]) -> Result<()> {
    if p.is_empty() {
        return Err(Error::invalid(
            name,
            "is empty; a distribution needs at least one outcome",
        ));
    }
    if let Some(i) = p.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(Error::invalid(
            format!("{name}[{i}]"),
            format!("a probability must be finite and >= 0, got {}", p[i]),
        ));
    }
    let total: f64 = p.iter().sum();
    if (total - 1.0).abs() > 1e-9 {
        return Err(Error::invalid(
            name,
            format!("probabilities must sum to 1 (within 1e-9), they sum to {total}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Monte Carlo
// ---------------------------------------------------------------------------------------

/// A Monte Carlo estimate: the sample mean `value`, its standard error
/// `std_err = sample std / sqrt(n)`, and the number of samples `n`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub std_err: f64,
    pub n: usize,
}

impl fmt::Display for Estimate {
    /// `value ± std_err`; a precision (`{:.3}`) applies to both numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match f.precision() {
            Some(p) => write!(f, "{:.*} ± {:.*}", p, self.value, p, self.std_err),
            None => write!(f, "{} ± {}", self.value, self.std_err),
        }
    }
}

fn check_n(n: usize) -> Result<()> {
    if n < 2 {
        return Err(Error::invalid(
            "n",
            format!("need at least 2 samples for a standard error, got {n}"),
        ));
    }
    Ok(())
}

/// Draws `n` samples, validating that they keep one dimension, and folds `f(z)` into a
/// running mean and variance (Welford). `f` returns the value or a one-line error.
fn monte_carlo(
    mut sample_q: impl FnMut(&mut Rng) -> Vec<f64>,
    n: usize,
    seed: u64,
    mut f: impl FnMut(usize, &[f64]) -> Result<f64>,
) -> Result<Estimate> {
    check_n(n)?;
    let mut rng = Rng::seed_from_u64(seed);
    let mut dim = None;
    let mut mean = 0.0f64;
    let mut m2 = 0.0f64;
    for i in 0..n {
        let z = sample_q(&mut rng);
        match dim {
            None => dim = Some(z.len()),
            Some(d) if d != z.len() => {
                return Err(Error::Shape {
                    what: format!("sample_q (sample {i} has another length than sample 0)"),
                    expected: vec![d],
                    found: vec![z.len()],
                });
            }
            Some(_) => {}
        }
        let x = f(i, &z)?;
        let delta = x - mean;
        mean += delta / (i + 1) as f64;
        m2 += delta * (x - mean);
    }
    let var = (m2 / (n - 1) as f64).max(0.0);
    Ok(Estimate {
        value: mean,
        std_err: (var / n as f64).sqrt(),
        n,
    })
}

fn check_log_density(field: &str, i: usize, v: f64) -> Result<f64> {
    if v.is_nan() {
        return Err(Error::invalid(field, format!("returned NaN at sample {i}")));
    }
    Ok(v)
}

/// `KL(q || p) ≈ mean over z ~ q of [log q(z) - log p(z)]` in nats, with its standard error,
/// from `n >= 2` draws of `sample_q` using a [`Rng`] seeded with `seed`.
///
/// Errors: `n < 2`; a log-density returning NaN (naming the sample index); `log q(z)`
/// infinite (a sample outside q's support) or `log p(z) = -inf` (q's support is not inside
/// p's, KL is infinite); samples of changing length.
pub fn kl_monte_carlo(
    log_q: impl Fn(&[f64]) -> f64,
    log_p: impl Fn(&[f64]) -> f64,
    sample_q: impl FnMut(&mut Rng) -> Vec<f64>,
    n: usize,
    seed: u64,
) -> Result<Estimate> {
    monte_carlo(sample_q, n, seed, |i, z| {
        let lq = check_log_density("log_q", i, log_q(z))?;
        let lp = check_log_density("log_p", i, log_p(z))?;
        if !lq.is_finite() {
            return Err(Error::invalid(
                "log_q",
                format!(
                    "returned {lq} at sample {i}, a draw of sample_q (must be finite on q's support)"
                ),
            ));
        }
        if !lp.is_finite() {
            return Err(Error::invalid(
                "log_p",
                format!(
                    "returned {lp} at sample {i}: the sample lies outside p's support, \
                     so KL(q || p) is infinite"
                ),
            ));
        }
        Ok(lq - lp)
    })
}

/// `E_{z~q}[f(z)] ≈` the sample mean over `n >= 2` draws of `sample_q` (seeded with `seed`),
/// with its standard error: e.g. a cross-entropy with `f = -log p`, an entropy with
/// `f = -log q`. Errors if `n < 2` or `f` returns a non-finite value (naming the sample).
pub fn expectation_monte_carlo(
    f: impl Fn(&[f64]) -> f64,
    sample_q: impl FnMut(&mut Rng) -> Vec<f64>,
    n: usize,
    seed: u64,
) -> Result<Estimate> {
    monte_carlo(sample_q, n, seed, |i, z| {
        let v = f(z);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Error::invalid("f", format!("returned {v} at sample {i}")))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cholesky_reconstructs() {
        let s = array![[4.0, 2.0, 0.4], [2.0, 5.0, 1.0], [0.4, 1.0, 3.0]];
        let l = cholesky("cov", s.view()).unwrap();
        let back = l.dot(&l.t());
        for (a, b) in back.iter().zip(s.iter()) {
            assert!((a - b).abs() < 1e-12);
        }
        for i in 0..3 {
            for j in (i + 1)..3 {
                assert_eq!(l[[i, j]], 0.0);
            }
        }
    }

    #[test]
    fn forward_solve_inverts() {
        let l = array![[2.0, 0.0], [1.0, 3.0]];
        let mut b = vec![4.0, 11.0];
        forward_solve(&l, &mut b);
        assert!((b[0] - 2.0).abs() < 1e-15 && (b[1] - 3.0).abs() < 1e-15);
    }

    #[test]
    fn singular_and_asymmetric_rejected() {
        let sing = array![[1.0, 1.0], [1.0, 1.0]];
        let e = cholesky("cov_p", sing.view()).unwrap_err().to_string();
        assert!(
            e.contains("cov_p") && e.contains("positive definite"),
            "{e}"
        );
        let asym = array![[1.0, 0.5], [0.0, 1.0]];
        let e = cholesky("cov_q", asym.view()).unwrap_err().to_string();
        assert!(e.contains("cov_q") && e.contains("symmetric"), "{e}");
    }

    #[test]
    fn welford_matches_two_pass() {
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0];
        let mut k = 0;
        let est = monte_carlo(
            |_| vec![0.0],
            xs.len(),
            0,
            |_, _| {
                k += 1;
                Ok(xs[k - 1])
            },
        )
        .unwrap();
        let mean = xs.iter().sum::<f64>() / 5.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
        assert!((est.value - mean).abs() < 1e-14);
        assert!((est.std_err - (var / 5.0).sqrt()).abs() < 1e-14);
    }
}
