//! A conditional energy `E(x, y)` over a finite set of classes: the discrete case is exact.
//!
//! With `y` in `{0 .. K-1}` the Gibbs distribution
//!
//! `P(y|x) = exp(-beta E(x, y)) / sum_y' exp(-beta E(x, y'))`
//!
//! has a partition function that is a sum of `K` terms, so maximum likelihood needs no
//! sampling. The negative log-likelihood of a labelled pair (nats) is
//!
//! `L(x, y) = beta E(x, y) + log sum_y' exp(-beta E(x, y'))`,
//! `dL/dE(x, y') = beta (1[y' = y] - P(y'|x))`:
//!
//! it pushes down the energy of the correct answer and pulls up every answer's energy in
//! proportion to its probability. The network outputs the `K` energies `E(x, .)` at once
//! (an MLP `in -> hidden.. -> K`), which makes this the softmax classifier with logits
//! `-beta E`; the prediction is the lowest energy, `argmin_y E(x, y)` (the limit
//! `beta -> inf`).

use crate::nn::checkpoint;
use crate::nn::init::Init;
use crate::nn::loss::{Cost, GibbsNll, Reduction};
use crate::nn::optim::Optimizer;
use crate::nn::{ActivationKind, Param, Parameters, Sequential, Workspace};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Rows per forward pass when evaluating (no gradients kept).
const EVAL_BATCH: usize = 1000;

/// The architecture and inverse temperature of a [`ConditionalEbm`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionalConfig {
    /// Width of `x` (784 for MNIST, 64 for the UCI digits).
    pub in_dim: usize,
    /// Hidden widths of the MLP.
    pub hidden: Vec<usize>,
    /// Activation after every hidden layer.
    pub activation: ActivationKind,
    /// Number of values of `y`, `2..=256` (labels are `u8`).
    pub classes: usize,
    /// Inverse temperature of the Gibbs distribution.
    pub beta: f32,
    /// Weight initialization.
    pub init: Init,
}

impl ConditionalConfig {
    /// Number of parameters of `in_dim -> hidden.. -> classes`, `None` on overflow.
    pub fn param_count(&self) -> Option<u64> {
        let mut dims = vec![self.in_dim];
        dims.extend(&self.hidden);
        dims.push(self.classes);
        crate::budget::dense_params(&dims)
    }

    /// An MLP `in_dim -> hidden.. -> classes` with ReLU, `beta = 1` and PyTorch's init.
    pub fn mlp(in_dim: usize, hidden: &[usize], classes: usize) -> Self {
        ConditionalConfig {
            in_dim,
            hidden: hidden.to_vec(),
            activation: ActivationKind::Relu,
            classes,
            beta: 1.0,
            init: Init::PyTorchDefault,
        }
    }
    /// Check the settings; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.in_dim == 0 || self.hidden.contains(&0) {
            return Err(Error::invalid(
                "conditional config",
                format!(
                    "widths must be positive (in_dim {}, hidden {:?})",
                    self.in_dim, self.hidden
                ),
            ));
        }
        if !(2..=256).contains(&self.classes) {
            return Err(Error::invalid(
                "classes",
                format!("{} is not in 2..=256", self.classes),
            ));
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::invalid("beta", format!("{} is not > 0", self.beta)));
        }
        Ok(())
    }
}

/// The energies `E(x, .)` of every class from one MLP, trained by exact maximum
/// likelihood.
#[derive(Clone)]
pub struct ConditionalEbm {
    pub config: ConditionalConfig,
    /// `in_dim -> hidden.. -> classes`: row `i` of the output is `E(x_i, .)`.
    pub net: Sequential,
    ws: Workspace,
    /// One-hot targets of the current batch, `[batch, classes]`.
    onehot: Vec<f32>,
}

impl ConditionalEbm {
    /// A model with fresh weights drawn from `rng`.
    pub fn new(config: ConditionalConfig, rng: &mut impl Rng) -> Result<Self> {
        config.validate()?;
        crate::budget::check(
            "hidden",
            crate::budget::bytes(config.param_count(), 16),
            &format!(
                "a classifier {}-{:?}-{} (weights, gradients, Adam moments)",
                config.in_dim, config.hidden, config.classes
            ),
        )?;
        let net = Sequential::mlp(
            config.in_dim,
            &config.hidden,
            config.classes,
            config.activation,
            config.init,
            rng,
        );
        Ok(ConditionalEbm {
            config,
            net,
            ws: Workspace::default(),
            onehot: Vec::new(),
        })
    }

    /// The inverse temperature.
    pub fn beta(&self) -> f32 {
        self.config.beta
    }

