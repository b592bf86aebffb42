//! The VAE's [`Step`]: one mini-batch of the variational free energy
//! `F(y) = <E(y, z)>_q(z|y) + W KL(q(z|y) || p(z))` (or, with `iwae_k > 1`, the
//! importance-weighted bound `-L_k`), per update; the test loss per epoch.
//!
//! Round `e` (1-based) shuffles the training rows with the stream `(seed, 0, e)` and
//! draws batch `j` (and its dynamic binarization and reparameterization noise) from the
//! stream `(seed, 0, e, j)`; the evaluation draws from `(seed, 0xE7A1, e)`.
//!
//! Run folder: `model.safetensors` (config: the run's, plus `epoch`, `batches` and the
//! partial sums of an interrupted epoch, and the name of its optimizer file), beside
//! `optimizer-NNNNNNNNN.safetensors` (named by global step, so a crash between the two
//! writes leaves a model whose optimizer file exists).

use super::{Position, RoundReport, RunDir, Schedule, Step, stream};
use crate::data::images::ImageSet;
use crate::models::vae::{Vae, VaeConfig, VaeLoss};
use crate::nn::optim::{OptimConfig, Optimizer};
use crate::nn::{Parameters, checkpoint};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;

/// The seed of the one fixed binarization of a test set (Xoshiro256++,
/// `v = [u < intensity]`, `u ~ U(0, 1)` row by row).
pub const TEST_BINARIZATION_SEED: u64 = 0;

/// Domain of the evaluation's random stream (see [`stream`]).
const EVAL_DOMAIN: u64 = 0xE7A1;

/// The settings of a VAE training run: what `config.json` holds and a resume reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VaeTraining {
    /// Always `"vae"`.
    pub model: String,
    pub vae: VaeConfig,
    pub optimizer: OptimConfig,
    pub batch: usize,
    /// Dynamic binarization of the training images (and the fixed one of the test set).
    pub binarize: bool,
    /// `constant`, `cosine` or `iwae` (see [`Schedule`]).
    pub schedule: String,
    pub lr: f32,
    /// The epochs the schedule spans (those the run was started with).
    pub epochs: usize,
    pub seed: u64,
    /// What the data are (for the report).
    pub data: String,
    pub data_dir: Option<String>,
    pub protocol: String,
    /// Global gradient-norm clipping.
    #[serde(default)]
    pub clip: Option<f64>,
}

impl VaeTraining {
    /// The first line of a run: the network, the objective and the data.
    pub fn describe(&self) -> String {
        let (c, v) = (self, &self.vae);
        let widths: Vec<String> = v.hidden.iter().map(|h| h.to_string()).collect();
        let (objective, what) = if v.iwae_k > 1 {
            (format!("IWAE k = {}", v.iwae_k), "-L_k")
        } else {
            (format!("free energy <E>_q + {} KL", v.kl_weight), "ELBO")
        };
        format!(
            "VAE {}-{}-{} ({:?}), {objective}, objective {what}, on {} ({})",
            v.input_dim,
            widths.join("-"),
            v.latent,
            v.activation,
            c.data,
            c.protocol
        )
    }

    /// Check what a fresh run and a resumed config alike must satisfy.
    pub fn validate(&self) -> Result<()> {
        self.vae.validate()?;
        self.vae.check_memory()?;
        self.optimizer.validate()?;
        if self.batch == 0 {
            return Err(Error::invalid("batch", "must be at least 1"));
        }
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", "must be at least 1"));
        }
        // A batch's states and adjoints through encoder and decoder, for each of the
        // iwae_k samples: about 16 bytes per unit and row.
        let v = &self.vae;
        let units = v
            .hidden
            .iter()
            .try_fold(2 * v.input_dim as u64 + 6 * v.latent as u64, |acc, &h| {
                acc.checked_add(2 * h as u64)
            });
        let rows = (self.batch as u64).checked_mul(v.iwae_k as u64);
        crate::budget::check(
            "batch/iwae_k",
            crate::budget::bytes(units.and_then(|u| u.checked_mul(rows?)), 16),
            &format!(
                "batches of {} x {} samples through a VAE {}-{:?}-{}",
                self.batch, v.iwae_k, v.input_dim, v.hidden, v.latent
            ),
        )?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid(
                "lr",
                format!("{} is not a positive number", self.lr),
            ));
        }
        if let Some(c) = self.clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(Error::invalid(
                "clip",
                format!("{c} is not a positive number"),
            ));
        }
        Schedule::from_name(&self.schedule).map(|_| ())
    }

    /// The description of the likelihood protocol.
    pub fn protocol_for(binarize: bool) -> String {
        if binarize {
            format!("dynamic binarization; test set binarized once (seed {TEST_BINARIZATION_SEED})")
        } else {
            "pixels in [0, 1] (not binarized)".to_string()
        }
    }
}

