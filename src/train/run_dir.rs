//! A run folder: the one place a training run writes, with one writer at a time.
//!
//! ```text
//! DIR/
//!   .lock                  held (flock) by the process training into DIR; holds its pid
//!   config.json            the resolved settings (written by the model's step)
//!   metrics.csv            one row per round (epoch or evaluation interval), appended
//!   metrics.jsonl          the same rows as JSON objects, appended
//!   checkpoints/NAME.safetensors   the last `keep` rounds' models
//!   best.safetensors       the model of the best round so far (its config says why)
//! ```
//!
//! A resumed run cuts the metrics back to the rows its checkpoint had seen (rows written
//! after it by a killed process are written again, identically) and removes the
//! temporary files a killed writer left ([`crate::io::remove_stale_temps`]).

use crate::io::{remove_stale_temps, write_atomic};
use crate::nn::{Parameters, checkpoint};
use crate::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open run folder; holds the folder's lock until dropped (or the process ends, which
/// releases it even after `kill -9`).
#[derive(Debug)]
pub struct RunDir {
    dir: PathBuf,
    _lock: File,
}

/// One metrics row: the CSV cells (header names and formatted values, in order) and the
/// same row as a JSON object.
#[derive(Clone, Debug, Default)]
pub struct MetricsRow {
    pub csv: Vec<(&'static str, String)>,
    pub json: serde_json::Value,
}

impl RunDir {
    /// Create (if needed) and lock `dir`. A second process that opens the same folder
    /// gets a one-line error naming the folder and the process that holds it.
    pub fn open(dir: &Path) -> Result<RunDir> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lp = dir.join(".lock");
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lp)
            .map_err(|e| Error::io(&lp, e))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&lp).unwrap_or_default();
                let holder = holder.trim();
                return Err(Error::invalid(
                    "run folder",
                    format!(
                        "{} is in use by another ebm process{} (one writer per run folder: wait for it to finish, or choose another folder)",
                        dir.display(),
                        if holder.is_empty() {
                            String::new()
                        } else {
                            format!(" (pid {holder})")
                        }
                    ),
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lp, e)),
        }
        // Ours now: say who holds it.
        f.set_len(0).map_err(|e| Error::io(&lp, e))?;
        write!(f, "{}", std::process::id()).map_err(|e| Error::io(&lp, e))?;
        Ok(RunDir {
            dir: dir.to_path_buf(),
            _lock: f,
        })
    }

    /// Lock the existing run folder `dir` to continue its run (a missing folder is an
    /// error, not created).
    pub fn resume(dir: &Path) -> Result<RunDir> {
        if !dir.is_dir() {
            return Err(Error::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such run folder"),
            ));
        }
        RunDir::open(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `DIR/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Write `config.json` (pretty JSON without `f32` noise, atomically).
    pub fn write_config(&self, config: &serde_json::Value) -> Result<()> {
        write_atomic(&self.join("config.json"), &crate::io::config_json(config))
    }

    /// Read `config.json` (what a resume starts from).
    pub fn read_config(&self) -> Result<serde_json::Value> {
        read_json(&self.join("config.json"))
    }

    /// Start a fresh run's files: `metrics.csv` with `header`, an empty `metrics.jsonl`,
    /// and no kept checkpoints or `best` of an earlier run in the same folder (they would
    /// outrank this run's).
    pub fn start_metrics(&self, header: &[&str]) -> Result<()> {
        for f in ["best.safetensors", "best.json"] {
            crate::io::remove_if_present(&self.join(f))?;
        }
        if let Ok(rd) = std::fs::read_dir(self.join("checkpoints")) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.ends_with(".safetensors") || n.ends_with(".json") {
                    crate::io::remove_if_present(&e.path())?;
                }
            }
        }
        write_atomic(
            &self.join("metrics.csv"),
            format!("{}\n", header.join(",")).as_bytes(),
        )?;
        write_atomic(&self.join("metrics.jsonl"), b"")
    }

    /// Append one row to `metrics.csv` and `metrics.jsonl` (a killed process leaves at
    /// most rows that the resumed run drops and writes again).
    pub fn append_metrics(&self, row: &MetricsRow) -> Result<()> {
        let line = row
            .csv
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",");
        append_line(&self.join("metrics.csv"), &line)?;
        append_line(&self.join("metrics.jsonl"), &row.json.to_string())
    }

    /// The rows of `metrics.jsonl` so far, as a JSON array of objects (one per round).
    pub fn read_metrics(&self) -> Result<serde_json::Value> {
        let p = self.join("metrics.jsonl");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| Error::format(&p, format!("line {}: not JSON: {e}", i + 1)))
            })
            .collect::<Result<Vec<_>>>()
            .map(serde_json::Value::Array)
    }

    /// Resume: keep the CSV header and the first `rows` data rows of `metrics.csv` and
    /// `metrics.jsonl` (the rows the checkpoint had seen), and remove the temporary files
    /// of a killed writer.
    pub fn resume_metrics(&self, rows: usize) -> Result<()> {
        self.remove_stale_temps()?;
        for (name, skip) in [("metrics.csv", 1), ("metrics.jsonl", 0)] {
            let p = self.join(name);
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let kept: String = text
                .lines()
                .take(rows + skip)
                .map(|l| format!("{l}\n"))
                .collect();
            write_atomic(&p, kept.as_bytes())?;
        }
        Ok(())
    }

    /// Remove the temporary files a killed writer left in the folder and in
    /// `checkpoints/`; returns how many.
    pub fn remove_stale_temps(&self) -> Result<usize> {
        Ok(remove_stale_temps(&self.dir)? + remove_stale_temps(&self.join("checkpoints"))?)
    }

    /// Save `model` as `checkpoints/NAME.safetensors` (with `config`), then keep only the
    /// `keep` newest whose names start like NAME (up to its first `-`: `epoch-`, `step-`;
    /// zero-padded, so the name order is the time order). `keep` 0 saves nothing.
    pub fn keep_checkpoint(
        &self,
        name: &str,
        model: &dyn Parameters,
        config: &serde_json::Value,
        keep: usize,
    ) -> Result<()> {
        if keep == 0 {
            return Ok(());
        }
        let prefix = name.split('-').next().unwrap_or(name).to_string() + "-";
        let cdir = self.join("checkpoints");
        std::fs::create_dir_all(&cdir).map_err(|e| Error::io(&cdir, e))?;
        checkpoint::save(&cdir.join(format!("{name}.safetensors")), model, config)?;
        let mut old: Vec<PathBuf> = std::fs::read_dir(&cdir)
            .map_err(|e| Error::io(&cdir, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                    && p.extension().is_some_and(|x| x == "safetensors")
            })
            .collect();
        old.sort();
        let n = old.len().saturating_sub(keep);
        for p in &old[..n] {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::remove_file(checkpoint::config_path(p));
        }
        Ok(())
    }

    /// Save `model` as `best.safetensors` when `score` beats the score recorded under
    /// `key` in the current best's config (`lower`: lower is better); `config` gets
    /// `key: score`. Returns whether it was saved.
    pub fn keep_best(
        &self,
        model: &dyn Parameters,
        config: &serde_json::Value,
        key: &str,
        score: f64,
        lower: bool,
    ) -> Result<bool> {
        if !score.is_finite() {
            return Ok(false);
        }
        let best = self.join("best.safetensors");
        let old = checkpoint::read_config(&best)
            .ok()
            .and_then(|c| c[key].as_f64());
        let better = match old {
            None => true,
            Some(o) if lower => score < o,
            Some(o) => score > o,
        };
        if better {
            let mut c = config.clone();
            c[key] = serde_json::json!(score);
            checkpoint::save(&best, model, &c)?;
        }
        Ok(better)
    }
}

/// Read a JSON file, with the file named in any error.
pub fn read_json(p: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
    serde_json::from_str(&text).map_err(|e| Error::format(p, format!("not JSON: {e}")))
}

fn append_line(p: &Path, line: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map_err(|e| Error::io(p, e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(p, e))
}

/// Refuse a resume whose `--data` does not match how the run was started: a run on
/// files needs `--data` again (the path saved in the run folder is not opened), a run
/// on the embedded digits takes none.
pub fn check_resumed_data(saved: Option<&str>, given: Option<&Path>) -> Result<()> {
    match (saved, given) {
        (Some(dir), None) => Err(Error::invalid(
            "--data",
            format!(
                "the run trained on {dir}: give --data again to resume (data paths are never read from a run folder)"
            ),
        )),
        (None, Some(dir)) => Err(Error::invalid(
            "--data",
            format!(
                "the run trained on the embedded digits; resume it without --data (got {})",
                dir.display()
            ),
        )),
        _ => Ok(()),
    }
}
