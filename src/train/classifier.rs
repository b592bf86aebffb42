//! The conditional energy's [`Step`]: exact maximum likelihood of
//! `P(y | x) = exp(-beta E(x, y)) / sum_y' exp(-beta E(x, y'))` (softmax cross-entropy on
//! the logits `-beta E`), one mini-batch per update, test accuracy and NLL per epoch.
//!
//! One random stream for the whole run (the initialization, then every epoch's shuffle),
//! as the run has no resume: its checkpoints (`--save`) are for `ebm eval classifier`.

use super::{Position, RoundReport, RunDir, Step};
use crate::models::conditional::{ConditionalConfig, ConditionalEbm};
use crate::nn::Parameters;
use crate::nn::optim::Optimizer;
use crate::{Error, Result};
use ndarray::ArrayView2;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::PathBuf;

/// Training images and labels, test images and labels.
pub type Labelled<'a> = (ArrayView2<'a, f32>, &'a [u8]);

/// The classifier's step.
pub struct ClassifierStep<'a> {
    pub model: ConditionalEbm,
    opt: Box<dyn Optimizer>,
    rng: Xoshiro256PlusPlus,
    train: Labelled<'a>,
    test: Labelled<'a>,
    batch: usize,
    /// Multiplies the learning rate after every epoch.
    lr_decay: f32,
    /// What `--save` stores as the run (the epoch is added).
    run: serde_json::Value,
    order: Vec<usize>,
    total: f64,
}

impl<'a> ClassifierStep<'a> {
    /// A step for `model` (initialized from `rng`, which then shuffles the epochs).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: ConditionalEbm,
        opt: Box<dyn Optimizer>,
        rng: Xoshiro256PlusPlus,
        train: Labelled<'a>,
        test: Labelled<'a>,
        batch: usize,
        lr_decay: f32,
        run: serde_json::Value,
    ) -> Result<Self> {
        if batch == 0 {
            return Err(Error::invalid("batch", "must be positive"));
        }
        if train.0.nrows() == 0 || test.0.nrows() == 0 {
            return Err(Error::invalid("classifier data", "no images"));
        }
        Ok(ClassifierStep {
            model,
            opt,
            rng,
            train,
            test,
            batch,
            lr_decay,
            run,
            order: Vec::new(),
            total: 0.0,
        })
    }
}

impl Step for ClassifierStep<'_> {
    fn updates_in(&self, _round: usize) -> usize {
        self.train.0.nrows().div_ceil(self.batch)
    }
    fn begin_round(&mut self, _round: usize) -> Result<()> {
        self.order = (0..self.train.0.nrows()).collect();
        self.order.shuffle(&mut self.rng);
        self.total = 0.0;
        Ok(())
    }
    fn update(&mut self, _round: usize, i: usize) -> Result<Option<String>> {
        let b = self.batch;
        let idx = &self.order[i * b..((i + 1) * b).min(self.order.len())];
        self.total += self
            .model
            .train_batch(self.train.0, self.train.1, idx, self.opt.as_mut())?;
        Ok(None)
    }
    fn end_round(&mut self, e: usize, secs: f64, _wall: f64) -> Result<RoundReport> {
        let tl = self.total / self.train.0.nrows().max(1) as f64;
        let (acc, nll) = self.model.evaluate(self.test.0, self.test.1)?;
        self.opt.set_lr(self.opt.lr() * self.lr_decay);
        let csv = vec![
            ("epoch", e.to_string()),
            ("seconds", format!("{secs:.3}")),
            ("train_nll", format!("{tl:.6}")),
            ("test_nll", format!("{nll:.6}")),
            ("test_accuracy", format!("{acc:.6}")),
        ];
        let json = serde_json::json!({"epoch": e, "seconds": secs, "train_nll": tl,
            "test_nll": nll, "test_accuracy": acc, "unit": "nats per example"});
        Ok(RoundReport {
            line: format!(
                "{e:>5} {tl:>10.4} {nll:>10.4} {:>8.2}% {secs:>8.3}",
                100.0 * acc
            ),
            metrics: super::MetricsRow { csv, json },
            best: Some(("test_nll", nll, true)),
        })
    }
    fn save(&self, run: &RunDir, at: Position) -> Result<()> {
        self.model
            .save(&run.join("model.safetensors"), &self.run_at(at.round))
    }
    fn checkpoint_path(&self, run: &RunDir) -> PathBuf {
        run.join("model.safetensors")
    }
    fn model(&self) -> &dyn Parameters {
        &self.model.net
    }
    fn model_config(&self, round: usize) -> serde_json::Value {
        serde_json::json!({
            "model": "conditional_ebm",
            "conditional": self.model.config,
            "run": self.run_at(round),
        })
    }
}

impl ClassifierStep<'_> {
    fn run_at(&self, epoch: usize) -> serde_json::Value {
        let mut r = self.run.clone();
        r["epoch"] = serde_json::json!(epoch);
        r
    }
}

/// The options of `ebm train classifier` (its flags but `--save`; [`Default`] is what
/// the command line gives without any).
#[derive(clap::Args, Clone, Debug)]
pub struct ClassifierOptions {
    /// MNIST directory (IDX files, gzip or not); without it, the embedded UCI digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Passes over the training set; >= 1.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Hidden widths of the MLP, comma-separated; each >= 1.
    #[arg(long, value_delimiter = ',', default_value = "512,512")]
    pub hidden: Vec<usize>,
    /// Inverse temperature of `P(y|x) ~ exp(-beta E(x, y))`; > 0.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f32,
    /// Adam's learning rate; > 0.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Multiply the learning rate by this after every epoch; > 0.
    #[arg(long, default_value_t = 1.0)]
    pub lr_decay: f32,
    /// Images per update; >= 1.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
}

impl Default for ClassifierOptions {
    /// The command line's defaults: parsed from no flags, so the two cannot differ.
    fn default() -> Self {
        super::options_from_args("classifier", &[]).expect("the flags' defaults parse")
    }
}

impl ClassifierOptions {
    /// The ranges the options must be in.
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 || self.batch == 0 {
            return Err(Error::invalid("--epochs/--batch", "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid("--lr", format!("{} is not > 0", self.lr)));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0) {
            return Err(Error::invalid(
                "--lr-decay",
                format!("{} is not > 0", self.lr_decay),
            ));
        }
        Ok(())
    }

    /// The energy `E(x, y)` over 10 classes for inputs of width `in_dim`.
    pub fn config(&self, in_dim: usize) -> ConditionalConfig {
        ConditionalConfig {
            beta: self.beta,
            ..ConditionalConfig::mlp(in_dim, &self.hidden, 10)
        }
    }
}
