//! The variational auto-encoder as variational free energy (Kingma, Welling 2014).
//!
//! Encoder `y -> (mu, log sigma^2)` gives a Gaussian `q(z|y)`; reparameterized samples
//! `z = mu + sigma * eps`, `eps ~ N(0, I)`; the decoder gives the energy `E(y, z)`
//! (Bernoulli cross-entropy from logits for pixels in [0, 1], or a Gaussian of fixed
//! sigma for real values); the prior is `N(0, I)`. The loss is the variational free
//! energy at beta = 1/`kl_weight`:
//!
//! `F~(y) = <E(y, z)>_q + kl_weight * KL(q(z|y) || N(0, I))`,
//! `KL = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)` (nats).
//!
//! With `hidden = [400]`, `latent = 20`, ReLU and the Bernoulli energy this is the VAE
//! of the PyTorch examples repository, layer for layer.

use crate::nn::init::Init;
use crate::nn::loss::{BernoulliLogits, Cost, Reduction, bernoulli_row};
use crate::nn::optim::Optimizer;
use crate::nn::{ActivationKind, Linear, Module, Param, Parameters, Sequential, Workspace};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// The decoder's energy `E(y, z)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Likelihood {
    /// Bernoulli cross-entropy from logits, for `y` in [0, 1].
    Bernoulli,
    /// Gaussian with fixed `sigma`: `||y - dec(z)||^2 / (2 sigma^2) + d/2 ln(2 pi sigma^2)`.
    Gaussian { sigma: f32 },
}

/// The architecture and loss of a VAE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Width of `y` (784 for MNIST, 64 for the UCI digits).
    pub input_dim: usize,
    /// Hidden widths of the encoder; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Width of `z`.
    pub latent: usize,
    /// Activation after every hidden layer.
    pub activation: ActivationKind,
    /// Decoder energy.
    pub likelihood: Likelihood,
    /// Weight of the KL term, `1/beta` (1 for the VAE).
    pub kl_weight: f32,
    /// Weight initialization.
    pub init: Init,
    /// Samples per image in the training objective: 1 is the VAE's variational free
    /// energy (KL in closed form); `k > 1` is the importance-weighted bound of Burda et
    /// al. (2016), `-log (1/k) sum_i p(y, z_i) / q(z_i|y)` (requires `kl_weight` 1).
    #[serde(default = "one")]
    pub iwae_k: usize,
}

fn one() -> usize {
    1
}

impl VaeConfig {
    /// The PyTorch examples VAE: 784-400-20, ReLU, Bernoulli.
    pub fn pytorch_mnist() -> Self {
        VaeConfig {
            input_dim: 784,
            hidden: vec![400],
            latent: 20,
            activation: ActivationKind::Relu,
            likelihood: Likelihood::Bernoulli,
            kl_weight: 1.0,
            init: Init::PyTorchDefault,
            iwae_k: 1,
        }
    }
    /// The IWAE paper's one-stochastic-layer model (Burda et al. 2016, section 5):
    /// 784-200-200-50 with tanh, decoder mirrored, Bernoulli pixels, Glorot-uniform
    /// weights.
    pub fn iwae_mnist() -> Self {
        VaeConfig {
            input_dim: 784,
            hidden: vec![200, 200],
            latent: 50,
            activation: ActivationKind::Tanh,
            likelihood: Likelihood::Bernoulli,
            kl_weight: 1.0,
            init: Init::XavierUniform,
            iwae_k: 1,
        }
    }
    /// Number of parameters (encoder, both heads, decoder), `None` on overflow.
    pub fn param_count(&self) -> Option<u64> {
        use crate::budget::{dense_params, sum};
        let mut enc = vec![self.input_dim];
        enc.extend(&self.hidden);
        let top = *enc.last()?;
        let head = dense_params(&[top, self.latent]);
        let mut dec = vec![self.latent];
        dec.extend(self.hidden.iter().rev());
        dec.push(self.input_dim);
        sum(&[dense_params(&enc), head, head, dense_params(&dec)])
    }

