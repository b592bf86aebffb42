//! Backprop as Lagrangian optimization, checked on a small regression network (digits ->
//! 16 tanh -> 16 softplus -> 10 one-hot, squared error `C`): at the forward/backward
//! solution of [`crate::nn::lagrangian::solve`], each multiplier
//! `lambda_k = -dC/dz_k` against a central finite difference of the cost of the rest of
//! the chain, and the three stationarity residuals of
//! `L = C(z_K, y) + sum_k lambda_{k+1}^T (z_{k+1} - g_k(z_k, w_k))` (below 1e-5 at the
//! solution, of order 1e-2 or more with one state moved off it).

use crate::data::digits::Digits;
use crate::nn::init::Init;
use crate::nn::lagrangian::{Residuals, residuals, solve};
use crate::nn::{ActivationKind, Cost, Parallelism, Reduction, Sequential, SquaredError};
use ndarray::{Array2, ArrayView2, s};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::fmt;

/// One state `z_k` of the chain and its multiplier.
#[derive(Clone, Debug)]
pub struct ModuleRow {
    pub k: usize,
    /// The module that produced `z_k` (`input` for `z_0`).
    pub module: &'static str,
    pub width: usize,
    pub z_norm: f64,
    pub lambda_norm: f64,
    /// `|lambda_k[0,0] - FD| / max(|FD|, 1e-3)`.
    pub fd_rel_error: f64,
}

/// The whole check.
#[derive(Clone, Debug)]
pub struct LagrangianCheck {
    pub batch: usize,
    /// `C` at the solution.
    pub cost: f64,
    pub rows: Vec<ModuleRow>,
    /// Residuals at the forward/backward solution.
    pub at_solution: Residuals,
    /// Residuals with `z_2` moved off the solution by 0.05.
    pub moved: Residuals,
}

fn l2(a: &Array2<f32>) -> f64 {
    a.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt()
}

/// Finite-difference value of one entry of lambda_k, `-dC/dz_k[0, 0]` (central, h 1e-2):
/// the cost of the rest of the chain from `z_k` moved up and down.
fn fd_lambda(
    chain: &Sequential,
    z_k: &Array2<f32>,
    k: usize,
    y: ArrayView2<f32>,
    cost: &SquaredError,
) -> f64 {
    let h = 1e-2f32;
    let run_from = |z: &Array2<f32>| {
        let mut z = z.clone();
        for m in &chain.layers()[k..] {
            let mut o = Array2::zeros((z.nrows(), m.out_dim(z.ncols()).expect("chained")));
            m.fprop(z.view(), o.view_mut(), Parallelism::None);
            z = o;
        }
        cost.cost(z.view(), y)
    };
    let (mut zp, mut zm) = (z_k.clone(), z_k.clone());
    zp[[0, 0]] += h;
    zm[[0, 0]] -= h;
    -(run_from(&zp) - run_from(&zm)) / (2.0 * h as f64)
}

/// The check on the first `batch` embedded digits (at least 1, at most all 1,797), the
/// network initialized from `seed`.
pub fn check(batch: usize, seed: u64) -> LagrangianCheck {
    let d = Digits::embedded();
    let b = batch.clamp(1, d.len());
    let x = d.images.slice(s![..b, ..]).to_owned(); // [b, 64]
    let mut y = Array2::<f32>::zeros((b, 10)); // one-hot [b, 10]
    for (i, &l) in d.labels[..b].iter().enumerate() {
        y[[i, l as usize]] = 1.0;
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut chain = Sequential::build(64)
        .linear(16, Init::XavierUniform, &mut rng)
        .tanh()
        .linear(16, Init::XavierUniform, &mut rng)
        .act(ActivationKind::Softplus)
        .linear(10, Init::XavierUniform, &mut rng)
        .finish();
    let cost = SquaredError(Reduction::Sum);
    let sol = solve(&mut chain, x.view(), y.view(), &cost);
    let rows = (0..=chain.len())
        .map(|k| {
            let fd = fd_lambda(&chain, &sol.z[k], k, y.view(), &cost);
            let lam = sol.lambda[k][[0, 0]] as f64;
            ModuleRow {
                k,
                module: if k == 0 {
                    "input"
                } else {
                    chain.layers()[k - 1].kind()
                },
                width: sol.z[k].ncols(),
                z_norm: l2(&sol.z[k]),
                lambda_norm: l2(&sol.lambda[k]),
                fd_rel_error: (lam - fd).abs() / fd.abs().max(1e-3),
            }
        })
        .collect();
    let at_solution = residuals(&chain, &sol, y.view(), &cost);
    let mut off = sol.clone();
    off.z[2] += 0.05;
    let moved = residuals(&chain, &off, y.view(), &cost);
    LagrangianCheck {
        batch: b,
        cost: sol.cost,
        rows,
        at_solution,
        moved,
    }
}

impl LagrangianCheck {
    /// `modules.csv`: one row per state.
    pub fn modules_csv(&self) -> String {
        let mut s = String::from("k,module,width,z_norm,lambda_norm,fd_rel_error\n");
        for r in &self.rows {
            s.push_str(&format!(
                "{},{},{},{},{},{:e}\n",
                r.k, r.module, r.width, r.z_norm, r.lambda_norm, r.fd_rel_error
            ));
        }
        s
    }

    /// `residuals.csv`: at the solution and with `z_2` moved.
    pub fn residuals_csv(&self) -> String {
        let (r, m) = (self.at_solution, self.moved);
        format!(
            "states,lambda_residual,z_residual,w_residual\nforward solution,{:e},{:e},{:e}\nz_2 moved by 0.05,{:e},{:e},{:e}\n",
            r.lambda, r.z, r.w, m.lambda, m.z, m.w
        )
    }
}

impl fmt::Display for LagrangianCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "network 64-16-16-10 (tanh, softplus), squared error, batch {}; C = {:.6}",
            self.batch, self.cost
        )?;
        writeln!(
            f,
            "{:>3} {:>10} {:>6} {:>12} {:>14} {:>16}",
            "k", "module", "width", "||z_k||", "||lambda_k||", "FD check (rel)"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:>3} {:>10} {:>6} {:>12.5} {:>14.5} {:>16.2e}",
                r.k, r.module, r.width, r.z_norm, r.lambda_norm, r.fd_rel_error
            )?;
        }
        let (r, m) = (self.at_solution, self.moved);
        writeln!(
            f,
            "stationarity residuals at the solution: lambda {:.2e}, z {:.2e}, w {:.2e}",
            r.lambda, r.z, r.w
        )?;
        write!(
            f,
            "with z_2 moved off the forward solution by 0.05: lambda {:.2e}, z {:.2e}, w {:.2e}",
            m.lambda, m.z, m.w
        )
    }
}
