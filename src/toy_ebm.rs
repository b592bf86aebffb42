//! A contrastive EBM on a toy 2-D data set, evaluated exactly (issue 5): train
//! `E_w` by [`crate::contrastive`], and every `eval_every` updates compute in nats the
//! exact test NLL `mean beta E(x) + log Z`, `KL(p_data || p_model)` where the data law
//! is known, and the model mass off the data support ([`crate::exact2d`]).
//!
//! The canyon ([`canyon`]): on a small training set, unregularized maximum likelihood
//! digs ever deeper, narrower wells at the training points; the well depth
//! `median_grid E - mean_train E` grows and the test NLL worsens, unless regularized.

use crate::contrastive::{ContrastiveConfig, ContrastiveTrainer, StepMetrics};
use crate::energy::{Energy, MlpSpec};
use crate::exact2d::{self, Exact2d};
use crate::toy::ToyData;
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, s};
use serde::Serialize;
use std::time::Instant;

/// One evaluation point of a run.
#[derive(Clone, Debug, Serialize)]
pub struct EvalPoint {
    pub step: usize,
    pub seconds: f64,
    pub loss: f64,
    pub gap: f64,
    pub e_data: f64,
    pub e_neg: f64,
    pub acceptance: f64,
    /// Exact test NLL (nats).
    pub test_nll: f64,
    /// Exact train NLL (nats).
    pub train_nll: f64,
    pub kl: Option<f64>,
    pub mass_outside: Option<f64>,
    pub log_z: f64,
    /// `median over the grid of E - mean E(train)`: how deep the wells are.
    pub well_depth: f64,
    pub box_holds_mass: bool,
}

/// Settings of a toy run.
#[derive(Clone, Debug, Serialize)]
pub struct ToyRunConfig {
    pub updates: usize,
    pub eval_every: usize,
    /// Training points (`None`: a fresh batch from the generator every update).
    pub train_size: Option<usize>,
    pub test_size: usize,
    /// Grid cells per axis for the exact evaluation.
    pub grid: usize,
    /// Halve the learning rate at these fractions of the run.
    pub lr_decay_at: Vec<f64>,
    /// Save the evaluated model here (atomically) at every evaluation point, so a run
    /// that diverges keeps its last good checkpoint (its error names it).
    pub checkpoint: Option<std::path::PathBuf>,
}

impl Default for ToyRunConfig {
    fn default() -> Self {
        ToyRunConfig {
            updates: 4000,
            eval_every: 500,
            train_size: None,
            test_size: 20_000,
            grid: 256,
            lr_decay_at: vec![0.5, 0.75],
            checkpoint: None,
        }
    }
}

/// The trained model, its evaluation curve and the final exact numbers.
pub struct ToyRun {
    pub trainer: ContrastiveTrainer,
    pub curve: Vec<EvalPoint>,
    pub last: StepMetrics,
    pub final_eval: Exact2d,
    pub train: Option<Array2<f64>>,
    pub test: Array2<f64>,
    pub seconds: f64,
}

/// `median_grid E - mean E(train)` on the data's box.
pub fn well_depth(energy: &dyn Energy, data: &ToyData, train: ArrayView2<f64>) -> Result<f64> {
    let bounds = data.support_box();
    let g = exact2d::neg_energy_grid(energy, 1.0, bounds, 64)?; // [64, 64] of -E
    let mut e: Vec<f64> = g.iter().map(|v| -v).collect();
    e.sort_by(f64::total_cmp);
    let median = e[e.len() / 2];
    let mut et = vec![0.0; train.nrows()];
    energy.energy(train, &mut et);
    Ok(median - et.iter().sum::<f64>() / et.len().max(1) as f64)
}

/// Exact NLL of `points` under the model with the given `log Z`.
fn nll(energy: &dyn Energy, points: ArrayView2<f64>, log_z: f64) -> f64 {
    let mut e = vec![0.0; points.nrows()];
    energy.energy(points, &mut e);
    e.iter().sum::<f64>() / e.len().max(1) as f64 + log_z
}

