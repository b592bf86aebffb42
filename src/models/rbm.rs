//! The Bernoulli-Bernoulli restricted Boltzmann machine (Smolensky 1986, Hinton 2002).
//!
//! Binary visible `v` (V units) and hidden `h` (H units), weights `W: [V, H]`, visible
//! bias `b`, hidden bias `c`:
//!
//! - energy `E(v, h) = -v^T W h - b^T v - c^T h`, `p(v, h) = exp(-E(v, h)) / Z`;
//! - free energy `F(v) = -log sum_h exp(-E(v, h)) = -b.v - sum_j softplus(c_j + v.W_:j)`;
//! - conditionals `p(h_j = 1 | v) = sigmoid(c_j + v.W_:j)`,
//!   `p(v_i = 1 | h) = sigmoid(b_i + W_i:.h)` (at inverse temperature `beta` the
//!   arguments are scaled by `beta`);
//! - exact `log Z = log sum_h exp(c.h + sum_i softplus(b_i + W_i:.h))` by enumeration
//!   over the hidden layer (or the symmetric formula over `v` when V < H);
//! - log-likelihood gradient `d log p(v) / dW = <v h^T>_data - <v h^T>_model`, with
//!   `h` replaced by `p(h | v)` in both terms (Hinton's practical guide), likewise
//!   `<v>` for `b` and `<p(h|v)>` for `c`; the data term is `-dF(v)/dtheta`.
//!   CD-k starts the model chains at the batch, PCD keeps them across updates.
//! - AIS (Salakhutdinov & Murray 2008): from the base-rate RBM `A` (zero weights, hidden
//!   bias 0, visible bias `b_A = logit(mean pixel)`), `log Z_A = sum_i softplus(b_A,i) +
//!   H log 2`, through `p_k(v) ∝ exp(-F_k(v))` with
//!   `-F_k(v) = ((1 - beta_k) b_A + beta_k b).v + sum_j softplus(beta_k (c_j + v.W_:j))`,
//!   one Gibbs sweep of `p_k` per step; `log w += F_{k-1}(v) - F_k(v)` and
//!   `log Z = log Z_A + log mean exp(log w)`.

use crate::mcmc::{BinaryBlocks, Rng};
use crate::nn::matmul::matmul;
use crate::nn::{Param, Parameters, checkpoint};
use crate::partition::log_mean_exp_with_error;
use crate::threads::gemm_parallelism;
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis};

use rand::{Rng as _, SeedableRng};
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Largest layer [`Rbm::log_z_exact`] enumerates (2^24 states).
pub const MAX_EXACT_UNITS: usize = 24;

pub use crate::gibbs::softplus;

fn sigmoid(x: f32) -> f32 {
    crate::nn::fastmath::sigmoid(x)
}

/// `x <- sigmoid(x + bias)` on every row of `a` (`[n, bias.len()]`, standard layout), in
/// one vectorized sweep.
fn bias_sigmoid(mut a: Array2<f32>, bias: &[f32]) -> Array2<f32> {
    let w = bias.len().max(1);
    let s = a.as_slice_mut().expect("fresh array");
    crate::nn::simd::dispatch(|| {
        for row in s.chunks_exact_mut(w) {
            for (x, &c) in row.iter_mut().zip(bias) {
                *x = crate::nn::fastmath::sigmoid(*x + c);
            }
        }
    });
    a
}

/// A Bernoulli-Bernoulli RBM.
#[derive(Clone, Debug, PartialEq)]
pub struct Rbm {
    /// `[visible, hidden]`.
    pub w: Param,
    /// Visible bias `[visible]`.
    pub b: Param,
    /// Hidden bias `[hidden]`.
    pub c: Param,
}

impl Parameters for Rbm {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.w);
        f(&mut self.b);
        f(&mut self.c);
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        f(&format!("{prefix}w"), &self.w);
        f(&format!("{prefix}b"), &self.b);
        f(&format!("{prefix}c"), &self.c);
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        f(&format!("{prefix}w"), &mut self.w);
        f(&format!("{prefix}b"), &mut self.b);
        f(&format!("{prefix}c"), &mut self.c);
    }
}

/// `d log p / dtheta` (or one phase of it) for every parameter, batch means.
#[derive(Clone, Debug, PartialEq)]
pub struct RbmGrad {
    /// `[visible, hidden]`.
    pub w: Array2<f32>,
    /// `[visible]`.
    pub b: Vec<f32>,
    /// `[hidden]`.
    pub c: Vec<f32>,
}

