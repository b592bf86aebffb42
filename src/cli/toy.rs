//! `ebm train toy` / `ebm eval toy` / `ebm canyon`: contrastive EBMs on the 2-D toy
//! sets, with exact evaluation (quadrature `log Z`, test NLL and KL in nats).
//!
//! Expected (seed 0, defaults, about 2 minutes on 2 cores): on 8gaussians the exact
//! test NLL falls from about 4.5 to about 3.0 nats (the data entropy is 2.83), KL to
//! about 0.15 nats.

use clap::Args;
use ebm::contrastive::{ContrastiveConfig, Negatives};
use ebm::energy::{Energy, MlpSpec, NeuralEnergy};
use ebm::nn::ActivationKind;
use ebm::nn::optim::OptimConfig;
use ebm::toy::ToyData;
use ebm::toy_ebm::{ToyRunConfig, ToyTraining, train, well_depth};
use ebm::train::toy::ToyStep;
use ebm::train::{FitConfig, Outcome, RunDir, fit};
use ebm::{Error, Result};
use std::path::{Path, PathBuf};

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
    /// 8gaussians, rings, moons, pinwheel, swissroll, checkerboard, 2spirals.
    #[arg(long, default_value = "8gaussians")]
    pub dataset: String,
    /// Updates in all [default: 6000]. With --resume: a total larger than the run's
    /// extends it (the learning-rate decays are then fractions of the new total); >= 1.
    #[arg(long)]
    pub updates: Option<usize>,
    /// Negatives: pcd (persistent chains), short-run (from noise), cd (CD-k from data),
    /// grid (exact draws from the model's density discretized on a grid over the data
    /// set's box, then --langevin-steps MALA steps).
    #[arg(long, default_value = "pcd")]
    pub negatives: String,
    /// Transitions of --kernel per update, at most 100000 [default: 20; 0 with
    /// --negatives grid].
    #[arg(long, alias = "mcmc-steps")]
    pub langevin_steps: Option<usize>,
    /// The transition that moves the negatives: mala, ula, mh (random walk), hmc (with
    /// --leapfrog steps) or ghmc (generalized HMC: --leapfrog steps, the momentum kept
    /// between transitions and partly redrawn), as `ebm sample --kernel`. NUTS is not offered: nuts-rs runs
    /// each chain alone with its own tree depth and adaptation, while negatives need one
    /// fixed-cost transition of the whole batch of chains.
    #[arg(long, default_value = "mala")]
    pub kernel: String,
    /// Leapfrog steps per HMC transition (--kernel hmc, ghmc), 1..=1024.
    #[arg(long, default_value_t = 5)]
    pub leapfrog: usize,
    /// Grid negatives: cells per axis of the sampling grid; >= 8.
    #[arg(long, default_value_t = 128)]
    pub grid_cells: usize,
    /// Grid negatives: recompute the grid's density every this many updates; >= 1.
    #[arg(long, default_value_t = 1)]
    pub grid_refresh: usize,
    /// The kernel's step: Langevin's eps (y <- y - eps dE/dy + sqrt(2 eps) xi), HMC's and
    /// GHMC's leapfrog step, MH's proposal scale; > 0, finite.
    #[arg(long, default_value_t = 0.02)]
    pub step_size: f64,
    /// alpha of the penalty alpha (E(data)^2 + E(neg)^2) [default: 0.001; 0 with
    /// --negatives grid]; >= 0, finite.
    #[arg(long)]
    pub energy_l2: Option<f64>,
    /// AdamW weight decay, >= 0.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Spectral normalization (projection) of every Linear layer.
    #[arg(long)]
    pub spectral_norm: bool,
    /// Adam learning rate [default: 1e-3; 3e-3 with --negatives grid]; > 0, finite.
    #[arg(long)]
    pub lr: Option<f32>,
    /// Halve the learning rate at these fractions of the run (none: ""); each in [0, 1].
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.75")]
    pub lr_decay_at: Vec<f64>,
    /// Data points and negatives per update; >= 1.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Hidden widths of the MLP energy 2-H1-H2-1; each >= 1.
    #[arg(long, value_delimiter = ',', default_value = "128,128")]
    pub hidden: Vec<usize>,
    /// Hidden-layer activation: silu, relu, leaky-relu (slope 0.2), elu, tanh, softplus.
    /// Langevin negatives need a smooth energy (silu, elu, tanh, softplus); grid
    /// negatives take any, and relu draws sharper edges.
    #[arg(long, default_value = "silu")]
    pub activation: String,
    /// A finite training set of this many points (default: fresh points every update); >= 1.
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Updates between exact evaluations (NLL, KL by quadrature) and checkpoints.
    #[arg(long, default_value_t = 500)]
    pub eval_every: usize,
    /// Cells per axis of the quadrature grid of the exact evaluation; >= 8.
    #[arg(long, default_value_t = 256)]
    pub grid: usize,
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

