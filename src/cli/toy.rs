//! `ebm train toy` / `ebm eval toy` / `ebm canyon`: contrastive EBMs on the 2-D toy
//! sets, with exact evaluation (quadrature `log Z`, test NLL and KL in nats).
//!
//! Expected (seed 0, defaults, about 2 minutes on 2 cores): on 8gaussians the exact
//! test NLL falls from about 4.5 to about 3.0 nats (the data entropy is 2.83), KL to
//! about 0.15 nats.

use clap::Args;
use ebm::energy::{Energy, NeuralEnergy};
use ebm::toy::ToyData;
use ebm::train::toy::{ToyOptions, ToyStep, finish_run, open_run};
use ebm::train::{FitConfig, Outcome, fit};
use ebm::{Error, Result};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm train toy --dataset 8gaussians     # exact test NLL about 2.86 nats, KL about 0.03, figures in runs/toy-8gaussians\n  ebm train toy --dataset rings --negatives grid   # KL about 0.04 (PCD: 0.70)\n  ebm train toy --dataset checkerboard --negatives grid --activation relu --updates 40000 --eval-every 4000   # KL about 0.024, 2.5 min\n  ebm train toy --resume runs/toy-8gaussians     # continue a stopped run (Ctrl-C or kill) bit for bit; --updates N extends it\n\nThe run folder (--run, alias --out; default runs/toy-DATASET) holds config.json,\nenergy.safetensors (the model of the last evaluation point), trainer.safetensors\n(everything a resume needs, one atomic file, at every evaluation point and on Ctrl-C),\nthe metrics, best.safetensors (the lowest exact test NLL so far), checkpoints/, the\nfigures and report.html. With --resume only --updates, --keep, --save, --minutes and\nthe global options may be given. For --keep and --minutes an epoch is an evaluation\ninterval (--eval-every updates)."
)]
#[command(group(clap::ArgGroup::new("fresh").multiple(true).conflicts_with("resume").args([
    "dataset", "negatives", "langevin_steps", "kernel", "leapfrog", "grid_cells",
    "grid_refresh", "step_size", "energy_l2", "weight_decay", "spectral_norm", "lr",
    "lr_decay_at", "batch", "hidden", "activation", "train_size", "eval_every", "grid", "run",
])))]
pub struct TrainToyArgs {
    #[command(flatten)]
    pub options: ToyOptions,
    #[command(flatten)]
    pub folder: super::run_args::RunFolderArgs,
    /// Transitions of --kernel that move the 2,000 chains (from uniform noise over the
    /// box) drawn in samples.png, 1..=100000. The figure only: no printed number
    /// depends on it.
    #[arg(long, default_value_t = 500)]
    pub sample_steps: usize,
    /// Stop as Ctrl-C would after this many updates in all (for tests of --resume); >= 0.
    #[arg(long, hide = true)]
    pub stop_after_updates: Option<usize>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm eval toy --checkpoint runs/toy-8gaussians/energy.safetensors --dataset 8gaussians   # exact test NLL about 2.86 nats, KL about 0.03"
)]
pub struct EvalToyArgs {
    /// A saved energy (energy.safetensors in a run folder).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Toy set: 8gaussians, rings, moons, pinwheel, swissroll, checkerboard, 2spirals.
    #[arg(long, default_value = "8gaussians")]
    pub dataset: String,
    /// Test points drawn from the set (its exact NLL in nats); >= 1.
    #[arg(long, default_value_t = 20_000)]
    pub test_size: usize,
    /// Cells per axis of the quadrature grid; >= 8.
    #[arg(long, default_value_t = 512)]
    pub grid: usize,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm canyon          # unregularized: well depth grows and test NLL worsens past the regularized run; table and PNGs in runs/canyon"
)]
pub struct CanyonArgs {
    /// Toy set: 8gaussians, rings, moons, pinwheel, swissroll, checkerboard, 2spirals.
    #[arg(long, default_value = "8gaussians")]
    pub dataset: String,
    /// The small training set; >= 1.
    #[arg(long, default_value_t = 64)]
    pub train_size: usize,
    /// Updates of each of the two runs; >= 1.
    #[arg(long, default_value_t = 3000)]
    pub updates: usize,
    /// Folder for the table and the figures.
    #[arg(long, default_value = "runs/canyon")]
    pub out: PathBuf,
}

