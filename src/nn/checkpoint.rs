//! Checkpoints: every parameter to a safetensors file (f32, little-endian, PyTorch's
//! names such as `encoder.0.weight`), the run's config in its metadata (key `config`)
//! and beside it as `<name>.json`. Writes are atomic: a temporary file in the same
//! folder, flushed to disk, then renamed over the target, so a crash never leaves a
//! half-written checkpoint.

use super::Parameters;
use crate::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{HashMap, HashSet};

use std::path::{Path, PathBuf};

pub use crate::io::write_atomic;

/// The path of the JSON config written beside a checkpoint.
pub fn config_path(path: &Path) -> PathBuf {
    path.with_extension("json")
}

/// Save every parameter of `model` to `path` (safetensors) with `config`.
pub fn save(path: &Path, model: &dyn Parameters, config: &serde_json::Value) -> Result<()> {
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    model.visit_state("", &mut |name, p| {
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
    write_atomic(&config_path(path), &crate::io::config_json(config))
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
    model.visit_state("", &mut |n, p| {
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
        // Weights that are NaN or infinite would only surface later as a diverged
        // evaluation that names no file.
        if let Some(i) = t
            .data()
            .chunks_exact(4)
            .position(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
        {
            return Err(Error::format(
                path,
                format!(
                    "tensor `{name}` holds a NaN or infinite value (element {i}): not a usable checkpoint"
                ),
            ));
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
    model.visit_state_mut("", &mut |name, p| {
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

/// The number of values stored in the safetensors file at `path`, from its header
/// alone (the 8-byte length and the JSON table of tensors; no tensor is read), checked
/// against the file's length. What a loader compares with the size its stored config
/// describes before it builds anything, so a config naming a huge model in a small
/// file is refused before any allocation.
pub fn stored_values(path: &Path) -> Result<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut n8 = [0u8; 8];
    f.read_exact(&mut n8).map_err(|_| {
        Error::format(
            path,
            "not a safetensors file: shorter than its 8-byte header length",
        )
    })?;
    let n = u64::from_le_bytes(n8);
    if n > 100 << 20 || n.saturating_add(8) > len {
        return Err(Error::format(
            path,
            format!("not a safetensors file: header of {n} bytes in a file of {len}"),
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
    let table: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| {
            Error::format(
                path,
                format!("not a safetensors file: header is not JSON: {e}"),
            )
        })?;
    let mut total = 0u64;
    for (name, t) in &table {
        if name == "__metadata__" {
            continue;
        }
        let bad = || Error::format(path, format!("tensor `{name}`: bad shape in the header"));
        let shape = t.get("shape").and_then(|s| s.as_array()).ok_or_else(bad)?;
        let count = shape
            .iter()
            .try_fold(1u64, |acc, d| acc.checked_mul(d.as_u64()?));
        total = count
            .and_then(|c| total.checked_add(c))
            .filter(|&t| t <= len)
            .ok_or_else(|| {
                Error::format(
                    path,
                    format!("tensor `{name}`: its shape holds more values than the file has bytes"),
                )
            })?;
    }
    Ok(total)
}

/// Refuse to build a model whose stored config (`field` of the file's config)
/// describes `implied` parameters (`None`: a size that overflows) when the file holds
/// fewer values: call before allocating the model. (A model no larger than the file is
/// built, and the tensor-by-tensor check of [`load`] names what does not match.)
pub fn check_stored_size(path: &Path, field: &str, implied: Option<u64>) -> Result<()> {
    let stored = stored_values(path)?;
    match implied {
        Some(n) if n <= stored => Ok(()),
        Some(n) => Err(Error::format(
            path,
            format!(
                "config field `{field}` describes {n} parameters but the file holds {stored} values"
            ),
        )),
        None => Err(Error::format(
            path,
            format!("config field `{field}`: its sizes overflow 64-bit arithmetic"),
        )),
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

/// One tensor of a [`StateFile`]: row-major values with their shape.
#[derive(Clone, Debug, PartialEq)]
pub enum StateTensor {
    F32 { shape: Vec<usize>, data: Vec<f32> },
    F64 { shape: Vec<usize>, data: Vec<f64> },
    U64 { shape: Vec<usize>, data: Vec<u64> },
}

impl StateTensor {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            StateTensor::F32 { data, .. } => data.len(),
            StateTensor::F64 { data, .. } => data.len(),
            StateTensor::U64 { data, .. } => data.len(),
        }
    }
    /// No values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn shape(&self) -> &[usize] {
        match self {
            StateTensor::F32 { shape, .. }
            | StateTensor::F64 { shape, .. }
            | StateTensor::U64 { shape, .. } => shape,
        }
    }
    fn dtype(&self) -> Dtype {
        match self {
            StateTensor::F32 { .. } => Dtype::F32,
            StateTensor::F64 { .. } => Dtype::F64,
            StateTensor::U64 { .. } => Dtype::U64,
        }
    }
    fn le_bytes(&self) -> Vec<u8> {
        match self {
            StateTensor::F32 { data, .. } => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            StateTensor::F64 { data, .. } => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            StateTensor::U64 { data, .. } => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// A training state in one safetensors file: named tensors of f32, f64 or u64 values
/// (stored exactly, little-endian) and a JSON config in the metadata (key `config`, as
/// [`save`] writes it, so [`read_config`] reads it too). [`StateFile::save`] writes the
/// whole file atomically, so a crash leaves the previous state or the new one, never a
/// mix. The typed getters check the dtype and shape and name the file and the tensor
/// when they do not match.
#[derive(Clone, Debug, Default)]
pub struct StateFile {
    pub tensors: std::collections::BTreeMap<String, StateTensor>,
    pub config: serde_json::Value,
    /// The file it was read from (what the errors name; empty for a new state).
    pub path: PathBuf,
}

impl StateFile {
    /// An empty state with `config`.
    pub fn new(config: serde_json::Value) -> Self {
        StateFile {
            config,
            ..Self::default()
        }
    }

    pub fn put_f32(&mut self, name: &str, shape: Vec<usize>, data: Vec<f32>) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        self.tensors
            .insert(name.to_string(), StateTensor::F32 { shape, data });
    }

    pub fn put_f64(&mut self, name: &str, shape: Vec<usize>, data: Vec<f64>) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        self.tensors
            .insert(name.to_string(), StateTensor::F64 { shape, data });
    }

    pub fn put_u64(&mut self, name: &str, shape: Vec<usize>, data: Vec<u64>) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        self.tensors
            .insert(name.to_string(), StateTensor::U64 { shape, data });
    }

    /// Every parameter of `model` as an f32 tensor named `prefix` + its name.
    pub fn put_params(&mut self, prefix: &str, model: &dyn Parameters) {
        model.visit_state(prefix, &mut |name, p| {
            self.put_f32(name, p.shape.clone(), p.value.clone());
        });
    }

    /// Is there a tensor named `name`?
    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name`, which must exist and (when given) have `shape`.
    fn get(&self, name: &str, shape: Option<&[usize]>) -> Result<&StateTensor> {
        let t = self.tensors.get(name).ok_or_else(|| Error::MissingTensor {
            path: self.path.clone(),
            name: name.to_string(),
            expected: shape.map(<[usize]>::to_vec).unwrap_or_default(),
        })?;
        if let Some(s) = shape
            && t.shape() != s
        {
            return Err(Error::Shape {
                what: format!("tensor `{name}` in {}", self.path.display()),
                expected: s.to_vec(),
                found: t.shape().to_vec(),
            });
        }
        Ok(t)
    }

    fn wrong_dtype(&self, name: &str, t: &StateTensor, want: &str) -> Error {
        Error::format(
            &self.path,
            format!("tensor `{name}` has dtype {:?}, expected {want}", t.dtype()),
        )
    }

    /// The f32 values of `name` (of `shape` when given).
    pub fn f32(&self, name: &str, shape: Option<&[usize]>) -> Result<&[f32]> {
        match self.get(name, shape)? {
            StateTensor::F32 { data, .. } => Ok(data),
            t => Err(self.wrong_dtype(name, t, "F32")),
        }
    }

    /// The f64 values of `name` (of `shape` when given).
    pub fn f64(&self, name: &str, shape: Option<&[usize]>) -> Result<&[f64]> {
        match self.get(name, shape)? {
            StateTensor::F64 { data, .. } => Ok(data),
            t => Err(self.wrong_dtype(name, t, "F64")),
        }
    }

    /// The u64 values of `name` (of `shape` when given).
    pub fn u64(&self, name: &str, shape: Option<&[usize]>) -> Result<&[u64]> {
        match self.get(name, shape)? {
            StateTensor::U64 { data, .. } => Ok(data),
            t => Err(self.wrong_dtype(name, t, "U64")),
        }
    }

    /// The shape of `name`.
    pub fn shape(&self, name: &str) -> Result<&[usize]> {
        Ok(self.get(name, None)?.shape())
    }

    /// Copy the tensors `prefix` + name into every parameter of `model`; every one must
    /// exist with the parameter's shape (checked before anything is written).
    pub fn load_params(&self, prefix: &str, model: &mut dyn Parameters) -> Result<()> {
        let mut err = None;
        model.visit_state(prefix, &mut |name, p| {
            if err.is_none()
                && let Err(e) = self.f32(name, Some(&p.shape))
            {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        model.visit_state_mut(prefix, &mut |name, p| {
            let v = self.f32(name, Some(&p.shape)).expect("checked above");
            p.value.copy_from_slice(v);
        });
        Ok(())
    }

    /// A field of the config, deserialized; the error names the file and the field.
    pub fn field<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T> {
        let v = self
            .config
            .get(key)
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        serde_json::from_value(v)
            .map_err(|e| Error::format(&self.path, format!("config field `{key}`: {e}")))
    }

    /// Write the state to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes: Vec<(&String, &StateTensor, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, t)| (n, t, t.le_bytes()))
            .collect();
        let views: Vec<(String, TensorView<'_>)> = bytes
            .iter()
            .map(|(n, t, b)| {
                let v = TensorView::new(t.dtype(), t.shape().to_vec(), b)
                    .expect("bytes match dtype and shape");
                ((*n).clone(), v)
            })
            .collect();
        let cfg = serde_json::to_string(&self.config).expect("json value serializes");
        let meta = HashMap::from([("config".to_string(), cfg)]);
        let out = safetensors::tensor::serialize(views, Some(meta))
            .map_err(|e| Error::format(path, format!("cannot serialize: {e}")))?;
        write_atomic(path, &out)
    }

    /// Read a state written by [`StateFile::save`] (F32, F64 and U64 tensors).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::format(path, format!("not a safetensors file: {e}")))?;
        let mut tensors = std::collections::BTreeMap::new();
        for (name, t) in st.tensors() {
            let shape = t.shape().to_vec();
            let d = t.data();
            let tensor = match t.dtype() {
                Dtype::F32 => StateTensor::F32 {
                    shape,
                    data: d
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                        .collect(),
                },
                Dtype::F64 => StateTensor::F64 {
                    shape,
                    data: d
                        .chunks_exact(8)
                        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                        .collect(),
                },
                Dtype::U64 => StateTensor::U64 {
                    shape,
                    data: d
                        .chunks_exact(8)
                        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                        .collect(),
                },
                other => {
                    return Err(Error::format(
                        path,
                        format!("tensor `{name}` has dtype {other:?} (expected F32, F64 or U64)"),
                    ));
                }
            };
            tensors.insert(name, tensor);
        }
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| Error::format(path, format!("bad header: {e}")))?;
        let config = match meta.metadata().as_ref().and_then(|m| m.get("config")) {
            Some(c) => serde_json::from_str(c)
                .map_err(|e| Error::format(path, format!("config in metadata is not JSON: {e}")))?,
            None => serde_json::Value::Null,
        };
        Ok(StateFile {
            tensors,
            config,
            path: path.to_path_buf(),
        })
    }
}