    /// Refuse a model whose weights, gradients and Adam moments (16 bytes per
    /// parameter) do not fit in memory; the error names `hidden`/`latent`.
    pub fn check_memory(&self) -> Result<()> {
        crate::budget::check(
            "hidden/latent",
            crate::budget::bytes(self.param_count(), 16),
            &format!(
                "a VAE {}-{:?}-{} (weights, gradients, Adam moments)",
                self.input_dim, self.hidden, self.latent
            ),
        )
    }

    /// Check the settings; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.input_dim == 0 || self.latent == 0 || self.hidden.contains(&0) {
            return Err(Error::invalid(
                "vae config",
                format!(
                    "widths must be positive (input_dim {}, hidden {:?}, latent {})",
                    self.input_dim, self.hidden, self.latent
                ),
            ));
        }
        if !(self.kl_weight.is_finite() && self.kl_weight >= 0.0) {
            return Err(Error::invalid(
                "kl_weight",
                format!("{} is not >= 0", self.kl_weight),
            ));
        }
        if self.iwae_k == 0 {
            return Err(Error::invalid("iwae_k", "must be at least 1"));
        }
        if self.iwae_k > 1 && self.kl_weight != 1.0 {
            return Err(Error::invalid(
                "kl_weight",
                format!(
                    "{} with iwae_k {}: the importance-weighted bound needs kl_weight 1",
                    self.kl_weight, self.iwae_k
                ),
            ));
        }
        if let Likelihood::Gaussian { sigma } = self.likelihood
            && !(sigma.is_finite() && sigma > 0.0)
        {
            return Err(Error::invalid(
                "likelihood.sigma",
                format!("{sigma} is not > 0"),
            ));
        }
        Ok(())
    }
}

/// Sums over a batch of the two terms of the variational free energy (nats).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VaeLoss {
    /// `sum <E(y, z)>_q` (one sample per row).
    pub recon: f64,
    /// `sum KL(q(z|y) || p(z))`. With `iwae_k > 1`: the rest of the negative bound,
    /// `-L_k - recon`, where `recon` is the importance-weighted `sum_i w~_i E(y, z_i)`.
    pub kl: f64,
    /// Rows summed.
    pub n: usize,
    /// The weight of the KL term used.
    pub kl_weight: f64,
}

impl VaeLoss {
    /// `recon + kl_weight * kl`, summed.
    pub fn total(&self) -> f64 {
        self.recon + self.kl_weight * self.kl
    }
    /// Per row (per image).
    pub fn per_row(&self) -> f64 {
        self.total() / self.n.max(1) as f64
    }
    /// Add another batch's sums.
    pub fn add(&mut self, o: &VaeLoss) {
        self.recon += o.recon;
        self.kl += o.kl;
        self.n += o.n;
        self.kl_weight = o.kl_weight;
    }
}

#[derive(Clone, Debug, Default)]
struct Buffers {
    mu: Vec<f32>,
    lv: Vec<f32>,
    eps: Vec<f32>,
    z: Vec<f32>,
    dmu: Vec<f32>,
    dlv: Vec<f32>,
    /// IWAE: per-sample log weights (prior minus posterior part, then the whole).
    lw: Vec<f64>,
    /// IWAE: per-sample reconstruction energies.
    cost: Vec<f64>,
}

/// A VAE: encoder chain, two heads (mean, log-variance), decoder chain.
#[derive(Clone)]
pub struct Vae {
    pub config: VaeConfig,
    pub encoder: Sequential,
    pub mu_head: Linear,
    pub logvar_head: Linear,
    pub decoder: Sequential,
    /// Clip the global gradient norm to this before each step (None: no clipping).
    pub clip_norm: Option<f64>,
    /// Dynamic binarization in [`Vae::train_epoch`]: every pass draws each pixel
    /// `~ Bernoulli(intensity)` afresh (the likelihood protocol of Burda et al.).
    pub binarize: bool,
    enc_ws: Workspace,
    dec_ws: Workspace,
    buf: Buffers,
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}
fn v2(v: &[f32], b: usize, d: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((b, d), &v[..b * d]).expect("view")
}
fn v2m(v: &mut [f32], b: usize, d: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((b, d), &mut v[..b * d]).expect("view")
}

