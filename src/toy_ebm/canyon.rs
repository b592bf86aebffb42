//! The lecture's canyon: maximum likelihood on a small training set without
//! regularization digs ever deeper, narrower wells at the training points. Two runs on
//! the same `train_size` points, one unregularized (`alpha = 0`, no weight decay) and one
//! with the energy penalty `alpha (E(data)^2 + E(neg)^2)`, `alpha = 0.1`, and weight
//! decay 1e-3; along each, the exact test NLL and the well depth
//! `median_grid E - mean_train E` ([`super::well_depth`]). Expected at the defaults
//! (8gaussians, 64 points, 3,000 updates): the unregularized well depth grows past the
//! regularized one and its test NLL ends worse.

use super::{EvalPoint, ToyRunConfig, train, well_depth};
use crate::contrastive::ContrastiveConfig;
use crate::energy::MlpSpec;
use crate::nn::ActivationKind;
use crate::nn::optim::OptimConfig;
use crate::toy::ToyData;
use crate::{Error, Result};
use std::path::Path;

/// The two runs: name, energy penalty `alpha`, AdamW weight decay.
pub const RUNS: [(&str, f64, f32); 2] = [("unregularized", 0.0, 0.0), ("regularized", 0.1, 1e-3)];

/// One canyon run's energy, training and run settings.
pub fn settings(
    train_size: usize,
    updates: usize,
    l2: f64,
    wd: f32,
) -> (MlpSpec, ContrastiveConfig, ToyRunConfig) {
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![128, 128],
        activation: ActivationKind::Silu,
    };
    let cfg = ContrastiveConfig {
        energy_l2: l2,
        step_size: 0.02,
        optim: OptimConfig::adamw(1e-3, wd),
        batch: train_size,
        max_gap: 1e9,
        clip: 0.0,
        ..ContrastiveConfig::default()
    };
    let run = ToyRunConfig {
        updates,
        eval_every: (updates / 10).max(1),
        train_size: Some(train_size),
        grid: 256,
        lr_decay_at: vec![],
        ..ToyRunConfig::default()
    };
    (spec, cfg, run)
}

/// One run's end: its final well depth and exact test NLL (nats).
pub struct CanyonEnd {
    pub name: &'static str,
    pub well_depth: f64,
    pub test_nll: f64,
}

/// Both runs on `data`, writing into `out`: `canyon.md` (the table), `canyon.csv`,
/// `config.json`, and per run `density_NAME.png`, `test_nll_NAME.png`,
/// `well_depth_NAME.png`. `on_eval` sees each run's evaluation points, `on_end` each
/// run's end; the ends are returned too.
pub fn run(
    data: &ToyData,
    train_size: usize,
    updates: usize,
    out: &Path,
    seed: u64,
    mut on_eval: impl FnMut(&str, &EvalPoint),
    mut on_end: impl FnMut(&CanyonEnd),
) -> Result<Vec<CanyonEnd>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut table = String::from(
        "| run | update | well depth | train NLL | test NLL |\n|---|---|---|---|---|\n",
    );
    let mut csv = String::from("run,step,well_depth,train_nll,test_nll\n");
    let mut configs = serde_json::Map::new();
    let mut ends = Vec::new();
    for (name, l2, wd) in RUNS {
        let (spec, cfg, run) = settings(train_size, updates, l2, wd);
        configs.insert(
            name.into(),
            serde_json::json!({"energy": &spec, "training": &cfg, "run": &run}),
        );
        let r = train(data, spec, cfg, &run, seed, |p| on_eval(name, p))?;
        for p in &r.curve {
            csv.push_str(&format!(
                "{name},{},{},{},{}\n",
                p.step, p.well_depth, p.train_nll, p.test_nll
            ));
            table.push_str(&format!(
                "| {name} | {} | {:.2} | {:.3} | {:.3} |\n",
                p.step, p.well_depth, p.train_nll, p.test_nll
            ));
        }
        let tr = r.train.as_ref().expect("canyon runs on a finite set");
        let end = CanyonEnd {
            name,
            well_depth: well_depth(r.trainer.model(), data, tr.view())?,
            test_nll: r.final_eval.test_nll,
        };
        on_end(&end);
        ends.push(end);
        figures(out, name, data, train_size, &r)?;
    }
    crate::io::write_atomic(&out.join("canyon.md"), table.as_bytes())?;
    crate::io::write_atomic(&out.join("canyon.csv"), csv.as_bytes())?;
    let config = serde_json::json!({
        "model": "toy-ebm canyon", "dataset": data.name(), "seed": seed,
        "train_size": train_size, "updates": updates, "runs": configs,
    });
    crate::io::write_atomic(&out.join("config.json"), &crate::io::config_json(&config))?;
    Ok(ends)
}

/// One run's density (square-root scale) and its curves of test NLL and well depth.
fn figures(
    out: &Path,
    name: &str,
    data: &ToyData,
    train_size: usize,
    r: &super::ToyRun,
) -> Result<()> {
    let b = data.support_box();
    let (dens, _) = crate::exact2d::density_grid(r.trainer.model(), 1.0, b, 200)?; // [200, 200]
    crate::plot::heatmap(
        &out.join(format!("density_{name}.png")),
        &format!("{name}: exp(-E)/Z on {train_size} training points"),
        "sqrt(density) (square-root scale)",
        (b.0[0], b.1[0]),
        (b.0[1], b.1[1]),
        &dens.mapv(|v| v.sqrt()),
    )?;
    let x: Vec<f64> = r.curve.iter().map(|p| p.step as f64).collect();
    let y: Vec<f64> = r.curve.iter().map(|p| p.test_nll).collect();
    let d: Vec<f64> = r.curve.iter().map(|p| p.well_depth).collect();
    crate::plot::line_plot(
        &out.join(format!("test_nll_{name}.png")),
        &format!("{name}: exact test NLL"),
        "update",
        "nats",
        &x,
        &y,
    )?;
    crate::plot::line_plot(
        &out.join(format!("well_depth_{name}.png")),
        &format!("{name}: well depth"),
        "update",
        "median grid E - mean train E",
        &x,
        &d,
    )
}
