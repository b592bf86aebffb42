//! Elementwise constraints `z_{k+1} = f(z_k)`, one fused pass each way.
//!
//! bprop: `lam_in = f'(z_in) * lam_out`, with `f'` written from the input or the output:
//!
//! | kind | f(a) | f'(a) |
//! |---|---|---|
//! | ReLU | max(a, 0) | `1[a > 0]` |
//! | LeakyReLU(s) | a if a > 0 else s a | 1 or s |
//! | SiLU | a sigma(a) | sigma(a) + f(a) (1 - sigma(a)), sigma(a) = f(a) / a |
//! | Tanh | tanh a | 1 - f(a)^2 |
//! | Sigmoid | sigma(a) | f(a) (1 - f(a)) |
//! | Softplus | ln(1 + e^a) | sigma(a) |
//! | ELU(al) | a if a > 0 else al (e^a - 1) | 1 or f(a) + al |

use super::fastmath as fm;
use super::{Module, Parallelism, Param, Parameters};
use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which elementwise function.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ActivationKind {
    Relu,
    LeakyRelu { slope: f32 },
    Silu,
    Tanh,
    Sigmoid,
    Softplus,
    Elu { alpha: f32 },
}

/// An activation module (no parameters; any width).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activation(pub ActivationKind);

/// Below this many elements a pass runs on one thread.
const PAR_MIN: usize = 1 << 16;
const CHUNK: usize = 1 << 14;

impl ActivationKind {
    /// The hidden-layer activation named `silu`, `relu`, `leaky-relu` (slope 0.2), `elu`
    /// (alpha 1), `tanh` or `softplus`; an unknown name is an error naming `flag`.
    pub fn from_name(name: &str, flag: &str) -> crate::Result<Self> {
        Ok(match name {
            "silu" => ActivationKind::Silu,
            "relu" => ActivationKind::Relu,
            "leaky-relu" | "leaky_relu" => ActivationKind::LeakyRelu { slope: 0.2 },
            "elu" => ActivationKind::Elu { alpha: 1.0 },
            "tanh" => ActivationKind::Tanh,
            "softplus" => ActivationKind::Softplus,
            other => {
                return Err(crate::Error::invalid(
                    flag,
                    format!("`{other}` is not one of silu, relu, leaky-relu, elu, tanh, softplus"),
                ));
            }
        })
    }

    /// `f(a)` for one element.
    #[inline(always)]
    pub fn f(self, a: f32) -> f32 {
        match self {
            ActivationKind::Relu => a.max(0.0),
            ActivationKind::LeakyRelu { slope } => {
                if a > 0.0 {
                    a
                } else {
                    slope * a
                }
            }
            ActivationKind::Silu => a / (1.0 + fm::exp(-a)),
            ActivationKind::Tanh => fm::tanh(a),
            ActivationKind::Sigmoid => fm::sigmoid(a),
            ActivationKind::Softplus => fm::softplus(a),
            ActivationKind::Elu { alpha } => {
                if a > 0.0 {
                    a
                } else {
                    alpha * (fm::exp(a) - 1.0)
                }
            }
        }
    }
    /// `f'(a)` given the input `a` and the output `y = f(a)`.
    #[inline(always)]
    pub fn df(self, a: f32, y: f32) -> f32 {
        match self {
            ActivationKind::Relu => {
                if a > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            ActivationKind::LeakyRelu { slope } => {
                if a > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            ActivationKind::Silu => {
                // sigma(a) = y / a recovers the forward pass's sigmoid without a second exp.
                let s = if a.abs() > 1e-20 { y / a } else { 0.5 };
                s + y * (1.0 - s)
            }
            ActivationKind::Tanh => 1.0 - y * y,
            ActivationKind::Sigmoid => y * (1.0 - y),
            ActivationKind::Softplus => fm::sigmoid(a),
            ActivationKind::Elu { alpha } => {
                if a > 0.0 {
                    1.0
                } else {
                    y + alpha
                }
            }
        }
    }
    fn name(self) -> &'static str {
        match self {
            ActivationKind::Relu => "relu",
            ActivationKind::LeakyRelu { .. } => "leaky_relu",
            ActivationKind::Silu => "silu",
            ActivationKind::Tanh => "tanh",
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Softplus => "softplus",
            ActivationKind::Elu { .. } => "elu",
        }
    }
}

// One monomorphized loop per kind, so each inner loop is branch-free and vectorizes.
macro_rules! dispatch {
    ($kind:expr, $k:ident => $body:expr) => {
        match $kind {
            ActivationKind::Relu => {
                let $k = ActivationKind::Relu;
                $body
            }
            ActivationKind::Silu => {
                let $k = ActivationKind::Silu;
                $body
            }
            ActivationKind::Tanh => {
                let $k = ActivationKind::Tanh;
                $body
            }
            ActivationKind::Sigmoid => {
                let $k = ActivationKind::Sigmoid;
                $body
            }
            ActivationKind::Softplus => {
                let $k = ActivationKind::Softplus;
                $body
            }
            k @ ActivationKind::LeakyRelu { .. } => {
                let $k = k;
                $body
            }
            k @ ActivationKind::Elu { .. } => {
                let $k = k;
                $body
            }
        }
    };
}

#[inline(always)]
fn fwd_slice(k: ActivationKind, x: &[f32], y: &mut [f32]) {
    // The kind is matched inside the SIMD closure, so each arm's loop sees a constant
    // kind and vectorizes.
    super::simd::dispatch(
        #[inline(always)]
        || {
            dispatch!(k, kk => {
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = kk.f(x);
                }
            })
        },
    )
}

