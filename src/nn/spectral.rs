//! Spectral normalization (Miyato et al. 2018): a layer's weight divided by its largest
//! singular value, `W = W_orig / sigma(W_orig)`, so the layer is 1-Lipschitz (Du &
//! Mordatch 2019 use it to keep an image energy smooth).
//!
//! `sigma` comes from power iteration on the weight read as a matrix `[rows, cols]`
//! (rows = the first axis: output channels of a `Conv2d`, outputs of a `Linear`), with
//! persistent vectors `u` `[rows]` and `v` `[cols]` as PyTorch's
//! `torch.nn.utils.spectral_norm`: `v = normalize(W_orig^T u)`, `u = normalize(W_orig v)`,
//! `sigma = u^T W_orig v`. The gradient treats `u` and `v` as constants (as PyTorch does):
//!
//! `dC/dW_orig = G / sigma - (<G, W_orig> / sigma^2) u v^T`, with `G = dC/dW`.
//!
//! The wrapped module holds `W`; [`SpectralNorm::refresh`] recomputes it from `W_orig`
//! and must run after every change of `W_orig` (an optimizer step, a load): a trainer
//! calls [`Module::refresh`] on its network after each step (one power iteration per
//! step, as PyTorch does once per training forward), an evaluation with zero iterations.
//! `u` and `v` are buffers: saved in checkpoints (`weight_u`, `weight_v`), not trained.

use super::{Module, Parallelism, Param, Parameters};
use crate::{Error, Result};
use ndarray::{ArrayView2, ArrayViewMut2};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// A module (one with a parameter named `weight`: `Conv2d`, `Linear`) whose weight is
/// spectrally normalized.
#[derive(Clone)]
pub struct SpectralNorm {
    /// The wrapped module; its `weight` is `W_orig / sigma`.
    pub inner: Box<dyn Module>,
    /// The trained weight, shaped as the inner one.
    pub weight_orig: Param,
    /// Left singular vector estimate `[rows]` (a buffer: its gradient is unused).
    pub u: Param,
    /// Right singular vector estimate `[cols]`.
    pub v: Param,
    /// The last `sigma`.
    pub sigma: f32,
}

fn normalize(x: &mut [f32]) {
    let n = x
        .iter()
        .map(|&v| v as f64 * v as f64)
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    x.iter_mut().for_each(|v| *v = (*v as f64 / n) as f32);
}

fn with_weight<R>(m: &mut dyn Module, f: impl FnOnce(&mut Param) -> R) -> Option<R> {
    let mut f = Some(f);
    let mut out = None;
    m.visit_named_mut("", &mut |n, p| {
        if n == "weight"
            && let Some(f) = f.take()
        {
            out = Some(f(p));
        }
    });
    out
}

impl SpectralNorm {
    /// Wrap `inner` (which must have a parameter named `weight` of at least 2 axes); `u`
    /// and `v` start as normalized Gaussian draws, then 15 power iterations (PyTorch's
    /// `parametrizations.spectral_norm` does the same at creation).
    pub fn new(mut inner: Box<dyn Module>, rng: &mut impl Rng) -> Result<Self> {
        let kind = inner.kind();
        let w = with_weight(inner.as_mut(), |p| p.clone())
            .filter(|p| p.shape.len() >= 2)
            .ok_or_else(|| {
                Error::invalid(
                    "spectral norm",
                    format!("a {kind} layer has no weight matrix"),
                )
            })?;
        let rows = w.shape[0];
        let cols = w.len() / rows.max(1);
        let mut draw = |n: usize| {
            let mut x: Vec<f32> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
            normalize(&mut x);
            Param::new(vec![n], x)
        };
        let (u, v) = (draw(rows), draw(cols));
        let mut sn = SpectralNorm {
            inner,
            weight_orig: w,
            u,
            v,
            sigma: 1.0,
        };
        sn.refresh_self(15);
        Ok(sn)
    }

    fn dims(&self) -> (usize, usize) {
        let rows = self.weight_orig.shape[0];
        (rows, self.weight_orig.len() / rows.max(1))
    }

