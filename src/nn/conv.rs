//! Convolutions as constraints `z_{k+1} = W * z_k + b`, images stored flat (NCHW) in the
//! engine's `[batch, features]` arrays: row `b` of a state is `[c, h, w]` read in
//! row-major order, so flattening is free and a module only has to know its spatial
//! shape.
//!
//! With `im2col`, `col(x)[(c, i, j), (oy, ox)] = x[c, oy s - p + i, ox s - p + j]` (zero
//! outside the image), `K = c_in kh kw` rows by `h_out w_out` columns, and `W_m` the
//! weight read as `[c_out, K]`:
//!
//! - [`Conv2d`] fprop: `out_b = W_m col(x_b) + b`, `[c_out, K] x [K, hw_out]`;
//!   bprop to the input: `lam_in_b = col2im(W_m^T lam_out_b)` (col2im scatters and adds,
//!   the adjoint of im2col); to the weights: `dW_m += lam_out_b col(x_b)^T`,
//!   `db += sum over positions of lam_out_b`.
//! - [`ConvTranspose2d`] is the adjoint of a convolution (PyTorch's weight
//!   `[c_in, c_out, kh, kw]` is that convolution's `W_m`, `[c_in, c_out kh kw]`):
//!   fprop `y_b = col2im(W_m^T x_b) + b`, bprop to the input `lam_in_b = W_m col(lam_out_b)`,
//!   to the weights `dW_m += x_b col(lam_out_b)^T`.
//! - [`AvgPool2d`] (kernel = stride = `k`, PyTorch's floor): `y[c, oy, ox] =
//!   mean of x[c, oy k + i, ox k + j]`, `lam_in[c, y, x] = lam_out[c, y/k, x/k] / k^2`.
//!
//! The images of a batch are cut into one part per thread; each part runs its GEMMs on
//! one thread with a per-thread scratch (the `col` matrix and the part's weight
//! gradient) kept between calls, so a steady-state step allocates nothing.

use super::init::Init;
use super::matmul::matmul;
use super::{Module, Parallelism, Param, Parameters};
use crate::{Error, Result};
use ndarray::{ArrayView2, ArrayViewMut2};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::sync::Mutex;

