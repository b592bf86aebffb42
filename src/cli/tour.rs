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
use ebm::report::Part;
use std::path::{Path, PathBuf};
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
        &parts(out)?,
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
        dataset: "8gaussians".into(),
        updates: Some(if a.quick { 200 } else { 6000 }),
        negatives: "pcd".into(),
        langevin_steps: Some(20),
        kernel: "mala".into(),
        leapfrog: 5,
        grid_cells: 128,
        grid_refresh: 1,
        step_size: 0.02,
        energy_l2: Some(0.001),
        weight_decay: 0.0,
        spectral_norm: false,
        lr: Some(1e-3),
        lr_decay_at: vec![0.5, 0.75],
        batch: 256,
        hidden: vec![128, 128],
        activation: "silu".into(),
        train_size: None,
        eval_every: if a.quick { 100 } else { 1000 },
        grid: if a.quick { 96 } else { 256 },
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

/// The last row of `dir/file` (a CSV with a header) as `column -> value`.
fn last_row(dir: &Path, file: &str) -> Result<Vec<(String, f64)>> {
    rows(dir, file).map(|mut r| r.pop().unwrap_or_default())
}

/// Every row of `dir/file` as `column -> value` (non-numbers are NaN).
fn rows(dir: &Path, file: &str) -> Result<Vec<Vec<(String, f64)>>> {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).map_err(|e| ebm::Error::io(&p, e))?;
    let m = ebm::report::Metrics::parse(&text, &p)?;
    Ok(m.rows
        .iter()
        .map(|r| m.columns.iter().cloned().zip(r.iter().copied()).collect())
        .collect())
}

fn get(row: &[(String, f64)], col: &str) -> f64 {
    row.iter()
        .find(|(c, _)| c == col)
        .map_or(f64::NAN, |(_, v)| *v)
}

/// Part 1's numbers: log Z per beta, by importance sampling (with its standard error)
/// and by quadrature.
fn gibbs_numbers(out: &Path) -> Result<Vec<ebm::report::Number>> {
    use ebm::report::Number;
    let mut p1 = Vec::new();
    for r in &rows(&out.join("1-gibbs"), "log_z.csv")? {
        let b = get(r, "beta");
        p1.push(Number {
            se: Some(get(r, "log_z_importance_se")),
            ..Number::new(
                format!("log Z at beta {b}, importance sampling"),
                get(r, "log_z_importance"),
                "nats",
            )
        });
        p1.push(Number::new(
            format!("log Z at beta {b}, quadrature"),
            get(r, "log_z_quadrature"),
            "nats",
        ));
    }
    Ok(p1)
}

/// Part 3's numbers: the VAE's last test loss and KL, the fuzzy balls' mean sigmas.
fn latent_numbers(out: &Path) -> Result<Vec<ebm::report::Number>> {
    use ebm::report::Number;
    let vae = last_row(&out.join("3-vae"), "metrics.csv")?;
    let mut p3 = vec![
        Number::new(
            "VAE test loss <E>_q + KL per digit",
            get(&vae, "test_loss"),
            "nats",
        ),
        Number::new(
            "VAE test KL(q || p) per digit",
            get(&vae, "test_kl"),
            "nats",
        ),
    ];
    for r in &rows(&out.join("3-fuzzy-balls"), "fuzzy_balls.csv")? {
        let w = get(r, "kl_weight");
        p3.push(Number::new(
            format!("2-D codes, KL weight {w}: mean sigma of q(z|y)"),
            get(r, "mean_sigma"),
            "",
        ));
    }
    Ok(p3)
}

/// Part 4's numbers: the stationarity residual at and off the forward solution.
fn lagrangian_numbers(out: &Path) -> Result<Vec<ebm::report::Number>> {
    let lag = rows(&out.join("4-lagrangian"), "residuals.csv")?;
    Ok(lag
        .iter()
        .zip(["at the forward solution", "with z_2 moved off it by 0.05"])
        .map(|(r, what)| {
            ebm::report::Number::new(
                format!("stationarity residual dL/dlambda {what}"),
                get(r, "lambda_residual"),
                "",
            )
        })
        .collect())
}

/// The four parts of the tour's report, with the numbers each part wrote.
fn parts(out: &Path) -> Result<Vec<Part>> {
    use ebm::report::Number;
    let p1 = gibbs_numbers(out)?;
    let toy = last_row(&out.join("2-toy-8gaussians"), "metrics.csv")?;
    let p3 = latent_numbers(out)?;
    let p4 = lagrangian_numbers(out)?;
    Ok(vec![
        Part {
            title: "1. Energies to probabilities: P_beta(y) = exp(-beta E(y)) / Z_beta".into(),
            text: "The double-well energy turned into the Gibbs distribution at three inverse \
                   temperatures: log Z by quadrature (exact to rounding) and by importance \
                   sampling (with its standard error and effective sample size); the free \
                   energy F = -log Z / beta. Low beta spreads the mass over both wells, high \
                   beta concentrates it in the minima."
                .into(),
            numbers: p1,
            dirs: vec!["1-gibbs".into()],
        },
        Part {
            title: "2. Maximum likelihood as a contrastive method".into(),
            text: "An MLP energy on 8 Gaussians trained by maximum likelihood read as a \
                   contrastive method: push the energy of data down, of persistent Langevin \
                   samples up, with an energy-magnitude penalty. The test NLL, the KL from \
                   the data and log Z are exact (quadrature on a grid), not estimates."
                .into(),
            numbers: vec![
                Number::new("exact test NLL", get(&toy, "test_nll"), "nats"),
                Number::new("KL(p_data || p_model)", get(&toy, "kl"), "nats"),
                Number::new("log Z", get(&toy, "log_z"), "nats"),
                Number::new("updates", get(&toy, "step"), ""),
            ],
            dirs: vec!["2-toy-8gaussians".into()],
        },
        Part {
            title: "3. Latent variables: the VAE as variational free energy <E>_q + KL(q || p)"
                .into(),
            text: "The VAE on the embedded UCI digits: its loss is the variational free \
                   energy, the expected energy under the encoder's q(z|y) plus KL(q || p). \
                   Then 2-D codes with and without the KL term: without it the balls of \
                   q(z|y) shrink to points (mean sigma near 0) and drift apart; with it they \
                   stay fuzzy and packed near the prior."
                .into(),
            numbers: p3,
            dirs: vec!["3-vae".into(), "3-fuzzy-balls".into()],
        },
        Part {
            title: "4. Backprop as Lagrangian optimization".into(),
            text: "A small network as a chain of constraints z_k = f_k(z_(k-1), w_k): the \
                   multipliers lambda_k of the Lagrangian are the adjoints backprop computes \
                   (checked against finite differences), and all three stationarity \
                   conditions hold at the forward solution (residual 0) but not off it."
                .into(),
            numbers: p4,
            dirs: vec!["4-lagrangian".into()],
        },
    ])
}
