//! `ebm lagrangian`: backprop as Lagrangian optimization on a small regression network
//! (digits -> 16 tanh -> 16 softplus -> 10 one-hot, squared error). Prints for each k the
//! norms of z_k and lambda_k = -dC/dz_k, a finite-difference check of lambda, and the
//! three stationarity residuals (expected below 1e-5 at the solution, and of order 1e-2
//! or more once a state is moved off it).

use clap::Args;
use ebm::data::digits::Digits;
use ebm::nn::init::Init;
use ebm::nn::lagrangian::{residuals, solve};
use ebm::nn::{ActivationKind, Cost, Parallelism, Reduction, Sequential, SquaredError};
use ndarray::{Array2, ArrayView2, s};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm lagrangian      # multipliers match finite differences; stationarity residuals below 1e-5 at the forward solution"
)]
pub struct LagrangianArgs {
    /// Rows of the batch; >= 1; 0 counts as 1, more than the 1,797 digits as all of them.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Output folder: modules.csv, residuals.csv and report.html. Without it, the tables
    /// are printed only.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
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

pub fn run(a: &LagrangianArgs, seed: u64) -> ebm::Result<()> {
    let d = Digits::embedded();
    let b = a.batch.clamp(1, d.len());
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
    println!(
        "network 64-16-16-10 (tanh, softplus), squared error, batch {b}; C = {:.6}",
        sol.cost
    );
    println!(
        "{:>3} {:>10} {:>6} {:>12} {:>14} {:>16}",
        "k", "module", "width", "||z_k||", "||lambda_k||", "FD check (rel)"
    );
    let mut modules = String::from("k,module,width,z_norm,lambda_norm,fd_rel_error\n");
    for k in 0..=chain.len() {
        let fd = fd_lambda(&chain, &sol.z[k], k, y.view(), &cost);
        let lam = sol.lambda[k][[0, 0]] as f64;
        let name = if k == 0 {
            "input"
        } else {
            chain.layers()[k - 1].kind()
        };
        println!(
            "{k:>3} {name:>10} {:>6} {:>12.5} {:>14.5} {:>16.2e}",
            sol.z[k].ncols(),
            l2(&sol.z[k]),
            l2(&sol.lambda[k]),
            (lam - fd).abs() / fd.abs().max(1e-3)
        );
        modules.push_str(&format!(
            "{k},{name},{},{},{},{:e}\n",
            sol.z[k].ncols(),
            l2(&sol.z[k]),
            l2(&sol.lambda[k]),
            (lam - fd).abs() / fd.abs().max(1e-3)
        ));
    }
    let r = residuals(&chain, &sol, y.view(), &cost);
    println!(
        "stationarity residuals at the solution: lambda {:.2e}, z {:.2e}, w {:.2e}",
        r.lambda, r.z, r.w
    );
    let mut off = sol.clone();
    off.z[2] += 0.05;
    let r2 = residuals(&chain, &off, y.view(), &cost);
    println!(
        "with z_2 moved off the forward solution by 0.05: lambda {:.2e}, z {:.2e}, w {:.2e}",
        r2.lambda, r2.z, r2.w
    );
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).map_err(|e| ebm::Error::io(out, e))?;
        ebm::io::write_atomic(&out.join("modules.csv"), modules.as_bytes())?;
        let res = format!(
            "states,lambda_residual,z_residual,w_residual\nforward solution,{:e},{:e},{:e}\nz_2 moved by 0.05,{:e},{:e},{:e}\n",
            r.lambda, r.z, r.w, r2.lambda, r2.z, r2.w
        );
        ebm::io::write_atomic(&out.join("residuals.csv"), res.as_bytes())?;
        println!("report: {}", ebm::report::write_report(out)?.display());
    }
    Ok(())
}
