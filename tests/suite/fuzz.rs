//! Fuzzing of the readers a user's files reach: the IDX reader (MNIST, plain and gzip),
//! the digits CSV reader, the `--config` TOML loader, the checkpoint loaders *with the
//! model built from the stored config* (RBM, MLP energy, VAE, classifier, training
//! states), the run folder's metrics files on resume, and the RBM's AIS curve. Each
//! property: any input gives `Ok` or a one-line `Err`, never a panic or an allocation
//! of what a hostile size asks for. Failures are saved (proptest's failure persistence,
//! `tests/suite/fuzz.proptest-regressions`) and replayed first on every later run; a
//! crash found is also kept below as its own regression test. Round trips: a state
//! file, a checkpoint and an IDX file (plain or gzip) written and read back are equal.
//!
//! Inputs are mutations of valid files (byte overwrites, truncation, appended bytes,
//! huge dimensions) and raw random bytes. In the suite each property runs
//! `EBM_FUZZ_CASES` cases (default 300); the campaign of BENCHMARKS.md ran each for
//! 10 minutes with `EBM_FUZZ_CASES` large.

use ebm::data::digits::Digits;
use ebm::data::idx::parse_idx;
use ebm::nn::checkpoint::{self, StateFile};
use ebm::nn::{Param, Parameters};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Failures are written beside this file and replayed first on the next run.
fn persistence() -> Option<Box<dyn proptest::test_runner::FailurePersistence>> {
    Some(Box::new(FileFailurePersistence::SourceParallel(
        "proptest-regressions",
    )))
}

fn cases() -> u32 {
    std::env::var("EBM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn valid_idx() -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [3u32, 4, 4] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend((0..48u8).map(|i| i.wrapping_mul(5)));
    v
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A valid input, then overwrites, a truncation and appended bytes.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = base.len();
    (
        prop::collection::vec((0..n.max(1), any::<u8>()), 0..8),
        0..=n,
        prop::collection::vec(any::<u8>(), 0..16),
        any::<bool>(),
    )
        .prop_map(move |(edits, cut, tail, keep_len)| {
            let mut b = base.clone();
            for (i, v) in edits {
                if i < b.len() {
                    b[i] = v;
                }
            }
            if !keep_len {
                b.truncate(cut);
            }
            b.extend(tail);
            b
        })
}

fn one_line(e: &ebm::Error) {
    let s = e.to_string();
    assert!(!s.contains('\n'), "multi-line error: {s:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: persistence(), ..ProptestConfig::default() })]

    #[test]
    fn idx_reader_never_panics(b in prop_oneof![
        mutated(valid_idx()),
        mutated(gzip(&valid_idx())),
        prop::collection::vec(any::<u8>(), 0..64),
        // Huge or zero dimensions with little data.
        (any::<[u32; 3]>(), prop::collection::vec(any::<u8>(), 0..32)).prop_map(|(d, data)| {
            let mut v = vec![0, 0, 8, 3];
            for x in d { v.extend_from_slice(&x.to_be_bytes()); }
            v.extend(data);
            v
        }),
    ]) {
        match parse_idx(&b, Path::new("fuzz.idx")) {
            Ok(idx) => prop_assert_eq!(idx.data.len(), idx.dims.iter().product::<usize>()),
            Err(e) => one_line(&e),
        }
    }

    #[test]
    fn digits_csv_reader_never_panics(b in prop_oneof![
        mutated({
            let row: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
            format!("{},3\n{},7\n", row.join(","), row.join(",")).into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..300),
    ]) {
        let text = String::from_utf8_lossy(&b);
        match Digits::parse_csv(&text, Path::new("fuzz.csv")) {
            Ok(d) => prop_assert_eq!(d.images.nrows(), d.labels.len()),
            Err(e) => one_line(&e),
        }
    }
}

/// The config loader runs in the `ebm` binary: one process per case (fewer cases).
#[test]
fn config_loader_never_panics() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: (cases() / 10).max(10),
        failure_persistence: persistence(),
        source_file: Some(file!()),
        ..ProptestConfig::default()
    });
    let valid =
        b"arch = \"iwae\"\niwae_k = 5\nhidden = [64, 32]\nepochs = 3\nseed = 7\nquiet = true\n"
            .to_vec();
    let strat = prop_oneof![mutated(valid), prop::collection::vec(any::<u8>(), 0..80)];
    let dir = std::env::temp_dir().join(format!("ebm-fuzz-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("c.toml");
    runner
        .run(&strat, |b| {
            std::fs::write(&f, &b).unwrap();
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_ebm"))
                .args([
                    "train",
                    "vae",
                    "--config",
                    f.to_str().unwrap(),
                    "--print-config",
                ])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            prop_assert!(
                !err.contains("panicked"),
                "panic on {:?}: {}",
                String::from_utf8_lossy(&b),
                err
            );
            if !o.status.success() {
                prop_assert_eq!(err.trim().lines().count(), 1, "{}", err);
            }
            Ok(())
        })
        .unwrap();
}

/// Named tensors to write into a hostile file.
struct Tensors(Vec<(String, Param)>);

impl Parameters for Tensors {
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.0.iter_mut().for_each(|(_, p)| f(p));
    }
    fn visit_named(&self, prefix: &str, f: &mut dyn FnMut(&str, &Param)) {
        self.0
            .iter()
            .for_each(|(n, p)| f(&format!("{prefix}{n}"), p));
    }
    fn visit_named_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        self.0
            .iter_mut()
            .for_each(|(n, p)| f(&format!("{prefix}{n}"), p));
    }
}

