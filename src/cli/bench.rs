//! `ebm bench vae|langevin|ais`: the engine's core workloads, one JSON line per run.

use clap::{Args, Subcommand};
use ebm::data::idx::Mnist;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// The PyTorch examples VAE on MNIST: seconds per epoch (median after the first) and
    /// test loss per image after each epoch (expected: about 127 nats after epoch 1).
    Vae(VaeBenchArgs),
    /// 200 Langevin steps of 4,096 2-D chains through an MLP 2-128-128-1 (SiLU).
    Langevin(LangevinArgs),
    /// AIS log Z of the 100-d ill-conditioned quadratic energy (1,000 temperatures, 256
    /// runs, MALA), with the closed form and the error.
    Ais(AisArgs),
    /// T5: 500 MALA steps (step 0.01) of 4,096 chains on the 8-Gaussian ring; the mode
    /// fractions should each be 9-16% with > 95% of chains within 0.3 of a mode.
    Mala(MalaArgs),
    /// Batched HMC on T1 (100-d Gaussian, stds 0.1..10): 4 chains, 10 leapfrog steps,
    /// 1,000 warm-up + 1,000 draws; bulk ESS and ESS per gradient.
    Hmc(HmcArgs),
    /// Contrastive EBM training throughput: MLP 2-128-128-1 (SiLU), batch 256, 20
    /// Langevin steps per update on persistent chains, 200 updates.
    Contrastive(ContrastiveArgs),
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm --threads 2 bench contrastive --repeat 3   # one JSON line per repeat: seconds for 200 updates (BENCHMARKS.md: 2.4-2.6x PyTorch)"
)]
pub struct ContrastiveArgs {
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

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm --threads 1 bench mala --repeat 3          # one JSON line per repeat: seconds for 500 MALA steps of 4,096 chains on T5"
)]
pub struct MalaArgs {
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

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm bench hmc --repeat 3                       # one JSON line per repeat: minimum bulk ESS per gradient on T1 (about 0.05 over the draws)"
)]
pub struct HmcArgs {
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

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm bench ais                                  # one JSON line: AIS log Z of a 100-d quadratic and its error against the closed form (-0.57 nats, standard error 0.22, at the defaults)"
)]
pub struct AisArgs {
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
    #[arg(long, default_value_t = ebm::bench::AIS_BASE_STD)]
    pub base_std: f64,
    /// Initial MALA step size (adapted toward 57% acceptance after each temperature); > 0.
    #[arg(long, default_value_t = ebm::bench::AIS_STEP_SIZE)]
    pub step_size: f64,
    /// Repeat the run this many times (one JSON line each, same seed); >= 1; 0 counts as 1.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm --threads 2 bench vae --data ../shared/data/mnist --epochs 3   # one JSON line: seconds per epoch (0.75 s on the AVX-512 machine of BENCHMARKS.md)"
)]
pub struct VaeBenchArgs {
    /// MNIST directory (IDX files, gzip or not).
    #[arg(long, default_value = "../shared/data/mnist")]
    pub data: PathBuf,
    /// Epochs timed (the first includes warm-up of caches); >= 1.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm --threads 1 bench langevin --repeat 3      # one JSON line per repeat: seconds for 200 steps of 4,096 chains (0.34 s in BENCHMARKS.md)"
)]
pub struct LangevinArgs {
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

pub fn run(cmd: BenchCmd, seed: u64) -> ebm::Result<()> {
    match cmd {
        BenchCmd::Vae(a) => {
            if a.epochs == 0 {
                return Err(ebm::Error::invalid("--epochs", "must be at least 1"));
            }
            let m = Mnist::load(&a.data)?;
            let r = ebm::bench::vae(
                m.train_images.view(),
                m.test_images.view(),
                a.epochs,
                seed,
                |e, s, tr, te| {
                    eprintln!(
                        "epoch {e}: {s:.2} s, train loss {tr:.2}, test loss {te:.2} nats/image"
                    )
                },
            )?;
            println!("{}", serde_json::to_string(&r).expect("json"));
        }
        BenchCmd::Langevin(a) => {
            if a.chains == 0 || a.tile == 0 {
                return Err(ebm::Error::invalid("--chains/--tile", "must be at least 1"));
            }
            for _ in 0..a.repeat.max(1) {
                let r = ebm::bench::langevin(a.chains, a.steps, a.tile, seed);
                println!("{}", serde_json::to_string(&r).expect("json"));
            }
        }
        BenchCmd::Mala(a) => {
            for _ in 0..a.repeat.max(1) {
                let r = ebm::bench::mala_t5(a.chains, a.steps, seed)?;
                println!("{}", serde_json::to_string(&r).expect("json"));
            }
        }
        BenchCmd::Contrastive(a) => {
            for _ in 0..a.repeat.max(1) {
                let r = ebm::bench::contrastive(a.updates, a.batch, a.steps, seed)?;
                println!("{}", serde_json::to_string(&r).expect("json"));
            }
        }
        BenchCmd::Hmc(a) => {
            if !(0.0..1.0).contains(&a.jitter) {
                return Err(ebm::Error::invalid(
                    "--jitter",
                    format!(
                        "{} (must be in [0, 1): a relative step-size spread)",
                        a.jitter
                    ),
                ));
            }
            for _ in 0..a.repeat.max(1) {
                let r =
                    ebm::bench::hmc_t1(a.chains, a.leapfrog, a.warmup, a.draws, a.jitter, seed)?;
                println!("{}", serde_json::to_string(&r).expect("json"));
            }
        }
        BenchCmd::Ais(a) => {
            for _ in 0..a.repeat.max(1) {
                let r = ebm::bench::ais(a.dim, a.temps, a.runs, a.base_std, a.step_size, seed)?;
                println!("{}", serde_json::to_string(&r).expect("json"));
            }
        }
    }
    Ok(())
}
