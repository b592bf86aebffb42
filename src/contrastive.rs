//! Maximum likelihood read as a contrastive method (SPEC sections 2 and 3): push down
//! the energy of the data, pull up the energy of samples from the model.
//!
//! For `P_w(y) = exp(-beta E_w(y)) / Z_w`, the negative log-likelihood of the data has
//! the gradient
//! `dL/dw = beta ( E_data[dE_w/dw] - E_{y ~ P_w}[dE_w/dw] )`,
//! so with negatives `y^` drawn (approximately) from `P_w` the surrogate loss
//! `L_c = mean_i E_w(y_i) - mean_j E_w(y^_j)` (the samples held fixed) has the lecture's
//! NLL gradient estimate as its gradient (up to the factor beta). The lecture's warning:
//! this loss alone lets a flexible energy dig ever deeper wells at the training points,
//! so it is regularized: `+ alpha (mean E(y)^2 + mean E(y^)^2)` (Du and Mordatch 2019)
//! keeps the energies near 0, weight decay keeps the weights small, and spectral
//! normalization bounds the Lipschitz constant.
//!
//! Negatives ([`Negatives`]): short-run Langevin from noise (Nijkamp et al. 2019),
//! persistent chains kept in a replay buffer with a fraction restarted from noise (PCD,
//! Tieleman 2008; Du and Mordatch 2019), or contrastive divergence CD-k (chains started
//! at the data, Hinton 2002), or, in 2-D, exact draws from the model's Gibbs density
//! discretized on a grid ([`GridSampler`]): no Markov chain at all, so the second
//! expectation of the NLL gradient is estimated without the chains' bias. Where the
//! chains start and which transition moves them are independent choices: the
//! transition is any batched kernel of [`crate::mcmc`] ([`ContrastiveConfig::kernel`]:
//! MALA by default, ULA, random-walk MH or HMC).

use crate::energy::{Energy, MlpSpec, NeuralEnergy};
use crate::exact2d::{Box2, neg_energy_grid};
use crate::mcmc::{Info, Kernel, KernelName, Noise, ReplayBuffer, Rng, State};
use crate::nn::Parameters;
use crate::nn::checkpoint::StateFile;
use crate::nn::optim::{OptimConfig, Optimizer, clip_grad_norm};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis, s};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// An energy whose parameters learn: `grad_w += sum_i coef_i dE_w(y_i)/dw`.
pub trait Learnable: Energy {
    /// Accumulate the weighted parameter gradient of the energies of the rows of `y`.
    fn accumulate_param_grad(&mut self, y: ArrayView2<f64>, coef: &[f64]);
    /// Reset the accumulated gradient.
    fn zero_param_grad(&mut self);
}

/// An energy the [`ContrastiveTrainer`] can train: its parameters learn
/// ([`Learnable`]), the optimizer, gradient clipping, spectral normalization (on the
/// 2-D parameters named `*weight`; none elsewhere) and the state file reach them
/// ([`Parameters`]), and it can be copied (the weight average) and rebuilt from the
/// architecture its state file records. [`NeuralEnergy`] (an MLP) and
/// [`GaussianEnergy`] are two.
pub trait TrainableEnergy: Learnable + Parameters + Sized {
    /// A copy with the same parameters (the weight average starts as one).
    fn duplicate(&self) -> Result<Self>;
    /// What a state file stores to rebuild the energy before loading its parameters
    /// (the config field `spec`).
    fn architecture(&self) -> Result<serde_json::Value>;
    /// A fresh energy of architecture `arch`, its parameters initialized from `rng`.
    fn build(arch: &serde_json::Value, rng: &mut Rng) -> Result<Self>;
    /// The number of parameters `arch` describes (`None` on overflow), checked against
    /// a state file's contents before anything is built.
    fn param_count(arch: &serde_json::Value) -> Result<Option<u64>>;
    /// The input width `arch` describes.
    fn arch_dim(arch: &serde_json::Value) -> Result<usize>;
}

impl Parameters for NeuralEnergy {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut crate::nn::Param)) {
        self.net.visit_mut(f)
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &crate::nn::Param)) {
        self.net.visit_named(prefix, f)
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut crate::nn::Param)) {
        self.net.visit_named_mut(prefix, f)
    }
}

impl TrainableEnergy for NeuralEnergy {
    fn duplicate(&self) -> Result<Self> {
        let mut e = NeuralEnergy::new(self.net.clone())?;
        e.spec = self.spec.clone();
        Ok(e)
    }
    fn architecture(&self) -> Result<serde_json::Value> {
        let spec = self.spec.as_ref().ok_or_else(|| {
            Error::invalid(
                "contrastive trainer state",
                "only an energy built by NeuralEnergy::mlp can be saved",
            )
        })?;
        serde_json::to_value(spec).map_err(|e| Error::invalid("mlp spec", e.to_string()))
    }
    fn build(arch: &serde_json::Value, rng: &mut Rng) -> Result<Self> {
        NeuralEnergy::mlp(mlp_spec(arch)?, rng)
    }
    fn param_count(arch: &serde_json::Value) -> Result<Option<u64>> {
        Ok(mlp_spec(arch)?.param_count())
    }
    fn arch_dim(arch: &serde_json::Value) -> Result<usize> {
        Ok(mlp_spec(arch)?.in_dim)
    }
}

fn mlp_spec(arch: &serde_json::Value) -> Result<MlpSpec> {
    serde_json::from_value(arch.clone()).map_err(|e| Error::invalid("mlp spec", e.to_string()))
}

/// Energies and loss of one contrastive evaluation.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LossParts {
    /// `mean E(y)` over the data.
    pub e_data: f64,
    /// `mean E(y^)` over the negatives.
    pub e_neg: f64,
    /// `L_c + alpha (mean E(y)^2 + mean E(y^)^2)`.
    pub loss: f64,
}

impl LossParts {
    /// `e_neg - e_data`: how much higher the samples sit than the data.
    pub fn gap(&self) -> f64 {
        self.e_neg - self.e_data
    }
}

