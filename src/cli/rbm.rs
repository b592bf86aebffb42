//! `ebm train rbm`: a Bernoulli-Bernoulli RBM by CD-k or PCD on MNIST (a directory of
//! IDX files) or, without `--data`, on the embedded UCI digits.
//!
//! Binarization: the digits at intensity > 0.5; MNIST by sampling `v ~ Bernoulli(pixel
//! / 255)` once, with a generator seeded by `--seed` (the same binary set every run).
//! Per epoch: the reconstruction error `||v - p(v | h)||^2` per image and, with at most
//! 20 hidden units, the exact average log-likelihood (nats per image) of train and test.
//!
//! With `--run DIR`, pictures after training: `filters.png` (columns of `W` as square
//! tiles), `samples.png` (`p(v | h)` after `--sample-sweeps` Gibbs sweeps of 100 chains,
//! from the PCD particles or from random test images) and, with `--ais-every E`,
//! `curve.csv` + `curve.png` (average test log-probability by AIS every E epochs, with
//! the interval of log Z +- 3 standard errors).

use clap::Args;
use ebm::data::images::BinarySets;
use ebm::models::rbm::{MAX_EXACT_UNITS, Rbm};
use ebm::train::rbm::{
    EXACT_HIDDEN, RbmOptions, RbmRunInfo, RbmStep, RbmTrainer, ais_betas, read_curve,
};
use ebm::train::{FitConfig, Outcome, Position, RunDir, Step, fit};
use ebm::{Error, Result};
use ndarray::Array2;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Examples:\n  ebm train rbm --data ../shared/data/mnist --hidden 500 --epochs 2 --batch 100 --lr 0.05 --lr-final 0.05 --run runs/rbm-cd1 --ais-every 1 --ais-betas 14500   # CD-1: about -117 nats after epoch 2\n  ebm train rbm --resume runs/rbm-cd1 --epochs 4    # continue (bit for bit) to epoch 4\n  ebm train rbm --data ../shared/data/mnist --hidden 500 --sampler cd --k 25 --k-ramp 5 --lr-over-k --lr 0.05 --lr-final 0.05 --binarize dynamic --epochs 250 --batch 100 --run runs/rbm-cd25 --ais-every 25 --ais-betas 2000   # CD-25 (k from 1 to 25): about -84 nats\n  ebm train rbm --hidden 16 --epochs 8              # embedded digits, exact log-likelihood per epoch, run folder runs/rbm\n\nThe run folder also holds run.json, trainer.safetensors (momentum velocities, PCD\nparticles), filters.png, samples.png and, with --ais-every, curve.csv and curve.png;\nbest.safetensors is the highest test log-probability so far (exact with at most 20\nhidden units, else at the AIS points). A resumed run's learning-rate schedule\nstretches to a larger --epochs."
)]
pub struct TrainRbmArgs {
    #[command(flatten)]
    pub options: RbmOptions,
    #[command(flatten)]
    pub folder: super::run_args::RunFolderArgs,
    /// Stop after this epoch as if interrupted (tests of --resume); >= 0.
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

/// The run settings: run.json's when resuming (with --data overriding), else the flags'.
fn run_info(a: &TrainRbmArgs, seed: u64) -> Result<RbmRunInfo> {
    let (o, f) = (&a.options, &a.folder);
    o.check()?;
    if o.ais_every.is_some() && f.run.is_none() && f.resume.is_none() && f.save.is_some() {
        return Err(Error::invalid(
            "--ais-every",
            "needs a run folder: --run DIR (or --resume DIR), not only --save",
        ));
    }
    f.check()?;
    let Some(dir) = &f.resume else {
        // The flags are checked before the run folder is touched.
        o.check_fresh(seed)?;
        return Ok(o.run_info(seed, f.keep_or(None)));
    };
    let mut i = RbmRunInfo::load(dir)?;
    let saved = i.data.as_ref().map(|d| d.display().to_string());
    ebm::train::check_resumed_data(saved.as_deref(), o.data.as_deref())?;
    i.data = o.data.clone();
    i.keep = f.keep_or(Some(i.keep));
    Ok(i)
}

/// The model and its trainer: the saved ones of a resumed run (its schedule stretched to
/// a larger --epochs), or fresh ones from the flags.
fn model_and_trainer(
    a: &TrainRbmArgs,
    run: Option<&RunDir>,
    train: &Array2<f32>,
    seed: u64,
) -> Result<(Rbm, RbmTrainer)> {
    Ok(match run {
        Some(r) if a.folder.resume.is_some() => {
            let (trainer, rbm) = RbmTrainer::resume(r, a.options.epochs)?;
            eprintln!(
                "resuming {} after epoch {} of {}",
                r.path().display(),
                trainer.epoch(),
                trainer.config.epochs
            );
            (rbm, trainer)
        }
        _ => {
            let cfg = a.options.config(train.ncols(), seed)?;
            (
                RbmTrainer::init_model(&cfg, train.view())?,
                RbmTrainer::new(cfg)?,
            )
        }
    })
}

/// `ebm train rbm`: settings and data, then [`ebm::train::fit`] over an [`RbmStep`], then
/// the pictures and the report.
pub fn train(a: &TrainRbmArgs, seed: u64) -> Result<()> {
    let info = run_info(a, seed)?;
    let seed = info.seed;
    let run = a.folder.open("runs/rbm")?;
    let BinarySets {
        train,
        test,
        what,
        grey,
    } = BinarySets::load(info.data.as_deref(), seed)?;
    if let Some(r) = &run {
        // The run folder's figures draw square tiles.
        ebm::figures::image_side(train.ncols())
            .map_err(|e| Error::invalid("--run", format!("cannot draw the tiles: {e}")))?;
        eprintln!("run folder: {}", r.path().display());
    }
    let (rbm, trainer) = model_and_trainer(a, run.as_ref(), &train, seed)?;
    let (cfg, done) = (trainer.config.clone(), trainer.epoch());
    eprintln!(
        "data: {what}, {} train / {} test images",
        train.nrows(),
        test.nrows()
    );
    eprintln!(
        "config: {}",
        serde_json::to_string(&cfg).expect("config serializes")
    );
    let curve = run
        .as_ref()
        .map_or(Vec::new(), |r| read_curve(r.path(), done));
    let mut step = RbmStep::new(
        rbm,
        trainer,
        (train.view(), grey.view(), test.view()),
        info.curve(),
        curve,
    )?;
    if let Some(r) = &run {
        info.write(r, a.folder.resume.is_none(), &what, &step)?;
    }
    println!(
        "{:>5} {:>10} {:>12} {:>12} {:>8}",
        "epoch", "recon", "train LL", "test LL", "seconds"
    );
    if step.exact() && done == 0 {
        let (tr, te) = step.exact_ll()?;
        println!("{:>5} {:>10} {tr:>12.3} {te:>12.3} {:>8}", 0, "-", "-");
    }
    let n = step.updates_in(1);
    let fit_cfg = FitConfig {
        stop_after_updates: a.stop_after.map(|e| e * n),
        ..a.folder.fit_config(cfg.epochs, info.keep, "ebm train rbm")
    };
    let start = Position {
        round: done,
        update: 0,
        rows: done,
    };
    if fit(&mut step, run.as_ref(), start, &fit_cfg)? == Outcome::Interrupted {
        return Ok(());
    }
    if let Some(p) = &a.folder.save {
        println!("checkpoint: {}", p.display());
    }
    if let Some(r) = &run {
        ebm::figures::rbm_run_figures(
            r.path(),
            &step.rbm,
            step.trainer.chains(),
            &test,
            info.sample_sweeps,
            seed,
        )?;
        println!("pictures: {}", r.path().display());
        println!("report: {}", ebm::report::write_report(r.path())?.display());
    }
    Ok(())
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm train rbm --hidden 16 --epochs 8 --save runs/rbm16.safetensors\n  ebm eval rbm --checkpoint runs/rbm16.safetensors --ais-runs 100 --ais-betas 14500\n  (AIS log Z within a few hundredths of a nat of the exact value for 16 hidden units)"
)]
pub struct EvalRbmArgs {
    /// A checkpoint written by `ebm train rbm --save`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// MNIST directory; without it, the embedded UCI digits (binarized as in training:
    /// pass the training run's --seed).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Independent AIS runs (particles); >= 2.
    #[arg(long, default_value_t = 100)]
    pub ais_runs: usize,
    /// Intermediate distributions; 14500 follows Salakhutdinov and Murray's schedule
    /// (500 betas in [0, 0.5], 4,000 in [0.5, 0.9], 10,000 in [0.9, 1]).
    #[arg(long, default_value_t = 14_500)]
    pub ais_betas: usize,
}

