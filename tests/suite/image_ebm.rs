//! The image EBM (`ebm::models::image_ebm`, `ebm train image-ebm`):
//!
//! 1. the contrastive loss's weight gradient, signs and energy regularizer included,
//!    against central finite differences;
//! 2. SGLD's update with the noise off, `x - s dE/dx` clamped to `[-1, 1]`, moving only
//!    the free pixels when inpainting;
//! 3. a checkpoint (spectral norm's `u`, `v` included) loads to the same energies;
//! 4. an interrupted and resumed run ends in the state of an uninterrupted one (weights,
//!    optimizer moments and replay buffer, bit for bit);
//! 5. bad settings are one-line errors naming the flag.

use super::cli_vae::{same_state, tensors};
use super::common::{ebm, one_line_error, text, tmpdir};
use ebm::models::image_ebm::{ImageEbm, ImageEbmConfig, Sgld, SgldScratch, inpaint};
use ebm::nn::{Module, Parallelism, Parameters};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus as Rng64;

fn small(spectral: bool, seed: u64) -> ImageEbm {
    let mut cfg = ImageEbmConfig::new(1, (8, 8), 2);
    cfg.spectral_norm = spectral;
    // A LeakyReLU slope near 1: a finite difference that moves many pre-activations
    // across the kink then errs by little (the slope's own role is checked against
    // PyTorch in conv.rs).
    cfg.slope = 0.95;
    ImageEbm::new(cfg, &mut Rng64::seed_from_u64(seed)).unwrap()
}

fn images(n: usize, seed: u64) -> Array2<f32> {
    let mut r = Rng64::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, 64), || r.gen_range(-1.0f32..1.0))
}

