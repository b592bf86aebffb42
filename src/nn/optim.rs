//! Optimizers: one fused pass over each parameter buffer per step.
//!
//! - SGD (PyTorch's semantics): `g <- g + wd w`; with momentum `mu`:
//!   `b <- mu b + g` (`b = g` on the first step); Nesterov: `g <- g + mu b`, else `g <- b`;
//!   `w <- w - lr g`.
//! - Adam (Kingma, Ba 2015): `g <- g + wd w`; `m <- b1 m + (1-b1) g`;
//!   `v <- b2 v + (1-b2) g^2`; `w <- w - lr/(1-b1^t) m / (sqrt(v/(1-b2^t)) + eps)`.
//! - AdamW (Loshchilov, Hutter 2019): decoupled decay `w <- w (1 - lr wd)`, then Adam
//!   with no decay in `g`.
//! - Clipping: scale all gradients by `min(1, max_norm / ||g||_2)` over every parameter.

use super::{Param, Parameters};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters larger than this are updated in parallel chunks.
const PAR_MIN: usize = 1 << 16;
const CHUNK: usize = 1 << 14;

/// Which optimizer, with its settings (saved with checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OptimConfig {
    Sgd {
        lr: f32,
        momentum: f32,
        nesterov: bool,
        weight_decay: f32,
    },
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
    AdamW {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
    },
}

impl OptimConfig {
    /// Adam with PyTorch's defaults and learning rate `lr`.
    pub fn adam(lr: f32) -> Self {
        OptimConfig::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
    /// AdamW (decoupled weight decay) with PyTorch's defaults.
    pub fn adamw(lr: f32, weight_decay: f32) -> Self {
        OptimConfig::AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }

    /// The optimizer named `adam`, `adamw` or `sgd` (Nesterov momentum 0.9), the others
    /// at PyTorch's defaults; an unknown name is an error naming `flag`.
    pub fn from_name(name: &str, lr: f32, weight_decay: f32, flag: &str) -> crate::Result<Self> {
        Ok(match name {
            "adam" => OptimConfig::Adam {
                lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay,
            },
            "adamw" => Self::adamw(lr, weight_decay),
            "sgd" => OptimConfig::Sgd {
                lr,
                momentum: 0.9,
                nesterov: true,
                weight_decay,
            },
            o => {
                return Err(crate::Error::invalid(
                    flag,
                    format!("`{o}` is not one of adam, adamw, sgd"),
                ));
            }
        })
    }

    /// The valid ranges, checked for fresh runs, configs and resumes alike: `lr`
    /// finite and > 0, `weight_decay` finite and >= 0, `momentum`, `beta1`, `beta2` in
    /// [0, 1), `eps` > 0. Errors name the field and the range.
    pub fn validate(&self) -> crate::Result<()> {
        let (lr, wd, unit, eps) = match *self {
            OptimConfig::Sgd {
                lr,
                momentum,
                weight_decay,
                ..
            } => (lr, weight_decay, vec![("momentum", momentum)], 1.0),
            OptimConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            }
            | OptimConfig::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => (
                lr,
                weight_decay,
                vec![("beta1", beta1), ("beta2", beta2)],
                eps,
            ),
        };
        let bad = |k: &str, v: f32, range: &str| {
            Err(crate::Error::invalid(k, format!("{v} (must be {range})")))
        };
        if !(lr.is_finite() && lr > 0.0) {
            return bad("lr", lr, "finite and > 0");
        }
        if !(wd.is_finite() && wd >= 0.0) {
            return bad("weight_decay", wd, "finite and >= 0");
        }
        for (k, v) in unit {
            if !(0.0..1.0).contains(&v) {
                return bad(k, v, "in [0, 1)");
            }
        }
        if !(eps.is_finite() && eps > 0.0) {
            return bad("eps", eps, "finite and > 0");
        }
        Ok(())
    }