/// The activation named on the command line.
fn activation(name: &str) -> Result<ActivationKind> {
    Ok(match name {
        "silu" => ActivationKind::Silu,
        "relu" => ActivationKind::Relu,
        "leaky-relu" | "leaky_relu" => ActivationKind::LeakyRelu { slope: 0.2 },
        "elu" => ActivationKind::Elu { alpha: 1.0 },
        "tanh" => ActivationKind::Tanh,
        "softplus" => ActivationKind::Softplus,
        other => {
            return Err(Error::invalid(
                "--activation",
                format!("`{other}` is not one of silu, relu, leaky-relu, elu, tanh, softplus"),
            ));
        }
    })
}

/// The negatives' kernel `--kernel` names.
fn kernel(name: &str) -> Result<ebm::mcmc::KernelName> {
    if name.eq_ignore_ascii_case("nuts") {
        return Err(Error::invalid(
            "--kernel",
            "nuts is not offered for negatives: nuts-rs runs each chain alone with its own tree depth and adaptation, while negatives need one fixed-cost transition of the whole batch (choose mh, ula, mala, hmc or ghmc)",
        ));
    }
    ebm::mcmc::KernelName::from_name(name).map_err(|e| match e {
        Error::Invalid { msg, .. } => Error::invalid("--kernel", msg),
        e => e,
    })
}

fn config(a: &TrainToyArgs, data: &ToyData) -> Result<(MlpSpec, ContrastiveConfig)> {
    if !(1..=ebm::mcmc::MAX_LEAPFROG).contains(&a.leapfrog) {
        return Err(Error::invalid(
            "--leapfrog",
            format!(
                "{} (must be in 1..={})",
                a.leapfrog,
                ebm::mcmc::MAX_LEAPFROG
            ),
        ));
    }
    let negatives = Negatives::from_name(&a.negatives)?;
    let grid = negatives == Negatives::Grid;
    // Grid negatives cover the box the exact evaluation integrates over.
    let (noise_lo, noise_hi) = if grid {
        let (lo, hi) = data.support_box();
        (lo[0], hi[0])
    } else {
        let d = ContrastiveConfig::default();
        (d.noise_lo, d.noise_hi)
    };
    let spec = MlpSpec {
        in_dim: 2,
        hidden: a.hidden.clone(),
        activation: activation(&a.activation)?,
    };
    let cfg = ContrastiveConfig {
        negatives,
        mcmc_steps: a.langevin_steps.unwrap_or(if grid { 0 } else { 20 }),
        grid_cells: a.grid_cells,
        grid_refresh: a.grid_refresh,
        noise_lo,
        noise_hi,
        step_size: a.step_size,
        kernel: Some(kernel(&a.kernel)?),
        leapfrog: a.leapfrog,
        energy_l2: a.energy_l2.unwrap_or(if grid { 0.0 } else { 0.001 }),
        optim: OptimConfig::AdamW {
            lr: a.lr.unwrap_or(if grid { 3e-3 } else { 1e-3 }),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: a.weight_decay,
        },
        batch: a.batch,
        spectral_norm: a.spectral_norm,
        ..ContrastiveConfig::default()
    };
    Ok((spec, cfg))
}

/// Default of --updates.
const DEFAULT_UPDATES: usize = 6000;

