//! The `ebm` command end to end: the main job, the benches' JSON, checkpoints through
//! train/eval, and bad input giving one-line errors with a non-zero exit.

use crate::common::{ebm, one_line_error, text, tmpdir};

#[test]
fn the_main_job_tour_writes_a_report_naming_every_figure() {
    let d = tmpdir("tour");
    let out = d.join("tour");
    let o = ebm(&["tour", "--quick", "--out", out.to_str().unwrap()]);
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for part in [
        "== 1.",
        "== 2.",
        "== 3.",
        "== 4.",
        "exact test NLL",
        "mean sigma",
        "stationarity residuals",
    ] {
        assert!(
            stdout.contains(part),
            "`{part}` missing from the tour: {stdout}"
        );
    }
    let last = stdout.lines().last().unwrap();
    assert!(
        last.contains("report:") && last.ends_with("report.html"),
        "{last}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for fig in [
        "1-gibbs/",
        "2-toy-8gaussians/density.png",
        "2-toy-8gaussians/energy.png",
        "3-fuzzy-balls/fuzzy_balls.png",
    ] {
        assert!(
            html.contains(&format!("<figcaption>{fig}")),
            "{fig} not in the report"
        );
    }
    assert!(html.contains("3-fuzzy-balls/fuzzy_balls.csv"));
    // The lecture's section titles, each part's numbers with units, links to the parts.
    for title in [
        "<h2>1. Energies to probabilities",
        "<h2>2. Maximum likelihood as a contrastive method",
        "<h2>3. Latent variables",
        "<h2>4. Backprop as Lagrangian optimization",
        "<h2>Final numbers",
    ] {
        assert!(html.contains(title), "{title} missing");
    }
    for part in [
        "1-gibbs",
        "2-toy-8gaussians",
        "3-vae",
        "3-fuzzy-balls",
        "4-lagrangian",
    ] {
        assert!(
            html.contains(&format!("href=\"{part}/report.html\"")),
            "no link to {part}"
        );
        assert!(out.join(part).join("report.html").exists(), "{part}");
    }
    // The KL the report shows is the toy run's last KL (to its 4 decimals), in nats.
    let m = std::fs::read_to_string(out.join("2-toy-8gaussians/metrics.csv")).unwrap();
    let head: Vec<&str> = m.lines().next().unwrap().split(',').collect();
    let last: Vec<&str> = m.lines().last().unwrap().split(',').collect();
    let kl: f64 = last[head.iter().position(|c| *c == "kl").unwrap()]
        .parse()
        .unwrap();
    assert!(
        html.contains(&format!(
            "KL(p_data || p_model)</td><td>{kl:.4}</td><td class=\"q\">nats"
        )),
        "KL {kl:.4} nats not in the summary"
    );
    // Units on table columns; a weight has none.
    assert!(html.contains("<th>test_loss (nats)</th>") && html.contains("<th>kl_weight</th>"));
    assert!(html.contains("<th>log_z_quadrature (nats)</th>"));
    // Configs without f32 noise: Adam's beta1 of 0.9 (an f32) prints as 0.9.
    let cfg = std::fs::read_to_string(out.join("2-toy-8gaussians/config.json")).unwrap();
    assert!(cfg.contains("\"beta1\": 0.9,"), "{cfg}");
    assert!(!cfg.contains("0.89999"), "{cfg}");
}

