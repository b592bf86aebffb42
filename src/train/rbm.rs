//! Training of the Bernoulli-Bernoulli RBM ([`crate::models::rbm`]) by CD-k or PCD:
//! SGD with momentum on the log-likelihood gradient
//! `d log p(v) / dW = <v p(h|v)^T>_data - <v p(h|v)^T>_model`, the model term from `k`
//! block-Gibbs sweeps started at the batch (CD) or at persistent chains (PCD):
//! `u <- m u + lr (grad - decay W)`, `W <- W + u`.
//!
//! [`RbmTrainer`] holds the velocities, the PCD particles and the epoch; [`RbmStep`] is
//! its [`Step`] for [`crate::train::fit`]: one mini-batch per update, the exact (at most
//! 20 hidden units) or AIS log-likelihood per epoch.

use super::{Position, RoundReport, RunDir, Step};
use crate::mcmc::Rng;
use crate::models::rbm::{Rbm, RbmConfig, RbmGrad, Sampler, base_rate_bias, bernoulli};
use crate::nn::matmul::matmul;
use crate::nn::{Param, Parameters, checkpoint};
use crate::threads::gemm_parallelism;
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

/// Domain of the RBM's epoch streams (see [`crate::train::stream`]).
const RBM_DOMAIN: u64 = 0x5eed_07b3;

fn sigmoid(x: f32) -> f32 {
    crate::nn::fastmath::sigmoid(x)
}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    pub epoch: usize,
    pub lr: f32,
    /// Gibbs sweeps per update in this epoch.
    pub k: usize,
    pub momentum: f32,
    /// `||v - p(v | h)||^2` per image, `h ~ p(h | v)`, averaged over the epoch.
    pub recon_error: f64,
}

/// SGD with momentum on CD-k or PCD gradients; holds the velocities and the persistent
/// chains between epochs.
#[derive(Clone, Debug)]
pub struct RbmTrainer {
    pub config: RbmConfig,
    rng: Rng,
    vel: RbmGrad,
    /// PCD fantasy particles `[chains, visible]`.
    chains: Option<Array2<f32>>,
    epoch: usize,
    /// The epoch in progress.
    round: RoundState,
}

/// What an epoch in progress holds between its updates.
#[derive(Clone, Debug, Default)]
struct RoundState {
    lr: f32,
    k: usize,
    momentum: f32,
    recon: f64,
    rows: usize,
    order: Vec<usize>,
}

impl RbmTrainer {
    /// A trainer for `config` (validated), seeded by `config.seed`.
    pub fn new(config: RbmConfig) -> Result<Self> {
        config.validate()?;
        let vel = RbmGrad {
            w: Array2::zeros((config.visible, config.hidden)),
            b: vec![0.0; config.visible],
            c: vec![0.0; config.hidden],
        };
        Ok(RbmTrainer {
            rng: Rng::seed_from_u64(config.seed ^ 0x5eed_07b3),
            config,
            vel,
            chains: None,
            epoch: 0,
            round: RoundState::default(),
        })
    }

    /// A fresh RBM for `config` with the visible bias at `logit(mean pixel)` of `data`.
    pub fn init_model(config: &RbmConfig, data: ArrayView2<f32>) -> Result<Rbm> {
        config.validate()?;
        let mut rbm = Rbm::new(config.visible, config.hidden, config.init_std, config.seed)?;
        rbm.check_visible(data)?;
        rbm.b.value = base_rate_bias(data);
        Ok(rbm)
    }

    /// Epochs done.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Save the model and what training needs besides it (epochs done, the momentum
    /// velocities, the PCD particles) to `path`, in one file written atomically:
    /// [`RbmTrainer::load_state`] continues the run as if uninterrupted.
    pub fn save_state(&self, rbm: &Rbm, path: &Path) -> Result<()> {
        let mut st = TrainerTensors::of(self, rbm.clone());
        st.vel_w.value = self.vel.w.iter().copied().collect();
        let cfg = serde_json::json!({
            "model": "rbm-trainer",
            "epoch": self.epoch,
            "chains": self.chains.as_ref().map(|c| c.nrows()),
            "rbm": self.config,
        });
        checkpoint::save(path, &st, &cfg)
    }

