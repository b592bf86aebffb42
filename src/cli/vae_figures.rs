//! `ebm fuzzy-balls`: the lecture's
//! picture of the codes `q(z|y) = N(mu, diag sigma^2)` as balls in a 2-D latent space,
//! with and without the KL term ([`ebm::figures`]).
//!
//! Expected (`ebm fuzzy-balls`, embedded digits, seed 0): with the KL weight at 0 the
//! balls shrink (mean sigma well below 0.1) and spread far from the origin; at weight 1
//! they gather within a few units of the origin with sigma of order 0.1-1.

use clap::Args;
use ebm::data::images::ImageSet;
use ebm::figures::FuzzyBallsConfig;
use ebm::{Error, Result};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm fuzzy-balls     # embedded digits: mean sigma about 0.02 without the KL term, about 0.38 with it; runs/fuzzy-balls/fuzzy_balls.png"
)]
pub struct FuzzyBallsArgs {
    /// MNIST directory; without it, the embedded UCI digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Passes over the training set for each of the two VAEs; >= 1.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// The two KL weights (1/beta) compared side by side; each >= 0, finite.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub kl_weights: Vec<f32>,
    /// Points drawn per panel (test images); >= 1.
    #[arg(long, default_value_t = 500)]
    pub points: usize,
    /// Output folder (fuzzy_balls.png, fuzzy_balls.csv).
    #[arg(long, default_value = "runs/fuzzy-balls")]
    pub out: PathBuf,
}

/// Train one 2-D-latent VAE per KL weight (same seed, data and schedule) and draw their
/// test codes as balls side by side ([`ebm::figures::fuzzy_balls`]); print the mean
/// radius and spread of each.
pub fn fuzzy_balls(a: &FuzzyBallsArgs, seed: u64) -> Result<()> {
    if a.kl_weights.is_empty() || a.epochs == 0 || a.points == 0 {
        return Err(Error::invalid(
            "--kl-weights/--epochs/--points",
            "need at least one weight, one epoch and one point",
        ));
    }
    let data = ImageSet::load(a.data.as_deref(), seed)?;
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    println!(
        "fuzzy balls: 2-D latent VAEs on {}, {} epochs, seed {seed}",
        data.what, a.epochs
    );
    println!(
        "{:>10} {:>10} {:>10} {:>8} {:>11} {:>12}",
        "kl weight", "test loss", "recon", "KL", "mean sigma", "mean |mu|"
    );
    let cfg = FuzzyBallsConfig {
        epochs: a.epochs,
        kl_weights: a.kl_weights.clone(),
        points: a.points,
    };
    let done = ebm::figures::fuzzy_balls(&data, &cfg, &a.out, seed, |r| {
        println!(
            "{:>10} {:>10.3} {:>10.3} {:>8.3} {:>11.4} {:>12.3}",
            r.kl_weight, r.test_loss, r.recon, r.kl, r.mean_sigma, r.mean_abs_mu
        );
    })?;
    println!("picture: {}", done.picture.display());
    println!("report: {}", ebm::report::write_report(&a.out)?.display());
    Ok(())
}
