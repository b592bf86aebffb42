//! A contrastive EBM on a toy 2-D data set, evaluated exactly (issue 5): train
//! `E_w` by [`crate::contrastive`], and every `eval_every` updates compute in nats the
//! exact test NLL `mean beta E(x) + log Z`, `KL(p_data || p_model)` where the data law
//! is known, and the model mass off the data support ([`crate::exact2d`]).
//!
//! The canyon ([`canyon`], `ebm canyon`, built from [`train`] with a small
//! `train_size`): on a small training set, unregularized maximum likelihood digs ever
//! deeper, narrower wells at the training points; the well depth
//! `median_grid E - mean_train E` grows and the test NLL worsens, unless regularized.

pub mod canyon;

use crate::contrastive::{ContrastiveConfig, ContrastiveTrainer, StepMetrics};
use crate::energy::{Energy, MlpSpec};
use crate::exact2d::{self, Exact2d};
use crate::nn::checkpoint::StateFile;
use crate::toy::ToyData;
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, s};
use serde::{Deserialize, Serialize};
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    let mut t = ToyTraining::new(data, spec, cfg, run, seed)?;
    while !t.is_finished() {
        if let Some(p) = t.update()? {
            on_eval(p);
        }
    }
    t.finish()
}

/// Columns of the curve in a saved state (`toy.curve`, f64): the [`EvalPoint`] fields,
/// an absent `kl` / `mass_outside` as NaN with its flag 0.
const CURVE_COLUMNS: usize = 16;

/// A toy run in progress: the trainer, the data, and the loop's own state (the shuffled
/// order of a finite training set and its generator, the curve so far, the update of
/// the last saved checkpoint). [`ToyTraining::update`] makes one update, and at an
/// evaluation point the exact evaluation; [`ToyTraining::save_state`] writes all of it
/// to one file from which [`ToyTraining::load_state`] continues bit for bit: a run
/// stopped after any update and resumed reaches the same weights and the same curve as
/// a run never stopped (on the same machine and thread count).
pub struct ToyTraining {
    data: ToyData,
    run: ToyRunConfig,
    seed: u64,
    trainer: ContrastiveTrainer,
    test: Array2<f64>,
    train: Option<Array2<f64>>,
    /// Fresh batches when there is no finite training set, `[batch * min(updates,
    /// 20000), 2]`.
    stream: Array2<f64>,
    order: Vec<usize>,
    rng: crate::mcmc::Rng,
    curve: Vec<EvalPoint>,
    saved_at: Option<usize>,
    last: StepMetrics,
    done: usize,
    base_lr: f32,
    clock: Instant,
    /// Seconds spent before this process (a resumed run).
    seconds_before: f64,
}

impl ToyTraining {
    /// A fresh run of `run.updates` updates (seeded by `seed`).
    pub fn new(
        data: &ToyData,
        spec: MlpSpec,
        cfg: ContrastiveConfig,
        run: &ToyRunConfig,
        seed: u64,
    ) -> Result<Self> {
        if spec.in_dim != 2 {
            return Err(Error::invalid(
                "toy energy",
                "the toy sets are 2-D (in_dim must be 2)",
            ));
        }
        let trainer = ContrastiveTrainer::new(spec, cfg, seed)?;
        Self::assemble(*data, trainer, run.clone(), seed)
    }