    /// The trainer for `config` and the model, continuing from the state saved by
    /// [`RbmTrainer::save_state`] (same visible and hidden sizes).
    pub fn load_state(config: RbmConfig, path: &Path) -> Result<(Self, Rbm)> {
        let cfg = checkpoint::read_config(path)?;
        if cfg.get("model").and_then(|m| m.as_str()) != Some("rbm-trainer") {
            return Err(Error::format(
                path,
                "config field `model` is not \"rbm-trainer\"",
            ));
        }
        // The model and its velocities, and the persistent chains: checked against the
        // file's header before anything is allocated.
        let chain_values = match cfg.get("chains").and_then(|c| c.as_u64()) {
            Some(r) => r.checked_mul(config.visible as u64),
            None => Some(0),
        };
        let implied =
            crate::budget::sum(&[crate::budget::bytes(config.param_count(), 2), chain_values]);
        checkpoint::check_stored_size(path, "rbm/chains", implied)?;
        let mut t = RbmTrainer::new(config)?;
        let epoch = cfg
            .get("epoch")
            .and_then(|e| e.as_u64())
            .ok_or_else(|| Error::format(path, "config field `epoch` missing"))?;
        // At most the run's planned epochs (a resume may extend them later).
        let epoch = usize::try_from(epoch)
            .ok()
            .filter(|&e| e <= t.config.epochs)
            .ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "config field `epoch` is {epoch}, past the run's {} epochs",
                        t.config.epochs
                    ),
                )
            })?;
        let rows = cfg
            .get("chains")
            .and_then(|c| c.as_u64())
            .map(|c| c as usize);
        if let Some(r) = rows {
            t.chains = Some(Array2::zeros((r, t.config.visible)));
        }
        let (v, h) = (t.config.visible, t.config.hidden);
        let blank = Rbm::from_parts(Array2::zeros((v, h)), vec![0.0; v], vec![0.0; h]);
        let mut st = TrainerTensors::of(&t, blank);
        checkpoint::load(path, &mut st)?;
        t.vel.w = Array2::from_shape_vec((v, h), st.vel_w.value).expect("checked shape");
        t.vel.b = st.vel_b.value;
        t.vel.c = st.vel_c.value;
        if let (Some(c), Some(p)) = (t.chains.as_mut(), st.chains) {
            c.as_slice_mut()
                .expect("fresh array")
                .copy_from_slice(&p.value);
        }
        t.epoch = epoch;
        Ok((t, st.model))
    }

    /// The PCD fantasy particles `[chains, visible]` (binary), once an update has made
    /// them; `None` for CD.
    pub fn chains(&self) -> Option<ArrayView2<'_, f32>> {
        self.chains.as_ref().map(|c| c.view())
    }

    /// Start epoch `self.epoch() + 1`: its learning rate, k and momentum, its random
    /// stream (the rule of [`crate::train::stream`], domain `0x5eed_07b3`: a run resumed
    /// after epoch e draws exactly what the uninterrupted run would) and the order of the
    /// `n` training rows.
    pub fn begin_epoch(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::invalid("rbm data", "no images"));
        }
        let cfg = &self.config;
        let e = self.epoch;
        self.round = RoundState {
            lr: cfg.lr_at(e),
            k: cfg.k_at(e),
            momentum: if e < cfg.momentum_switch {
                cfg.momentum
            } else {
                cfg.momentum_final
            },
            recon: 0.0,
            rows: n,
            order: (0..n).collect(),
        };
        self.rng = crate::train::stream(cfg.seed, RBM_DOMAIN, e + 1, None);
        self.round.order.shuffle(&mut self.rng);
        Ok(())
    }

    /// Mini-batches in an epoch over `n` rows.
    pub fn batches(&self, n: usize) -> usize {
        n.div_ceil(self.config.batch_size)
    }

    /// Update `j` of the epoch begun by [`RbmTrainer::begin_epoch`]: the CD-k or PCD
    /// gradient of mini-batch `j` of `data` and one momentum step.
    pub fn batch(&mut self, rbm: &mut Rbm, data: ArrayView2<f32>, j: usize) -> Result<()> {
        let b = self.config.batch_size;
        let order = std::mem::take(&mut self.round.order);
        let idx = &order[j * b..((j + 1) * b).min(order.len())];
        let r = self.batch_rows(rbm, data, idx);
        self.round.order = order;
        r
    }

    fn batch_rows(&mut self, rbm: &mut Rbm, data: ArrayView2<f32>, idx: &[usize]) -> Result<()> {
        let (lr, m) = (self.round.lr, self.round.momentum);
        let mut recon = 0.0f64;
        let v0 = data.select(Axis(0), idx); // [m, V]
        let v0 = if self.config.binarize {
            bernoulli(&v0, &mut self.rng)
        } else {
            v0
        };
        let ph0 = rbm.hidden_probs(v0.view())?; // [m, H]
        let h0 = bernoulli(&ph0, &mut self.rng);
        let pv = rbm.visible_probs(h0.view())?; // [m, V]
        recon += (&pv - &v0).iter().map(|&d| f64::from(d * d)).sum::<f64>();
        let (vk, phk) = match self.config.sampler {
            Sampler::Cd { .. } => {
                let k = self.round.k;
                let mut v = bernoulli(&pv, &mut self.rng);
                let mut ph = rbm.hidden_probs(v.view())?;
                // Many sweeps with one W: a row-major W^T pays for its copy.
                let wt = (k > 2).then(|| rbm.weights().t().as_standard_layout().into_owned()); // [H, V]
                for _ in 1..k {
                    let h = bernoulli(&ph, &mut self.rng);
                    let pv = match &wt {
                        Some(wt) => rbm.visible_probs_t(h.view(), wt.view()),
                        None => rbm.visible_probs(h.view())?,
                    };
                    v = bernoulli(&pv, &mut self.rng);
                    ph = rbm.hidden_probs(v.view())?;
                }
                (v, ph)
            }
            Sampler::Pcd { chains, .. } => {
                let k = self.round.k;
                let mut v = match self.chains.take() {
                    Some(c) => c,
                    None => {
                        let p = Array2::from_shape_fn((chains, rbm.visible()), |(_, i)| {
                            sigmoid(rbm.b.value[i])
                        });
                        bernoulli(&p, &mut self.rng)
                    }
                };
                let mut ph = rbm.hidden_probs(v.view())?;
                let wt = (k > 2).then(|| rbm.weights().t().as_standard_layout().into_owned()); // [H, V]
                for _ in 0..k {
                    let h = bernoulli(&ph, &mut self.rng);
                    let pv = match &wt {
                        Some(wt) => rbm.visible_probs_t(h.view(), wt.view()),
                        None => rbm.visible_probs(h.view())?,
                    };
                    v = bernoulli(&pv, &mut self.rng);
                    ph = rbm.hidden_probs(v.view())?;
                }
                self.chains = Some(v.clone());
                (v, ph)
            }
        };
        let gw = weight_gradient(v0.view(), ph0.view(), vk.view(), phk.view()); // [V, H]
        let mean = |a: &Array2<f32>| a.mean_axis(Axis(0)).expect("non-empty batch").to_vec();
        let (pos_b, pos_c, neg_b, neg_c) = (mean(&v0), mean(&ph0), mean(&vk), mean(&phk));
        // v <- momentum v + lr (pos - neg - decay W); theta += v
        let w = &mut rbm.w.value;
        let vw = self.vel.w.as_slice_mut().expect("standard layout");
        let gw = gw.as_slice().expect("standard layout");
        let decay = self.config.weight_decay;
        crate::nn::simd::dispatch(|| {
            for ((w, v), &g) in w.iter_mut().zip(vw.iter_mut()).zip(gw) {
                *v = m * *v + lr * (g - decay * *w);
                *w += *v;
            }
        });
        for (p, (v, (a, b))) in rbm
            .b
            .value
            .iter_mut()
            .zip(self.vel.b.iter_mut().zip(pos_b.iter().zip(&neg_b)))
        {
            *v = m * *v + lr * (a - b);
            *p += *v;
        }
        for (p, (v, (a, b))) in rbm
            .c
            .value
            .iter_mut()
            .zip(self.vel.c.iter_mut().zip(pos_c.iter().zip(&neg_c)))
        {
            *v = m * *v + lr * (a - b);
            *p += *v;
        }
        self.round.recon += recon;
        Ok(())
    }

    /// End the epoch: check the weights and report what it did.
    pub fn end_epoch(&mut self, rbm: &Rbm) -> Result<EpochStats> {
        let lr = self.round.lr;
        if rbm.w.value.iter().any(|x| !x.is_finite()) {
            return Err(Error::Diverged(format!(
                "rbm weights not finite after epoch {} (lr {lr})",
                self.epoch
            )));
        }
        let stats = EpochStats {
            epoch: self.epoch,
            lr,
            k: self.round.k,
            momentum: self.round.momentum,
            recon_error: self.round.recon / self.round.rows.max(1) as f64,
        };
        self.epoch += 1;
        Ok(stats)
    }

    /// One pass over `data` (`[n, visible]`, values in [0, 1]) in shuffled mini-batches:
    /// [`RbmTrainer::begin_epoch`], every [`RbmTrainer::batch`], [`RbmTrainer::end_epoch`]
    /// (what [`crate::train::fit`] calls one at a time).
    pub fn train_epoch(&mut self, rbm: &mut Rbm, data: ArrayView2<f32>) -> Result<EpochStats> {
        self.check(rbm, data)?;
        self.begin_epoch(data.nrows())?;
        for j in 0..self.batches(data.nrows()) {
            self.batch(rbm, data, j)?;
        }
        self.end_epoch(rbm)
    }

    /// The model and the data agree with the config.
    pub fn check(&self, rbm: &Rbm, data: ArrayView2<f32>) -> Result<()> {
        rbm.check_visible(data)?;
        if rbm.hidden() != self.config.hidden {
            return Err(Error::Shape {
                what: "rbm hidden layer vs trainer config".into(),
                expected: vec![self.config.hidden],
                found: vec![rbm.hidden()],
            });
        }
        Ok(())
    }
}