    /// Build the optimizer.
    pub fn build(&self) -> Box<dyn Optimizer> {
        match *self {
            OptimConfig::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            } => Box::new(Sgd::new(lr, momentum, nesterov, weight_decay)),
            OptimConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => Box::new(Adam::new(lr, beta1, beta2, eps, weight_decay, false)),
            OptimConfig::AdamW {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => Box::new(Adam::new(lr, beta1, beta2, eps, weight_decay, true)),
        }
    }
}

/// Updates parameters from their gradients.
pub trait Optimizer: Send {
    /// One update of every parameter of `model` from its accumulated gradient.
    fn step(&mut self, model: &mut dyn Parameters);
    /// Current learning rate.
    fn lr(&self) -> f32;
    /// Set the learning rate (for schedules).
    fn set_lr(&mut self, lr: f32);
    /// The state a resumed run needs: step count and moment buffers.
    fn state(&self) -> OptimState;
    /// Restore [`Optimizer::state`]; the buffers must match `model`'s parameters.
    fn set_state(&mut self, state: OptimState, model: &dyn Parameters) -> crate::Result<()>;
}

/// An optimizer's state: its step count and its per-parameter buffers (SGD: momentum;
/// Adam: first moments of every parameter, then second moments), in visiting order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimState {
    pub steps: u64,
    pub slots: Vec<Vec<f32>>,
}

/// Check that `slots` holds `per_param` buffers per parameter of `model`, of its sizes.
fn check_slots(slots: &[Vec<f32>], model: &dyn Parameters, per_param: usize) -> crate::Result<()> {
    let mut sizes = Vec::new();
    model.visit_named("", &mut |n, p| sizes.push((n.to_string(), p.len())));
    if slots.is_empty() {
        return Ok(()); // no step taken yet
    }
    if slots.len() != per_param * sizes.len() {
        return Err(crate::Error::invalid(
            "optimizer state",
            format!(
                "{} buffers for a model of {} parameters (expected {})",
                slots.len(),
                sizes.len(),
                per_param * sizes.len()
            ),
        ));
    }
    for (i, s) in slots.iter().enumerate() {
        let (name, len) = &sizes[i % sizes.len()];
        if s.len() != *len {
            return Err(crate::Error::invalid(
                "optimizer state",
                format!("buffer {i} has {} values for `{name}` of {len}", s.len()),
            ));
        }
    }
    Ok(())
}

/// Stochastic gradient descent with momentum, Nesterov and weight decay.
#[derive(Clone, Debug)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
    buf: Vec<Vec<f32>>,
    started: bool,
}

