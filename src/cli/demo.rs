//! The main job: the PyTorch-examples VAE (input 64 here) on the UCI digits embedded in
//! the binary; 300 digits held out for the test loss.
//!
//! Expected (seed 0, 20 epochs): the test loss per digit falls from about 32 nats after
//! epoch 1 to about 26 nats after epoch 20; each epoch takes well under a second.

use clap::Args;
use ebm::data::digits::Digits;
use ebm::models::vae::{Vae, VaeConfig};
use ebm::nn::optim::OptimConfig;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm demo            # the VAE on the embedded digits: test loss about 26 nats/digit after 20 epochs"
)]
pub struct DemoArgs {
    /// Passes over the embedded digits (about 26 nats/digit test loss after 20); >= 0.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Output folder: metrics.csv (losses in nats per digit), curves and report.html.
    /// Without it, the table is printed only.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            epochs: 20,
            out: None,
        }
    }
}

pub fn run(a: &DemoArgs, seed: u64) -> ebm::Result<()> {
    let (train, test) = Digits::embedded().split(300, seed);
    let cfg = VaeConfig {
        input_dim: 64,
        ..VaeConfig::pytorch_mnist()
    };
    println!(
        "ebm main job: VAE 64-400-20 (ReLU, Bernoulli energy, prior N(0, I)) on the embedded UCI digits \
         ({} train, {} test; pixels / 16), Adam 1e-3, batch 128, seed {seed}, {} threads",
        train.len(),
        test.len(),
        ebm::threads::threads()
    );
    println!(
        "loss = variational free energy <E>_q + KL(q || p), nats per digit; expected test loss about 26 after 20 epochs (seed 0)"
    );
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut vae = Vae::new(cfg, &mut rng)?;
    let mut opt = OptimConfig::adam(1e-3).build();
    println!(
        "{:>5} {:>12} {:>12} {:>10} {:>8}",
        "epoch", "train loss", "test loss", "test KL", "seconds"
    );
    let mut csv = String::from("epoch,seconds,train_loss,test_loss,test_kl\n");
    for e in 1..=a.epochs {
        let t = Instant::now();
        let l = vae.train_epoch(train.images.view(), 128, &mut rng, opt.as_mut())?;
        let secs = t.elapsed().as_secs_f64();
        let tl = vae.evaluate(test.images.view(), 128, &mut rng)?;
        println!(
            "{e:>5} {:>12.3} {:>12.3} {:>10.3} {secs:>8.3}",
            l.per_row(),
            tl.per_row(),
            tl.kl / tl.n as f64
        );
        csv.push_str(&format!(
            "{e},{secs:.4},{},{},{}\n",
            l.per_row(),
            tl.per_row(),
            tl.kl / tl.n as f64
        ));
    }
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).map_err(|e| ebm::Error::io(out, e))?;
        ebm::io::write_atomic(&out.join("metrics.csv"), csv.as_bytes())?;
        println!("report: {}", ebm::report::write_report(out)?.display());
    }
    Ok(())
}
