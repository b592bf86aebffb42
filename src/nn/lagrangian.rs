//! Backprop as Lagrangian optimization (lecture, SPEC section 8).
//!
//! A chain is the constrained problem `min C(z_K, y)` subject to
//! `z_{k+1} = g_k(z_k, w_k)`, `z_0 = x`. Its Lagrangian is
//!
//! `L(z, lambda, w) = C(z_K, y) + sum_k lambda_{k+1}^T (z_{k+1} - g_k(z_k, w_k))`.
//!
//! - `dL/dlambda_{k+1} = 0` is the forward pass `z_{k+1} = g_k(z_k, w_k)`;
//! - `dL/dz_K = 0` gives `lambda_K = -dC/dz_K`, and `dL/dz_k = 0` (0 < k < K) gives the
//!   backward recursion `lambda_k = (dg_k/dz_k)^T lambda_{k+1}`;
//! - `dL/dw_k = -(dg_k/dw_k)^T lambda_{k+1}`, which at the solution is `dC/dw_k`.
//!
//! So `lambda_k = -dC/dz_k`: the multipliers are minus the gradients backprop computes.
//! [`solve`] returns the states, multipliers and weight gradients; [`residuals`] measures
//! how far any given (states, multipliers, gradients) are from stationarity.

use super::loss::Cost;
use super::sequential::Sequential;
use super::{Module, Parallelism, Parameters};
use ndarray::{Array2, ArrayView2, Zip};

/// States, multipliers and weight gradients of a chain at the forward/backward solution.
#[derive(Clone, Debug)]
pub struct Lagrangian {
    /// `z_0 .. z_K`, each `[batch, d_k]`.
    pub z: Vec<Array2<f32>>,
    /// `lambda_0 .. lambda_K` (`lambda_k = -dC/dz_k`), each `[batch, d_k]`.
    pub lambda: Vec<Array2<f32>>,
    /// `dC/dw_k` for each module `k`, its parameters concatenated in visiting order
    /// (empty for modules without weights).
    pub weight_grads: Vec<Vec<f32>>,
    /// `C(z_K, y)`.
    pub cost: f64,
}

/// Norms of the three stationarity conditions, each relative to the size of the
/// quantity it constrains and maximized over `k`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Residuals {
    /// In lambda (the forward constraints): `max_k ||z_{k+1} - g_k(z_k)|| / ||z_{k+1}||`.
    pub lambda: f64,
    /// In z: `||lambda_K + dC/dz_K|| / ||lambda_K||` and
    /// `||lambda_k - (dg_k/dz_k)^T lambda_{k+1}|| / ||lambda_k||`.
    pub z: f64,
    /// In w: `||G_k + (dg_k/dw_k)^T lambda_{k+1}|| / ||G_k||` for the recorded gradients `G_k`.
    pub w: f64,
}

fn norm(a: ArrayView2<f32>) -> f64 {
    a.iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum::<f64>()
        .sqrt()
}

fn diff_norm(a: ArrayView2<f32>, b: ArrayView2<f32>) -> f64 {
    let mut s = 0.0f64;
    Zip::from(&a).and(&b).for_each(|&x, &y| {
        let d = x as f64 - y as f64;
        s += d * d;
    });
    s.sqrt()
}

fn rel(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { num }
}

fn layer_grads(m: &mut dyn Module) -> Vec<f32> {
    let mut g = Vec::new();
    m.visit_mut(&mut |p| g.extend_from_slice(&p.grad));
    g
}

