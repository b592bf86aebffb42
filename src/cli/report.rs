//! `ebm report RUN`: the self-contained HTML page of a run folder (see `ebm::report`).

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run folder (written by `ebm train ... --run DIR`, `ebm train toy`, ...).
    pub run: PathBuf,
}

pub fn run(a: &ReportArgs) -> ebm::Result<()> {
    let p = ebm::report::write_report(&a.run)?;
    println!("report: {}", p.display());
    Ok(())
}