impl Sgd {
    pub fn new(lr: f32, momentum: f32, nesterov: bool, weight_decay: f32) -> Self {
        Sgd {
            lr,
            momentum,
            nesterov,
            weight_decay,
            buf: Vec::new(),
            started: false,
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, model: &mut dyn Parameters) {
        let (lr, mu, wd, nest, first) = (
            self.lr,
            self.momentum,
            self.weight_decay,
            self.nesterov,
            !self.started,
        );
        let mut i = 0;
        let buf = &mut self.buf;
        model.visit_mut(&mut |p: &mut Param| {
            if buf.len() <= i {
                buf.push(vec![0.0; p.len()]);
            }
            let b = &mut buf[i];
            let upd = |w: &mut [f32], g: &[f32], b: &mut [f32], _: &mut [f32]| {
                for ((w, &g), b) in w.iter_mut().zip(g).zip(b.iter_mut()) {
                    let mut d = g + wd * *w;
                    if mu != 0.0 {
                        *b = if first { d } else { mu * *b + d };
                        d = if nest { d + mu * *b } else { *b };
                    }
                    *w -= lr * d;
                }
            };
            par_update(&mut p.value, &p.grad, b, None, &upd);
            i += 1;
        });
        self.started = true;
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn state(&self) -> OptimState {
        OptimState {
            steps: u64::from(self.started),
            slots: self.buf.clone(),
        }
    }
    fn set_state(&mut self, state: OptimState, model: &dyn Parameters) -> crate::Result<()> {
        check_slots(&state.slots, model, 1)?;
        self.started = state.steps > 0;
        self.buf = state.slots;
        Ok(())
    }
}

/// Adam, or AdamW when `decoupled`.
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub decoupled: bool,
    t: u64,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Adam {
    pub fn new(
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
        decoupled: bool,
    ) -> Self {
        Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }
    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.t
    }
}

impl Optimizer for Adam {
    fn step(&mut self, model: &mut dyn Parameters) {
        self.t += 1;
        let t = self.t as i32;
        let (b1, b2, eps, lr) = (self.beta1, self.beta2, self.eps, self.lr);
        let bc1 = 1.0 - (b1 as f64).powi(t);
        let bc2 = 1.0 - (b2 as f64).powi(t);
        let step = (lr as f64 / bc1) as f32;
        let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
        let (wd_l2, decay) = if self.decoupled {
            (0.0, 1.0 - lr * self.weight_decay)
        } else {
            (self.weight_decay, 1.0)
        };
        let (ms, vs) = (&mut self.m, &mut self.v);
        let mut i = 0;
        model.visit_mut(&mut |p: &mut Param| {
            if ms.len() <= i {
                ms.push(vec![0.0; p.len()]);
                vs.push(vec![0.0; p.len()]);
            }
            let upd = |w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
                for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    let g = g + wd_l2 * *w;
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    let denom = v.sqrt() * inv_sqrt_bc2 + eps;
                    *w = *w * decay - step * *m / denom;
                }
            };
            par_update(&mut p.value, &p.grad, &mut ms[i], Some(&mut vs[i]), &upd);
            i += 1;
        });
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn state(&self) -> OptimState {
        OptimState {
            steps: self.t,
            slots: self.m.iter().chain(self.v.iter()).cloned().collect(),
        }
    }
    fn set_state(&mut self, state: OptimState, model: &dyn Parameters) -> crate::Result<()> {
        check_slots(&state.slots, model, 2)?;
        let mut slots = state.slots;
        let v = slots.split_off(slots.len() / 2);
        self.t = state.steps;
        self.m = slots;
        self.v = v;
        Ok(())
    }
}

/// Apply `f` to matching chunks of `(w, g, m, v)`, vectorized, in parallel for large
/// buffers.
fn par_update<F>(w: &mut [f32], g: &[f32], m: &mut [f32], v: Option<&mut Vec<f32>>, f: &F)
where
    F: Fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) + Sync,
{
    let f = |w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
        super::simd::dispatch(
            #[inline(always)]
            || f(w, g, m, v),
        )
    };
    let mut empty: Vec<f32> = Vec::new();
    let v: &mut [f32] = match v {
        Some(v) => v,
        None => &mut empty,
    };
    let has_v = !v.is_empty();
    if w.len() >= PAR_MIN && crate::threads::threads() > 1 {
        if has_v {
            w.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(|(((w, g), m), v)| f(w, g, m, v));
        } else {
            w.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .for_each(|((w, g), m)| f(w, g, m, &mut []));
        }
    } else {
        f(w, g, m, v);
    }
}

/// The global L2 norm of every gradient, `sqrt(sum_p ||g_p||^2)`, in f64.
pub fn grad_norm(model: &mut dyn Parameters) -> f64 {
    let mut s = 0.0f64;
    model.visit_mut(&mut |p| {
        s += p.grad.iter().map(|&g| (g as f64) * (g as f64)).sum::<f64>();
    });
    s.sqrt()
}

/// Clip by global norm: if `||g|| > max_norm`, scale every gradient by `max_norm/||g||`.
/// Returns the norm before clipping (PyTorch's `clip_grad_norm_`).
pub fn clip_grad_norm(model: &mut dyn Parameters, max_norm: f64) -> f64 {
    let n = grad_norm(model);
    if n > max_norm && n > 0.0 {
        let s = (max_norm / (n + 1e-6)) as f32;
        model.visit_mut(&mut |p| p.grad.iter_mut().for_each(|g| *g *= s));
    }
    n
}