/// Accumulate the gradient of `mean E(data) - mean E(neg) + alpha (mean E(data)^2 +
/// mean E(neg)^2)` into `model` and return the parts.
pub fn contrastive_grad(
    model: &mut dyn Learnable,
    data: ArrayView2<f64>,
    neg: ArrayView2<f64>,
    alpha: f64,
) -> LossParts {
    let (b, m) = (data.nrows(), neg.nrows());
    let mut ed = vec![0.0; b];
    let mut en = vec![0.0; m];
    model.energy(data, &mut ed);
    model.energy(neg, &mut en);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let sq = |v: &[f64]| v.iter().map(|e| e * e).sum::<f64>() / v.len().max(1) as f64;
    let cd: Vec<f64> = ed
        .iter()
        .map(|e| (1.0 + 2.0 * alpha * e) / b as f64)
        .collect();
    let cn: Vec<f64> = en
        .iter()
        .map(|e| (-1.0 + 2.0 * alpha * e) / m as f64)
        .collect();
    model.accumulate_param_grad(data, &cd);
    model.accumulate_param_grad(neg, &cn);
    let (e_data, e_neg) = (mean(&ed), mean(&en));
    LossParts {
        e_data,
        e_neg,
        loss: e_data - e_neg + alpha * (sq(&ed) + sq(&en)),
    }
}

impl Learnable for NeuralEnergy {
    fn accumulate_param_grad(&mut self, y: ArrayView2<f64>, coef: &[f64]) {
        let y32 = y.mapv(|v| v as f32); // [batch, dim]
        let mut ws = self.net.workspace(y.nrows());
        let par = crate::threads::gemm_parallelism();
        self.net.forward(y32.view(), &mut ws, par);
        ws.grad_out_mut()
            .iter_mut()
            .zip(coef)
            .for_each(|(g, &c)| *g = c as f32);
        self.net.backward_from_ws(&mut ws, false, par);
    }
    fn zero_param_grad(&mut self) {
        self.net.zero_grad();
    }
}

/// Where the negatives come from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Negatives {
    /// `steps` transitions from uniform noise over the data box, every update.
    ShortRun,
    /// Persistent chains in a replay buffer; a fraction `restart` starts over from noise.
    Persistent,
    /// CD-k: `steps` transitions from the data batch.
    ContrastiveDivergence,
    /// Exact draws from the model's Gibbs density discretized on a
    /// `grid_cells x grid_cells` grid over the noise box ([`GridSampler`], 2-D only),
    /// rebuilt every `grid_refresh` updates, then `steps` transitions (0 allowed).
    Grid,
}

impl Negatives {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "short-run" | "shortrun" | "langevin" => Ok(Negatives::ShortRun),
            "pcd" | "persistent" => Ok(Negatives::Persistent),
            "cd" | "cd-k" => Ok(Negatives::ContrastiveDivergence),
            "grid" => Ok(Negatives::Grid),
            other => Err(Error::invalid(
                "negatives",
                format!("unknown sampler '{other}' (choose short-run, pcd, cd, grid)"),
            )),
        }
    }
}

/// Most Langevin steps per update (short-run EBMs use 20-100).
pub const MAX_MCMC_STEPS: usize = 100_000;

/// Settings of contrastive training. The defaults are `ebm train toy`'s with PCD
/// negatives (8 Gaussians: exact KL about 0.03 after 6,000 updates).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContrastiveConfig {
    pub negatives: Negatives,
    /// Kernel transitions per update (>= 1, except for grid negatives, where 0 means the
    /// exact grid draws are the negatives).
    pub mcmc_steps: usize,
    /// The kernel's step size: Langevin's `eps` (`y <- y - eps dE/dy + sqrt(2 eps) xi`),
    /// HMC's leapfrog step, the random walk's proposal scale.
    pub step_size: f64,
    /// MALA (true) or ULA (false) moves, when `kernel` is not set (configs written
    /// before it).
    pub adjusted: bool,
    /// The transition that moves the negatives' chains: any batched kernel of
    /// [`crate::mcmc`] ([`KernelName`]); `None` (older configs): MALA or ULA by
    /// `adjusted`.
    #[serde(default)]
    pub kernel: Option<KernelName>,
    /// Leapfrog steps per HMC transition (`kernel` HMC only).
    #[serde(default = "default_leapfrog")]
    pub leapfrog: usize,
    /// Replay buffer size and restart probability (persistent chains).
    pub buffer: usize,
    pub restart: f64,
    /// Noise box for fresh chains: uniform over `[lo, hi]^2` (also the grid negatives'
    /// box).
    pub noise_lo: f64,
    pub noise_hi: f64,
    /// `alpha` of the energy-magnitude penalty.
    pub energy_l2: f64,
    pub optim: OptimConfig,
    /// Clip the global gradient norm (0: off).
    pub clip: f64,
    pub batch: usize,
    /// Stop as diverged when `|gap|` exceeds this (energies exploding).
    pub max_gap: f64,
    /// Exponential moving average of the weights, `w_ema <- d w_ema + (1 - d) w`
    /// (0: off). The average is the model evaluated and saved: the sampled gradient
    /// makes the raw weights oscillate around the fit.
    #[serde(default)]
    pub ema: f64,
    /// Spectral normalization by projection (Gouk et al. 2021): after every update each
    /// Linear weight with spectral norm `sigma > 1` (one power iteration per update,
    /// vectors kept across updates) is divided by `sigma`, so every layer is
    /// 1-Lipschitz and the energy cannot grow steeper than the activations allow.
    #[serde(default)]
    pub spectral_norm: bool,
    /// Grid negatives: cells per axis of the grid over the noise box.
    #[serde(default = "default_grid_cells")]
    pub grid_cells: usize,
    /// Grid negatives: rebuild the grid's distribution every this many updates (1: every
    /// update; in between, the draws come from the energy of the last rebuild).
    #[serde(default = "default_grid_refresh")]
    pub grid_refresh: usize,
}

