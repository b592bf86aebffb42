//! The `ebm` command line: one file per subcommand.

mod bench;
mod classifier;
mod config;
mod demo;
mod gibbs;
mod image_ebm;
mod lagrangian;
mod rbm;
mod report;
mod run_args;
mod sample;
mod tour;
mod toy;
mod vae;
mod vae_figures;

use clap::{Parser, Subcommand};

/// Energy-based models and variational methods.
///
/// Every subcommand also takes `--config FILE` (TOML: its long options as keys, plus
/// `threads` and `seed`; flags override the file) and `--print-config` (print the resolved
/// options as TOML and exit).
///
/// With no command, runs the main job: a tour of the lecture on data embedded in the
/// binary (no download): Gibbs distributions, a contrastive EBM with its exact NLL, the
/// VAE and its fuzzy balls, the Lagrangian check; it ends with the path of its report.
#[derive(Parser, Debug)]
#[command(name = "ebm", version, about, long_about = None)]
pub struct Cli {
    /// Threads for parallel loops and matrix products: 0 (the default) means all cores;
    /// at most 4 per core.
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    /// Random seed (every run is reproducible from it on a given machine and thread count); >= 0 (any 64-bit unsigned integer).
    #[arg(long, global = true, default_value_t = 0)]
    pub seed: u64,
    /// No progress bars or progress lines (they go to stderr; stdout is unchanged).
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Largest payload an IDX data file may promise in its header (e.g. 512M, 2G): a
    /// guard against corrupt files and gzip bombs; MNIST's largest file is 45 MiB; at least 1 byte; 0 refuses every IDX file.
    #[arg(long, global = true, default_value = "512M", value_parser = parse_size)]
    pub max_data: u64,
    /// Read options from a TOML file: the subcommand's long options as keys (with `_` or
    /// `-`), plus threads, seed, quiet and max_data; flags on the command line win.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Print the resolved options (defaults < --config file < flags) as TOML, a config
    /// file itself, and exit.
    #[arg(long, global = true)]
    pub print_config: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per process: the size of the largest variant (the train arguments) costs
// nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The main job (also `ebm` alone): a tour of the lecture on embedded data, with an
    /// HTML report.
    Tour(tour::TourArgs),
    /// The VAE on the embedded UCI digits, loss per epoch (part of the tour).
    Demo(demo::DemoArgs),
    /// Benchmarks; one JSON line per run on stdout.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Train a model.
    #[command(subcommand)]
    Train(TrainCmd),
    /// Evaluate a saved model.
    #[command(subcommand)]
    Eval(EvalCmd),
    /// Energies to probabilities: log Z and the free energy of a built-in energy at
    /// several inverse temperatures, by quadrature and importance sampling.
    Gibbs(gibbs::GibbsArgs),
    /// Backprop as Lagrangian optimization: states, multipliers and stationarity
    /// residuals of a small network, checked against finite differences.
    Lagrangian(lagrangian::LagrangianArgs),
    /// MCMC: sample a built-in target or a saved energy; diagnostics table, draws
    /// (.npy or CSV) and, in 2-D, a picture.
    Sample(sample::SampleArgs),
    /// Write runs/<name>/report.html: config, curves, figures and final numbers in one
    /// self-contained page.
    Report(report::ReportArgs),
    /// The lecture's fuzzy balls: 2-D-latent VAEs with and without the KL term, their
    /// test codes drawn as one-sigma balls side by side.
    FuzzyBalls(vae_figures::FuzzyBallsArgs),
    /// The lecture's canyon: unregularized ML on a small training set digs ever deeper
    /// wells; well depth and test NLL with and without regularization.
    Canyon(toy::CanyonArgs),
}

#[derive(Subcommand, Debug)]
pub enum TrainCmd {
    /// Train a VAE (variational free energy) on MNIST or the embedded digits.
    Vae(vae::TrainVaeArgs),
    /// Train a conditional energy E(x, y) over the 10 digit classes by exact maximum
    /// likelihood (a softmax classifier with logits -beta E).
    Classifier(classifier::TrainClassifierArgs),
    /// Train a contrastive EBM on a 2-D toy set; exact NLL and KL by quadrature.
    Toy(toy::TrainToyArgs),
    /// Train a Bernoulli-Bernoulli RBM by CD-k or PCD; reconstruction error per epoch
    /// and, with at most 20 hidden units, the exact train/test log-likelihood.
    Rbm(rbm::TrainRbmArgs),
    /// Train a convolutional energy over images by contrastive ML with SGLD negatives
    /// (replay buffer or short-run); inpainting of test digits per epoch.
    ImageEbm(image_ebm::TrainImageEbmArgs),
}

#[derive(Subcommand, Debug)]
pub enum EvalCmd {
    /// Test loss of a saved VAE.
    Vae(vae::EvalVaeArgs),
    /// Test accuracy and NLL of a saved classifier.
    Classifier(classifier::EvalClassifierArgs),
    /// Exact test NLL and KL of a saved toy energy.
    Toy(toy::EvalToyArgs),
    /// AIS log Z and average log-probability of a saved RBM.
    Rbm(rbm::EvalRbmArgs),
    /// Inpainting and denoising of test images by a saved image EBM, against baselines.
    ImageEbm(image_ebm::EvalImageEbmArgs),
}

