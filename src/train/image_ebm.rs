//! The image EBM's [`Step`]: one contrastive update per mini-batch,
//!
//! `L = <E(x+)> - <E(x-)> + alpha (<E(x+)^2> + <E(x-)^2>)`,
//!
//! positives `x+ = 2 y - 1 + sigma_d xi` (training images `y` in `[0, 1]` moved to
//! `[-1, 1]` with a little Gaussian noise, as Nijkamp et al. and Grathwohl et al. do),
//! negatives `x-` by SGLD from the replay buffer (each chain restarted from uniform noise
//! with probability `reinit`; the chains' ends go back into the buffer) or, with
//! `init = noise`, from uniform noise every time (short-run). After each optimizer step
//! the network's spectral norms take one power iteration.
//!
//! Each epoch ends with the test set: the mean energy of 1,000 test images, and
//! inpainting of the bottom half of 100 test images by SGLD on the missing pixels
//! (`eval_steps` steps from uniform noise, the mean of `inpaint_chains` chains per
//! image), its mean squared error in `[0, 1]` units beside that of filling with the
//! mean training image.
//!
//! Update `j` of round `e` draws from the stream `(seed, 0, e, j)`, the evaluation from
//! `(seed, 0xE7A1, e)`. Run folder: `model.safetensors` (config: the run's, plus the
//! position and the names of the two files below), `optimizer-STEP.safetensors`,
//! `buffer-STEP.safetensors` (the replay buffer), the model file written last.

use super::{Position, RoundReport, RunDir, Step, stream};
use crate::data::images::ImageSet;
use crate::models::image_ebm::{
    ImageEbm, ImageEbmConfig, Sgld, SgldScratch, bottom_half_mask, inpaint, uniform_noise,
};
use crate::nn::checkpoint::{self, StateFile};
use crate::nn::optim::{OptimConfig, Optimizer};
use crate::nn::{Module, Parameters, Workspace};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis, s};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;

/// Domain of the evaluation's random stream (see [`stream`]).
const EVAL_DOMAIN: u64 = 0xE7A1;
/// Test images inpainted at the end of every epoch.
pub const INPAINT_IMAGES: usize = 100;
/// Test images whose mean energy is reported.
const ENERGY_IMAGES: usize = 1000;

/// The settings of an image-EBM training run: what `config.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageEbmTraining {
    /// Always `"image_ebm"`.
    pub model: String,
    pub image_ebm: ImageEbmConfig,
    pub optimizer: OptimConfig,
    pub batch: usize,
    /// The negatives' sampler.
    pub sgld: Sgld,
    /// `persistent` (replay buffer) or `noise` (short-run from uniform noise).
    pub init: String,
    /// Replay buffer size (images).
    pub buffer: usize,
    /// Probability that a buffer chain restarts from noise.
    pub reinit: f64,
    /// Standard deviation of the noise added to the positives.
    pub data_noise: f32,
    /// `alpha`, the weight of the squared energies.
    pub energy_reg: f32,
    /// Global gradient-norm clipping.
    pub clip: Option<f64>,
    /// SGLD steps of the evaluation (inpainting, samples from noise).
    pub eval_steps: usize,
    /// Chains per inpainted image (their mean is the completion).
    pub inpaint_chains: usize,
    pub epochs: usize,
    pub seed: u64,
    pub data: String,
    pub data_dir: Option<String>,
}

impl ImageEbmTraining {
    /// The first line of a run.
    pub fn describe(&self) -> String {
        format!(
            "image EBM: {}, negatives by SGLD ({} steps of {} with noise {}) from {}, alpha {}, on {}",
            self.image_ebm.describe(),
            self.sgld.steps,
            self.sgld.step_size,
            self.sgld.noise,
            match self.init.as_str() {
                "persistent" => format!(
                    "a replay buffer of {} ({}% fresh noise)",
                    self.buffer,
                    100.0 * self.reinit
                ),
                _ => "uniform noise (short-run)".to_string(),
            },
            self.energy_reg,
            self.data
        )
    }