    fn check(&self, x: &ArrayView2<f32>, labels: Option<&[u8]>) -> Result<()> {
        if x.ncols() != self.config.in_dim {
            return Err(Error::Shape {
                what: "conditional ebm input".into(),
                expected: vec![x.nrows(), self.config.in_dim],
                found: vec![x.nrows(), x.ncols()],
            });
        }
        if let Some(l) = labels {
            if l.len() != x.nrows() {
                return Err(Error::Shape {
                    what: "labels for the conditional ebm input".into(),
                    expected: vec![x.nrows()],
                    found: vec![l.len()],
                });
            }
            if let Some(&bad) = l.iter().find(|&&y| y as usize >= self.config.classes) {
                return Err(Error::invalid(
                    "labels",
                    format!("label {bad} is not below {} classes", self.config.classes),
                ));
            }
        }
        Ok(())
    }

    /// The energies `E(x, .)`, `[batch, in_dim] -> [batch, classes]`.
    pub fn energies(&mut self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check(&x, None)?;
        let par = crate::threads::gemm_parallelism();
        let mut e = Array2::zeros((x.nrows(), self.config.classes)); // [batch, classes]
        for (xc, mut ec) in x
            .axis_chunks_iter(Axis(0), EVAL_BATCH)
            .zip(e.axis_chunks_iter_mut(Axis(0), EVAL_BATCH))
        {
            ec.assign(&self.net.forward(xc, &mut self.ws, par));
        }
        Ok(e)
    }

    /// `log P(y|x)` for every class, in f64, `[batch, classes]`.
    pub fn log_posterior(&mut self, x: ArrayView2<f32>) -> Result<Array2<f64>> {
        let beta = self.beta() as f64;
        let e = self.energies(x)?;
        let mut lp = e.mapv(|v| -beta * v as f64); // [batch, classes]
        for mut row in lp.axis_iter_mut(Axis(0)) {
            let lz = crate::gibbs::log_sum_exp(row.as_slice().expect("row-major"));
            row.mapv_inplace(|a| a - lz);
        }
        Ok(lp)
    }

    /// The lowest-energy class of every row, `argmin_y E(x, y)` (the first on ties).
    pub fn predict(&mut self, x: ArrayView2<f32>) -> Result<Vec<u8>> {
        let e = self.energies(x)?;
        Ok(e.axis_iter(Axis(0))
            .map(|r| argmin(r.iter()) as u8)
            .collect())
    }

    /// One pass over the batch `(x, labels)`: the summed NLL (nats), and when `train` the
    /// gradient of every parameter (accumulated; zero them first).
    pub fn forward_backward(
        &mut self,
        x: ArrayView2<f32>,
        labels: &[u8],
        train: bool,
    ) -> Result<f64> {
        self.check(&x, Some(labels))?;
        self.net.input_mut(&mut self.ws, x.nrows()).assign(&x);
        self.forward_backward_ws(labels, train)
    }

    /// [`ConditionalEbm::forward_backward`] on the batch already in the input state.
    fn forward_backward_ws(&mut self, labels: &[u8], train: bool) -> Result<f64> {
        let par = crate::threads::gemm_parallelism();
        let (b, k) = (labels.len(), self.config.classes);
        let cost = GibbsNll {
            beta: self.config.beta,
            reduction: Reduction::Sum,
        };
        let ConditionalEbm {
            net, ws, onehot, ..
        } = self;
        if onehot.len() < b * k {
            onehot.resize(b * k, 0.0);
        }
        let t = &mut onehot[..b * k];
        t.fill(0.0);
        for (row, &y) in t.chunks_exact_mut(k).zip(labels) {
            row[y as usize] = 1.0;
        }
        net.forward_from_ws(ws, par); // [b, classes]
        let (out, dout) = ws.out_and_grad_out_mut();
        let target = ArrayView2::from_shape((b, k), &*t).expect("onehot"); // [b, classes]
        let nll = cost.cost_grad(out, target, dout);
        if !nll.is_finite() {
            return Err(Error::Diverged(format!("conditional ebm NLL is {nll}")));
        }
        if train {
            net.backward_from_ws(ws, false, par);
        }
        Ok(nll)
    }

    /// One optimizer step on the batch `(x, labels)`; returns its summed NLL (nats).
    pub fn train_step(
        &mut self,
        x: ArrayView2<f32>,
        labels: &[u8],
        opt: &mut dyn Optimizer,
    ) -> Result<f64> {
        self.check(&x, Some(labels))?;
        self.net.input_mut(&mut self.ws, x.nrows()).assign(&x);
        self.step_ws(labels, opt)
    }

    fn step_ws(&mut self, labels: &[u8], opt: &mut dyn Optimizer) -> Result<f64> {
        self.zero_grad();
        let nll = self.forward_backward_ws(labels, true)?;
        opt.step(&mut self.net);
        Ok(nll)
    }

