//! Matrix products through the `gemm` crate, on the arrays' own strides: a transposed
//! operand is a view with swapped strides, never a copy.

use gemm::Parallelism;
use ndarray::{ArrayView2, ArrayViewMut2};

/// `c = a · b` (or `c += a · b` when `accumulate`), with `a: [m, k]`, `b: [k, n]`,
/// `c: [m, n]`. Any strides; pass `x.t()` for a transpose.
///
/// # Panics
/// If the shapes do not chain (a bug in the caller: user shapes are checked when a
/// model is built).
pub fn matmul(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    mut c: ArrayViewMut2<f32>,
    accumulate: bool,
    par: Parallelism,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(k, k2, "matmul: inner dimensions {k} and {k2}");
    assert_eq!(c.dim(), (m, n), "matmul: output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    let (sa, sb, sc) = (a.strides(), b.strides(), c.strides());
    let (sa0, sa1, sb0, sb1, sc0, sc1) = (sa[0], sa[1], sb[0], sb[1], sc[0], sc[1]);
    // SAFETY: every pointer comes from a live ndarray view whose extent covers
    // `ptr + i*s0 + j*s1` for all in-range (i, j) with the strides passed here, which
    // is exactly the set of addresses gemm touches for an (m, k) x (k, n) -> (m, n)
    // product. `c` is a unique (&mut) borrow, so it cannot alias `a` or `b`, which
    // gemm only reads. The element type is f32, which gemm supports.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            sc1,
            sc0,
            accumulate,
            a.as_ptr(),
            sa1,
            sa0,
            b.as_ptr(),
            sb1,
            sb0,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn naive(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
        let mut c = Array2::zeros((a.nrows(), b.ncols()));
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                let mut s = 0.0f64;
                for l in 0..a.ncols() {
                    s += a[[i, l]] as f64 * b[[l, j]] as f64;
                }
                c[[i, j]] = s as f32;
            }
        }
        c
    }

    #[test]
    fn matches_naive_on_all_transposes() {
        let a = Array2::from_shape_fn((37, 23), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let b = Array2::from_shape_fn((23, 19), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.5 - 3.0);
        let at = a.t().to_owned(); // [23, 37]
        let bt = b.t().to_owned(); // [19, 23]
        let want = naive(a.view(), b.view());
        for par in [Parallelism::None, Parallelism::Rayon(2)] {
            for (aa, bb) in [
                (a.view(), b.view()),
                (at.t(), b.view()),
                (a.view(), bt.t()),
                (at.t(), bt.t()),
            ] {
                let mut c = Array2::from_elem((37, 19), 7.0f32);
                matmul(aa, bb, c.view_mut(), false, par);
                assert_eq!(c, want);
                // accumulate: c += a b
                matmul(aa, bb, c.view_mut(), true, par);
                assert_eq!(c, &want * 2.0);
                // transposed output: c^T = (a b)^T
                let mut ct = Array2::zeros((19, 37));
                matmul(aa, bb, ct.view_mut().reversed_axes(), false, par);
                assert_eq!(ct.t(), want);
            }
        }
    }

    #[test]
    fn empty_inner_dimension_zeroes() {
        let a = Array2::<f32>::zeros((3, 0));
        let b = Array2::<f32>::zeros((0, 4));
        let mut c = Array2::from_elem((3, 4), 1.0f32);
        matmul(a.view(), b.view(), c.view_mut(), false, Parallelism::None);
        assert!(c.iter().all(|&v| v == 0.0));
    }
}
