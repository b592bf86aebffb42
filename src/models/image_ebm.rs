//! An energy over images, `E_theta(x)`: a convolutional network (Nijkamp et al. 2019's
//! "vanilla" ConvNet, sized to the image), trained by contrastive maximum likelihood
//! (SPEC §3):
//!
//! `dL/dtheta = <dE/dtheta>_data - <dE/dtheta>_model + alpha d(<E(x+)^2> + <E(x-)^2>)/dtheta`
//!
//! with the model's expectation taken over negatives drawn by stochastic-gradient
//! Langevin dynamics (SGLD, [`Sgld`]):
//!
//! `x_{k+1} = clamp(x_k - s dE/dx(x_k) + sigma xi, -1, 1)`, `xi ~ N(0, I)`,
//!
//! started from noise (short-run, Nijkamp et al. 2019) or from a replay buffer of past
//! negatives (persistent, Du & Mordatch 2019; Grathwohl et al. 2020). The energy
//! regularizer `alpha (E+^2 + E-^2)` is Du & Mordatch's. Pixels are in `[-1, 1]`.
//!
//! Network (PyTorch layout, every conv followed by LeakyReLU but the last):
//! `conv3x3 s1 p1 (c -> f)`, then `conv4x4 s2 p1` doubling the channels while the side is
//! above 4 (28 -> 14 -> 7 -> 3; 8 -> 4), then one conv over the whole remaining map to a
//! single energy. With `spectral_norm`, every conv is spectrally normalized.

use crate::nn::conv::{Conv2d, ConvGeom};
use crate::nn::init::Init;
use crate::nn::{
    Activation, ActivationKind, Module, Param, Parameters, Sequential, SpectralNorm, Workspace,
    checkpoint,
};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The image energy's architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageEbmConfig {
    /// Image channels, height and width.
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Channels of the first conv (`n_f`); each stride-2 conv doubles them.
    pub features: usize,
    /// LeakyReLU slope.
    pub slope: f32,
    /// Spectral normalization of every conv (Du & Mordatch 2019).
    pub spectral_norm: bool,
}

impl ImageEbmConfig {
    /// A config for `[channels, height, width]` images with `features` channels.
    pub fn new(channels: usize, (height, width): (usize, usize), features: usize) -> Self {
        ImageEbmConfig {
            channels,
            height,
            width,
            features,
            slope: 0.2,
            spectral_norm: false,
        }
    }

