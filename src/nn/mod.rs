//! The engine: a network is a chain of constraints `z_{k+1} = g_k(z_k, w_k)`.
//!
//! A [`Module`] computes `fprop` (`z_{k+1} = g(z_k, w)`) and `bprop`: given the adjoint
//! `lambda_{k+1}` it returns `lambda_k = (dg/dz_k)^T lambda_{k+1}` and accumulates the
//! weight gradient `(dg/dw)^T lambda_{k+1}`. The engine propagates the gradient
//! `dC/dz_k`; the lecture's multiplier is its negative, `lambda_k = -dC/dz_k`
//! (see [`lagrangian`]). Both recursions are linear, so one code path serves both.
//!
//! States and adjoints live in a [`sequential::Workspace`] made once and reused: no
//! allocation in a steady-state step.

pub mod activation;
pub mod checkpoint;
pub mod conv;
pub mod fastmath;
pub mod init;
pub mod lagrangian;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod optim;
pub mod sequential;
pub mod simd;
pub mod spectral;

pub use activation::{Activation, ActivationKind};
pub use conv::{AvgPool2d, Conv2d, ConvGeom, ConvTranspose2d};
pub use gemm::Parallelism;
pub use linear::Linear;
pub use loss::{BernoulliLogits, Cost, GaussianNll, GibbsNll, Reduction, SquaredError};
pub use sequential::{Sequential, Workspace};
pub use spectral::SpectralNorm;

use ndarray::{ArrayView2, ArrayViewMut2};

/// A learnable tensor with its gradient, stored flat in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Row-major shape (PyTorch's convention: a Linear weight is `[out, in]`).
    pub shape: Vec<usize>,
    /// The values.
    pub value: Vec<f32>,
    /// `dC/dw`, accumulated by `bprop` until zeroed.
    pub grad: Vec<f32>,
}

impl Param {
    /// A parameter of `shape` with the given values (length must match).
    pub fn new(shape: Vec<usize>, value: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), value.len());
        let grad = vec![0.0; value.len()];
        Param { shape, value, grad }
    }
    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.value.len()
    }
    /// True for a parameter with no scalars.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
    /// The value as a 2-D view (`[rows, cols]`); a 1-D parameter is `[1, n]`.
    pub fn view2(&self) -> ArrayView2<'_, f32> {
        let (r, c) = rows_cols(&self.shape);
        ArrayView2::from_shape((r, c), &self.value).expect("param shape")
    }
    /// The gradient as a mutable 2-D view.
    pub fn grad2_mut(&mut self) -> ArrayViewMut2<'_, f32> {
        let (r, c) = rows_cols(&self.shape);
        ArrayViewMut2::from_shape((r, c), &mut self.grad).expect("param shape")
    }
}

fn rows_cols(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (1, *n),
        [r, rest @ ..] => (*r, rest.iter().product()),
    }
}

/// Anything that owns parameters: modules, chains, models. Optimizers and checkpoints
/// see a model only through this trait.
pub trait Parameters {
    /// Visit every parameter mutably, in a fixed order (the hot path: no names).
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param));
    /// Visit every parameter with its dotted name (`prefix` + local path), in the same
    /// order as [`Parameters::visit_mut`].
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param));
    /// Visit every parameter mutably with its dotted name.
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param));

    /// Visit every buffer with its dotted name: state that checkpoints save but no
    /// optimizer trains (PyTorch's buffers: a spectral norm's `u` and `v`). None by default.
    fn visit_buffers(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Param)) {}
    /// Visit every buffer mutably with its dotted name.
    fn visit_buffers_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, &mut Param)) {}
    /// Every tensor a checkpoint holds (PyTorch's `state_dict`): parameters, then buffers.
    fn visit_state(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        self.visit_named(prefix, f);
        self.visit_buffers(prefix, f);
    }
    /// Every tensor a checkpoint holds, mutably.
    fn visit_state_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        self.visit_named_mut(prefix, f);
        self.visit_buffers_mut(prefix, f);
    }

    /// Set every gradient to zero.
    fn zero_grad(&mut self) {
        self.visit_mut(&mut |p| p.grad.iter_mut().for_each(|g| *g = 0.0));
    }
    /// Total number of scalars.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit_named("", &mut |_, p| n += p.len());
        n
    }
}

/// One constraint `z_{k+1} = g(z_k, w)` of a chain, with its forward and backward pass.
///
/// Arrays are `[batch, features]`. The states of `fprop` are passed back to `bprop`,
/// so a module holds no per-batch data and one module serves many threads at once.
pub trait Module: Parameters + Send + Sync {
    /// A short name for messages (`linear`, `relu`, ...).
    fn kind(&self) -> &'static str;
    /// The output width for an input width, or a shape error naming both widths.
    fn out_dim(&self, in_dim: usize) -> crate::Result<usize>;
    /// Forward: `z_out = g(z_in, w)`, `[batch, in] -> [batch, out]`.
    fn fprop(&self, z_in: ArrayView2<f32>, z_out: ArrayViewMut2<f32>, par: Parallelism);
    /// Backward to the input: `lam_in = (dg/dz_in)^T lam_out`, `[batch, out] -> [batch, in]`.
    fn bprop_input(
        &self,
        z_in: ArrayView2<f32>,
        z_out: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        lam_in: ArrayViewMut2<f32>,
        par: Parallelism,
    );
    /// Backward to the weights: `grad_w += (dg/dw)^T lam_out`. No-op without weights.
    fn accumulate_weight_grad(
        &mut self,
        _z_in: ArrayView2<f32>,
        _lam_out: ArrayView2<f32>,
        _par: Parallelism,
    ) {
    }
    /// Backward to both: the input adjoint (when asked) and the weight gradient.
    fn bprop(
        &mut self,
        z_in: ArrayView2<f32>,
        z_out: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        lam_in: Option<ArrayViewMut2<f32>>,
        par: Parallelism,
    ) {
        if let Some(lam_in) = lam_in {
            self.bprop_input(z_in, z_out, lam_out, lam_in, par);
        }
        self.accumulate_weight_grad(z_in, lam_out, par);
    }
    /// Recompute what a module derives from its parameters, after they changed (an
    /// optimizer step, a load), with `power_iters` steps of any iteration it keeps (a
    /// spectral norm's power iteration; 0 recomputes from the stored state). No-op by
    /// default.
    fn refresh(&mut self, _power_iters: usize) {}
    /// A boxed copy (parameters included).
    fn box_clone(&self) -> Box<dyn Module>;
    /// This module as a Linear layer, if it is one (lets a chain fuse Linear + activation).
    fn as_linear(&self) -> Option<&Linear> {
        None
    }
    /// This module as an activation, if it is one.
    fn as_activation(&self) -> Option<&Activation> {
        None
    }
}

impl Clone for Box<dyn Module> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}