fn default_leapfrog() -> usize {
    5
}

fn default_grid_cells() -> usize {
    128
}

fn default_grid_refresh() -> usize {
    1
}

impl ContrastiveConfig {
    /// The kernel that moves the negatives (see [`ContrastiveConfig::kernel`]).
    pub fn kernel_name(&self) -> KernelName {
        self.kernel.unwrap_or(if self.adjusted {
            KernelName::Mala
        } else {
            KernelName::Ula
        })
    }

    /// The negatives' transition, built (and so checked) from the config.
    pub fn transition(&self) -> Result<Box<dyn Kernel>> {
        self.kernel_name().build(self.step_size, self.leapfrog, 1.0)
    }
}

impl Default for ContrastiveConfig {
    fn default() -> Self {
        ContrastiveConfig {
            negatives: Negatives::Persistent,
            mcmc_steps: 20,
            step_size: 0.02,
            adjusted: true,
            kernel: Some(KernelName::Mala),
            leapfrog: default_leapfrog(),
            buffer: 8192,
            restart: 0.05,
            noise_lo: -4.5,
            noise_hi: 4.5,
            energy_l2: 0.001,
            optim: OptimConfig::Adam {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
            },
            clip: 10.0,
            batch: 256,
            max_gap: 1e4,
            ema: 0.995,
            spectral_norm: false,
            grid_cells: default_grid_cells(),
            grid_refresh: default_grid_refresh(),
        }
    }
}

/// Metrics of one update.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct StepMetrics {
    pub step: usize,
    pub loss: f64,
    pub e_data: f64,
    pub e_neg: f64,
    pub gap: f64,
    /// Mean acceptance of the negatives' transitions (1 for ULA).
    pub acceptance: f64,
    /// Negatives restarted from noise in this update.
    pub restarted: usize,
    pub grad_norm: f64,
}

/// Contrastive training of any [`TrainableEnergy`] (an MLP by default).
pub struct ContrastiveTrainer<E: TrainableEnergy = NeuralEnergy> {
    pub energy: E,
    /// The weight average (see [`ContrastiveConfig::ema`]).
    pub ema: Option<E>,
    pub cfg: ContrastiveConfig,
    opt: Box<dyn Optimizer>,
    buffer: Option<ReplayBuffer>,
    rng: Rng,
    step: usize,
    /// The negatives of the last update, `[batch, dim]`.
    pub last_negatives: Array2<f64>,
    /// Power-iteration vectors `v` (input side) per Linear weight.
    power: Vec<Vec<f32>>,
    /// Grid negatives: the distribution of the last rebuild.
    grid: Option<GridSampler>,
    grid_eval: Option<GridEval>,
}

impl ContrastiveTrainer<NeuralEnergy> {
    /// A trainer of a fresh MLP energy of `spec`, everything drawn from `seed`.
    pub fn new(spec: MlpSpec, cfg: ContrastiveConfig, seed: u64) -> Result<Self> {
        Self::with_energy(cfg, seed, |rng| NeuralEnergy::mlp(spec, rng))
    }
}

