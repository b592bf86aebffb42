//! Optimizers against closed forms: convergence to the minimizer of a convex quadratic,
//! the exact first steps of SGD/Nesterov/Adam/AdamW computed by hand, and clipping.

use ebm::nn::optim::{Adam, OptimConfig, Optimizer, Sgd, clip_grad_norm, grad_norm};
use ebm::nn::{Param, Parameters};

/// f(w) = 1/2 (w - c)^T diag(a) (w - c), gradient diag(a) (w - c).
struct Quadratic {
    w: Param,
    a: Vec<f32>,
    c: Vec<f32>,
}

impl Quadratic {
    fn new() -> Self {
        Quadratic {
            w: Param::new(vec![4], vec![5.0, -3.0, 0.5, 2.0]),
            a: vec![1.0, 10.0, 0.3, 3.0],
            c: vec![1.0, 2.0, -1.0, 0.25],
        }
    }
    fn grad(&mut self) {
        for i in 0..4 {
            self.w.grad[i] = self.a[i] * (self.w.value[i] - self.c[i]);
        }
    }
}

impl Parameters for Quadratic {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.w);
    }
    fn visit_named(&self, p: &str, f: &mut dyn FnMut(&str, &Param)) {
        f(&format!("{p}w"), &self.w);
    }
    fn visit_named_mut(&mut self, p: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        f(&format!("{p}w"), &mut self.w);
    }
}

fn converge(mut opt: Box<dyn Optimizer>, steps: usize) -> Vec<f32> {
    let mut q = Quadratic::new();
    for _ in 0..steps {
        q.grad();
        opt.step(&mut q);
    }
    q.w.value
        .iter()
        .zip(&q.c)
        .map(|(w, c)| (w - c).abs())
        .collect()
}

#[test]
fn every_optimizer_converges_to_the_minimizer_of_a_convex_quadratic() {
    let cfgs = [
        OptimConfig::adam(0.05),
        OptimConfig::AdamW {
            lr: 0.05,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
        OptimConfig::Sgd {
            lr: 0.05,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        OptimConfig::Sgd {
            lr: 0.02,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        },
        OptimConfig::Sgd {
            lr: 0.02,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 0.0,
        },
    ];
    for cfg in cfgs {
        let err = converge(cfg.build(), 3000);
        assert!(err.iter().all(|&e| e < 1e-3), "{cfg:?}: {err:?}");
    }
}

#[test]
fn weight_decay_moves_the_minimizer_as_its_closed_form_says() {
    // With L2 decay lambda the minimizer of f(w) + lambda/2 ||w||^2 is a c / (a + lambda).
    let lambda = 0.5f32;
    let mut q = Quadratic::new();
    let mut opt = Sgd::new(0.02, 0.9, true, lambda);
    for _ in 0..5000 {
        q.grad();
        opt.step(&mut q);
    }
    for i in 0..4 {
        let want = q.a[i] * q.c[i] / (q.a[i] + lambda);
        assert!(
            (q.w.value[i] - want).abs() < 1e-4,
            "{i}: {} vs {want}",
            q.w.value[i]
        );
    }
}

#[test]
fn first_steps_match_hand_computation() {
    // One scalar, gradient g = 2 at w = 1.
    let one = |opt: &mut dyn Optimizer, g: f32, w0: f32| {
        let mut q = Quadratic::new();
        q.w = Param::new(vec![1], vec![w0]);
        q.w.grad[0] = g;
        opt.step(&mut q);
        q.w.value[0]
    };
    // SGD momentum 0.9, Nesterov: b = g, d = g + 0.9 g = 1.9 g.
    let w = one(&mut Sgd::new(0.1, 0.9, true, 0.0), 2.0, 1.0);
    assert!((w - (1.0 - 0.1 * 3.8)).abs() < 1e-6);
    // Adam first step: m^ = g, v^ = g^2, w -= lr g / (|g| + eps) = lr sign(g).
    let w = one(&mut Adam::new(0.1, 0.9, 0.999, 1e-8, 0.0, false), 2.0, 1.0);
    assert!((w - 0.9).abs() < 1e-6, "{w}");
    // AdamW: w (1 - lr wd) - lr sign(g).
    let w = one(&mut Adam::new(0.1, 0.9, 0.999, 1e-8, 0.5, true), 2.0, 1.0);
    assert!((w - (1.0 * (1.0 - 0.05) - 0.1)).abs() < 1e-6, "{w}");
    // Adam with L2 decay: g' = g + wd w = 2.5; still a step of lr sign(g').
    let w = one(&mut Adam::new(0.1, 0.9, 0.999, 1e-8, 0.5, false), 2.0, 1.0);
    assert!((w - 0.9).abs() < 1e-6, "{w}");
}

#[test]
fn large_parameters_update_like_small_ones() {
    // The parallel chunked update (>= 65,536 scalars) equals the serial one.
    let n = 100_000;
    let mut big = Quadratic::new();
    big.w = Param::new(vec![n], (0..n).map(|i| (i % 17) as f32 - 8.0).collect());
    for (i, g) in big.w.grad.iter_mut().enumerate() {
        *g = ((i % 13) as f32 - 6.0) * 0.1;
    }
    let mut opt = Adam::new(0.01, 0.9, 0.999, 1e-8, 0.0, false);
    opt.step(&mut big);
    for i in [0usize, 1, 500, 99_999] {
        let w0 = (i % 17) as f32 - 8.0;
        let g = ((i % 13) as f32 - 6.0) * 0.1;
        let want = if g == 0.0 { w0 } else { w0 - 0.01 * g.signum() };
        assert!((big.w.value[i] - want).abs() < 1e-6, "{i}");
    }
}

#[test]
fn clipping_scales_to_the_max_norm_and_keeps_direction() {
    let mut q = Quadratic::new();
    q.w.grad = vec![3.0, 4.0, 0.0, 0.0];
    let before = clip_grad_norm(&mut q, 1.0);
    assert!((before - 5.0).abs() < 1e-9);
    assert!((grad_norm(&mut q) - 1.0).abs() < 1e-5);
    assert!((q.w.grad[0] / q.w.grad[1] - 0.75).abs() < 1e-6);
    // Below the threshold: unchanged.
    let n = clip_grad_norm(&mut q, 10.0);
    assert!((grad_norm(&mut q) - n).abs() < 1e-12);
}
