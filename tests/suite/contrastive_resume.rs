//! The full state of a contrastive trainer and of a toy run: saved after any update and
//! loaded, training continues bit for bit as if never stopped (weights, weight average,
//! Adam moments, replay buffer, generator, spectral-norm vectors, the stale grid of grid
//! negatives between rebuilds, the toy loop's shuffle and curve); a state missing a
//! tensor is an error naming the file and the tensor.

use crate::common::tmpdir;
use ebm::contrastive::{ContrastiveConfig, ContrastiveTrainer, Negatives};
use ebm::energy::{MlpSpec, NeuralEnergy};
use ebm::nn::ActivationKind;
use ebm::nn::checkpoint::StateFile;
use ebm::toy::ToyData;
use ebm::toy_ebm::{ToyRunConfig, ToyTraining};

fn spec() -> MlpSpec {
    MlpSpec {
        in_dim: 2,
        hidden: vec![16, 16],
        activation: ActivationKind::Silu,
    }
}

fn batches(n: usize) -> Vec<ndarray::Array2<f64>> {
    (0..n)
        .map(|i| ToyData::EightGaussians.sample(64, 100 + i as u64))
        .collect()
}

/// Every tensor and the config of two trainers' states are equal.
fn assert_same_state(a: &ContrastiveTrainer, b: &ContrastiveTrainer) {
    let (sa, sb) = (a.state().unwrap(), b.state().unwrap());
    assert_eq!(sa.config, sb.config);
    assert_eq!(
        sa.tensors.keys().collect::<Vec<_>>(),
        sb.tensors.keys().collect::<Vec<_>>()
    );
    for (k, t) in &sa.tensors {
        assert!(*t == sb.tensors[k], "tensor {k} differs");
    }
}

/// `total` updates straight, and `stop` updates, save, load, the rest: the same state.
fn check_resume(cfg: ContrastiveConfig, stop: usize, total: usize, name: &str) -> StateFile {
    let dir = tmpdir(name);
    let data = batches(total);
    let mut a = ContrastiveTrainer::new(spec(), cfg.clone(), 3).unwrap();
    for b in &data {
        a.step(b.view()).unwrap();
    }
    let mut b = ContrastiveTrainer::new(spec(), cfg, 3).unwrap();
    for x in &data[..stop] {
        b.step(x.view()).unwrap();
    }
    let path = dir.join("trainer.safetensors");
    b.save_state(&path).unwrap();
    let saved = StateFile::load(&path).unwrap();
    drop(b);
    let mut c = ContrastiveTrainer::load_state(&path).unwrap();
    assert_eq!(c.steps_done(), stop);
    for x in &data[stop..] {
        c.step(x.view()).unwrap();
    }
    assert_same_state(&a, &c);
    let _ = std::fs::remove_dir_all(&dir);
    saved
}

#[test]
fn persistent_chains_with_spectral_norm_resume_bit_for_bit() {
    let cfg = ContrastiveConfig {
        negatives: Negatives::Persistent,
        mcmc_steps: 5,
        buffer: 512,
        batch: 64,
        spectral_norm: true,
        optim: ebm::nn::optim::OptimConfig::AdamW {
            lr: 3e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-3,
        },
        ..ContrastiveConfig::default()
    };
    let st = check_resume(cfg, 7, 15, "pcd");
    for t in ["buffer", "ema.0.weight", "optim.slot.00000", "power.000"] {
        assert!(st.has(t), "{t} missing from the state");
    }
}