/// The fixed binarization of a test set: `[u < p]` with `u` from [`TEST_BINARIZATION_SEED`].
pub fn binarize_fixed(x: &Array2<f32>) -> Array2<f32> {
    crate::data::images::binarize(x, TEST_BINARIZATION_SEED)
}

/// The VAE's training step over a training set, evaluated on a test set.
pub struct VaeStep<'a> {
    pub vae: Vae,
    opt: Box<dyn Optimizer>,
    cfg: VaeTraining,
    schedule: Schedule,
    train: ArrayView2<'a, f32>,
    test: Array2<f32>,
    order: Vec<usize>,
    /// Loss sums of the round so far.
    partial: VaeLoss,
    lr_now: f32,
}

impl<'a> VaeStep<'a> {
    /// A fresh run: the model initialized from `cfg.seed`, the test set binarized once
    /// when `cfg.binarize`.
    pub fn new(cfg: VaeTraining, train: ArrayView2<'a, f32>, test: &Array2<f32>) -> Result<Self> {
        cfg.validate()?;
        for (what, x) in [("training", train.reborrow()), ("test", test.view())] {
            if x.ncols() != cfg.vae.input_dim {
                return Err(Error::Shape {
                    what: format!("{what} images for the VAE"),
                    expected: vec![cfg.vae.input_dim],
                    found: vec![x.ncols()],
                });
            }
            if x.nrows() == 0 {
                return Err(Error::invalid(format!("{what} data"), "no images"));
            }
        }
        let mut init =
            <rand_xoshiro::Xoshiro256PlusPlus as rand::SeedableRng>::seed_from_u64(cfg.seed);
        let mut vae = Vae::new(cfg.vae.clone(), &mut init)?;
        vae.clip_norm = cfg.clip;
        vae.binarize = cfg.binarize;
        let test = if cfg.binarize {
            binarize_fixed(test)
        } else {
            test.clone()
        };
        Ok(VaeStep {
            vae,
            opt: cfg.optimizer.build(),
            schedule: Schedule::from_name(&cfg.schedule)?,
            lr_now: cfg.lr,
            cfg,
            train,
            test,
            order: Vec::new(),
            partial: VaeLoss::default(),
        })
    }

    /// Continue the run saved in `run` (its config.json and model.safetensors); with
    /// `epochs`, the run's schedule is kept and only the last round moves.
    pub fn resume(
        run: &RunDir,
        train: ArrayView2<'a, f32>,
        test: &Array2<f32>,
    ) -> Result<(Self, Position)> {
        let cfg = Self::saved_config(run)?;
        // The model the config describes must be the one stored, before it is built.
        checkpoint::check_stored_size(
            &run.join("model.safetensors"),
            "vae",
            cfg.vae.param_count(),
        )?;
        let mut s = VaeStep::new(cfg, train, test)?;
        let saved = checkpoint::load(&run.join("model.safetensors"), &mut s.vae)?;
        // Runs written before the optimizer file was named by step used one name; the
        // name must stay inside the run folder.
        let ost = saved["optimizer_state"]
            .as_str()
            .unwrap_or("optimizer.safetensors");
        if ost.contains(['/', '\\']) || ost.starts_with('.') {
            return Err(Error::format(
                run.join("model.safetensors"),
                format!("optimizer_state `{ost}` is not a file name inside the run folder"),
            ));
        }
        checkpoint::load_optimizer(&run.join(ost), s.opt.as_mut(), &s.vae)?;
        let u = |k: &str| saved[k].as_u64().unwrap_or(0);
        let round = usize::try_from(u("epoch")).unwrap_or(usize::MAX);
        let update = usize::try_from(u("batches")).unwrap_or(usize::MAX);
        if round > 1 << 40 || update > s.train.nrows() {
            return Err(Error::format(
                run.join("model.safetensors"),
                format!("epoch {round} / batches {update} out of range"),
            ));
        }
        s.partial = VaeLoss {
            recon: saved["partial_recon"].as_f64().unwrap_or(0.0),
            kl: saved["partial_kl"].as_f64().unwrap_or(0.0),
            n: u("partial_n") as usize,
            kl_weight: s.cfg.vae.kl_weight as f64,
        };
        Ok((
            s,
            Position {
                round,
                update,
                rows: round,
            },
        ))
    }

