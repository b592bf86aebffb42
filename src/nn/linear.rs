//! The affine constraint `z_{k+1} = z_k W^T + b`.
//!
//! - fprop: `z_out[b, o] = sum_i z_in[b, i] W[o, i] + b[o]`  (W is `[out, in]`, as PyTorch)
//! - bprop to the input: `lam_in = lam_out W`
//! - bprop to the weights: `dW += lam_out^T z_in`, `db += sum_b lam_out[b, :]`

use super::init::Init;
use super::matmul::matmul;
use super::{Module, Parallelism, Param, Parameters};
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rand::Rng;

/// A fully connected layer with weight `[out, in]` and bias `[out]`.
#[derive(Clone, Debug)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Param,
    /// `[out]`.
    pub bias: Param,
}

impl Linear {
    /// A layer `in_dim -> out_dim` drawn with `init`.
    pub fn new(in_dim: usize, out_dim: usize, init: Init, rng: &mut impl Rng) -> Self {
        let (w, b) = init.draw(in_dim, out_dim, rng);
        Linear {
            weight: Param::new(vec![out_dim, in_dim], w),
            bias: Param::new(vec![out_dim], b),
        }
    }
    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.weight.shape[1]
    }
    /// Output width.
    pub fn out_dim_(&self) -> usize {
        self.weight.shape[0]
    }
    /// fprop of this layer followed by `act`, fused: `a = z_in W^T` by GEMM (no bias
    /// pre-fill), then one sweep `a += b`, `y = f(a)`. Thin layers take their direct
    /// loops and a separate activation pass.
    pub fn fprop_act(
        &self,
        z_in: ArrayView2<f32>,
        mut a: ArrayViewMut2<f32>,
        mut y: ArrayViewMut2<f32>,
        act: &crate::nn::Activation,
        par: Parallelism,
    ) {
        let fused = self.in_dim() > 4
            && self.out_dim_() > 1
            && a.is_standard_layout()
            && y.is_standard_layout();
        if !fused {
            <Self as Module>::fprop(self, z_in, a.view_mut(), par);
            act.fprop(a.view(), y, par);
            return;
        }
        matmul(z_in, self.weight.view2().t(), a.view_mut(), false, par); // [b,in]x[in,out] -> [b,out]
        act.bias_forward_slice(
            &self.bias.value,
            a.as_slice_mut().expect("standard layout"),
            y.as_slice_mut().expect("standard layout"),
            par,
        );
    }
    /// `lam_in (+)= lam_out W`: the input adjoint, optionally added to what `lam_in` holds
    /// (a layer whose input feeds two heads sums their adjoints).
    pub fn bprop_input_acc(
        &self,
        lam_out: ArrayView2<f32>,
        lam_in: ArrayViewMut2<f32>,
        accumulate: bool,
        par: Parallelism,
    ) {
        matmul(lam_out, self.weight.view2(), lam_in, accumulate, par); // [b,out]x[out,in] -> [b,in]
    }
}

impl Parameters for Linear {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.weight);
        f(&mut self.bias);
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        f(&format!("{prefix}weight"), &self.weight);
        f(&format!("{prefix}bias"), &self.bias);
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        f(&format!("{prefix}weight"), &mut self.weight);
        f(&format!("{prefix}bias"), &mut self.bias);
    }
}