/// The weight part of the log-likelihood gradient, `<v p(h|v)^T>_data -
/// <v p(h|v)^T>_model`, as one product over the stacked batches:
/// `[v0; vk]^T [ph0 / m; -phk / n]`, `[V, m + n] x [m + n, H] -> [V, H]` (one pass over
/// `W`'s shape instead of two, and a deeper inner dimension for the GEMM).
fn weight_gradient<'a>(
    v0: ArrayView2<'a, f32>,
    ph0: ArrayView2<'a, f32>,
    vk: ArrayView2<'a, f32>,
    phk: ArrayView2<'a, f32>,
) -> Array2<f32> {
    let (m, n) = (v0.nrows().max(1) as f32, vk.nrows().max(1) as f32);
    let v = ndarray::concatenate(Axis(0), &[v0, vk]).expect("same visible width"); // [m+n, V]
    let mut p = ndarray::concatenate(Axis(0), &[ph0, phk]).expect("same hidden width"); // [m+n, H]
    let split = ph0.nrows();
    p.slice_mut(ndarray::s![..split, ..])
        .mapv_inplace(|x| x / m);
    p.slice_mut(ndarray::s![split.., ..])
        .mapv_inplace(|x| -x / n);
    let mut g = Array2::zeros((v0.ncols(), ph0.ncols())); // [V, H]
    matmul(v.t(), p.view(), g.view_mut(), false, gemm_parallelism()); // [V,m+n]x[m+n,H] -> [V,H]
    g
}