    /// Check what a fresh run and a resumed config alike must satisfy.
    pub fn validate(&self) -> Result<()> {
        self.image_ebm.validate()?;
        self.optimizer.validate()?;
        self.sgld.validate()?;
        if self.batch == 0 || self.batch > 1 << 16 {
            return Err(Error::invalid("batch", "must be 1..=65536"));
        }
        if self.epochs == 0 {
            return Err(Error::invalid("epochs", "must be at least 1"));
        }
        match self.init.as_str() {
            "persistent" => {
                if self.buffer < self.batch {
                    return Err(Error::invalid(
                        "buffer",
                        format!(
                            "{} images cannot feed batches of {}",
                            self.buffer, self.batch
                        ),
                    ));
                }
            }
            "noise" => {}
            o => {
                return Err(Error::invalid(
                    "init",
                    format!("`{o}` is not one of persistent, noise"),
                ));
            }
        }
        crate::budget::check(
            "buffer",
            crate::budget::bytes(
                (self.buffer as u64).checked_mul(self.image_ebm.pixels() as u64),
                4,
            ),
            &format!("a replay buffer of {} images", self.buffer),
        )?;
        if !(0.0..=1.0).contains(&self.reinit) {
            return Err(Error::invalid("reinit", "must be in [0, 1]"));
        }
        for (name, v) in [
            ("data-noise", self.data_noise),
            ("energy-reg", self.energy_reg),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(name, "must be a finite number >= 0"));
            }
        }
        if let Some(c) = self.clip
            && !(c.is_finite() && c > 0.0)
        {
            return Err(Error::invalid(
                "clip",
                format!("{c} is not a positive number"),
            ));
        }
        if self.inpaint_chains == 0 || self.inpaint_chains > 1000 {
            return Err(Error::invalid("inpaint-chains", "must be 1..=1000"));
        }
        if self.eval_steps > 100_000 {
            return Err(Error::invalid("eval-steps", "must be at most 100000"));
        }
        Ok(())
    }
}

/// Sums over the updates of a round.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Partial {
    e_pos: f64,
    e_neg: f64,
    grad_norm: f64,
    updates: usize,
}

/// The image EBM's training step.
pub struct ImageEbmStep<'a> {
    pub model: ImageEbm,
    opt: Box<dyn Optimizer>,
    cfg: ImageEbmTraining,
    /// Training images in `[0, 1]`.
    train: ArrayView2<'a, f32>,
    /// Test images in `[-1, 1]`.
    test: Array2<f32>,
    /// The mean training image in `[-1, 1]` (the inpainting baseline).
    mean_image: Vec<f32>,
    /// `[buffer, pixels]` in `[-1, 1]` (empty without a buffer).
    pub buffer: Array2<f32>,
    order: Vec<usize>,
    partial: Partial,
    scratch: SgldScratch,
    ws: Workspace,
}

/// Images in `[0, 1]` moved to `[-1, 1]`.
pub fn to_signed(x: ArrayView2<f32>) -> Array2<f32> {
    x.mapv(|v| 2.0 * v - 1.0)
}

