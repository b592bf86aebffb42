//! `ebm train image-ebm`: a convolutional energy over images trained by contrastive
//! maximum likelihood with SGLD negatives (replay buffer or short-run from noise), on
//! MNIST or the embedded 8x8 digits ([`ebm::train::image_ebm`]).

use clap::Args;
use ebm::Result;
use ebm::train::image_ebm::{ImageEbmOptions, train_run};
use ebm::train::{FitConfig, Outcome};

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
