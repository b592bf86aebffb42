//! The workloads of `ebm bench` as values: each one's settings are its flags
//! ([`clap::Args`]; [`Workload::run`] emits one JSON line per timed run). The numbers
//! they should reach are in BENCHMARKS.md.

use super::{ais, contrastive, hmc_t1, langevin, mala_t5, vae};
use crate::data::idx::Mnist;
use crate::{Error, Result};
use std::path::PathBuf;

/// A workload of `ebm bench`.
pub trait Workload {
    /// Run it, each timed run's result as one JSON line to `emit`.
    fn run(&self, seed: u64, emit: &mut dyn FnMut(String)) -> Result<()>;
}

fn json(r: &impl serde::Serialize) -> String {
    serde_json::to_string(r).expect("a benchmark result serializes")
}

/// The PyTorch examples VAE on MNIST.
#[derive(clap::Args, Clone, Debug)]
#[command(
    after_help = "Example:\n  ebm --threads 2 bench vae --data ../shared/data/mnist --epochs 3   # one JSON line: seconds per epoch (0.75 s on the AVX-512 machine of BENCHMARKS.md)"
)]
pub struct VaeWorkload {
    /// MNIST directory (IDX files, gzip or not).
    #[arg(long, default_value = "../shared/data/mnist")]
    pub data: PathBuf,
    /// Epochs timed (the first includes warm-up of caches); >= 1.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
}

impl Workload for VaeWorkload {
    fn run(&self, seed: u64, emit: &mut dyn FnMut(String)) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::invalid("--epochs", "must be at least 1"));
        }
        let m = Mnist::load(&self.data)?;
        let r = vae(
            m.train_images.view(),
            m.test_images.view(),
            self.epochs,
            seed,
            |e, s, tr, te| {
                eprintln!("epoch {e}: {s:.2} s, train loss {tr:.2}, test loss {te:.2} nats/image")
            },
        )?;
        emit(json(&r));
        Ok(())
    }
}

/// Langevin steps of 2-D chains through an MLP 2-128-128-1 (SiLU).
#[derive(clap::Args, Clone, Debug)]
#[command(
    after_help = "Example:\n  ebm --threads 1 bench langevin --repeat 3      # one JSON line per repeat: seconds for 200 steps of 4,096 chains (0.34 s in BENCHMARKS.md)"
)]
pub struct LangevinWorkload {
    /// Chains, each a Langevin trajectory; >= 1.
    #[arg(long, default_value_t = 4096)]
    pub chains: usize,
    /// Langevin steps timed; >= 0.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Chains per tile: each thread runs the whole fprop/bprop on one tile at a time; >= 1.
    #[arg(long, default_value_t = 256)]
    pub tile: usize,
    /// Repeat the run this many times (one JSON line each); >= 1; 0 counts as 1.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

impl Workload for LangevinWorkload {
    fn run(&self, seed: u64, emit: &mut dyn FnMut(String)) -> Result<()> {
        if self.chains == 0 || self.tile == 0 {
            return Err(Error::invalid("--chains/--tile", "must be at least 1"));
        }
        for _ in 0..self.repeat.max(1) {
            emit(json(&langevin(self.chains, self.steps, self.tile, seed)));
        }
        Ok(())
    }
}

/// AIS log Z of the ill-conditioned quadratic energy against its closed form.
#[derive(clap::Args, Clone, Debug)]
#[command(
    after_help = "Example:\n  ebm bench ais                                  # one JSON line: AIS log Z of a 100-d quadratic and its error against the closed form (-0.57 nats, standard error 0.22, at the defaults)"
)]
pub struct AisWorkload {
    /// Dimension of the ill-conditioned quadratic energy; >= 1.
    #[arg(long, default_value_t = 100)]
    pub dim: usize,
    /// Intermediate distributions (intervals of the sigmoid schedule); >= 1.
    #[arg(long, default_value_t = 1000)]
    pub temps: usize,
    /// Independent AIS runs (the estimate averages their weights); >= 2.
    #[arg(long, default_value_t = 256)]
    pub runs: usize,
    /// Standard deviation of the base N(0, b^2 I); > 0.
    #[arg(long, default_value_t = super::AIS_BASE_STD)]
    pub base_std: f64,
    /// Initial MALA step size (adapted toward 57% acceptance after each temperature); > 0.
    #[arg(long, default_value_t = super::AIS_STEP_SIZE)]
    pub step_size: f64,
    /// Repeat the run this many times (one JSON line each, same seed); >= 1; 0 counts as 1.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

impl Workload for AisWorkload {
    fn run(&self, seed: u64, emit: &mut dyn FnMut(String)) -> Result<()> {
        for _ in 0..self.repeat.max(1) {
            let r = ais(
                self.dim,
                self.temps,
                self.runs,
                self.base_std,
                self.step_size,
                seed,
            )?;
            emit(json(&r));
        }
        Ok(())
    }
}

/// MALA on T5, the 8-Gaussian ring.
#[derive(clap::Args, Clone, Debug)]
#[command(
    after_help = "Example:\n  ebm --threads 1 bench mala --repeat 3          # one JSON line per repeat: seconds for 500 MALA steps of 4,096 chains on T5"
)]
pub struct MalaWorkload {
    /// MALA chains; >= 1.
    #[arg(long, default_value_t = 4096)]
    pub chains: usize,
    /// MALA steps timed; >= 0.
    #[arg(long, default_value_t = 500)]
    pub steps: usize,
    /// Timed repetitions (one JSON line each); >= 1; 0 counts as 1.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

impl Workload for MalaWorkload {
    fn run(&self, seed: u64, emit: &mut dyn FnMut(String)) -> Result<()> {
        for _ in 0..self.repeat.max(1) {
            emit(json(&mala_t5(self.chains, self.steps, seed)?));
        }
        Ok(())
    }
}

/// Batched HMC on T1 (100-d Gaussian, stds 0.1..10).
#[derive(clap::Args, Clone, Debug)]
#[command(
    after_help = "Example:\n  ebm bench hmc --repeat 3                       # one JSON line per repeat: minimum bulk ESS per gradient on T1 (about 0.05 over the draws)"
)]
pub struct HmcWorkload {
    /// HMC chains; >= 1.
    #[arg(long, default_value_t = 4)]
    pub chains: usize,
    /// Leapfrog steps per transition, 1..=1024.
    #[arg(long, default_value_t = 10)]
    pub leapfrog: usize,
    /// Warm-up transitions (step size and mass adapted); >= 0.
    #[arg(long, default_value_t = 1000)]
    pub warmup: usize,
    /// Kept draws per chain (ESS per gradient is computed on them).
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    /// Relative step-size jitter per chain and transition; in [0, 1).
    #[arg(long, default_value_t = 0.5)]
    pub jitter: f64,
    /// Timed repetitions (one JSON line each); >= 1; 0 counts as 1.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

impl Workload for HmcWorkload {
    fn run(&self, seed: u64, emit: &mut dyn FnMut(String)) -> Result<()> {
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(Error::invalid(
                "--jitter",
                format!(
                    "{} (must be in [0, 1): a relative step-size spread)",
                    self.jitter
                ),
            ));
        }
        for _ in 0..self.repeat.max(1) {
            let (c, l, w, d, j) = (
                self.chains,
                self.leapfrog,
                self.warmup,
                self.draws,
                self.jitter,
            );
            emit(json(&hmc_t1(c, l, w, d, j, seed)?));
        }
        Ok(())
    }
}

