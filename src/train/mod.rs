//! One training loop for every model.
//!
//! A model supplies its [`Step`] (one update, its evaluation, its state); [`fit`] owns
//! everything a run does around it, once for all models: rounds (epochs, or the updates
//! between two evaluations), progress, Ctrl-C, the time budget, divergence guards,
//! checkpoints, resume, the kept checkpoints and `best`, the metrics files and the run
//! folder's lock ([`RunDir`]).
//!
//! Minimizing the training objective `L(w) = (1/N) sum_i L_i(w)` by stochastic updates
//! `w <- w - eta_t g_t(w)`: the step computes `g_t` (the contrastive gradient
//! `dE(y)/dw - <dE(y^)/dw>` of the lecture, the variational free energy's gradient, ...);
//! the loop decides `t`, `eta_t` ([`schedule`]) and the random stream of each update
//! ([`stream`]), so that a run stopped at any checkpoint and resumed computes exactly the
//! numbers of a run never stopped.
//!
//! The VAE, RBM, toy-EBM and classifier steps are this module's children. A model of
//! one's own is one `impl Step` (more in `tests/train.rs`): here the energy
//! `E(y) = (y - mu)^2 / 2`, whose maximum-likelihood `mu` is the data mean, trained by
//! SGD in a run folder, stopped after 25 updates and resumed to the same number as an
//! uninterrupted run:
//!
//! ```
//! use ebm::nn::{checkpoint, Param, Parameters};
//! use ebm::train::{fit, stream, FitConfig, MetricsRow, Outcome, Position, RoundReport, RunDir, Step};
//! use rand::Rng;
//!
//! struct Mean { mu: Param } // the parameters, as the engine's modules hold them
//! impl Parameters for Mean {
//!     fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) { f(&mut self.mu) }
//!     fn visit_named(&self, p: &str, f: &mut dyn FnMut(&str, &Param)) { f(&format!("{p}mu"), &self.mu) }
//!     fn visit_named_mut(&mut self, p: &str, f: &mut dyn FnMut(&str, &mut Param)) {
//!         f(&format!("{p}mu"), &mut self.mu)
//!     }
//! }
//! struct MeanStep { m: Mean, data: Vec<f32>, seed: u64 }
//! impl Step for MeanStep {
//!     fn updates_in(&self, _round: usize) -> usize { 10 }
//!     fn begin_round(&mut self, _round: usize) -> ebm::Result<()> { Ok(()) }
//!     fn update(&mut self, round: usize, i: usize) -> ebm::Result<Option<String>> {
//!         let mut rng = stream(self.seed, 0, round, Some(i)); // this update's own stream
//!         let y = self.data[rng.gen_range(0..self.data.len())];
//!         self.m.mu.value[0] -= 0.1 * (self.m.mu.value[0] - y); // mu -= eta dE/dmu
//!         Ok(None)
//!     }
//!     fn end_round(&mut self, round: usize, _s: f64, _w: f64) -> ebm::Result<RoundReport> {
//!         let mu = self.m.mu.value[0];
//!         let csv = vec![("round", round.to_string()), ("mu", mu.to_string())];
//!         let json = serde_json::json!({"round": round, "mu": mu});
//!         Ok(RoundReport { line: format!("round {round}: mu {mu:.3}"), metrics: MetricsRow { csv, json }, best: None })
//!     }
//!     fn saves_mid_round(&self) -> bool { true }
//!     fn save(&self, run: &RunDir, at: Position) -> ebm::Result<()> {
//!         // The state and its position in one atomic file.
//!         checkpoint::save(&self.checkpoint_path(run), &self.m, &serde_json::json!({"at": at}))
//!     }
//!     fn checkpoint_path(&self, run: &RunDir) -> std::path::PathBuf { run.join("model.safetensors") }
//!     fn model(&self) -> &dyn Parameters { &self.m }
//!     fn model_config(&self, round: usize) -> serde_json::Value { serde_json::json!({"round": round}) }
//! }
//!
//! let data: Vec<f32> = (0..100).map(|i| 2.0 + (i as f32 / 99.0 - 0.5)).collect(); // mean 2
//! let fresh = || MeanStep { m: Mean { mu: Param::new(vec![1], vec![0.0]) }, data: data.clone(), seed: 7 };
//! let cfg = FitConfig { rounds: 5, keep: 2, command: "my-trainer".into(), ..FitConfig::default() };
//! let root = std::env::temp_dir().join(format!("ebm-doc-fit-{}", std::process::id()));
//! // Straight through.
//! let mut a = fresh();
//! let run = RunDir::open(&root.join("a"))?;
//! assert_eq!(fit(&mut a, Some(&run), Position::default(), &cfg)?, Outcome::Finished);
//! assert!((a.m.mu.value[0] - 2.0).abs() < 0.3, "mu {} should near the data mean 2", a.m.mu.value[0]);
//! // Stopped after 25 updates (as Ctrl-C would), then resumed from the folder.
//! let mut b = fresh();
//! let run = RunDir::open(&root.join("b"))?;
//! let stop = FitConfig { stop_after_updates: Some(25), ..cfg.clone() };
//! assert_eq!(fit(&mut b, Some(&run), Position::default(), &stop)?, Outcome::Interrupted);
//! drop(run);
//! let run = RunDir::open(&root.join("b"))?; // the lock is free again
//! let mut c = fresh();
//! let saved = checkpoint::load(&run.join("model.safetensors"), &mut c.m)?;
//! let at: Position = serde_json::from_value(saved["at"].clone()).unwrap();
//! assert_eq!(at, Position { round: 2, update: 5, rows: 2 });
//! fit(&mut c, Some(&run), at, &cfg)?;
//! assert_eq!(c.m.mu.value, a.m.mu.value); // bit for bit
//! # std::fs::remove_dir_all(&root).ok();
//! # Ok::<(), ebm::Error>(())
//! ```

