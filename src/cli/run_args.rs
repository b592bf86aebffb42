//! The run-folder options every trainer takes (`ebm train vae`, `rbm`, `toy`):
//! where the run lives, how it continues, what it keeps and how long it may train,
//! checked once ([`RunFolderArgs::check`]) for fresh runs, configs and resumes alike.

use clap::Args;
use ebm::train::{FitConfig, RunDir};
use ebm::{Error, Result};
use std::path::PathBuf;

pub use ebm::train::DEFAULT_KEEP;

#[derive(Args, Debug, Clone, Default)]
pub struct RunFolderArgs {
    /// Run folder (created; default runs/MODEL unless --save alone is given): config.json,
    /// metrics.csv and metrics.jsonl, the model and the trainer's state after every epoch
    /// (atomic; what --resume needs), checkpoints/, best.safetensors, the figures and
    /// report.html. Ctrl-C finishes the update, checkpoints and exits.
    #[arg(long, alias = "out")]
    pub run: Option<PathBuf>,
    /// Continue the run in this folder (written by --run) with its saved settings and
    /// state: the same numbers as an uninterrupted run; a larger --epochs (the toy's
    /// --updates) than the saved total extends it.
    #[arg(long, conflicts_with = "run")]
    pub resume: Option<PathBuf>,
    /// Keep the models of the last N epochs in DIR/checkpoints/ (0: none) beside
    /// best.safetensors [default: 3, or the resumed run's]; >= 0.
    #[arg(long)]
    pub keep: Option<usize>,
    /// Also write the model (atomically: safetensors + JSON config) to this file after
    /// every epoch.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Stop after the epoch during which this many minutes of training have passed;
    /// >= 0, finite; 0 stops after one epoch.
    #[arg(long)]
    pub minutes: Option<f64>,
}

impl RunFolderArgs {
    /// The checks every trainer shares.
    pub fn check(&self) -> Result<()> {
        if let Some(m) = self.minutes
            && !(m.is_finite() && m >= 0.0)
        {
            return Err(Error::invalid(
                "--minutes",
                format!("{m} (must be >= 0 and finite)"),
            ));
        }
        Ok(())
    }

    /// The run folder, opened: `--resume`'s (which must hold a run), else `--run`'s,
    /// else `default` unless `--save` alone was asked for (no folder).
    pub fn open(&self, default: &str) -> Result<Option<RunDir>> {
        self.check()?;
        let dir = self
            .resume
            .clone()
            .or(self.run.clone())
            .or_else(|| self.save.is_none().then(|| PathBuf::from(default)));
        let open = if self.resume.is_some() {
            RunDir::resume
        } else {
            RunDir::open
        };
        dir.as_deref().map(open).transpose()
    }

    /// `--keep`, else a resumed run's `saved` value, else [`DEFAULT_KEEP`].
    pub fn keep_or(&self, saved: Option<usize>) -> usize {
        self.keep.or(saved).unwrap_or(DEFAULT_KEEP)
    }

    /// The loop's settings these options decide, for `rounds` epochs of `command`.
    pub fn fit_config(&self, rounds: usize, keep: usize, command: &str) -> FitConfig {
        FitConfig {
            rounds,
            minutes: self.minutes,
            keep,
            save: self.save.clone(),
            command: command.into(),
            ..FitConfig::default()
        }
    }
}