/// Contrastive EBM training throughput (MLP 2-128-128-1, SiLU, persistent chains).
#[derive(clap::Args, Clone, Debug)]
#[command(
    after_help = "Example:\n  ebm --threads 2 bench contrastive --repeat 3   # one JSON line per repeat: seconds for 200 updates (BENCHMARKS.md: 2.4-2.6x PyTorch)"
)]
pub struct ContrastiveWorkload {
    /// Contrastive updates timed; >= 0.
    #[arg(long, default_value_t = 200)]
    pub updates: usize,
    /// Data and negative batch per update; >= 1.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Langevin steps per update; >= 1.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Timed repetitions (one JSON line each); >= 1; 0 counts as 1.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

impl Workload for ContrastiveWorkload {
    fn run(&self, seed: u64, emit: &mut dyn FnMut(String)) -> Result<()> {
        for _ in 0..self.repeat.max(1) {
            emit(json(&contrastive(
                self.updates,
                self.batch,
                self.steps,
                seed,
            )?));
        }
        Ok(())
    }
}

/// The image EBM's update and a conv forward+backward (`bench/peers/conv_torch.py` is
/// the PyTorch peer).
#[derive(clap::Args, Clone, Debug)]
#[command(
    after_help = "Example:\n  ebm --threads 1 bench conv        # one JSON line: seconds per image-EBM update (60 SGLD steps of 128 chains + the weight step) and per forward+backward"
)]
pub struct ConvWorkload {
    /// Chains (and positives) per update; >= 1.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// SGLD steps per update; >= 0.
    #[arg(long, default_value_t = 60)]
    pub steps: usize,
    /// Channels of the first conv; 1..=512.
    #[arg(long, default_value_t = 16)]
    pub features: usize,
    /// Timed runs of each part (the median is reported); >= 1; 0 counts as 1.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

impl Workload for ConvWorkload {
    fn run(&self, seed: u64, emit: &mut dyn FnMut(String)) -> Result<()> {
        if self.batch == 0 {
            return Err(Error::invalid("--batch", "must be at least 1"));
        }
        emit(json(&crate::bench::conv(
            self.batch,
            self.steps,
            self.features,
            self.repeat,
            seed,
        )?));
        Ok(())
    }
}