#[inline(always)]
fn bwd_slice(k: ActivationKind, a: &[f32], y: &[f32], lo: &[f32], li: &mut [f32]) {
    super::simd::dispatch(
        #[inline(always)]
        || {
            dispatch!(k, kk => {
                for (((li, &lo), &a), &y) in li.iter_mut().zip(lo).zip(a).zip(y) {
                    *li = kk.df(a, y) * lo;
                }
            })
        },
    )
}

#[inline(always)]
fn bias_fwd_slice(k: ActivationKind, bias: &[f32], a: &mut [f32], y: &mut [f32]) {
    super::simd::dispatch(
        #[inline(always)]
        || {
            dispatch!(k, kk => {
                for (ar, yr) in a.chunks_exact_mut(bias.len()).zip(y.chunks_exact_mut(bias.len())) {
                    for ((a, y), &b) in ar.iter_mut().zip(yr.iter_mut()).zip(bias) {
                        let v = *a + b;
                        *a = v;
                        *y = kk.f(v);
                    }
                }
            })
        },
    )
}

impl Activation {
    /// The fused pass after a Linear layer's product: `a += b` (row-wise bias, `a` is
    /// `[rows, bias.len()]` row-major) and `y = f(a)`, in one sweep.
    pub fn bias_forward_slice(&self, bias: &[f32], a: &mut [f32], y: &mut [f32], par: Parallelism) {
        let k = self.0;
        let w = bias.len().max(1);
        if matches!(par, Parallelism::Rayon(_)) && a.len() >= PAR_MIN {
            let rows = (CHUNK / w).max(1) * w;
            a.par_chunks_mut(rows)
                .zip(y.par_chunks_mut(rows))
                .for_each(|(a, y)| bias_fwd_slice(k, bias, a, y))
        } else {
            bias_fwd_slice(k, bias, a, y)
        }
    }
    /// Apply `f` to a slice (used by fused models).
    pub fn forward_slice(&self, x: &[f32], y: &mut [f32], par: Parallelism) {
        let k = self.0;
        if matches!(par, Parallelism::Rayon(_)) && x.len() >= PAR_MIN {
            y.par_chunks_mut(CHUNK)
                .zip(x.par_chunks(CHUNK))
                .for_each(|(y, x)| fwd_slice(k, x, y))
        } else {
            fwd_slice(k, x, y)
        }
    }
    /// `lam_in = f'(a) * lam_out` on slices.
    pub fn backward_slice(
        &self,
        a: &[f32],
        y: &[f32],
        lam_out: &[f32],
        lam_in: &mut [f32],
        par: Parallelism,
    ) {
        let k = self.0;
        if matches!(par, Parallelism::Rayon(_)) && a.len() >= PAR_MIN {
            lam_in
                .par_chunks_mut(CHUNK)
                .zip(lam_out.par_chunks(CHUNK))
                .zip(a.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
                .for_each(|((li, lo), (a, y))| bwd_slice(k, a, y, lo, li))
        } else {
            bwd_slice(k, a, y, lam_out, lam_in)
        }
    }
}

impl Parameters for Activation {
    fn visit_mut(&mut self, _f: &mut dyn FnMut(&mut Param)) {}
    fn visit_named(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Param)) {}
    fn visit_named_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, &mut Param)) {}
}

impl Module for Activation {
    fn kind(&self) -> &'static str {
        self.0.name()
    }
    fn out_dim(&self, in_dim: usize) -> crate::Result<usize> {
        Ok(in_dim)
    }
    fn fprop(&self, z_in: ArrayView2<f32>, mut z_out: ArrayViewMut2<f32>, par: Parallelism) {
        match (z_in.as_slice(), z_out.as_slice_mut()) {
            (Some(x), Some(y)) => self.forward_slice(x, y, par),
            _ => {
                let k = self.0;
                Zip::from(&mut z_out)
                    .and(&z_in)
                    .for_each(|y, &x| *y = k.f(x));
            }
        }
    }
    fn bprop_input(
        &self,
        z_in: ArrayView2<f32>,
        z_out: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        mut lam_in: ArrayViewMut2<f32>,
        par: Parallelism,
    ) {
        match (
            z_in.as_slice(),
            z_out.as_slice(),
            lam_out.as_slice(),
            lam_in.as_slice_mut(),
        ) {
            (Some(a), Some(y), Some(lo), Some(li)) => self.backward_slice(a, y, lo, li, par),
            _ => {
                let k = self.0;
                Zip::from(&mut lam_in)
                    .and(&z_in)
                    .and(&z_out)
                    .and(&lam_out)
                    .for_each(|li, &a, &y, &lo| *li = k.df(a, y) * lo);
            }
        }
    }
    fn box_clone(&self) -> Box<dyn Module> {
        Box::new(*self)
    }
    fn as_activation(&self) -> Option<&Activation> {
        Some(self)
    }
}
