//! `ebm train vae` / `ebm eval vae` end to end: the run folder, an interrupted and
//! resumed run reaching the same numbers as an uninterrupted one, the importance-weighted
//! evaluation, and one-line errors for bad settings and mismatched checkpoints.

use crate::common::{ebm, one_line_error, text, tmpdir};
use std::path::PathBuf;
use std::process::{Command, Output};

/// The metrics rows without the timing columns.
fn metrics(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{}", f[0], f[3..].join(","))
        })
        .collect()
}

/// Every tensor of a safetensors file, sorted by name: (name, raw bytes).
pub(crate) fn tensors(p: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect();
    v.sort();
    v
}

/// The run folder's newest optimizer state (`optimizer-NNNNNNNNN.safetensors`).
fn optimizer_state(dir: &std::path::Path) -> std::path::PathBuf {
    let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("optimizer") && n.ends_with(".safetensors"))
        })
        .collect();
    v.sort();
    v.pop().expect("an optimizer state")
}

/// Two runs ended in the same state: the model's weights and the optimizer's moments and
/// step, bit for bit (not only the 4-decimal metrics).
pub(crate) fn same_state(a: &std::path::Path, b: &std::path::Path) {
    assert_eq!(
        tensors(&a.join("model.safetensors")),
        tensors(&b.join("model.safetensors")),
        "model weights differ: {} vs {}",
        a.display(),
        b.display()
    );
    let (oa, ob) = (optimizer_state(a), optimizer_state(b));
    assert_eq!(oa.file_name(), ob.file_name());
    assert_eq!(tensors(&oa), tensors(&ob), "optimizer state differs");
}

