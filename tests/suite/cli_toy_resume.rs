//! `ebm train toy` stopped (the hidden --stop-after-updates, Ctrl-C, kill -9) and
//! continued with `--resume DIR`: the same energy.safetensors, metrics and trainer state
//! as the run never stopped; a bad run folder is a one-line error; checkpoints/ keeps the
//! last N evaluated models and best.safetensors the one of lowest exact test NLL.

use crate::common::{ebm, one_line_error, tmpdir};
use ebm::nn::checkpoint::StateFile;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "ebm failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ebm --threads 1 --quiet train toy` + a small fast model + `extra`.
fn toy_args(extra: &[&str]) -> Vec<String> {
    [
        "--threads",
        "1",
        "--quiet",
        "train",
        "toy",
        "--dataset",
        "8gaussians",
        "--grid",
        "64",
        "--hidden",
        "32,32",
        "--sample-steps",
        "20",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

fn run(args: &[String]) -> Output {
    ebm(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn resume(dir: &Path, extra: &[&str]) -> Output {
    let mut a = vec![
        "--threads",
        "1",
        "--quiet",
        "train",
        "toy",
        "--resume",
        dir.to_str().unwrap(),
        "--sample-steps",
        "20",
    ];
    a.extend(extra);
    ebm(&a)
}

/// metrics.jsonl lines without the wall-clock `seconds`.
fn metrics(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v.to_string()
        })
        .collect()
}

/// metrics.csv rows without the seconds column.
fn metrics_csv(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{}", f[0], f[2..].join(","))
        })
        .collect()
}

/// The two runs ended alike: energy.safetensors byte for byte, the metrics but for the
/// seconds, every tensor of trainer.safetensors but the curve (whose seconds differ),
/// best.safetensors and the kept checkpoints.
fn assert_same_run(a: &Path, b: &Path) {
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    assert!(
        read(a, "energy.safetensors") == read(b, "energy.safetensors"),
        "energy.safetensors differs"
    );
    assert_eq!(metrics(a), metrics(b));
    assert_eq!(metrics_csv(a), metrics_csv(b));
    let (sa, sb) = (
        StateFile::load(&a.join("trainer.safetensors")).unwrap(),
        StateFile::load(&b.join("trainer.safetensors")).unwrap(),
    );
    assert_eq!(
        sa.tensors.keys().collect::<Vec<_>>(),
        sb.tensors.keys().collect::<Vec<_>>()
    );
    for (k, t) in sa.tensors.iter().filter(|(k, _)| *k != "toy.curve") {
        assert!(
            *t == sb.tensors[k],
            "trainer.safetensors: tensor {k} differs"
        );
    }
    assert_eq!(sa.config["rng"], sb.config["rng"]);
    assert_eq!(sa.config["toy"]["rng"], sb.config["toy"]["rng"]);
    assert!(read(a, "best.safetensors") == read(b, "best.safetensors"));
    let list = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d.join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(a), list(b));
    for f in list(a) {
        let p = format!("checkpoints/{f}");
        assert!(read(a, &p) == read(b, &p), "{p} differs");
    }
}

/// Stopped after `stop` of 300 updates and resumed, against the straight run.
fn stop_and_resume(name: &str, stop: &str, extra: &[&str]) {
    let root = tmpdir(name);
    let (a, b) = (root.join("straight"), root.join("stopped"));
    let with = |dir: &Path, more: &[&str]| {
        let mut e = vec![
            "--updates",
            "300",
            "--eval-every",
            "100",
            "--out",
            dir.to_str().unwrap(),
        ];
        e.extend(extra);
        e.extend(more);
        toy_args(&e)
    };
    ok(&run(&with(&a, &[])));
    let out = ok(&run(&with(&b, &["--stop-after-updates", stop])));
    let want = format!("interrupted after update {stop} of 300");
    assert!(out.contains(&want), "{out}");
    assert!(out.contains("--resume"), "{out}");
    assert!(
        !b.join("density.png").exists(),
        "a stopped run draws no figures"
    );
    let o = resume(&b, &[]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("at update {stop} of 300")), "{err}");
    assert_same_run(&a, &b);
    assert_eq!(metrics(&b).len(), 3);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn pcd_stopped_mid_interval_resumes_byte_for_byte() {
    stop_and_resume("pcd", "130", &["--negatives", "pcd", "--spectral-norm"]);
}

#[test]
fn pcd_on_a_finite_set_stopped_at_an_evaluation_point_resumes_byte_for_byte() {
    stop_and_resume("finite", "200", &["--train-size", "100"]);
}

#[test]
fn grid_negatives_stopped_between_rebuilds_resume_byte_for_byte() {
    // 250 is not a multiple of 3: the resumed run must draw from the stale grid.
    stop_and_resume(
        "grid",
        "250",
        &[
            "--negatives",
            "grid",
            "--grid-cells",
            "32",
            "--grid-refresh",
            "3",
        ],
    );
}

/// The run of the signal test: 400 updates, evaluated every 100.
fn long_run(dir: &Path) -> Vec<String> {
    toy_args(&[
        "--updates",
        "400",
        "--eval-every",
        "100",
        "--out",
        dir.to_str().unwrap(),
    ])
}