    /// `iters` power iterations on `W_orig` (updating `u`, `v`), then `sigma = u^T W_orig v`
    /// and the inner weight `W_orig / sigma`.
    fn refresh_self(&mut self, iters: usize) {
        let (rows, cols) = self.dims();
        let w = &self.weight_orig.value;
        let (u, v) = (&mut self.u.value, &mut self.v.value);
        for _ in 0..iters {
            // v = normalize(W^T u)
            v.iter_mut().for_each(|x| *x = 0.0);
            for (r, &ur) in w.chunks_exact(cols).zip(u.iter()) {
                v.iter_mut().zip(r).for_each(|(vj, &wj)| *vj += ur * wj);
            }
            normalize(v);
            // u = normalize(W v)
            for (ui, r) in u.iter_mut().zip(w.chunks_exact(cols)) {
                *ui = r.iter().zip(v.iter()).map(|(&a, &b)| a * b).sum();
            }
            normalize(u);
        }
        let sigma: f64 = w
            .chunks_exact(cols)
            .zip(u.iter())
            .map(|(r, &ui)| {
                ui as f64
                    * r.iter()
                        .zip(v.iter())
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum::<f64>()
            })
            .sum();
        debug_assert_eq!(u.len(), rows);
        self.sigma = sigma as f32;
        let s = self.sigma;
        // `weight_orig` and `inner` are distinct fields: W_orig is read in place, not copied.
        let src = &self.weight_orig.value;
        with_weight(self.inner.as_mut(), |p| {
            p.value.iter_mut().zip(src).for_each(|(d, &x)| *d = x / s)
        });
    }
}

impl Parameters for SpectralNorm {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.weight_orig);
        self.inner.visit_named_mut("", &mut |n, p| {
            if n != "weight" {
                f(p)
            }
        });
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        f(&format!("{prefix}weight_orig"), &self.weight_orig);
        let own = format!("{prefix}weight");
        self.inner.visit_named(prefix, &mut |n, p| {
            if n != own {
                f(n, p)
            }
        });
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        f(&format!("{prefix}weight_orig"), &mut self.weight_orig);
        let own = format!("{prefix}weight");
        self.inner.visit_named_mut(prefix, &mut |n, p| {
            if n != own {
                f(n, p)
            }
        });
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        f(&format!("{prefix}weight_u"), &self.u);
        f(&format!("{prefix}weight_v"), &self.v);
    }
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        f(&format!("{prefix}weight_u"), &mut self.u);
        f(&format!("{prefix}weight_v"), &mut self.v);
    }
}

impl Module for SpectralNorm {
    fn kind(&self) -> &'static str {
        "spectral_norm"
    }
    fn out_dim(&self, in_dim: usize) -> Result<usize> {
        self.inner.out_dim(in_dim)
    }
    fn fprop(&self, z_in: ArrayView2<f32>, z_out: ArrayViewMut2<f32>, par: Parallelism) {
        self.inner.fprop(z_in, z_out, par)
    }
    fn bprop_input(
        &self,
        z_in: ArrayView2<f32>,
        z_out: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        lam_in: ArrayViewMut2<f32>,
        par: Parallelism,
    ) {
        self.inner.bprop_input(z_in, z_out, lam_out, lam_in, par)
    }
    fn accumulate_weight_grad(
        &mut self,
        z_in: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        par: Parallelism,
    ) {
        with_weight(self.inner.as_mut(), |p| p.grad.fill(0.0));
        self.inner.accumulate_weight_grad(z_in, lam_out, par);
        let (_, cols) = self.dims();
        let s = self.sigma;
        let (wo, u, v) = (&mut self.weight_orig, &self.u.value, &self.v.value);
        with_weight(self.inner.as_mut(), |p| {
            // G = dC/dW; dC/dW_orig = G / sigma - <G, W_orig> / sigma^2 u v^T
            let dot: f64 = p
                .grad
                .iter()
                .zip(&wo.value)
                .map(|(&g, &w)| g as f64 * w as f64)
                .sum();
            let c = (dot / (s as f64 * s as f64)) as f32;
            for (i, (gr, g)) in wo
                .grad
                .chunks_exact_mut(cols)
                .zip(p.grad.chunks_exact(cols))
                .enumerate()
            {
                for ((d, &gij), &vj) in gr.iter_mut().zip(g).zip(v) {
                    *d += gij / s - c * u[i] * vj;
                }
            }
        });
    }
    fn refresh(&mut self, power_iters: usize) {
        self.inner.refresh(power_iters);
        self.refresh_self(power_iters);
    }
    fn box_clone(&self) -> Box<dyn Module> {
        Box::new(self.clone())
    }
}
