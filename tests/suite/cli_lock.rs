//! One writer per run folder, end to end: while one `ebm train ...` trains into a folder,
//! a second one started on the same folder stops at once with a one-line error naming the
//! folder (and the holder's pid) and saying it is "in use", without touching the folder;
//! the first finishes undisturbed, and once it has ended the folder can be resumed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long the first process may take to create its lock and metrics.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the refused second process may take.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(10);

fn ebm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ebm"));
    c.stdin(Stdio::null());
    c
}

/// A fresh, empty folder under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("ebm-clilock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The first, long-running process; killed (and reaped) when dropped, so a failing
/// assertion never leaves it behind. Its stdout and stderr go to files (a pipe nobody
/// reads would fill and block it).
struct Background {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Background {
    fn spawn(args: &[&str], logs: &Path) -> Background {
        let (out, err) = (logs.join("first.stdout"), logs.join("first.stderr"));
        let child = ebm()
            .args(args)
            .stdout(Stdio::from(File::create(&out).unwrap()))
            .stderr(Stdio::from(File::create(&err).unwrap()))
            .spawn()
            .expect("start ebm");
        Background { child, out, err }
    }

    fn logs(&self) -> String {
        let r = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "first process stdout:\n{}\nstderr:\n{}",
            r(&self.out),
            r(&self.err)
        )
    }