/// Solve the stationarity conditions by one forward and one backward pass on the batch
/// `x` with targets `target`. The chain's gradients are overwritten with `dC/dw`.
pub fn solve(
    chain: &mut Sequential,
    x: ArrayView2<f32>,
    target: ArrayView2<f32>,
    cost: &dyn Cost,
) -> Lagrangian {
    let par = Parallelism::None;
    chain.zero_grad();
    let mut ws = chain.workspace(x.nrows());
    let out = chain.forward(x, &mut ws, par).to_owned(); // [batch, d_K]
    let mut g_out = Array2::zeros(out.dim());
    let c = cost.cost_grad(out.view(), target, g_out.view_mut());
    chain.backward(g_out.view(), &mut ws, true, par);
    let k = chain.len();
    let z = (0..=k).map(|i| ws.state(i).to_owned()).collect();
    let lambda = (0..=k).map(|i| ws.grad(i).mapv(|v| -v)).collect();
    let weight_grads = chain
        .layers_mut()
        .iter_mut()
        .map(|m| layer_grads(m.as_mut()))
        .collect();
    Lagrangian {
        z,
        lambda,
        weight_grads,
        cost: c,
    }
}

/// The value of the Lagrangian at `sol`:
/// `C(z_K, y) + sum_k lambda_{k+1}^T (z_{k+1} - g_k(z_k, w_k))`, in f64.
pub fn value(
    chain: &Sequential,
    sol: &Lagrangian,
    target: ArrayView2<f32>,
    cost: &dyn Cost,
) -> f64 {
    let k = chain.len();
    let mut l = cost.cost(sol.z[k].view(), target);
    for (i, m) in chain.layers().iter().enumerate() {
        let mut g = Array2::zeros(sol.z[i + 1].dim());
        m.fprop(sol.z[i].view(), g.view_mut(), Parallelism::None);
        Zip::from(&sol.lambda[i + 1])
            .and(&sol.z[i + 1])
            .and(&g)
            .for_each(|&lam, &z, &g| l += lam as f64 * (z as f64 - g as f64));
    }
    l
}

/// The three stationarity residuals of `sol` (any states, multipliers and gradients,
/// not only those of [`solve`]). Leaves the chain unchanged.
pub fn residuals(
    chain: &Sequential,
    sol: &Lagrangian,
    target: ArrayView2<f32>,
    cost: &dyn Cost,
) -> Residuals {
    let par = Parallelism::None;
    let k = chain.len();
    let mut r = Residuals {
        lambda: 0.0,
        z: 0.0,
        w: 0.0,
    };
    // dC/dz_K and lambda_K.
    let mut g_k = Array2::zeros(sol.z[k].dim());
    cost.cost_grad(sol.z[k].view(), target, g_k.view_mut());
    let sum = &sol.lambda[k] + &g_k;
    r.z = r.z.max(rel(norm(sum.view()), norm(sol.lambda[k].view())));
    for (i, m) in chain.layers().iter().enumerate() {
        // Forward constraint: z_{i+1} = g_i(z_i).
        let mut g = Array2::zeros(sol.z[i + 1].dim());
        m.fprop(sol.z[i].view(), g.view_mut(), par);
        let rl = rel(
            diff_norm(sol.z[i + 1].view(), g.view()),
            norm(sol.z[i + 1].view()),
        );
        r.lambda = r.lambda.max(rl);
        // Backward recursion (for 0 < i: z_0 = x is fixed, so lambda_0 is not constrained
        // by stationarity, but backprop still defines it; check it too).
        let mut back = Array2::zeros(sol.z[i].dim());
        m.bprop_input(
            sol.z[i].view(),
            g.view(),
            sol.lambda[i + 1].view(),
            back.view_mut(),
            par,
        );
        let rz = rel(
            diff_norm(sol.lambda[i].view(), back.view()),
            norm(sol.lambda[i].view()),
        );
        r.z = r.z.max(rz);
        // Weights: G_i = -(dg_i/dw_i)^T lambda_{i+1}.
        let mut mc = m.box_clone();
        mc.zero_grad();
        let neg = sol.lambda[i + 1].mapv(|v| -v);
        mc.accumulate_weight_grad(sol.z[i].view(), neg.view(), par);
        let want = layer_grads(mc.as_mut());
        if !want.is_empty() {
            let gi = &sol.weight_grads[i];
            let num = gi
                .iter()
                .zip(&want)
                .map(|(&a, &b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            let den = gi.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt();
            r.w = r.w.max(rel(num, den));
        }
    }
    r
}