impl Rbm {
    /// `W ~ N(0, std^2)`, biases zero.
    pub fn new(visible: usize, hidden: usize, std: f32, seed: u64) -> Result<Self> {
        if visible == 0 || hidden == 0 {
            return Err(Error::invalid(
                "rbm",
                format!("layers must be non-empty (visible {visible}, hidden {hidden})"),
            ));
        }
        if !(std.is_finite() && std >= 0.0) {
            return Err(Error::invalid("rbm init std", format!("{std} is not >= 0")));
        }
        let params = (visible as u64).checked_mul(hidden as u64);
        crate::budget::check(
            "hidden",
            crate::budget::bytes(params, 16),
            &format!("an RBM {visible}x{hidden}"),
        )?;
        let mut rng = Rng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, std).expect("std checked");
        let w = (0..visible * hidden)
            .map(|_| normal.sample(&mut rng))
            .collect();
        Ok(Self::from_parts(
            Array2::from_shape_vec((visible, hidden), w).expect("shape"),
            vec![0.0; visible],
            vec![0.0; hidden],
        ))
    }

    /// An RBM with the given weights `[visible, hidden]` and biases.
    ///
    /// # Panics
    /// If the bias lengths do not match `w`.
    pub fn from_parts(w: Array2<f32>, b: Vec<f32>, c: Vec<f32>) -> Self {
        let (nv, nh) = w.dim();
        assert_eq!(b.len(), nv, "visible bias length");
        assert_eq!(c.len(), nh, "hidden bias length");
        let w = w.as_standard_layout().iter().copied().collect();
        Rbm {
            w: Param::new(vec![nv, nh], w),
            b: Param::new(vec![nv], b),
            c: Param::new(vec![nh], c),
        }
    }

    /// Visible units.
    pub fn visible(&self) -> usize {
        self.w.shape[0]
    }
    /// Hidden units.
    pub fn hidden(&self) -> usize {
        self.w.shape[1]
    }
    /// `W` as `[visible, hidden]`.
    pub fn weights(&self) -> ArrayView2<'_, f32> {
        self.w.view2()
    }

    /// An error naming both shapes unless `v` has one column per visible unit.
    pub fn check_visible(&self, v: ArrayView2<f32>) -> Result<()> {
        if v.ncols() != self.visible() {
            return Err(Error::Shape {
                what: "rbm visible batch".into(),
                expected: vec![v.nrows(), self.visible()],
                found: v.shape().to_vec(),
            });
        }
        Ok(())
    }

    /// `v W`, `[n, hidden]` (no bias).
    fn hidden_product(&self, v: ArrayView2<f32>) -> Array2<f32> {
        let mut a = Array2::zeros((v.nrows(), self.hidden()));
        matmul(v, self.weights(), a.view_mut(), false, gemm_parallelism()); // [n,V]x[V,H] -> [n,H]
        a
    }

    /// `h W^T`, `[n, visible]` (no bias).
    fn visible_product(&self, h: ArrayView2<f32>) -> Array2<f32> {
        let mut a = Array2::zeros((h.nrows(), self.visible()));
        matmul(
            h,
            self.weights().t(),
            a.view_mut(),
            false,
            gemm_parallelism(),
        ); // [n,H]x[H,V] -> [n,V]
        a
    }

    /// `c + v W`: the hidden pre-activations, `[n, hidden]`.
    pub fn hidden_input(&self, v: ArrayView2<f32>) -> Array2<f32> {
        let mut a = self.hidden_product(v);
        a.rows_mut()
            .into_iter()
            .for_each(|mut r| r.iter_mut().zip(&self.c.value).for_each(|(x, c)| *x += c));
        a
    }

    /// `b + h W^T`: the visible pre-activations, `[n, visible]`.
    pub fn visible_input(&self, h: ArrayView2<f32>) -> Array2<f32> {
        let mut a = self.visible_product(h);
        a.rows_mut()
            .into_iter()
            .for_each(|mut r| r.iter_mut().zip(&self.b.value).for_each(|(x, b)| *x += b));
        a
    }

    /// `p(h = 1 | v) = sigmoid(c + v W)`, `[n, hidden]`.
    pub fn hidden_probs(&self, v: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check_visible(v)?;
        Ok(bias_sigmoid(self.hidden_product(v), &self.c.value))
    }

    /// [`Rbm::visible_probs`] with `W^T` given as a row-major copy `wt` (`[hidden,
    /// visible]`): the same product, but the GEMM then splits over two cores at the
    /// shapes of a Gibbs sweep (`h W^T` with `W^T` a transposed view does not: 144-165
    /// vs 250 GFLOP/s on 2 threads, `examples/gemm_rate.rs`). For loops that take many
    /// sweeps with one `W`.
    pub fn visible_probs_t(&self, h: ArrayView2<f32>, wt: ArrayView2<f32>) -> Array2<f32> {
        let mut a = Array2::zeros((h.nrows(), self.visible()));
        matmul(h, wt, a.view_mut(), false, gemm_parallelism()); // [n,H]x[H,V] -> [n,V]
        bias_sigmoid(a, &self.b.value)
    }

    /// `p(v = 1 | h) = sigmoid(b + W h)`, `[n, visible]`.
    pub fn visible_probs(&self, h: ArrayView2<f32>) -> Result<Array2<f32>> {
        if h.ncols() != self.hidden() {
            return Err(Error::Shape {
                what: "rbm hidden batch".into(),
                expected: vec![h.nrows(), self.hidden()],
                found: h.shape().to_vec(),
            });
        }
        Ok(bias_sigmoid(self.visible_product(h), &self.b.value))
    }

    /// `F(v) = -b.v - sum_j softplus(c_j + v.W_:j)` per row, in f64 (nats).
    pub fn free_energy(&self, v: ArrayView2<f32>) -> Result<Vec<f64>> {
        self.check_visible(v)?;
        let a = self.hidden_input(v); // [n, H]
        Ok(v.rows()
            .into_iter()
            .zip(a.rows())
            .map(|(v, a)| {
                let bv: f64 = v
                    .iter()
                    .zip(&self.b.value)
                    .map(|(&v, &b)| f64::from(v) * f64::from(b))
                    .sum();
                let sp: f64 = a.iter().map(|&a| softplus(f64::from(a))).sum();
                -bv - sp
            })
            .collect())
    }

    /// `E(v, h) = -v^T W h - b.v - c.h` for one configuration (f64, for checks).
    pub fn energy(&self, v: &[f32], h: &[f32]) -> f64 {
        let w = self.weights();
        let mut e = 0.0f64;
        for (i, &vi) in v.iter().enumerate() {
            e -= f64::from(vi) * f64::from(self.b.value[i]);
            for (j, &hj) in h.iter().enumerate() {
                e -= f64::from(vi) * f64::from(w[[i, j]]) * f64::from(hj);
            }
        }
        for (j, &hj) in h.iter().enumerate() {
            e -= f64::from(hj) * f64::from(self.c.value[j]);
        }
        e
    }

    /// Exact `log Z` by enumerating the smaller layer (at most [`MAX_EXACT_UNITS`]
    /// units), batched GEMMs over the states, f64 log-sum-exp.
    pub fn log_z_exact(&self) -> Result<f64> {
        if self.hidden() <= self.visible() {
            self.log_z_over_hidden()
        } else {
            self.log_z_over_visible()
        }
    }

    /// `log Z = log sum_h exp(c.h + sum_i softplus(b_i + W_i:.h))`.
    pub fn log_z_over_hidden(&self) -> Result<f64> {
        enumerate(self.hidden(), "hidden", |h| {
            let a = self.visible_input(h.view()); // [s, V]
            h.rows()
                .into_iter()
                .zip(a.rows())
                .map(|(h, a)| {
                    let ch: f64 = h
                        .iter()
                        .zip(&self.c.value)
                        .map(|(&h, &c)| f64::from(h) * f64::from(c))
                        .sum();
                    ch + a.iter().map(|&a| softplus(f64::from(a))).sum::<f64>()
                })
                .collect::<Vec<f64>>()
        })
    }

    /// `log Z = log sum_v exp(-F(v))`.
    pub fn log_z_over_visible(&self) -> Result<f64> {
        enumerate(self.visible(), "visible", |v| {
            self.free_energy(v.view())
                .expect("enumerated states have the model's width")
                .into_iter()
                .map(|f| -f)
                .collect()
        })
    }

    /// `-F(v) - log Z` averaged over the rows of `v` (nats per image).
    pub fn mean_log_prob(&self, v: ArrayView2<f32>, log_z: f64) -> Result<f64> {
        let f = self.free_energy(v)?;
        Ok(-f.iter().sum::<f64>() / f.len().max(1) as f64 - log_z)
    }

    /// The data term of the gradient, `-d mean F(v) / dtheta`:
    /// `<v p(h|v)^T>`, `<v>`, `<p(h|v)>` over the rows of `v`.
    pub fn positive_phase(&self, v: ArrayView2<f32>) -> Result<RbmGrad> {
        let ph = self.hidden_probs(v)?; // [n, H]
        Ok(self.phase(v, ph.view()))
    }

    fn phase(&self, v: ArrayView2<f32>, ph: ArrayView2<f32>) -> RbmGrad {
        let n = v.nrows().max(1) as f32;
        let mut w = Array2::zeros((self.visible(), self.hidden()));
        matmul(v.t(), ph, w.view_mut(), false, gemm_parallelism()); // [V,n]x[n,H] -> [V,H]
        w.mapv_inplace(|x| x / n);
        let b = v
            .mean_axis(Axis(0))
            .map_or_else(|| vec![0.0; self.visible()], |m| m.to_vec());
        let c = ph
            .mean_axis(Axis(0))
            .map_or_else(|| vec![0.0; self.hidden()], |m| m.to_vec());
        RbmGrad { w, b, c }
    }

    /// Save the parameters and `config` (key `rbm`) atomically.
    pub fn save(&self, path: &Path, config: &RbmConfig) -> Result<()> {
        let cfg = serde_json::json!({ "model": "rbm", "rbm": config });
        checkpoint::save(path, self, &cfg)
    }

    /// Load an RBM saved by [`Rbm::save`] with its config.
    pub fn load(path: &Path) -> Result<(Self, RbmConfig)> {
        let cfg = checkpoint::read_config(path)?;
        if cfg.get("model").and_then(|m| m.as_str()) != Some("rbm") {
            return Err(Error::format(path, "config field `model` is not \"rbm\""));
        }
        let config: RbmConfig = serde_json::from_value(cfg["rbm"].clone())
            .map_err(|e| Error::format(path, format!("config field `rbm`: {e}")))?;
        checkpoint::check_stored_size(path, "rbm", config.param_count())?;
        config.validate()?;
        let mut m = Rbm::from_parts(
            Array2::zeros((config.visible, config.hidden)),
            vec![0.0; config.visible],
            vec![0.0; config.hidden],
        );
        checkpoint::load(path, &mut m)?;
        Ok((m, config))
    }
}