/// The trainer's tensors as named parameters (for the safetensors file).
struct TrainerTensors {
    model: Rbm,
    vel_w: Param,
    vel_b: Param,
    vel_c: Param,
    chains: Option<Param>,
}

impl TrainerTensors {
    /// Tensors shaped like `t`'s, the velocities' values copied (all but `W`'s).
    fn of(t: &RbmTrainer, model: Rbm) -> Self {
        let (v, h) = (t.config.visible, t.config.hidden);
        TrainerTensors {
            model,
            vel_w: Param::new(vec![v, h], vec![0.0; v * h]),
            vel_b: Param::new(vec![v], t.vel.b.clone()),
            vel_c: Param::new(vec![h], t.vel.c.clone()),
            chains: t
                .chains
                .as_ref()
                .map(|c| Param::new(vec![c.nrows(), c.ncols()], c.iter().copied().collect())),
        }
    }
}

impl Parameters for TrainerTensors {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.model.visit_mut(f);
        f(&mut self.vel_w);
        f(&mut self.vel_b);
        f(&mut self.vel_c);
        if let Some(c) = self.chains.as_mut() {
            f(c);
        }
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        self.model.visit_named(&format!("{prefix}model."), f);
        f(&format!("{prefix}velocity.w"), &self.vel_w);
        f(&format!("{prefix}velocity.b"), &self.vel_b);
        f(&format!("{prefix}velocity.c"), &self.vel_c);
        if let Some(c) = self.chains.as_ref() {
            f(&format!("{prefix}chains"), c);
        }
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        self.model.visit_named_mut(&format!("{prefix}model."), f);
        f(&format!("{prefix}velocity.w"), &mut self.vel_w);
        f(&format!("{prefix}velocity.b"), &mut self.vel_b);
        f(&format!("{prefix}velocity.c"), &mut self.vel_c);
        if let Some(c) = self.chains.as_mut() {
            f(&format!("{prefix}chains"), c);
        }
    }
}

/// The AIS points of a training curve: every `every` epochs (and after the last),
/// `runs` particles through `betas` intermediate distributions.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CurveConfig {
    pub every: usize,
    pub runs: usize,
    pub betas: usize,
}

/// One point of the training curve (nats per image).
#[derive(Clone, Debug, PartialEq)]
pub struct CurvePoint {
    pub epoch: usize,
    pub test: f64,
    pub lo: f64,
    pub hi: f64,
    pub train: f64,
}

/// The AIS schedule for `k` betas: Salakhutdinov and Murray's own for 14,500.
pub fn ais_betas(k: usize) -> Vec<f64> {
    if k == 14_500 {
        crate::models::rbm::ais_schedule(None)
    } else {
        crate::models::rbm::ais_schedule(Some(k))
    }
}

/// What a resumed `ebm train rbm` run needs besides the checkpoints (`run.json`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RbmRunInfo {
    /// The MNIST folder (`None`: the embedded digits); never opened on resume.
    pub data: Option<PathBuf>,
    pub seed: u64,
    pub ais_every: Option<usize>,
    pub ais_runs: usize,
    pub ais_betas: usize,
    pub sample_sweeps: usize,
    /// Epoch checkpoints kept in checkpoints/ (absent in run folders of older versions).
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_keep() -> usize {
    3
}

impl RbmRunInfo {
    /// `dir/run.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let p = dir.join("run.json");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::format(&p, format!("not an rbm run file: {e}")))
    }

    /// The AIS curve's settings, with `ais_every` set.
    pub fn curve(&self) -> Option<CurveConfig> {
        self.ais_every.map(|every| CurveConfig {
            every,
            runs: self.ais_runs,
            betas: self.ais_betas,
        })
    }

    /// `run.json`, `config.json` (data described as `what`) and, for a `fresh` run, the
    /// metrics header and the first state.
    pub fn write(&self, r: &RunDir, fresh: bool, what: &str, step: &RbmStep) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("run info serializes");
        crate::io::write_atomic(&r.join("run.json"), text.as_bytes())?;
        // The resolved configuration (what the report shows).
        r.write_config(
            &serde_json::json!({"model": "rbm", "rbm": &step.trainer.config, "run": self, "data": what}),
        )?;
        if fresh {
            r.start_metrics(&METRICS_HEADER)?;
            step.save(r, Position::default())?;
        }
        Ok(())
    }
}

