//! Checkpoints: every parameter to a safetensors file (f32, little-endian, PyTorch's
//! names such as `encoder.0.weight`), the run's config in its metadata (key `config`)
//! and beside it as `<name>.json`. Writes are atomic: a temporary file in the same
//! folder, flushed to disk, then renamed over the target, so a crash never leaves a
//! half-written checkpoint.

use super::Parameters;
use crate::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{HashMap, HashSet};
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

/// The path of the JSON config written beside a checkpoint.
pub fn config_path(path: &Path) -> PathBuf {
    path.with_extension("json")
}

/// Save every parameter of `model` to `path` (safetensors) with `config`.
pub fn save(path: &Path, model: &dyn Parameters, config: &serde_json::Value) -> Result<()> {
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    model.visit_named("", &mut |name, p| {
        let bytes: Vec<u8> = p.value.iter().flat_map(|v| v.to_le_bytes()).collect();
        named.push((name.to_string(), p.shape.clone(), bytes));
    });
    let mut seen = HashSet::new();
    for (n, _, _) in &named {
        if !seen.insert(n.as_str()) {
            return Err(Error::invalid(
                "checkpoint",
                format!("two parameters are named `{n}`"),
            ));
        }
    }
    let views: Vec<(String, TensorView<'_>)> = named
        .iter()
        .map(|(n, s, b)| {
            let v = TensorView::new(Dtype::F32, s.clone(), b).expect("f32 bytes match shape");
            (n.clone(), v)
        })
        .collect();
    let cfg = serde_json::to_string(config).expect("json value serializes");
    let meta = HashMap::from([("config".to_string(), cfg)]);
    let bytes = safetensors::tensor::serialize(views, Some(meta))
        .map_err(|e| Error::format(path, format!("cannot serialize: {e}")))?;
    write_atomic(path, &bytes)?;
    let pretty = serde_json::to_vec_pretty(config).expect("json value serializes");
    write_atomic(&config_path(path), &pretty)
}

/// Load every parameter of `model` from `path`; returns the saved config (`null` if
/// none). Every tensor must be present, f32 and of the model's shape, and the file may
/// hold no tensor the model lacks; the error names the tensor and both shapes.
pub fn load(path: &Path, model: &mut dyn Parameters) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    // Check everything before writing anything, so a failed load leaves the model intact.
    let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
    model.visit_named("", &mut |n, p| {
        expected.push((n.to_string(), p.shape.clone()))
    });
    for (name, shape) in &expected {
        let t = st.tensor(name).map_err(|_| Error::MissingTensor {
            path: path.to_path_buf(),
            name: name.clone(),
            expected: shape.clone(),
        })?;
        if t.dtype() != Dtype::F32 {
            return Err(Error::format(
                path,
                format!("tensor `{name}` has dtype {:?}, expected F32", t.dtype()),
            ));
        }
        if t.shape() != shape.as_slice() {
            return Err(Error::Shape {
                what: format!("tensor `{name}` in {}", path.display()),
                expected: shape.clone(),
                found: t.shape().to_vec(),
            });
        }
    }
    let known: HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let mut extra: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|n| !known.contains(n))
        .collect();
    extra.sort();
    if let Some(n) = extra.first() {
        return Err(Error::format(
            path,
            format!("unexpected tensor `{n}` (the model has no parameter of that name)"),
        ));
    }
    model.visit_named_mut("", &mut |name, p| {
        let t = st.tensor(name).expect("checked above");
        for (v, b) in p.value.iter_mut().zip(t.data().chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    });
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(path, format!("bad header: {e}")))?;
    match meta.metadata().as_ref().and_then(|m| m.get("config")) {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::format(path, format!("config in metadata is not JSON: {e}"))),
        None => Ok(serde_json::Value::Null),
    }
}

/// The config saved in a checkpoint's metadata (`null` if none), without loading any
/// tensor: what a loader reads first to build the model.
pub fn read_config(path: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    match meta.metadata().as_ref().and_then(|m| m.get("config")) {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::format(path, format!("config in metadata is not JSON: {e}"))),
        None => Ok(serde_json::Value::Null),
    }
}

/// Save an optimizer's state (moment buffers as tensors `slot.00000`, ..., the step
/// count in the metadata) to `path`, atomically: what `--resume` needs beside the
/// model's checkpoint.
pub fn save_optimizer(path: &Path, opt: &dyn crate::nn::optim::Optimizer) -> Result<()> {
    let st = opt.state();
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let b: Vec<u8> = s.iter().flat_map(|v| v.to_le_bytes()).collect();
            (format!("slot.{i:05}"), vec![s.len()], b)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| {
            let v = TensorView::new(Dtype::F32, s.clone(), b).expect("f32 bytes match shape");
            (n.clone(), v)
        })
        .collect();
    let meta = HashMap::from([("steps".to_string(), st.steps.to_string())]);
    let out = safetensors::tensor::serialize(views, Some(meta))
        .map_err(|e| Error::format(path, format!("cannot serialize: {e}")))?;
    write_atomic(path, &out)
}

/// Restore an optimizer's state saved by [`save_optimizer`] for `model`; an error
/// names the file and the buffer that does not match the model.
pub fn load_optimizer(
    path: &Path,
    opt: &mut dyn crate::nn::optim::Optimizer,
    model: &dyn Parameters,
) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
    let mut names: Vec<String> = st.names().into_iter().map(|n| n.to_string()).collect();
    names.sort();
    let mut slots = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        if *n != format!("slot.{i:05}") {
            return Err(Error::format(path, format!("unexpected tensor `{n}`")));
        }
        let t = st.tensor(n).expect("listed");
        if t.dtype() != Dtype::F32 {
            return Err(Error::format(path, format!("tensor `{n}` is not F32")));
        }
        slots.push(
            t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        );
    }
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::format(path, format!("bad header: {e}")))?;
    let steps = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("steps"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::format(path, "no step count in the metadata"))?;
    opt.set_state(crate::nn::optim::OptimState { steps, slots }, model)
        .map_err(|e| Error::format(path, e.to_string()))
}