/// A fresh run from the flags: its folder and the run, config.json written.
fn start(a: &TrainToyArgs, out: &Path, seed: u64) -> Result<ToyTraining> {
    let data = ToyData::from_name(&a.dataset)?;
    let (spec, cfg) = config(a, &data)?;
    if a.lr_decay_at.iter().any(|f| !(0.0..=1.0).contains(f)) {
        return Err(Error::invalid(
            "--lr-decay-at",
            format!(
                "{:?}: fractions of the run must be in [0, 1]",
                a.lr_decay_at
            ),
        ));
    }
    let run = ToyRunConfig {
        updates: a.updates.unwrap_or(DEFAULT_UPDATES),
        eval_every: a.eval_every,
        train_size: a.train_size,
        grid: a.grid,
        lr_decay_at: a.lr_decay_at.clone(),
        checkpoint: Some(out.join("energy.safetensors")),
        ..ToyRunConfig::default()
    };
    let t = ToyTraining::new(&data, spec, cfg, &run, seed)?;
    // A fresh run in an old folder: its state is not this run's (best and the kept
    // checkpoints are cleared by RunDir::start_metrics).
    ebm::io::remove_if_present(&out.join("trainer.safetensors"))?;
    // The resolved configuration, written before training so a stopped run still says
    // what it was.
    write_config(out, &t)?;
    Ok(t)
}

/// config.json: the data set, seed, energy, training and run settings.
fn write_config(out: &Path, t: &ToyTraining) -> Result<()> {
    let resolved = serde_json::json!({
        "model": "toy-ebm", "dataset": t.data().name(), "seed": t.seed(),
        "energy": &t.trainer().energy.spec, "training": &t.trainer().cfg, "run": t.run_config(),
    });
    ebm::io::write_atomic(&out.join("config.json"), &ebm::io::config_json(&resolved))
}

/// The run saved in `dir` (with --updates, extended); returns it and the saved
/// --keep.
fn resume(a: &TrainToyArgs, dir: &Path) -> Result<(ToyTraining, Option<usize>)> {
    let (mut t, keep) = ToyStep::load(dir)?;
    if let Some(u) = a.updates {
        t.extend(u).map_err(|e| match e {
            Error::Invalid { msg, .. } => Error::invalid("--updates", msg),
            e => e,
        })?;
    }
    t.set_checkpoint(Some(dir.join("energy.safetensors")));
    write_config(dir, &t)?;
    eprintln!(
        "resuming {} at update {} of {} (seed {})",
        dir.display(),
        t.done(),
        t.run_config().updates,
        t.seed()
    );
    Ok((t, keep))
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
            ToyData::from_name(&a.dataset)?.name()
        )),
    };
    let run = if f.resume.is_some() {
        RunDir::resume(&dir)?
    } else {
        RunDir::open(&dir)?
    };
    let (t, saved) = match &f.resume {
        Some(d) => resume(a, d)?,
        None => (start(a, &dir, seed)?, None),
    };
    let mut step = ToyStep {
        run: t,
        keep: f.keep_or(saved),
    };
    let start_at = step.position();
    if f.resume.is_none() {
        run.start_metrics(&ebm::train::toy::METRICS_HEADER)?;
    }
    let cfg = FitConfig {
        stop_after_updates: a.stop_after_updates,
        ..f.fit_config(step.rounds(), step.keep, "ebm train toy")
    };
    if fit(&mut step, Some(&run), start_at, &cfg)? == Outcome::Interrupted {
        return Ok(());
    }
    let (t, out) = (step.run, dir);
    let data = t.data();
    let mut r = t.finish()?;
    r.trainer.model().save(&out.join("energy.safetensors"))?;
    ebm::figures::toy_run_figures(&out, &data, &mut r, a.sample_steps)?;
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

/// Two runs on the same small training set, unregularized and regularized.
/// One canyon run's energy, training and run settings: the energy penalty `l2` and the
/// weight decay `wd` are what the two runs change.
fn canyon_run(a: &CanyonArgs, l2: f64, wd: f32) -> (MlpSpec, ContrastiveConfig, ToyRunConfig) {
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![128, 128],
        activation: ActivationKind::Silu,
    };
    let cfg = ContrastiveConfig {
        energy_l2: l2,
        step_size: 0.02,
        optim: OptimConfig::AdamW {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: wd,
        },
        batch: a.train_size,
        max_gap: 1e9,
        clip: 0.0,
        ..ContrastiveConfig::default()
    };
    let run = ToyRunConfig {
        updates: a.updates,
        eval_every: (a.updates / 10).max(1),
        train_size: Some(a.train_size),
        grid: 256,
        lr_decay_at: vec![],
        ..ToyRunConfig::default()
    };
    (spec, cfg, run)
}