impl RbmTrainer {
    /// The trainer and model saved in `r` (`trainer.safetensors`), the schedule
    /// stretched to `epochs` when that is more than the run was started with.
    pub fn resume(r: &RunDir, epochs: usize) -> Result<(Self, Rbm)> {
        let tp = r.join("trainer.safetensors");
        let state = checkpoint::read_config(&tp)?;
        let mut cfg: RbmConfig = serde_json::from_value(state["rbm"].clone())
            .map_err(|e| Error::format(&tp, format!("config field `rbm`: {e}")))?;
        cfg.epochs = cfg.epochs.max(epochs);
        cfg.validate()
            .map_err(|e| Error::format(&tp, e.to_string()))?;
        Self::load_state(cfg, &tp)
    }
}

/// Largest hidden layer for which the exact log-likelihood is computed every epoch.
pub const EXACT_HIDDEN: usize = 20;

/// The RBM's [`Step`]: one mini-batch per update; per epoch the reconstruction error,
/// the exact train/test log-likelihood (at most [`EXACT_HIDDEN`] hidden units) and, at
/// the curve's epochs, the AIS estimate.
pub struct RbmStep<'a> {
    pub rbm: Rbm,
    pub trainer: RbmTrainer,
    /// Binary training images (the fixed draw) and their grey levels (what dynamic
    /// binarization draws from), binary test images.
    train: ArrayView2<'a, f32>,
    grey: ArrayView2<'a, f32>,
    test: ArrayView2<'a, f32>,
    curve_cfg: Option<CurveConfig>,
    /// The AIS curve so far.
    pub curve: Vec<CurvePoint>,
    base: Vec<f32>,
    logp_by: Option<&'static str>,
}

impl<'a> RbmStep<'a> {
    /// A step over `train` (binary), `grey` (its grey levels) and `test` (binary) for
    /// `rbm` trained by `trainer`; `curve` from an earlier part of the run.
    pub fn new(
        rbm: Rbm,
        trainer: RbmTrainer,
        (train, grey, test): (
            ArrayView2<'a, f32>,
            ArrayView2<'a, f32>,
            ArrayView2<'a, f32>,
        ),
        curve_cfg: Option<CurveConfig>,
        curve: Vec<CurvePoint>,
    ) -> Result<Self> {
        trainer.check(&rbm, train)?;
        rbm.check_visible(test)?;
        if train.nrows() == 0 || test.nrows() == 0 {
            return Err(Error::invalid("rbm data", "no images"));
        }
        let base = base_rate_bias(train);
        Ok(RbmStep {
            rbm,
            trainer,
            train,
            grey,
            test,
            curve_cfg,
            curve,
            base,
            logp_by: None,
        })
    }

    /// Whether the exact log-likelihood is computed every epoch.
    pub fn exact(&self) -> bool {
        self.rbm.hidden() <= EXACT_HIDDEN.min(crate::models::rbm::MAX_EXACT_UNITS)
    }

    /// The exact average (train, test) log-likelihoods.
    pub fn exact_ll(&self) -> Result<(f64, f64)> {
        let log_z = self.rbm.log_z_exact()?;
        Ok((
            self.rbm.mean_log_prob(self.train, log_z)?,
            self.rbm.mean_log_prob(self.test, log_z)?,
        ))
    }

    /// AIS log Z of the model, then the average log-probabilities of train and test.
    fn curve_point(&self, c: &CurveConfig, epoch: usize) -> Result<CurvePoint> {
        let t = std::time::Instant::now();
        let seed = self.trainer.config.seed;
        let est = crate::models::rbm::ais_log_z(
            &self.rbm,
            &self.base,
            &ais_betas(c.betas),
            c.runs,
            seed.wrapping_add(epoch as u64),
        )?;
        let test = self.rbm.mean_log_prob(self.test, est.log_z)?;
        let train = self.rbm.mean_log_prob(self.train, est.log_z)?;
        let (lo, hi) = (test - 3.0 * est.std_err, test + 3.0 * est.std_err);
        eprintln!(
            "epoch {epoch}: AIS log Z {:.3} +- {:.3}, test log-prob {test:.3} [{lo:.3}, {hi:.3}], train {train:.3} ({:.1} s)",
            est.log_z,
            est.std_err,
            t.elapsed().as_secs_f64()
        );
        Ok(CurvePoint {
            epoch,
            test,
            lo,
            hi,
            train,
        })
    }
}

