//! A chain of constraints `z_0 = x`, `z_{k+1} = g_k(z_k, w_k)`, `k = 0..K-1`.
//!
//! fprop runs the chain forward; bprop runs the adjoint recursion backward,
//! `dC/dz_k = (dg_k/dz_k)^T dC/dz_{k+1}`, accumulating `dC/dw_k` on the way.
//! States and adjoints live in a [`Workspace`] (one per thread), so the model itself is
//! shared read-only by every thread that samples from it.

use super::activation::{Activation, ActivationKind};
use super::init::Init;
use super::linear::Linear;
use super::{Module, Parallelism, Param, Parameters};
use crate::{Error, Result};
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rand::Rng;
use rayon::prelude::*;

/// Modules applied one after the other.
#[derive(Clone)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
    /// Widths `d_0 .. d_K` of the states `z_0 .. z_K`.
    dims: Vec<usize>,
}

/// The states `z_k` and adjoints `dC/dz_k` of one chain for up to `capacity` rows.
/// Made once, reused every step; it grows (allocates) only for a larger batch.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    z: Vec<Vec<f32>>,
    g: Vec<Vec<f32>>,
    dims: Vec<usize>,
    batch: usize,
}

impl Workspace {
    fn ensure(&mut self, dims: &[usize], batch: usize) {
        if self.dims != dims {
            self.dims = dims.to_vec();
            self.z = dims.iter().map(|_| Vec::new()).collect();
            self.g = dims.iter().map(|_| Vec::new()).collect();
        }
        for ((z, g), &d) in self.z.iter_mut().zip(self.g.iter_mut()).zip(dims) {
            if z.len() < batch * d {
                z.resize(batch * d, 0.0);
                g.resize(batch * d, 0.0);
            }
        }
        self.batch = batch;
    }
    /// Rows of the last forward pass.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// State `z_k`, `[batch, d_k]`.
    pub fn state(&self, k: usize) -> ArrayView2<'_, f32> {
        let d = self.dims[k];
        ArrayView2::from_shape((self.batch, d), &self.z[k][..self.batch * d]).expect("state")
    }
    /// Adjoint `dC/dz_k`, `[batch, d_k]` (valid after a backward pass).
    pub fn grad(&self, k: usize) -> ArrayView2<'_, f32> {
        let d = self.dims[k];
        ArrayView2::from_shape((self.batch, d), &self.g[k][..self.batch * d]).expect("grad")
    }
    /// The last state `z_K` and, mutably, its adjoint `dC/dz_K`: a caller reads the
    /// output and writes the cost's gradient in place before
    /// [`Sequential::backward_from_ws`].
    pub fn out_and_grad_out_mut(&mut self) -> (ArrayView2<'_, f32>, ArrayViewMut2<'_, f32>) {
        let k = self.dims.len() - 1;
        let (b, d) = (self.batch, self.dims[k]);
        (view(&self.z[k], b, d), view_mut(&mut self.g[k], b, d))
    }
    /// Mutable adjoint of the last state: where a caller writes `dC/dz_K` before
    /// [`Sequential::backward_from_ws`].
    pub fn grad_out_mut(&mut self) -> ArrayViewMut2<'_, f32> {
        let k = self.dims.len() - 1;
        let d = self.dims[k];
        ArrayViewMut2::from_shape((self.batch, d), &mut self.g[k][..self.batch * d]).expect("grad")
    }
}

fn view(buf: &[f32], b: usize, d: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((b, d), &buf[..b * d]).expect("view")
}
fn view_mut(buf: &mut [f32], b: usize, d: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((b, d), &mut buf[..b * d]).expect("view")
}

