//! `ebm report`: a run folder becomes one self-contained HTML page. Checked by parsing the
//! page (config, final numbers with units, one embedded PNG per curve and figure) and, in
//! headless Chromium, by loading it: every image decodes, no console error, and the
//! screenshot is not blank. Without a Chromium binary the browser part is skipped unless
//! EBM_REQUIRE_BROWSER=1 (as `.ci/run` sets it).

use crate::common::{ebm, tmpdir};
use base64::Engine;
use std::path::Path;
use std::process::Command;

fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>, png::ColorType) {
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type)
}

fn browser() -> Option<String> {
    if let Ok(b) = std::env::var("EBM_CHROMIUM") {
        return Some(b);
    }
    for b in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new("which")
            .arg(b)
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(b.to_string());
        }
    }
    None
}

fn vae_run(dir: &Path) {
    let o = ebm(&[
        "train",
        "vae",
        "--epochs",
        "3",
        "--hidden",
        "32",
        "--latent",
        "2",
        "--run",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_report_embeds_config_numbers_curves_and_figures() {
    let d = tmpdir("page");
    let run = d.join("vae");
    vae_run(&run);
    let o = ebm(&["report", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("<pre id=\"config\">") && html.contains("kl_weight"));
    assert!(html.contains("<table id=\"final\">"));
    assert!(html.contains("test_loss</td>") && html.contains("<td>nats</td>"));
    // No external resource: every src is a data URI, and each decodes to a PNG.
    let srcs: Vec<&str> = html
        .split("src=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    let figs = ["recon.png", "samples.png", "traversal.png", "codes.png"];
    // 8 metrics columns after the epoch (timings included) plus the figures.
    assert_eq!(srcs.len(), 9 + figs.len(), "{} images", srcs.len());
    for s in &srcs {
        let b64 = s
            .strip_prefix("data:image/png;base64,")
            .expect("a data URI");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let (w, h, _, _) = decode_png(&bytes);
        assert!(w > 100 && h > 100);
    }
    // Each figure's caption names its file and says what it shows.
    for f in figs {
        let d = ebm::report::describe_figure(f).expect("a known figure");
        assert!(
            html.contains(&format!("<figcaption>{f}: {d}</figcaption>")),
            "{f}"
        );
    }
    assert!(ebm::report::describe_figure("mystery.png").is_none());
    assert!(!html.contains("http://") && !html.contains("https://"));
}

#[test]
fn a_bad_run_folder_is_a_one_line_error() {
    let o = ebm(&["report", "/nonexistent/run"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/run"), "{err}");
    let d = tmpdir("bad");
    std::fs::write(d.join("metrics.csv"), "epoch,loss\n1,2\n3\n").unwrap();
    let o = ebm(&["report", d.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("metrics.csv") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn the_report_loads_in_headless_chromium_with_every_figure_rendered() {
    let Some(b) = browser() else {
        assert!(
            std::env::var("EBM_REQUIRE_BROWSER").is_err(),
            "EBM_REQUIRE_BROWSER is set but no chromium was found"
        );
        crate::common::skip_unless_ci(
            "report in a browser",
            "no chromium (set EBM_CHROMIUM or install the chromium package)",
        );
        return;
    };
    let d = tmpdir("browser");
    let run = d.join("vae");
    vae_run(&run);
    assert!(ebm(&["report", run.to_str().unwrap()]).status.success());
    let url = format!("file://{}", run.join("report.html").display());
    let profile = d.join("profile");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
    ];
    let o = Command::new(&b)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args([
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(&url)
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&o.stdout);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "chromium failed: {log}");
    let attr = |name: &str| -> usize {
        let key = format!("{name}=\"");
        let s = dom
            .split(&key)
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in the DOM"));
        s.split('"').next().unwrap().parse().unwrap()
    };
    let (n, ok) = (attr("data-images"), attr("data-images-ok"));
    assert!(n >= 10, "{n} images");
    assert_eq!(ok, n, "{ok} of {n} images rendered");
    for bad in ["Uncaught", "CONSOLE(", "Failed to load"] {
        assert!(!log.contains(bad), "console error `{bad}` in: {log}");
    }
    // A screenshot of the top of the page is not blank.
    let shot = d.join("shot.png");
    let o = Command::new(&b)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--window-size=1200,2400", "--virtual-time-budget=5000"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, _, px, ct) = decode_png(&std::fs::read(&shot).unwrap());
    let ch = match ct {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        _ => 1,
    };
    let mut colors = std::collections::HashSet::new();
    let mut dark = 0usize;
    for p in px.chunks(ch) {
        colors.insert(p[..ch.min(3)].to_vec());
        if p[0] < 100 {
            dark += 1;
        }
    }
    assert!(colors.len() > 50, "screenshot has {} colors", colors.len());
    assert!(dark > 1000, "screenshot nearly blank ({dark} dark pixels)");
}

#[test]
fn units_follow_column_names() {
    use ebm::report::{cell, unit_of, with_unit};
    for (c, u) in [
        ("test_nll", "nats"),
        ("kl", "nats"),
        ("log_z_importance", "nats"),
        ("free_energy", "nats"),
        ("well_depth", "nats"),
        ("e_data", "nats"),
        ("seconds", "s"),
        ("acceptance", "fraction"),
        ("kl_weight", ""),
        ("is_ess_fraction", ""),
        ("mean_sigma", ""),
        ("step", ""),
    ] {
        assert_eq!(unit_of(c), u, "{c}");
    }
    assert_eq!(with_unit("test_loss"), "test_loss (nats)");
    assert_eq!(with_unit("epoch"), "epoch");
    // A tiny residual is not printed as 0.0000; integers stay integers.
    assert_eq!(cell(3.1e-9), "3.10e-9");
    assert_eq!(cell(12.0), "12");
    assert_eq!(cell(0.123456), "0.1235");
}

#[test]
fn f32_noise_is_tidied_and_reads_back_bit_for_bit() {
    let mut v = serde_json::json!({"a": 0.9f32, "b": [1e-3f32, 0.02f64], "n": 7, "c": 0.1f64});
    assert_eq!(v["a"].as_f64(), Some(0.8999999761581421));
    ebm::io::tidy_f32_noise(&mut v);
    assert_eq!(v["a"].as_f64(), Some(0.9));
    assert_eq!(v["b"][0].as_f64(), Some(0.001));
    // f32 fields read back the same f32; f64 values that were not f32 are untouched.
    assert_eq!(v["a"].as_f64().unwrap() as f32, 0.9f32);
    assert_eq!(v["b"][0].as_f64().unwrap() as f32, 1e-3f32);
    assert_eq!(v["b"][1].as_f64(), Some(0.02));
    assert_eq!(v["c"].as_f64(), Some(0.1));
    assert_eq!(v["n"].as_u64(), Some(7));
    let text =
        String::from_utf8(ebm::io::config_json(&serde_json::json!({"lr": 1e-3f32}))).unwrap();
    assert!(text.contains("\"lr\": 0.001"), "{text}");
}