/// `log sum_s exp(f(s))` over all `2^n` binary states, in batches of rows `[s, n]`.
fn enumerate(n: usize, layer: &str, f: impl Fn(&Array2<f32>) -> Vec<f64> + Sync) -> Result<f64> {
    if n > MAX_EXACT_UNITS {
        return Err(Error::invalid(
            "exact log Z",
            format!("{n} {layer} units; enumeration allows at most {MAX_EXACT_UNITS}"),
        ));
    }
    let total = 1usize << n;
    let chunk = 4096usize.min(total);
    let terms: Vec<f64> = (0..total.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let start = c * chunk;
            let len = chunk.min(total - start);
            let s = Array2::from_shape_fn((len, n), |(r, j)| (((start + r) >> j) & 1) as f32); // [len, n]
            crate::gibbs::log_sum_exp(&f(&s))
        })
        .collect();
    Ok(crate::gibbs::log_sum_exp(&terms))
}

impl BinaryBlocks for Rbm {
    /// Block 0: visible, block 1: hidden.
    fn block_sizes(&self) -> Vec<usize> {
        vec![self.visible(), self.hidden()]
    }
    fn conditional(&self, block: usize, blocks: &[Array2<f64>], beta: f64, prob: &mut Array2<f64>) {
        let beta = beta as f32;
        let a = match block {
            0 => self.visible_input(blocks[1].mapv(|x| x as f32).view()), // [n, V]
            1 => self.hidden_input(blocks[0].mapv(|x| x as f32).view()),  // [n, H]
            _ => panic!("rbm has two blocks, asked for block {block}"),
        };
        prob.zip_mut_with(&a, |p, &a| *p = f64::from(sigmoid(beta * a)));
    }
}

