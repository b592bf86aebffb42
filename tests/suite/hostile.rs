//! Hostile input (issue 15): checkpoints whose stored config names a huge or
//! overflowing model, flags that ask for more memory than the machine has, sizes at 0.
//! Each must end in one line naming the file, flag or key, with a non-zero exit, no
//! panic, quickly, and without allocating what the input asks for: the commands run
//! under `EBM_MEMORY_LIMIT` where the check is the memory budget.

use crate::common::tmpdir;
use ebm::nn::checkpoint;
use ebm::nn::{Param, Parameters};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Run `ebm args` with at most `limit` of memory to give out; the output and the time.
fn ebm_limited(args: &[&str], limit: &str) -> (Output, Duration) {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_ebm"))
        .args(args)
        .env("EBM_MEMORY_LIMIT", limit)
        .output()
        .expect("run ebm");
    (o, t.elapsed())
}

/// The last line on stderr is the only error line, starts `error: ` and holds every
/// needle; exit 1 or 2 (not 101 from a panic, not 134 from an abort); under 20 s.
fn refused(args: &[&str], needles: &[&str]) {
    let (o, took) = ebm_limited(args, "2G");
    let err = String::from_utf8_lossy(&o.stderr);
    // 1: refused by ebm; 2: refused by the argument parser.
    assert!(
        matches!(o.status.code(), Some(1 | 2)),
        "{args:?}: {:?} {err}",
        o.status
    );
    // Progress and "run folder" lines may come first; the error is the last line, and
    // the only one.
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors = lines.iter().filter(|l| l.starts_with("error")).count();
    assert_eq!(errors, 1, "{args:?}: not one error line: {err}");
    let last = lines.last().copied().unwrap_or("");
    assert!(last.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(last.contains(n), "{args:?}: `{n}` not in {err}");
    }
    assert!(took < Duration::from_secs(20), "{args:?} took {took:?}");
}

/// A parameter set of given shapes (the tensors written to a hostile file).
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

/// A small safetensors file (one 4x3 tensor) whose metadata holds `config`.
fn small_file_claiming(path: &Path, config: serde_json::Value) {
    let t = Tensors(vec![("w".into(), Param::new(vec![4, 3], vec![0.5; 12]))]);
    checkpoint::save(path, &t, &config).unwrap();
}

#[test]
fn an_rbm_checkpoint_claiming_a_huge_or_overflowing_model_is_refused_before_allocating() {
    let d = tmpdir("rbm");
    for hidden in [20_000_000u64, 1 << 62, u64::MAX] {
        let f = d.join(format!("rbm-{hidden}.safetensors"));
        let mut cfg = serde_json::to_value(ebm::models::rbm::RbmConfig::new(784, 16)).unwrap();
        cfg["hidden"] = json!(hidden);
        small_file_claiming(&f, json!({"model": "rbm", "rbm": cfg}));
        let p = f.to_str().unwrap();
        refused(
            &[
                "eval",
                "rbm",
                "--checkpoint",
                p,
                "--ais-runs",
                "2",
                "--ais-betas",
                "10",
            ],
            &[p, "rbm"],
        );
    }
}

#[test]
fn a_vae_checkpoint_whose_config_names_a_huge_model_is_refused_naming_the_file() {
    let d = tmpdir("vae");
    for hidden in [20_000_000u64, 1 << 62] {
        let f = d.join(format!("vae-{hidden}.safetensors"));
        let cfg = json!({"model": "vae", "vae": {
            "input_dim": 64, "hidden": [hidden], "latent": 2, "activation": "relu",
            "likelihood": "bernoulli", "kl_weight": 1.0, "init": "pytorch_default"}});
        small_file_claiming(&f, cfg);
        let _ = std::fs::remove_file(checkpoint::config_path(&f));
        let p = f.to_str().unwrap();
        refused(&["eval", "vae", "--checkpoint", p], &[p, "vae"]);
    }
}