impl<E: TrainableEnergy> ContrastiveTrainer<E> {
    /// A trainer of the energy `build` makes from the trainer's generator (seeded by
    /// `seed`, before the replay buffer draws its chains).
    pub fn with_energy(
        cfg: ContrastiveConfig,
        seed: u64,
        build: impl FnOnce(&mut Rng) -> Result<E>,
    ) -> Result<Self> {
        let grid = cfg.negatives == Negatives::Grid;
        cfg.optim.validate()?;
        if !(cfg.energy_l2.is_finite() && cfg.energy_l2 >= 0.0) {
            return Err(Error::invalid(
                "energy_l2",
                format!("{} (must be finite and >= 0)", cfg.energy_l2),
            ));
        }
        if cfg.mcmc_steps > MAX_MCMC_STEPS {
            return Err(Error::invalid(
                "langevin_steps",
                format!(
                    "{} per update (must be at most {MAX_MCMC_STEPS})",
                    cfg.mcmc_steps
                ),
            ));
        }
        if cfg.batch == 0 || (cfg.mcmc_steps == 0 && !grid) {
            return Err(Error::invalid(
                "contrastive",
                "batch and mcmc steps must be >= 1 (0 mcmc steps only with grid negatives)",
            ));
        }
        cfg.transition()?;
        if cfg.noise_hi.partial_cmp(&cfg.noise_lo) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::invalid(
                "noise box",
                format!("[{}, {}] is empty", cfg.noise_lo, cfg.noise_hi),
            ));
        }
        if !(0.0..1.0).contains(&cfg.ema) {
            return Err(Error::invalid(
                "ema",
                format!("{} (must be in [0, 1))", cfg.ema),
            ));
        }
        let mut rng = Rng::seed_from_u64(seed);
        let energy = build(&mut rng)?;
        let dim = energy.dim();
        if grid && (dim != 2 || cfg.grid_cells < 8 || cfg.grid_refresh == 0) {
            return Err(Error::invalid(
                "grid negatives",
                format!(
                    "need a 2-D energy (got {dim}-D), grid cells >= 8 (got {}) and grid refresh >= 1 (got {})",
                    cfg.grid_cells, cfg.grid_refresh
                ),
            ));
        }
        // The replay buffer, the batch's chains and the grid's densities (f64).
        let cells = if grid { cfg.grid_cells as u64 } else { 0 };
        crate::budget::check(
            "buffer/batch/grid_cells",
            crate::budget::bytes(
                crate::budget::sum(&[
                    (cfg.buffer as u64).checked_mul(dim as u64),
                    (cfg.batch as u64)
                        .checked_mul(dim as u64)
                        .and_then(|b| b.checked_mul(8)),
                    cells.checked_mul(cells).and_then(|c| c.checked_mul(4)),
                ]),
                8,
            ),
            &format!(
                "a replay buffer of {}, batches of {} and a {cells}x{cells} grid",
                cfg.buffer, cfg.batch
            ),
        )?;
        let ema = (cfg.ema > 0.0).then(|| energy.duplicate()).transpose()?;
        let buffer = (cfg.negatives == Negatives::Persistent)
            .then(|| {
                ReplayBuffer::new(
                    cfg.buffer.max(cfg.batch),
                    dim,
                    cfg.restart,
                    Self::noise(&cfg),
                    &mut rng,
                )
            })
            .transpose()?;
        Ok(ContrastiveTrainer {
            energy,
            ema,
            opt: cfg.optim.build(),
            buffer,
            rng,
            step: 0,
            last_negatives: Array2::zeros((0, dim)),
            power: Vec::new(),
            grid: None,
            grid_eval: None,
            cfg,
        })
    }

    fn noise(cfg: &ContrastiveConfig) -> Noise {
        Noise::Uniform {
            low: cfg.noise_lo,
            high: cfg.noise_hi,
        }
    }

    /// Set the optimizer's learning rate (schedules).
    pub fn set_lr(&mut self, lr: f32) {
        self.opt.set_lr(lr);
    }

    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Run the negatives' kernel from `init` on the current energy; returns the
    /// negatives and the mean acceptance.
    pub fn run_chains(&mut self, init: Array2<f64>) -> Result<(Array2<f64>, f64)> {
        let k = self.cfg.transition()?;
        let mut state = State::new(&self.energy, init)?;
        let mut info = Info::default();
        let mut acc = 0.0;
        for _ in 0..self.cfg.mcmc_steps {
            k.step(&self.energy, &mut state, &mut self.rng, &mut info)?;
            acc += info.mean_acceptance();
        }
        // No moves (grid negatives with 0 steps): nothing was rejected.
        let acc = if self.cfg.mcmc_steps == 0 {
            1.0
        } else {
            acc / self.cfg.mcmc_steps as f64
        };
        Ok((state.position, acc))
    }

    /// One update on a data batch `[batch, dim]`.
    pub fn step(&mut self, data: ArrayView2<f64>) -> Result<StepMetrics> {
        let b = self.cfg.batch.min(data.nrows()).max(1);
        let data = data.slice(s![..b, ..]);
        let dim = data.ncols();
        let (neg, acceptance, restarted) = match self.cfg.negatives {
            Negatives::ShortRun => {
                let mut init = Array2::zeros((b, dim)); // [batch, dim]
                let noise = Self::noise(&self.cfg);
                noise.fill(init.as_slice_mut().expect("fresh array"), &mut self.rng);
                let (n, a) = self.run_chains(init)?;
                (n, a, b)
            }
            Negatives::ContrastiveDivergence => {
                let (n, a) = self.run_chains(data.to_owned())?;
                (n, a, 0)
            }
            Negatives::Persistent => {
                let buf = self
                    .buffer
                    .as_ref()
                    .expect("persistent chains have a buffer");
                let (idx, init, restarted) = buf.draw(b, &mut self.rng)?;
                let (n, a) = self.run_chains(init)?;
                self.buffer
                    .as_mut()
                    .expect("buffer")
                    .put_back(&idx, n.view())?;
                (n, a, restarted)
            }
            Negatives::Grid => {
                if self.grid.is_none() || self.step.is_multiple_of(self.cfg.grid_refresh) {
                    let (lo, hi, n) = (self.cfg.noise_lo, self.cfg.noise_hi, self.cfg.grid_cells);
                    let ev = self
                        .grid_eval
                        .get_or_insert_with(|| GridEval::new(([lo; 2], [hi; 2]), n));
                    self.grid = Some(ev.sampler(&self.energy)?);
                }
                let init = self
                    .grid
                    .as_ref()
                    .expect("built above")
                    .draw(b, &mut self.rng);
                let (n, a) = if self.cfg.mcmc_steps > 0 {
                    self.run_chains(init)?
                } else {
                    (init, 1.0)
                };
                (n, a, b)
            }
        };
        self.energy.zero_param_grad();
        let parts = contrastive_grad(&mut self.energy, data, neg.view(), self.cfg.energy_l2);
        let grad_norm = if self.cfg.clip > 0.0 {
            clip_grad_norm(&mut self.energy, self.cfg.clip)
        } else {
            crate::nn::optim::grad_norm(&mut self.energy)
        };
        if !parts.loss.is_finite() || !grad_norm.is_finite() || parts.gap().abs() > self.cfg.max_gap
        {
            return Err(Error::Diverged(format!(
                "contrastive training diverged at step {}: E(data) {:.4e}, E(negatives) {:.4e}, gradient norm {:.4e}",
                self.step, parts.e_data, parts.e_neg, grad_norm
            )));
        }
        self.opt.step(&mut self.energy);
        if self.cfg.spectral_norm {
            spectral_project(&mut self.energy, &mut self.power);
        }
        if let Some(ema) = self.ema.as_mut() {
            let d = self.cfg.ema as f32;
            let mut src: Vec<f32> = Vec::new();
            self.energy
                .visit_mut(&mut |p| src.extend(p.value.iter().copied()));
            let mut k = 0;
            ema.visit_mut(&mut |p| {
                for v in p.value.iter_mut() {
                    *v = d * *v + (1.0 - d) * src[k];
                    k += 1;
                }
            });
        }
        self.step += 1;
        self.last_negatives = neg;
        Ok(StepMetrics {
            step: self.step,
            loss: parts.loss,
            e_data: parts.e_data,
            e_neg: parts.e_neg,
            gap: parts.gap(),
            acceptance,
            restarted,
            grad_norm,
        })
    }

    /// The model to evaluate and save: the weight average when on, else the weights.
    pub fn model(&self) -> &E {
        self.ema.as_ref().unwrap_or(&self.energy)
    }

    /// The replay buffer's chains (persistent negatives), `[capacity, dim]`.
    pub fn buffer(&self) -> Option<ArrayView2<'_, f64>> {
        self.buffer.as_ref().map(|b| b.pool())
    }

    /// The complete training state, for [`ContrastiveTrainer::from_state`] to continue
    /// bit for bit as if never stopped: the weights (`energy.*`), the weight average
    /// (`ema.*`), the optimizer's learning rate (`optim.lr`) and buffers
    /// (`optim.slot.NNNNN`: Adam's first then second moments) with its step count, the
    /// spectral-norm power-iteration vectors (`power.NNN`), the replay buffer's chains
    /// (`buffer`, f64), the grid negatives' `-E` at the midpoints of the last rebuild
    /// (`grid.neg_energy`, f64: the stale grid between rebuilds is rebuilt from it
    /// exactly), the last negatives (`last_negatives`), and in the config the MLP spec,
    /// the [`ContrastiveConfig`], the update count and the generator's state. A caller
    /// may add its own tensors and config fields before [`StateFile::save`].
    pub fn state(&self) -> Result<StateFile> {
        let spec = self.energy.architecture()?;
        let opt = self.opt.state();
        let mut st = StateFile::new(serde_json::json!({
            "model": "contrastive-trainer",
            "spec": spec,
            "training": &self.cfg,
            "step": self.step,
            "optim_steps": opt.steps,
            "optim_slots": opt.slots.len(),
            "power": self.power.len(),
            "rng": &self.rng,
        }));
        st.put_params("energy.", &self.energy);
        if let Some(e) = &self.ema {
            st.put_params("ema.", e);
        }
        st.put_f32("optim.lr", vec![1], vec![self.opt.lr()]);
        for (i, s) in opt.slots.into_iter().enumerate() {
            st.put_f32(&format!("optim.slot.{i:05}"), vec![s.len()], s);
        }
        for (k, v) in self.power.iter().enumerate() {
            st.put_f32(&format!("power.{k:03}"), vec![v.len()], v.clone());
        }
        if let Some(b) = &self.buffer {
            let p = b.pool();
            st.put_f64(
                "buffer",
                vec![p.nrows(), p.ncols()],
                p.iter().copied().collect(),
            );
        }
        if let (Some(_), Some(ev)) = (&self.grid, &self.grid_eval) {
            st.put_f64("grid.neg_energy", vec![ev.n, ev.n], ev.neg_e.clone());
        }
        let l = &self.last_negatives;
        st.put_f64(
            "last_negatives",
            vec![l.nrows(), l.ncols()],
            l.iter().copied().collect(),
        );
        Ok(st)
    }

    /// Save [`ContrastiveTrainer::state`] to `path` (one file, written atomically).
    pub fn save_state(&self, path: &std::path::Path) -> Result<()> {
        self.state()?.save(path)
    }

    /// The trainer saved by [`ContrastiveTrainer::save_state`]; its next update is the
    /// one the saved trainer would have made. Errors name the file and the tensor or
    /// config field that is missing or does not match.
    pub fn load_state(path: &std::path::Path) -> Result<Self> {
        Self::from_state(&StateFile::load(path)?)
    }

    /// The trainer held in `st` (see [`ContrastiveTrainer::state`]).
    pub fn from_state(st: &StateFile) -> Result<Self> {
        let bad = |msg: String| Error::format(&st.path, msg);
        if st.config.get("model").and_then(|m| m.as_str()) != Some("contrastive-trainer") {
            return Err(bad(
                "config field `model` is not \"contrastive-trainer\" (not a contrastive trainer state)".into(),
            ));
        }
        let spec: serde_json::Value = st.field("spec")?;
        let cfg: ContrastiveConfig = st.field("training")?;
        let dim = E::arch_dim(&spec).map_err(|e| bad(format!("config field `spec`: {e}")))?;
        // The energy and the replay buffer are stored in the file: a config describing
        // more than it holds is refused before anything is built.
        let stored: u64 = st.tensors.values().map(|t| t.len() as u64).sum();
        let buffer = match cfg.negatives {
            Negatives::Persistent => (cfg.buffer as u64).checked_mul(dim as u64),
            _ => Some(0),
        };
        let params = E::param_count(&spec).map_err(|e| bad(format!("config field `spec`: {e}")))?;
        match crate::budget::sum(&[params, buffer]) {
            Some(n) if n <= stored => {}
            n => {
                return Err(bad(format!(
                    "config fields `spec`/`training.buffer` describe {} values but the file holds {stored}",
                    n.map_or("more than 2^64".into(), |n| n.to_string())
                )));
            }
        }
        let mut t = Self::with_energy(cfg, 0, |rng| E::build(&spec, rng))
            .map_err(|e| bad(e.to_string()))?;
        let dim = t.energy.dim();
        st.load_params("energy.", &mut t.energy)?;
        if let Some(e) = t.ema.as_mut() {
            st.load_params("ema.", e)?;
        }
        t.opt.set_lr(st.f32("optim.lr", Some(&[1]))?[0]);
        let n_slots: usize = st.field("optim_slots")?;
        let slots = (0..n_slots)
            .map(|i| {
                st.f32(&format!("optim.slot.{i:05}"), None)
                    .map(<[f32]>::to_vec)
            })
            .collect::<Result<Vec<_>>>()?;
        let state = crate::nn::optim::OptimState {
            steps: st.field("optim_steps")?,
            slots,
        };
        t.opt
            .set_state(state, &t.energy)
            .map_err(|e| bad(e.to_string()))?;
        // The power vectors belong to the Linear weights in visiting order (`v` has the
        // weight's input width).
        let mut widths = Vec::new();
        t.energy.visit_named("", &mut |name, p| {
            if name.ends_with("weight") && p.shape.len() == 2 {
                widths.push(p.shape[1]);
            }
        });
        let n_power: usize = st.field("power")?;
        if n_power > widths.len() {
            return Err(bad(format!(
                "config field `power`: {n_power} power-iteration vectors for {} weights",
                widths.len()
            )));
        }
        t.power = (0..n_power)
            .map(|k| {
                st.f32(&format!("power.{k:03}"), Some(&[widths[k]]))
                    .map(<[f32]>::to_vec)
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(b) = t.buffer.as_mut() {
            let shape = [b.capacity(), dim];
            let v = st.f64("buffer", Some(&shape))?;
            let pool = ArrayView2::from_shape(shape, v).expect("shape checked");
            b.set_pool(pool)?;
        }
        if st.has("grid.neg_energy") {
            if t.cfg.negatives != Negatives::Grid {
                return Err(bad(
                    "tensor `grid.neg_energy` in a state without grid negatives".into(),
                ));
            }
            let (lo, hi, n) = (t.cfg.noise_lo, t.cfg.noise_hi, t.cfg.grid_cells);
            let v = st.f64("grid.neg_energy", Some(&[n, n]))?;
            let mut ev = GridEval::new(([lo; 2], [hi; 2]), n);
            ev.neg_e.copy_from_slice(v);
            t.grid = Some(
                GridSampler::from_neg_energies(&ev.neg_e, ev.bounds, n)
                    .map_err(|e| bad(e.to_string()))?,
            );
            t.grid_eval = Some(ev);
        }
        let shape = st.shape("last_negatives")?.to_vec();
        if shape.len() != 2 || shape[1] != dim {
            return Err(Error::Shape {
                what: format!("tensor `last_negatives` in {}", st.path.display()),
                expected: vec![shape.first().copied().unwrap_or(0), dim],
                found: shape,
            });
        }
        let v = st.f64("last_negatives", None)?.to_vec();
        t.last_negatives = Array2::from_shape_vec((shape[0], dim), v).expect("shape checked");
        t.rng = st.field("rng")?;
        t.step = st.field("step")?;
        Ok(t)
    }

    /// Draw `n` model samples: `steps` transitions of the negatives' kernel from noise
    /// (for pictures).
    pub fn sample(&mut self, n: usize, steps: usize) -> Result<Array2<f64>> {
        let dim = self.energy.dim();
        let mut init = Array2::zeros((n, dim)); // [n, dim]
        Self::noise(&self.cfg).fill(init.as_slice_mut().expect("fresh array"), &mut self.rng);
        let keep = self.cfg.mcmc_steps;
        self.cfg.mcmc_steps = steps.max(1);
        let r = self.run_chains(init);
        self.cfg.mcmc_steps = keep;
        Ok(r?.0)
    }
}

/// Exact sampling from a 2-D energy's Gibbs density discretized on a grid.
///
/// The NLL gradient is `dL/dw = E_data[dE_w/dw] - E_{y ~ p_w}[dE_w/dw]` with
/// `p_w(y) = exp(-E_w(y)) / Z_w` (beta 1). In 2-D the second expectation needs no
/// Markov chain: on the `n x n` cells of a box `B` (sides `h_x, h_y`, midpoints `c_i`),
/// `p_w` is replaced by the piecewise-constant density
/// `q_w(y) = exp(-E_w(c_i)) / sum_j exp(-E_w(c_j)) / (h_x h_y)` for `y` in cell `i`,
/// `log q_i = -E_i - logsumexp_j(-E_j)` (f64), which tends to `p_w` restricted to `B` as
/// `h -> 0` (the midpoint rule of [`crate::exact2d`]). A draw picks cell `i` with
/// probability `q_i` (inverse CDF: a binary search on the cumulative sum) and a uniform
/// point inside it, so draws are exact and independent for `q_w`; the estimate of
/// `E_{p_w}[dE_w/dw]` is biased only by the discretization (`O(h)` for the jitter's
/// piecewise-constant law) and by the mass of `p_w` outside `B`. The energies at the
/// `n^2` midpoints come from one batched forward pass per block of grid rows
/// ([`crate::exact2d::neg_energy_grid`]; no gradient).
#[derive(Clone, Debug)]
pub struct GridSampler {
    lo: [f64; 2],
    h: [f64; 2],
    n: usize,
    /// `sum_{j <= i} q_j` over the cells in row-major order (row `iy`, column `ix`).
    cum: Vec<f64>,
    /// `log Z` of the discretized density over the box: `logsumexp(-E) + log(h_x h_y)`.
    pub log_z: f64,
}

impl GridSampler {
    /// Evaluate `energy` at the midpoints of `n x n` cells over `bounds` and tabulate
    /// the cumulative cell probabilities. Errors: a non-2-D energy, an empty box, `n < 8`,
    /// NaN or `-inf` energies, or an all-`+inf` grid.
    pub fn new(energy: &dyn Energy, bounds: Box2, n: usize) -> Result<Self> {
        let g = neg_energy_grid(energy, 1.0, bounds, n)?; // [n, n] of -E
        Self::from_neg_energies(g.as_slice().expect("standard layout"), bounds, n)
    }

    /// The same from `-E` at the midpoints already computed, row-major `[n * n]` (row
    /// `iy` at `y`, column `ix` at `x`, as [`crate::exact2d::neg_energy_grid`] lays them).
    pub fn from_neg_energies(g: &[f64], bounds: Box2, n: usize) -> Result<Self> {
        if g.len() != n * n {
            return Err(Error::Shape {
                what: "grid negatives: -E at the midpoints".into(),
                expected: vec![n * n],
                found: vec![g.len()],
            });
        }
        if let Some(i) = g.iter().position(|v| v.is_nan() || *v == f64::INFINITY) {
            return Err(Error::invalid(
                "grid negatives",
                format!("energy {} at grid cell {i}", -g[i]),
            ));
        }
        let lse = crate::gibbs::log_sum_exp(g);
        if !lse.is_finite() {
            return Err(Error::invalid(
                "grid negatives",
                format!("logsumexp(-E) over the grid is {lse}"),
            ));
        }
        let mut acc = 0.0;
        let cum = g
            .iter()
            .map(|v| {
                acc += (v - lse).exp();
                acc
            })
            .collect();
        let (lo, hi) = bounds;
        let h = [(hi[0] - lo[0]) / n as f64, (hi[1] - lo[1]) / n as f64];
        Ok(GridSampler {
            lo,
            h,
            n,
            cum,
            log_z: lse + (h[0] * h[1]).ln(),
        })
    }

    /// `count` independent draws, `[count, 2]`: a cell by inverse CDF, then a uniform
    /// point inside it.
    pub fn draw(&self, count: usize, rng: &mut Rng) -> Array2<f64> {
        use rand::Rng as _;
        let total = *self.cum.last().expect("n >= 8 cells");
        let last = self.cum.len() - 1;
        let mut out = Array2::zeros((count, 2)); // [count, 2]
        for mut row in out.rows_mut() {
            let u = total * rng.r#gen::<f64>();
            let k = self.cum.partition_point(|&c| c <= u).min(last);
            let (iy, ix) = (k / self.n, k % self.n);
            row[0] = self.lo[0] + (ix as f64 + rng.r#gen::<f64>()) * self.h[0];
            row[1] = self.lo[1] + (iy as f64 + rng.r#gen::<f64>()) * self.h[1];
        }
        out
    }
}

/// The trainer's grid: the midpoints in f32 and a workspace kept across updates, so the
/// forward pass over the `n^2` midpoints (blocks of [`GRID_BLOCK`] rows) allocates
/// nothing per update (fresh multi-megabyte buffers every update cost more in page faults
/// than the arithmetic).
struct GridEval {
    n: usize,
    bounds: Box2,
    /// Midpoints, `[n * n, 2]`, row-major over (iy, ix).
    points: Array2<f64>,
    neg_e: Vec<f64>,
}

/// Rows per energy call of the grid evaluation.
const GRID_BLOCK: usize = 4096;

impl GridEval {
    fn new(bounds: Box2, n: usize) -> Self {
        let (lo, hi) = bounds;
        let h = [(hi[0] - lo[0]) / n as f64, (hi[1] - lo[1]) / n as f64];
        let points = Array2::from_shape_fn((n * n, 2), |(k, c)| {
            let i = if c == 0 { k % n } else { k / n };
            lo[c] + (i as f64 + 0.5) * h[c]
        });
        GridEval {
            n,
            bounds,
            points,
            neg_e: vec![0.0; n * n],
        }
    }

    /// The sampler for the density `energy` gives now.
    fn sampler(&mut self, energy: &dyn Energy) -> Result<GridSampler> {
        for (pts, out) in self
            .points
            .axis_chunks_iter(Axis(0), GRID_BLOCK)
            .zip(self.neg_e.chunks_mut(GRID_BLOCK))
        {
            energy.energy(pts, out);
            out.iter_mut().for_each(|o| *o = -*o);
        }
        GridSampler::from_neg_energies(&self.neg_e, self.bounds, self.n)
    }
}

/// Divide every Linear weight `W: [out, in]` whose largest singular value `sigma`
/// (one power iteration from the kept `v`) exceeds 1 by `sigma`; returns the sigmas.
pub fn spectral_project(net: &mut dyn Parameters, power: &mut Vec<Vec<f32>>) -> Vec<f32> {
    let mut k = 0;
    let mut sigmas = Vec::new();
    net.visit_named_mut("", &mut |name, p| {
        if !name.ends_with("weight") || p.shape.len() != 2 {
            return;
        }
        let (o, i) = (p.shape[0], p.shape[1]);
        if power.len() <= k {
            power.push(vec![1.0 / (i as f32).sqrt(); i]);
        }
        let v = &mut power[k];
        // u = W v / |W v|, v = W^T u / |W^T u|, sigma = u^T W v.
        let w = &p.value;
        let mut u = vec![0.0f32; o];
        for (r, ur) in u.iter_mut().enumerate() {
            *ur = w[r * i..(r + 1) * i]
                .iter()
                .zip(v.iter())
                .map(|(a, b)| a * b)
                .sum();
        }
        let nu = u.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        u.iter_mut().for_each(|x| *x /= nu);
        let mut nv = vec![0.0f32; i];
        for (r, ur) in u.iter().enumerate() {
            for (c, x) in nv.iter_mut().enumerate() {
                *x += w[r * i + c] * ur;
            }
        }
        let sigma = nv.iter().map(|x| x * x).sum::<f32>().sqrt();
        let inv = 1.0 / sigma.max(1e-12);
        for (a, b) in v.iter_mut().zip(&nv) {
            *a = b * inv;
        }
        if sigma > 1.0 {
            p.value.iter_mut().for_each(|x| *x /= sigma);
        }
        sigmas.push(sigma);
        k += 1;
    });
    sigmas
}

/// A Gaussian energy with learnable mean and precision `P = L L^T` (`L` lower
/// triangular): `E(y) = 1/2 (y - mu)^T P (y - mu)`. Contrastive training on Gaussian
/// data drives it to the maximum-likelihood fit (the sample mean and covariance). The
/// parameters are `Param`s (`mu: [d]`, `l: [d, d]` row-major, upper triangle unused and
/// never moved: its gradient is 0), so the optimizers, clipping, the weight average and
/// the state file of [`ContrastiveTrainer`] handle it as they handle an MLP's.
#[derive(Clone, Debug)]
pub struct GaussianEnergy {
    pub mu: crate::nn::Param,
    pub l: crate::nn::Param,
}

impl GaussianEnergy {
    /// `N(0, I)`: `mu = 0`, `L = I`.
    pub fn new(d: usize) -> Self {
        let mut l = vec![0.0f32; d * d];
        (0..d).for_each(|i| l[i * d + i] = 1.0);
        GaussianEnergy {
            mu: crate::nn::Param::new(vec![d], vec![0.0; d]),
            l: crate::nn::Param::new(vec![d, d], l),
        }
    }

    /// The energy with mean `mu` and precision factor `l: [d, d]` (lower triangle used).
    pub fn from_parts(mu: &[f64], l: ArrayView2<f64>) -> Result<Self> {
        let d = mu.len();
        if l.dim() != (d, d) {
            return Err(Error::Shape {
                what: "Gaussian energy precision factor".into(),
                expected: vec![d, d],
                found: l.shape().to_vec(),
            });
        }
        let mut g = Self::new(d);
        g.mu.value = mu.iter().map(|&v| v as f32).collect();
        g.l.value = l.iter().map(|&v| v as f32).collect();
        Ok(g)
    }

    /// The mean `mu`.
    pub fn mean(&self) -> Vec<f64> {
        self.mu.value.iter().map(|&v| v as f64).collect()
    }

    /// `P = L L^T`.
    pub fn precision(&self) -> Array2<f64> {
        let l = self.lower();
        l.dot(&l.t())
    }

    /// `L` in f64 with its upper triangle zeroed, `[d, d]`.
    fn lower(&self) -> Array2<f64> {
        let d = self.mu.len();
        Array2::from_shape_fn((d, d), |(i, j)| {
            if j <= i {
                self.l.value[i * d + j] as f64
            } else {
                0.0
            }
        })
    }

    /// `y - mu`, `[batch, d]`.
    fn centred(&self, y: ArrayView2<f64>) -> Array2<f64> {
        &y - &ndarray::Array1::from(self.mean())
    }
}

impl Energy for GaussianEnergy {
    fn dim(&self) -> usize {
        self.mu.len()
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        let u = self.centred(y).dot(&self.lower()); // [batch, d]: rows (y - mu)^T L
        for (o, r) in out.iter_mut().zip(u.rows()) {
            *o = 0.5 * r.dot(&r);
        }
    }
    fn energy_grad(
        &self,
        y: ArrayView2<f64>,
        out: &mut [f64],
        mut grad: ndarray::ArrayViewMut2<f64>,
    ) {
        let l = self.lower();
        let u = self.centred(y).dot(&l); // [batch, d]
        for (o, r) in out.iter_mut().zip(u.rows()) {
            *o = 0.5 * r.dot(&r);
        }
        grad.assign(&u.dot(&l.t())); // P (y - mu)
    }
    fn name(&self) -> String {
        "learnable-gaussian".into()
    }
}

impl Learnable for GaussianEnergy {
    fn accumulate_param_grad(&mut self, y: ArrayView2<f64>, coef: &[f64]) {
        let d = self.mu.len();
        let l = self.lower();
        let c = self.centred(y); // [batch, d]
        let u = c.dot(&l); // [batch, d]
        let pc = u.dot(&l.t()); // [batch, d]: P (y - mu)
        // dE/dmu = -P (y - mu); dE/dL = (y - mu) (y - mu)^T L (lower triangle). Summed
        // in f64, added to the f32 gradients once.
        let mut g_mu = vec![0.0f64; d];
        let mut g_l = vec![0.0f64; d * d];
        for ((w, pr), (cr, ur)) in coef
            .iter()
            .zip(pc.rows())
            .zip(c.rows().into_iter().zip(u.rows()))
        {
            for (g, p) in g_mu.iter_mut().zip(pr) {
                *g -= w * p;
            }
            for i in 0..d {
                for j in 0..=i {
                    g_l[i * d + j] += w * cr[i] * ur[j];
                }
            }
        }
        for (g, v) in self.mu.grad.iter_mut().zip(&g_mu) {
            *g += *v as f32;
        }
        for (g, v) in self.l.grad.iter_mut().zip(&g_l) {
            *g += *v as f32;
        }
    }
    fn zero_param_grad(&mut self) {
        self.zero_grad();
    }
}

impl Parameters for GaussianEnergy {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut crate::nn::Param)) {
        f(&mut self.mu);
        f(&mut self.l);
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &crate::nn::Param)) {
        f(&format!("{prefix}mu"), &self.mu);
        f(&format!("{prefix}l"), &self.l);
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut crate::nn::Param)) {
        f(&format!("{prefix}mu"), &mut self.mu);
        f(&format!("{prefix}l"), &mut self.l);
    }
}