/// `x ~ Bernoulli(p)` elementwise, into a new array.
pub fn bernoulli(p: &Array2<f32>, rng: &mut Rng) -> Array2<f32> {
    p.mapv(|p| f32::from(u8::from(rng.r#gen::<f32>() < p)))
}

/// How the model term of the gradient is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Sampler {
    /// Contrastive divergence: `k` Gibbs sweeps from the data batch.
    Cd { k: usize },
    /// Persistent CD: `chains` fantasy particles, `k` sweeps per update, kept across updates.
    Pcd { k: usize, chains: usize },
}

impl Sampler {
    /// `cd` or `pcd` (with `chains` particles), `k` sweeps per update; an unknown name
    /// is an error naming `--sampler`.
    pub fn from_name(name: &str, k: usize, chains: usize) -> crate::Result<Self> {
        match name {
            "cd" => Ok(Sampler::Cd { k }),
            "pcd" => Ok(Sampler::Pcd { k, chains }),
            s => Err(crate::Error::invalid(
                "--sampler",
                format!("`{s}` is not one of cd, pcd"),
            )),
        }
    }
}

/// Most Gibbs sweeps per update (CD-k, PCD-k); the literature stops at CD-25.
pub const MAX_K: usize = 1000;

/// Architecture and training settings of an RBM (saved with checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RbmConfig {
    pub visible: usize,
    pub hidden: usize,
    /// Standard deviation of the initial weights (biases start at zero; the visible bias
    /// at `logit(mean pixel)` when training starts from data).
    pub init_std: f32,
    pub sampler: Sampler,
    pub epochs: usize,
    pub batch_size: usize,
    /// Learning rate at the first epoch, decayed linearly to `lr_final` at the last.
    pub lr: f32,
    pub lr_final: f32,
    /// Momentum before `momentum_switch` epochs, then `momentum_final`.
    pub momentum: f32,
    pub momentum_final: f32,
    pub momentum_switch: usize,
    /// L2 penalty on `W`: `dW -= weight_decay * W`.
    pub weight_decay: f32,
    pub seed: u64,
    /// Dynamic binarization: every update draws its data batch `v0 ~ Bernoulli(x)` afresh
    /// from the grey levels `x` in [0, 1] (as in public copies of Salakhutdinov's
    /// RBM code; a different binary set every epoch, so less overfitting than one fixed
    /// draw).
    #[serde(default)]
    pub binarize: bool,
    /// Growing k (CD-k and PCD-k): the sweeps at epoch `e` (0-based) are
    /// `min(k, 1 + e / k_ramp)`, i.e. one more every `k_ramp` epochs up to `k`
    /// (public copies of Salakhutdinov's RBM code grow k to 25 for CD-25). 0: always `k`.
    #[serde(default)]
    pub k_ramp: usize,
    /// Divide the learning rate by the current k (with `k_ramp`: 0.05 / k in that code).
    #[serde(default)]
    pub lr_over_k: bool,
}

impl RbmConfig {
    /// Hinton's practical-guide defaults: CD-1, batches of 100, lr 0.1 decaying to
    /// 0.01, momentum 0.5 then 0.9 after 5 epochs, weight decay 2e-4, `W ~ N(0, 0.01^2)`.
    pub fn new(visible: usize, hidden: usize) -> Self {
        RbmConfig {
            visible,
            hidden,
            init_std: 0.01,
            sampler: Sampler::Cd { k: 1 },
            epochs: 10,
            batch_size: 100,
            lr: 0.1,
            lr_final: 0.01,
            momentum: 0.5,
            momentum_final: 0.9,
            momentum_switch: 5,
            weight_decay: 2e-4,
            seed: 0,
            binarize: false,
            k_ramp: 0,
            lr_over_k: false,
        }
    }

    /// Gibbs sweeps per update at `epoch` (0-based): `k`, or with `k_ramp > 0`
    /// `min(k, 1 + epoch / k_ramp)`.
    pub fn k_at(&self, epoch: usize) -> usize {
        let k = match self.sampler {
            Sampler::Cd { k } | Sampler::Pcd { k, .. } => k,
        };
        match epoch.checked_div(self.k_ramp) {
            Some(step) => k.min(1 + step),
            None => k,
        }
    }

    /// Number of parameters (`W`, both biases), `None` on overflow.
    pub fn param_count(&self) -> Option<u64> {
        let (v, h) = (self.visible as u64, self.hidden as u64);
        v.checked_mul(h)?.checked_add(v)?.checked_add(h)
    }

    /// Check the settings; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.visible == 0 || self.hidden == 0 {
            return Err(Error::invalid(
                "rbm config",
                format!(
                    "layers must be non-empty (visible {}, hidden {})",
                    self.visible, self.hidden
                ),
            ));
        }
        // W, its gradient, its momentum and a transposed copy: 16 bytes per weight; the
        // persistent chains, visible and hidden, f32 and their probabilities.
        let chains = match self.sampler {
            Sampler::Pcd { chains, .. } => chains as u64,
            Sampler::Cd { .. } => 0,
        };
        let units = (self.visible as u64).checked_add(self.hidden as u64);
        crate::budget::check(
            "hidden/chains",
            crate::budget::sum(&[
                crate::budget::bytes(self.param_count(), 16),
                crate::budget::bytes(units.and_then(|u| u.checked_mul(chains)), 16),
            ]),
            &format!(
                "an RBM {}x{} with {chains} persistent chains",
                self.visible, self.hidden
            ),
        )?;
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be positive (got 0)"));
        }
        match self.sampler {
            Sampler::Cd { k } | Sampler::Pcd { k, .. } if !(1..=MAX_K).contains(&k) => {
                return Err(Error::invalid(
                    "k",
                    format!("{k} Gibbs sweeps per update (must be in 1..={MAX_K})"),
                ));
            }
            Sampler::Pcd { chains: 0, .. } => {
                return Err(Error::invalid("sampler", "pcd needs at least one chain"));
            }
            _ => {}
        }
        for (name, x) in [
            ("lr", self.lr),
            ("lr_final", self.lr_final),
            ("momentum", self.momentum),
            ("momentum_final", self.momentum_final),
            ("weight_decay", self.weight_decay),
            ("init_std", self.init_std),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                return Err(Error::invalid(
                    name,
                    format!("{x} is not a finite value >= 0"),
                ));
            }
        }
        for (name, m) in [
            ("momentum", self.momentum),
            ("momentum_final", self.momentum_final),
        ] {
            if m >= 1.0 {
                return Err(Error::invalid(
                    name,
                    format!("{m} must be below 1 (the updates would grow without bound)"),
                ));
            }
        }
        Ok(())
    }

    /// Learning rate at `epoch` (0-based): linear from `lr` to `lr_final`, divided by
    /// [`RbmConfig::k_at`] when `lr_over_k`.
    pub fn lr_at(&self, epoch: usize) -> f32 {
        let t = if self.epochs > 1 {
            (epoch.min(self.epochs - 1)) as f32 / (self.epochs - 1) as f32
        } else {
            0.0
        };
        let lr = self.lr + t * (self.lr_final - self.lr);
        if self.lr_over_k {
            lr / self.k_at(epoch) as f32
        } else {
            lr
        }
    }
}

