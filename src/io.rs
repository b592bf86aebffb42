//! Files written so that nothing is lost: every write is atomic (a temporary file in
//! the same folder, flushed to disk, then renamed over the target), so a crash or a
//! `kill -9` never leaves a half-written checkpoint, config or metrics file. The
//! temporary names are `.NAME.tmp.PID`; [`remove_stale_temps`] clears those a killed
//! process left behind.
//!
//! The lowest layer of the crate: the engine's checkpoints, the plots, the reports and
//! the run folders of [`crate::train`] all write through it.

use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically (temporary file + fsync + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = path.file_name().ok_or_else(|| {
        Error::invalid(
            "checkpoint path",
            format!("{} has no file name", path.display()),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Remove `f` unless it does not exist.
pub fn remove_if_present(f: &Path) -> Result<()> {
    match std::fs::remove_file(f) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(f, e)),
        _ => Ok(()),
    }
}

/// Whether `name` is a temporary file of [`write_atomic`] (`.NAME.tmp.PID`).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp.")
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Remove the temporary files of [`write_atomic`] that a killed process left in `dir`
/// (not recursive); returns how many were removed. A missing folder removes nothing.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut n = 0;
    for e in rd.flatten() {
        if is_temp_name(&e.file_name().to_string_lossy()) && e.path().is_file() {
            remove_if_present(&e.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Rewrite, in place, every JSON number that is exactly an `f32` as the shortest decimal
/// that reads back as that `f32`: a config's `0.8999999761581421` (an `f32` 0.9 widened to
/// `f64` by `serde_json::Value`) prints as `0.9`. A number that is not exactly an `f32`
/// (an `f64` setting such as 0.02) and integers are left as they are, so every `f32` field
/// reads back bit for bit and every `f64` field that did not come from an `f32` too.
pub fn tidy_f32_noise(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            if let Some(x) = n.as_f64() {
                let f = x as f32;
                if f as f64 == x && f.is_finite() {
                    let short: f64 = format!("{f}").parse().unwrap_or(x);
                    if let Some(m) = serde_json::Number::from_f64(short) {
                        *n = m;
                    }
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(tidy_f32_noise),
        serde_json::Value::Object(o) => o.values_mut().for_each(tidy_f32_noise),
        _ => {}
    }
}

/// `value` as pretty JSON with the `f32` noise of [`tidy_f32_noise`] removed (what a
/// run's `config.json` holds).
pub fn config_json(value: &serde_json::Value) -> Vec<u8> {
    let mut v = value.clone();
    tidy_f32_noise(&mut v);
    serde_json::to_vec_pretty(&v).expect("JSON values serialize")
}