impl<'a> ImageEbmStep<'a> {
    /// A fresh run: the network from `cfg.seed`, the buffer of uniform noise.
    pub fn new(
        cfg: ImageEbmTraining,
        train: ArrayView2<'a, f32>,
        test: &Array2<f32>,
    ) -> Result<Self> {
        cfg.validate()?;
        let d = cfg.image_ebm.pixels();
        for (what, x) in [("training", train.reborrow()), ("test", test.view())] {
            if x.ncols() != d {
                return Err(Error::Shape {
                    what: format!("{what} images for the image EBM"),
                    expected: vec![d],
                    found: vec![x.ncols()],
                });
            }
            if x.nrows() == 0 {
                return Err(Error::invalid(format!("{what} data"), "no images"));
            }
        }
        let mut init =
            <rand_xoshiro::Xoshiro256PlusPlus as rand::SeedableRng>::seed_from_u64(cfg.seed);
        let model = ImageEbm::new(cfg.image_ebm.clone(), &mut init)?;
        let buffer = if cfg.init == "persistent" {
            uniform_noise(cfg.buffer, d, &mut init)
        } else {
            Array2::zeros((0, d))
        };
        let mean_image: Vec<f32> = train
            .mean_axis(Axis(0))
            .expect("training images")
            .iter()
            .map(|&m| 2.0 * m - 1.0)
            .collect();
        Ok(ImageEbmStep {
            model,
            opt: cfg.optimizer.build(),
            cfg,
            train,
            test: to_signed(test.view()),
            mean_image,
            buffer,
            order: Vec::new(),
            partial: Partial::default(),
            scratch: SgldScratch::default(),
            ws: Workspace::default(),
        })
    }

    /// Continue the run saved in `run`.
    pub fn resume(
        run: &RunDir,
        train: ArrayView2<'a, f32>,
        test: &Array2<f32>,
    ) -> Result<(Self, Position)> {
        let cfg = Self::saved_config(run)?;
        let mut s = ImageEbmStep::new(cfg, train, test)?;
        let mpath = run.join("model.safetensors");
        let saved = checkpoint::load(&mpath, &mut s.model.net)?;
        s.model.net.refresh(0);
        let name = |key: &str| -> Result<String> {
            let n = saved[key].as_str().unwrap_or_default().to_string();
            if n.is_empty() || n.contains(['/', '\\']) || n.starts_with('.') {
                return Err(Error::format(
                    &mpath,
                    format!("{key} `{n}` is not a file name inside the run folder"),
                ));
            }
            Ok(n)
        };
        checkpoint::load_optimizer(
            &run.join(&name("optimizer_state")?),
            s.opt.as_mut(),
            &s.model.net,
        )?;
        if s.cfg.init == "persistent" {
            let st = StateFile::load(&run.join(&name("buffer_state")?))?;
            let shape = [s.buffer.nrows(), s.buffer.ncols()];
            let b = st.f32("buffer", Some(&shape))?;
            s.buffer
                .as_slice_mut()
                .expect("standard layout")
                .copy_from_slice(b);
        }
        let u = |k: &str| saved[k].as_u64().unwrap_or(0);
        let round = usize::try_from(u("epoch")).unwrap_or(usize::MAX);
        let update = usize::try_from(u("batches")).unwrap_or(usize::MAX);
        if round > 1 << 40 || update > s.batches() {
            return Err(Error::format(
                &mpath,
                format!("epoch {round} / batches {update} out of range"),
            ));
        }
        if update > 0 {
            s.partial = serde_json::from_value(saved["partial"].clone())
                .map_err(|e| Error::format(&mpath, format!("bad partial sums: {e}")))?;
        }
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
    pub fn saved_config(run: &RunDir) -> Result<ImageEbmTraining> {
        let p = run.join("config.json");
        let v = super::run_dir::read_json(&p)?;
        let cfg: ImageEbmTraining = serde_json::from_value(v)
            .map_err(|e| Error::format(&p, format!("not an image-EBM run config: {e}")))?;
        cfg.validate()
            .map_err(|e| Error::format(&p, e.to_string()))?;
        Ok(cfg)
    }

    /// The settings.
    pub fn config(&self) -> &ImageEbmTraining {
        &self.cfg
    }

    fn batches(&self) -> usize {
        self.train.nrows().div_ceil(self.cfg.batch)
    }

    /// The negatives of one update, `[b, pixels]`, drawn with `rng` (the buffer's chains
    /// written back).
    fn negatives(&mut self, b: usize, rng: &mut impl Rng) -> Array2<f32> {
        let d = self.cfg.image_ebm.pixels();
        let persistent = self.cfg.init == "persistent";
        let mut slots = Vec::with_capacity(b);
        let mut x = uniform_noise(b, d, rng);
        if persistent {
            for mut row in x.rows_mut() {
                let slot = rng.gen_range(0..self.buffer.nrows());
                if rng.r#gen::<f64>() >= self.cfg.reinit {
                    row.assign(&self.buffer.row(slot));
                }
                slots.push(slot);
            }
        }
        let r = self
            .cfg
            .sgld
            .run(&self.model, &mut x, None, rng, &mut self.scratch);
        self.partial.grad_norm += r;
        for (row, &slot) in x.rows().into_iter().zip(&slots) {
            self.buffer.row_mut(slot).assign(&row);
        }
        x
    }