    /// The data, the generator and the order of a fresh run around `trainer`.
    fn assemble(
        data: ToyData,
        trainer: ContrastiveTrainer,
        run: ToyRunConfig,
        seed: u64,
    ) -> Result<Self> {
        if run.updates == 0 || run.eval_every == 0 {
            return Err(Error::invalid(
                "toy run",
                "updates and eval_every must be >= 1",
            ));
        }
        if run.train_size == Some(0) || run.test_size == 0 {
            return Err(Error::invalid(
                "train_size/test_size",
                "a toy run needs at least one training and one test point",
            ));
        }
        if run.grid < 8 {
            return Err(Error::invalid(
                "grid",
                format!(
                    "{} cells per axis; the exact evaluation needs at least 8",
                    run.grid
                ),
            ));
        }
        let batch = trainer.cfg.batch;
        // The test and training points and their order, the stream of fresh batches and
        // the evaluation grid's energies and densities, in f64.
        let points = crate::budget::sum(&[
            Some(run.test_size as u64),
            Some(run.train_size.unwrap_or(0) as u64),
            (batch as u64).checked_mul(run.updates.min(20_000) as u64),
        ]);
        let grid = (run.grid as u64).checked_mul(run.grid as u64);
        crate::budget::check(
            "train_size/test_size/grid",
            crate::budget::sum(&[
                crate::budget::bytes(points, 24),
                crate::budget::bytes(grid, 32),
            ]),
            &format!(
                "{} test points, {} training points and a {}x{} evaluation grid",
                run.test_size,
                run.train_size.unwrap_or(0),
                run.grid,
                run.grid
            ),
        )?;
        let base_lr = match trainer.cfg.optim {
            crate::nn::optim::OptimConfig::Adam { lr, .. }
            | crate::nn::optim::OptimConfig::AdamW { lr, .. }
            | crate::nn::optim::OptimConfig::Sgd { lr, .. } => lr,
        };
        let test = data.sample(run.test_size, seed ^ 0x7e57); // [test, 2]
        let train = run.train_size.map(|n| data.sample(n, seed ^ 0x7a1)); // [n, 2]
        let stream = data.sample(batch * run.updates.min(20_000), seed ^ 0x57ea); // [batch * u, 2]
        let order: Vec<usize> = (0..train.as_ref().map_or(0, |t| t.nrows())).collect();
        let rng = <crate::mcmc::Rng as rand::SeedableRng>::seed_from_u64(seed ^ 0x0dd);
        Ok(ToyTraining {
            data,
            run,
            seed,
            trainer,
            test,
            train,
            stream,
            order,
            rng,
            curve: Vec::new(),
            saved_at: None,
            last: StepMetrics::default(),
            done: 0,
            base_lr,
            clock: Instant::now(),
            seconds_before: 0.0,
        })
    }

    /// Updates done.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Have all `run.updates` updates been made?
    pub fn is_finished(&self) -> bool {
        self.done >= self.run.updates
    }

    /// The evaluation points so far.
    pub fn curve(&self) -> &[EvalPoint] {
        &self.curve
    }

    pub fn trainer(&self) -> &ContrastiveTrainer {
        &self.trainer
    }

    pub fn run_config(&self) -> &ToyRunConfig {
        &self.run
    }