/// AIS `log Z` (and the exact value when the smaller layer allows it), then the average
/// log-probability `-F(v) - log Z` of train and test images in nats, with the interval
/// that the AIS error puts on it.
pub fn eval(a: &EvalRbmArgs, seed: u64) -> Result<()> {
    let (rbm, _cfg) = Rbm::load(&a.checkpoint)?;
    let BinarySets {
        train, test, what, ..
    } = BinarySets::load(a.data.as_deref(), seed)?;
    if train.ncols() != rbm.visible() {
        return Err(Error::Shape {
            what: format!("{what} for the RBM in {}", a.checkpoint.display()),
            expected: vec![train.nrows(), rbm.visible()],
            found: vec![train.nrows(), train.ncols()],
        });
    }
    ebm::models::rbm::check_ais_memory(a.ais_runs, a.ais_betas, rbm.visible(), rbm.hidden())?;
    let betas = ais_betas(a.ais_betas);
    let base = ebm::models::rbm::base_rate_bias(train.view());
    let t = Instant::now();
    let bar = ebm::progress::Progress::new(betas.len() as u64, "AIS betas");
    let est = ebm::models::rbm::ais_log_z_with(&rbm, &base, &betas, a.ais_runs, seed, Some(&bar))?;
    bar.finish();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "AIS log Z = {:.4} +- {:.4} (3 SE: [{:.4}, {:.4}]), ESS {:.1} of {}, {} betas, {:.1} s",
        est.log_z,
        est.std_err,
        est.interval.0,
        est.interval.1,
        est.ess,
        a.ais_runs,
        betas.len(),
        secs
    );
    if rbm.visible().min(rbm.hidden()) <= MAX_EXACT_UNITS.min(EXACT_HIDDEN) {
        let exact = rbm.log_z_exact()?;
        println!(
            "exact log Z = {exact:.4} (AIS error {:+.4} nats, {:+.1} SE)",
            est.log_z - exact,
            (est.log_z - exact) / est.std_err.max(1e-300)
        );
    }
    for (name, x) in [("train", &train), ("test", &test)] {
        let lp = rbm.mean_log_prob(x.view(), est.log_z)?;
        println!(
            "average {name} log-probability: {lp:.3} nats per image (3 SE of log Z: [{:.3}, {:.3}]) on {what}",
            lp - 3.0 * est.std_err,
            lp + 3.0 * est.std_err
        );
    }
    Ok(())
}
