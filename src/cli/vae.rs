//! `ebm train vae` and `ebm eval vae`: the VAE as variational free energy on MNIST (a
//! directory of IDX files) or, without `--data`, on the embedded UCI digits.
//!
//! Two protocols. `--binarize none` (the PyTorch example's): pixels in [0, 1] as the
//! Bernoulli targets. `--binarize dynamic` (the likelihood protocol of Burda et al.):
//! each training pass draws every pixel `~ Bernoulli(intensity)` afresh, and the test
//! set is binarized once with the fixed seed [`TEST_BINARIZATION_SEED`], so test
//! log-likelihoods of different runs are comparable.
//!
//! Expected: `ebm train vae --data MNIST` (PyTorch example): test loss about 127
//! nats/image after epoch 1 and about 104 after 10 epochs. `--arch iwae` (784-200-200-50
//! tanh, dynamic binarization) for 30 minutes, then `ebm eval vae --iwae-k 5000`: a test
//! NLL near 87.5 nats (BENCHMARKS.md has the measured figures).

use clap::Args;
use ebm::data::images::ImageSet;
use ebm::eval::latent::zero_temperature;
use ebm::eval::vae::{SavedVae, nll_estimate};
use ebm::train::vae::{METRICS_HEADER, VaeOptions, VaeStep};
use ebm::train::{FitConfig, Outcome, Position, RunDir, fit};
use ebm::{Error, Result};
use ndarray::s;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  ebm train vae --data ../shared/data/mnist --epochs 10 --run runs/vae        # the PyTorch example: ~104 nats after 10 epochs\n  ebm train vae --data ../shared/data/mnist --arch iwae --batch 20 --schedule cosine --epochs 450 --minutes 30 --run runs/iwae\n  ebm train vae --latent 2 --epochs 30 --run runs/vae2d                       # embedded digits, codes.png with fuzzy balls\n  ebm train vae --resume runs/iwae --epochs 600                                # continue a run bit for bit"
)]
pub struct TrainVaeArgs {
    #[command(flatten)]
    pub options: VaeOptions,
    #[command(flatten)]
    pub folder: super::run_args::RunFolderArgs,
    /// Also checkpoint every N batches inside an epoch (a kill -9 loses at most N steps).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Stop as Ctrl-C would after this many batches in all (for tests of interruption); >= 0.
    #[arg(long, hide = true)]
    pub stop_after_batches: Option<usize>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm eval vae --checkpoint runs/iwae --data ../shared/data/mnist --iwae-k 5000 --latent-steps 200"
)]
pub struct EvalVaeArgs {
    /// A checkpoint written by `ebm train vae` (or a run folder holding model.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// MNIST directory; without it, the embedded digits' held-out split.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Samples per image of the importance-weighted bound (the test NLL estimate); >= 1.
    #[arg(long, default_value_t = 5000)]
    pub iwae_k: usize,
    /// Evaluate the first N test images only; >= 1.
    #[arg(long)]
    pub images: Option<usize>,
    /// Zero-temperature inference: gradient steps on z from the encoder's code, and the
    /// table comparing min_z E(y, z) with the free energies (0: skip); >= 0.
    #[arg(long, default_value_t = 0)]
    pub latent_steps: usize,
    /// Folder for latent_inference.png (default: the run folder, or beside the checkpoint).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The step to fit and where it starts: the run saved in `run` (when `resumed`, saying
/// from where), else a fresh one from the flags, its config and metrics header written.
fn step_for<'a>(
    a: &TrainVaeArgs,
    run: Option<&RunDir>,
    resumed: bool,
    data: &'a ImageSet,
    seed: u64,
) -> Result<(VaeStep<'a>, Position)> {
    if let (true, Some(r)) = (resumed, run) {
        let (s, at) = VaeStep::resume(r, data.train.view(), &data.test)?;
        let inside = if at.update > 0 {
            format!(" and {} batches of epoch {}", at.update, at.round + 1)
        } else {
            String::new()
        };
        eprintln!(
            "resuming {} after epoch {}{inside}",
            r.path().display(),
            at.round
        );
        return Ok((s, at));
    }
    let s = VaeStep::new(
        a.options.resolve(data, seed)?,
        data.train.view(),
        &data.test,
    )?;
    if let Some(r) = run {
        r.write_config(&serde_json::to_value(s.config()).expect("config serializes"))?;
        r.start_metrics(&METRICS_HEADER)?;
    }
    Ok((s, Position::default()))
}

