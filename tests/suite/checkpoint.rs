//! Checkpoints: a saved-and-loaded model gives bit-identical outputs; missing,
//! mis-shaped or unexpected tensors fail with an error naming the tensor and shapes;
//! writes are atomic (no temporary file left, the config beside the tensors).

use crate::common::tmpdir;
use ebm::data::digits::Digits;
use ebm::models::vae::{Vae, VaeConfig};
use ebm::nn::Parameters;
use ebm::nn::checkpoint::{config_path, load, save};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus as Rng64;
use serde_json::json;

fn small(hidden: usize, seed: u64) -> Vae {
    let cfg = VaeConfig {
        input_dim: 64,
        hidden: vec![hidden],
        latent: 4,
        ..VaeConfig::pytorch_mnist()
    };
    Vae::new(cfg, &mut Rng64::seed_from_u64(seed)).unwrap()
}

#[test]
fn saved_and_loaded_model_gives_bit_identical_outputs() {
    let dir = tmpdir("roundtrip");
    let path = dir.join("vae.safetensors");
    let mut a = small(32, 1);
    save(&path, &a, &json!({"vae": a.config, "note": "test"})).unwrap();
    let mut b = small(32, 2); // other weights
    let cfg = load(&path, &mut b).unwrap();
    assert_eq!(cfg["note"], "test");
    let x = Digits::embedded()
        .images
        .slice(ndarray::s![..50, ..])
        .to_owned();
    let (ma, la) = a.encode(x.view()).unwrap();
    let (mb, lb) = b.encode(x.view()).unwrap();
    assert!(
        ma.iter()
            .zip(mb.iter())
            .all(|(p, q)| p.to_bits() == q.to_bits())
    );
    assert!(
        la.iter()
            .zip(lb.iter())
            .all(|(p, q)| p.to_bits() == q.to_bits())
    );
    let da = a.decode(ma.view());
    let db = b.decode(mb.view());
    assert!(
        da.iter()
            .zip(db.iter())
            .all(|(p, q)| p.to_bits() == q.to_bits())
    );
    // Every parameter is bit-identical too.
    let mut va = Vec::new();
    a.visit_named("", &mut |n, p| va.push((n.to_string(), p.value.clone())));
    let mut vb = Vec::new();
    b.visit_named("", &mut |n, p| vb.push((n.to_string(), p.value.clone())));
    assert_eq!(va, vb);
    assert!(va.iter().any(|(n, _)| n == "encoder.0.weight"));
    // Atomic write: the config is beside it, and no temporary file is left behind.
    assert!(config_path(&path).exists());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| !n.contains(".tmp")));
    // Overwriting keeps a loadable file.
    save(&path, &b, &json!({})).unwrap();
    load(&path, &mut a).unwrap();
}

#[test]
fn mis_shaped_tensor_is_named_with_both_shapes() {
    let dir = tmpdir("shape");
    let path = dir.join("m.safetensors");
    save(&path, &small(32, 1), &json!({})).unwrap();
    let mut other = small(16, 1);
    let before: Vec<f32> = {
        let mut v = Vec::new();
        other.visit_mut(&mut |p| v.extend_from_slice(&p.value));
        v
    };
    let err = load(&path, &mut other).unwrap_err().to_string();
    assert!(
        err.contains("encoder.0.weight") && err.contains("[16, 64]") && err.contains("[32, 64]"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    // A failed load leaves the model as it was.
    let after: Vec<f32> = {
        let mut v = Vec::new();
        other.visit_mut(&mut |p| v.extend_from_slice(&p.value));
        v
    };
    assert_eq!(before, after);
}

#[test]
fn missing_and_unexpected_tensors_are_named() {
    let dir = tmpdir("missing");
    let path = dir.join("m.safetensors");
    // A deeper model has tensors the file lacks.
    save(&path, &small(32, 1), &json!({})).unwrap();
    let cfg = VaeConfig {
        input_dim: 64,
        hidden: vec![32, 32],
        latent: 4,
        ..VaeConfig::pytorch_mnist()
    };
    let mut deeper = Vae::new(cfg, &mut Rng64::seed_from_u64(0)).unwrap();
    let err = load(&path, &mut deeper).unwrap_err().to_string();
    assert!(
        err.contains("encoder.2.weight")
            || err.contains("decoder.4.weight")
            || err.contains("[32, 32]"),
        "{err}"
    );
    // A shallower model is offered tensors it does not have.
    save(&path, &deeper, &json!({})).unwrap();
    let err = load(&path, &mut small(32, 1)).unwrap_err().to_string();
    assert!(
        err.contains("tensor") && (err.contains("[32, 32]") || err.contains("unexpected")),
        "{err}"
    );
}

#[test]
fn corrupt_or_absent_files_are_one_line_errors_naming_the_file() {
    let dir = tmpdir("corrupt");
    let path = dir.join("bad.safetensors");
    std::fs::write(&path, b"this is not a checkpoint").unwrap();
    let err = load(&path, &mut small(8, 0)).unwrap_err().to_string();
    assert!(
        err.contains("bad.safetensors") && !err.contains('\n'),
        "{err}"
    );
    let err = load(&dir.join("absent.safetensors"), &mut small(8, 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.safetensors"), "{err}");
}
