//! `ebm train rbm --run DIR` then `--resume DIR`: an interrupted PCD run, resumed, ends
//! with the same model, velocities and persistent particles, bit for bit, as the run
//! that was never interrupted; a run folder of another kind is a one-line error.

use crate::common::{ebm, tmpdir};
use std::path::Path;
use std::process::{Command, Output};

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "ebm failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// metrics.csv rows without the seconds column.
fn metrics(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{}", f[0], f[2..].join(","))
        })
        .collect()
}

#[test]
fn interrupted_pcd_run_resumes_bit_for_bit() {
    let root = tmpdir("resume");
    let (a, b) = (root.join("straight"), root.join("interrupted"));
    let common = [
        "--threads",
        "1",
        "--quiet",
        "train",
        "rbm",
        "--hidden",
        "12",
        "--sampler",
        "pcd",
        "--epochs",
        "5",
        "--sample-sweeps",
        "5",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        common
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| ebm(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    ok(&run(with(&["--run", a.to_str().unwrap()])));
    let o = run(with(&["--run", b.to_str().unwrap(), "--stop-after", "2"]));
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("interrupted at the end of epoch 2"));
    // The interrupted run stopped early: its state differs from the finished one.
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    assert_ne!(
        read(&a, "trainer.safetensors"),
        read(&b, "trainer.safetensors")
    );
    ok(&run(with(&["--resume", b.to_str().unwrap()])));
    for f in ["trainer.safetensors", "model.safetensors"] {
        assert!(read(&a, f) == read(&b, f), "{f} differs after resume");
    }
    assert_eq!(metrics(&a), metrics(&b));
    assert_eq!(metrics(&a).len(), 6, "header and 5 epochs");
    // metrics.jsonl: one line per epoch, the same recon errors as the CSV.
    let jl = String::from_utf8(read(&b, "metrics.jsonl")).unwrap();
    let epochs: Vec<u64> = jl
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(epochs, vec![1, 2, 3, 4, 5]);
    let cfg: serde_json::Value = serde_json::from_slice(&read(&b, "config.json")).unwrap();
    assert_eq!(cfg["rbm"]["hidden"], 12);
    // checkpoints/ keeps the last 3 epochs; best.safetensors is the epoch with the
    // highest exact test log-likelihood in metrics.csv.
    let mut kept: Vec<String> = std::fs::read_dir(b.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".safetensors"))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        ["epoch-000003", "epoch-000004", "epoch-000005"].map(|n| format!("{n}.safetensors"))
    );
    let rows: Vec<(u64, f64)> = std::fs::read_to_string(b.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[4].parse().unwrap())
        })
        .collect();
    let top = rows
        .iter()
        .cloned()
        .fold((0, f64::NEG_INFINITY), |a, r| if r.1 > a.1 { r } else { a });
    let best: serde_json::Value = serde_json::from_slice(&read(&b, "best.json")).unwrap();
    assert_eq!(best["epoch"].as_u64(), Some(top.0), "{best} vs {rows:?}");
    assert!((best["test_logp"].as_f64().unwrap() - top.1).abs() < 1e-5);
    let _ = std::fs::remove_dir_all(&root);
}

/// `ebm train rbm` on the embedded digits, `epochs` PCD epochs of 24 hidden units.
fn long_run(dir: &Path, epochs: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--threads",
        "1",
        "--quiet",
        "train",
        "rbm",
        "--hidden",
        "24",
        "--sampler",
        "pcd",
        "--epochs",
        epochs,
        "--sample-sweeps",
        "5",
        "--keep",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("--run".into());
    v.push(dir.to_str().unwrap().into());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn epochs_done(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// A run killed with SIGKILL (or stopped with SIGINT) in the middle of training loses at
/// most the epoch it was in: `--resume` continues from the last checkpoint and finishes
/// with the same model as the run that was never killed.
#[test]
fn kill_9_and_ctrl_c_lose_at_most_one_epoch() {
    let root = tmpdir("kill");
    let straight = root.join("straight");
    let args = long_run(&straight, "150", &[]);
    ok(&ebm(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>()));
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    for (signal, name) in [("-9", "nine"), ("-INT", "int")] {
        let dir = root.join(name);
        let args = long_run(&dir, "150", &[]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_ebm"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for a few epochs, then signal the process while it is still training.
        let t = std::time::Instant::now();
        while epochs_done(&dir) < 20 && t.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let running = child.try_wait().unwrap().is_none();
        let seen = epochs_done(&dir);
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        // The signal lands after epoch 20 of 150: it must interrupt the run.
        assert!(
            running && seen < 150,
            "{signal} landed after the run ended ({seen} epochs)"
        );
        {
            if signal == "-9" {
                assert!(!status.success(), "SIGKILL ends the process");
            } else {
                assert!(status.success(), "Ctrl-C exits cleanly");
            }
            assert!(epochs_done(&dir) < 150, "stopped before the end");
            let o = ebm(&[
                "--threads",
                "1",
                "--quiet",
                "train",
                "rbm",
                "--resume",
                dir.to_str().unwrap(),
            ]);
            ok(&o);
            // It resumes from the last checkpoint: at most one epoch before the last
            // epoch seen in metrics.csv (a kill can land between the two writes).
            let err = String::from_utf8_lossy(&o.stderr);
            let from: usize = err
                .split("after epoch ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no resume line in {err}"));
            assert!(
                from + 1 >= seen,
                "resumed after epoch {from}, {seen} were seen"
            );
        }
        assert_eq!(epochs_done(&dir), 150);
        for f in ["trainer.safetensors", "model.safetensors"] {
            assert!(
                read(&straight, f) == read(&dir, f),
                "{f} differs after {name} and resume"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn resume_from_a_folder_without_a_run_is_one_line_error() {
    let root = tmpdir("bad");
    let o = ebm(&[
        "--quiet",
        "train",
        "rbm",
        "--resume",
        root.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("run.json"), "{err}");
    assert!(!err.contains("panicked"));
    let _ = std::fs::remove_dir_all(&root);
}