/// Epoch checkpoints kept when neither `--keep` nor a resumed run says.
pub const DEFAULT_KEEP: usize = 3;

pub mod classifier;
pub mod image_ebm;
pub mod rbm;
pub mod run_dir;
pub mod schedule;
pub mod toy;
pub mod vae;

pub use run_dir::{MetricsRow, RunDir, check_resumed_data};
pub use schedule::Schedule;

use crate::nn::{Parameters, checkpoint};
use crate::{Error, Result};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The random stream of a run's round `round` (1-based) and, with `update = Some(j)`, of
/// its update `j` (0-based): `seed ^ domain ^ round * C1 ^ (j + 1) * C2`. One rule for every
/// model; `domain` keeps the streams of different uses apart (the VAE's batches use 0, its
/// evaluation `0xE7A1`, the RBM's epochs `0x5eed_07b3`). A resumed run draws from the
/// same streams as an uninterrupted one, whatever it skipped.
pub fn stream(seed: u64, domain: u64, round: usize, update: Option<usize>) -> Xoshiro256PlusPlus {
    const C1: u64 = 0xD1B5_4A32_D192_ED03;
    const C2: u64 = 0x9E37_79B9_7F4A_7C15;
    let u = update.map_or(0, |j| (j as u64).wrapping_add(1).wrapping_mul(C2));
    Xoshiro256PlusPlus::seed_from_u64(seed ^ domain ^ (round as u64).wrapping_mul(C1) ^ u)
}

/// Where a run stands: `round` rounds done, then `update` updates of the next, with
/// `rows` metrics rows written. Saved inside each checkpoint (the same atomic file as the
/// state it describes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub round: usize,
    pub update: usize,
    pub rows: usize,
}