impl Step for RbmStep<'_> {
    fn updates_in(&self, _round: usize) -> usize {
        self.trainer.batches(self.train.nrows())
    }

    fn begin_round(&mut self, _round: usize) -> Result<()> {
        self.trainer.begin_epoch(self.train.nrows())
    }

    fn update(&mut self, _round: usize, j: usize) -> Result<Option<String>> {
        // Dynamic binarization draws from the grey levels; otherwise the fixed draw.
        let images = if self.trainer.config.binarize {
            self.grey
        } else {
            self.train
        };
        self.trainer.batch(&mut self.rbm, images, j)?;
        Ok(None)
    }

    fn end_round(&mut self, e: usize, secs: f64, _wall: f64) -> Result<RoundReport> {
        let s = self.trainer.end_epoch(&self.rbm)?;
        let exact = self.exact();
        let (tr, te) = if exact {
            self.exact_ll()?
        } else {
            (f64::NAN, f64::NAN)
        };
        let line = if exact {
            format!(
                "{e:>5} {:>10.3} {tr:>12.3} {te:>12.3} {secs:>8.3}",
                s.recon_error
            )
        } else {
            format!(
                "{e:>5} {:>10.3} {:>12} {:>12} {secs:>8.3}",
                s.recon_error, "-", "-"
            )
        };
        let mut best = exact.then_some(te);
        self.logp_by = exact.then_some("exact log Z");
        if let Some(c) = self.curve_cfg
            && (e.is_multiple_of(c.every) || e == self.trainer.config.epochs)
        {
            let p = self.curve_point(&c, e)?;
            if !exact {
                best = Some(p.test);
                self.logp_by = Some("AIS log Z");
            }
            self.curve.push(p);
        }
        let f = |x: f64| {
            if x.is_finite() {
                format!("{x:.6}")
            } else {
                String::new()
            }
        };
        let num = |x: f64| {
            if x.is_finite() {
                serde_json::json!(x)
            } else {
                serde_json::Value::Null
            }
        };
        let csv = vec![
            ("epoch", e.to_string()),
            ("seconds", format!("{secs:.4}")),
            ("recon_error", format!("{:.6}", s.recon_error)),
            ("train_ll", f(tr)),
            ("test_ll", f(te)),
            ("lr", s.lr.to_string()),
            ("k", s.k.to_string()),
        ];
        let json = serde_json::json!({
            "epoch": e, "seconds": secs, "recon_error": s.recon_error,
            "train_ll": num(tr), "test_ll": num(te), "lr": s.lr, "k": s.k,
            "unit": "nats per image",
        });
        Ok(RoundReport {
            line,
            metrics: super::MetricsRow { csv, json },
            best: best.map(|b| ("test_logp", b, false)),
        })
    }

    fn save(&self, run: &RunDir, at: Position) -> Result<()> {
        debug_assert_eq!(at.update, 0, "the RBM saves at the end of an epoch");
        if self.curve.last().is_some_and(|p| p.epoch == at.round) {
            write_curve(run.path(), &self.curve)?;
        }
        // trainer.safetensors holds the model too, in one atomic file: what --resume
        // reads; model.safetensors is the checkpoint for `ebm eval rbm`.
        self.trainer
            .save_state(&self.rbm, &run.join("trainer.safetensors"))?;
        self.rbm
            .save(&run.join("model.safetensors"), &self.trainer.config)
    }

    fn checkpoint_path(&self, run: &RunDir) -> PathBuf {
        run.join("model.safetensors")
    }

    fn model(&self) -> &dyn Parameters {
        &self.rbm
    }

    fn model_config(&self, round: usize) -> serde_json::Value {
        let mut c =
            serde_json::json!({ "model": "rbm", "rbm": &self.trainer.config, "epoch": round });
        if let Some(how) = self.logp_by {
            c["test_logp_by"] = serde_json::json!(how);
        }
        c
    }
}

/// curve.csv and curve.png into `dir`.
pub fn write_curve(dir: &Path, pts: &[CurvePoint]) -> Result<()> {
    use crate::plot::{BLUE, ORANGE, Series, errorbar_plot};
    let mut csv = String::from("epoch,test_logp,logp_lo,logp_hi,train_logp\n");
    for p in pts {
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{:.6}\n",
            p.epoch, p.test, p.lo, p.hi, p.train
        ));
    }
    crate::io::write_atomic(&dir.join("curve.csv"), csv.as_bytes())?;
    let x: Vec<f64> = pts.iter().map(|p| p.epoch as f64).collect();
    let col = |f: fn(&CurvePoint) -> f64| pts.iter().map(f).collect::<Vec<f64>>();
    let (test, lo, hi, train) = (
        col(|p| p.test),
        col(|p| p.lo),
        col(|p| p.hi),
        col(|p| p.train),
    );
    errorbar_plot(
        &dir.join("curve.png"),
        "RBM log-probability (AIS; bars: log Z +- 3 SE)",
        "epoch",
        "nats per image",
        &[
            Series {
                label: "train",
                x: &x,
                y: &train,
                err: None,
                color: ORANGE,
            },
            Series {
                label: "test",
                x: &x,
                y: &test,
                err: Some((&lo, &hi)),
                color: BLUE,
            },
        ],
    )
}

/// The curve points already in `dir/curve.csv` up to `epoch` (a resumed run keeps them).
pub fn read_curve(dir: &Path, epoch: usize) -> Vec<CurvePoint> {
    let Ok(text) = std::fs::read_to_string(dir.join("curve.csv")) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let g = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok());
            Some(CurvePoint {
                epoch: f.first()?.parse().ok()?,
                test: g(1)?,
                lo: g(2)?,
                hi: g(3)?,
                train: g(4)?,
            })
        })
        .filter(|p| p.epoch <= epoch)
        .collect()
}

