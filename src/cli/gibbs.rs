//! `ebm gibbs`: the temperature at work on a built-in energy. For each beta, `log Z_beta`
//! by quadrature (the box widened until it holds the mass) and by importance sampling,
//! and the free energy `F_beta = -log Z_beta / beta`, with their errors.
//!
//! Expected: the double well's `log Z` is 1.1649 at beta 0.1, 0.3822 at beta 1 and 1.3933
//! at beta 10 (the deeper well takes over); for the banana at beta 1,
//! `log Z = log(20 pi) = 4.1405`, where quadrature agrees to 1e-8. Importance sampling
//! agrees within a few errors where its effective sample size (ESS) is large; a small ESS
//! flags a proposal that misses mass, and then its error is too small to trust.

use clap::{Args, ValueEnum};
use ebm::energy::{Banana, DoubleWell, Energy, GaussianMixture};
use ebm::partition::{LogZ, importance, quadrature};
use ebm::{Error, Result};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Builtin {
    /// `E(y) = 2 (y^2 - 1)^2 + 0.3 y` (1-D).
    DoubleWell,
    /// Eight Gaussians of std 0.3 on a circle of radius 2 (2-D, normalized at beta 1).
    Mixture,
    /// Haario's banana, b = 0.03 (2-D, log Z_1 = log(20 pi)).
    Banana,
}

#[derive(Args, Debug)]
pub struct GibbsArgs {
    /// The energy.
    #[arg(long, value_enum, default_value = "double-well")]
    pub energy: Builtin,
    /// Inverse temperatures, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.5,1,2,10")]
    pub betas: Vec<f64>,
    /// Importance samples per beta.
    #[arg(long, default_value_t = 100_000)]
    pub samples: usize,
}

fn build(b: Builtin) -> (Box<dyn Energy>, Vec<f64>, Vec<f64>) {
    match b {
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

/// Quadrature on a box around the origin, doubled until it holds the mass.
fn quad(e: &dyn Energy, beta: f64, center: &[f64], scale: &[f64]) -> Result<(LogZ, f64)> {
    let d = e.dim();
    let n = [4000, 400, 100][d - 1];
    let mut half = 4.0;
    loop {
        let lo: Vec<f64> = (0..d).map(|i| center[i] - half * scale[i] * 3.0).collect();
        let hi: Vec<f64> = (0..d).map(|i| center[i] + half * scale[i] * 3.0).collect();
        match quadrature(e, beta, &lo, &hi, n) {
            Ok(r) => return Ok((r, half * 3.0)),
            Err(Error::Invalid { msg, .. })
                if msg.contains("does not hold the mass") && half < 256.0 =>
            {
                half *= 2.0
            }
            Err(err) => return Err(err),
        }
    }
}

pub fn run(a: &GibbsArgs, seed: u64) -> Result<()> {
    let (e, center, scale) = build(a.energy);
    println!(
        "Gibbs distribution P_beta(y) = exp(-beta E(y)) / Z_beta for the {} energy ({}-D)",
        e.name(),
        e.dim()
    );
    println!(
        "{:>8} {:>24} {:>24} {:>8} {:>22} {:>12}",
        "beta",
        "log Z (quadrature)",
        "log Z (importance)",
        "IS ESS",
        "F = -log Z / beta",
        "closed form"
    );
    for &beta in &a.betas {
        ebm::energy::validate_beta(beta)?;
        let (q, _) = quad(e.as_ref(), beta, &center, &scale)?;
        // Proposal: wider than the law at this temperature (at least the energy's scale).
        let std: Vec<f64> = scale
            .iter()
            .map(|s| 1.5 * s * (1.0 / beta.sqrt()).max(1.0))
            .collect();
        let is = importance(e.as_ref(), beta, &center, &std, a.samples, seed)?;
        let closed = e.log_z(beta).map_or("-".to_string(), |v| format!("{v:.6}"));
        println!(
            "{beta:>8} {:>14.6} ± {:<7.1e} {:>14.6} ± {:<7.1e} {:>7.1}% {:>12.6} ± {:<7.1e} {closed:>12}",
            q.log_z,
            q.std_err,
            is.log_z,
            is.std_err,
            100.0 * is.ess / a.samples as f64,
            -q.log_z / beta,
            q.std_err / beta
        );
    }
    println!(
        "(nats; errors are one standard error; pictures of P_beta come with the plotting module)"
    );
    Ok(())
}