/// `sweeps` block-Gibbs sweeps (`h ~ p(h | v)`, then `v ~ p(v | h)`) of the chains
/// started at the rows of `v0` (`[chains, visible]`), seeded; returns `p(v = 1 | h)` of
/// the last sweep, `[chains, visible]` (the mean image the chains are at, smoother to look
/// at than the binary state).
pub fn gibbs_chains(
    rbm: &Rbm,
    v0: ArrayView2<f32>,
    sweeps: usize,
    seed: u64,
) -> Result<Array2<f32>> {
    rbm.check_visible(v0)?;
    if sweeps == 0 {
        return Err(Error::invalid("gibbs sweeps", "must be at least 1"));
    }
    let mut rng = Rng::seed_from_u64(seed);
    let mut v = v0.to_owned();
    let mut pv = Array2::zeros(v.raw_dim());
    for s in 0..sweeps {
        let h = bernoulli(&rbm.hidden_probs(v.view())?, &mut rng);
        pv = rbm.visible_probs(h.view())?;
        if s + 1 < sweeps {
            v = bernoulli(&pv, &mut rng);
        }
    }
    Ok(pv)
}

/// `logit` of the smoothed mean of every column: `p = (sum + 1) / (n + 2)`.
pub fn base_rate_bias(data: ArrayView2<f32>) -> Vec<f32> {
    let n = data.nrows() as f64;
    data.axis_iter(Axis(1))
        .map(|col| {
            let p = (col.iter().map(|&x| f64::from(x)).sum::<f64>() + 1.0) / (n + 2.0);
            (p / (1.0 - p)).ln() as f32
        })
        .collect()
}