/// `ebm train vae`: settings and data, then [`ebm::train::fit`] over a [`VaeStep`], then
/// the figures and the report.
pub fn train(a: &TrainVaeArgs, seed: u64) -> Result<()> {
    let o = &a.options;
    if o.epochs == 0 || o.batch == 0 {
        return Err(Error::invalid("--epochs/--batch", "must be at least 1"));
    }
    let run = a.folder.open("runs/vae")?;
    // On resume the saved config wins over the flags (except --epochs and --minutes).
    let saved = match (&a.folder.resume, &run) {
        (Some(_), Some(r)) => Some(VaeStep::saved_config(r)?),
        _ => None,
    };
    // Data paths come from the command line only; a resumed run's config names its
    // data for the message, and is never opened.
    if let Some(c) = &saved {
        ebm::train::check_resumed_data(c.data_dir.as_deref(), o.data.as_deref())?;
    }
    let data_dir = o.data.clone();
    let data = ImageSet::load(data_dir.as_deref(), saved.as_ref().map_or(seed, |c| c.seed))?;
    let (mut step, start) = step_for(a, run.as_ref(), saved.is_some(), &data, seed)?;
    eprintln!(
        "config: {}",
        serde_json::to_string(step.config()).expect("config serializes")
    );
    println!("{}", step.config().describe());
    println!(
        "{:>5} {:>12} {:>12} {:>10} {:>8}",
        "epoch", "train loss", "test loss", "test KL", "seconds"
    );
    let fit_cfg = FitConfig {
        checkpoint_every: a.checkpoint_every,
        stop_after_updates: a.stop_after_batches,
        ..a.folder
            .fit_config(o.epochs, a.folder.keep_or(None), "ebm train vae")
    };
    if fit(&mut step, run.as_ref(), start, &fit_cfg)? == Outcome::Interrupted {
        return Ok(());
    }
    let seed = step.config().seed;
    if let Some(r) = &run {
        let dir = r.path();
        ebm::figures::vae_run_figures(
            dir,
            &mut step.vae,
            data.test.view(),
            &data.test_labels,
            seed,
        )?;
        println!("run folder: {}", dir.display());
        println!("report: {}", ebm::report::write_report(dir)?.display());
    }
    if let Some(p) = &a.folder.save {
        println!("checkpoint: {}", p.display());
    }
    Ok(())
}

/// `ebm eval vae`: the test loss, the IWAE estimate of the test NLL and, with
/// `--latent-steps`, the zero-temperature table ([`ebm::eval`]).
pub fn eval(a: &EvalVaeArgs, seed: u64) -> Result<()> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut saved = SavedVae::load(&a.checkpoint, &mut rng)?;
    let data = ImageSet::load(a.data.as_deref(), saved.data_seed(seed))?;
    let mut test = saved.test_set(&data)?;
    if let Some(n) = a.images {
        if n == 0 {
            return Err(Error::invalid("--images", "must be at least 1"));
        }
        test = test.slice(s![..n.min(test.nrows()), ..]).to_owned();
    }
    let vae = &mut saved.vae;
    // The training loss on the test set (one z per image, with k = 1 the free energy).
    let l = vae.evaluate(test.view(), 500, &mut rng)?;
    println!(
        "test loss {:.3} nats/image (reconstruction {:.3}, KL {:.3}) on {} images of {}",
        l.per_row(),
        l.recon / l.n as f64,
        l.kl / l.n as f64,
        l.n,
        data.what
    );
    let (b, secs) = nll_estimate(vae, test.view(), a.iwae_k, seed)?;
    let threads = ebm::threads::threads();
    println!(
        "test NLL estimate -L_k (k = {}) {:.3} +- {:.3} nats/image (standard error) over {} images of {} ({}); {secs:.1} s on {threads} threads",
        a.iwae_k,
        b.nll(),
        b.std_error(),
        test.nrows(),
        data.what,
        saved.protocol()
    );
    println!(
        "{}",
        json!({"metric": "iwae_nll", "k": a.iwae_k, "nll": b.nll(), "se": b.std_error(),
               "images": test.nrows(), "seconds": secs, "threads": threads})
    );
    if a.latent_steps > 0 {
        let out = a.out.clone().unwrap_or_else(|| {
            (saved.path.parent()).map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        });
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        let table = zero_temperature(&mut saved.vae, test.view(), a.latent_steps, seed)?;
        print!("{table}");
        if let Some(p) = table.write_picture(&mut saved.vae, &out)? {
            println!("picture: {}", p.display());
        }
    }
    Ok(())
}
