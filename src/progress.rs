//! Progress of long work (training, evaluation): a bar with ETA and the live loss on a
//! terminal (indicatif), one log line per interval otherwise, nothing when quiet
//! ([`set_quiet`], the CLI's `--quiet`). Writes to stderr only, so stdout stays clean
//! for tables and JSON lines.

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
        let sink = if is_quiet() || total == 0 {
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

    /// End the report (clears the bar).
    pub fn finish(&self) {
        if let Sink::Bar(b) = &self.sink {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
