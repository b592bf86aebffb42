//! `log Z_beta = log int exp(-beta E(y)) dy` of a low-dimensional energy at one inverse
//! temperature, two ways, and the free energy `F_beta = -log Z_beta / beta`:
//!
//! - by quadrature ([`quadrature_box`]): the midpoint rule on a box around a centre,
//!   doubled until it holds the mass;
//! - by importance sampling from `N(centre, diag std^2)`, the proposal wider than the law
//!   at this temperature (`std = 1.5 scale max(1, 1/sqrt(beta))`).
//!
//! They agree within a few errors where the effective sample size of the importance
//! weights is large; a small one flags a proposal that misses mass. [`estimate`] runs
//! one [`Method`] of three, the third annealed importance sampling (any dimension).

use crate::energy::{Banana, DoubleWell, Energy, GaussianMixture, validate_beta};
use crate::partition::{AisConfig, LogZ, ais, importance, quadrature};
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
    let n = match d {
        1 => 4000,
        2 => 400,
        3 => 100,
        _ => {
            return Err(Error::invalid(
                "quadrature",
                format!("works in 1 to 3 dimensions, the energy has {d} (use is or ais)"),
            ));
        }
    };
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

/// How [`estimate`] computes `log Z_beta`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// The midpoint rule on a box grown until it holds the mass (1 to 3 dimensions).
    Quadrature,
    /// Importance sampling from a Gaussian wider than the law.
    Is,
    /// Annealed importance sampling from that Gaussian along the geometric bridge
    /// (Neal 2001), MALA moves at each of `temperatures` steps: any dimension.
    Ais,
}

/// One estimate of `log Z_beta` and what made it.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub method: Method,
    pub beta: f64,
    pub log_z: LogZ,
    /// [`Energy::log_z`], where the energy has one.
    pub closed: Option<f64>,
    /// Quadrature: the box `(lo, hi)` that held the mass.
    pub bounds: Option<(Vec<f64>, Vec<f64>)>,
    /// AIS: the mean acceptance of its MALA moves.
    pub acceptance: Option<f64>,
}

impl Estimate {
    /// `F_beta = -log Z_beta / beta` and its standard error.
    pub fn free_energy(&self) -> (f64, f64) {
        (
            -self.log_z.log_z / self.beta,
            self.log_z.std_err / self.beta,
        )
    }
}

/// What [`estimate`] runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub method: Method,
    pub beta: f64,
    /// Importance draws, or AIS runs (particles); quadrature ignores it.
    pub samples: usize,
    /// AIS: steps of Grosse et al.'s sigmoidal schedule from the base to `exp(-beta E)`.
    pub temperatures: usize,
    pub seed: u64,
}

/// `log Z_beta` of `e` by `s.method`, for an energy centred near `center` with a scale
/// `scale` per axis: the quadrature box grows from `center +- 12 scale`; importance
/// sampling and AIS start from `N(center, diag std^2)` with `std = 1.5 scale max(1,
/// 1/sqrt(beta))`.
pub fn estimate(e: &dyn Energy, center: &[f64], scale: &[f64], s: &Settings) -> Result<Estimate> {
    let Settings {
        method,
        beta,
        samples,
        temperatures,
        seed,
    } = *s;
    validate_beta(beta)?;
    let d = e.dim();
    for (what, v) in [("center", center), ("scale", scale)] {
        if v.len() != d {
            return Err(Error::invalid(
                what,
                format!("has {} entries for an energy of dimension {d}", v.len()),
            ));
        }
    }
    if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(Error::invalid("scale", format!("{s} (each must be > 0)")));
    }
    if let Some(c) = center.iter().find(|c| !c.is_finite()) {
        return Err(Error::invalid("center", format!("{c} (must be finite)")));
    }
    let std: Vec<f64> = scale
        .iter()
        .map(|s| 1.5 * s * (1.0 / beta.sqrt()).max(1.0))
        .collect();
    let (mut bounds, mut acceptance) = (None, None);
    let log_z = match method {
        Method::Quadrature => {
            let (q, lo, hi) = quadrature_box(e, beta, center, scale)?;
            bounds = Some((lo, hi));
            q
        }
        Method::Is => importance(e, beta, center, &std, samples, seed)?,
        Method::Ais => {
            if temperatures < 1 {
                return Err(Error::invalid("temperatures", "need at least 1 (got 0)"));
            }
            let cfg = AisConfig {
                runs: samples,
                schedule: AisConfig::sigmoid_schedule(temperatures),
                base_mean: center.to_vec(),
                base_std: std.clone(),
                // MALA's step is a time: (0.3 of the narrowest axis)^2 to start with.
                step_size: 0.1 * std.iter().map(|s| s * s).fold(f64::INFINITY, f64::min),
                steps_per_temp: 1,
                seed,
            };
            let r = ais(e, beta, &cfg)?;
            acceptance = Some(r.acceptance);
            r.log_z
        }
    };
    Ok(Estimate {
        method,
        beta,
        log_z,
        closed: e.log_z(beta),
        bounds,
        acceptance,
    })
}