    /// Wait until every path in `paths` exists; panics (with the logs) when the process
    /// ends first or the time runs out.
    fn wait_for(&mut self, paths: &[PathBuf], timeout: Duration) {
        let t = Instant::now();
        loop {
            let missing: Vec<&PathBuf> = paths.iter().filter(|p| !p.exists()).collect();
            if missing.is_empty() {
                return;
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!(
                    "the first process ended ({st}) before {missing:?} existed\n{}",
                    self.logs()
                );
            }
            if t.elapsed() > timeout {
                panic!(
                    "{missing:?} did not appear within {timeout:?} (is the run folder locked?)\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the process to end by itself.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if t.elapsed() > timeout {
                panic!(
                    "the first process did not end within {timeout:?}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill it (SIGKILL) and reap it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run a second process on the folder `dir` held by process `holder`: it must fail within
/// [`REFUSAL_TIMEOUT`] with a first stderr line naming the folder, the holder's pid and
/// "in use", without a panic.
fn refused(args: &[&str], dir: &Path, holder: u32) {
    let t = Instant::now();
    let o = ebm().args(args).output().expect("run ebm");
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "a second writer of {} was let in: {err}",
        dir.display()
    );
    assert!(took < REFUSAL_TIMEOUT, "the refusal took {took:?}: {err}");
    let first = err
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(first.contains(&dir.display().to_string()), "{err}");
    assert!(first.contains("in use"), "{err}");
    assert!(
        first.contains(&holder.to_string()),
        "the holder's pid: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// The epoch numbers (first column) of `dir/metrics.csv`, after checking its header.
fn metric_epochs(dir: &Path, header_start: &str) -> Vec<usize> {
    let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with(header_start), "header: {text}");
    let width = header.split(',').count();
    lines
        .map(|l| {
            assert_eq!(l.split(',').count(), width, "a torn row: {l:?} in\n{text}");
            l.split(',').next().unwrap().parse().unwrap()
        })
        .collect()
}

/// After the holder is gone, the folder can be locked again.
fn lock_is_free(dir: &Path) {
    let r = ebm::train::RunDir::open(dir);
    assert!(r.is_ok(), "{}: {:?}", dir.display(), r.err());
}

#[test]
fn vae_run_folder_has_one_writer() {
    let t = TempDir::new("vae");
    let x = t.join("run");
    let xs = x.to_str().unwrap();
    // A long run (100000 epochs) that ends by itself: the budget of 0.1 minutes stops it
    // after the epoch during which 6 s have passed.
    let mut first = Background::spawn(
        &[
            "--threads",
            "1",
            "--quiet",
            "train",
            "vae",
            "--run",
            xs,
            "--epochs",
            "100000",
            "--minutes",
            "0.1",
            "--keep",
            "1",
        ],
        &t.0,
    );
    first.wait_for(&[x.join(".lock"), x.join("metrics.csv")], START_TIMEOUT);
    let config = std::fs::read(x.join("config.json")).unwrap();
    let pid = first.child.id();

    // A second fresh run into the folder, and a resume of it, are both refused.
    refused(
        &[
            "--threads",
            "1",
            "train",
            "vae",
            "--run",
            xs,
            "--epochs",
            "200",
        ],
        &x,
        pid,
    );
    refused(
        &[
            "--threads",
            "1",
            "train",
            "vae",
            "--resume",
            xs,
            "--epochs",
            "200",
        ],
        &x,
        pid,
    );
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first run ended before the checks: they prove nothing\n{}",
        first.logs()
    );
    assert_eq!(
        std::fs::read(x.join("config.json")).unwrap(),
        config,
        "the refused process rewrote config.json"
    );

    // The first ends by itself, its metrics intact: one row per epoch, 1, 2, ..., n.
    let st = first.wait(Duration::from_secs(120));
    let logs = first.logs();
    assert!(st.success(), "{st}\n{logs}");
    assert!(logs.contains("budget of 0.1 minutes is spent"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
    let epochs = metric_epochs(&x, "epoch,");
    let n = epochs.len();
    assert!(n >= 1, "{logs}");
    assert_eq!(epochs, (1..=n).collect::<Vec<_>>(), "{logs}");
    assert_eq!(
        std::fs::read_to_string(x.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        n
    );

    // The lock went with it: the run can be resumed, two epochs further.
    let more = (n + 2).to_string();
    let o = ebm()
        .args([
            "--threads",
            "1",
            "--quiet",
            "train",
            "vae",
            "--resume",
            xs,
            "--epochs",
            &more,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(metric_epochs(&x, "epoch,"), (1..=n + 2).collect::<Vec<_>>());
    lock_is_free(&x);
}

#[test]
fn rbm_run_folder_has_one_writer() {
    let t = TempDir::new("rbm");
    let x = t.join("run");
    let xs = x.to_str().unwrap();
    let mut first = Background::spawn(
        &[
            "--threads",
            "1",
            "--quiet",
            "train",
            "rbm",
            "--run",
            xs,
            "--epochs",
            "100000",
        ],
        &t.0,
    );
    first.wait_for(&[x.join(".lock"), x.join("metrics.csv")], START_TIMEOUT);
    let pid = first.child.id();
    let config = std::fs::read(x.join("config.json")).ok();
    for flag in ["--run", "--resume"] {
        refused(
            &[
                "--threads",
                "1",
                "train",
                "rbm",
                flag,
                xs,
                "--epochs",
                "200",
            ],
            &x,
            pid,
        );
    }
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first run ended before the checks\n{}",
        first.logs()
    );
    assert_eq!(std::fs::read(x.join("config.json")).ok(), config);
    // The first is long: kill it (as kill -9 would); the lock goes with the process.
    first.kill();
    let logs = first.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    let epochs = metric_epochs(&x, "epoch");
    assert_eq!(epochs, (1..=epochs.len()).collect::<Vec<_>>(), "{logs}");
    lock_is_free(&x);
}

#[test]
fn toy_run_folder_has_one_writer() {
    let t = TempDir::new("toy");
    let x = t.join("run");
    let xs = x.to_str().unwrap();
    // A long run of small, quickly evaluated updates.
    let long = [
        "--threads",
        "1",
        "--quiet",
        "train",
        "toy",
        "--out",
        xs,
        "--updates",
        "10000000",
        "--eval-every",
        "50",
        "--grid",
        "32",
        "--hidden",
        "16,16",
        "--batch",
        "32",
        "--langevin-steps",
        "1",
    ];
    let mut first = Background::spawn(&long, &t.0);
    first.wait_for(&[x.join(".lock"), x.join("metrics.csv")], START_TIMEOUT);
    let pid = first.child.id();
    let config = std::fs::read(x.join("config.json")).ok();
    refused(&long[..], &x, pid);
    refused(
        &[
            "--threads",
            "1",
            "train",
            "toy",
            "--resume",
            xs,
            "--updates",
            "20000000",
        ],
        &x,
        pid,
    );
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first run ended before the checks\n{}",
        first.logs()
    );
    assert_eq!(std::fs::read(x.join("config.json")).ok(), config);
    first.kill();
    let logs = first.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    lock_is_free(&x);
}
