//! `log Z_beta = log int exp(-beta E(y)) dy` of a low-dimensional energy at one inverse
//! temperature, two ways, and the free energy `F_beta = -log Z_beta / beta`:
//!
//! - by quadrature ([`quadrature_box`]): the midpoint rule on a box around a centre,
//!   doubled until it holds the mass;
//! - by importance sampling from `N(centre, diag std^2)`, the proposal wider than the law
//!   at this temperature (`std = 1.5 scale max(1, 1/sqrt(beta))`).
//!
//! They agree within a few errors where the effective sample size of the importance
//! weights is large; a small one flags a proposal that misses mass.

use crate::energy::{Energy, validate_beta};
use crate::partition::{LogZ, importance, quadrature};
use crate::{Error, Result};

/// `log Z_beta` of `e` at one `beta`, by both methods, and the closed form if known.
#[derive(Clone, Debug, PartialEq)]
pub struct LogZRow {
    pub beta: f64,
    /// By quadrature on the box `[lo, hi]`.
    pub quadrature: LogZ,
    /// By importance sampling.
    pub importance: LogZ,
    /// [`Energy::log_z`], where the energy has one.
    pub closed: Option<f64>,
    /// The quadrature's box.
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

impl LogZRow {
    /// `F_beta = -log Z_beta / beta` (by quadrature) and its standard error.
    pub fn free_energy(&self) -> (f64, f64) {
        (
            -self.quadrature.log_z / self.beta,
            self.quadrature.std_err / self.beta,
        )
    }
}

/// Both estimates of `log Z_beta` for an energy centred near `center` with a scale
/// `scale` per axis (the quadrature box and the proposal grow from them); `samples`
/// importance draws from a stream seeded with `seed`.
pub fn log_z_row(
    e: &dyn Energy,
    beta: f64,
    center: &[f64],
    scale: &[f64],
    samples: usize,
    seed: u64,
) -> Result<LogZRow> {
    validate_beta(beta)?;
    let (q, lo, hi) = quadrature_box(e, beta, center, scale)?;
    // Proposal: wider than the law at this temperature (at least the energy's scale).
    let std: Vec<f64> = scale
        .iter()
        .map(|s| 1.5 * s * (1.0 / beta.sqrt()).max(1.0))
        .collect();
    let is = importance(e, beta, center, &std, samples, seed)?;
    Ok(LogZRow {
        beta,
        quadrature: q,
        importance: is,
        closed: e.log_z(beta),
        lo,
        hi,
    })
}

/// Quadrature (4,000, 400 or 100 points per axis in 1, 2 or 3 dimensions) on the box
/// `center +- 12 scale`, doubled until it holds the mass (at most 6 times); the estimate
/// and the box `(lo, hi)`.
pub fn quadrature_box(
    e: &dyn Energy,
    beta: f64,
    center: &[f64],
    scale: &[f64],
) -> Result<(LogZ, Vec<f64>, Vec<f64>)> {
    let d = e.dim();
    let n = [4000, 400, 100][d - 1];
    let mut half = 4.0;
    loop {
        let lo: Vec<f64> = (0..d).map(|i| center[i] - half * scale[i] * 3.0).collect();
        let hi: Vec<f64> = (0..d).map(|i| center[i] + half * scale[i] * 3.0).collect();
        match quadrature(e, beta, &lo, &hi, n) {
            Ok(r) => return Ok((r, lo, hi)),
            Err(Error::Invalid { msg, .. })
                if msg.contains("does not hold the mass") && half < 256.0 =>
            {
                half *= 2.0
            }
            Err(err) => return Err(err),
        }
    }
}