#[test]
fn an_energy_file_whose_spec_names_a_huge_mlp_is_refused_by_sample_and_eval() {
    let d = tmpdir("energy");
    let f = d.join("energy.safetensors");
    small_file_claiming(
        &f,
        json!({"model": "mlp_energy", "spec": {"in_dim": 2, "hidden": [1u64 << 40, 1u64 << 40], "activation": "silu"}}),
    );
    let p = f.to_str().unwrap();
    refused(&["sample", "--energy", p, "--draws", "10"], &[p, "spec"]);
    refused(
        &["eval", "toy", "--checkpoint", p, "--dataset", "8gaussians"],
        &[p, "spec"],
    );
}

#[test]
fn flags_asking_for_more_memory_than_the_limit_name_the_flag_the_estimate_and_the_limit() {
    let d = tmpdir("flags");
    let out = d.to_str().unwrap();
    refused(
        &[
            "train",
            "vae",
            "--latent",
            "100000000000",
            "--epochs",
            "1",
            "--run",
            &format!("{out}/v"),
        ],
        &["latent", "more than", "GiB"],
    );
    refused(
        &[
            "train",
            "rbm",
            "--hidden",
            "1000000000000",
            "--epochs",
            "1",
            "--run",
            &format!("{out}/r"),
        ],
        &["hidden", "more than"],
    );
    refused(
        &[
            "train",
            "toy",
            "--grid",
            "100000",
            "--updates",
            "10",
            "--out",
            &format!("{out}/t"),
        ],
        &["grid", "more than"],
    );
}

#[test]
fn sizes_at_zero_are_refused_not_a_panic() {
    let d = tmpdir("zero");
    let out = d.join("t");
    refused(
        &[
            "train",
            "toy",
            "--train-size",
            "0",
            "--updates",
            "10",
            "--out",
            out.to_str().unwrap(),
        ],
        &["train_size"],
    );
}

/// An IDX header (unsigned bytes) of `dims`, then `payload` zero bytes, gzip-compressed.
fn gz_idx(dims: &[u32], payload: usize) -> Vec<u8> {
    use std::io::Write;
    let mut head = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        head.extend(d.to_be_bytes());
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&head).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = payload;
    while left > 0 {
        let n = left.min(zeros.len());
        gz.write_all(&zeros[..n]).unwrap();
        left -= n;
    }
    gz.finish().unwrap()
}

/// A folder of the four MNIST files whose training images are `images`.
fn mnist_with(name: &str, images: Vec<u8>) -> PathBuf {
    let d = tmpdir(name);
    std::fs::write(d.join("train-images-idx3-ubyte.gz"), images).unwrap();
    std::fs::write(d.join("train-labels-idx1-ubyte.gz"), gz_idx(&[4], 4)).unwrap();
    std::fs::write(
        d.join("t10k-images-idx3-ubyte.gz"),
        gz_idx(&[4, 28, 28], 4 * 784),
    )
    .unwrap();
    std::fs::write(d.join("t10k-labels-idx1-ubyte.gz"), gz_idx(&[4], 4)).unwrap();
    d
}

