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

use crate::energy::{Banana, DoubleWell, Energy, GaussianMixture, validate_beta};
use crate::partition::{LogZ, importance, quadrature};
use crate::{Error, Result};
use std::fmt;

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

/// The built-in energies of `ebm gibbs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Builtin {
    /// `E(y) = 2 (y^2 - 1)^2 + 0.3 y` (1-D).
    DoubleWell,
    /// Eight Gaussians of std 0.3 on a circle of radius 2 (2-D, normalized at beta 1).
    Mixture,
    /// Haario's banana, b = 0.03 (2-D, log Z_1 = log(20 pi)).
    Banana,
}

impl Builtin {
    /// The energy, and the centre and scale per axis its quadrature box and importance
    /// proposal grow from.
    pub fn build(self) -> (Box<dyn Energy>, Vec<f64>, Vec<f64>) {
        match self {
            Builtin::DoubleWell => (
                Box::new(DoubleWell {
                    height: 2.0,
                    tilt: 0.3,
                }),
                vec![0.0],
                vec![1.5],
            ),
            Builtin::Mixture => (
                Box::new(GaussianMixture::ring(8, 2.0, 0.3, 2).expect("valid mixture")),
                vec![0.0, 0.0],
                vec![2.5, 2.5],
            ),
            Builtin::Banana => (
                Box::new(Banana { b: 0.03 }),
                vec![0.0, -1.0],
                vec![12.0, 6.0],
            ),
        }
    }
}

/// [`log_z_row`] at several inverse temperatures of one energy: `ebm gibbs`'s table.
#[derive(Clone, Debug)]
pub struct GibbsTable {
    pub energy: String,
    pub dim: usize,
    /// Importance samples per row.
    pub samples: usize,
    pub rows: Vec<LogZRow>,
}

/// The table of `e` (centre and scale as [`log_z_row`]) at each of `betas`.
pub fn gibbs_table(
    e: &dyn Energy,
    center: &[f64],
    scale: &[f64],
    betas: &[f64],
    samples: usize,
    seed: u64,
) -> Result<GibbsTable> {
    let rows = betas
        .iter()
        .map(|&beta| log_z_row(e, beta, center, scale, samples, seed))
        .collect::<Result<_>>()?;
    Ok(GibbsTable {
        energy: e.name().to_string(),
        dim: e.dim(),
        samples,
        rows,
    })
}

impl GibbsTable {
    /// The table as CSV, in nats (what the report shows, with units).
    pub fn csv(&self) -> String {
        let mut csv = String::from(
            "beta,log_z_quadrature,log_z_quadrature_se,log_z_importance,log_z_importance_se,is_ess_fraction,free_energy,free_energy_se\n",
        );
        for r in &self.rows {
            let (q, is) = (&r.quadrature, &r.importance);
            let (f, f_err) = r.free_energy();
            csv.push_str(&format!(
                "{},{},{},{},{},{},{f},{f_err}\n",
                r.beta,
                q.log_z,
                q.std_err,
                is.log_z,
                is.std_err,
                is.ess / self.samples as f64
            ));
        }
        csv
    }
}

impl fmt::Display for GibbsTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Gibbs distribution P_beta(y) = exp(-beta E(y)) / Z_beta for the {} energy ({}-D)",
            self.energy, self.dim
        )?;
        writeln!(
            f,
            "{:>8} {:>24} {:>24} {:>8} {:>22} {:>12}",
            "beta",
            "log Z (quadrature)",
            "log Z (importance)",
            "IS ESS",
            "F = -log Z / beta",
            "closed form"
        )?;
        for r in &self.rows {
            let (q, is) = (&r.quadrature, &r.importance);
            let closed = r.closed.map_or("-".to_string(), |v| format!("{v:.6}"));
            let (fe, fe_err) = r.free_energy();
            writeln!(
                f,
                "{:>8} {:>14.6} ± {:<7.1e} {:>14.6} ± {:<7.1e} {:>7.1}% {fe:>12.6} ± {fe_err:<7.1e} {closed:>12}",
                r.beta,
                q.log_z,
                q.std_err,
                is.log_z,
                is.std_err,
                100.0 * is.ess / self.samples as f64
            )?;
        }
        write!(f, "(nats; errors are one standard error)")
    }
}