/// The decoder energy of one row, `E(y, z) = C(y, out)` for the decoder output `out`
/// (logits or mean), in nats; its gradient `dC/dout` written into `grad` when given.
pub fn row_energy(
    likelihood: Likelihood,
    out: ndarray::ArrayView1<f32>,
    y: ndarray::ArrayView1<f32>,
    grad: Option<ndarray::ArrayViewMut1<f32>>,
) -> f64 {
    match likelihood {
        Likelihood::Bernoulli => {
            let (o, t) = (out.to_slice().expect("row"), y.to_slice());
            let t_owned;
            let t = match t {
                Some(t) => t,
                None => {
                    t_owned = y.to_vec();
                    &t_owned
                }
            };
            match grad {
                Some(mut g) => {
                    bernoulli_row(o, t, Some((g.as_slice_mut().expect("grad row"), 1.0)))
                }
                None => bernoulli_row(o, t, None),
            }
        }
        Likelihood::Gaussian { sigma } => {
            let is2 = 1.0 / (sigma * sigma);
            let mut r = 0.0f64;
            match grad {
                Some(mut g) => {
                    for ((g, &o), &t) in g.iter_mut().zip(out.iter()).zip(y.iter()) {
                        let e = o - t;
                        r += (e * e) as f64;
                        *g = e * is2;
                    }
                }
                None => {
                    for (&o, &t) in out.iter().zip(y.iter()) {
                        r += ((o - t) * (o - t)) as f64;
                    }
                }
            }
            r * 0.5 * is2 as f64
                + out.len() as f64
                    * 0.5
                    * (2.0 * std::f64::consts::PI * (sigma as f64).powi(2)).ln()
        }
    }
}

impl Vae {
    /// A VAE with fresh weights drawn from `rng`.
    pub fn new(config: VaeConfig, rng: &mut impl Rng) -> Result<Self> {
        config.validate()?;
        config.check_memory()?;
        let act = config.activation;
        let mut enc = Sequential::build(config.input_dim);
        for &h in &config.hidden {
            enc = enc.linear(h, config.init, rng).act(act);
        }
        let encoder = enc.try_finish()?;
        let top = *config.hidden.last().unwrap_or(&config.input_dim);
        let mu_head = Linear::new(top, config.latent, config.init, rng);
        let logvar_head = Linear::new(top, config.latent, config.init, rng);
        let mut dec = Sequential::build(config.latent);
        for &h in config.hidden.iter().rev() {
            dec = dec.linear(h, config.init, rng).act(act);
        }
        let decoder = dec
            .linear(config.input_dim, config.init, rng)
            .try_finish()?;
        Ok(Vae {
            config,
            encoder,
            mu_head,
            logvar_head,
            decoder,
            clip_norm: None,
            binarize: false,
            enc_ws: Workspace::default(),
            dec_ws: Workspace::default(),
            buf: Buffers::default(),
        })
    }

    fn check_width(&self, x: &ArrayView2<f32>) -> Result<()> {
        if x.ncols() != self.config.input_dim {
            return Err(Error::Shape {
                what: "vae input".into(),
                expected: vec![x.nrows(), self.config.input_dim],
                found: vec![x.nrows(), x.ncols()],
            });
        }
        Ok(())
    }

    /// One pass over the batch `x` (`[batch, input_dim]`): the loss, and when `train` the
    /// gradients of every parameter (accumulated; zero them first).
    pub fn forward_backward(
        &mut self,
        x: ArrayView2<f32>,
        rng: &mut impl Rng,
        train: bool,
    ) -> Result<VaeLoss> {
        self.check_width(&x)?;
        self.encoder
            .input_mut(&mut self.enc_ws, x.nrows())
            .assign(&x);
        self.forward_backward_ws(rng, train)
    }