#[test]
fn an_interrupted_and_resumed_run_matches_an_uninterrupted_one() {
    let d = tmpdir("resume");
    let (a, b) = (d.join("a"), d.join("b"));
    let common = [
        "train",
        "vae",
        "--arch",
        "iwae",
        "--hidden",
        "32",
        "--latent",
        "4",
        "--iwae-k",
        "3",
        "--schedule",
        "cosine",
        "--batch",
        "64",
        "--threads",
        "1",
    ];
    let run = |dir: &PathBuf, epochs: &str| {
        let mut args = common.to_vec();
        args.extend(["--epochs", epochs, "--run", dir.to_str().unwrap()]);
        ebm(&args)
    };
    let o = run(&a, "4");
    assert!(o.status.success(), "{}", text(&o).1);
    for f in ["config.json", "metrics.csv", "model.safetensors"] {
        assert!(a.join(f).exists(), "{f} missing");
    }
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("model.json")).unwrap()).unwrap();
    let ost = saved["optimizer_state"].as_str().unwrap();
    assert!(a.join(ost).exists(), "{ost} missing");
    // The last 3 epoch checkpoints are kept, and the best by test loss.
    let mut kept: Vec<String> = std::fs::read_dir(a.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".safetensors"))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "epoch-000002.safetensors",
            "epoch-000003.safetensors",
            "epoch-000004.safetensors"
        ]
    );
    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("best.json")).unwrap()).unwrap();
    let rows = metrics(&a);
    let min = rows
        .iter()
        .map(|r| r.split(',').nth(5).unwrap().parse::<f64>().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!(
        (best["test_loss"].as_f64().unwrap() - min).abs() < 1e-3,
        "{best} vs {min}"
    );
    // b: 2 epochs planned as 4 (the schedule), then resumed to 4.
    let mut args = common.to_vec();
    args.extend([
        "--epochs",
        "4",
        "--minutes",
        "0",
        "--run",
        b.to_str().unwrap(),
    ]);
    let o = ebm(&args);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        metrics(&b).len(),
        1,
        "the zero-minute budget stops after epoch 1"
    );
    let o = ebm(&[
        "train",
        "vae",
        "--epochs",
        "4",
        "--threads",
        "1",
        "--resume",
        b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(metrics(&a), metrics(&b));
    same_state(&a, &b);
    // Evaluation of the run folder: the bound with k = 50 on the held-out digits.
    let o = ebm(&[
        "eval",
        "vae",
        "--checkpoint",
        a.to_str().unwrap(),
        "--iwae-k",
        "50",
        "--latent-steps",
        "20",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["k"], 50);
    assert_eq!(v["images"], 300);
    let nll = v["nll"].as_f64().unwrap();
    // Binary 64-pixel digits: between 0 and 64 ln 2 = 44.4 nats for a trained model.
    assert!(nll > 5.0 && nll < 44.4, "{out}");
    assert!(out.contains("min_z E(y, z)"), "{out}");
}

#[test]
fn bad_vae_settings_and_mismatched_data_are_one_line_errors() {
    one_line_error(
        &ebm(&["train", "vae", "--arch", "resnet"]),
        &["--arch", "resnet"],
    );
    one_line_error(
        &ebm(&["train", "vae", "--binarize", "maybe"]),
        &["--binarize"],
    );
    one_line_error(
        &ebm(&["train", "vae", "--schedule", "warp"]),
        &["--schedule"],
    );
    one_line_error(
        &ebm(&["train", "vae", "--iwae-k", "5", "--kl-weight", "0.5"]),
        &["kl_weight", "iwae_k 5"],
    );
    one_line_error(
        &ebm(&["train", "vae", "--resume", "/nonexistent/run"]),
        &["/nonexistent/run"],
    );
    // A checkpoint of 64-pixel digits evaluated on 784-pixel images.
    let d = tmpdir("shape");
    let r = d.join("r");
    let o = ebm(&[
        "train",
        "vae",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--latent",
        "2",
        "--run",
        r.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let mnist = d.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    // A tiny valid MNIST directory: 2 train and 2 test images of 28x28.
    let idx_images = |n: u32| {
        let mut v = vec![0, 0, 8, 3];
        for x in [n, 28, 28] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend(std::iter::repeat_n(7u8, (n * 784) as usize));
        v
    };
    let idx_labels = |n: u32| {
        let mut v = vec![0, 0, 8, 1];
        v.extend_from_slice(&n.to_be_bytes());
        v.extend(std::iter::repeat_n(1u8, n as usize));
        v
    };
    std::fs::write(mnist.join("train-images-idx3-ubyte"), idx_images(2)).unwrap();
    std::fs::write(mnist.join("train-labels-idx1-ubyte"), idx_labels(2)).unwrap();
    std::fs::write(mnist.join("t10k-images-idx3-ubyte"), idx_images(2)).unwrap();
    std::fs::write(mnist.join("t10k-labels-idx1-ubyte"), idx_labels(2)).unwrap();
    let o = ebm(&[
        "eval",
        "vae",
        "--checkpoint",
        r.to_str().unwrap(),
        "--data",
        mnist.to_str().unwrap(),
        "--iwae-k",
        "5",
    ]);
    one_line_error(&o, &["784", "64"]);
}

#[test]
fn fuzzy_balls_shrink_without_the_kl_term_and_run_folders_hold_the_figures() {
    let d = tmpdir("balls");
    let out = d.join("fb");
    let o = ebm(&[
        "fuzzy-balls",
        "--epochs",
        "8",
        "--points",
        "200",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let png = std::fs::read(out.join("fuzzy_balls.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let csv = std::fs::read_to_string(out.join("fuzzy_balls.csv")).unwrap();
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    // Columns: kl_weight, test_loss, recon, kl, mean_sigma, mean_abs_mu.
    let (no_kl, kl) = (&rows[0], &rows[1]);
    assert_eq!((no_kl[0], kl[0]), (0.0, 1.0));
    assert!(
        no_kl[4] < 0.5 * kl[4],
        "balls did not shrink without KL: {csv}"
    );
    assert!(no_kl[5] > kl[5], "codes did not spread without KL: {csv}");
    assert!(no_kl[3] > kl[3] && no_kl[2] < kl[2], "{csv}");
    // A 2-D latent run folder holds every figure.
    let r = d.join("run");
    let o = ebm(&[
        "train",
        "vae",
        "--epochs",
        "2",
        "--hidden",
        "32",
        "--latent",
        "2",
        "--run",
        r.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    for f in ["recon.png", "samples.png", "traversal.png", "codes.png"] {
        let b = std::fs::read(r.join(f)).unwrap_or_else(|_| panic!("{f} missing"));
        assert_eq!(&b[1..4], b"PNG", "{f}");
    }
}

/// Start a 300-epoch run on the digits, signal it after `ms` milliseconds, wait.
fn signalled_run(dir: &std::path::Path, signal: &str, ms: u64, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "vae",
        "--epochs",
        "150",
        "--hidden",
        "64",
        "--threads",
        "1",
        "--run",
        dir.to_str().unwrap(),
    ];
    args.extend(extra);
    let child = Command::new(env!("CARGO_BIN_EXE_ebm"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(ms));
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    child.wait_with_output().unwrap()
}

#[test]
fn ctrl_c_and_kill_9_lose_nothing_a_resume_cannot_redo() {
    let d = tmpdir("signals");
    let full = d.join("full");
    let o = ebm(&[
        "train",
        "vae",
        "--epochs",
        "150",
        "--hidden",
        "64",
        "--threads",
        "1",
        "--run",
        full.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let want = metrics(&full);
    assert_eq!(want.len(), 150);
    // A deterministic interruption in the middle of an epoch.
    let mid = d.join("mid");
    let o = ebm(&[
        "train",
        "vae",
        "--epochs",
        "150",
        "--hidden",
        "64",
        "--threads",
        "1",
        "--run",
        mid.to_str().unwrap(),
        "--stop-after-batches",
        "40",
    ]);
    assert!(
        text(&o)
            .0
            .contains("interrupted in epoch 4 after batch 4 of 12"),
        "{}",
        text(&o).0
    );
    let o = ebm(&[
        "train",
        "vae",
        "--epochs",
        "150",
        "--threads",
        "1",
        "--resume",
        mid.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(metrics(&mid), want);
    same_state(&mid, &full);
    // Ctrl-C (SIGINT): the step finishes, a checkpoint is written, the exit is clean.
    let int = d.join("int");
    let o = signalled_run(&int, "-INT", 600, &[]);
    let (out, err) = text(&o);
    // The full run takes seconds (2.5 s here, 150 epochs); the signal lands after 0.6 s.
    assert!(
        out.contains("interrupted"),
        "SIGINT did not interrupt the run: {out}"
    );
    {
        assert!(o.status.success(), "{err}");
        assert!(metrics(&int).len() < 150);
        let o = ebm(&[
            "train",
            "vae",
            "--epochs",
            "150",
            "--threads",
            "1",
            "--resume",
            int.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o).1);
    }
    assert_eq!(metrics(&int), want, "{out}");
    same_state(&int, &full);
    // kill -9 with a checkpoint every 3 batches: the resumed run finishes identically.
    let nine = d.join("nine");
    let o = signalled_run(&nine, "-9", 600, &["--checkpoint-every", "3"]);
    assert!(!o.status.success(), "kill -9 landed after the run ended");
    {
        let o = ebm(&[
            "train",
            "vae",
            "--epochs",
            "150",
            "--threads",
            "1",
            "--resume",
            nine.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o).1);
    }
    assert_eq!(metrics(&nine), want);
    same_state(&nine, &full);
}
