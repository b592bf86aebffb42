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
use ebm::Result;
use ebm::energy::{Banana, DoubleWell, Energy, GaussianMixture};
use ebm::eval::partition::log_z_row;
use ebm::figures::gibbs_density;

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
#[command(
    after_help = "Example:\n  ebm gibbs --energy banana --betas 0.5,1,2     # log Z at beta 1 = log(20 pi) = 4.140462"
)]
pub struct GibbsArgs {
    /// The energy.
    #[arg(long, value_enum, default_value = "double-well")]
    pub energy: Builtin,
    /// Inverse temperatures, comma-separated; each > 0, finite.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.5,1,2,10")]
    pub betas: Vec<f64>,
    /// Importance samples per beta; >= 2.
    #[arg(long, default_value_t = 100_000)]
    pub samples: usize,
    /// Folder for the PNG of P_beta(y) at each beta.
    #[arg(long, default_value = "runs/gibbs")]
    pub out: std::path::PathBuf,
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
    let mut pictures = Vec::new();
    // The table again as CSV (what the report shows, with units).
    let mut csv = String::from(
        "beta,log_z_quadrature,log_z_quadrature_se,log_z_importance,log_z_importance_se,is_ess_fraction,free_energy,free_energy_se\n",
    );
    for &beta in &a.betas {
        let r = log_z_row(e.as_ref(), beta, &center, &scale, a.samples, seed)?;
        let (q, is) = (&r.quadrature, &r.importance);
        pictures.push(gibbs_density(
            e.as_ref(),
            beta,
            q.log_z,
            &r.lo,
            &r.hi,
            &a.out,
        )?);
        let closed = r.closed.map_or("-".to_string(), |v| format!("{v:.6}"));
        let (f, f_err) = r.free_energy();
        csv.push_str(&format!(
            "{beta},{},{},{},{},{},{f},{f_err}\n",
            q.log_z,
            q.std_err,
            is.log_z,
            is.std_err,
            is.ess / a.samples as f64
        ));
        println!(
            "{beta:>8} {:>14.6} ± {:<7.1e} {:>14.6} ± {:<7.1e} {:>7.1}% {f:>12.6} ± {f_err:<7.1e} {closed:>12}",
            q.log_z,
            q.std_err,
            is.log_z,
            is.std_err,
            100.0 * is.ess / a.samples as f64
        );
    }
    println!("(nats; errors are one standard error)");
    ebm::io::write_atomic(&a.out.join("log_z.csv"), csv.as_bytes())?;
    for p in pictures {
        println!("wrote {}", p.display());
    }
    println!("report: {}", ebm::report::write_report(&a.out)?.display());
    Ok(())
}