    /// [`Vae::forward_backward`] on the batch already written into the encoder's input
    /// state (no copy).
    fn forward_backward_ws(&mut self, rng: &mut impl Rng, train: bool) -> Result<VaeLoss> {
        if self.config.iwae_k > 1 {
            return self.forward_backward_iwae(rng, train);
        }
        let par = crate::threads::gemm_parallelism();
        let b = self.enc_ws.batch();
        let (l, d) = (self.config.latent, self.config.input_dim);
        let w = self.config.kl_weight;
        let Vae {
            encoder,
            mu_head,
            logvar_head,
            decoder,
            enc_ws,
            dec_ws,
            buf,
            config,
            ..
        } = self;
        for v in [
            &mut buf.mu,
            &mut buf.lv,
            &mut buf.eps,
            &mut buf.z,
            &mut buf.dmu,
            &mut buf.dlv,
        ] {
            grow(v, b * l);
        }
        // Encoder and heads.
        let h = encoder.forward_from_ws(enc_ws, par); // [b, H]
        mu_head.fprop(h, v2m(&mut buf.mu, b, l), par); // [b, L]
        logvar_head.fprop(h, v2m(&mut buf.lv, b, l), par); // [b, L]
        // Reparameterize: z = mu + eps * exp(lv / 2).
        let mut kl = 0.0f64;
        for i in 0..b * l {
            let e: f32 = rng.sample(StandardNormal);
            let (m, lv) = (buf.mu[i], buf.lv[i]);
            let s = (0.5 * lv).exp();
            buf.eps[i] = e;
            buf.z[i] = m + e * s;
            kl += -0.5 * (1.0 + lv as f64 - (m as f64) * (m as f64) - (s as f64) * (s as f64));
        }
        // Decoder energy; its gradient goes straight into the decoder's last adjoint.
        decoder.forward(v2(&buf.z, b, l), dec_ws, par); // [b, D]
        let x = enc_ws.state(0); // [b, D]
        let (out, mut dout) = dec_ws.out_and_grad_out_mut();
        let recon = match config.likelihood {
            Likelihood::Bernoulli => {
                BernoulliLogits(Reduction::Sum).cost_grad(out, x, dout.view_mut())
            }
            Likelihood::Gaussian { sigma } => {
                let is2 = 1.0 / (sigma * sigma);
                let mut r = 0.0f64;
                ndarray::Zip::from(&mut dout)
                    .and(&out)
                    .and(&x)
                    .for_each(|g, &o, &t| {
                        let e = o - t;
                        r += (e * e) as f64;
                        *g = e * is2;
                    });
                r * 0.5 * is2 as f64
                    + (b * d) as f64
                        * 0.5
                        * (2.0 * std::f64::consts::PI * (sigma as f64).powi(2)).ln()
            }
        };
        let loss = VaeLoss {
            recon,
            kl,
            n: b,
            kl_weight: w as f64,
        };
        if !loss.total().is_finite() {
            return Err(Error::Diverged(format!(
                "vae loss is {} (recon {recon}, kl {kl})",
                loss.total()
            )));
        }
        if !train {
            return Ok(loss);
        }
        // Backward through the decoder to z.
        decoder.backward_from_ws(dec_ws, true, par);
        let dz = dec_ws.grad(0); // [b, L]
        // dF/dmu = dz + w mu;  dF/dlv = dz eps s / 2 + w (e^lv - 1) / 2.
        for (i, &g) in dz.iter().enumerate() {
            let (m, lv, e) = (buf.mu[i], buf.lv[i], buf.eps[i]);
            let s = (0.5 * lv).exp();
            buf.dmu[i] = g + w * m;
            buf.dlv[i] = 0.5 * g * e * s + 0.5 * w * (s * s - 1.0);
        }
        let (h, mut dh) = enc_ws.out_and_grad_out_mut(); // [b, H]
        mu_head.accumulate_weight_grad(h, v2(&buf.dmu, b, l), par);
        logvar_head.accumulate_weight_grad(h, v2(&buf.dlv, b, l), par);
        mu_head.bprop_input_acc(v2(&buf.dmu, b, l), dh.view_mut(), false, par);
        logvar_head.bprop_input_acc(v2(&buf.dlv, b, l), dh, true, par);
        encoder.backward_from_ws(enc_ws, false, par);
        Ok(loss)
    }