/// Sizes a hostile config may name: small, zero, and huge up to u64::MAX.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..8,
        1u64..100,
        Just(20_000_000u64),
        Just(1u64 << 40),
        Just(1u64 << 63),
        Just(u64::MAX)
    ]
}

/// A stored config for one of the four model kinds, with sizes from [`size`].
fn model_config() -> impl Strategy<Value = serde_json::Value> {
    (0..4usize, size(), size(), prop::collection::vec(size(), 0..3), any::<bool>()).prop_map(
        |(kind, a, b, hidden, act)| {
            let act = if act { "relu" } else { "silu" };
            match kind {
                0 => json!({"model": "rbm", "rbm": {
                    "visible": a, "hidden": b, "init_std": 0.01, "sampler": {"kind": "cd", "k": 1},
                    "epochs": 1, "batch_size": 10, "lr": 0.1, "lr_final": 0.1, "momentum": 0.5,
                    "momentum_final": 0.9, "momentum_switch": 5, "weight_decay": 0.0, "seed": 0}}),
                1 => json!({"model": "mlp_energy", "spec": {"in_dim": a, "hidden": hidden, "activation": {"kind": act}}}),
                2 => json!({"model": "vae", "vae": {"input_dim": a, "hidden": hidden, "latent": b,
                    "activation": {"kind": act}, "likelihood": {"kind": "bernoulli"}, "kl_weight": 1.0,
                    "init": "py_torch_default"}}),
                _ => json!({"model": "conditional_ebm", "conditional": {"in_dim": a, "hidden": hidden,
                    "activation": {"kind": act}, "classes": b, "beta": 1.0, "init": "py_torch_default"}, "run": {}}),
            }
        },
    )
}

/// One to three tensors of small random shapes (names the loaders look for, or not).
fn tensors() -> impl Strategy<Value = Vec<(String, Vec<usize>)>> {
    let name = prop_oneof![
        Just("w".to_string()),
        Just("b".to_string()),
        Just("c".to_string()),
        Just("0.weight".to_string()),
        Just("0.bias".to_string()),
        Just("encoder.0.weight".to_string()),
        Just("x".to_string())
    ];
    prop::collection::vec((name, prop::collection::vec(0usize..6, 0..3)), 1..4)
}

