//! Progress of long work (training, evaluation): a bar with ETA and the live loss on a
//! terminal (indicatif), one log line per interval otherwise, nothing when quiet
//! ([`set_quiet`], the CLI's `--quiet`), or events to a [`Reporter`] when one is set
//! (the Python package's tqdm bars). Writes to stderr only, so stdout stays clean for
//! tables and JSON lines.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Seconds between log lines when stderr is not a terminal.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Silence (or not) every progress report of this process.
pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
}

/// True when progress reports are silenced.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether stdout and stderr are the same file or pipe and not a terminal (Linux: the
/// device and inode behind `/proc/self/fd/1` and `/2`; elsewhere, never).
#[cfg(unix)]
pub fn stdout_is_stderr() -> bool {
    use std::os::unix::fs::MetadataExt;
    if std::io::stderr().is_terminal() {
        return false;
    }
    match (
        std::fs::metadata("/proc/self/fd/1"),
        std::fs::metadata("/proc/self/fd/2"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether stdout and stderr are the same file (never known off Unix).
#[cfg(not(unix))]
pub fn stdout_is_stderr() -> bool {
    false
}

enum Sink {
    None,
    Bar(ProgressBar),
    Hook {
        id: u64,
        reporter: Reporter,
        /// When the last update went out.
        last: Mutex<Instant>,
        finished: AtomicBool,
    },
    Log {
        label: String,
        start: Instant,
        last: Mutex<Instant>,
    },
}

/// A progress report over `total` units of work; [`Progress::inc`] may be called from
/// several threads.
pub struct Progress {
    sink: Sink,
    done: AtomicU64,
    total: u64,
    message: Mutex<String>,
}

impl Progress {
    /// Start a report of `total` units labelled `label`.
    pub fn new(total: u64, label: &str) -> Progress {
        let hook = reporter().filter(|_| total > 0);
        let sink = if let Some(reporter) = hook {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            reporter(Event::Start { id, label, total });
            Sink::Hook {
                id,
                reporter,
                last: Mutex::new(Instant::now()),
                finished: AtomicBool::new(false),
            }
        } else if is_quiet() || total == 0 {
            Sink::None
        } else if stdout_is_stderr() {
            // `ebm ... > log 2>&1`: log lines would land between the rows of the table
            // on stdout, so a file or pipe shared by both gets the table alone.
            Sink::None
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {elapsed} ETA {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            Sink::Bar(bar)
        } else {
            Sink::Log {
                label: label.to_string(),
                start: Instant::now(),
                last: Mutex::new(Instant::now()),
            }
        };
        Progress {
            sink,
            done: AtomicU64::new(0),
            total,
            message: Mutex::new(String::new()),
        }
    }

    /// `n` more units done; `message` (e.g. the live loss) replaces the previous one.
    pub fn inc(&self, n: u64, message: Option<String>) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(m) = message {
            *self.message.lock().expect("progress message") = m;
        }
        match &self.sink {
            Sink::None => {}
            Sink::Hook {
                id, reporter, last, ..
            } => {
                let mut l = last.lock().unwrap_or_else(|p| p.into_inner());
                if l.elapsed() >= HOOK_INTERVAL || done >= self.total {
                    *l = Instant::now();
                    let m = self.message.lock().expect("progress message").clone();
                    reporter(Event::Update {
                        id: *id,
                        done,
                        message: &m,
                    });
                }
            }
            Sink::Bar(b) => {
                b.set_message(self.message.lock().expect("progress message").clone());
                b.inc(n);
            }
            Sink::Log { label, start, last } => {
                let mut l = last.lock().expect("progress clock");
                if l.elapsed() >= LOG_INTERVAL && done < self.total {
                    *l = Instant::now();
                    let el = start.elapsed().as_secs_f64();
                    let frac = done as f64 / self.total as f64;
                    let eta = el * (1.0 - frac) / frac.max(1e-9);
                    eprintln!(
                        "{label}: {done}/{} ({:.1}%), {el:.0} s elapsed, ETA {eta:.0} s {}",
                        self.total,
                        100.0 * frac,
                        self.message.lock().expect("progress message")
                    );
                }
            }
        }
    }

    /// End the report (clears the bar; a reporter hears it once).
    pub fn finish(&self) {
        match &self.sink {
            Sink::Bar(b) => b.finish_and_clear(),
            Sink::Hook {
                id,
                reporter,
                finished,
                ..
            } if !finished.swap(true, Ordering::Relaxed) => reporter(Event::Finish { id: *id }),
            _ => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What a [`Reporter`] hears about one report: its start (`label`, `total` units), its
/// progress (`done` units, the live message; at most every [`HOOK_INTERVAL`] and at the
/// end) and its finish. `id` tells concurrent reports apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event<'a> {
    Start {
        id: u64,
        label: &'a str,
        total: u64,
    },
    Update {
        id: u64,
        done: u64,
        message: &'a str,
    },
    Finish {
        id: u64,
    },
}

/// A process-wide receiver of progress (the Python package's tqdm bars), in place of
/// the terminal bar and the log lines.
pub type Reporter = std::sync::Arc<dyn Fn(Event<'_>) + Send + Sync>;

static REPORTER: Mutex<Option<Reporter>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The shortest time between two [`Event::Update`]s of one report.
pub const HOOK_INTERVAL: Duration = Duration::from_millis(100);

/// Send every later report's events to `r` (or, with `None`, back to the terminal bar and
/// log lines). A reporter hears every report, [`set_quiet`] or not: it was asked for.
pub fn set_reporter(r: Option<Reporter>) {
    *REPORTER.lock().unwrap_or_else(|p| p.into_inner()) = r;
}

fn reporter() -> Option<Reporter> {
    REPORTER.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