    /// Pixels per image, `c h w`.
    pub fn pixels(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Check the sizes; the error names the field.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("channels", self.channels),
            ("height", self.height),
            ("width", self.width),
            ("features", self.features),
        ] {
            if v == 0 {
                return Err(Error::invalid(name, "must be at least 1"));
            }
        }
        if self.height < 4 || self.width < 4 || self.height > 512 || self.width > 512 {
            return Err(Error::invalid(
                "image size",
                format!("{}x{} (each side must be 4..=512)", self.height, self.width),
            ));
        }
        if self.features > 512 {
            return Err(Error::invalid("features", "must be at most 512"));
        }
        if !(self.slope.is_finite() && (0.0..1.0).contains(&self.slope)) {
            return Err(Error::invalid("slope", "must be in [0, 1)"));
        }
        Ok(())
    }

    /// The convolutions, in order: `(geometry, followed by LeakyReLU)`.
    pub fn convs(&self) -> Result<Vec<ConvGeom>> {
        self.validate()?;
        let mut out = Vec::new();
        let (mut c, mut h, mut w) = (self.channels, self.height, self.width);
        let g = ConvGeom::new("conv 0", (c, h, w), self.features, (3, 3), 1, 1)?;
        out.push(g);
        c = self.features;
        while h > 4 && w > 4 {
            let g = ConvGeom::new(
                &format!("conv {}", out.len()),
                (c, h, w),
                2 * c,
                (4, 4),
                2,
                1,
            )?;
            (c, h, w) = (2 * c, g.h_out(), g.w_out());
            out.push(g);
        }
        out.push(ConvGeom::new(
            &format!("conv {}", out.len()),
            (c, h, w),
            1,
            (h, w),
            1,
            0,
        )?);
        Ok(out)
    }

    /// The network, drawn with `rng`.
    pub fn build(&self, rng: &mut impl Rng) -> Result<Sequential> {
        let convs = self.convs()?;
        let n = convs.len();
        let mut layers: Vec<Box<dyn Module>> = Vec::new();
        for (i, g) in convs.into_iter().enumerate() {
            let conv = Box::new(Conv2d::new(g, Init::PyTorchDefault, rng));
            layers.push(if self.spectral_norm {
                Box::new(SpectralNorm::new(conv, rng)?)
            } else {
                conv
            });
            if i + 1 < n {
                layers.push(Box::new(Activation(ActivationKind::LeakyRelu {
                    slope: self.slope,
                })));
            }
        }
        Sequential::new(self.pixels(), layers)
    }

    /// A line for the run's header: the layers' shapes.
    pub fn describe(&self) -> String {
        match self.convs() {
            Ok(cs) => {
                let parts: Vec<String> = cs
                    .iter()
                    .map(|g| format!("{}x{}x{}", g.c_out, g.h_out(), g.w_out()))
                    .collect();
                format!(
                    "conv energy {}x{}x{} -> {}{}",
                    self.channels,
                    self.height,
                    self.width,
                    parts.join(" -> "),
                    if self.spectral_norm {
                        " (spectral norm)"
                    } else {
                        ""
                    }
                )
            }
            Err(e) => format!("invalid conv energy: {e}"),
        }
    }
}

/// A convolutional energy over images.
#[derive(Clone)]
pub struct ImageEbm {
    pub cfg: ImageEbmConfig,
    pub net: Sequential,
}

/// Rows per tile of a sampler's energy-gradient pass (each thread runs whole tiles).
const TILE: usize = 16;

impl ImageEbm {
    /// A network drawn with `rng`.
    pub fn new(cfg: ImageEbmConfig, rng: &mut impl Rng) -> Result<Self> {
        let net = cfg.build(rng)?;
        Ok(ImageEbm { cfg, net })
    }

    /// `E(x)` `[n]` and `dE/dx` `[n, pixels]` for images `x` `[n, pixels]`, on the thread
    /// pool (tiles of 16 images per thread, one workspace each from `pool`).
    pub fn energy_and_grad(
        &self,
        x: ArrayView2<f32>,
        energy: &mut [f32],
        grad: ArrayViewMut2<f32>,
        pool: &mut Vec<Workspace>,
    ) {
        self.net.energy_and_grad(x, energy, grad, pool, TILE);
    }

    /// `E(x)` for every row, in blocks of 256 rows.
    pub fn energies(&self, x: ArrayView2<f32>) -> Vec<f32> {
        let mut out = Vec::with_capacity(x.nrows());
        let mut ws = self.net.workspace(256.min(x.nrows().max(1)));
        let par = crate::threads::gemm_parallelism();
        for block in x.axis_chunks_iter(ndarray::Axis(0), 256) {
            out.extend(self.net.forward(block, &mut ws, par).iter().copied());
        }
        out
    }