fn fuzz_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ebm-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: persistence(), ..ProptestConfig::default() })]

    /// A checkpoint whose stored config names any size, beside any tensors: every loader
    /// builds its model only when the file holds it, and otherwise says why on one line.
    #[test]
    fn checkpoint_loaders_build_models_only_from_what_the_file_holds(
        cfg in model_config(), ts in tensors(), case in any::<u32>()
    ) {
        let d = fuzz_dir("ckpt");
        let f = d.join(format!("m{case}.safetensors"));
        let mut seen = std::collections::HashSet::new();
        let t = Tensors(ts.into_iter().filter(|(n, _)| seen.insert(n.clone())).map(|(n, shape)| {
            let len = shape.iter().product::<usize>();
            (n, Param::new(shape, vec![0.25; len]))
        }).collect());
        checkpoint::save(&f, &t, &cfg).unwrap();
        let _ = std::fs::remove_file(checkpoint::config_path(&f));
        let mut rng = <rand_xoshiro::Xoshiro256PlusPlus as rand::SeedableRng>::seed_from_u64(0);
        let results = [
            ebm::models::rbm::Rbm::load(&f).map(|_| ()),
            ebm::energy::NeuralEnergy::load(&f).map(|_| ()),
            ebm::eval::vae::SavedVae::load(&f, &mut rng).map(|_| ()),
            ebm::models::conditional::ConditionalEbm::load(&f).map(|_| ()),
            StateFile::load(&f).map(|_| ()),
            ebm::contrastive::ContrastiveTrainer::<ebm::energy::NeuralEnergy>::load_state(&f).map(|_| ()),
            ebm::toy_ebm::ToyTraining::load_state(&f).map(|_| ()),
        ];
        let _ = std::fs::remove_file(&f);
        for r in results {
            if let Err(e) = r { one_line(&e); }
        }
    }

    /// Raw and mutated bytes as a checkpoint: never a panic.
    #[test]
    fn checkpoint_bytes_never_panic(b in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (any::<u64>(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(n, rest)| {
            let mut v = n.to_le_bytes().to_vec(); v.extend(rest); v
        }),
    ], case in any::<u32>()) {
        let d = fuzz_dir("bytes");
        let f = d.join(format!("b{case}.safetensors"));
        std::fs::write(&f, &b).unwrap();
        let results = [
            ebm::models::rbm::Rbm::load(&f).map(|_| ()),
            ebm::energy::NeuralEnergy::load(&f).map(|_| ()),
            StateFile::load(&f).map(|_| ()),
            checkpoint::stored_values(&f).map(|_| ()),
        ];
        let _ = std::fs::remove_file(&f);
        for r in results {
            if let Err(e) = r { one_line(&e); }
        }
    }

    /// A state file written and read back holds the same tensors and config.
    #[test]
    fn state_files_round_trip(
        f32s in prop::collection::vec(any::<f32>(), 0..20),
        f64s in prop::collection::vec(any::<f64>(), 0..20),
        u64s in prop::collection::vec(any::<u64>(), 0..20),
        key in "[a-z]{1,8}", case in any::<u32>()
    ) {
        let d = fuzz_dir("roundtrip");
        let f = d.join(format!("s{case}.safetensors"));
        let mut st = StateFile::new(json!({ key.clone(): case }));
        st.put_f32("a", vec![f32s.len()], f32s.clone());
        st.put_f64("b.c", vec![f64s.len()], f64s.clone());
        st.put_u64("d", vec![1, u64s.len()], u64s.clone());
        st.save(&f).unwrap();
        let back = StateFile::load(&f).unwrap();
        let _ = std::fs::remove_file(&f);
        prop_assert_eq!(&back.config, &st.config);
        // Bit patterns, so NaNs compare equal to themselves.
        let bits32: Vec<u32> = back.f32("a", Some(&[f32s.len()])).unwrap().iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(bits32, f32s.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        let bits64: Vec<u64> = back.f64("b.c", None).unwrap().iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(bits64, f64s.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        prop_assert_eq!(back.u64("d", Some(&[1, u64s.len()])).unwrap(), &u64s[..]);
    }

    /// A run folder's metrics files, any content, cut back to any row count on resume;
    /// the RBM's AIS curve file likewise.
    #[test]
    fn metrics_and_curve_files_never_panic(
        csv in prop::collection::vec(any::<u8>(), 0..200),
        jsonl in prop::collection::vec(any::<u8>(), 0..200),
        rows in 0usize..10, epoch in 0usize..10, case in any::<u32>()
    ) {
        let d = fuzz_dir("metrics").join(format!("r{case}"));
        let run = ebm::train::RunDir::open(&d).unwrap();
        std::fs::write(d.join("metrics.csv"), &csv).unwrap();
        std::fs::write(d.join("metrics.jsonl"), &jsonl).unwrap();
        std::fs::write(d.join("curve.csv"), &csv).unwrap();
        if let Err(e) = run.resume_metrics(rows) { one_line(&e); }
        let _ = ebm::train::rbm::read_curve(&d, epoch);
        drop(run);
        let _ = std::fs::remove_dir_all(&d);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: persistence(), ..ProptestConfig::default() })]

    /// An IDX file written from the format's definition (magic `0 0 8 ndim`, big-endian
    /// u32 dimensions, the bytes), plain or gzip, reads back as the same dims and bytes.
    #[test]
    fn idx_files_round_trip(
        dims in prop::collection::vec(1usize..7, 1..4),
        seed in any::<u64>(),
        gz in any::<bool>()
    ) {
        let n: usize = dims.iter().product();
        let data: Vec<u8> = (0..n as u64)
            .map(|i| (seed.wrapping_mul(2 * i + 1).rotate_left(17) >> 56) as u8)
            .collect();
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in &dims {
            b.extend_from_slice(&(*d as u32).to_be_bytes());
        }
        b.extend_from_slice(&data);
        let bytes = if gz { gzip(&b) } else { b };
        let idx = parse_idx(&bytes, Path::new("round-trip.idx")).unwrap();
        prop_assert_eq!(idx.dims, dims);
        prop_assert_eq!(idx.data, data);
    }

    /// A checkpoint saved and loaded into a model of the same shapes holds the same
    /// weights, bit for bit (signed zeros, subnormals, extremes), and the same config.
    #[test]
    fn checkpoints_round_trip(
        w in prop::collection::vec(any::<f32>().prop_filter("finite", |v| v.is_finite()), 1..24),
        b in prop::collection::vec(any::<f32>().prop_filter("finite", |v| v.is_finite()), 1..6),
        key in "[a-z]{1,8}",
        case in any::<u32>()
    ) {
        let d = fuzz_dir("ckpt-roundtrip");
        let f = d.join(format!("c{case}.safetensors"));
        let model = Tensors(vec![
            ("w".into(), Param::new(vec![w.len()], w.clone())),
            ("b".into(), Param::new(vec![1, b.len()], b.clone())),
        ]);
        let cfg = json!({ key.clone(): case, "lr": 0.001 });
        checkpoint::save(&f, &model, &cfg).unwrap();
        let mut back = Tensors(vec![
            ("w".into(), Param::new(vec![w.len()], vec![0.0; w.len()])),
            ("b".into(), Param::new(vec![1, b.len()], vec![0.0; b.len()])),
        ]);
        let got = checkpoint::load(&f, &mut back).unwrap();
        let _ = std::fs::remove_file(&f);
        let _ = std::fs::remove_file(checkpoint::config_path(&f));
        prop_assert_eq!(got, cfg);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        prop_assert_eq!(bits(&back.0[0].1.value), bits(&w));
        prop_assert_eq!(bits(&back.0[1].1.value), bits(&b));
    }
}