impl Module for Linear {
    fn kind(&self) -> &'static str {
        "linear"
    }
    fn out_dim(&self, in_dim: usize) -> crate::Result<usize> {
        if in_dim != self.in_dim() {
            return Err(crate::Error::Shape {
                what: format!("linear layer {}->{} input", self.in_dim(), self.out_dim_()),
                expected: vec![self.in_dim()],
                found: vec![in_dim],
            });
        }
        Ok(self.out_dim_())
    }
    fn fprop(&self, z_in: ArrayView2<f32>, mut z_out: ArrayViewMut2<f32>, par: Parallelism) {
        if small::fprop(self, z_in, z_out.view_mut()) {
            return;
        }
        let b = &self.bias.value; // [out]
        for mut row in z_out.rows_mut() {
            match row.as_slice_mut() {
                Some(r) => r.copy_from_slice(b),
                None => row.iter_mut().zip(b).for_each(|(r, &b)| *r = b),
            }
        }
        matmul(z_in, self.weight.view2().t(), z_out, true, par); // [b,in]x[in,out] -> [b,out]
    }
    fn bprop_input(
        &self,
        _z_in: ArrayView2<f32>,
        _z_out: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        mut lam_in: ArrayViewMut2<f32>,
        par: Parallelism,
    ) {
        if small::bprop_input(self, lam_out, lam_in.view_mut()) {
            return;
        }
        self.bprop_input_acc(lam_out, lam_in, false, par);
    }
    fn accumulate_weight_grad(
        &mut self,
        z_in: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        par: Parallelism,
    ) {
        matmul(lam_out.t(), z_in, self.weight.grad2_mut(), true, par); // [out,b]x[b,in] -> [out,in]
        // db += sum over rows of lam_out (vectorized along the row).
        let gb = &mut self.bias.grad;
        crate::nn::simd::dispatch(
            #[inline(always)]
            || {
                for row in lam_out.axis_iter(Axis(0)) {
                    match row.as_slice() {
                        Some(r) => gb.iter_mut().zip(r).for_each(|(g, &l)| *g += l),
                        None => gb.iter_mut().zip(row.iter()).for_each(|(g, &l)| *g += l),
                    }
                }
            },
        );
    }
    fn box_clone(&self) -> Box<dyn Module> {
        Box::new(self.clone())
    }
    fn as_linear(&self) -> Option<&Linear> {
        Some(self)
    }
}

/// Direct loops for the thin layers of small energies (an input of 1-4 coordinates, a
/// scalar output), where a general GEMM spends its time packing: 2-D samplers call
/// these on every step. Each returns false (and does nothing) when it does not apply.
mod small {
    use super::Linear;
    use crate::nn::simd;
    use ndarray::{ArrayView2, ArrayViewMut2, Axis};

    /// Most scalars of a transposed weight kept on the stack.
    const MAX_T: usize = 2048;