/// Parse the command line and run it.
pub fn run() -> ebm::Result<()> {
    let ex = config::expand(std::env::args_os().collect())?;
    if ex.print {
        return config::print_resolved(&ex.args);
    }
    let cli = match parse(&ex.args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            eprintln!("{} (try --help)", one_line(&e.to_string()));
            std::process::exit(2);
        }
    };
    ebm::threads::set_threads(cli.threads)?;
    ebm::data::idx::set_max_bytes(cli.max_data);
    ebm::progress::set_quiet(cli.quiet);
    ebm::threads::in_pool(move || dispatch(cli))
}

/// Parse with every subcommand made lenient where a user expects it: enum values in
/// any case (`--kernel NUTS`) and negative numbers as values (`--betas -1` reaches the
/// range check instead of reading as an unknown flag).
fn parse(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    fn tune(cmd: clap::Command) -> clap::Command {
        cmd.allow_negative_numbers(true)
            .mut_args(|a| a.ignore_case(true))
            .mut_subcommands(tune)
    }
    let matches = tune(Cli::command()).try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// A size such as `512M` or `2G` (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    ebm::budget::parse_size(s).ok_or_else(|| format!("`{s}` is not a size such as 512M or 2G"))
}

/// Clap's message on one line: the error, the list of valid values and the "did you
/// mean" tip, without the usage block.
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
        .replace("; [possible values", " [possible values")
}

fn dispatch(cli: Cli) -> ebm::Result<()> {
    match cli.command {
        None => tour::run(&tour::TourArgs::default(), cli.seed),
        Some(Command::Tour(a)) => tour::run(&a, cli.seed),
        Some(Command::Demo(a)) => demo::run(&a, cli.seed),
        Some(Command::Bench(b)) => bench::run(b, cli.seed),
        Some(Command::Train(TrainCmd::Vae(a))) => vae::train(&a, cli.seed),
        Some(Command::Eval(EvalCmd::Vae(a))) => vae::eval(&a, cli.seed),
        Some(Command::Train(TrainCmd::Classifier(a))) => classifier::train(&a, cli.seed),
        Some(Command::Eval(EvalCmd::Classifier(a))) => classifier::eval(&a, cli.seed),
        Some(Command::Lagrangian(a)) => lagrangian::run(&a, cli.seed),
        Some(Command::Gibbs(a)) => gibbs::run(&a, cli.seed),
        Some(Command::Sample(a)) => sample::run(&a, cli.seed),
        Some(Command::Train(TrainCmd::Toy(a))) => toy::train_toy(&a, cli.seed),
        Some(Command::Train(TrainCmd::Rbm(a))) => rbm::train(&a, cli.seed),
        Some(Command::Train(TrainCmd::ImageEbm(a))) => image_ebm::train(&a, cli.seed),
        Some(Command::Eval(EvalCmd::ImageEbm(a))) => image_ebm::eval(&a, cli.seed),
        Some(Command::Eval(EvalCmd::Toy(a))) => toy::eval_toy(&a, cli.seed),
        Some(Command::Eval(EvalCmd::Rbm(a))) => rbm::eval(&a, cli.seed),
        Some(Command::Canyon(a)) => toy::canyon(&a, cli.seed),
        Some(Command::FuzzyBalls(a)) => vae_figures::fuzzy_balls(&a, cli.seed),
        Some(Command::Report(a)) => report::run(&a),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use std::any::TypeId;

    /// Words that state a valid range in a flag's help.
    const RANGE: &[&str] = &[
        ">= ", "> 0", "<= ", "< 1", "at most", "at least", "in [", "in (", "1..=", "0 means",
        "0 (", "positive", "between",
    ];

    fn numeric(a: &clap::Arg) -> bool {
        let t = a.get_value_parser().type_id();
        [
            TypeId::of::<usize>(),
            TypeId::of::<u64>(),
            TypeId::of::<u32>(),
            TypeId::of::<i64>(),
            TypeId::of::<f32>(),
            TypeId::of::<f64>(),
        ]
        .iter()
        .any(|id| t == *id)
    }

    fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in c.get_arguments() {
            if !a.get_action().takes_values() || !numeric(a) {
                continue;
            }
            let help = a
                .get_long_help()
                .or(a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            if !RANGE.iter().any(|w| help.contains(w)) {
                missing.push(format!("{path} --{}: {help}", a.get_id()));
            }
        }
        for s in c.get_subcommands() {
            walk(s, &format!("{path} {}", s.get_name()), missing);
        }
    }

    /// Every numeric flag of every subcommand states its valid range in `--help` (issue
    /// 15 item 8); the checks themselves live in each config's `validate`.
    #[test]
    fn every_numeric_flag_documents_its_range() {
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "ebm", &mut missing);
        assert!(
            missing.is_empty(),
            "{} numeric flags without a range in --help:\n{}",
            missing.len(),
            missing.join("\n")
        );
    }
}