/// The architecture of a [`GaussianEnergy`] in a trainer's state file.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct GaussianSpec {
    gaussian_dim: usize,
}

impl TrainableEnergy for GaussianEnergy {
    fn duplicate(&self) -> Result<Self> {
        Ok(self.clone())
    }
    fn architecture(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!(GaussianSpec {
            gaussian_dim: self.mu.len()
        }))
    }
    fn build(arch: &serde_json::Value, _rng: &mut Rng) -> Result<Self> {
        let s: GaussianSpec = serde_json::from_value(arch.clone())
            .map_err(|e| Error::invalid("gaussian energy", e.to_string()))?;
        if s.gaussian_dim == 0 {
            return Err(Error::invalid("gaussian energy", "dimension must be >= 1"));
        }
        crate::budget::check(
            "gaussian_dim",
            crate::budget::bytes(Self::param_count(arch)?, 16),
            "a Gaussian energy's mean and precision factor",
        )?;
        Ok(Self::new(s.gaussian_dim))
    }
    fn param_count(arch: &serde_json::Value) -> Result<Option<u64>> {
        let s: GaussianSpec = serde_json::from_value(arch.clone())
            .map_err(|e| Error::invalid("gaussian energy", e.to_string()))?;
        let d = s.gaussian_dim as u64;
        Ok(d.checked_mul(d).and_then(|dd| dd.checked_add(d)))
    }
    fn arch_dim(arch: &serde_json::Value) -> Result<usize> {
        serde_json::from_value::<GaussianSpec>(arch.clone())
            .map(|s| s.gaussian_dim)
            .map_err(|e| Error::invalid("gaussian energy", e.to_string()))
    }
}

/// Mean of the rows, `[dim]` (a helper for metrics).
pub fn row_mean(a: ArrayView2<f64>) -> Vec<f64> {
    a.mean_axis(Axis(0)).map(|m| m.to_vec()).unwrap_or_default()
}