    pub fn data(&self) -> ToyData {
        self.data
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Where the evaluated model is saved at every evaluation point (`None`: nowhere).
    pub fn set_checkpoint(&mut self, path: Option<std::path::PathBuf>) {
        self.run.checkpoint = path;
    }

    /// Continue to `updates` in all (at least the planned total). The learning-rate
    /// decays are fractions of the new total, so the extended run is not the run that was
    /// planned with that total from the start (its rate was decayed earlier).
    pub fn extend(&mut self, updates: usize) -> Result<()> {
        if updates < self.run.updates {
            return Err(Error::invalid(
                "updates",
                format!(
                    "{updates} is below the run's total of {} (a resumed run can only be extended)",
                    self.run.updates
                ),
            ));
        }
        if updates > self.run.updates {
            self.run.updates = updates;
            // The same generator: a longer prefix-identical stream.
            let batch = self.trainer.cfg.batch;
            self.stream = self
                .data
                .sample(batch * updates.min(20_000), self.seed ^ 0x57ea);
        }
        Ok(())
    }

    /// Seconds of training so far (over every process of a resumed run).
    pub fn seconds(&self) -> f64 {
        self.seconds_before + self.clock.elapsed().as_secs_f64()
    }

    /// One update; at an evaluation point (every `eval_every` updates and the last) the
    /// exact evaluation too, saved to `run.checkpoint` when set, and its point returned.
    pub fn update(&mut self) -> Result<Option<&EvalPoint>> {
        if self.is_finished() {
            return Err(Error::invalid(
                "toy run",
                format!("all {} updates are done", self.run.updates),
            ));
        }
        let i = self.done;
        let batch = self.trainer.cfg.batch;
        let run = &self.run;
        let t = &mut self.trainer;
        let frac = i as f64 / run.updates as f64;
        let decays = run.lr_decay_at.iter().filter(|&&f| frac >= f).count();
        t.set_lr(self.base_lr * 0.5f32.powi(decays as i32));
        let step = match &self.train {
            Some(tr) => {
                use rand::seq::SliceRandom;
                self.order.shuffle(&mut self.rng);
                let b = batch.min(tr.nrows());
                let order = &self.order;
                let rows: Array2<f64> = Array2::from_shape_fn((b, 2), |(r, c)| tr[[order[r], c]]); // [b, 2]
                t.step(rows.view())
            }
            None => {
                let per = self.stream.nrows() / batch;
                let k = i % per;
                t.step(self.stream.slice(s![k * batch..(k + 1) * batch, ..]))
            }
        };
        self.last = match step {
            Ok(m) => m,
            Err(Error::Diverged(msg)) => {
                return Err(Error::Diverged(match (&run.checkpoint, self.saved_at) {
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
        self.done = i + 1;
        if !((i + 1).is_multiple_of(run.eval_every) || i + 1 == run.updates) {
            return Ok(None);
        }
        let data = &self.data;
        let t = &self.trainer;
        let ev = exact2d::evaluate(t.model(), 1.0, data, self.test.view(), run.grid)?;
        let train_view = match &self.train {
            Some(tr) => tr.view(),
            None => self.stream.slice(s![..batch.min(self.stream.nrows()), ..]),
        };
        let last = &self.last;
        let p = EvalPoint {
            step: i + 1,
            seconds: self.seconds_before + self.clock.elapsed().as_secs_f64(),
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
        if let Some(path) = &run.checkpoint {
            t.model().save(path)?;
            self.saved_at = Some(i + 1);
        }
        self.curve.push(p);
        Ok(self.curve.last())
    }

    /// The final exact evaluation (on a grid of at least 256 cells per axis).
    pub fn finish(self) -> Result<ToyRun> {
        let seconds = self.seconds();
        let final_eval = exact2d::evaluate(
            self.trainer.model(),
            1.0,
            &self.data,
            self.test.view(),
            self.run.grid.max(256),
        )?;
        Ok(ToyRun {
            trainer: self.trainer,
            curve: self.curve,
            last: self.last,
            final_eval,
            train: self.train,
            test: self.test,
            seconds,
        })
    }

    /// Everything a resumed run needs, in one [`StateFile`]: the trainer's state
    /// ([`ContrastiveTrainer::state`]) plus the loop's: the config field `toy` (data
    /// set, seed, [`ToyRunConfig`], updates done, the update of the last saved
    /// checkpoint, seconds so far, the shuffling generator) and the tensors `toy.order`
    /// (the shuffled order of the training set, u64), `toy.curve` (the evaluation points,
    /// f64, `[points, 16]`) and `toy.last` (the last update's metrics, f64).
    pub fn state(&self) -> Result<StateFile> {
        let mut st = self.trainer.state()?;
        st.config["toy"] = serde_json::json!({
            "dataset": self.data.name(),
            "seed": self.seed,
            "run": &self.run,
            "updates_done": self.done,
            "saved_at": self.saved_at,
            "seconds": self.seconds(),
            "rng": &self.rng,
        });
        st.put_u64(
            "toy.order",
            vec![self.order.len()],
            self.order.iter().map(|&i| i as u64).collect(),
        );
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let curve: Vec<f64> = self
            .curve
            .iter()
            .flat_map(|p| {
                [
                    p.step as f64,
                    p.seconds,
                    p.loss,
                    p.gap,
                    p.e_data,
                    p.e_neg,
                    p.acceptance,
                    p.test_nll,
                    p.train_nll,
                    p.kl.unwrap_or(f64::NAN),
                    flag(p.kl.is_some()),
                    p.mass_outside.unwrap_or(f64::NAN),
                    flag(p.mass_outside.is_some()),
                    p.log_z,
                    p.well_depth,
                    flag(p.box_holds_mass),
                ]
            })
            .collect();
        st.put_f64("toy.curve", vec![self.curve.len(), CURVE_COLUMNS], curve);
        let l = &self.last;
        st.put_f64(
            "toy.last",
            vec![8],
            vec![
                l.step as f64,
                l.loss,
                l.e_data,
                l.e_neg,
                l.gap,
                l.acceptance,
                l.restarted as f64,
                l.grad_norm,
            ],
        );
        Ok(st)
    }

    /// Save [`ToyTraining::state`] to `path`, atomically.
    pub fn save_state(&self, path: &std::path::Path) -> Result<()> {
        self.state()?.save(path)
    }

    /// The run saved by [`ToyTraining::save_state`], ready for its next update. The
    /// checkpoint path in the saved config is dropped (paths read from a file are never
    /// written to): set one with [`ToyTraining::set_checkpoint`]. Errors name the file and the field or tensor.
    pub fn load_state(path: &std::path::Path) -> Result<Self> {
        let st = StateFile::load(path)?;
        let bad = |msg: String| Error::format(path, msg);
        if st.config.get("toy").is_none_or(|v| !v.is_object()) {
            return Err(bad(
                "config field `toy` missing (not the state of a toy run)".into(),
            ));
        }
        let toy = &st.config["toy"];
        let get = |k: &str| -> Result<serde_json::Value> {
            toy.get(k)
                .cloned()
                .ok_or_else(|| bad(format!("config field `toy.{k}` missing")))
        };
        fn parse<T: serde::de::DeserializeOwned>(
            path: &std::path::Path,
            k: &str,
            v: serde_json::Value,
        ) -> Result<T> {
            serde_json::from_value(v)
                .map_err(|e| Error::format(path, format!("config field `toy.{k}`: {e}")))
        }
        let name: String = parse(path, "dataset", get("dataset")?)?;
        let data = ToyData::from_name(&name).map_err(|e| bad(e.to_string()))?;
        let seed: u64 = parse(path, "seed", get("seed")?)?;
        let mut run: ToyRunConfig = parse(path, "run", get("run")?)?;
        // A path read from a file is never written to: the caller names where the
        // evaluated model goes (ToyTraining::set_checkpoint).
        run.checkpoint = None;
        let done: usize = parse(path, "updates_done", get("updates_done")?)?;
        if done > run.updates {
            return Err(bad(format!(
                "config field `toy.updates_done` is {done}, past the run's {} updates",
                run.updates
            )));
        }
        let trainer = ContrastiveTrainer::from_state(&st)?;
        if trainer.steps_done() != done {
            return Err(bad(format!(
                "config field `toy.updates_done` is {done} but the trainer made {} updates",
                trainer.steps_done()
            )));
        }
        let mut t = Self::assemble(data, trainer, run, seed)?;
        t.done = done;
        t.saved_at = parse(path, "saved_at", get("saved_at")?)?;
        t.seconds_before = parse(path, "seconds", get("seconds")?)?;
        t.rng = parse(path, "rng", get("rng")?)?;
        let n = t.order.len();
        let order = st.u64("toy.order", Some(&[n]))?;
        let mut seen = vec![false; n];
        for &i in order {
            if i as usize >= n || std::mem::replace(&mut seen[i as usize], true) {
                return Err(bad(format!(
                    "tensor `toy.order` is not a permutation of 0..{n}"
                )));
            }
        }
        t.order = order.iter().map(|&i| i as usize).collect();
        let points = st.shape("toy.curve")?.first().copied().unwrap_or(0);
        let c = st.f64("toy.curve", Some(&[points, CURVE_COLUMNS]))?;
        t.curve = c
            .chunks_exact(CURVE_COLUMNS)
            .map(|r| EvalPoint {
                step: r[0] as usize,
                seconds: r[1],
                loss: r[2],
                gap: r[3],
                e_data: r[4],
                e_neg: r[5],
                acceptance: r[6],
                test_nll: r[7],
                train_nll: r[8],
                kl: (r[10] != 0.0).then_some(r[9]),
                mass_outside: (r[12] != 0.0).then_some(r[11]),
                log_z: r[13],
                well_depth: r[14],
                box_holds_mass: r[15] != 0.0,
            })
            .collect();
        if t.curve.iter().any(|p| p.step > done) {
            return Err(bad(format!(
                "tensor `toy.curve` has evaluation points after update {done}"
            )));
        }
        let l = st.f64("toy.last", Some(&[8]))?;
        t.last = StepMetrics {
            step: l[0] as usize,
            loss: l[1],
            e_data: l[2],
            e_neg: l[3],
            gap: l[4],
            acceptance: l[5],
            restarted: l[6] as usize,
            grad_norm: l[7],
        };
        Ok(t)
    }
}
