//! `ebm gibbs`: the temperature at work on a built-in energy. For each beta, `log Z_beta`
//! by quadrature (the box widened until it holds the mass) and by importance sampling,
//! and the free energy `F_beta = -log Z_beta / beta`, with their errors.
//!
//! Expected: the double well's `log Z` is 1.1649 at beta 0.1, 0.3822 at beta 1 and 1.3933
//! at beta 10 (the deeper well takes over); for the banana at beta 1,
//! `log Z = log(20 pi) = 4.1405`, where quadrature agrees to 1e-8. Importance sampling
//! agrees within a few errors where its effective sample size (ESS) is large; a small ESS
//! flags a proposal that misses mass, and then its error is too small to trust.

use clap::Args;
use ebm::Result;
pub use ebm::eval::partition::Builtin;
use ebm::eval::partition::gibbs_table;
use ebm::figures::gibbs_density;

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

/// `ebm gibbs`: [`gibbs_table`] printed, with a picture of `P_beta` per beta.
pub fn run(a: &GibbsArgs, seed: u64) -> Result<()> {
    let (e, center, scale) = a.energy.build();
    let t = gibbs_table(e.as_ref(), &center, &scale, &a.betas, a.samples, seed)?;
    println!("{t}");
    let mut pictures = Vec::new();
    for r in &t.rows {
        pictures.push(gibbs_density(
            e.as_ref(),
            r.beta,
            r.quadrature.log_z,
            &r.lo,
            &r.hi,
            &a.out,
        )?);
    }
    ebm::io::write_atomic(&a.out.join("log_z.csv"), t.csv().as_bytes())?;
    for p in pictures {
        println!("wrote {}", p.display());
    }
    println!("report: {}", ebm::report::write_report(&a.out)?.display());
    Ok(())
}