/// The shape of a convolution: input `[c_in, h, w]`, kernel `[kh, kw]`, stride, zero
/// padding, output `[c_out, h_out, w_out]` with `h_out = (h + 2p - kh) / s + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvGeom {
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvGeom {
    /// A checked geometry: every size positive and the kernel no larger than the padded
    /// image; the error names `what` (the layer).
    pub fn new(
        what: &str,
        (c_in, h, w): (usize, usize, usize),
        c_out: usize,
        (kh, kw): (usize, usize),
        stride: usize,
        pad: usize,
    ) -> Result<Self> {
        if [c_in, h, w, c_out, kh, kw, stride].contains(&0) {
            return Err(Error::invalid(
                what,
                format!(
                    "sizes must be positive (input [{c_in}, {h}, {w}], {c_out} channels out, \
                     kernel {kh}x{kw}, stride {stride})"
                ),
            ));
        }
        if kh > h + 2 * pad || kw > w + 2 * pad {
            return Err(Error::invalid(
                what,
                format!("kernel {kh}x{kw} is larger than the padded image {h}x{w} + 2*{pad}"),
            ));
        }
        Ok(ConvGeom {
            c_in,
            h,
            w,
            c_out,
            kh,
            kw,
            stride,
            pad,
        })
    }
    /// Output height.
    pub fn h_out(&self) -> usize {
        (self.h + 2 * self.pad - self.kh) / self.stride + 1
    }
    /// Output width.
    pub fn w_out(&self) -> usize {
        (self.w + 2 * self.pad - self.kw) / self.stride + 1
    }
    /// Output positions `h_out w_out`.
    pub fn hw_out(&self) -> usize {
        self.h_out() * self.w_out()
    }
    /// Input width in the flat layout, `c_in h w`.
    pub fn in_len(&self) -> usize {
        self.c_in * self.h * self.w
    }
    /// Output width in the flat layout, `c_out h_out w_out`.
    pub fn out_len(&self) -> usize {
        self.c_out * self.hw_out()
    }
    /// Rows of `col`, `c_in kh kw`.
    pub fn k_len(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
    /// A 1x1 kernel with stride 1 and no padding: `col(x)` is `x` itself.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
    /// For kernel offset `j` along an axis of length `n` and output length `n_out`, the
    /// output range `lo..hi` whose input index `o s + j - p` is inside `0..n`.
    fn valid(&self, j: usize, n: usize, n_out: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.pad);
        let lo = if p > j { (p - j).div_ceil(s) } else { 0 };
        let hi = if n + p > j {
            ((n + p - j).div_ceil(s)).min(n_out)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

/// `col[(c, i, j), (oy, ox)] = x[c, oy s - p + i, ox s - p + j]`, zero outside:
/// `x: [c_in, h, w] -> col: [K, hw_out]`.
pub fn im2col(g: &ConvGeom, x: &[f32], col: &mut [f32]) {
    let (h, w, s, p) = (g.h, g.w, g.stride, g.pad);
    let (ho, wo) = (g.h_out(), g.w_out());
    let hw = ho * wo;
    for c in 0..g.c_in {
        let xc = &x[c * h * w..(c + 1) * h * w];
        for i in 0..g.kh {
            let (ylo, yhi) = g.valid(i, h, ho);
            for j in 0..g.kw {
                let (xlo, xhi) = g.valid(j, w, wo);
                let row = &mut col[((c * g.kh + i) * g.kw + j) * hw..][..hw];
                row[..ylo * wo].fill(0.0);
                row[yhi * wo..].fill(0.0);
                for oy in ylo..yhi {
                    let src = &xc[(oy * s + i - p) * w..][..w];
                    let dst = &mut row[oy * wo..(oy + 1) * wo];
                    dst[..xlo].fill(0.0);
                    dst[xhi..].fill(0.0);
                    if s == 1 {
                        let x0 = xlo + j - p;
                        dst[xlo..xhi].copy_from_slice(&src[x0..x0 + (xhi - xlo)]);
                    } else {
                        for (ox, d) in dst[xlo..xhi].iter_mut().enumerate() {
                            *d = src[(ox + xlo) * s + j - p];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: `x[c, y, x] += sum of col` over the entries that read it,
/// `col: [K, hw_out] -> x: [c_in, h, w]` (added to what `x` holds).
pub fn col2im_add(g: &ConvGeom, col: &[f32], x: &mut [f32]) {
    let (h, w, s, p) = (g.h, g.w, g.stride, g.pad);
    let (ho, wo) = (g.h_out(), g.w_out());
    let hw = ho * wo;
    for c in 0..g.c_in {
        let xc = &mut x[c * h * w..(c + 1) * h * w];
        for i in 0..g.kh {
            let (ylo, yhi) = g.valid(i, h, ho);
            for j in 0..g.kw {
                let (xlo, xhi) = g.valid(j, w, wo);
                let row = &col[((c * g.kh + i) * g.kw + j) * hw..][..hw];
                for oy in ylo..yhi {
                    let dst = &mut xc[(oy * s + i - p) * w..][..w];
                    let src = &row[oy * wo + xlo..oy * wo + xhi];
                    if s == 1 {
                        let x0 = xlo + j - p;
                        dst[x0..x0 + src.len()]
                            .iter_mut()
                            .zip(src)
                            .for_each(|(d, &v)| *d += v);
                    } else {
                        for (ox, &v) in src.iter().enumerate() {
                            dst[(ox + xlo) * s + j - p] += v;
                        }
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Per-thread scratch: the `col` matrix, a part's weight and bias gradients.
    static SCRATCH: RefCell<[Vec<f32>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// Images per part when `batch` images are cut into one part per thread of `par`.
fn per_part(batch: usize, par: Parallelism) -> usize {
    let threads = match par {
        Parallelism::None => 1,
        Parallelism::Rayon(0) => rayon::current_num_threads(),
        Parallelism::Rayon(n) => n,
    };
    let parts = threads.min(batch).max(1);
    batch.div_ceil(parts).max(1)
}

/// Run `f(images in, images out, scratch)` on parts of the batch, one part per thread
/// of `par`; `x` rows are `in_len` wide, `y` rows `out_len`. `f` sizes the thread's
/// scratch buffers with [`grow`].
fn for_parts<F>(x: &[f32], in_len: usize, y: &mut [f32], out_len: usize, par: Parallelism, f: F)
where
    F: Fn(&[f32], &mut [f32], &mut [Vec<f32>; 3]) + Sync,
{
    let batch = x.len() / in_len.max(1);
    let per = per_part(batch, par);
    let run = |xs: &[f32], ys: &mut [f32]| SCRATCH.with(|s| f(xs, ys, &mut s.borrow_mut()));
    if per >= batch {
        run(x, y);
        return;
    }
    x.par_chunks(per * in_len)
        .zip(y.par_chunks_mut(per * out_len))
        .for_each(|(xs, ys)| run(xs, ys));
}

/// Ensure `v` holds at least `n` values and return the first `n`.
fn grow(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

fn v2(s: &[f32], r: usize, c: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((r, c), s).expect("conv view")
}
fn v2m(s: &mut [f32], r: usize, c: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((r, c), s).expect("conv view")
}

/// A contiguous copy of `a` unless it already is one (views of a workspace always are).
fn flat(a: ArrayView2<'_, f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// Run `f` on `out` as one contiguous slice, copying through a buffer if it is not one.
fn with_flat_mut(mut out: ArrayViewMut2<f32>, f: impl FnOnce(&mut [f32])) {
    if let Some(s) = out.as_slice_mut() {
        f(s);
        return;
    }
    let mut buf: Vec<f32> = out.iter().copied().collect();
    f(&mut buf);
    out.iter_mut().zip(buf).for_each(|(o, v)| *o = v);
}

fn shape_error(what: String, expected: usize, found: usize) -> Error {
    Error::Shape {
        what,
        expected: vec![expected],
        found: vec![found],
    }
}

/// Accumulate the weight and bias gradients of the parts: each part computes its sums
/// in its scratch (`f(images a, images b, dW part, db part, col)`), then adds them
/// under a lock.
fn weight_grad_parts<F>(
    (a, a_len): (&[f32], usize),
    (b, b_len): (&[f32], usize),
    weight: &mut Param,
    bias: &mut Param,
    par: Parallelism,
    f: F,
) where
    F: Fn(&[f32], &[f32], &mut [f32], &mut [f32], &mut Vec<f32>) + Sync,
{
    let (nw, nb) = (weight.len(), bias.len());
    let acc = Mutex::new((&mut weight.grad, &mut bias.grad));
    let batch = a.len() / a_len.max(1);
    let per = per_part(batch, par);
    let run = |xa: &[f32], xb: &[f32]| {
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let [col, dw, db] = s;
            let dw = grow(dw, nw);
            let db = grow(db, nb);
            dw.fill(0.0);
            db.fill(0.0);
            f(xa, xb, dw, db, col);
            let mut g = acc.lock().unwrap_or_else(|e| e.into_inner());
            g.0.iter_mut().zip(dw.iter()).for_each(|(g, &d)| *g += d);
            g.1.iter_mut().zip(db.iter()).for_each(|(g, &d)| *g += d);
        })
    };
    if per >= batch {
        run(a, b);
        return;
    }
    a.par_chunks(per * a_len)
        .zip(b.par_chunks(per * b_len))
        .for_each(|(xa, xb)| run(xa, xb));
}

/// `db[o] += sum_p lam[o, p]` for one image's adjoint `[c, hw]`.
fn add_bias_grad(lam: &[f32], hw: usize, db: &mut [f32]) {
    for (d, row) in db.iter_mut().zip(lam.chunks_exact(hw)) {
        *d += row.iter().sum::<f32>();
    }
}

/// Fill every `[c, hw]` block of `y` with its channel's bias.
fn fill_bias(y: &mut [f32], bias: &[f32], hw: usize) {
    for (row, &b) in y.chunks_exact_mut(hw).zip(bias.iter().cycle()) {
        row.fill(b);
    }
}

/// A 2-D convolution (PyTorch's `nn.Conv2d`, no dilation or groups): weight
/// `[c_out, c_in, kh, kw]`, bias `[c_out]`.
#[derive(Clone, Debug)]
pub struct Conv2d {
    pub geom: ConvGeom,
    /// `[c_out, c_in, kh, kw]`.
    pub weight: Param,
    /// `[c_out]`.
    pub bias: Param,
}

impl Conv2d {
    /// A convolution of `geom` drawn with `init` (PyTorch's fans: `c_in kh kw` and
    /// `c_out kh kw`).
    pub fn new(geom: ConvGeom, init: Init, rng: &mut impl Rng) -> Self {
        let g = geom;
        let (w, b) = init.draw_shaped(
            g.k_len(),
            g.c_out * g.kh * g.kw,
            g.c_out * g.k_len(),
            g.c_out,
            rng,
        );
        Conv2d {
            geom,
            weight: Param::new(vec![g.c_out, g.c_in, g.kh, g.kw], w),
            bias: Param::new(vec![g.c_out], b),
        }
    }
}

impl Parameters for Conv2d {
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

impl Module for Conv2d {
    fn kind(&self) -> &'static str {
        "conv2d"
    }
    fn out_dim(&self, in_dim: usize) -> Result<usize> {
        let g = &self.geom;
        if in_dim != g.in_len() {
            return Err(shape_error(
                format!("conv2d [{}, {}, {}] input", g.c_in, g.h, g.w),
                g.in_len(),
                in_dim,
            ));
        }
        Ok(g.out_len())
    }
    fn fprop(&self, z_in: ArrayView2<f32>, z_out: ArrayViewMut2<f32>, par: Parallelism) {
        let g = self.geom;
        let (kl, hw) = (g.k_len(), g.hw_out());
        let wm = v2(&self.weight.value, g.c_out, kl); // [c_out, K]
        let x = flat(z_in);
        with_flat_mut(z_out, |y| {
            for_parts(&x, g.in_len(), y, g.out_len(), par, |xs, ys, s| {
                for (xb, yb) in xs
                    .chunks_exact(g.in_len())
                    .zip(ys.chunks_exact_mut(g.out_len()))
                {
                    fill_bias(yb, &self.bias.value, hw);
                    let col = if g.pointwise() {
                        xb
                    } else {
                        let col = grow(&mut s[0], kl * hw);
                        im2col(&g, xb, col);
                        &*col
                    };
                    // [c_out, K] x [K, hw] -> [c_out, hw]
                    matmul(
                        wm,
                        v2(col, kl, hw),
                        v2m(yb, g.c_out, hw),
                        true,
                        Parallelism::None,
                    );
                }
            })
        });
    }
    fn bprop_input(
        &self,
        _z_in: ArrayView2<f32>,
        _z_out: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        lam_in: ArrayViewMut2<f32>,
        par: Parallelism,
    ) {
        let g = self.geom;
        let (kl, hw) = (g.k_len(), g.hw_out());
        let wm = v2(&self.weight.value, g.c_out, kl);
        let lo = flat(lam_out);
        with_flat_mut(lam_in, |li| {
            for_parts(&lo, g.out_len(), li, g.in_len(), par, |ls, xs, s| {
                for (lb, xb) in ls
                    .chunks_exact(g.out_len())
                    .zip(xs.chunks_exact_mut(g.in_len()))
                {
                    let lv = v2(lb, g.c_out, hw);
                    if g.pointwise() {
                        // [K, c_out] x [c_out, hw] -> [K, hw] = lam_in_b
                        matmul(wm.t(), lv, v2m(xb, kl, hw), false, Parallelism::None);
                        continue;
                    }
                    let dcol = grow(&mut s[0], kl * hw);
                    matmul(wm.t(), lv, v2m(dcol, kl, hw), false, Parallelism::None); // [K, hw]
                    xb.fill(0.0);
                    col2im_add(&g, dcol, xb);
                }
            })
        });
    }
    fn accumulate_weight_grad(
        &mut self,
        z_in: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        par: Parallelism,
    ) {
        let g = self.geom;
        let (kl, hw) = (g.k_len(), g.hw_out());
        let x = flat(z_in);
        let lo = flat(lam_out);
        weight_grad_parts(
            (&x, g.in_len()),
            (&lo, g.out_len()),
            &mut self.weight,
            &mut self.bias,
            par,
            |xs, ls, dw, db, col| {
                for (xb, lb) in xs
                    .chunks_exact(g.in_len())
                    .zip(ls.chunks_exact(g.out_len()))
                {
                    let c = if g.pointwise() {
                        xb
                    } else {
                        let c = grow(col, kl * hw);
                        im2col(&g, xb, c);
                        &*c
                    };
                    // [c_out, hw] x [hw, K] -> [c_out, K]
                    let (lv, cv) = (v2(lb, g.c_out, hw), v2(c, kl, hw));
                    matmul(lv, cv.t(), v2m(dw, g.c_out, kl), true, Parallelism::None);
                    add_bias_grad(lb, hw, db);
                }
            },
        );
    }
    fn box_clone(&self) -> Box<dyn Module> {
        Box::new(self.clone())
    }
}

/// A transposed convolution (PyTorch's `nn.ConvTranspose2d`, no dilation or groups):
/// weight `[c_in, c_out, kh, kw]`, bias `[c_out]`; input `[c_in, h, w]`, output
/// `[c_out, (h - 1) s - 2p + kh + op, ...]` with output padding `op < s`.
#[derive(Clone, Debug)]
pub struct ConvTranspose2d {
    /// The convolution this one is the adjoint of: its input is this layer's output.
    pub inner: ConvGeom,
    /// `[c_in, c_out, kh, kw]`.
    pub weight: Param,
    /// `[c_out]`.
    pub bias: Param,
}

impl ConvTranspose2d {
    /// A transposed convolution from `[c_in, h, w]` to `c_out` channels; the error names
    /// `what` when the sizes do not make a layer.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        what: &str,
        (c_in, h, w): (usize, usize, usize),
        c_out: usize,
        (kh, kw): (usize, usize),
        stride: usize,
        pad: usize,
        out_pad: usize,
        init: Init,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if stride == 0 || out_pad >= stride {
            return Err(Error::invalid(
                what,
                format!("output padding {out_pad} must be smaller than the stride {stride}"),
            ));
        }
        let grow_h = (h.max(1) - 1) * stride + kh + out_pad;
        let grow_w = (w.max(1) - 1) * stride + kw + out_pad;
        if grow_h <= 2 * pad || grow_w <= 2 * pad {
            return Err(Error::invalid(
                what,
                format!("padding {pad} leaves no output for a {h}x{w} input"),
            ));
        }
        let inner = ConvGeom::new(
            what,
            (c_out, grow_h - 2 * pad, grow_w - 2 * pad),
            c_in,
            (kh, kw),
            stride,
            pad,
        )?;
        if inner.h_out() != h || inner.w_out() != w || c_in == 0 {
            return Err(Error::invalid(
                what,
                "sizes do not make a transposed convolution",
            ));
        }
        // PyTorch's fans for a [c_in, c_out, kh, kw] weight: fan_in = c_out kh kw.
        let (wv, b) = init.draw_shaped(
            c_out * kh * kw,
            c_in * kh * kw,
            c_in * c_out * kh * kw,
            c_out,
            rng,
        );
        Ok(ConvTranspose2d {
            inner,
            weight: Param::new(vec![c_in, c_out, kh, kw], wv),
            bias: Param::new(vec![c_out], b),
        })
    }
}

impl Parameters for ConvTranspose2d {
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

impl Module for ConvTranspose2d {
    fn kind(&self) -> &'static str {
        "conv_transpose2d"
    }
    fn out_dim(&self, in_dim: usize) -> Result<usize> {
        let g = &self.inner;
        if in_dim != g.out_len() {
            return Err(shape_error(
                format!(
                    "conv_transpose2d [{}, {}, {}] input",
                    g.c_out,
                    g.h_out(),
                    g.w_out()
                ),
                g.out_len(),
                in_dim,
            ));
        }
        Ok(g.in_len())
    }
    fn fprop(&self, z_in: ArrayView2<f32>, z_out: ArrayViewMut2<f32>, par: Parallelism) {
        let g = self.inner;
        let (kl, hw) = (g.k_len(), g.hw_out());
        let wm = v2(&self.weight.value, g.c_out, kl); // [c_in_T, K]
        let x = flat(z_in);
        with_flat_mut(z_out, |y| {
            for_parts(&x, g.out_len(), y, g.in_len(), par, |xs, ys, s| {
                for (xb, yb) in xs
                    .chunks_exact(g.out_len())
                    .zip(ys.chunks_exact_mut(g.in_len()))
                {
                    fill_bias(yb, &self.bias.value, g.h * g.w);
                    let dcol = grow(&mut s[0], kl * hw);
                    // [K, c_in_T] x [c_in_T, hw] -> [K, hw]
                    matmul(
                        wm.t(),
                        v2(xb, g.c_out, hw),
                        v2m(dcol, kl, hw),
                        false,
                        Parallelism::None,
                    );
                    col2im_add(&g, dcol, yb);
                }
            })
        });
    }
    fn bprop_input(
        &self,
        _z_in: ArrayView2<f32>,
        _z_out: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        lam_in: ArrayViewMut2<f32>,
        par: Parallelism,
    ) {
        let g = self.inner;
        let (kl, hw) = (g.k_len(), g.hw_out());
        let wm = v2(&self.weight.value, g.c_out, kl);
        let lo = flat(lam_out);
        with_flat_mut(lam_in, |li| {
            for_parts(&lo, g.in_len(), li, g.out_len(), par, |ls, xs, s| {
                for (lb, xb) in ls
                    .chunks_exact(g.in_len())
                    .zip(xs.chunks_exact_mut(g.out_len()))
                {
                    let col = grow(&mut s[0], kl * hw);
                    im2col(&g, lb, col);
                    // [c_in_T, K] x [K, hw] -> [c_in_T, hw]
                    matmul(
                        wm,
                        v2(col, kl, hw),
                        v2m(xb, g.c_out, hw),
                        false,
                        Parallelism::None,
                    );
                }
            })
        });
    }
    fn accumulate_weight_grad(
        &mut self,
        z_in: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        par: Parallelism,
    ) {
        let g = self.inner;
        let (kl, hw) = (g.k_len(), g.hw_out());
        let x = flat(z_in);
        let lo = flat(lam_out);
        weight_grad_parts(
            (&x, g.out_len()),
            (&lo, g.in_len()),
            &mut self.weight,
            &mut self.bias,
            par,
            |xs, ls, dw, db, col| {
                for (xb, lb) in xs
                    .chunks_exact(g.out_len())
                    .zip(ls.chunks_exact(g.in_len()))
                {
                    let c = grow(col, kl * hw);
                    im2col(&g, lb, c);
                    // [c_in_T, hw] x [hw, K] -> [c_in_T, K]
                    let (xv, cv) = (v2(xb, g.c_out, hw), v2(c, kl, hw));
                    matmul(xv, cv.t(), v2m(dw, g.c_out, kl), true, Parallelism::None);
                    add_bias_grad(lb, g.h * g.w, db);
                }
            },
        );
    }
    fn box_clone(&self) -> Box<dyn Module> {
        Box::new(self.clone())
    }
}

/// Average pooling with kernel = stride = `k` over `[c, h, w]` (PyTorch's
/// `nn.AvgPool2d(k)`: the last `h mod k` rows and columns are dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
}

impl AvgPool2d {
    /// A pooling of `[c, h, w]` by `k`; the error names `what`.
    pub fn new(what: &str, (c, h, w): (usize, usize, usize), k: usize) -> Result<Self> {
        if c == 0 || k == 0 || h < k || w < k {
            return Err(Error::invalid(
                what,
                format!("cannot pool [{c}, {h}, {w}] by {k}"),
            ));
        }
        Ok(AvgPool2d { c, h, w, k })
    }
    fn out(&self) -> (usize, usize) {
        (self.h / self.k, self.w / self.k)
    }
    fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    fn out_len(&self) -> usize {
        let (ho, wo) = self.out();
        self.c * ho * wo
    }
}

impl Parameters for AvgPool2d {
    fn visit_mut(&mut self, _f: &mut dyn FnMut(&mut Param)) {}
    fn visit_named(&self, _prefix: &str, _f: &mut dyn FnMut(&str, &Param)) {}
    fn visit_named_mut(&mut self, _prefix: &str, _f: &mut dyn FnMut(&str, &mut Param)) {}
}

impl Module for AvgPool2d {
    fn kind(&self) -> &'static str {
        "avg_pool2d"
    }
    fn out_dim(&self, in_dim: usize) -> Result<usize> {
        if in_dim != self.in_len() {
            return Err(shape_error(
                format!("avg_pool2d [{}, {}, {}] input", self.c, self.h, self.w),
                self.in_len(),
                in_dim,
            ));
        }
        Ok(self.out_len())
    }
    fn fprop(&self, z_in: ArrayView2<f32>, z_out: ArrayViewMut2<f32>, par: Parallelism) {
        let (ho, wo) = self.out();
        let (k, h, w) = (self.k, self.h, self.w);
        let scale = 1.0 / (k * k) as f32;
        let x = flat(z_in);
        with_flat_mut(z_out, |y| {
            for_parts(&x, self.in_len(), y, self.out_len(), par, |xs, ys, _| {
                for (xc, yc) in xs.chunks_exact(h * w).zip(ys.chunks_exact_mut(ho * wo)) {
                    yc.fill(0.0);
                    for yy in 0..ho * k {
                        let src = &xc[yy * w..yy * w + wo * k];
                        let dst = &mut yc[(yy / k) * wo..(yy / k + 1) * wo];
                        for (d, cell) in dst.iter_mut().zip(src.chunks_exact(k)) {
                            *d += cell.iter().sum::<f32>() * scale;
                        }
                    }
                }
            })
        });
    }
    fn bprop_input(
        &self,
        _z_in: ArrayView2<f32>,
        _z_out: ArrayView2<f32>,
        lam_out: ArrayView2<f32>,
        lam_in: ArrayViewMut2<f32>,
        par: Parallelism,
    ) {
        let (ho, wo) = self.out();
        let (k, h, w) = (self.k, self.h, self.w);
        let scale = 1.0 / (k * k) as f32;
        let lo = flat(lam_out);
        with_flat_mut(lam_in, |li| {
            for_parts(&lo, self.out_len(), li, self.in_len(), par, |ls, xs, _| {
                for (lc, xc) in ls.chunks_exact(ho * wo).zip(xs.chunks_exact_mut(h * w)) {
                    xc.fill(0.0);
                    for yy in 0..ho * k {
                        let src = &lc[(yy / k) * wo..(yy / k + 1) * wo];
                        let dst = &mut xc[yy * w..yy * w + wo * k];
                        for (cell, &l) in dst.chunks_exact_mut(k).zip(src) {
                            cell.fill(l * scale);
                        }
                    }
                }
            })
        });
    }
    fn box_clone(&self) -> Box<dyn Module> {
        Box::new(*self)
    }
}