impl Sequential {
    /// Chain `layers` after an input of width `in_dim`; every width is checked here, and
    /// a mismatch names the layer and both shapes.
    pub fn new(in_dim: usize, layers: Vec<Box<dyn Module>>) -> Result<Self> {
        let mut dims = vec![in_dim];
        for (i, l) in layers.iter().enumerate() {
            let d = l.out_dim(*dims.last().unwrap()).map_err(|e| match e {
                Error::Shape {
                    what,
                    expected,
                    found,
                } => Error::Shape {
                    what: format!("layer {i} ({what})"),
                    expected,
                    found,
                },
                e => e,
            })?;
            dims.push(d);
        }
        Ok(Sequential { layers, dims })
    }
    /// Start a builder: `Sequential::build(2).linear(128, init, rng).silu()...finish()`.
    pub fn build(in_dim: usize) -> SequentialBuilder {
        SequentialBuilder {
            dim: in_dim,
            in_dim,
            layers: Vec::new(),
        }
    }
    /// The multilayer perceptron `in -> hidden[0] -> ... -> out` with `act` after every
    /// hidden layer (none after the last).
    pub fn mlp(
        in_dim: usize,
        hidden: &[usize],
        out_dim: usize,
        act: ActivationKind,
        init: Init,
        rng: &mut impl Rng,
    ) -> Self {
        let mut b = Sequential::build(in_dim);
        for &h in hidden {
            b = b.linear(h, init, rng).act(act);
        }
        b.linear(out_dim, init, rng).finish()
    }
    /// Number of modules `K`.
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    /// True for the empty chain.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
    /// Widths `d_0 .. d_K`.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }
    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.dims[0]
    }
    /// Output width.
    pub fn out_dim(&self) -> usize {
        *self.dims.last().unwrap()
    }
    /// The modules.
    pub fn layers(&self) -> &[Box<dyn Module>] {
        &self.layers
    }
    /// The modules, mutably.
    pub fn layers_mut(&mut self) -> &mut [Box<dyn Module>] {
        &mut self.layers
    }
    /// A workspace sized for `batch` rows.
    pub fn workspace(&self, batch: usize) -> Workspace {
        let mut ws = Workspace::default();
        ws.ensure(&self.dims, batch);
        ws
    }

    fn check_input(&self, x: &ArrayView2<f32>) {
        assert_eq!(
            x.ncols(),
            self.in_dim(),
            "input width {} for a chain of input width {}",
            x.ncols(),
            self.in_dim()
        );
    }

    /// fprop: run the chain on `x` (`[batch, d_0]`), keeping every state in `ws`;
    /// returns `z_K`, `[batch, d_K]`.
    pub fn forward<'w>(
        &self,
        x: ArrayView2<f32>,
        ws: &'w mut Workspace,
        par: Parallelism,
    ) -> ArrayView2<'w, f32> {
        self.check_input(&x);
        self.input_mut(ws, x.nrows()).assign(&x);
        self.forward_from_ws(ws, par)
    }

    /// The input state `z_0` of `ws`, sized for `batch` rows, for a caller that writes
    /// its batch there directly (saving a copy) before [`Sequential::forward_from_ws`].
    pub fn input_mut<'w>(&self, ws: &'w mut Workspace, batch: usize) -> ArrayViewMut2<'w, f32> {
        ws.ensure(&self.dims, batch);
        view_mut(&mut ws.z[0], batch, self.dims[0])
    }

    /// fprop from the input already in `ws` (see [`Sequential::input_mut`]).
    pub fn forward_from_ws<'w>(
        &self,
        ws: &'w mut Workspace,
        par: Parallelism,
    ) -> ArrayView2<'w, f32> {
        let b = ws.batch;
        let n = self.layers.len();
        let mut k = 0;
        while k < n {
            let (lo, hi) = ws.z.split_at_mut(k + 1);
            let zin = view(&lo[k], b, self.dims[k]);
            // Linear followed by an activation: one fused sweep for bias and activation.
            if k + 1 < n
                && let (Some(lin), Some(act)) = (
                    self.layers[k].as_linear(),
                    self.layers[k + 1].as_activation(),
                )
            {
                let (mid, out) = hi.split_at_mut(1);
                let a = view_mut(&mut mid[0], b, self.dims[k + 1]);
                let y = view_mut(&mut out[0], b, self.dims[k + 2]);
                lin.fprop_act(zin, a, y, act, par);
                k += 2;
                continue;
            }
            let zout = view_mut(&mut hi[0], b, self.dims[k + 1]);
            self.layers[k].fprop(zin, zout, par);
            k += 1;
        }
        ws.state(n)
    }

    /// bprop after [`Sequential::forward`]: given `dC/dz_K` (`[batch, d_K]`), fill every
    /// adjoint `dC/dz_k` in `ws` (down to `k = 0` when `input_grad`, else to `k = 1`)
    /// and accumulate `dC/dw_k` into the parameters' gradients.
    pub fn backward(
        &mut self,
        grad_out: ArrayView2<f32>,
        ws: &mut Workspace,
        input_grad: bool,
        par: Parallelism,
    ) {
        let k = self.layers.len();
        let b = ws.batch;
        view_mut(&mut ws.g[k], b, self.dims[k]).assign(&grad_out);
        self.backward_from_ws(ws, input_grad, par);
    }

    /// bprop with `dC/dz_K` already written into `ws` (see [`Workspace::grad_out_mut`]).
    pub fn backward_from_ws(&mut self, ws: &mut Workspace, input_grad: bool, par: Parallelism) {
        let b = ws.batch;
        for k in (0..self.layers.len()).rev() {
            let (glo, ghi) = ws.g.split_at_mut(k + 1);
            let zin = view(&ws.z[k], b, self.dims[k]);
            let zout = view(&ws.z[k + 1], b, self.dims[k + 1]);
            let lam_out = view(&ghi[0], b, self.dims[k + 1]);
            let lam_in = (k > 0 || input_grad).then(|| view_mut(&mut glo[k], b, self.dims[k]));
            self.layers[k].bprop(zin, zout, lam_out, lam_in, par);
        }
    }

    /// The input gradient only (what a sampler needs): fills `dC/dz_k` for every `k`
    /// without touching the weights' gradients. `ws` must hold a forward pass.
    pub fn backward_input(&self, grad_out: ArrayView2<f32>, ws: &mut Workspace, par: Parallelism) {
        let k = self.layers.len();
        view_mut(&mut ws.g[k], ws.batch, self.dims[k]).assign(&grad_out);
        self.input_adjoints(ws, par);
    }

    /// `dC/dz_k = (dg_k/dz_k)^T dC/dz_{k+1}` for k = K-1 .. 0, from `dC/dz_K` in `ws`.
    fn input_adjoints(&self, ws: &mut Workspace, par: Parallelism) {
        let b = ws.batch;
        for k in (0..self.layers.len()).rev() {
            let (glo, ghi) = ws.g.split_at_mut(k + 1);
            self.layers[k].bprop_input(
                view(&ws.z[k], b, self.dims[k]),
                view(&ws.z[k + 1], b, self.dims[k + 1]),
                view(&ghi[0], b, self.dims[k + 1]),
                view_mut(&mut glo[k], b, self.dims[k]),
                par,
            );
        }
    }

    /// Scalar energies and their input gradient, `E(y)` `[batch]` and `dE/dy`
    /// `[batch, d_0]`, for a chain whose output width is 1. The batch is cut into tiles
    /// of `tile` rows; each thread runs the whole fprop and bprop of its tiles with
    /// its own workspace from `pool` (activations stay in cache; one workspace per
    /// thread, grown once).
    pub fn energy_and_grad(
        &self,
        y: ArrayView2<f32>,
        energy: &mut [f32],
        mut grad: ArrayViewMut2<f32>,
        pool: &mut Vec<Workspace>,
        tile: usize,
    ) {
        assert_eq!(self.out_dim(), 1, "energy_and_grad needs a scalar output");
        self.check_input(&y);
        let n = y.nrows();
        assert_eq!(energy.len(), n);
        assert_eq!(grad.dim(), y.dim());
        let threads = crate::threads::threads().max(1);
        let tile = tile.max(1);
        let parts = threads.min(n.div_ceil(tile)).max(1);
        if pool.len() < parts {
            pool.resize_with(parts, Workspace::default);
        }
        let rows_per = n.div_ceil(parts);
        let one = |ws: &mut Workspace,
                   y: ArrayView2<f32>,
                   e: &mut [f32],
                   mut g: ArrayViewMut2<f32>| {
            let mut start = 0;
            while start < y.nrows() {
                let end = (start + tile).min(y.nrows());
                let yt = y.slice(ndarray::s![start..end, ..]);
                let out = self.forward(yt, ws, Parallelism::None); // [t, 1]
                e[start..end]
                    .iter_mut()
                    .zip(out.iter())
                    .for_each(|(e, &o)| *e = o);
                let b = end - start;
                ws.g[self.layers.len()][..b].fill(1.0); // dE/dz_K = 1
                self.input_adjoints(ws, Parallelism::None);
                g.slice_mut(ndarray::s![start..end, ..])
                    .assign(&view(&ws.g[0], b, self.dims[0]));
                start = end;
            }
        };
        if parts == 1 {
            one(&mut pool[0], y, energy, grad);
            return;
        }
        pool[..parts]
            .par_iter_mut()
            .zip(y.axis_chunks_iter(Axis(0), rows_per).into_par_iter())
            .zip(energy.par_chunks_mut(rows_per))
            .zip(grad.axis_chunks_iter_mut(Axis(0), rows_per).into_par_iter())
            .for_each(|(((ws, y), e), g)| one(ws, y, e, g));
    }
}

