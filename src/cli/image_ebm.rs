//! `ebm train image-ebm` and `ebm eval image-ebm`: a convolutional energy over images trained by contrastive
//! maximum likelihood with SGLD negatives (replay buffer or short-run from noise), on
//! MNIST or the embedded 8x8 digits ([`ebm::train::image_ebm`]).

use clap::Args;
use ebm::data::images::ImageSet;
use ebm::eval::image_ebm::evaluate;
use ebm::models::image_ebm::{ImageEbm, Sgld};
use ebm::train::image_ebm::{ImageEbmOptions, ImageEbmTraining, to_signed, train_run};
use ebm::train::{FitConfig, Outcome};
use ebm::{Error, Result};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  ebm train image-ebm --data ../shared/data/mnist --epochs 5 --minutes 60 --run runs/iebm   # inpainting MSE well below the mean image's (BENCHMARKS.md)\n  ebm train image-ebm --epochs 20 --run runs/iebm-digits                                   # embedded 8x8 digits, a few minutes\n  ebm train image-ebm --resume runs/iebm --epochs 8                                        # continue a run"
)]
pub struct TrainImageEbmArgs {
    #[command(flatten)]
    pub options: ImageEbmOptions,
    #[command(flatten)]
    pub folder: super::run_args::RunFolderArgs,
    /// Also checkpoint every N batches inside an epoch; >= 1.
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Stop as Ctrl-C would after this many batches in all (for tests of interruption); >= 0.
    #[arg(long, hide = true)]
    pub stop_after_batches: Option<usize>,
}

/// `ebm train image-ebm`: [`train_run`] in the run folder the flags name.
pub fn train(a: &TrainImageEbmArgs, seed: u64) -> Result<()> {
    let run = a.folder.open("runs/image-ebm")?;
    let fit_cfg = FitConfig {
        checkpoint_every: a.checkpoint_every,
        stop_after_updates: a.stop_after_batches,
        ..a.folder.fit_config(
            a.options.epochs,
            a.folder.keep_or(None),
            "ebm train image-ebm",
        )
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

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm eval image-ebm --checkpoint runs/iebm --data ../shared/data/mnist --images 1000   # inpainting MSE against the mean image's, denoising MSE"
)]
pub struct EvalImageEbmArgs {
    /// A run folder of `ebm train image-ebm`, or a model file from one (best.safetensors,
    /// checkpoints/epoch-N.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// MNIST directory; without it, the embedded digits' held-out split.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test images (the first N); >= 1.
    #[arg(long, default_value_t = 1000)]
    pub images: usize,
    /// SGLD steps (default: the run's --eval-steps); <= 100000.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Chains per image, averaged; 1..=1000.
    #[arg(long, default_value_t = 8)]
    pub chains: usize,
    /// Standard deviation of the denoising test's Gaussian noise, in [-1, 1] units; > 0.
    #[arg(long, default_value_t = 0.3)]
    pub denoise_noise: f32,
    /// SGLD steps from the noisy images; <= 100000.
    #[arg(long, default_value_t = 10)]
    pub denoise_steps: usize,
}

/// `ebm eval image-ebm`: inpainting and denoising of test images ([`ebm::eval::image_ebm`]).
pub fn eval(a: &EvalImageEbmArgs, seed: u64) -> Result<()> {
    let path = if a.checkpoint.is_dir() {
        a.checkpoint.join("model.safetensors")
    } else {
        a.checkpoint.clone()
    };
    let (model, saved) = ImageEbm::load(&path)?;
    let cfg: ImageEbmTraining = serde_json::from_value(saved.clone())
        .map_err(|e| Error::format(&path, format!("not an image-EBM run's model: {e}")))?;
    if a.images == 0 {
        return Err(Error::invalid("--images", "must be at least 1"));
    }
    if a.chains == 0 || a.chains > 1000 {
        return Err(Error::invalid("--chains", "must be 1..=1000"));
    }
    let sgld = Sgld {
        steps: a.steps.unwrap_or(cfg.eval_steps),
        ..cfg.sgld
    };
    sgld.validate()
        .map_err(|_| Error::invalid("--steps", "must be at most 100000"))?;
    let data = ImageSet::load(a.data.as_deref(), cfg.seed)?;
    let n = a.images.min(data.test.nrows());
    let test = to_signed(data.test.slice(ndarray::s![..n, ..]));
    let mean: Vec<f32> = data
        .train
        .mean_axis(ndarray::Axis(0))
        .ok_or_else(|| Error::invalid("--data", "no training images"))?
        .iter()
        .map(|&m| 2.0 * m - 1.0)
        .collect();
    if a.denoise_steps > 100_000 {
        return Err(Error::invalid("--denoise-steps", "must be at most 100000"));
    }
    let denoise = (a.denoise_noise, a.denoise_steps);
    let r = evaluate(&model, test.view(), &mean, &sgld, a.chains, denoise, seed)?;
    println!("{r}");
    println!(
        "{}",
        json!({"metric": "image_ebm", "images": r.images, "chains": r.chains,
               "steps": r.sgld.steps, "inpaint_mse": r.inpaint_mse,
               "mean_image_mse": r.mean_image_mse, "inpaint_gain": r.inpaint_gain(),
               "denoise_noise": r.denoise_noise, "denoise_steps": r.denoise_steps,
               "denoise_mse": r.denoise_mse,
               "noisy_mse": r.noisy_mse, "seconds": r.seconds,
               "threads": ebm::threads::threads(), "data": data.what})
    );
    Ok(())
}