#[test]
fn a_gzip_bomb_or_a_header_past_the_cap_is_refused_naming_the_file() {
    // The header promises 1 GiB (past the 512 MiB default cap): refused at the header.
    let d = mnist_with("bomb-header", gz_idx(&[1024, 1024, 1024], 1 << 20));
    let p = d.join("train-images-idx3-ubyte.gz");
    refused(
        &[
            "train",
            "vae",
            "--data",
            d.to_str().unwrap(),
            "--epochs",
            "1",
            "--run",
            d.join("r").to_str().unwrap(),
        ],
        &[p.to_str().unwrap(), "--max-data"],
    );
    // 8 MiB of zeros (a few KiB compressed) under a 1 MiB cap set by the flag.
    let d = mnist_with("bomb-flag", gz_idx(&[2048, 64, 64], 8 << 20));
    let p = d.join("train-images-idx3-ubyte.gz");
    refused(
        &[
            "--max-data",
            "1M",
            "train",
            "vae",
            "--data",
            d.to_str().unwrap(),
            "--epochs",
            "1",
            "--run",
            d.join("r").to_str().unwrap(),
        ],
        &[p.to_str().unwrap(), "1.0 MiB"],
    );
    // A stream longer than its header promises stops one byte past the promise.
    let d = mnist_with("bomb-trailing", gz_idx(&[4, 28, 28], 64 << 20));
    let p = d.join("train-images-idx3-ubyte.gz");
    refused(
        &[
            "train",
            "vae",
            "--data",
            d.to_str().unwrap(),
            "--epochs",
            "1",
            "--run",
            d.join("r").to_str().unwrap(),
        ],
        &[p.to_str().unwrap(), "trailing bytes"],
    );
    // No images at all.
    let d = mnist_with("no-images", gz_idx(&[0, 28, 28], 0));
    refused(
        &[
            "train",
            "vae",
            "--data",
            d.to_str().unwrap(),
            "--epochs",
            "1",
            "--run",
            d.join("r").to_str().unwrap(),
        ],
        &["no data: 0 images"],
    );
}