#[test]
fn the_contrastive_gradient_matches_finite_differences() {
    for spectral in [false, true] {
        let mut m = small(spectral, 1);
        let b = 3;
        let x = images(2 * b, 2);
        let alpha = 0.7;
        let mut ws = m.net.workspace(2 * b);
        m.net.input_mut(&mut ws, 2 * b).assign(&x);
        let (loss, ep, en) = m.contrastive_grad(&mut ws, b, alpha, Parallelism::None);
        // The loss from the energies themselves.
        let e = m.energies(x.view());
        let (p, n) = (&e[..b], &e[b..]);
        let mean =
            |v: &[f32], f: fn(f64) -> f64| v.iter().map(|&z| f(z as f64)).sum::<f64>() / b as f64;
        let want =
            mean(p, |z| z) - mean(n, |z| z) + alpha * (mean(p, |z| z * z) + mean(n, |z| z * z));
        assert!((loss - want).abs() < 1e-5, "loss {loss} vs {want}");
        assert!((ep - mean(p, |z| z)).abs() < 1e-6 && (en - mean(n, |z| z)).abs() < 1e-6);
        let loss_at = |m: &ImageEbm| {
            let e = m.energies(x.view());
            let (p, n) = (&e[..b], &e[b..]);
            mean(p, |z| z) - mean(n, |z| z) + alpha * (mean(p, |z| z * z) + mean(n, |z| z * z))
        };
        let mut grads = Vec::new();
        m.visit_named("", &mut |name, p| {
            grads.push((name.to_string(), p.grad.clone()))
        });
        let mut checked = 0;
        for (pi, (name, g)) in grads.iter().enumerate() {
            for e in (0..g.len()).step_by(g.len().div_ceil(6).max(1)) {
                let at = |d: f32| {
                    let mut mm = m.clone();
                    let mut k = 0;
                    mm.visit_mut(&mut |p| {
                        if k == pi {
                            p.value[e] += d;
                        }
                        k += 1;
                    });
                    mm.net.refresh(0);
                    loss_at(&mm)
                };
                // Two step sizes: a pre-activation within h of LeakyReLU's kink spoils a
                // difference, and rarely both (a wrong gradient fails both by far more).
                let ge = g[e] as f64;
                let err = [1e-3f32, 3e-4]
                    .iter()
                    .map(|&h| ((at(h) - at(-h)) / (2.0 * h as f64) - ge).abs())
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    err <= 3e-3 * ge.abs().max(0.2),
                    "spectral {spectral}: dL/d{name}[{e}] {ge}, finite differences off by {err}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 20, "{checked} entries checked");
    }
}

#[test]
fn sgld_without_noise_descends_the_energy_and_holds_fixed_pixels() {
    let m = small(false, 3);
    let x0 = images(4, 4);
    let mut rng = Rng64::seed_from_u64(5);
    let mut scratch = SgldScratch::default();
    // One step, no noise: x1 = clamp(x0 - s g).
    let s = 0.3;
    let sgld = Sgld {
        steps: 1,
        step_size: s,
        noise: 0.0,
    };
    let mut x = x0.clone();
    sgld.run(&m, &mut x, None, &mut rng, &mut scratch);
    let mut e = vec![0.0; 4];
    let mut g = Array2::zeros((4, 64));
    let mut pool = Vec::new();
    m.energy_and_grad(x0.view(), &mut e, g.view_mut(), &mut pool);
    for ((&a, &b), &gv) in x.iter().zip(&x0).zip(&g) {
        assert!((a - (b - s * gv).clamp(-1.0, 1.0)).abs() < 1e-6);
    }
    // Many steps lower the energy of every chain; a huge step stays in [-1, 1].
    let mut x = x0.clone();
    Sgld { steps: 50, ..sgld }.run(&m, &mut x, None, &mut rng, &mut scratch);
    let (before, after) = (m.energies(x0.view()), m.energies(x.view()));
    for (b, a) in before.iter().zip(&after) {
        assert!(a < b, "energy {b} -> {a}");
    }
    let mut x = x0.clone();
    Sgld {
        steps: 3,
        step_size: 1e4,
        noise: 0.5,
    }
    .run(&m, &mut x, None, &mut rng, &mut scratch);
    assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
    // Inpainting moves only the free pixels (the top half here is held).
    let free: Vec<f32> = (0..64).map(|j| if j >= 32 { 1.0 } else { 0.0 }).collect();
    let sg = Sgld {
        steps: 10,
        step_size: 0.5,
        noise: 0.05,
    };
    let out = inpaint(&m, x0.view(), &free, &sg, 3, &mut rng);
    for (r0, r) in x0.rows().into_iter().zip(out.rows()) {
        assert_eq!(r0.slice(ndarray::s![..32]), r.slice(ndarray::s![..32]));
        assert_ne!(r0.slice(ndarray::s![32..]), r.slice(ndarray::s![32..]));
    }
}

#[test]
fn a_checkpoint_loads_to_the_same_energies() {
    let mut m = small(true, 7);
    // Move u and W away from their initial values, as training does.
    m.net
        .visit_mut(&mut |p| p.value.iter_mut().for_each(|v| *v *= 1.5));
    m.net.refresh(3);
    let dir = tmpdir("iebm_ckpt");
    let path = dir.join("m.safetensors");
    m.save(&path, &serde_json::json!({"note": "test"})).unwrap();
    let (back, cfg) = ImageEbm::load(&path).unwrap();
    assert_eq!(cfg["note"], "test");
    let x = images(5, 8);
    assert_eq!(m.energies(x.view()), back.energies(x.view()));
}

fn train_args<'a>(run: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "train",
        "image-ebm",
        "--features",
        "4",
        "--batch",
        "32",
        "--buffer",
        "200",
        "--sgld-steps",
        "5",
        "--eval-steps",
        "5",
        "--inpaint-chains",
        "2",
        "--lr",
        "1e-3",
        "--run",
        run,
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn an_interrupted_and_resumed_run_matches_an_uninterrupted_one() {
    let d = tmpdir("iebm_resume");
    let (a, b) = (d.join("a"), d.join("b"));
    let (sa, sb) = (a.to_str().unwrap(), b.to_str().unwrap());
    let o = ebm(&train_args(sa, &["--epochs", "2", "--spectral-norm"]));
    assert!(o.status.success(), "{}", text(&o).1);
    let (out, _) = text(&o);
    assert!(
        out.contains("spectral norm") && out.contains("inpaint"),
        "{out}"
    );
    for f in [
        "samples.png",
        "buffer.png",
        "inpaint.png",
        "report.html",
        "metrics.csv",
    ] {
        assert!(a.join(f).exists(), "{f} missing");
    }
    // Interrupted inside epoch 2 (47 updates per epoch on 1,497 images), then resumed.
    let o = ebm(&train_args(
        sb,
        &[
            "--epochs",
            "2",
            "--spectral-norm",
            "--stop-after-batches",
            "60",
        ],
    ));
    assert!(o.status.success(), "{}", text(&o).1);
    // Without --epochs, a resumed run goes on to its saved total (2).
    let o = ebm(&["train", "image-ebm", "--resume", sb]);
    assert!(o.status.success(), "{}", text(&o).1);
    same_state(&a, &b);
    let buffer = |dir: &std::path::Path| {
        let f = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("buffer-")
            })
            .expect("a buffer file");
        tensors(&f)
    };
    assert_eq!(buffer(&a), buffer(&b), "replay buffers differ");
}