/// The AIS schedule of Salakhutdinov & Murray (2008): 500 betas spaced evenly in
/// [0, 0.5), 4,000 in [0.5, 0.9), 10,000 in [0.9, 1], ending at 1 (14,501 points with
/// the 0). With `k` intermediate points instead, the same three segments in the
/// proportions 500 : 4000 : 10000.
/// Refuse an AIS run whose chains (`runs x (visible + hidden)` states and
/// probabilities, f32 and f64) and schedule (`betas` f64) do not fit in memory; the
/// error names `ais_runs`/`ais_betas`. Callers check before training starts.
pub fn check_ais_memory(runs: usize, betas: usize, visible: usize, hidden: usize) -> Result<()> {
    if betas < 2 {
        return Err(crate::Error::invalid(
            "--ais-betas",
            format!("{betas} (need at least 2 intermediate distributions)"),
        ));
    }
    let units = (visible as u64).checked_add(hidden as u64);
    crate::budget::check(
        "ais_runs/ais_betas",
        crate::budget::sum(&[
            crate::budget::bytes(units.and_then(|u| u.checked_mul(runs as u64)), 48),
            crate::budget::bytes(Some(betas as u64), 8),
        ]),
        &format!("AIS with {runs} runs and {betas} betas on an RBM {visible}x{hidden}"),
    )
}

