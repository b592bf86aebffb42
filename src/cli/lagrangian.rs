//! `ebm lagrangian`: backprop as Lagrangian optimization on a small regression network
//! (digits -> 16 tanh -> 16 softplus -> 10 one-hot, squared error). Prints for each k the
//! norms of z_k and lambda_k = -dC/dz_k, a finite-difference check of lambda, and the
//! three stationarity residuals (expected below 1e-5 at the solution, and of order 1e-2
//! or more once a state is moved off it).

use clap::Args;

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

/// `ebm lagrangian`: [`ebm::eval::lagrangian::check`] printed, and with --out its tables.
pub fn run(a: &LagrangianArgs, seed: u64) -> ebm::Result<()> {
    let c = ebm::eval::lagrangian::check(a.batch, seed);
    println!("{c}");
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).map_err(|e| ebm::Error::io(out, e))?;
        ebm::io::write_atomic(&out.join("modules.csv"), c.modules_csv().as_bytes())?;
        ebm::io::write_atomic(&out.join("residuals.csv"), c.residuals_csv().as_bytes())?;
        println!("report: {}", ebm::report::write_report(out)?.display());
    }
    Ok(())
}