/// The header of an RBM run's metrics.csv.
pub const METRICS_HEADER: [&str; 7] = [
    "epoch",
    "seconds",
    "recon_error",
    "train_ll",
    "test_ll",
    "lr",
    "k",
];

/// The options of a fresh `ebm train rbm` run (its flags; [`Default`] is what the
/// command line gives without any).
#[derive(clap::Args, Clone, Debug)]
pub struct RbmOptions {
    /// MNIST directory (IDX files, gzip or not); without it, the embedded UCI digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Hidden units; >= 1.
    #[arg(long, default_value_t = 16)]
    pub hidden: usize,
    /// Model term of the gradient: cd (chains start at the batch) or pcd (persistent).
    #[arg(long, default_value = "cd")]
    pub sampler: String,
    /// Gibbs sweeps per update (the most, with --k-ramp), 1..=1000.
    #[arg(long, default_value_t = 1)]
    pub k: usize,
    /// Grow k by one every E epochs, from 1 up to --k (as public copies of Salakhutdinov's
    /// RBM code do for CD-25; 0: k from the start); >= 0.
    #[arg(long, default_value_t = 0)]
    pub k_ramp: usize,
    /// Divide the learning rate by the current k.
    #[arg(long)]
    pub lr_over_k: bool,
    /// Training images: `once` (one Bernoulli draw of the grey levels, seeded, as the
    /// test set) or `dynamic` (a fresh draw for every mini-batch). Evaluation always uses
    /// the fixed draw.
    #[arg(long, default_value = "once")]
    pub binarize: String,
    /// PCD fantasy particles; >= 1 with --sampler pcd.
    #[arg(long, default_value_t = 100)]
    pub chains: usize,
    /// Passes over the training set (with --resume: the total, extending the run); >= 1.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Images per update; >= 1.
    #[arg(long, default_value_t = 20)]
    pub batch: usize,
    /// Learning rate at the first epoch, decayed linearly to --lr-final; >= 0, finite.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f32,
    /// Learning rate at the last epoch (linear decay from --lr); >= 0, finite.
    #[arg(long, default_value_t = 0.01)]
    pub lr_final: f32,
    /// L2 penalty on the weights; >= 0, finite.
    #[arg(long, default_value_t = 2e-4)]
    pub weight_decay: f32,
    /// Momentum of the parameter updates for the first --momentum-switch epochs; in [0, 1).
    #[arg(long, default_value_t = 0.5)]
    pub momentum: f32,
    /// Momentum after --momentum-switch epochs (Hinton's practical guide: 0.5, then 0.9); in [0, 1).
    #[arg(long, default_value_t = 0.9)]
    pub momentum_final: f32,
    /// Epoch at which --momentum gives way to --momentum-final; >= 0.
    #[arg(long, default_value_t = 5)]
    pub momentum_switch: usize,
    /// Block-Gibbs sweeps of the 100 chains drawn in samples.png, 1..=100000.
    #[arg(long, default_value_t = 1000)]
    pub sample_sweeps: usize,
    /// Estimate log Z by AIS every E epochs (and after the last) for the curve of the
    /// average log-probability (needs --run); >= 1.
    #[arg(long)]
    pub ais_every: Option<usize>,
    /// AIS runs per curve point; >= 2.
    #[arg(long, default_value_t = 100)]
    pub ais_runs: usize,
    /// AIS intermediate distributions per curve point (schedule as `ebm eval rbm`); >= 2.
    #[arg(long, default_value_t = 1000)]
    pub ais_betas: usize,
}

impl Default for RbmOptions {
    /// The command line's defaults: parsed from no flags, so the two cannot differ.
    fn default() -> Self {
        super::options_from_args("rbm", &[]).expect("the flags' defaults parse")
    }
}

impl RbmOptions {
    /// The settings of a fresh run on `visible` pixels, checked.
    pub fn config(&self, visible: usize, seed: u64) -> Result<RbmConfig> {
        let a = self;
        let sampler = Sampler::from_name(&a.sampler, a.k, a.chains)?;
        let binarize = match a.binarize.as_str() {
            "once" => false,
            "dynamic" => true,
            s => {
                return Err(Error::invalid(
                    "--binarize",
                    format!("`{s}` is not one of once, dynamic"),
                ));
            }
        };
        let cfg = RbmConfig {
            sampler,
            epochs: a.epochs,
            batch_size: a.batch,
            lr: a.lr,
            lr_final: a.lr_final,
            weight_decay: a.weight_decay,
            momentum: a.momentum,
            momentum_final: a.momentum_final,
            momentum_switch: a.momentum_switch,
            seed,
            binarize,
            k_ramp: a.k_ramp,
            lr_over_k: a.lr_over_k,
            ..RbmConfig::new(visible, a.hidden)
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// What fresh runs and resumes alike must satisfy.
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::invalid("--epochs", "must be at least 1"));
        }
        if self.ais_every == Some(0) {
            return Err(Error::invalid("--ais-every", "must be at least 1 epoch"));
        }
        if !(1..=100_000).contains(&self.sample_sweeps) {
            return Err(Error::invalid(
                "--sample-sweeps",
                format!("{} (must be in 1..=100000)", self.sample_sweeps),
            ));
        }
        Ok(())
    }

    /// A fresh run's settings checked before any data are read: the configuration at
    /// the smallest data set's 64 pixels (the 8x8 digits) and the AIS curve's memory.
    pub fn check_fresh(&self, seed: u64) -> Result<()> {
        let cfg = self.config(64, seed)?;
        if self.ais_every.is_some() {
            crate::models::rbm::check_ais_memory(
                self.ais_runs,
                self.ais_betas,
                cfg.visible,
                cfg.hidden,
            )?;
        }
        Ok(())
    }

    /// The run's `run.json` for a fresh run keeping `keep` epoch checkpoints.
    pub fn run_info(&self, seed: u64, keep: usize) -> RbmRunInfo {
        RbmRunInfo {
            data: self.data.clone(),
            seed,
            ais_every: self.ais_every,
            ais_runs: self.ais_runs,
            ais_betas: self.ais_betas,
            sample_sweeps: self.sample_sweeps,
            keep,
        }
    }
}