    /// The importance-weighted bound with `k = iwae_k` samples per image (Burda et al.
    /// 2016, eq. 8): `L_k(y) = log (1/k) sum_i w_i`, `w_i = p(y|z_i) p(z_i) / q(z_i|y)`,
    /// `z_i = mu + sigma eps_i`. The loss is `-sum L_k`; its gradient is the
    /// normalized-weight average `-sum_i w~_i grad log w_i` (reparameterized).
    fn forward_backward_iwae(&mut self, rng: &mut impl Rng, train: bool) -> Result<VaeLoss> {
        let par = crate::threads::gemm_parallelism();
        let b = self.enc_ws.batch();
        let (l, k) = (self.config.latent, self.config.iwae_k);
        let n = b * k; // decoder rows: row r = i * k + j (image i, sample j)
        let Vae {
            encoder,
            mu_head,
            logvar_head,
            decoder,
            enc_ws,
            dec_ws,
            buf,
            config,
            ..
        } = self;
        for v in [&mut buf.mu, &mut buf.lv, &mut buf.dmu, &mut buf.dlv] {
            grow(v, b * l);
        }
        for v in [&mut buf.eps, &mut buf.z] {
            grow(v, n * l);
        }
        if buf.lw.len() < n {
            buf.lw.resize(n, 0.0);
            buf.cost.resize(n, 0.0);
        }
        let h = encoder.forward_from_ws(enc_ws, par); // [b, H]
        mu_head.fprop(h, v2m(&mut buf.mu, b, l), par); // [b, L]
        logvar_head.fprop(h, v2m(&mut buf.lv, b, l), par); // [b, L]
        // z_ij = mu_i + sigma_i eps_ij; log p(z) - log q(z|y) = -|z|^2/2 + |eps|^2/2 + sum lv/2.
        {
            let mut zin = decoder.input_mut(dec_ws, n); // [b k, L]
            for r in 0..n {
                let i = r / k;
                let mut acc = 0.0f64;
                for c in 0..l {
                    let (m, lv) = (buf.mu[i * l + c], buf.lv[i * l + c]);
                    let e: f32 = rng.sample(StandardNormal);
                    let z = m + e * (0.5 * lv).exp();
                    buf.eps[r * l + c] = e;
                    buf.z[r * l + c] = z;
                    zin[[r, c]] = z;
                    acc += 0.5 * ((e as f64).powi(2) + lv as f64 - (z as f64).powi(2));
                }
                buf.lw[r] = acc;
            }
        }
        decoder.forward_from_ws(dec_ws, par); // [b k, D]
        let x = enc_ws.state(0); // [b, D]
        let (out, mut dout) = dec_ws.out_and_grad_out_mut();
        let likelihood = config.likelihood;
        for r in 0..n {
            let xi = x.row(r / k);
            let o = out.row(r);
            let g = dout.row_mut(r);
            buf.cost[r] = row_energy(likelihood, o, xi, Some(g));
            buf.lw[r] -= buf.cost[r];
        }
        // Normalized weights per image; the bound; the weighted reconstruction energy.
        let (mut bound, mut recon) = (0.0f64, 0.0f64);
        for i in 0..b {
            let lw = &mut buf.lw[i * k..(i + 1) * k];
            let m = lw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = lw.iter().map(|&v| (v - m).exp()).sum();
            bound += m + s.ln() - (k as f64).ln();
            for (j, w) in lw.iter_mut().enumerate() {
                *w = (*w - m).exp() / s; // now w~_ij
                recon += *w * buf.cost[i * k + j];
            }
        }
        let loss = VaeLoss {
            recon,
            kl: -bound - recon,
            n: b,
            kl_weight: 1.0,
        };
        if !loss.total().is_finite() {
            return Err(Error::Diverged(format!(
                "importance-weighted loss is {} (k = {k})",
                loss.total()
            )));
        }
        if !train {
            return Ok(loss);
        }
        // Each sample's energy gradient weighted by w~.
        for (r, mut g) in dout.rows_mut().into_iter().enumerate() {
            let w = buf.lw[r] as f32;
            g.mapv_inplace(|v| v * w);
        }
        decoder.backward_from_ws(dec_ws, true, par);
        let dz = dec_ws.grad(0); // [b k, L], already weighted
        buf.dmu[..b * l].fill(0.0);
        buf.dlv[..b * l].fill(0.0);
        for r in 0..n {
            let i = r / k;
            let w = buf.lw[r] as f32;
            for c in 0..l {
                let lv = buf.lv[i * l + c];
                let g = dz[[r, c]] + w * buf.z[r * l + c];
                buf.dmu[i * l + c] += g;
                buf.dlv[i * l + c] += 0.5 * g * buf.eps[r * l + c] * (0.5 * lv).exp();
            }
        }
        for v in &mut buf.dlv[..b * l] {
            *v -= 0.5;
        }
        let (h, mut dh) = enc_ws.out_and_grad_out_mut(); // [b, H]
        mu_head.accumulate_weight_grad(h, v2(&buf.dmu, b, l), par);
        logvar_head.accumulate_weight_grad(h, v2(&buf.dlv, b, l), par);
        mu_head.bprop_input_acc(v2(&buf.dmu, b, l), dh.view_mut(), false, par);
        logvar_head.bprop_input_acc(v2(&buf.dlv, b, l), dh, true, par);
        encoder.backward_from_ws(enc_ws, false, par);
        Ok(loss)
    }