    /// The mean squared error (in `[0, 1]` units, over the missing pixels) of inpainting
    /// the bottom half of the first [`INPAINT_IMAGES`] test images, and of filling it
    /// with the mean training image; the restored images.
    pub fn inpaint_test(&self, rng: &mut impl Rng) -> (f64, f64, Array2<f32>) {
        let n = INPAINT_IMAGES.min(self.test.nrows());
        let x = self.test.slice(s![..n, ..]);
        let mask = bottom_half_mask(&self.cfg.image_ebm);
        let sgld = Sgld {
            steps: self.cfg.eval_steps,
            ..self.cfg.sgld
        };
        let restored = inpaint(&self.model, x, &mask, &sgld, self.cfg.inpaint_chains, rng);
        let missing = mask.iter().filter(|&&m| m != 0.0).count().max(1) * n.max(1);
        let (mut e_model, mut e_mean) = (0.0f64, 0.0f64);
        for (xr, rr) in x.rows().into_iter().zip(restored.rows()) {
            for (j, &m) in mask.iter().enumerate() {
                if m != 0.0 {
                    let t = (xr[j] as f64 + 1.0) / 2.0;
                    e_model += ((rr[j] as f64 + 1.0) / 2.0 - t).powi(2);
                    e_mean += ((self.mean_image[j] as f64 + 1.0) / 2.0 - t).powi(2);
                }
            }
        }
        (e_model / missing as f64, e_mean / missing as f64, restored)
    }

    /// `n` chains of the evaluation's SGLD from uniform noise, in `[-1, 1]`.
    pub fn samples_from_noise(&mut self, n: usize, rng: &mut impl Rng) -> Array2<f32> {
        let d = self.cfg.image_ebm.pixels();
        let mut x = uniform_noise(n, d, rng);
        let sgld = Sgld {
            steps: self.cfg.eval_steps,
            ..self.cfg.sgld
        };
        sgld.run(&self.model, &mut x, None, rng, &mut self.scratch);
        x
    }

    /// The test images in `[-1, 1]`.
    pub fn test(&self) -> &Array2<f32> {
        &self.test
    }

    fn run_config(&self) -> serde_json::Value {
        serde_json::to_value(&self.cfg).expect("config serializes")
    }
}