/// What a round's evaluation reports.
#[derive(Clone, Debug, Default)]
pub struct RoundReport {
    /// Printed on stdout (the row of the run's table).
    pub line: String,
    /// Appended to metrics.csv / metrics.jsonl.
    pub metrics: MetricsRow,
    /// The score `best.safetensors` keeps: (config key, value, lower is better).
    pub best: Option<(&'static str, f64, bool)>,
}

/// One model's training, one update at a time: what [`fit`] calls.
pub trait Step {
    /// The name of a round in messages (`epoch`).
    fn round_name(&self) -> &'static str {
        "epoch"
    }
    /// The name of an update in messages (`batch`).
    fn update_name(&self) -> &'static str {
        "batch"
    }
    /// Updates in round `round` (1-based).
    fn updates_in(&self, round: usize) -> usize;
    /// Updates done in all at `at` (for `stop_after_updates`): by default the updates of
    /// the rounds done plus `at.update`.
    fn updates_done(&self, at: Position) -> usize {
        (1..=at.round).map(|r| self.updates_in(r)).sum::<usize>() + at.update
    }
    /// Before the first update of round `round` (also when a resumed run re-enters it
    /// part-way): the learning rate, the order of the data.
    fn begin_round(&mut self, round: usize) -> Result<()>;
    /// Update `i` (0-based) of round `round`; returns the progress message (the running
    /// loss). A non-finite loss is [`Error::Diverged`].
    fn update(&mut self, round: usize, i: usize) -> Result<Option<String>>;
    /// After the last update of round `round`, which took `seconds` of training
    /// (`wall`: since the run started): evaluate.
    fn end_round(&mut self, round: usize, seconds: f64, wall: f64) -> Result<RoundReport>;
    /// Whether [`Step::save`] can capture the state inside a round (else Ctrl-C ends the
    /// round first).
    fn saves_mid_round(&self) -> bool {
        false
    }
    /// Write what a resume needs into the run folder, atomically, recording `at`.
    fn save(&self, run: &RunDir, at: Position) -> Result<()>;
    /// The checkpoint a divergence message names as the last good one.
    fn checkpoint_path(&self, run: &RunDir) -> PathBuf;
    /// The model, for the kept checkpoints, best.safetensors and `--save`.
    fn model(&self) -> &dyn Parameters;
    /// The config stored with a kept model after round `round` (what `ebm eval` loads).
    fn model_config(&self, round: usize) -> serde_json::Value;
    /// Where an interruption stopped, for its message: inside round `round` after
    /// `update` of its `n` updates, or (`None`) at its end.
    fn describe_stop(&self, round: usize, inside: Option<(usize, usize)>) -> String {
        let (rn, un) = (self.round_name(), self.update_name());
        match inside {
            Some((done, n)) => format!("in {rn} {round} after {un} {done} of {n}"),
            None => format!("at the end of {rn} {round}"),
        }
    }
    /// The name of the kept checkpoint of round `round` (`epoch-000003`).
    fn checkpoint_name(&self, round: usize) -> String {
        format!("epoch-{round:06}")
    }
}

/// How [`fit`] runs a step.
#[derive(Clone, Debug, Default)]
pub struct FitConfig {
    /// The last round (a resumed run may extend it).
    pub rounds: usize,
    /// Stop after the round during which this many minutes have passed.
    pub minutes: Option<f64>,
    /// Models of the last `keep` rounds in `checkpoints/` (0: none).
    pub keep: usize,
    /// Also save the state every this many updates inside a round (when the step can).
    pub checkpoint_every: Option<usize>,
    /// Stop as Ctrl-C would after this many updates in all (tests of interruption).
    pub stop_after_updates: Option<usize>,
    /// Also save the model here after every round (no run folder needed).
    pub save: Option<PathBuf>,
    /// The command a user resumes with (`ebm train vae`, then `--resume DIR`; or a text
    /// with `{run}` where the run folder goes), for the interruption message.
    pub command: String,
    /// Where a request to stop comes from.
    pub interrupt: Interrupt,
}

/// Where [`fit`] hears a request to stop (it then finishes the update, checkpoints and
/// returns [`Outcome::Interrupted`]).
#[derive(Clone, Default)]
pub enum Interrupt {
    /// Ctrl-C (SIGINT), through the process-wide handler [`interrupt_flag`] installs:
    /// the command line.
    #[default]
    CtrlC,
    /// The caller's own check, asked after every update; no signal handler is installed
    /// (the Python package asks the interpreter whether a KeyboardInterrupt is pending,
    /// so Python keeps its own Ctrl-C).
    Check(Arc<dyn Fn() -> bool + Send + Sync>),
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Interrupt::CtrlC => "CtrlC",
            Interrupt::Check(_) => "Check",
        })
    }
}