    /// `sum_j a_j b_j` with 16 independent partial sums (vectorizes).
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0.0f32; 16];
        let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..16 {
                acc[l] += x[l] * y[l];
            }
        }
        let mut s: f32 = acc.iter().sum();
        for (x, y) in ra.iter().zip(rb) {
            s += x * y;
        }
        s
    }

    #[inline(always)]
    fn fprop_k<const N: usize>(
        w: &[f32],
        bias: &[f32],
        z_in: ArrayView2<f32>,
        mut z_out: ArrayViewMut2<f32>,
    ) {
        for (x, mut o) in z_in.axis_iter(Axis(0)).zip(z_out.axis_iter_mut(Axis(0))) {
            let mut xv = [0.0f32; N];
            for i in 0..N {
                xv[i] = x[i];
            }
            let o = o.as_slice_mut().expect("contiguous row");
            for ((o, wr), &b) in o.iter_mut().zip(w.chunks_exact(N)).zip(bias) {
                let mut s = b;
                for i in 0..N {
                    s += xv[i] * wr[i];
                }
                *o = s;
            }
        }
    }

    /// `z_out = z_in W^T + b` for `in <= 4` or `out == 1`.
    pub(super) fn fprop(l: &Linear, z_in: ArrayView2<f32>, mut z_out: ArrayViewMut2<f32>) -> bool {
        let (n_in, n_out) = (l.in_dim(), l.out_dim_());
        let rows_ok = z_out.nrows() == 0 || z_out.row(0).as_slice().is_some();
        let w = &l.weight.value;
        let b = &l.bias.value;
        if n_out == 1 && z_in.is_standard_layout() {
            let x = z_in.as_slice().expect("standard layout");
            simd::dispatch(
                #[inline(always)]
                || {
                    for (o, xr) in z_out.iter_mut().zip(x.chunks_exact(n_in)) {
                        *o = b[0] + dot(xr, w);
                    }
                },
            );
            return true;
        }
        if n_in > 4 || !rows_ok {
            return false;
        }
        simd::dispatch(
            #[inline(always)]
            || match n_in {
                1 => fprop_k::<1>(w, b, z_in, z_out),
                2 => fprop_k::<2>(w, b, z_in, z_out),
                3 => fprop_k::<3>(w, b, z_in, z_out),
                _ => fprop_k::<4>(w, b, z_in, z_out),
            },
        );
        true
    }

    /// `lam_in = lam_out W` for `in <= 4` (dot products against the columns of W,
    /// transposed once on the stack) or `out == 1` (an outer product).
    pub(super) fn bprop_input(
        l: &Linear,
        lam_out: ArrayView2<f32>,
        mut lam_in: ArrayViewMut2<f32>,
    ) -> bool {
        let (n_in, n_out) = (l.in_dim(), l.out_dim_());
        let w = &l.weight.value;
        if !(lam_out.is_standard_layout() && lam_in.is_standard_layout()) {
            return false;
        }
        let lo = lam_out.as_slice().expect("standard layout");
        let li = lam_in.as_slice_mut().expect("standard layout");
        if n_out == 1 {
            simd::dispatch(
                #[inline(always)]
                || {
                    for (row, &g) in li.chunks_exact_mut(n_in).zip(lo) {
                        for (r, &wv) in row.iter_mut().zip(w) {
                            *r = g * wv;
                        }
                    }
                },
            );
            return true;
        }
        if n_in > 4 || n_in * n_out > MAX_T {
            return false;
        }
        let mut wt = [0.0f32; MAX_T]; // W^T, [in, out]
        for o in 0..n_out {
            for i in 0..n_in {
                wt[i * n_out + o] = w[o * n_in + i];
            }
        }
        simd::dispatch(
            #[inline(always)]
            || {
                for (row, g) in li.chunks_exact_mut(n_in).zip(lo.chunks_exact(n_out)) {
                    for (i, r) in row.iter_mut().enumerate() {
                        *r = dot(g, &wt[i * n_out..(i + 1) * n_out]);
                    }
                }
            },
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;

    /// The direct loops for thin layers agree with the definition for every thin shape.
    #[test]
    fn thin_layers_match_the_definition() {
        let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        for (n_in, n_out) in [
            (1, 7),
            (2, 128),
            (3, 5),
            (4, 33),
            (9, 1),
            (2, 1),
            (40, 1),
            (200, 1),
        ] {
            let l = Linear::new(n_in, n_out, Init::PyTorchDefault, &mut r);
            let x = Array2::from_shape_fn((13, n_in), |(i, j)| ((i * 3 + j * 7) % 5) as f32 - 2.0);
            let w = l.weight.view2();
            let want = x.dot(&w.t()) + l.bias.view2();
            let mut got = Array2::zeros((13, n_out));
            l.fprop(x.view(), got.view_mut(), Parallelism::None);
            for (a, b) in got.iter().zip(want.iter()) {
                assert!(
                    (a - b).abs() < 1e-5 * b.abs().max(1.0),
                    "fprop {n_in}->{n_out}"
                );
            }
            let lo = Array2::from_shape_fn((13, n_out), |(i, j)| ((i + 2 * j) % 7) as f32 - 3.0);
            let want = lo.dot(&w);
            let mut got = Array2::zeros((13, n_in));
            l.bprop_input(
                x.view(),
                x.view(),
                lo.view(),
                got.view_mut(),
                Parallelism::None,
            );
            for (a, b) in got.iter().zip(want.iter()) {
                assert!(
                    (a - b).abs() < 1e-4 * b.abs().max(1.0),
                    "bprop {n_in}->{n_out}"
                );
            }
        }
    }
}