impl Parameters for Sequential {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        for l in &mut self.layers {
            l.visit_mut(f);
        }
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        for (i, l) in self.layers.iter().enumerate() {
            l.visit_named(&format!("{prefix}{i}."), f);
        }
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            l.visit_named_mut(&format!("{prefix}{i}."), f);
        }
    }
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        for (i, l) in self.layers.iter().enumerate() {
            l.visit_buffers(&format!("{prefix}{i}."), f);
        }
    }
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            l.visit_buffers_mut(&format!("{prefix}{i}."), f);
        }
    }
}

impl Module for Sequential {
    fn kind(&self) -> &'static str {
        "sequential"
    }
    fn out_dim(&self, in_dim: usize) -> Result<usize> {
        if in_dim != self.in_dim() {
            return Err(Error::Shape {
                what: "sequential input".into(),
                expected: vec![self.in_dim()],
                found: vec![in_dim],
            });
        }
        Ok(self.out_dim())
    }
    /// A chain nested as one module allocates its own workspace per call (use the
    /// chain's own `forward` in hot loops).
    fn fprop(&self, z_in: ArrayView2<f32>, mut z_out: ArrayViewMut2<f32>, par: Parallelism) {
        let mut ws = self.workspace(z_in.nrows());
        z_out.assign(&self.forward(z_in, &mut ws, par));
    }
    fn bprop_input(
        &self,
        z_in: ArrayView2<f32>,
        _z_out: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        mut lam_in: ArrayViewMut2<f32>,
        par: Parallelism,
    ) {
        let mut ws = self.workspace(z_in.nrows());
        self.forward(z_in, &mut ws, par);
        self.backward_input(lam_out, &mut ws, par);
        lam_in.assign(&ws.grad(0));
    }
    fn accumulate_weight_grad(
        &mut self,
        z_in: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        par: Parallelism,
    ) {
        let mut ws = self.workspace(z_in.nrows());
        self.forward(z_in, &mut ws, par);
        self.backward(lam_out, &mut ws, false, par);
    }
    fn refresh(&mut self, power_iters: usize) {
        for l in &mut self.layers {
            l.refresh(power_iters);
        }
    }
    fn box_clone(&self) -> Box<dyn Module> {
        Box::new(self.clone())
    }
}

