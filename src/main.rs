//! The `ebm` command: parse, dispatch, print errors on one line.

mod cli;

fn main() {
    if let Err(e) = cli::run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