    /// The decoder energies `E(y_r, z_r) = C(y_r, Dec(z_r))` of each row (nats), and
    /// when `grad` their gradients `dE/dz` (`[batch, latent]`).
    pub fn decoder_energy(
        &mut self,
        y: ArrayView2<f32>,
        z: ArrayView2<f32>,
        grad: Option<ArrayViewMut2<f32>>,
    ) -> Result<Vec<f64>> {
        self.check_width(&y)?;
        if z.ncols() != self.config.latent || z.nrows() != y.nrows() {
            return Err(Error::Shape {
                what: "latent codes z".into(),
                expected: vec![y.nrows(), self.config.latent],
                found: vec![z.nrows(), z.ncols()],
            });
        }
        let par = crate::threads::gemm_parallelism();
        let lik = self.config.likelihood;
        self.decoder.forward(z, &mut self.dec_ws, par); // [b, D]
        let (out, mut dout) = self.dec_ws.out_and_grad_out_mut();
        let e: Vec<f64> = (0..y.nrows())
            .map(|r| row_energy(lik, out.row(r), y.row(r), Some(dout.row_mut(r))))
            .collect();
        if let Some(mut g) = grad {
            let go = self.dec_ws.grad(self.decoder.len()).to_owned();
            self.decoder
                .backward_input(go.view(), &mut self.dec_ws, par);
            g.assign(&self.dec_ws.grad(0));
        }
        Ok(e)
    }

    /// One optimizer step on the batch `x`.
    pub fn train_step(
        &mut self,
        x: ArrayView2<f32>,
        rng: &mut impl Rng,
        opt: &mut dyn Optimizer,
    ) -> Result<VaeLoss> {
        self.check_width(&x)?;
        self.encoder
            .input_mut(&mut self.enc_ws, x.nrows())
            .assign(&x);
        self.step_ws(rng, opt)
    }

    /// One optimizer step on the batch already in the encoder's input state.
    fn step_ws(&mut self, rng: &mut impl Rng, opt: &mut dyn Optimizer) -> Result<VaeLoss> {
        self.zero_grad();
        let l = self.forward_backward_ws(rng, true)?;
        if let Some(c) = self.clip_norm {
            crate::nn::optim::clip_grad_norm(self, c);
        }
        opt.step(self);
        Ok(l)
    }