/// Options of type `T` (a struct deriving `clap::Args`, such as
/// [`toy::ToyOptions`]) from `--flag value` arguments, as the command line parses them:
/// the same defaults, ranges and messages; an error is one line naming the flag.
pub fn options_from_args<T: clap::Args + clap::FromArgMatches>(
    command: &str,
    args: &[String],
) -> Result<T> {
    let cmd = T::augment_args(clap::Command::new("options").no_binary_name(true))
        .allow_negative_numbers(true);
    let one_line = |e: clap::Error| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("bad options").trim();
        Error::invalid(command, first.trim_start_matches("error: ").to_string())
    };
    let m = cmd.try_get_matches_from(args).map_err(one_line)?;
    T::from_arg_matches(&m).map_err(one_line)
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// All rounds done.
    Finished,
    /// Ctrl-C (or `stop_after_updates`); the state is saved when there is a run folder.
    Interrupted,
    /// The time budget was spent.
    BudgetSpent,
}

/// Set by Ctrl-C (SIGINT) once [`interrupt_flag`] installed the handler: the loop
/// finishes its update, checkpoints and returns [`Outcome::Interrupted`].
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let f = Arc::new(AtomicBool::new(false));
        let g = f.clone();
        // A second Ctrl-C during the checkpoint write is ignored; the handler may fail to
        // install (another handler exists): then Ctrl-C keeps its default meaning.
        let _ = ctrlc::set_handler(move || g.store(true, Ordering::SeqCst));
        f
    })
    .clone()
}

/// Run `step` from `start` to round `cfg.rounds`, in the run folder `run` (if any).
///
/// Per update: the step's update, progress, then Ctrl-C / `stop_after_updates` and the
/// periodic mid-round checkpoint. Per round: the step's evaluation, its line on stdout,
/// `--save`, the metrics row, the step's state, best and the kept checkpoints (in that
/// order: a kill between two writes leaves files a resume rewrites identically), then
/// the budget.
pub fn fit(
    step: &mut dyn Step,
    run: Option<&RunDir>,
    start: Position,
    cfg: &FitConfig,
) -> Result<Outcome> {
    if let Some(m) = cfg.minutes
        && !(m.is_finite() && m >= 0.0)
    {
        return Err(Error::invalid(
            "--minutes",
            format!("{m} (must be a finite number of minutes >= 0; 0 stops after one round)"),
        ));
    }
    if let Some(r) = run {
        r.resume_metrics(start.rows)?;
    }
    let clock = Instant::now();
    let stop = match &cfg.interrupt {
        Interrupt::CtrlC => {
            let f = interrupt_flag();
            // A Ctrl-C that stopped an earlier fit in this process does not stop this one.
            f.store(false, Ordering::SeqCst);
            Some(f)
        }
        Interrupt::Check(_) => None,
    };
    // Once heard, a request stays heard (a caller's check may answer yes only once).
    let heard = std::cell::Cell::new(false);
    let asked = || {
        let now = heard.get()
            || match (&stop, &cfg.interrupt) {
                (Some(f), _) => f.load(Ordering::SeqCst),
                (None, Interrupt::Check(check)) => check(),
                (None, Interrupt::CtrlC) => false,
            };
        heard.set(now);
        now
    };
    let mut rows = start.rows;
    let mut total: usize =
        (1..=start.round).map(|r| step.updates_in(r)).sum::<usize>() + start.update;
    let mut skip = start.update;
    for round in start.round + 1..=cfg.rounds {
        let n = step.updates_in(round);
        step.begin_round(round)?;
        let t = Instant::now();
        let bar =
            crate::progress::Progress::new(n as u64, &format!("{} {round}", step.round_name()));
        bar.inc(skip as u64, None);
        for i in skip..n {
            let msg = match step.update(round, i) {
                Ok(m) => m,
                Err(err @ Error::Diverged(_)) => {
                    bar.finish();
                    return Err(diverged(err, step, run, cfg, round, i));
                }
                Err(e) => return Err(e),
            };
            bar.inc(1, msg);
            total += 1;
            let done = i + 1;
            let interrupted = asked() || cfg.stop_after_updates == Some(total);
            let periodic = cfg.checkpoint_every.is_some_and(|c| c > 0 && done % c == 0);
            if done < n && (interrupted || periodic) && step.saves_mid_round() {
                let at = Position {
                    round: round - 1,
                    update: done,
                    rows,
                };
                if let Some(r) = run {
                    step.save(r, at)?;
                }
                if interrupted {
                    bar.finish();
                    interrupted_message(step, run, cfg, round, Some((done, n)));
                    return Ok(Outcome::Interrupted);
                }
            }
        }
        skip = 0;
        bar.finish();
        let secs = t.elapsed().as_secs_f64();
        let report = match step.end_round(round, secs, clock.elapsed().as_secs_f64()) {
            Ok(r) => r,
            Err(err @ Error::Diverged(_)) => {
                return Err(diverged(err, step, run, cfg, round, n.saturating_sub(1)));
            }
            Err(e) => return Err(e),
        };
        println!("{}", report.line);
        if let Some(p) = &cfg.save {
            checkpoint::save(p, step.model(), &step.model_config(round))?;
        }
        if let Some(r) = run {
            r.append_metrics(&report.metrics)?;
            rows += 1;
            step.save(
                r,
                Position {
                    round,
                    update: 0,
                    rows,
                },
            )?;
            let mc = step.model_config(round);
            if let Some((key, score, lower)) = report.best {
                r.keep_best(step.model(), &mc, key, score, lower)?;
            }
            r.keep_checkpoint(&step.checkpoint_name(round), step.model(), &mc, cfg.keep)?;
        }
        if round < cfg.rounds && (asked() || stop_at(cfg, total)) {
            interrupted_message(step, run, cfg, round, None);
            return Ok(Outcome::Interrupted);
        }
        if let Some(m) = cfg.minutes
            && clock.elapsed().as_secs_f64() >= m * 60.0
        {
            println!(
                "stopped after {} {round}: the budget of {m} minutes is spent ({:.1} min)",
                step.round_name(),
                clock.elapsed().as_secs_f64() / 60.0
            );
            return Ok(Outcome::BudgetSpent);
        }
    }
    Ok(Outcome::Finished)
}

