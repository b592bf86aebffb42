//! The main job: a tour of the lecture on data embedded in the binary (no download), in
//! well under 2 minutes on 2 cores, ending with the path of its HTML report.
//!
//! 1. Energies to probabilities: the double well's Gibbs distribution at three inverse
//!    temperatures (log Z by quadrature and importance sampling, pictures).
//! 2. Maximum likelihood as a contrastive method: an MLP energy on 8 Gaussians with
//!    persistent Langevin negatives, its exact test NLL and KL by quadrature.
//! 3. Latent variables: the VAE (variational free energy) on the embedded digits, and the
//!    fuzzy balls of 2-D codes with and without the KL term.
//! 4. Backprop as Lagrangian optimization: multipliers against finite differences and the
//!    stationarity residuals.
//!
//! Expected (seed 0): log Z of the double well by importance sampling within 1% of
//! quadrature; 8 Gaussians: exact test NLL about 2.86 nats (data entropy 2.83) and KL
//! about 0.03 after 6,000 updates; VAE test loss about 26 nats/digit after 20 epochs;
//! mean sigma about 0.02 without KL and about 0.38 with it; Lagrangian residuals 0 at the
//! solution. About a minute on 2 cores.

use super::{demo, gibbs, lagrangian, toy, vae_figures};
use clap::Args;
use ebm::Result;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Example:\n  ebm tour            # about a minute on 2 cores: 8gaussians exact test NLL about 2.86 nats, KL about 0.03; runs/tour/report.html\n  ebm tour --quick    # a shorter run of every part (seconds)"
)]
pub struct TourArgs {
    /// Output folder (figures, tables, report.html).
    #[arg(long, default_value = "runs/tour")]
    pub out: PathBuf,
    /// A smaller budget (a few seconds): fewer updates and epochs, same steps (for tests).
    #[arg(long)]
    pub quick: bool,
}

impl Default for TourArgs {
    fn default() -> Self {
        TourArgs {
            out: PathBuf::from("runs/tour"),
            quick: false,
        }
    }
}

fn banner(n: usize, title: &str) {
    println!("\n== {n}. {title} ==");
}

/// The tour: its four parts in order, then the report of the whole output folder.
pub fn run(a: &TourArgs, seed: u64) -> Result<()> {
    let t0 = Instant::now();
    let out = &a.out;
    std::fs::create_dir_all(out).map_err(|e| ebm::Error::io(out, e))?;
    println!(
        "ebm: a tour of the lecture (LeCun, Energy-Based Models, Variational Methods) on embedded data; seed {seed}, {} threads; output in {}",
        ebm::threads::threads(),
        out.display()
    );
    banner(
        1,
        "Energies to probabilities: P_beta(y) = exp(-beta E(y)) / Z_beta",
    );
    gibbs::run(
        &gibbs::GibbsArgs {
            energy: gibbs::Builtin::DoubleWell,
            betas: vec![0.5, 1.0, 5.0],
            samples: if a.quick { 20_000 } else { 100_000 },
            out: out.join("1-gibbs"),
        },
        seed,
    )?;
    banner(
        2,
        "Maximum likelihood as a contrastive method: push data energies down, Langevin samples up",
    );
    toy::train_toy(&contrastive(a), seed)?;
    banner(
        3,
        "Latent variables: the VAE as variational free energy <E>_q + KL(q || p)",
    );
    latent(a, seed)?;
    banner(4, "Backprop as Lagrangian optimization");
    lagrangian::run(
        &lagrangian::LagrangianArgs {
            batch: 32,
            out: Some(out.join("4-lagrangian")),
        },
        seed,
    )?;
    let intro = format!(
        "A tour of the lecture on data embedded in the binary: seed {seed}, {} threads, {} budget, \
         {:.1} s. Energies, log-likelihoods, KLs and losses are in nats (natural log; divide by \
         ln 2 = 0.693 for bits); an energy E is in nats because P(y) = exp(-E(y)) / Z at beta 1. \
         Each part links its own report (config, curves, every figure).",
        ebm::threads::threads(),
        if a.quick { "the --quick" } else { "the full" },
        t0.elapsed().as_secs_f64()
    );
    let report = ebm::report::write_parts_report(
        out,
        "ebm: a tour of the lecture (LeCun, Energy-Based Models, Variational Methods)",
        &intro,
        &ebm::report::tour::parts(out)?,
    )?;
    println!(
        "\ntour finished in {:.1} s; report: {}",
        t0.elapsed().as_secs_f64(),
        report.display()
    );
    Ok(())
}

/// Part 2: an MLP energy on 8 Gaussians with persistent Langevin negatives.
fn contrastive(a: &TourArgs) -> toy::TrainToyArgs {
    toy::TrainToyArgs {
        options: ebm::train::toy::ToyOptions {
            updates: Some(if a.quick { 200 } else { 6000 }),
            eval_every: if a.quick { 100 } else { 1000 },
            grid: if a.quick { 96 } else { 256 },
            ..Default::default()
        },
        folder: super::run_args::RunFolderArgs {
            run: Some(a.out.join("2-toy-8gaussians")),
            ..Default::default()
        },
        sample_steps: if a.quick { 100 } else { 500 },
        stop_after_updates: None,
    }
}

/// Part 3: the VAE on the embedded digits, then the fuzzy balls.
fn latent(a: &TourArgs, seed: u64) -> Result<()> {
    demo::run(
        &demo::DemoArgs {
            epochs: if a.quick { 3 } else { 20 },
            out: Some(a.out.join("3-vae")),
        },
        seed,
    )?;
    println!();
    vae_figures::fuzzy_balls(
        &vae_figures::FuzzyBallsArgs {
            data: None,
            epochs: if a.quick { 3 } else { 30 },
            kl_weights: vec![0.0, 1.0],
            points: 500,
            out: a.out.join("3-fuzzy-balls"),
        },
        seed,
    )
}