    /// One epoch over `data` in shuffled mini-batches of `batch` rows (the last one
    /// smaller); returns the summed loss. Stops with [`Error::Diverged`] on NaN.
    pub fn train_epoch(
        &mut self,
        data: ArrayView2<f32>,
        batch: usize,
        rng: &mut impl Rng,
        opt: &mut dyn Optimizer,
    ) -> Result<VaeLoss> {
        self.check_width(&data)?;
        if batch == 0 {
            return Err(Error::invalid("batch", "must be positive"));
        }
        let n = data.nrows();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let mut total = VaeLoss::default();
        for idx in order.chunks(batch) {
            let mut xb = self.encoder.input_mut(&mut self.enc_ws, idx.len()); // [nb, D]
            for (mut row, &i) in xb.rows_mut().into_iter().zip(idx) {
                if self.binarize {
                    for (v, &p) in row.iter_mut().zip(data.row(i)) {
                        *v = f32::from(u8::from(rng.r#gen::<f32>() < p));
                    }
                } else {
                    row.assign(&data.row(i));
                }
            }
            total.add(&self.step_ws(rng, opt)?);
        }
        Ok(total)
    }

    /// One optimizer step on the rows `idx` of `data` (dynamically binarized when
    /// [`Vae::binarize`]): what a training loop that checkpoints inside an epoch calls.
    pub fn train_batch(
        &mut self,
        data: ArrayView2<f32>,
        idx: &[usize],
        rng: &mut impl Rng,
        opt: &mut dyn Optimizer,
    ) -> Result<VaeLoss> {
        self.check_width(&data)?;
        if let Some(&i) = idx.iter().find(|&&i| i >= data.nrows()) {
            return Err(Error::invalid(
                "batch rows",
                format!("row {i} of {} rows", data.nrows()),
            ));
        }
        let mut xb = self.encoder.input_mut(&mut self.enc_ws, idx.len()); // [nb, D]
        for (mut row, &i) in xb.rows_mut().into_iter().zip(idx) {
            if self.binarize {
                for (v, &p) in row.iter_mut().zip(data.row(i)) {
                    *v = f32::from(u8::from(rng.r#gen::<f32>() < p));
                }
            } else {
                row.assign(&data.row(i));
            }
        }
        self.step_ws(rng, opt)
    }

    /// The loss over `data` (one z sample per row, as the PyTorch example's test loop),
    /// in batches of `batch` rows; no gradients.
    pub fn evaluate(
        &mut self,
        data: ArrayView2<f32>,
        batch: usize,
        rng: &mut impl Rng,
    ) -> Result<VaeLoss> {
        let mut total = VaeLoss::default();
        for chunk in data.axis_chunks_iter(Axis(0), batch.max(1)) {
            let c = chunk.as_standard_layout();
            total.add(&self.forward_backward(c.view(), rng, false)?);
        }
        Ok(total)
    }

    /// The means and log-variances of `q(z|y)`, each `[batch, latent]`.
    pub fn encode(&mut self, x: ArrayView2<f32>) -> Result<(Array2<f32>, Array2<f32>)> {
        self.check_width(&x)?;
        let par = crate::threads::gemm_parallelism();
        let h = self.encoder.forward(x, &mut self.enc_ws, par);
        let mut mu = Array2::zeros((x.nrows(), self.config.latent));
        let mut lv = Array2::zeros((x.nrows(), self.config.latent));
        self.mu_head.fprop(h, mu.view_mut(), par);
        self.logvar_head.fprop(h, lv.view_mut(), par);
        Ok((mu, lv))
    }

    /// The decoder's mean for codes `z` (`[batch, latent]`): pixel probabilities for the
    /// Bernoulli energy, the mean for the Gaussian.
    pub fn decode(&mut self, z: ArrayView2<f32>) -> Array2<f32> {
        let par = crate::threads::gemm_parallelism();
        let out = self.decoder.forward(z, &mut self.dec_ws, par);
        match self.config.likelihood {
            Likelihood::Bernoulli => out.mapv(crate::nn::fastmath::sigmoid),
            Likelihood::Gaussian { .. } => out.to_owned(),
        }
    }
}

impl Parameters for Vae {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.encoder.visit_mut(f);
        self.mu_head.visit_mut(f);
        self.logvar_head.visit_mut(f);
        self.decoder.visit_mut(f);
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        self.encoder.visit_named(&format!("{prefix}encoder."), f);
        self.mu_head.visit_named(&format!("{prefix}mu."), f);
        self.logvar_head.visit_named(&format!("{prefix}logvar."), f);
        self.decoder.visit_named(&format!("{prefix}decoder."), f);
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        self.encoder
            .visit_named_mut(&format!("{prefix}encoder."), f);
        self.mu_head.visit_named_mut(&format!("{prefix}mu."), f);
        self.logvar_head
            .visit_named_mut(&format!("{prefix}logvar."), f);
        self.decoder
            .visit_named_mut(&format!("{prefix}decoder."), f);
    }
}