/// Whether `stop_after_updates` has been reached after `total` updates.
fn stop_at(cfg: &FitConfig, total: usize) -> bool {
    cfg.stop_after_updates.is_some_and(|k| total >= k)
}

/// The divergence error, naming where it happened and the last good checkpoint (or
/// that none was saved yet), on one line.
fn diverged(
    err: Error,
    step: &dyn Step,
    run: Option<&RunDir>,
    cfg: &FitConfig,
    round: usize,
    i: usize,
) -> Error {
    let Error::Diverged(msg) = err else {
        return err;
    };
    let p = run.map(|r| step.checkpoint_path(r)).or(cfg.save.clone());
    let last = match p {
        Some(p) if p.exists() => format!("the last good checkpoint is {}", p.display()),
        Some(p) => format!(
            "no checkpoint was saved before it ({} does not exist yet)",
            p.display()
        ),
        None => "no checkpoint is kept (no run folder)".to_string(),
    };
    Error::Diverged(format!(
        "{msg} at {} {round}, {} {}; {last}",
        step.round_name(),
        step.update_name(),
        i + 1,
    ))
}

fn interrupted_message(
    step: &dyn Step,
    run: Option<&RunDir>,
    cfg: &FitConfig,
    round: usize,
    inside: Option<(usize, usize)>,
) {
    let at = step.describe_stop(round, inside);
    match run {
        // `command` says where the folder goes with `{run}` (the Python package's call),
        // else it takes `--resume DIR` (the command line's).
        Some(r) => {
            let path = r.path().display().to_string();
            let resume = if cfg.command.contains("{run}") {
                cfg.command.replace("{run}", &path)
            } else {
                format!("{} --resume {path}", cfg.command)
            };
            println!("interrupted {at}: checkpoint written; continue with `{resume}`")
        }
        None => println!("interrupted {at} (no run folder: nothing saved)"),
    }
}
