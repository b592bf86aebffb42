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
use ebm::train::rbm::{EXACT_HIDDEN, RbmOptions, RbmRunInfo, ais_betas, train_run};
use ebm::train::{FitConfig, Outcome};
use ebm::{Error, Result};
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
    RbmRunInfo::resolve(o, f.resume.as_deref(), seed, f.keep)
}

/// `ebm train rbm`: [`train_run`] in the run folder the flags name.
pub fn train(a: &TrainRbmArgs, seed: u64) -> Result<()> {
    let info = run_info(a, seed)?;
    let run = a.folder.open("runs/rbm")?;
    let fit_config = |epochs, per_epoch: usize| FitConfig {
        stop_after_updates: a.stop_after.map(|e| e * per_epoch),
        ..a.folder.fit_config(epochs, info.keep, "ebm train rbm")
    };
    let resumed = a.folder.resume.is_some();
    let (outcome, report) = train_run(&a.options, &info, run.as_ref(), resumed, fit_config)?;
    if outcome == Outcome::Interrupted {
        return Ok(());
    }
    if let Some(p) = &a.folder.save {
        println!("checkpoint: {}", p.display());
    }
    if let (Some(r), Some(report)) = (&run, report) {
        println!("pictures: {}", r.path().display());
        println!("report: {}", report.display());
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