/// `ebm train toy`. At every evaluation point the run folder gets energy.safetensors,
/// the metrics, best.safetensors and checkpoints/, then trainer.safetensors (last, so a
/// kill at any moment leaves a state whose later files a resume rewrites identically).
/// Ctrl-C (or --stop-after-updates) finishes the current update, writes
/// trainer.safetensors at that update (exact: the whole state is saved, so the resumed
/// run repeats nothing) and exits 0; energy.safetensors stays the model of the last
/// evaluation point.
pub fn train_toy(a: &TrainToyArgs, seed: u64) -> Result<()> {
    if !(1..=100_000).contains(&a.sample_steps) {
        return Err(Error::invalid(
            "--sample-steps",
            format!("{} (must be in 1..=100000)", a.sample_steps),
        ));
    }
    let f = &a.folder;
    f.check()?;
    let dir = match (&f.resume, &f.run) {
        (Some(d), _) | (None, Some(d)) => d.clone(),
        (None, None) => PathBuf::from(format!(
            "runs/toy-{}",
            ToyData::from_name(&a.options.dataset)?.name()
        )),
    };
    let (run, t, saved) = open_run(&dir, f.resume.is_some(), &a.options, seed)?;
    if f.resume.is_some() {
        let (done, all) = (t.done(), t.run_config().updates);
        eprintln!(
            "resuming {} at update {done} of {all} (seed {})",
            dir.display(),
            t.seed()
        );
    }
    let mut step = ToyStep {
        run: t,
        keep: f.keep_or(saved),
    };
    let start_at = step.position();
    let cfg = FitConfig {
        stop_after_updates: a.stop_after_updates,
        ..f.fit_config(step.rounds(), step.keep, "ebm train toy")
    };
    if fit(&mut step, Some(&run), start_at, &cfg)? == Outcome::Interrupted {
        return Ok(());
    }
    let (data, out) = (step.run.data(), dir);
    let r = finish_run(step, &out, a.sample_steps)?;
    let f = &r.final_eval;
    println!(
        "{}: exact test NLL {:.4} nats (data entropy {}), KL(p_data || p_model) {} nats, log Z {:.4}, {:.1} s; run folder {}",
        data.name(),
        f.test_nll,
        f.data_entropy
            .map_or("unknown".into(), |v| format!("{v:.4}")),
        f.kl.map_or("n/a (no closed-form density)".into(), |v| format!("{v:.4}")),
        f.log_z,
        r.seconds,
        out.display()
    );
    println!("report: {}", ebm::report::write_report(&out)?.display());
    Ok(())
}

pub fn eval_toy(a: &EvalToyArgs, seed: u64) -> Result<()> {
    let data = ToyData::from_name(&a.dataset)?;
    let e = NeuralEnergy::load(&a.checkpoint)?;
    if e.dim() != 2 {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "{} is a {}-D energy; the toy sets are 2-D",
                a.checkpoint.display(),
                e.dim()
            ),
        ));
    }
    if a.test_size == 0 {
        return Err(Error::invalid("--test-size", "must be at least 1"));
    }
    let test = data.sample(a.test_size, seed ^ 0x7e57);
    let f = ebm::exact2d::evaluate(&e, 1.0, &data, test.view(), a.grid)?;
    println!(
        "{}: exact test NLL {:.4} nats, KL {} nats, mass off support {}, log Z {:.4} ({}x{} grid{})",
        data.name(),
        f.test_nll,
        f.kl.map_or("n/a".into(), |v| format!("{v:.4}")),
        f.mass_outside.map_or("n/a".into(), |v| format!("{v:.2e}")),
        f.log_z,
        a.grid,
        a.grid,
        if f.box_holds_mass {
            ""
        } else {
            "; the box misses model mass: not exact"
        }
    );
    Ok(())
}

/// `ebm canyon`: the two runs of [`ebm::toy_ebm::canyon`], their progress printed.
pub fn canyon(a: &CanyonArgs, seed: u64) -> Result<()> {
    let data = ToyData::from_name(&a.dataset)?;
    let progress = |name: &str, p: &ebm::toy_ebm::EvalPoint| {
        println!(
            "{name:>14}: step {:>5}  well depth {:>7.2}  train NLL {:>8.3}  test NLL {:>8.3}",
            p.step, p.well_depth, p.train_nll, p.test_nll
        )
    };
    let end = |e: &ebm::toy_ebm::canyon::CanyonEnd| {
        println!(
            "{}: final well depth {:.2}, test NLL {:.3} nats",
            e.name, e.well_depth, e.test_nll
        )
    };
    ebm::toy_ebm::canyon::run(&data, a.train_size, a.updates, &a.out, seed, progress, end)?;
    println!("table: {}", a.out.join("canyon.md").display());
    println!("report: {}", ebm::report::write_report(&a.out)?.display());
    Ok(())
}