    /// The contrastive loss and its weight gradient for `2b` images already in `ws`'s
    /// input (see [`Sequential::input_mut`]): `b` positives, then `b` negatives.
    ///
    /// `L = <E(x+)> - <E(x-)> + alpha (<E(x+)^2> + <E(x-)^2>)`, so
    /// `dL/dE_i = (+-1 + 2 alpha E_i) / b`; the gradients are zeroed first, then
    /// accumulated. Returns `L`, `<E(x+)>` and `<E(x-)>`.
    pub fn contrastive_grad(
        &mut self,
        ws: &mut Workspace,
        b: usize,
        alpha: f64,
        par: crate::nn::Parallelism,
    ) -> (f64, f64, f64) {
        self.net.forward_from_ws(ws, par);
        let (out, mut g) = ws.out_and_grad_out_mut(); // [2b, 1] each
        assert_eq!(out.nrows(), 2 * b, "contrastive_grad: 2b rows");
        let (mut ep, mut en, mut ep2, mut en2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (r, (&e, gr)) in out.iter().zip(g.iter_mut()).enumerate() {
            let e = e as f64;
            let sign = if r < b { 1.0 } else { -1.0 };
            *gr = ((sign + 2.0 * alpha * e) / b as f64) as f32;
            if r < b {
                ep += e;
                ep2 += e * e;
            } else {
                en += e;
                en2 += e * e;
            }
        }
        let bf = b as f64;
        let loss = (ep - en) / bf + alpha * (ep2 + en2) / bf;
        self.net.zero_grad();
        self.net.backward_from_ws(ws, false, par);
        (loss, ep / bf, en / bf)
    }

    /// Save the network (parameters and spectral-norm vectors) with `config` (the run's,
    /// to which the architecture is added as `image_ebm`).
    pub fn save(&self, path: &Path, config: &serde_json::Value) -> Result<()> {
        let mut c = config.clone();
        c["image_ebm"] = serde_json::to_value(&self.cfg).expect("config serializes");
        checkpoint::save(path, &self.net, &c)
    }

    /// Load a network saved by [`ImageEbm::save`]; returns it with the saved config.
    pub fn load(path: &Path) -> Result<(Self, serde_json::Value)> {
        let config = checkpoint::read_config(path)?;
        let cfg: ImageEbmConfig = serde_json::from_value(config["image_ebm"].clone())
            .map_err(|e| Error::format(path, format!("no image energy config: {e}")))?;
        cfg.validate()
            .map_err(|e| Error::format(path, e.to_string()))?;
        let mut rng = <rand_xoshiro::Xoshiro256PlusPlus as rand::SeedableRng>::seed_from_u64(0);
        let mut m = ImageEbm::new(cfg, &mut rng)?;
        checkpoint::check_stored_size(path, "image_ebm", Some(m.state_len() as u64))?;
        let saved = checkpoint::load(path, &mut m.net)?;
        m.net.refresh(0);
        Ok((m, saved))
    }

    /// Scalars of the saved state (parameters and buffers).
    fn state_len(&self) -> usize {
        let mut n = 0;
        self.net.visit_state("", &mut |_, p| n += p.len());
        n
    }
}

impl Parameters for ImageEbm {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.net.visit_mut(f)
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        self.net.visit_named(prefix, f)
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        self.net.visit_named_mut(prefix, f)
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        self.net.visit_buffers(prefix, f)
    }
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        self.net.visit_buffers_mut(prefix, f)
    }
}

/// Stochastic-gradient Langevin dynamics on images:
/// `x <- clamp(x - step dE/dx + noise xi, -1, 1)`, `steps` times.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sgld {
    pub steps: usize,
    /// `s`, the step on the energy gradient.
    pub step_size: f32,
    /// `sigma`, the standard deviation of the added noise.
    pub noise: f32,
}

impl Sgld {
    /// Check the settings; the error names the flag.
    pub fn validate(&self) -> Result<()> {
        if !(self.step_size.is_finite() && self.step_size >= 0.0) {
            return Err(Error::invalid("sgld-step", "must be a finite number >= 0"));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(Error::invalid("sgld-noise", "must be a finite number >= 0"));
        }
        if self.steps > 100_000 {
            return Err(Error::invalid("sgld-steps", "must be at most 100000"));
        }
        Ok(())
    }