pub fn ais_schedule(k: Option<usize>) -> Vec<f64> {
    let (n1, n2, n3) = match k {
        None => (500, 4000, 10000),
        Some(k) => {
            let k = k.max(3);
            let n1 = (k * 500 / 14500).max(1);
            let n2 = (k * 4000 / 14500).max(1);
            (n1, n2, k - n1 - n2)
        }
    };
    let mut betas = Vec::with_capacity(n1 + n2 + n3 + 1);
    for (lo, hi, m) in [(0.0, 0.5, n1), (0.5, 0.9, n2)] {
        betas.extend((0..m).map(|i| lo + (hi - lo) * i as f64 / m as f64));
    }
    betas.extend((0..=n3).map(|i| 0.9 + 0.1 * i as f64 / n3 as f64));
    betas
}

/// An AIS estimate of `log Z`.
#[derive(Clone, Debug, PartialEq)]
pub struct AisEstimate {
    /// `log Z_A + log mean exp(log w)`.
    pub log_z: f64,
    /// Delta-method standard error of `log_z`.
    pub std_err: f64,
    /// `log_z ± 3 std_err`.
    pub interval: (f64, f64),
    /// `log Z_A` of the base-rate RBM.
    pub log_z_base: f64,
    /// Effective sample size of the importance weights.
    pub ess: f64,
    /// One log-weight per run.
    pub log_weights: Vec<f64>,
}

/// AIS from the base-rate RBM with visible bias `base_bias` (see [`base_rate_bias`])
/// along `betas` (from 0 to 1, increasing), `runs` independent particles, seeded.
pub fn ais_log_z(
    rbm: &Rbm,
    base_bias: &[f32],
    betas: &[f64],
    runs: usize,
    seed: u64,
) -> Result<AisEstimate> {
    ais_log_z_with(rbm, base_bias, betas, runs, seed, None)
}

/// [`ais_log_z`] reporting the intermediate distributions done to `progress`.
pub fn ais_log_z_with(
    rbm: &Rbm,
    base_bias: &[f32],
    betas: &[f64],
    runs: usize,
    seed: u64,
    progress: Option<&crate::progress::Progress>,
) -> Result<AisEstimate> {
    let (nv, nh) = (rbm.visible(), rbm.hidden());
    check_ais_memory(runs, betas.len(), nv, nh)?;
    if base_bias.len() != nv {
        return Err(Error::Shape {
            what: "ais base visible bias".into(),
            expected: vec![nv],
            found: vec![base_bias.len()],
        });
    }
    if runs < 2 {
        return Err(Error::invalid(
            "ais runs",
            format!("need at least 2 (got {runs})"),
        ));
    }
    if betas.len() < 2
        || betas[0] != 0.0
        || *betas.last().expect("non-empty") != 1.0
        || betas.windows(2).any(|w| w[1] < w[0])
    {
        return Err(Error::invalid(
            "ais schedule",
            "betas must increase from 0 to 1 with at least 2 points",
        ));
    }
    let mut rng = Rng::seed_from_u64(seed);
    let db: Vec<f64> = rbm
        .b
        .value
        .iter()
        .zip(base_bias)
        .map(|(&b, &a)| f64::from(b) - f64::from(a))
        .collect();
    let log_z_base = base_bias
        .iter()
        .map(|&a| softplus(f64::from(a)))
        .sum::<f64>()
        + nh as f64 * std::f64::consts::LN_2;
    // v ~ p_A: independent Bernoulli(sigmoid(b_A)).
    let p0 = Array2::from_shape_fn((runs, nv), |(_, i)| sigmoid(base_bias[i])); // [runs, V]
    let v = bernoulli(&p0, &mut rng);
    let a = rbm.hidden_input(v.view()); // c + v W: [runs, H]
    let mut path = BaseRatePath {
        rbm,
        base_bias,
        db,
        v,
        a,
    };
    let lw = crate::mcmc::ais::anneal(&mut path, betas, runs, &mut rng, progress)?.log_weights;
    if lw.iter().any(|x| !x.is_finite()) {
        return Err(Error::Diverged("ais log-weights not finite".into()));
    }
    let (lme, se, ess) = log_mean_exp_with_error(&lw);
    let log_z = log_z_base + lme;
    Ok(AisEstimate {
        log_z,
        std_err: se,
        interval: (log_z - 3.0 * se, log_z + 3.0 * se),
        log_z_base,
        ess,
        log_weights: lw,
    })
}