/// A finished 1-epoch RBM run on the embedded digits in a fresh folder.
fn rbm_run(name: &str) -> PathBuf {
    let d = tmpdir(name).join("run");
    let (o, _) = ebm_limited(
        &[
            "--quiet",
            "train",
            "rbm",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--run",
            d.to_str().unwrap(),
        ],
        "2G",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    d
}

#[test]
fn a_resumed_run_never_opens_a_data_path_read_from_its_folder() {
    let d = rbm_run("data-path");
    let p = d.join("run.json");
    let mut info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    info["data"] = json!("/etc/passwd");
    std::fs::write(&p, info.to_string()).unwrap();
    let dir = d.to_str().unwrap();
    refused(
        &["train", "rbm", "--resume", dir, "--epochs", "2"],
        &["--data", "/etc/passwd", "never read from a run folder"],
    );
    // A run on the embedded digits resumed with --data is refused too.
    let d = rbm_run("data-given");
    refused(
        &[
            "train",
            "rbm",
            "--resume",
            d.to_str().unwrap(),
            "--epochs",
            "2",
            "--data",
            "/tmp",
        ],
        &["--data", "embedded digits"],
    );
}

#[test]
fn an_epoch_count_past_the_run_in_a_checkpoint_is_refused_not_wrapped() {
    let d = rbm_run("epoch-overflow");
    let p = d.join("trainer.safetensors");
    let mut st = checkpoint::StateFile::load(&p).unwrap();
    st.config["epoch"] = json!(u64::MAX);
    st.save(&p).unwrap();
    refused(
        &[
            "train",
            "rbm",
            "--resume",
            d.to_str().unwrap(),
            "--epochs",
            "2",
        ],
        &[p.to_str().unwrap(), "epoch", "18446744073709551615"],
    );
}

#[test]
fn a_checkpoint_with_nan_weights_is_refused_naming_the_file_and_the_tensor() {
    let d = tmpdir("nan");
    let f = d.join("rbm.safetensors");
    let cfg = serde_json::to_value(ebm::models::rbm::RbmConfig::new(64, 2)).unwrap();
    let mut w = vec![0.1f32; 128];
    w[5] = f32::NAN;
    let t = Tensors(vec![
        ("w".into(), Param::new(vec![64, 2], w)),
        ("b".into(), Param::new(vec![64], vec![0.0; 64])),
        ("c".into(), Param::new(vec![2], vec![0.0; 2])),
    ]);
    checkpoint::save(&f, &t, &json!({"model": "rbm", "rbm": cfg})).unwrap();
    let p = f.to_str().unwrap();
    refused(
        &[
            "eval",
            "rbm",
            "--checkpoint",
            p,
            "--ais-runs",
            "2",
            "--ais-betas",
            "10",
        ],
        &[p, "`w`", "NaN"],
    );
}

#[test]
fn a_diverging_vae_names_its_last_good_checkpoint_or_says_there_is_none() {
    let d = tmpdir("vae-diverge");
    let run = d.join("a");
    let r = run.to_str().unwrap();
    refused(
        &[
            "--quiet", "train", "vae", "--lr", "1e30", "--epochs", "2", "--run", r,
        ],
        &[
            "diverged",
            "at epoch 1, batch 2",
            "no checkpoint was saved before it",
        ],
    );
    let run = d.join("b");
    let r = run.to_str().unwrap();
    let ck = run.join("model.safetensors");
    refused(
        &[
            "--quiet",
            "train",
            "vae",
            "--lr",
            "1e30",
            "--epochs",
            "2",
            "--checkpoint-every",
            "1",
            "--run",
            r,
        ],
        &[
            "diverged",
            &format!("the last good checkpoint is {}", ck.display()),
        ],
    );
}

#[test]
fn values_out_of_their_documented_range_are_refused_naming_the_flag() {
    let d = tmpdir("ranges");
    let out = |n: &str| d.join(n).to_str().unwrap().to_string();
    refused(
        &["sample", "--kernel", "hmc", "--target-accept", "2"],
        &["--target-accept", "(0, 1)"],
    );
    refused(
        &["sample", "--kernel", "hmc", "--target-accept", "0.9"],
        &["--target-accept", "only NUTS"],
    );
    refused(
        &["sample", "--kernel", "hmc", "--leapfrog", "99999999"],
        &["leapfrog", "1..=1024"],
    );
    refused(
        &["sample", "--target", "banana", "--energy", "e.safetensors"],
        &["--target", "--energy"],
    );
    refused(
        &[
            "train",
            "rbm",
            "--k",
            "99999999999",
            "--epochs",
            "1",
            "--run",
            &out("r"),
        ],
        &["k", "1..=1000"],
    );
    refused(
        &["train", "rbm", "--sample-sweeps", "0", "--run", &out("r2")],
        &["--sample-sweeps"],
    );
    refused(
        &["train", "toy", "--sample-steps", "0", "--out", &out("t0")],
        &["--sample-steps", "1..=100000"],
    );
    refused(
        &[
            "train",
            "toy",
            "--langevin-steps",
            "99999999999",
            "--out",
            &out("t"),
        ],
        &["langevin_steps", "100000"],
    );
    refused(
        &[
            "train",
            "vae",
            "--minutes",
            "nan",
            "--epochs",
            "1",
            "--run",
            &out("v"),
        ],
        &["--minutes"],
    );
    refused(
        &[
            "train",
            "vae",
            "--clip",
            "-1",
            "--epochs",
            "1",
            "--run",
            &out("v2"),
        ],
        &["clip"],
    );
    refused(
        &[
            "train",
            "vae",
            "--weight-decay",
            "-1",
            "--epochs",
            "1",
            "--run",
            &out("v3"),
        ],
        &["weight_decay", ">= 0"],
    );
    refused(
        &[
            "train",
            "toy",
            "--weight-decay",
            "nan",
            "--updates",
            "10",
            "--out",
            &out("t2"),
        ],
        &["weight_decay"],
    );
    // Ranges the --help now states, checked (issue 15 item 8).
    refused(
        &[
            "train",
            "toy",
            "--energy-l2",
            "-0.5",
            "--updates",
            "10",
            "--out",
            &out("t3"),
        ],
        &["energy_l2", ">= 0"],
    );
    refused(
        &[
            "bench", "hmc", "--draws", "10", "--warmup", "10", "--jitter", "1.5",
        ],
        &["--jitter", "[0, 1)"],
    );
    refused(
        &[
            "train",
            "rbm",
            "--hidden",
            "4",
            "--epochs",
            "1",
            "--ais-every",
            "1",
            "--ais-betas",
            "1",
            "--run",
            &out("r9"),
        ],
        &["--ais-betas", "at least 2"],
    );
}
