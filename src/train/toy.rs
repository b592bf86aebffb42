//! The contrastive toy EBM's [`Step`]: one contrastive update
//! `dL/dw = <dE(y)/dw>_data - <dE(y^)/dw>_negatives` per update
//! ([`crate::toy_ebm::ToyTraining::update`]), and per round (the updates between two
//! evaluation points) the exact evaluation by quadrature (test NLL, KL, log Z in nats).
//!
//! Run folder: `trainer.safetensors` (the whole state, at every evaluation point and on
//! Ctrl-C: a resumed run repeats nothing), `energy.safetensors` (the model of the last
//! evaluation point), `checkpoints/step-NNNNNNNNN.safetensors`, `best.safetensors`.

use super::{Position, RoundReport, RunDir, Step};
use crate::nn::Parameters;
use crate::toy_ebm::{EvalPoint, ToyTraining};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The toy run as a [`Step`].
pub struct ToyStep {
    pub run: ToyTraining,
    /// Kept checkpoints (saved with the state so a resume keeps the setting).
    pub keep: usize,
}

/// The header of a toy run's metrics.csv.
pub const METRICS_HEADER: [&str; 13] = [
    "step",
    "seconds",
    "loss",
    "gap",
    "e_data",
    "e_neg",
    "acceptance",
    "test_nll",
    "train_nll",
    "kl",
    "mass_outside",
    "log_z",
    "well_depth",
];

impl ToyStep {
    /// The update of the last evaluation point (0 before the first).
    fn last_step(&self) -> usize {
        self.run.curve().last().map_or(0, |p| p.step)
    }

    /// The rounds of the run: the evaluation points so far, then one per multiple of
    /// `eval_every` before the last update, and the last update.
    pub fn rounds(&self) -> usize {
        let r = self.run.run_config();
        let (s0, e) = (self.last_step(), r.eval_every.max(1));
        let multiples = (r.updates.saturating_sub(1) / e).saturating_sub(s0 / e);
        self.run.curve().len() + multiples + usize::from(r.updates > s0)
    }

    /// Where the run stands, from its own counters.
    pub fn position(&self) -> Position {
        let rows = self.run.curve().len();
        Position {
            round: rows,
            update: self.run.done() - self.last_step(),
            rows,
        }
    }

    /// The run saved in `dir/trainer.safetensors`, with the `keep` it was saved with.
    pub fn load(dir: &Path) -> Result<(ToyTraining, Option<usize>)> {
        let path = dir.join("trainer.safetensors");
        let t = ToyTraining::load_state(&path)?;
        let keep = crate::nn::checkpoint::read_config(&path)?["cli"]["keep_last"]
            .as_u64()
            .map(|k| k as usize);
        Ok((t, keep))
    }

    fn last(&self) -> Result<&EvalPoint> {
        self.run
            .curve()
            .last()
            .ok_or_else(|| Error::invalid("toy run", "no evaluation point yet"))
    }
}

/// One line per evaluation point (what `ebm train toy` prints).
pub fn line(p: &EvalPoint) -> String {
    let opt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    format!(
        "step {:>6}  {:>6.1} s  gap {:>7.3}  acc {:.2}  test NLL {:.4}  train NLL {:.4}  KL {}  mass off support {}  log Z {:.3}  well depth {:.2}{}",
        p.step,
        p.seconds,
        p.gap,
        p.acceptance,
        p.test_nll,
        p.train_nll,
        opt(p.kl),
        opt(p.mass_outside),
        p.log_z,
        p.well_depth,
        if p.box_holds_mass {
            ""
        } else {
            "  (box misses mass!)"
        }
    )
}

impl Step for ToyStep {
    fn round_name(&self) -> &'static str {
        "evaluation interval"
    }
    fn update_name(&self) -> &'static str {
        "update"
    }
    /// The updates from the last evaluation point to the next (the round in progress).
    fn updates_in(&self, _round: usize) -> usize {
        let r = self.run.run_config();
        let (s0, e) = (self.last_step(), r.eval_every.max(1));
        ((s0 / e + 1) * e).min(r.updates).saturating_sub(s0)
    }
    fn updates_done(&self, _at: Position) -> usize {
        self.run.done()
    }
    fn begin_round(&mut self, _round: usize) -> Result<()> {
        Ok(())
    }
    fn update(&mut self, _round: usize, _i: usize) -> Result<Option<String>> {
        self.run.update()?;
        Ok(None)
    }
    fn end_round(&mut self, _round: usize, _secs: f64, _wall: f64) -> Result<RoundReport> {
        let p = self.last()?;
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        let csv = vec![
            ("step", p.step.to_string()),
            ("seconds", format!("{:.3}", p.seconds)),
            ("loss", p.loss.to_string()),
            ("gap", p.gap.to_string()),
            ("e_data", p.e_data.to_string()),
            ("e_neg", p.e_neg.to_string()),
            ("acceptance", p.acceptance.to_string()),
            ("test_nll", p.test_nll.to_string()),
            ("train_nll", p.train_nll.to_string()),
            ("kl", opt(p.kl)),
            ("mass_outside", opt(p.mass_outside)),
            ("log_z", p.log_z.to_string()),
            ("well_depth", p.well_depth.to_string()),
        ];
        let json = serde_json::to_value(p).expect("metrics serialize");
        Ok(RoundReport {
            line: line(p),
            metrics: super::MetricsRow { csv, json },
            best: Some(("test_nll", p.test_nll, true)),
        })
    }
    fn saves_mid_round(&self) -> bool {
        true
    }
    fn save(&self, run: &RunDir, _at: Position) -> Result<()> {
        let mut st = self.run.state()?;
        st.config["cli"] = serde_json::json!({ "keep_last": self.keep });
        st.save(&run.join("trainer.safetensors"))
    }
    fn checkpoint_path(&self, run: &RunDir) -> PathBuf {
        run.join("energy.safetensors")
    }
    fn model(&self) -> &dyn Parameters {
        &self.run.trainer().model().net
    }
    fn model_config(&self, _round: usize) -> serde_json::Value {
        let p = self.run.curve().last();
        serde_json::json!({
            "model": "mlp_energy", "spec": &self.run.trainer().model().spec,
            "step": p.map(|p| p.step), "test_nll": p.map(|p| p.test_nll),
        })
    }
    fn checkpoint_name(&self, _round: usize) -> String {
        format!("step-{:09}", self.run.done())
    }
    fn describe_stop(&self, _round: usize, inside: Option<(usize, usize)>) -> String {
        let at = format!(
            "after update {} of {}",
            self.run.done(),
            self.run.run_config().updates
        );
        match inside {
            Some(_) => at,
            None => format!("{at} (an evaluation point)"),
        }
    }
}
