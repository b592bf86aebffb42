//! `ebm train rbm --run DIR` then `--resume DIR`: an interrupted PCD run, resumed, ends
//! with the same model, velocities and persistent particles, bit for bit, as the run
//! that was never interrupted; a run folder of another kind is a one-line error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ebm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebm"))
        .args(args)
        .output()
        .expect("run ebm")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ebm-clirbm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

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