#[test]
fn grid_negatives_resume_between_rebuilds_from_the_stale_grid() {
    let (lo, hi) = ToyData::EightGaussians.support_box();
    let cfg = ContrastiveConfig {
        negatives: Negatives::Grid,
        mcmc_steps: 0,
        grid_cells: 16,
        grid_refresh: 3,
        noise_lo: lo[0],
        noise_hi: hi[0],
        batch: 64,
        ..ContrastiveConfig::default()
    };
    // Stopped after 7 updates: the grid of update 6 serves update 8 too.
    let st = check_resume(cfg.clone(), 7, 12, "grid");
    assert_eq!(st.shape("grid.neg_energy").unwrap(), &[16, 16]);
    // Without the stale grid, the resumed run rebuilds it from the current weights and
    // goes elsewhere: the saved grid is what makes it exact.
    let data = batches(9);
    let mut straight = ContrastiveTrainer::new(spec(), cfg.clone(), 3).unwrap();
    for b in &data {
        straight.step(b.view()).unwrap();
    }
    let mut st = st;
    st.tensors.remove("grid.neg_energy");
    let mut rebuilt = ContrastiveTrainer::<NeuralEnergy>::from_state(&st).unwrap();
    for b in &data[7..] {
        rebuilt.step(b.view()).unwrap();
    }
    assert!(
        straight.state().unwrap().tensors["energy.0.weight"]
            != rebuilt.state().unwrap().tensors["energy.0.weight"]
    );
    // Also with Langevin steps after the grid draws.
    check_resume(
        ContrastiveConfig {
            mcmc_steps: 2,
            ..cfg
        },
        4,
        9,
        "grid-mala",
    );
}

#[test]
fn a_toy_run_on_a_finite_set_resumes_with_the_same_curve_and_weights() {
    let dir = tmpdir("toy");
    let cfg = ContrastiveConfig {
        mcmc_steps: 3,
        batch: 32,
        ..ContrastiveConfig::default()
    };
    let run = ToyRunConfig {
        updates: 40,
        eval_every: 10,
        train_size: Some(50),
        test_size: 500,
        grid: 32,
        ..ToyRunConfig::default()
    };
    let data = ToyData::Moons;
    let mut a = ToyTraining::new(&data, spec(), cfg.clone(), &run, 9).unwrap();
    while !a.is_finished() {
        a.update().unwrap();
    }
    let mut b = ToyTraining::new(&data, spec(), cfg, &run, 9).unwrap();
    for _ in 0..25 {
        b.update().unwrap();
    }
    let path = dir.join("trainer.safetensors");
    b.save_state(&path).unwrap();
    drop(b);
    let mut c = ToyTraining::load_state(&path).unwrap();
    assert_eq!((c.done(), c.curve().len()), (25, 2));
    while !c.is_finished() {
        c.update().unwrap();
    }
    let no_time = |t: &ToyTraining| -> Vec<String> {
        t.curve()
            .iter()
            .map(|p| {
                let mut v = serde_json::to_value(p).unwrap();
                v["seconds"] = serde_json::Value::Null;
                v.to_string()
            })
            .collect()
    };
    assert_eq!(no_time(&a), no_time(&c));
    assert_same_state(a.trainer(), c.trainer());
    let (sa, sc) = (a.state().unwrap(), c.state().unwrap());
    assert!(sa.tensors["toy.order"] == sc.tensors["toy.order"]);
    assert_eq!(sa.config["toy"]["rng"], sc.config["toy"]["rng"]);
    let ra = a.finish().unwrap();
    let rc = c.finish().unwrap();
    assert_eq!(
        ra.final_eval.test_nll.to_bits(),
        rc.final_eval.test_nll.to_bits()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_state_missing_a_tensor_names_the_file_and_the_tensor() {
    let dir = tmpdir("missing");
    let cfg = ContrastiveConfig {
        mcmc_steps: 2,
        buffer: 128,
        batch: 32,
        ..ContrastiveConfig::default()
    };
    let mut t = ContrastiveTrainer::new(spec(), cfg, 1).unwrap();
    t.step(ToyData::Rings.sample(32, 5).view()).unwrap();
    let mut st = t.state().unwrap();
    st.tensors.remove("buffer");
    let path = dir.join("trainer.safetensors");
    st.save(&path).unwrap();
    let err = match ContrastiveTrainer::<NeuralEnergy>::load_state(&path) {
        Ok(_) => panic!("a state without its buffer must not load"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("buffer") && err.contains("trainer.safetensors"),
        "{err}"
    );
    // A plain energy checkpoint is not a trainer state.
    t.model().save(&path).unwrap();
    let err = match ContrastiveTrainer::<NeuralEnergy>::load_state(&path) {
        Ok(_) => panic!("an energy checkpoint is not a trainer state"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("contrastive-trainer"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