/// The RBM's annealing path (Salakhutdinov and Murray 2008): `p_beta(v)` the RBM with
/// visible bias `(1 - beta) b_A + beta b`, weights and hidden bias scaled by `beta`, from
/// the base-rate model (`beta = 0`) to the RBM; the particles are the visible states `v`
/// with `a = c + v W`, moved by one block Gibbs sweep per beta.
struct BaseRatePath<'a> {
    rbm: &'a Rbm,
    base_bias: &'a [f32],
    /// `b - b_A`.
    db: Vec<f64>,
    v: Array2<f32>,
    a: Array2<f32>,
}

impl crate::mcmc::ais::AnnealingPath for BaseRatePath<'_> {
    /// `log w += -F_{b1}(v) + F_{b0}(v)`; rows in parallel (each row's sum is its own,
    /// so the result does not depend on the thread count).
    fn add_log_weights(&self, b0: f64, b1: f64, lw: &mut [f64]) {
        lw.par_iter_mut().enumerate().for_each(|(r, lw)| {
            let vb: f64 = self
                .v
                .row(r)
                .iter()
                .zip(&self.db)
                .map(|(&v, &d)| f64::from(v) * d)
                .sum();
            let sp: f64 = self
                .a
                .row(r)
                .iter()
                .map(|&a| softplus(b1 * f64::from(a)) - softplus(b0 * f64::from(a)))
                .sum();
            *lw += (b1 - b0) * vb + sp;
        });
    }

    /// One Gibbs sweep of `p_beta`: `h ~ sigmoid(beta c + beta v W)`,
    /// `v ~ sigmoid((1 - beta) b_A + beta (b + W h))`.
    fn transition(&mut self, beta: f64, rng: &mut Rng) -> Result<crate::mcmc::ais::Moves> {
        let bf = beta as f32;
        let ph = self.a.mapv(|x| sigmoid(bf * x));
        let h = bernoulli(&ph, rng);
        let mut pv = self.rbm.visible_input(h.view()); // [runs, V]
        for mut row in pv.rows_mut() {
            for (x, &ba) in row.iter_mut().zip(self.base_bias) {
                *x = sigmoid((1.0 - bf) * ba + bf * *x);
            }
        }
        self.v = bernoulli(&pv, rng);
        self.a = self.rbm.hidden_input(self.v.view());
        Ok(crate::mcmc::ais::Moves {
            acceptance: 1.0,
            divergences: 0,
        })
    }
}

#[cfg(test)]
mod wt_tests {
    use super::*;

    /// The sweep's product through a row-major copy of `W^T` is `p(v | h)`.
    #[test]
    fn visible_probs_through_a_transposed_copy_match() {
        let rbm = Rbm::new(37, 11, 0.5, 3).unwrap();
        let mut rng = Rng::seed_from_u64(9);
        let h = bernoulli(&Array2::from_elem((13, 11), 0.4), &mut rng); // [13, 11]
        let wt = rbm.weights().t().as_standard_layout().into_owned(); // [11, 37]
        let a = rbm.visible_probs(h.view()).unwrap();
        let b = rbm.visible_probs_t(h.view(), wt.view());
        assert_eq!(a.shape(), b.shape());
        let d = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(d < 1e-6, "max difference {d}");
    }
}