#[test]
fn bad_settings_are_one_line_errors_naming_the_flag() {
    let d = tmpdir("iebm_bad");
    let run = d.join("r");
    let r = run.to_str().unwrap();
    for (extra, needle) in [
        (vec!["--init", "gibbs"], "--init"),
        (vec!["--buffer", "10"], "--buffer"),
        (vec!["--inpaint-chains", "0"], "--inpaint-chains"),
        (vec!["--sgld-step", "-1"], "--sgld-step"),
        (vec!["--reinit", "1.5"], "--reinit"),
        (vec!["--features", "0"], "--features"),
        (vec!["--lr", "0"], "--lr"),
    ] {
        let o = ebm(&train_args(r, &extra));
        one_line_error(&o, &[needle]);
    }
}

#[test]
fn eval_reports_inpainting_against_the_mean_image_as_computed_here() {
    let d = tmpdir("iebm_eval");
    let run = d.join("r");
    let r = run.to_str().unwrap();
    let o = ebm(&train_args(r, &["--epochs", "1"]));
    assert!(o.status.success(), "{}", text(&o).1);
    let o = ebm(&[
        "eval",
        "image-ebm",
        "--checkpoint",
        r,
        "--images",
        "50",
        "--chains",
        "2",
        "--steps",
        "5",
        "--denoise-steps",
        "3",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["metric"], "image_ebm");
    assert_eq!(v["images"], 50);
    // The baseline from the data directly: the embedded digits' split with the run's
    // seed (0), the mean training image on the bottom half of the first 50 test images.
    let data = ebm::data::images::ImageSet::load(None, 0).unwrap();
    let mean = data.train.mean_axis(ndarray::Axis(0)).unwrap();
    let (mut s, mut n) = (0.0f64, 0);
    for row in data.test.rows().into_iter().take(50) {
        for j in 32..64 {
            s += (mean[j] as f64 - row[j] as f64).powi(2);
            n += 1;
        }
    }
    let want = s / n as f64;
    let got = v["mean_image_mse"].as_f64().unwrap();
    assert!(
        (got - want).abs() < 1e-6 * want.max(1e-3),
        "mean image MSE {got} vs {want}"
    );
    let mse = v["inpaint_mse"].as_f64().unwrap();
    assert!(mse.is_finite() && mse > 0.0 && mse < 1.0);
    // A model file from the run's checkpoints loads as well; bad flags are one line.
    let best = run.join("best.safetensors");
    let o = ebm(&[
        "eval",
        "image-ebm",
        "--checkpoint",
        best.to_str().unwrap(),
        "--images",
        "5",
        "--steps",
        "1",
        "--chains",
        "1",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let o = ebm(&["eval", "image-ebm", "--checkpoint", r, "--chains", "0"]);
    one_line_error(&o, &["--chains"]);
}

#[test]
fn bench_conv_prints_one_json_line() {
    let o = ebm(&[
        "--threads",
        "1",
        "bench",
        "conv",
        "--batch",
        "4",
        "--steps",
        "2",
        "--features",
        "2",
        "--repeat",
        "1",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["workload"], "conv");
    assert_eq!(
        (v["threads"].as_u64(), v["batch"].as_u64()),
        (Some(1), Some(4))
    );
    assert!(v["update_s"].as_f64().unwrap() > 0.0 && v["fwd_bwd_s"].as_f64().unwrap() > 0.0);
    one_line_error(&ebm(&["bench", "conv", "--batch", "0"]), &["--batch"]);
}