impl RbmRunInfo {
    /// The settings of a run: a resumed run's `run.json` (`resume` names its folder;
    /// `options.data` must name the data it was trained on, and replaces the saved path),
    /// else the options', checked before any folder is made. `keep` overrides the saved
    /// or default number of kept checkpoints.
    pub fn resolve(
        options: &RbmOptions,
        resume: Option<&Path>,
        seed: u64,
        keep: Option<usize>,
    ) -> Result<RbmRunInfo> {
        options.check()?;
        let Some(dir) = resume else {
            options.check_fresh(seed)?;
            return Ok(options.run_info(seed, keep.unwrap_or(super::DEFAULT_KEEP)));
        };
        let mut i = RbmRunInfo::load(dir)?;
        let saved = i.data.as_ref().map(|d| d.display().to_string());
        super::check_resumed_data(saved.as_deref(), options.data.as_deref())?;
        i.data = options.data.clone();
        i.keep = keep.unwrap_or(i.keep);
        Ok(i)
    }
}

/// A training run of the RBM as `ebm train rbm` and `ebmrs.train_rbm` make it: the data
/// `info` names, the model and trainer (a resumed run's, its schedule stretched to
/// `options.epochs`, or fresh ones), the table, [`fit`](super::fit) under the settings
/// `fit_config(epochs, updates per epoch)` returns, and once finished in a run folder its
/// pictures and report. Returns how the loop ended and the report's path.
pub fn train_run(
    options: &RbmOptions,
    info: &RbmRunInfo,
    run: Option<&RunDir>,
    resume: bool,
    fit_config: impl FnOnce(usize, usize) -> super::FitConfig,
) -> Result<(super::Outcome, Option<PathBuf>)> {
    use super::{Outcome, Position};
    let seed = info.seed;
    let crate::data::images::BinarySets {
        train,
        test,
        what,
        grey,
    } = crate::data::images::BinarySets::load(info.data.as_deref(), seed)?;
    if let Some(r) = run {
        // The run folder's figures draw square tiles.
        crate::figures::image_side(train.ncols())
            .map_err(|e| Error::invalid("--run", format!("cannot draw the tiles: {e}")))?;
        eprintln!("run folder: {}", r.path().display());
    }
    let (rbm, trainer) = match run {
        Some(r) if resume => {
            let (trainer, rbm) = RbmTrainer::resume(r, options.epochs)?;
            eprintln!(
                "resuming {} after epoch {} of {}",
                r.path().display(),
                trainer.epoch(),
                trainer.config.epochs
            );
            (rbm, trainer)
        }
        _ => {
            let cfg = options.config(train.ncols(), seed)?;
            (
                RbmTrainer::init_model(&cfg, train.view())?,
                RbmTrainer::new(cfg)?,
            )
        }
    };
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
    let curve = run.map_or(Vec::new(), |r| read_curve(r.path(), done));
    let mut step = RbmStep::new(
        rbm,
        trainer,
        (train.view(), grey.view(), test.view()),
        info.curve(),
        curve,
    )?;
    if let Some(r) = run {
        info.write(r, !resume, &what, &step)?;
    }
    println!(
        "{:>5} {:>10} {:>12} {:>12} {:>8}",
        "epoch", "recon", "train LL", "test LL", "seconds"
    );
    if step.exact() && done == 0 {
        let (tr, te) = step.exact_ll()?;
        println!("{:>5} {:>10} {tr:>12.3} {te:>12.3} {:>8}", 0, "-", "-");
    }
    let fit_cfg = fit_config(cfg.epochs, step.updates_in(1));
    let start = Position {
        round: done,
        update: 0,
        rows: done,
    };
    let outcome = super::fit(&mut step, run, start, &fit_cfg)?;
    let Some(r) = run.filter(|_| outcome != Outcome::Interrupted) else {
        return Ok((outcome, None));
    };
    crate::figures::rbm_run_figures(
        r.path(),
        &step.rbm,
        step.trainer.chains(),
        &test,
        info.sample_sweeps,
        seed,
    )?;
    Ok((outcome, Some(crate::report::write_report(r.path())?)))
}