    /// The settings saved in `run/config.json`, checked as a fresh run's are.
    pub fn saved_config(run: &RunDir) -> Result<VaeTraining> {
        let p = run.join("config.json");
        let v = super::run_dir::read_json(&p)?;
        let cfg: VaeTraining = serde_json::from_value(v)
            .map_err(|e| Error::format(&p, format!("not a VAE run config: {e}")))?;
        cfg.validate()
            .map_err(|e| Error::format(&p, e.to_string()))?;
        Ok(cfg)
    }

    /// The settings.
    pub fn config(&self) -> &VaeTraining {
        &self.cfg
    }

    /// The test set as evaluated (binarized once when the run binarizes).
    pub fn test(&self) -> &Array2<f32> {
        &self.test
    }

    fn batches(&self) -> usize {
        self.train.nrows().div_ceil(self.cfg.batch)
    }

    fn run_config(&self) -> serde_json::Value {
        serde_json::to_value(&self.cfg).expect("config serializes")
    }
}

impl Step for VaeStep<'_> {
    fn updates_in(&self, _round: usize) -> usize {
        self.batches()
    }

    fn begin_round(&mut self, round: usize) -> Result<()> {
        self.lr_now = self.schedule.lr(self.cfg.lr, round, self.cfg.epochs);
        self.opt.set_lr(self.lr_now);
        self.order = (0..self.train.nrows()).collect();
        self.order
            .shuffle(&mut stream(self.cfg.seed, 0, round, None));
        Ok(())
    }

    fn update(&mut self, round: usize, i: usize) -> Result<Option<String>> {
        let b = self.cfg.batch;
        let idx = &self.order[i * b..((i + 1) * b).min(self.order.len())];
        let mut rng = stream(self.cfg.seed, 0, round, Some(i));
        let l = self
            .vae
            .train_batch(self.train, idx, &mut rng, self.opt.as_mut())?;
        self.partial.add(&l);
        Ok(Some(format!("loss {:.3}", self.partial.per_row())))
    }

    fn end_round(&mut self, round: usize, secs: f64, wall: f64) -> Result<RoundReport> {
        let l = std::mem::take(&mut self.partial);
        let mut rng = stream(self.cfg.seed, EVAL_DOMAIN, round, None);
        let tl = self.vae.evaluate(self.test.view(), 500, &mut rng)?;
        let n = |x: f64, l: &VaeLoss| x / l.n.max(1) as f64;
        let line = format!(
            "{round:>5} {:>12.3} {:>12.3} {:>10.3} {secs:>8.2}",
            l.per_row(),
            tl.per_row(),
            tl.kl / tl.n as f64
        );
        let lr = self.lr_now;
        let csv = vec![
            ("epoch", round.to_string()),
            ("seconds", format!("{secs:.3}")),
            ("wall_seconds", format!("{wall:.1}")),
            ("lr", lr.to_string()),
            ("train_loss", format!("{:.4}", l.per_row())),
            ("train_recon", format!("{:.4}", n(l.recon, &l))),
            ("train_kl", format!("{:.4}", n(l.kl, &l))),
            ("test_loss", format!("{:.4}", tl.per_row())),
            ("test_recon", format!("{:.4}", n(tl.recon, &tl))),
            ("test_kl", format!("{:.4}", n(tl.kl, &tl))),
        ];
        let json = json!({"epoch": round, "step": round * self.batches(), "seconds": secs,
            "wall_seconds": wall, "lr": lr,
            "train_loss": l.per_row(), "train_recon": n(l.recon, &l), "train_kl": n(l.kl, &l),
            "test_loss": tl.per_row(), "test_recon": n(tl.recon, &tl), "test_kl": n(tl.kl, &tl),
            "unit": "nats per image"});
        Ok(RoundReport {
            line,
            metrics: super::MetricsRow { csv, json },
            best: Some(("test_loss", tl.per_row(), true)),
        })
    }

    fn saves_mid_round(&self) -> bool {
        true
    }

    fn save(&self, run: &RunDir, at: Position) -> Result<()> {
        let mut c = self.run_config();
        c["epoch"] = json!(at.round);
        if at.update > 0 {
            c["batches"] = json!(at.update);
            c["partial_recon"] = json!(self.partial.recon);
            c["partial_kl"] = json!(self.partial.kl);
            c["partial_n"] = json!(self.partial.n);
        }
        let step = at.round * self.batches() + at.update;
        let name = format!("optimizer-{step:09}.safetensors");
        checkpoint::save_optimizer(&run.join(&name), self.opt.as_ref())?;
        c["optimizer_state"] = json!(name);
        checkpoint::save(&run.join("model.safetensors"), &self.vae, &c)?;
        if let Ok(rd) = std::fs::read_dir(run.path()) {
            for e in rd.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if f.starts_with("optimizer-") && f.ends_with(".safetensors") && f != name {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    fn checkpoint_path(&self, run: &RunDir) -> PathBuf {
        run.join("model.safetensors")
    }

    fn model(&self) -> &dyn Parameters {
        &self.vae
    }

    fn model_config(&self, round: usize) -> serde_json::Value {
        let mut c = self.run_config();
        c["epoch"] = json!(round);
        c
    }
}

/// The header of a VAE run's metrics.csv.
pub const METRICS_HEADER: [&str; 10] = [
    "epoch",
    "seconds",
    "wall_seconds",
    "lr",
    "train_loss",
    "train_recon",
    "train_kl",
    "test_loss",
    "test_recon",
    "test_kl",
];

/// The options of a fresh VAE run (`ebm train vae`'s flags; [`Default`] is what the
/// command line gives without any), turned into its [`VaeTraining`] by
/// [`VaeOptions::resolve`].
#[derive(clap::Args, Clone, Debug)]
pub struct VaeOptions {
    /// MNIST directory (IDX files, gzip or not); without it, the embedded UCI digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Architecture: pytorch (784-400-20 ReLU, the PyTorch example) or iwae
    /// (784-200-200-50 tanh, Burda et al. 2016).
    #[arg(long, default_value = "pytorch")]
    pub arch: String,
    /// Hidden widths of the encoder, comma-separated (the decoder mirrors them);
    /// default: the architecture's; each >= 1.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Width of z (2 for the pictures of the latent space); default: the architecture's; >= 1.
    #[arg(long)]
    pub latent: Option<usize>,
    /// Weight of the KL term, 1/beta in the lecture's free energy `<E>_q + (1/beta) KL`; >= 0, finite.
    #[arg(long, default_value_t = 1.0)]
    pub kl_weight: f32,
    /// Samples per image in the training objective: 1 = VAE, k > 1 = IWAE bound; >= 1.
    #[arg(long, default_value_t = 1)]
    pub iwae_k: usize,
    /// none (pixels in [0, 1]) or dynamic (fresh Bernoulli draws every pass);
    /// default: none for pytorch, dynamic for iwae.
    #[arg(long)]
    pub binarize: Option<String>,
    /// Passes over the training set (with --resume: the total, extending the run); >= 1.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Images per update; >= 1.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Learning rate (lower it if the loss diverges); > 0, finite.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Learning-rate schedule: constant; iwae (Burda et al.: pass i of 3^i epochs at
    /// lr 10^(-i/7)); or cosine (from --lr down to --lr / 10 over --epochs).
    #[arg(long, default_value = "constant")]
    pub schedule: String,
    /// Optimizer: adam, adamw or sgd (momentum 0.9, Nesterov).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Weight decay (decoupled, AdamW) of every weight, >= 0.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Clip the global gradient norm to this value; > 0, finite.
    #[arg(long)]
    pub clip: Option<f64>,
}

impl Default for VaeOptions {
    /// The command line's defaults: parsed from no flags, so the two cannot differ.
    fn default() -> Self {
        super::options_from_args("vae", &[]).expect("the flags' defaults parse")
    }
}

impl VaeOptions {
    /// The optimizer the flags name.
    fn optimizer(&self) -> Result<OptimConfig> {
        let a = self;
        if !(a.lr.is_finite() && a.lr > 0.0) {
            return Err(Error::invalid(
                "--lr",
                format!("{} is not a positive number", a.lr),
            ));
        }
        OptimConfig::from_name(&a.optimizer, a.lr, a.weight_decay, "--optimizer")
    }

    /// The resolved settings of a fresh training run (saved as the run's config.json).
    pub fn resolve(&self, data: &ImageSet, seed: u64) -> Result<VaeTraining> {
        let a = self;
        let base = match a.arch.as_str() {
            "pytorch" => VaeConfig::pytorch_mnist(),
            "iwae" => VaeConfig::iwae_mnist(),
            o => {
                return Err(Error::invalid(
                    "--arch",
                    format!("`{o}` is not one of pytorch, iwae"),
                ));
            }
        };
        let binarize = match a.binarize.as_deref() {
            None => a.arch == "iwae",
            Some("dynamic") => true,
            Some("none") => false,
            Some(o) => {
                return Err(Error::invalid(
                    "--binarize",
                    format!("`{o}` is not one of none, dynamic"),
                ));
            }
        };
        Schedule::from_name(&a.schedule)?;
        if let Some(c) = a.clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(Error::invalid(
                "--clip",
                format!("{c} is not a positive number"),
            ));
        }
        let vae = VaeConfig {
            input_dim: data.train.ncols(),
            hidden: a.hidden.clone().unwrap_or(base.hidden.clone()),
            latent: a.latent.unwrap_or(base.latent),
            kl_weight: a.kl_weight,
            iwae_k: a.iwae_k,
            ..base
        };
        vae.validate()?;
        Ok(VaeTraining {
            model: "vae".into(),
            vae,
            optimizer: a.optimizer()?,
            batch: a.batch,
            binarize,
            schedule: a.schedule.clone(),
            lr: a.lr,
            epochs: a.epochs,
            seed,
            data: data.what.clone(),
            data_dir: a.data.as_ref().map(|p| p.display().to_string()),
            protocol: VaeTraining::protocol_for(binarize),
            clip: a.clip,
        })
    }
}

/// A training run of the VAE as `ebm train vae` and `ebmrs.train_vae` make it: the
/// data its settings name (a resumed run's own), the step (fresh from `options`, or
/// resumed from `run`), the table's header, [`fit`](super::fit) under `cfg`, and, once
/// finished in a run folder, its figures and report. Returns how the loop ended and the
/// report's path.
pub fn train_run(
    options: &VaeOptions,
    run: Option<&RunDir>,
    resume: bool,
    seed: u64,
    cfg: &super::FitConfig,
) -> Result<(super::Outcome, Option<std::path::PathBuf>)> {
    use super::{Outcome, Position};
    if options.epochs == 0 || options.batch == 0 {
        return Err(Error::invalid("--epochs/--batch", "must be at least 1"));
    }
    let saved = match (resume, run) {
        (true, Some(r)) => Some(VaeStep::saved_config(r)?),
        _ => None,
    };
    if let Some(c) = &saved {
        super::check_resumed_data(c.data_dir.as_deref(), options.data.as_deref())?;
    }
    let data = ImageSet::load(
        options.data.as_deref(),
        saved.as_ref().map_or(seed, |c| c.seed),
    )?;
    let (mut step, start) = match (resume, run) {
        (true, Some(r)) => {
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
            (s, at)
        }
        _ => {
            let s = VaeStep::new(options.resolve(&data, seed)?, data.train.view(), &data.test)?;
            if let Some(r) = run {
                r.write_config(&serde_json::to_value(s.config()).expect("config serializes"))?;
                r.start_metrics(&METRICS_HEADER)?;
            }
            (s, Position::default())
        }
    };
    eprintln!(
        "config: {}",
        serde_json::to_string(step.config()).expect("config serializes")
    );
    println!("{}", step.config().describe());
    println!(
        "{:>5} {:>12} {:>12} {:>10} {:>8}",
        "epoch", "train loss", "test loss", "test KL", "seconds"
    );
    let outcome = super::fit(&mut step, run, start, cfg)?;
    if outcome == Outcome::Interrupted {
        return Ok((outcome, None));
    }
    let Some(r) = run else {
        return Ok((outcome, None));
    };
    let seed = step.config().seed;
    let dir = r.path();
    crate::figures::vae_run_figures(
        dir,
        &mut step.vae,
        data.test.view(),
        &data.test_labels,
        seed,
    )?;
    Ok((outcome, Some(crate::report::write_report(dir)?)))
}