impl Step for ImageEbmStep<'_> {
    fn updates_in(&self, _round: usize) -> usize {
        self.batches()
    }

    fn begin_round(&mut self, round: usize) -> Result<()> {
        self.order = (0..self.train.nrows()).collect();
        self.order
            .shuffle(&mut stream(self.cfg.seed, 0, round, None));
        Ok(())
    }

    fn update(&mut self, round: usize, i: usize) -> Result<Option<String>> {
        let bsz = self.cfg.batch;
        let idx: Vec<usize> = self.order[i * bsz..((i + 1) * bsz).min(self.order.len())].to_vec();
        let b = idx.len();
        let d = self.cfg.image_ebm.pixels();
        let mut rng = stream(self.cfg.seed, 0, round, Some(i));
        let neg = self.negatives(b, &mut rng);
        let net = &mut self.model.net;
        let par = crate::threads::gemm_parallelism();
        {
            let mut x = net.input_mut(&mut self.ws, 2 * b); // [2b, pixels]: positives, negatives
            for (r, &j) in idx.iter().enumerate() {
                for (v, &y) in x.row_mut(r).iter_mut().zip(self.train.row(j)) {
                    let xi: f32 = StandardNormal.sample(&mut rng);
                    *v = 2.0 * y - 1.0 + self.cfg.data_noise * xi;
                }
            }
            x.slice_mut(s![b.., ..]).assign(&neg);
            debug_assert_eq!(x.ncols(), d);
        }
        let alpha = self.cfg.energy_reg as f64;
        let (loss, ep, en) = self.model.contrastive_grad(&mut self.ws, b, alpha, par);
        if !loss.is_finite() {
            return Err(Error::Diverged(format!(
                "the contrastive loss is {loss} (energies of positives {ep}, negatives {en})"
            )));
        }
        let net = &mut self.model.net;
        if let Some(c) = self.cfg.clip {
            crate::nn::optim::clip_grad_norm(net, c);
        }
        self.opt.step(net);
        net.refresh(1);
        self.partial.e_pos += ep;
        self.partial.e_neg += en;
        self.partial.updates += 1;
        let k = self.partial.updates.max(1) as f64;
        Ok(Some(format!(
            "E+ {:.3} E- {:.3}",
            self.partial.e_pos / k,
            self.partial.e_neg / k
        )))
    }

    fn end_round(&mut self, round: usize, secs: f64, wall: f64) -> Result<RoundReport> {
        let p = std::mem::take(&mut self.partial);
        let k = p.updates.max(1) as f64;
        let (e_pos, e_neg, r) = (p.e_pos / k, p.e_neg / k, p.grad_norm / k);
        let n = ENERGY_IMAGES.min(self.test.nrows());
        let te = self.model.energies(self.test.slice(s![..n, ..]));
        let e_test = te.iter().map(|&e| e as f64).sum::<f64>() / n.max(1) as f64;
        let mut rng = stream(self.cfg.seed, EVAL_DOMAIN, round, None);
        let (mse, mse_mean, _) = self.inpaint_test(&mut rng);
        let line = format!(
            "{round:>5} {e_pos:>10.4} {e_neg:>10.4} {e_test:>10.4} {r:>10.4} {mse:>10.4} {mse_mean:>10.4} {secs:>8.2}"
        );
        let csv = vec![
            ("epoch", round.to_string()),
            ("seconds", format!("{secs:.3}")),
            ("wall_seconds", format!("{wall:.1}")),
            ("energy_pos", format!("{e_pos:.5}")),
            ("energy_neg", format!("{e_neg:.5}")),
            ("energy_test", format!("{e_test:.5}")),
            ("sgld_grad_norm", format!("{r:.5}")),
            ("inpaint_mse", format!("{mse:.5}")),
            ("inpaint_mse_mean_image", format!("{mse_mean:.5}")),
        ];
        let json = json!({"epoch": round, "step": round * self.batches(), "seconds": secs,
            "wall_seconds": wall, "energy_pos": e_pos, "energy_neg": e_neg, "energy_test": e_test,
            "sgld_grad_norm": r, "inpaint_mse": mse, "inpaint_mse_mean_image": mse_mean,
            "inpaint_images": INPAINT_IMAGES.min(self.test.nrows())});
        Ok(RoundReport {
            line,
            metrics: super::MetricsRow { csv, json },
            best: Some(("inpaint_mse", mse, true)),
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
            c["partial"] = serde_json::to_value(self.partial).expect("sums serialize");
        }
        let step = at.round * self.batches() + at.update;
        let oname = format!("optimizer-{step:09}.safetensors");
        checkpoint::save_optimizer(&run.join(&oname), self.opt.as_ref())?;
        c["optimizer_state"] = json!(oname);
        let bname = format!("buffer-{step:09}.safetensors");
        if self.cfg.init == "persistent" {
            let mut st = StateFile::new(json!({"image_ebm_buffer": true}));
            st.put_f32(
                "buffer",
                vec![self.buffer.nrows(), self.buffer.ncols()],
                self.buffer.iter().copied().collect(),
            );
            st.save(&run.join(&bname))?;
            c["buffer_state"] = json!(bname);
        }
        self.model.save(&run.join("model.safetensors"), &c)?;
        if let Ok(rd) = std::fs::read_dir(run.path()) {
            for e in rd.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                let stale = (f.starts_with("optimizer-") && f != oname)
                    || (f.starts_with("buffer-") && f != bname);
                if stale && f.ends_with(".safetensors") {
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
        &self.model
    }

    fn model_config(&self, round: usize) -> serde_json::Value {
        let mut c = self.run_config();
        c["epoch"] = json!(round);
        c["image_ebm"] = serde_json::to_value(&self.cfg.image_ebm).expect("config serializes");
        c
    }
}

/// The header of an image-EBM run's metrics.csv.
pub const METRICS_HEADER: [&str; 9] = [
    "epoch",
    "seconds",
    "wall_seconds",
    "energy_pos",
    "energy_neg",
    "energy_test",
    "sgld_grad_norm",
    "inpaint_mse",
    "inpaint_mse_mean_image",
];

/// The options of a fresh image-EBM run (`ebm train image-ebm`'s flags). Defaults, and
/// where each comes from: SGLD step 1 and noise 0.01, buffer 10,000, 5% fresh noise,
/// data noise 0.03, Adam lr 1e-4 (Grathwohl et al. 2020, JEM's code); 20 SGLD steps
/// (both JEM and Du & Mordatch 2019); alpha = 1 and spectral norm available (Du &
/// Mordatch); LeakyReLU 0.2; the ConvNet of Nijkamp et al. 2019 with 16 filters.
#[derive(clap::Args, Clone, Debug)]
pub struct ImageEbmOptions {
    /// MNIST directory (IDX files, gzip or not); without it, the embedded UCI digits (8x8).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Channels of the first conv; each stride-2 conv doubles them; 1..=512.
    #[arg(long, default_value_t = 16)]
    pub features: usize,
    /// Spectral normalization of every conv (Du & Mordatch 2019).
    #[arg(long)]
    pub spectral_norm: bool,
    /// Where SGLD starts: persistent (replay buffer) or noise (short-run from noise).
    #[arg(long, default_value = "persistent")]
    pub init: String,
    /// SGLD steps per update; <= 100000.
    #[arg(long, default_value_t = 20)]
    pub sgld_steps: usize,
    /// SGLD step on the energy gradient; >= 0.
    #[arg(long, default_value_t = 1.0)]
    pub sgld_step: f32,
    /// SGLD noise standard deviation; >= 0.
    #[arg(long, default_value_t = 0.01)]
    pub sgld_noise: f32,
    /// Replay buffer size (images); >= --batch.
    #[arg(long, default_value_t = 10_000)]
    pub buffer: usize,
    /// Probability that a buffer chain restarts from uniform noise; in [0, 1].
    #[arg(long, default_value_t = 0.05)]
    pub reinit: f64,
    /// Standard deviation of the Gaussian noise added to training images in [-1, 1]; >= 0.
    #[arg(long, default_value_t = 0.03)]
    pub data_noise: f32,
    /// alpha, the weight of the squared energies of positives and negatives; >= 0.
    #[arg(long, default_value_t = 1.0)]
    pub energy_reg: f32,
    /// Clip the global gradient norm to this value; > 0.
    #[arg(long)]
    pub clip: Option<f64>,
    /// SGLD steps of the evaluation (inpainting, samples from noise); <= 100000.
    #[arg(long, default_value_t = 100)]
    pub eval_steps: usize,
    /// Chains per inpainted test image, averaged (the posterior-mean completion); 1..=1000.
    #[arg(long, default_value_t = 4)]
    pub inpaint_chains: usize,
    /// Passes over the training set; >= 1.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Images per update (positives; as many negatives); >= 1.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Learning rate; > 0.
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f32,
    /// Optimizer: adam, adamw or sgd (momentum 0.9, Nesterov).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Weight decay; >= 0.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
}

impl Default for ImageEbmOptions {
    /// The command line's defaults: parsed from no flags.
    fn default() -> Self {
        super::options_from_args("image-ebm", &[]).expect("the flags' defaults parse")
    }
}

impl ImageEbmOptions {
    /// The resolved settings of a fresh run for `data`.
    pub fn resolve(&self, data: &ImageSet, seed: u64) -> Result<ImageEbmTraining> {
        let a = self;
        if !(a.lr.is_finite() && a.lr > 0.0) {
            return Err(Error::invalid(
                "--lr",
                format!("{} is not a positive number", a.lr),
            ));
        }
        let side = crate::figures::image_side(data.train.ncols())?;
        let mut m = ImageEbmConfig::new(1, (side, side), a.features);
        m.spectral_norm = a.spectral_norm;
        let cfg = ImageEbmTraining {
            model: "image_ebm".into(),
            image_ebm: m,
            optimizer: OptimConfig::from_name(&a.optimizer, a.lr, a.weight_decay, "--optimizer")?,
            batch: a.batch,
            sgld: Sgld {
                steps: a.sgld_steps,
                step_size: a.sgld_step,
                noise: a.sgld_noise,
            },
            init: a.init.clone(),
            buffer: a.buffer,
            reinit: a.reinit,
            data_noise: a.data_noise,
            energy_reg: a.energy_reg,
            clip: a.clip,
            eval_steps: a.eval_steps,
            inpaint_chains: a.inpaint_chains,
            epochs: a.epochs,
            seed,
            data: data.what.clone(),
            data_dir: a.data.as_ref().map(|p| p.display().to_string()),
        };
        cfg.validate().map_err(|e| match e {
            Error::Invalid { field, msg } if !field.contains(' ') => {
                Error::invalid(format!("--{field}"), msg)
            }
            e => e,
        })?;
        Ok(cfg)
    }
}

/// A training run of the image EBM as `ebm train image-ebm` makes it (fresh or resumed),
/// then, once finished in a run folder, its figures and report.
pub fn train_run(
    options: &ImageEbmOptions,
    run: Option<&RunDir>,
    resume: bool,
    seed: u64,
    cfg: &super::FitConfig,
) -> Result<(super::Outcome, Option<PathBuf>)> {
    use super::{Outcome, Position};
    let saved = match (resume, run) {
        (true, Some(r)) => Some(ImageEbmStep::saved_config(r)?),
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
            let (s, at) = ImageEbmStep::resume(r, data.train.view(), &data.test)?;
            eprintln!(
                "resuming {} after epoch {} (+{} batches)",
                r.path().display(),
                at.round,
                at.update
            );
            (s, at)
        }
        _ => {
            let s =
                ImageEbmStep::new(options.resolve(&data, seed)?, data.train.view(), &data.test)?;
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
        "{:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "epoch", "E(data)", "E(neg)", "E(test)", "|dE/dx|", "inpaint", "mean img", "seconds"
    );
    // A resumed run goes on to its saved total unless --epochs asks for more.
    let mut cfg = cfg.clone();
    if let Some(c) = &saved {
        cfg.rounds = cfg.rounds.max(c.epochs);
    }
    let outcome = super::fit(&mut step, run, start, &cfg)?;
    if outcome == Outcome::Interrupted {
        return Ok((outcome, None));
    }
    let Some(r) = run else {
        return Ok((outcome, None));
    };
    crate::figures::image_ebm_run_figures(r.path(), &mut step)?;
    Ok((outcome, Some(crate::report::write_report(r.path())?)))
}
