//! SPEC section 8: backprop as Lagrangian optimization.
//! Oracles: lambda_k = -dC/dz_k by finite differences; the three stationarity residuals
//! vanish at the forward/backward solution; a perturbed state makes the lambda residual
//! non-zero.

use ebm::nn::init::Init;
use ebm::nn::lagrangian::{self, residuals, solve};
use ebm::nn::{ActivationKind, Cost, Parallelism, Reduction, Sequential, SquaredError};
use ndarray::{Array2, s};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus as Rng64;

fn setup() -> (Sequential, Array2<f32>, Array2<f32>) {
    let mut r = Rng64::seed_from_u64(11);
    let chain = Sequential::build(3)
        .linear(5, Init::XavierUniform, &mut r)
        .tanh()
        .linear(4, Init::XavierUniform, &mut r)
        .act(ActivationKind::Softplus)
        .linear(2, Init::XavierUniform, &mut r)
        .finish();
    let x = Array2::from_shape_fn((6, 3), |_| r.gen_range(-1.0..1.0f32));
    let y = Array2::from_shape_fn((6, 2), |_| r.gen_range(-1.0..1.0f32));
    (chain, x, y)
}

/// C as a function of z_k alone: run the rest of the chain from z_k.
fn cost_from(chain: &Sequential, k: usize, zk: &Array2<f32>, y: &Array2<f32>) -> f64 {
    let mut z = zk.clone();
    for m in &chain.layers()[k..] {
        let d = m.out_dim(z.ncols()).unwrap();
        let mut out = Array2::zeros((z.nrows(), d));
        m.fprop(z.view(), out.view_mut(), Parallelism::None);
        z = out;
    }
    SquaredError(Reduction::Sum).cost(z.view(), y.view())
}

#[test]
fn multipliers_are_minus_the_finite_difference_gradients() {
    let (mut chain, x, y) = setup();
    let sol = solve(
        &mut chain,
        x.view(),
        y.view(),
        &SquaredError(Reduction::Sum),
    );
    assert_eq!(sol.z.len(), chain.len() + 1);
    let h = 1e-2f32;
    for k in 0..=chain.len() {
        let zk = &sol.z[k];
        for i in 0..zk.nrows() {
            for j in 0..zk.ncols() {
                let mut p = zk.clone();
                p[[i, j]] += h;
                let mut m = zk.clone();
                m[[i, j]] -= h;
                let fd = (cost_from(&chain, k, &p, &y) - cost_from(&chain, k, &m, &y))
                    / (2.0 * h as f64);
                let lam = sol.lambda[k][[i, j]] as f64;
                assert!(
                    (lam + fd).abs() <= 2e-3 * fd.abs().max(1.0),
                    "lambda_{k}[{i},{j}] = {lam}, -dC/dz = {}",
                    -fd
                );
            }
        }
    }
    // lambda_K = -dC/dz_K = -2 (z_K - y) for the summed squared error.
    let k = chain.len();
    let want = (&sol.z[k] - &y).mapv(|v| -2.0 * v);
    for (a, b) in sol.lambda[k].iter().zip(want.iter()) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn residuals_vanish_at_the_solution_and_not_elsewhere() {
    let (mut chain, x, y) = setup();
    let cost = SquaredError(Reduction::Sum);
    let sol = solve(&mut chain, x.view(), y.view(), &cost);
    let r = residuals(&chain, &sol, y.view(), &cost);
    assert!(r.lambda < 1e-5 && r.z < 1e-5 && r.w < 1e-5, "{r:?}");
    // At the solution the Lagrangian equals the cost (the constraint term is zero).
    let l = lagrangian::value(&chain, &sol, y.view(), &cost);
    assert!((l - sol.cost).abs() < 1e-9 * sol.cost.abs().max(1.0));

    // Move z_2 off the forward solution: the constraint residual becomes non-zero.
    let mut off = sol.clone();
    off.z[2].slice_mut(s![0, ..]).mapv_inplace(|v| v + 0.1);
    let r2 = residuals(&chain, &off, y.view(), &cost);
    assert!(r2.lambda > 1e-2, "{r2:?}");
    // Wrong multipliers: the z residual becomes non-zero.
    let mut off = sol.clone();
    off.lambda[3] *= 1.5;
    assert!(residuals(&chain, &off, y.view(), &cost).z > 1e-2);
    // Wrong weight gradients: the w residual becomes non-zero.
    let mut off = sol.clone();
    off.weight_grads[0][0] += 1.0;
    assert!(residuals(&chain, &off, y.view(), &cost).w > 1e-3);
}

#[test]
fn weight_gradients_of_the_solution_match_finite_differences() {
    let (mut chain, x, y) = setup();
    let cost = SquaredError(Reduction::Sum);
    let sol = solve(&mut chain, x.view(), y.view(), &cost);
    // Layer 2 (the second Linear): perturb its first weight.
    let h = 1e-2f32;
    let eval = |d: f32| {
        let mut c = chain.clone();
        let mut first = true;
        c.layers_mut()[2].visit_mut(&mut |p| {
            if first {
                p.value[0] += d;
                first = false;
            }
        });
        cost_from(&c, 0, &x, &y)
    };
    let fd = (eval(h) - eval(-h)) / (2.0 * h as f64);
    let g = sol.weight_grads[2][0] as f64;
    assert!((g - fd).abs() <= 2e-3 * fd.abs().max(1.0), "{g} vs {fd}");
}