/// Each run's test NLL and well depth against the update, one figure each.
fn canyon_curves(out: &Path, curves: &[(&str, Vec<ebm::toy_ebm::EvalPoint>)]) -> Result<()> {
    for (name, c) in curves {
        let x: Vec<f64> = c.iter().map(|p| p.step as f64).collect();
        let y: Vec<f64> = c.iter().map(|p| p.test_nll).collect();
        let d: Vec<f64> = c.iter().map(|p| p.well_depth).collect();
        ebm::plot::line_plot(
            &out.join(format!("test_nll_{name}.png")),
            &format!("{name}: exact test NLL"),
            "update",
            "nats",
            &x,
            &y,
        )?;
        ebm::plot::line_plot(
            &out.join(format!("well_depth_{name}.png")),
            &format!("{name}: well depth"),
            "update",
            "median grid E - mean train E",
            &x,
            &d,
        )?;
    }
    Ok(())
}

pub fn canyon(a: &CanyonArgs, seed: u64) -> Result<()> {
    let data = ToyData::from_name(&a.dataset)?;
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let mut table = String::from(
        "| run | update | well depth | train NLL | test NLL |\n|---|---|---|---|---|\n",
    );
    let mut curves = Vec::new();
    let mut csv = String::from("run,step,well_depth,train_nll,test_nll\n");
    let mut configs = serde_json::Map::new();
    for (name, l2, wd) in [("unregularized", 0.0, 0.0f32), ("regularized", 0.1, 1e-3)] {
        let (spec, cfg, run) = canyon_run(a, l2, wd);
        configs.insert(
            name.into(),
            serde_json::json!({"energy": &spec, "training": &cfg, "run": &run}),
        );
        let r = train(&data, spec, cfg, &run, seed, |p| {
            println!(
                "{name:>14}: step {:>5}  well depth {:>7.2}  train NLL {:>8.3}  test NLL {:>8.3}",
                p.step, p.well_depth, p.train_nll, p.test_nll
            )
        })?;
        for p in &r.curve {
            csv.push_str(&format!(
                "{name},{},{},{},{}\n",
                p.step, p.well_depth, p.train_nll, p.test_nll
            ));
            table.push_str(&format!(
                "| {name} | {} | {:.2} | {:.3} | {:.3} |\n",
                p.step, p.well_depth, p.train_nll, p.test_nll
            ));
        }
        let tr = r.train.as_ref().expect("canyon runs on a finite set");
        let depth = well_depth(r.trainer.model(), &data, tr.view())?;
        println!(
            "{name}: final well depth {depth:.2}, test NLL {:.3} nats",
            r.final_eval.test_nll
        );
        let (dens, _) =
            ebm::exact2d::density_grid(r.trainer.model(), 1.0, data.support_box(), 200)?;
        let b = data.support_box();
        ebm::plot::heatmap(
            &a.out.join(format!("density_{name}.png")),
            &format!("{name}: exp(-E)/Z on {} training points", a.train_size),
            "sqrt(density) (square-root scale)",
            (b.0[0], b.1[0]),
            (b.0[1], b.1[1]),
            &dens.mapv(|v| v.sqrt()),
        )?;
        curves.push((name, r.curve));
    }
    canyon_curves(&a.out, &curves)?;
    ebm::io::write_atomic(&a.out.join("canyon.md"), table.as_bytes())?;
    ebm::io::write_atomic(&a.out.join("canyon.csv"), csv.as_bytes())?;
    let config = serde_json::json!({
        "model": "toy-ebm canyon", "dataset": data.name(), "seed": seed,
        "train_size": a.train_size, "updates": a.updates, "runs": configs,
    });
    ebm::io::write_atomic(&a.out.join("config.json"), &ebm::io::config_json(&config))?;
    println!("table: {}", a.out.join("canyon.md").display());
    println!("report: {}", ebm::report::write_report(&a.out)?.display());
    Ok(())
}