    /// Run the chains `x` `[n, pixels]` in place. With `free` (`[pixels]`, 1 where a pixel
    /// moves, 0 where it is held), only the free pixels change (inpainting). Returns the
    /// mean `|dE/dx|` (L2 norm per image) over the steps, Nijkamp et al.'s `r_s_t`.
    pub fn run(
        &self,
        model: &ImageEbm,
        x: &mut Array2<f32>,
        free: Option<&[f32]>,
        rng: &mut impl Rng,
        scratch: &mut SgldScratch,
    ) -> f64 {
        let (n, d) = x.dim();
        scratch.ensure(n, d);
        let mut grad_norm = 0.0;
        for _ in 0..self.steps {
            let g = &mut scratch.grad;
            model.energy_and_grad(
                x.view(),
                &mut scratch.energy[..n],
                g.view_mut(),
                &mut scratch.pool,
            );
            grad_norm += g
                .rows()
                .into_iter()
                .map(|r| r.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt())
                .sum::<f64>()
                / n.max(1) as f64;
            for (xr, gr) in x.rows_mut().into_iter().zip(g.rows()) {
                for (j, (xv, &gv)) in xr.into_iter().zip(gr.iter()).enumerate() {
                    let m = free.map_or(1.0, |f| f[j]);
                    if m == 0.0 {
                        continue;
                    }
                    let xi: f32 = StandardNormal.sample(rng);
                    *xv = (*xv - self.step_size * gv + self.noise * xi).clamp(-1.0, 1.0);
                }
            }
        }
        grad_norm / self.steps.max(1) as f64
    }
}

/// Buffers of an SGLD run, kept between runs (no allocation in steady state).
#[derive(Default)]
pub struct SgldScratch {
    energy: Vec<f32>,
    grad: Array2<f32>,
    pool: Vec<Workspace>,
}

impl SgldScratch {
    fn ensure(&mut self, n: usize, d: usize) {
        if self.energy.len() < n {
            self.energy.resize(n, 0.0);
        }
        if self.grad.dim() != (n, d) {
            self.grad = Array2::zeros((n, d));
        }
    }
}

/// `n` images of uniform noise on `[-1, 1]`.
pub fn uniform_noise(n: usize, d: usize, rng: &mut impl Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn((n, d), || rng.gen_range(-1.0f32..=1.0))
}

/// Inpainting: the pixels where `free` is 1 start from uniform noise and move by
/// `sgld`, the others hold the image; with `chains > 1`, each image is completed by that
/// many independent chains and their mean is returned (the posterior-mean estimate, the
/// completion of least expected squared error). Returns the restored images (`[-1, 1]`).
pub fn inpaint(
    model: &ImageEbm,
    images: ArrayView2<f32>,
    free: &[f32],
    sgld: &Sgld,
    chains: usize,
    rng: &mut impl Rng,
) -> Array2<f32> {
    let (n, d) = images.dim();
    let k = chains.max(1);
    let mut x = Array2::zeros((n * k, d)); // [n k, d]: chain c of image i is row i k + c
    for (r, mut row) in x.rows_mut().into_iter().enumerate() {
        for ((v, &m), &y) in row.iter_mut().zip(free).zip(images.row(r / k)) {
            *v = if m != 0.0 {
                rng.gen_range(-1.0f32..=1.0)
            } else {
                y
            };
        }
    }
    let mut scratch = SgldScratch::default();
    sgld.run(model, &mut x, Some(free), rng, &mut scratch);
    let mut out = Array2::zeros((n, d));
    for (r, row) in x.rows().into_iter().enumerate() {
        out.row_mut(r / k).scaled_add(1.0 / k as f32, &row);
    }
    // Held pixels are the image's, exactly (not a rounded mean of k copies).
    for (mut o, y) in out.rows_mut().into_iter().zip(images.rows()) {
        for ((v, &m), &yv) in o.iter_mut().zip(free).zip(y) {
            if m == 0.0 {
                *v = yv;
            }
        }
    }
    out
}

/// The mask of the bottom half of an image (1 = missing): rows `h/2..h` of every channel.
pub fn bottom_half_mask(cfg: &ImageEbmConfig) -> Vec<f32> {
    let (h, w) = (cfg.height, cfg.width);
    let mut m = vec![0.0f32; cfg.pixels()];
    for c in 0..cfg.channels {
        for y in h / 2..h {
            m[c * h * w + y * w..c * h * w + (y + 1) * w].fill(1.0);
        }
    }
    m
}