    /// One epoch over `(x, labels)` in shuffled mini-batches of `batch` rows (the last
    /// one smaller); returns the mean NLL per example (nats) seen during the epoch.
    /// Stops with [`Error::Diverged`] on NaN.
    pub fn train_epoch(
        &mut self,
        x: ArrayView2<f32>,
        labels: &[u8],
        batch: usize,
        rng: &mut impl Rng,
        opt: &mut dyn Optimizer,
    ) -> Result<f64> {
        self.check(&x, Some(labels))?;
        if batch == 0 {
            return Err(Error::invalid("batch", "must be positive"));
        }
        let mut order: Vec<usize> = (0..x.nrows()).collect();
        order.shuffle(rng);
        let mut total = 0.0;
        let mut yb = Vec::with_capacity(batch);
        for idx in order.chunks(batch) {
            let mut xb = self.net.input_mut(&mut self.ws, idx.len()); // [nb, in_dim]
            for (mut row, &i) in xb.rows_mut().into_iter().zip(idx) {
                row.assign(&x.row(i));
            }
            yb.clear();
            yb.extend(idx.iter().map(|&i| labels[i]));
            total += self.step_ws(&yb, opt)?;
        }
        Ok(total / x.nrows().max(1) as f64)
    }

    /// One optimizer step on the rows `idx` of `(x, labels)`; returns the batch's summed
    /// NLL (nats). What a training loop that owns the epochs calls.
    pub fn train_batch(
        &mut self,
        x: ArrayView2<f32>,
        labels: &[u8],
        idx: &[usize],
        opt: &mut dyn Optimizer,
    ) -> Result<f64> {
        self.check(&x, Some(labels))?;
        if let Some(&i) = idx.iter().find(|&&i| i >= x.nrows()) {
            return Err(Error::invalid(
                "batch rows",
                format!("row {i} of {} rows", x.nrows()),
            ));
        }
        let mut xb = self.net.input_mut(&mut self.ws, idx.len()); // [nb, in_dim]
        for (mut row, &i) in xb.rows_mut().into_iter().zip(idx) {
            row.assign(&x.row(i));
        }
        let yb: Vec<u8> = idx.iter().map(|&i| labels[i]).collect();
        self.step_ws(&yb, opt)
    }

    /// `(accuracy, mean NLL in nats)` over `(x, labels)`: the accuracy of
    /// [`ConditionalEbm::predict`], the NLL with `log Z` by log-sum-exp in f64.
    pub fn evaluate(&mut self, x: ArrayView2<f32>, labels: &[u8]) -> Result<(f64, f64)> {
        self.check(&x, Some(labels))?;
        if labels.is_empty() {
            return Err(Error::invalid("evaluate", "no examples"));
        }
        let beta = self.beta() as f64;
        let e = self.energies(x)?;
        let (mut correct, mut nll) = (0usize, 0.0f64);
        let mut a = vec![0.0f64; self.config.classes];
        for (row, &y) in e.axis_iter(Axis(0)).zip(labels) {
            a.iter_mut()
                .zip(row.iter())
                .for_each(|(a, &ek)| *a = -beta * ek as f64);
            nll += crate::gibbs::log_sum_exp(&a) - a[y as usize];
            correct += (argmin(row.iter()) == y as usize) as usize;
        }
        if !nll.is_finite() {
            return Err(Error::Diverged(format!("conditional ebm NLL is {nll}")));
        }
        let n = labels.len() as f64;
        Ok((correct as f64 / n, nll / n))
    }

    /// Save the weights and the config (key `conditional`) with `run` (any JSON: data,
    /// optimizer, epoch, seed) under key `run`, atomically.
    pub fn save(&self, path: &Path, run: &serde_json::Value) -> Result<()> {
        let cfg = serde_json::json!({
            "model": "conditional_ebm",
            "conditional": self.config,
            "run": run,
        });
        checkpoint::save(path, &self.net, &cfg)
    }

    /// Load a model saved by [`ConditionalEbm::save`]; returns it with the saved `run`.
    pub fn load(path: &Path) -> Result<(Self, serde_json::Value)> {
        let cfg = checkpoint::read_config(path)?;
        if cfg.get("model").and_then(|m| m.as_str()) != Some("conditional_ebm") {
            return Err(Error::format(
                path,
                "config field `model` is not \"conditional_ebm\"",
            ));
        }
        let config: ConditionalConfig = serde_json::from_value(cfg["conditional"].clone())
            .map_err(|e| Error::format(path, format!("config field `conditional`: {e}")))?;
        checkpoint::check_stored_size(path, "conditional", config.param_count())?;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0); // overwritten
        let mut m = ConditionalEbm::new(config, &mut rng)?;
        checkpoint::load(path, &mut m.net)?;
        Ok((m, cfg["run"].clone()))
    }
}

/// Index of the smallest value (the first on ties; NaN never wins).
fn argmin<'a>(row: impl Iterator<Item = &'a f32>) -> usize {
    let (mut best, mut arg) = (f32::INFINITY, 0);
    for (k, &v) in row.enumerate() {
        if v < best {
            (best, arg) = (v, k);
        }
    }
    arg
}

impl Parameters for ConditionalEbm {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.net.visit_mut(f);
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        self.net.visit_named(prefix, f);
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        self.net.visit_named_mut(prefix, f);
    }
}