/// Train a contrastive EBM on `data` and evaluate it exactly along the way;
/// `on_eval` sees every evaluation point (for progress lines).
pub fn train(
    data: &ToyData,
    spec: MlpSpec,
    cfg: ContrastiveConfig,
    run: &ToyRunConfig,
    seed: u64,
    mut on_eval: impl FnMut(&EvalPoint),
) -> Result<ToyRun> {
    if spec.in_dim != 2 {
        return Err(Error::invalid(
            "toy energy",
            "the toy sets are 2-D (in_dim must be 2)",
        ));
    }
    if run.updates == 0 || run.eval_every == 0 {
        return Err(Error::invalid(
            "toy run",
            "updates and eval_every must be >= 1",
        ));
    }
    let batch = cfg.batch;
    let base_lr = match cfg.optim {
        crate::nn::optim::OptimConfig::Adam { lr, .. }
        | crate::nn::optim::OptimConfig::AdamW { lr, .. }
        | crate::nn::optim::OptimConfig::Sgd { lr, .. } => lr,
    };
    let mut t = ContrastiveTrainer::new(spec, cfg, seed)?;
    let test = data.sample(run.test_size, seed ^ 0x7e57); // [test, 2]
    let train = run.train_size.map(|n| data.sample(n, seed ^ 0x7a1)); // [n, 2]
    let stream = data.sample(batch * run.updates.min(20_000), seed ^ 0x57ea); // [batch * u, 2]
    let per = stream.nrows() / batch;
    let mut curve = Vec::new();
    let mut last = StepMetrics::default();
    let clock = Instant::now();
    let mut order: Vec<usize> = (0..train.as_ref().map_or(0, |t| t.nrows())).collect();
    let mut rng = <crate::mcmc::Rng as rand::SeedableRng>::seed_from_u64(seed ^ 0x0dd);
    let mut saved_at: Option<usize> = None;
    for i in 0..run.updates {
        let frac = i as f64 / run.updates as f64;
        let decays = run.lr_decay_at.iter().filter(|&&f| frac >= f).count();
        t.set_lr(base_lr * 0.5f32.powi(decays as i32));
        let step = match &train {
            Some(tr) => {
                use rand::seq::SliceRandom;
                order.shuffle(&mut rng);
                let b = batch.min(tr.nrows());
                let rows: Array2<f64> = Array2::from_shape_fn((b, 2), |(r, c)| tr[[order[r], c]]); // [b, 2]
                t.step(rows.view())
            }
            None => {
                let k = i % per;
                t.step(stream.slice(s![k * batch..(k + 1) * batch, ..]))
            }
        };
        last = match step {
            Ok(m) => m,
            Err(Error::Diverged(msg)) => {
                return Err(Error::Diverged(match (&run.checkpoint, saved_at) {
                    (Some(p), Some(n)) => format!(
                        "{msg}; the last good checkpoint is {} (update {n})",
                        p.display()
                    ),
                    (Some(_), None) => format!("{msg}; no checkpoint yet (none was saved before)"),
                    _ => msg,
                }));
            }
            Err(e) => return Err(e),
        };
        if (i + 1) % run.eval_every == 0 || i + 1 == run.updates {
            let ev = exact2d::evaluate(t.model(), 1.0, data, test.view(), run.grid)?;
            let train_view = match &train {
                Some(tr) => tr.view(),
                None => stream.slice(s![..batch.min(stream.nrows()), ..]),
            };
            let p = EvalPoint {
                step: i + 1,
                seconds: clock.elapsed().as_secs_f64(),
                loss: last.loss,
                gap: last.gap,
                e_data: last.e_data,
                e_neg: last.e_neg,
                acceptance: last.acceptance,
                test_nll: ev.test_nll,
                train_nll: nll(t.model(), train_view, ev.log_z),
                kl: ev.kl,
                mass_outside: ev.mass_outside,
                log_z: ev.log_z,
                well_depth: well_depth(t.model(), data, train_view)?,
                box_holds_mass: ev.box_holds_mass,
            };
            on_eval(&p);
            curve.push(p);
            if let Some(path) = &run.checkpoint {
                t.model().save(path)?;
                saved_at = Some(i + 1);
            }
        }
    }
    let seconds = clock.elapsed().as_secs_f64();
    let final_eval = exact2d::evaluate(t.model(), 1.0, data, test.view(), run.grid.max(256))?;
    Ok(ToyRun {
        trainer: t,
        curve,
        last,
        final_eval,
        train,
        test,
        seconds,
    })
}
