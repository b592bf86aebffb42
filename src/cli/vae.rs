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
use ebm::train::vae::{VaeOptions, train_run};
use ebm::train::{FitConfig, Outcome};
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

/// `ebm train vae`: [`train_run`] in the run folder the flags name.
pub fn train(a: &TrainVaeArgs, seed: u64) -> Result<()> {
    let run = a.folder.open("runs/vae")?;
    let fit_cfg = FitConfig {
        checkpoint_every: a.checkpoint_every,
        stop_after_updates: a.stop_after_batches,
        ..a.folder
            .fit_config(a.options.epochs, a.folder.keep_or(None), "ebm train vae")
    };
    let resumed = a.folder.resume.is_some();
    let (outcome, report) = train_run(&a.options, run.as_ref(), resumed, seed, &fit_cfg)?;
    if outcome == Outcome::Interrupted {
        return Ok(());
    }
    if let (Some(r), Some(report)) = (&run, report) {
        println!("run folder: {}", r.path().display());
        println!("report: {}", report.display());
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