#[test]
fn the_canyon_run_gets_a_report_with_its_table_and_config() {
    let d = tmpdir("canyon");
    let out = d.join("canyon");
    let o = ebm(&[
        "--threads",
        "1",
        "canyon",
        "--updates",
        "40",
        "--train-size",
        "32",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        stdout.trim_end().ends_with("canyon/report.html"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h3>canyon.csv</h3>"));
    assert!(
        html.contains("<th>well_depth (nats)</th>") && html.contains("<th>test_nll (nats)</th>")
    );
    assert!(html.contains("<td>unregularized</td>") && html.contains("<td>regularized</td>"));
    assert!(html.contains("id=\"config\"") && html.contains("&quot;train_size&quot;: 32"));
    assert!(html.contains("density_unregularized.png"));
}

#[test]
fn demo_trains_the_vae_on_embedded_digits() {
    let o = ebm(&["demo"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let rows: Vec<Vec<f64>> = out
        .lines()
        .filter_map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect();
            (v.len() == 5).then_some(v)
        })
        .collect();
    assert_eq!(rows.len(), 20, "{out}");
    let (first, last) = (rows[0][2], rows[19][2]);
    // The stated expectation: about 32 after epoch 1, about 26 after epoch 20.
    assert!(last < first && last < 28.0, "test loss {first} -> {last}");
}

#[test]
fn bench_langevin_prints_one_json_line_per_run() {
    let o = ebm(&[
        "--threads",
        "1",
        "bench",
        "langevin",
        "--chains",
        "300",
        "--steps",
        "5",
        "--repeat",
        "2",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["workload"], "langevin");
        assert_eq!(v["threads"], 1);
        assert_eq!(v["chains"], 300);
        assert!(v["seconds"].as_f64().unwrap() > 0.0);
        assert!(v["mean_energy_end"].as_f64().unwrap().is_finite());
    }
}

#[test]
fn train_save_eval_round_trip_and_a_mis_shaped_checkpoint() {
    let d = tmpdir("ckpt");
    let ck = d.join("vae.safetensors");
    let cks = ck.to_str().unwrap();
    let o = ebm(&[
        "train", "vae", "--epochs", "2", "--hidden", "32", "--latent", "4", "--save", cks,
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let o = ebm(&["eval", "vae", "--checkpoint", cks]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("test loss") && out.contains("nats/image"),
        "{out}"
    );
    // Edit the config so the model no longer matches the tensors.
    let cfg_path = d.join("vae.json");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    v["vae"]["hidden"] = serde_json::json!([16]);
    std::fs::write(&cfg_path, serde_json::to_string(&v).unwrap()).unwrap();
    let o = ebm(&["eval", "vae", "--checkpoint", cks]);
    one_line_error(&o, &["encoder.0.weight", "[16, 64]", "[32, 64]"]);
}

#[test]
fn missing_or_corrupt_mnist_is_a_one_line_error_naming_the_file() {
    let o = ebm(&[
        "bench",
        "vae",
        "--data",
        "/nonexistent/mnist",
        "--epochs",
        "1",
    ]);
    one_line_error(&o, &["/nonexistent/mnist"]);
    let d = tmpdir("mnist");
    for (name, bytes) in [
        (
            "train-images-idx3-ubyte",
            &b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x1c\x00\x00\x00\x1cshort"[..],
        ),
        (
            "train-labels-idx1-ubyte",
            &b"\x00\x00\x08\x01\x00\x00\x00\x02\x00\x01"[..],
        ),
        (
            "t10k-images-idx3-ubyte",
            &b"\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x1c\x00\x00\x00\x1c"[..],
        ),
        (
            "t10k-labels-idx1-ubyte",
            &b"\x00\x00\x08\x01\x00\x00\x00\x01\x00"[..],
        ),
    ] {
        std::fs::write(d.join(name), bytes).unwrap();
    }
    let o = ebm(&[
        "train",
        "vae",
        "--data",
        d.to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    one_line_error(&o, &["train-images-idx3-ubyte", "truncated"]);
    // Wrong magic.
    std::fs::write(
        d.join("train-images-idx3-ubyte"),
        b"\x12\x34\x56\x78garbage",
    )
    .unwrap();
    let o = ebm(&[
        "train",
        "vae",
        "--data",
        d.to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    one_line_error(&o, &["train-images-idx3-ubyte"]);
}

#[test]
fn bad_settings_are_one_line_errors() {
    one_line_error(&ebm(&["train", "vae", "--lr=-1"]), &["--lr"]);
    one_line_error(
        &ebm(&["train", "vae", "--optimizer", "rmsprop"]),
        &["--optimizer", "rmsprop"],
    );
    one_line_error(&ebm(&["train", "vae", "--latent", "0"]), &["latent"]);
    one_line_error(
        &ebm(&["eval", "vae", "--checkpoint", "/nonexistent/x.safetensors"]),
        &["/nonexistent/x.safetensors"],
    );
}

#[test]
fn lagrangian_command_reports_vanishing_residuals() {
    let o = ebm(&["lagrangian"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("stationarity residuals at the solution"))
        .unwrap();
    let nums: Vec<f64> = line
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 3, "{line}");
    assert!(nums.iter().all(|&r| r < 1e-5), "{line}");
    let off = out
        .lines()
        .find(|l| l.starts_with("with z_2 moved"))
        .unwrap();
    assert!(
        off.contains("lambda") && !off.contains("lambda 0.00e0"),
        "{off}"
    );
}

#[test]
fn argument_errors_are_one_line() {
    one_line_error(
        &ebm(&["bench", "langevin", "--chains", "many"]),
        &["--chains", "many"],
    );
    one_line_error(&ebm(&["no-such-command"]), &["no-such-command"]);
}

#[test]
fn gibbs_command_matches_the_closed_form_and_rejects_bad_betas() {
    let o = ebm(&[
        "gibbs",
        "--energy",
        "banana",
        "--betas",
        "0.5,1,2",
        "--samples",
        "20000",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let rows: Vec<Vec<f64>> = out
        .lines()
        .map(|l| {
            l.replace(['±', '%'], " ")
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect::<Vec<f64>>()
        })
        .filter(|v: &Vec<f64>| v.len() == 9)
        .collect();
    assert_eq!(rows.len(), 3, "{out}");
    for r in rows {
        let (beta, quad, quad_se, closed) = (r[0], r[1], r[2], r[8]);
        assert!(
            (quad - closed).abs() <= 4.0 * quad_se + 1e-6,
            "beta {beta}: {quad} ± {quad_se} vs {closed}"
        );
        assert!((r[6] + quad / beta).abs() < 1e-5, "F = -log Z / beta");
    }
    one_line_error(&ebm(&["gibbs", "--betas", "1,0"]), &["beta", "0"]);
    one_line_error(&ebm(&["gibbs", "--betas=-2"]), &["beta", "-2"]);
}

#[test]
fn bench_ais_estimates_log_z_of_the_quadratic_within_4_standard_errors() {
    let o = ebm(&[
        "--threads",
        "1",
        "bench",
        "ais",
        "--dim",
        "10",
        "--temps",
        "100",
        "--runs",
        "64",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["workload"], "ais");
    assert_eq!(
        (v["dim"].as_u64(), v["temps"].as_u64(), v["runs"].as_u64()),
        (Some(10), Some(100), Some(64))
    );
    let f = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {out}"));
    let (log_z, se, truth) = (f("log_z"), f("std_err"), f("truth"));
    assert!(
        (truth - 5.0 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-9,
        "{out}"
    ); // log det A = 0
    assert!(se > 0.0 && se.is_finite(), "{out}");
    assert!(
        (log_z - truth).abs() <= 4.0 * se,
        "log Z {log_z} vs {truth} ± {se}: {out}"
    );
    assert!((f("error") - (log_z - truth)).abs() < 1e-12);
    assert!(f("seconds") > 0.0 && f("acceptance") > 0.3, "{out}");
}

#[test]
fn gibbs_command_writes_one_picture_per_beta() {
    let d = tmpdir("gibbs");
    // Each run also writes report.html (checked in tests/report.rs).
    for (energy, betas) in [("double-well", "0.5,2"), ("mixture", "1")] {
        let o = ebm(&[
            "gibbs",
            "--energy",
            energy,
            "--betas",
            betas,
            "--samples",
            "2000",
            "--out",
            d.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o).1);
    }
    let mut names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "double-well_beta0.5.png",
            "double-well_beta2.png",
            "gaussian-mixture-8x2d_beta1.png"
        ]
    );
    for n in names {
        let bytes = std::fs::read(d.join(&n)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000, "{n}");
    }
}

#[test]
fn sample_command_writes_draws_summary_and_picture() {
    let dir = tmpdir("sample");
    let out = dir.join("banana");
    let o = ebm(&[
        "sample",
        "--target",
        "banana",
        "--kernel",
        "hmc",
        "--chains",
        "4",
        "--warmup",
        "500",
        "--draws",
        "500",
        "--out",
        out.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    let (s, e) = text(&o);
    assert!(o.status.success(), "{e}");
    assert!(
        s.contains("r_hat") && s.contains("ess_bulk") && s.contains("y[1]"),
        "{s}"
    );
    // The .npy header states the shape [chains, draws, dim] in float64.
    let npy = std::fs::read(out.join("draws.npy")).unwrap();
    assert_eq!(&npy[..6], b"\x93NUMPY");
    let header = String::from_utf8_lossy(&npy[10..128]);
    assert!(
        header.contains("'shape': (4, 500, 2)") && header.contains("<f8"),
        "{header}"
    );
    // After the header (its length is the little-endian u16 at bytes 8..10), exactly
    // 4 x 500 x 2 float64 values.
    let header_len = 10 + u16::from_le_bytes([npy[8], npy[9]]) as usize;
    assert_eq!(npy.len(), header_len + 4 * 500 * 2 * 8);
    let draws: ndarray::Array3<f64> =
        ndarray_npy::read_npy(out.join("draws.npy")).expect("draws.npy reads back");
    assert_eq!(draws.dim(), (4, 500, 2));
    // The same run written as CSV holds the same numbers, row for row.
    let csv_out = dir.join("sample-csv-same-seed");
    let o = ebm(&[
        "sample",
        "--target",
        "banana",
        "--kernel",
        "hmc",
        "--chains",
        "4",
        "--warmup",
        "500",
        "--draws",
        "500",
        "--format",
        "csv",
        "--out",
        csv_out.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let csv = std::fs::read_to_string(csv_out.join("draws.csv")).unwrap();
    let mut rows = 0;
    for l in csv.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        let (c, d): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        for k in 0..2 {
            let v: f64 = f[2 + k].parse().unwrap();
            assert_eq!(v, draws[[c, d, k]], "chain {c} draw {d} y{k}");
        }
        rows += 1;
    }
    assert_eq!(rows, 4 * 500);
    assert!(out.join("summary.txt").exists() && out.join("draws.png").exists());
    // CSV: a header and one line per draw.
    let o = ebm(&[
        "sample",
        "--target",
        "t5",
        "--kernel",
        "mala",
        "--chains",
        "2",
        "--warmup",
        "50",
        "--draws",
        "20",
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let csv = std::fs::read_to_string(out.join("draws.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("chain,draw,y0,y1"));
    assert_eq!(csv.lines().count(), 1 + 2 * 20);
    // Bad input: one line each.
    one_line_error(&ebm(&["sample", "--target", "nope"]), &["target", "nope"]);
    one_line_error(
        &ebm(&["sample", "--chains", "0", "--out", out.to_str().unwrap()]),
        &["chains"],
    );
    one_line_error(&ebm(&["sample", "--step-size=-1"]), &["step size"]);
    one_line_error(
        &ebm(&[
            "sample",
            "--energy",
            dir.join("missing.safetensors").to_str().unwrap(),
        ]),
        &["missing.safetensors"],
    );
}

#[test]
fn train_toy_writes_the_run_folder_and_eval_reproduces_its_numbers() {
    let dir = tmpdir("toy");
    let out = dir.join("run");
    let o = ebm(&[
        "train",
        "toy",
        "--dataset",
        "8gaussians",
        "--updates",
        "60",
        "--eval-every",
        "30",
        "--grid",
        "64",
        "--batch",
        "64",
        "--sample-steps",
        "20",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (s, e) = text(&o);
    assert!(o.status.success(), "{e}");
    assert!(
        s.contains("exact test NLL") && s.contains("KL(p_data || p_model)"),
        "{s}"
    );
    for f in [
        "energy.safetensors",
        "metrics.csv",
        "metrics.jsonl",
        "config.json",
        "density.png",
        "energy.png",
        "samples.png",
        "test_nll.png",
        "kl.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    // `eval toy` at the run's grid reproduces the run's last metrics row: the same
    // test points (same seed), the same quadrature.
    let m = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let head: Vec<&str> = m.lines().next().unwrap().split(',').collect();
    let last: Vec<f64> = m
        .lines()
        .last()
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let col = |c: &str| last[head.iter().position(|h| *h == c).unwrap()];
    let o = ebm(&[
        "eval",
        "toy",
        "--checkpoint",
        out.join("energy.safetensors").to_str().unwrap(),
        "--grid",
        "64",
    ]);
    let (s, e) = text(&o);
    assert!(o.status.success(), "{e}");
    // "8gaussians: exact test NLL 4.3592 nats, KL 1.5265 nats, ..., log Z 3.9941 (...)"
    let after = |key: &str| -> f64 {
        let rest = s
            .split(key)
            .nth(1)
            .unwrap_or_else(|| panic!("no `{key}` in {s}"));
        rest.split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches(',')
            .parse()
            .unwrap()
    };
    for (key, c) in [
        ("exact test NLL ", "test_nll"),
        ("KL ", "kl"),
        ("log Z ", "log_z"),
    ] {
        let (got, want) = (after(key), col(c));
        assert!(
            (got - want).abs() <= 6e-5,
            "eval {key}{got} vs the run's last {c} {want}\n{s}"
        );
    }
    // A finer grid than the run's also evaluates.
    let o = ebm(&[
        "eval",
        "toy",
        "--checkpoint",
        out.join("energy.safetensors").to_str().unwrap(),
        "--grid",
        "256",
    ]);
    let (s, e) = text(&o);
    assert!(o.status.success(), "{e}");
    assert!(s.contains("exact test NLL"), "{s}");
    one_line_error(
        &ebm(&["train", "toy", "--dataset", "spiralz"]),
        &["spiralz", "8gaussians", "checkerboard"],
    );
    one_line_error(&ebm(&["train", "toy", "--negatives", "magic"]), &["magic"]);
}

#[test]
fn train_rbm_on_digits_raises_exact_log_likelihood() {
    let dir = tmpdir("rbm");
    let ck = dir.join("rbm.safetensors");
    let o = ebm(&[
        "train",
        "rbm",
        "--epochs",
        "4",
        "--save",
        ck.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    // Rows: epoch, recon, train LL, test LL, seconds; epoch 0 is the base-rate start.
    let ll: Vec<f64> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 5 && f[0].parse::<usize>().is_ok()).then(|| f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(ll.len(), 5, "{out}");
    assert!(ll[4] > ll[0] + 1.0, "train LL {ll:?}");
    assert!(ck.exists() && ck.with_extension("json").exists());
    one_line_error(
        &ebm(&["train", "rbm", "--sampler", "gibbs"]),
        &["--sampler"],
    );
    one_line_error(
        &ebm(&["train", "rbm", "--binarize", "sometimes"]),
        &["--binarize", "sometimes"],
    );
    // AIS on the saved model agrees with the exact log Z within 3 standard errors.
    let o = ebm(&[
        "eval",
        "rbm",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--ais-runs",
        "50",
        "--ais-betas",
        "2000",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let se: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("exact log Z = "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exact/AIS comparison in {out}"));
    assert!(
        se.abs() <= 3.0,
        "AIS is {se} standard errors from the exact log Z: {out}"
    );
    assert!(out.contains("average test log-probability"), "{out}");
    one_line_error(
        &ebm(&[
            "eval",
            "rbm",
            "--checkpoint",
            dir.join("none.safetensors").to_str().unwrap(),
        ]),
        &["none.safetensors"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_rbm_run_folder_has_filters_samples_and_the_ais_curve() {
    let dir = tmpdir("rbm-run");
    let run = dir.join("run");
    let o = ebm(&[
        "train",
        "rbm",
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--run",
        run.to_str().unwrap(),
        "--ais-every",
        "1",
        "--ais-runs",
        "20",
        "--ais-betas",
        "300",
        "--sample-sweeps",
        "50",
    ]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for f in ["filters.png", "samples.png", "curve.png"] {
        let file = std::fs::File::open(run.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let mut r = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width, info.height);
        assert!(w >= 200 && h >= 100, "{f}: {w}x{h}");
    }
    let csv = std::fs::read_to_string(run.join("curve.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,test_logp,logp_lo,logp_hi,train_logp")
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{csv}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 5, "{csv}");
        assert_eq!(r[0], (i + 1) as f64);
        assert!(r.iter().all(|v| v.is_finite()), "{csv}");
        assert!(r[2] <= r[1] && r[1] <= r[3], "{csv}");
        assert!(r[1] < 0.0 && r[4] < 0.0, "{csv}");
    }
    // --ais-every needs --run; a zero is refused.
    assert!(
        !ebm(&[
            "train",
            "rbm",
            "--save",
            "x.safetensors",
            "--ais-every",
            "1"
        ])
        .status
        .success()
    );
    one_line_error(
        &ebm(&[
            "train",
            "rbm",
            "--epochs",
            "1",
            "--run",
            run.to_str().unwrap(),
            "--ais-every",
            "0",
        ]),
        &["--ais-every"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Grid negatives take a piecewise-linear (ReLU) energy: 500 updates on the checkerboard
/// beat the uniform density over its box, whose KL to the data is log 2 (the squares
/// cover half the box).
#[test]
fn relu_energy_with_grid_negatives_beats_the_uniform_box_on_checkerboard() {
    let out = tmpdir("toy-relu");
    let o = ebm(&[
        "--threads",
        "1",
        "--quiet",
        "train",
        "toy",
        "--dataset",
        "checkerboard",
        "--negatives",
        "grid",
        "--activation",
        "relu",
        "--updates",
        "500",
        "--eval-every",
        "500",
        "--sample-steps",
        "50",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (s, e) = text(&o);
    assert!(o.status.success(), "{e}");
    let kl: f64 = s
        .split("KL(p_data || p_model) ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no KL in {s}"));
    assert!(kl < 0.9 * std::f64::consts::LN_2, "KL {kl} not below log 2");
    let cfg = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(cfg.contains("\"relu\""), "{cfg}");
    let o = ebm(&["train", "toy", "--activation", "swish"]);
    let (_, e) = text(&o);
    assert!(!o.status.success() && e.contains("--activation") && e.contains("swish"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn threads_above_four_per_core_are_refused_on_one_line() {
    let o = ebm(&["--threads", "100000", "gibbs"]);
    one_line_error(
        &o,
        &["--threads", "100000", "per core", "0 means all cores"],
    );
}

#[test]
fn flag_errors_keep_the_suggestion_and_the_values_on_one_line() {
    // A misspelt flag: clap's "did you mean" survives the one-line error.
    one_line_error(
        &ebm(&["train", "vae", "--epoch", "3"]),
        &["--epoch", "a similar argument exists: '--epochs'"],
    );
    // A misspelt value: the list of valid values and the closest one.
    one_line_error(
        &ebm(&["gibbs", "--energy", "bananna"]),
        &[
            "bananna",
            "possible values: double-well, mixture, banana",
            "'banana'",
        ],
    );
}

#[test]
fn enum_values_ignore_case_and_negative_numbers_reach_the_range_check() {
    let d = tmpdir("nuts-upper");
    let o = ebm(&[
        "sample",
        "--kernel",
        "NUTS",
        "--chains",
        "2",
        "--warmup",
        "20",
        "--draws",
        "20",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    // `-1` is a value, so the range check speaks (not "unexpected argument").
    one_line_error(&ebm(&["gibbs", "--betas", "-1"]), &["beta", "-1"]);
}

#[test]
fn samplers_warn_when_their_draws_cannot_be_trusted_and_stay_quiet_when_they_can() {
    let d = tmpdir("warn");
    let out = d.to_str().unwrap();
    // Banana with NUTS at the defaults: R-hat ~1.09, bulk ESS ~50, 24 divergences.
    let o = ebm(&[
        "--quiet", "sample", "--target", "banana", "--kernel", "nuts", "--out", out,
    ]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for w in [
        "warning: R-hat up to",
        "warning: bulk ESS down to",
        "divergent transitions",
    ] {
        assert!(err.contains(w), "`{w}` not in {err}");
    }
    let summary = std::fs::read_to_string(d.join("summary.txt")).unwrap();
    assert!(summary.contains("warning: R-hat up to"), "{summary}");
    // A 100-d standard Gaussian with NUTS: nothing to warn about.
    let o = ebm(&[
        "--quiet", "sample", "--target", "t1", "--kernel", "nuts", "--out", out,
    ]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn every_subcommand_help_describes_every_option_and_ends_with_an_example() {
    let cmds: &[&[&str]] = &[
        &["tour"],
        &["demo"],
        &["bench", "vae"],
        &["bench", "ais"],
        &["bench", "langevin"],
        &["bench", "mala"],
        &["bench", "hmc"],
        &["bench", "contrastive"],
        &["train", "vae"],
        &["train", "classifier"],
        &["train", "toy"],
        &["train", "rbm"],
        &["eval", "vae"],
        &["eval", "classifier"],
        &["eval", "toy"],
        &["eval", "rbm"],
        &["gibbs"],
        &["lagrangian"],
        &["sample"],
        &["report"],
        &["fuzzy-balls"],
        &["canyon"],
    ];
    for c in cmds {
        let mut args = c.to_vec();
        args.push("--help");
        let (help, _) = text(&ebm(&args));
        assert!(
            help.lines().any(|l| l.starts_with("Example")),
            "{c:?}: no example\n{help}"
        );
        let lines: Vec<&str> = help.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.starts_with("Options:"))
            .expect("options");
        for (i, l) in lines.iter().enumerate().skip(start + 1) {
            let t = l.trim_start();
            if !l.starts_with("  ") || !(t.starts_with("--") || t.starts_with("-h")) {
                continue;
            }
            // A description on the same line after the value name, or on the next line
            // (a bare "[default: ...]" is not a description).
            let rest = t.split_once("  ").map(|(_, r)| r.trim()).unwrap_or("");
            let next = lines.get(i + 1).map(|n| n.trim()).unwrap_or("");
            let next_is_text = lines
                .get(i + 1)
                .is_some_and(|n| n.starts_with("          "));
            let described = (!rest.is_empty() && !rest.starts_with('['))
                || (next_is_text && !next.is_empty() && !next.starts_with('['));
            assert!(described, "{c:?}: `{t}` has no description\n{help}");
        }
    }
}

/// Every kernel `ebm sample --kernel` lists moves `ebm train toy`'s negatives (issue 26
/// item 2), except NUTS, which is refused with the reason its `--help` gives; the run's
/// config.json records the kernel. The list is read from `ebm sample --help`, so a
/// kernel added there and not here fails this test.
#[test]
fn train_toy_takes_every_kernel_that_sample_offers_but_nuts() {
    let help = String::from_utf8_lossy(&ebm(&["sample", "--help"]).stdout).into_owned();
    // clap's long help lists the values under the option as `- name: text`.
    let at = help
        .find("--kernel <KERNEL>")
        .expect("sample --help has --kernel");
    let kernels: Vec<&str> = help[at..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("--"))
        .filter_map(|l| l.trim().strip_prefix("- ")?.split(':').next())
        .collect();
    assert_eq!(
        kernels,
        ["mh", "ula", "mala", "hmc", "ghmc", "nuts"],
        "{help}"
    );
    let toy_help = String::from_utf8_lossy(&ebm(&["train", "toy", "--help"]).stdout).into_owned();
    assert!(toy_help.contains("NUTS is not offered"), "{toy_help}");
    let d = tmpdir("toy-kernels");
    for k in kernels {
        let out = d.join(k);
        let o = ebm(&[
            "--quiet",
            "train",
            "toy",
            "--kernel",
            k,
            "--leapfrog",
            "3",
            "--updates",
            "4",
            "--eval-every",
            "4",
            "--grid",
            "16",
            "--hidden",
            "8",
            "--batch",
            "16",
            "--sample-steps",
            "2",
            "--out",
            out.to_str().unwrap(),
        ]);
        if k == "nuts" {
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(!o.status.success(), "nuts negatives ran");
            assert!(err.contains("--kernel") && err.contains("nuts"), "{err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            continue;
        }
        assert!(
            o.status.success(),
            "--kernel {k}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let cfg = std::fs::read_to_string(out.join("config.json")).unwrap();
        assert!(cfg.contains(&format!("\"kernel\": \"{k}\"")), "{cfg}");
    }
    let bad = d.join("bad");
    let o = ebm(&[
        "train",
        "toy",
        "--kernel",
        "hmc",
        "--leapfrog",
        "0",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--leapfrog"));
}

/// The run-folder options are one set for every trainer (issue 26 item 5): `--minutes`
/// out of range is refused naming it before any folder is made, `--minutes 0` stops
/// after the first epoch (the toy's: evaluation interval) with the run resumable, and a
/// toy resume given a fresh-run flag is refused naming `--resume`; `--out` is the toy's
/// `--run`.
#[test]
fn every_trainer_takes_the_same_run_folder_options() {
    let d = tmpdir("run-args");
    let size: &[(&str, &[&str])] = &[
        ("vae", &["--epochs", "3", "--latent", "2"]),
        ("rbm", &["--epochs", "3", "--hidden", "4"]),
        (
            "toy",
            &[
                "--updates",
                "12",
                "--eval-every",
                "4",
                "--grid",
                "16",
                "--hidden",
                "8",
                "--batch",
                "16",
                "--sample-steps",
                "2",
            ],
        ),
    ];
    for (t, args) in size {
        let bad = d.join(format!("{t}-bad"));
        for m in ["-1", "nan", "inf"] {
            let mut a = vec!["train", t, "--minutes", m, "--run", bad.to_str().unwrap()];
            a.extend_from_slice(args);
            one_line_error(&ebm(&a), &["--minutes"]);
            assert!(!bad.exists(), "{t} --minutes {m} made its folder");
        }
        let run = d.join(t);
        let flag = if *t == "toy" { "--out" } else { "--run" };
        let mut a = vec![
            "--quiet",
            "train",
            t,
            "--minutes",
            "0",
            flag,
            run.to_str().unwrap(),
        ];
        a.extend_from_slice(args);
        let o = ebm(&a);
        assert!(o.status.success(), "{t}: {}", text(&o).1);
        let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
        assert_eq!(metrics.lines().count(), 2, "{t} --minutes 0:\n{metrics}");
    }
    let o = ebm(&[
        "train",
        "toy",
        "--resume",
        d.join("toy").to_str().unwrap(),
        "--dataset",
        "rings",
    ]);
    one_line_error(&o, &["--resume"]);
    let o = ebm(&[
        "--quiet",
        "train",
        "toy",
        "--resume",
        d.join("toy").to_str().unwrap(),
        "--keep",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let metrics = std::fs::read_to_string(d.join("toy").join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "resumed to the end:\n{metrics}");
}