/// Builds a [`Sequential`] layer by layer.
pub struct SequentialBuilder {
    in_dim: usize,
    dim: usize,
    layers: Vec<Box<dyn Module>>,
}

impl SequentialBuilder {
    /// Append a Linear layer to width `out`.
    pub fn linear(mut self, out: usize, init: Init, rng: &mut impl Rng) -> Self {
        self.layers
            .push(Box::new(Linear::new(self.dim, out, init, rng)));
        self.dim = out;
        self
    }
    /// Append an activation.
    pub fn act(mut self, kind: ActivationKind) -> Self {
        self.layers.push(Box::new(Activation(kind)));
        self
    }
    /// Append ReLU.
    pub fn relu(self) -> Self {
        self.act(ActivationKind::Relu)
    }
    /// Append SiLU.
    pub fn silu(self) -> Self {
        self.act(ActivationKind::Silu)
    }
    /// Append tanh.
    pub fn tanh(self) -> Self {
        self.act(ActivationKind::Tanh)
    }
    /// Append the logistic sigmoid.
    pub fn sigmoid(self) -> Self {
        self.act(ActivationKind::Sigmoid)
    }
    /// Append any module (its width is checked by `finish`).
    pub fn module(mut self, m: Box<dyn Module>) -> Self {
        if let Ok(d) = m.out_dim(self.dim) {
            self.dim = d;
        }
        self.layers.push(m);
        self
    }
    /// The chain; the builder's own layers always chain, so this cannot fail unless a
    /// module appended with [`SequentialBuilder::module`] does not fit.
    pub fn try_finish(self) -> Result<Sequential> {
        Sequential::new(self.in_dim, self.layers)
    }
    /// The chain (panics only if a custom module does not fit: use `try_finish` then).
    pub fn finish(self) -> Sequential {
        self.try_finish().expect("builder layers chain")
    }
}
