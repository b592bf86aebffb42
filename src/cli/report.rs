//! `ebm report RUN`: the self-contained HTML page of a run folder (see `ebm::report`).

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm train vae --latent 2 --epochs 20 --run runs/vae2d && ebm report runs/vae2d"
)]
pub struct ReportArgs {
    /// A run folder (written by `ebm train ... --run DIR`, `ebm train toy`, ...).
    pub run: PathBuf,
}

pub fn run(a: &ReportArgs) -> ebm::Result<()> {
    let p = ebm::report::write_report(&a.run)?;
    println!("report: {}", p.display());
    Ok(())
}