/// Spawn [`long_run`], wait until its first trainer.safetensors exists, send `signal`;
/// returns the output.
fn signalled(dir: &Path, signal: &str) -> Output {
    let args = long_run(dir);
    let child = Command::new(env!("CARGO_BIN_EXE_ebm"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !dir.join("trainer.safetensors").exists() && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status();
    child.wait_with_output().unwrap()
}

/// The last `step N` line a run printed.
fn last_step(out: &str) -> usize {
    out.lines()
        .filter_map(|l| {
            l.strip_prefix("step ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn kill_9_and_ctrl_c_lose_at_most_one_evaluation_interval() {
    let root = tmpdir("signals");
    let full = root.join("full");
    ok(&run(&long_run(&full)));
    // kill -9: the state on disk is that of the last or the last-but-one printed
    // evaluation point (a kill between the line and the write).
    let nine = root.join("nine");
    let o = signalled(&nine, "-9");
    let printed = last_step(&String::from_utf8_lossy(&o.stdout));
    // The signal lands after the first of four evaluation points: it must interrupt.
    assert!(!o.status.success(), "kill -9 landed after the run ended");
    {
        let st = StateFile::load(&nine.join("trainer.safetensors")).unwrap();
        let saved = st.config["toy"]["updates_done"].as_u64().unwrap() as usize;
        assert!(saved >= 100 && saved.is_multiple_of(100), "{saved}");
        assert!(saved + 100 >= printed, "saved {saved}, printed {printed}");
        let o = resume(&nine, &[]);
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!("at update {saved} of 400")), "{err}");
    }
    assert_same_run(&full, &nine);
    // Ctrl-C (SIGINT): the update finishes, the state is written at it, exit 0.
    let int = root.join("int");
    let o = signalled(&int, "-INT");
    let out = ok(&o);
    assert!(
        out.contains("interrupted"),
        "SIGINT did not interrupt the run: {out}"
    );
    {
        assert!(out.contains("interrupted after update"), "{out}");
        assert!(
            out.contains(&format!("--resume {}", int.display())),
            "{out}"
        );
        ok(&resume(&int, &[]));
    }
    assert_same_run(&full, &int);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bad_resume_folders_and_flags_are_one_line_errors() {
    let root = tmpdir("bad");
    let missing = root.join("nothing-here");
    one_line_error(
        &resume(&missing, &[]),
        &[missing.to_str().unwrap(), "no such run folder"],
    );
    assert!(!missing.exists(), "a resume must not create the folder");
    // An energy checkpoint where the state should be.
    let run_dir = root.join("run");
    ok(&run(&toy_args(&[
        "--updates",
        "100",
        "--out",
        run_dir.to_str().unwrap(),
    ])));
    let fake = root.join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::copy(
        run_dir.join("energy.safetensors"),
        fake.join("trainer.safetensors"),
    )
    .unwrap();
    one_line_error(&resume(&fake, &[]), &["trainer.safetensors", "toy"]);
    std::fs::write(fake.join("trainer.safetensors"), b"not a checkpoint").unwrap();
    one_line_error(
        &resume(&fake, &[]),
        &["trainer.safetensors", "not a safetensors file"],
    );
    // Settings of the run cannot change on resume; the total can only grow.
    one_line_error(
        &resume(&run_dir, &["--dataset", "rings"]),
        &["--resume", "--dataset"],
    );
    one_line_error(
        &resume(&run_dir, &["--updates", "50"]),
        &["--updates", "50", "100"],
    );
    // A larger --updates extends the finished run.
    let o = resume(&run_dir, &["--updates", "200"]);
    let out = ok(&o);
    assert!(out.contains("step    200"), "{out}");
    assert_eq!(metrics(&run_dir).len(), 2);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn keep_last_and_best_hold_the_last_models_and_the_lowest_test_nll() {
    let root = tmpdir("keep");
    let d = root.join("run");
    ok(&run(&toy_args(&[
        "--updates",
        "500",
        "--eval-every",
        "100",
        "--keep",
        "2",
        "--out",
        d.to_str().unwrap(),
    ])));
    let mut kept: Vec<String> = std::fs::read_dir(d.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "step-000000400.json",
            "step-000000400.safetensors",
            "step-000000500.json",
            "step-000000500.safetensors",
        ]
    );
    let points: Vec<serde_json::Value> = std::fs::read_to_string(d.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(points.len(), 5);
    let best = points
        .iter()
        .min_by(|a, b| {
            a["test_nll"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["test_nll"].as_f64().unwrap())
        })
        .unwrap();
    let cfg = ebm::nn::checkpoint::read_config(&d.join("best.safetensors")).unwrap();
    assert_eq!(cfg["test_nll"], best["test_nll"]);
    assert_eq!(cfg["step"], best["step"]);
    // The kept models load as energies (`ebm eval toy`); the one at the best step is best's.
    let e = ebm::energy::NeuralEnergy::load(&d.join("best.safetensors")).unwrap();
    assert_eq!(e.spec.unwrap().hidden, vec![32, 32]);
    let step = cfg["step"].as_u64().unwrap();
    let kept_best = d.join(format!("checkpoints/step-{step:09}.safetensors"));
    if kept_best.exists() {
        assert!(
            std::fs::read(&kept_best).unwrap()
                == std::fs::read(d.join("best.safetensors")).unwrap()
        );
    }
    // --keep 0: no checkpoints folder, still a best.
    let z = root.join("zero");
    ok(&run(&toy_args(&[
        "--updates",
        "100",
        "--keep",
        "0",
        "--out",
        z.to_str().unwrap(),
    ])));
    assert!(!z.join("checkpoints").exists());
    assert!(z.join("best.safetensors").exists());
    let _ = std::fs::remove_dir_all(&root);
}
