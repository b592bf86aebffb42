//! The contrastive toy EBM's [`Step`]: one contrastive update
//! `dL/dw = <dE(y)/dw>_data - <dE(y^)/dw>_negatives` per update
//! ([`crate::toy_ebm::ToyTraining::update`]), and per round (the updates between two
//! evaluation points) the exact evaluation by quadrature (test NLL, KL, log Z in nats).
//!
//! Run folder: `trainer.safetensors` (the whole state, at every evaluation point and on
//! Ctrl-C: a resumed run repeats nothing), `energy.safetensors` (the model of the last
//! evaluation point), `checkpoints/step-NNNNNNNNN.safetensors`, `best.safetensors`.

use super::{Position, RoundReport, RunDir, Step};
use crate::contrastive::{ContrastiveConfig, Negatives};
use crate::energy::MlpSpec;
use crate::nn::optim::OptimConfig;
use crate::nn::{ActivationKind, Parameters};
use crate::toy::ToyData;
use crate::toy_ebm::{EvalPoint, ToyRun, ToyRunConfig, ToyTraining};
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

/// The options of a toy run (`ebm train toy`'s flags; [`Default`] is what the command
/// line gives without any), checked and turned into the run's settings by
/// [`ToyOptions::settings`] and [`ToyOptions::start`].
#[derive(clap::Args, Clone, Debug)]
pub struct ToyOptions {
    /// 8gaussians, rings, moons, pinwheel, swissroll, checkerboard, 2spirals.
    #[arg(long, default_value = "8gaussians")]
    pub dataset: String,
    /// Updates in all [default: 6000]. With --resume: a total larger than the run's
    /// extends it (the learning-rate decays are then fractions of the new total); >= 1.
    #[arg(long)]
    pub updates: Option<usize>,
    /// Negatives: pcd (persistent chains), short-run (from noise), cd (CD-k from data),
    /// grid (exact draws from the model's density discretized on a grid over the data
    /// set's box, then --langevin-steps MALA steps).
    #[arg(long, default_value = "pcd")]
    pub negatives: String,
    /// Transitions of --kernel per update, at most 100000 [default: 20; 0 with
    /// --negatives grid].
    #[arg(long, alias = "mcmc-steps")]
    pub langevin_steps: Option<usize>,
    /// The transition that moves the negatives: mala, ula, mh (random walk), hmc (with
    /// --leapfrog steps) or ghmc (generalized HMC: --leapfrog steps, the momentum kept
    /// between transitions and partly redrawn), as `ebm sample --kernel`. NUTS is not offered: nuts-rs runs
    /// each chain alone with its own tree depth and adaptation, while negatives need one
    /// fixed-cost transition of the whole batch of chains.
    #[arg(long, default_value = "mala")]
    pub kernel: String,
    /// Leapfrog steps per HMC transition (--kernel hmc, ghmc), 1..=1024.
    #[arg(long, default_value_t = 5)]
    pub leapfrog: usize,
    /// Grid negatives: cells per axis of the sampling grid; >= 8.
    #[arg(long, default_value_t = 128)]
    pub grid_cells: usize,
    /// Grid negatives: recompute the grid's density every this many updates; >= 1.
    #[arg(long, default_value_t = 1)]
    pub grid_refresh: usize,
    /// The kernel's step: Langevin's eps (y <- y - eps dE/dy + sqrt(2 eps) xi), HMC's and
    /// GHMC's leapfrog step, MH's proposal scale; > 0, finite.
    #[arg(long, default_value_t = 0.02)]
    pub step_size: f64,
    /// alpha of the penalty alpha (E(data)^2 + E(neg)^2) [default: 0.001; 0 with
    /// --negatives grid]; >= 0, finite.
    #[arg(long)]
    pub energy_l2: Option<f64>,
    /// AdamW weight decay, >= 0.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Spectral normalization (projection) of every Linear layer.
    #[arg(long)]
    pub spectral_norm: bool,
    /// Adam learning rate [default: 1e-3; 3e-3 with --negatives grid]; > 0, finite.
    #[arg(long)]
    pub lr: Option<f32>,
    /// Halve the learning rate at these fractions of the run, comma-separated (none:
    /// ""); each in [0, 1].
    #[arg(long, default_value = "0.5,0.75")]
    pub lr_decay_at: Fractions,
    /// Data points and negatives per update; >= 1.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Hidden widths of the MLP energy 2-H1-H2-1; each >= 1.
    #[arg(long, value_delimiter = ',', default_value = "128,128")]
    pub hidden: Vec<usize>,
    /// Hidden-layer activation: silu, relu, leaky-relu (slope 0.2), elu, tanh, softplus.
    /// Langevin negatives need a smooth energy (silu, elu, tanh, softplus); grid
    /// negatives take any, and relu draws sharper edges.
    #[arg(long, default_value = "silu")]
    pub activation: String,
    /// A finite training set of this many points (default: fresh points every update); >= 1.
    #[arg(long)]
    pub train_size: Option<usize>,
    /// Updates between exact evaluations (NLL, KL by quadrature) and checkpoints.
    #[arg(long, default_value_t = 500)]
    pub eval_every: usize,
    /// Cells per axis of the quadrature grid of the exact evaluation; >= 8.
    #[arg(long, default_value_t = 256)]
    pub grid: usize,
}

/// Fractions of a run, written comma-separated; the empty string is none (a list flag
/// split on commas cannot say "none" otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct Fractions(pub Vec<f64>);

impl std::str::FromStr for Fractions {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(Fractions(Vec::new()));
        }
        s.split(',')
            .map(|f| {
                f.trim()
                    .parse::<f64>()
                    .map_err(|e| format!("`{}` is not a number: {e}", f.trim()))
            })
            .collect::<std::result::Result<_, _>>()
            .map(Fractions)
    }
}

impl Default for ToyOptions {
    /// The command line's defaults: parsed from no flags, so the two cannot differ.
    fn default() -> Self {
        super::options_from_args("toy", &[]).expect("the flags' defaults parse")
    }
}

/// Default of --updates.
pub const DEFAULT_UPDATES: usize = 6000;

impl ToyOptions {
    /// The energy and its training settings, the defaults that depend on the negatives
    /// resolved (grid negatives: no MCMC steps, no energy penalty, lr 3e-3, noise box =
    /// the data's box).
    pub fn settings(&self, data: &ToyData) -> Result<(MlpSpec, ContrastiveConfig)> {
        let a = self;
        if !(1..=crate::mcmc::MAX_LEAPFROG).contains(&a.leapfrog) {
            return Err(Error::invalid(
                "--leapfrog",
                format!(
                    "{} (must be in 1..={})",
                    a.leapfrog,
                    crate::mcmc::MAX_LEAPFROG
                ),
            ));
        }
        let negatives = Negatives::from_name(&a.negatives)?;
        let grid = negatives == Negatives::Grid;
        // Grid negatives cover the box the exact evaluation integrates over.
        let (noise_lo, noise_hi) = if grid {
            let (lo, hi) = data.support_box();
            (lo[0], hi[0])
        } else {
            let d = ContrastiveConfig::default();
            (d.noise_lo, d.noise_hi)
        };
        let spec = MlpSpec {
            in_dim: 2,
            hidden: a.hidden.clone(),
            activation: ActivationKind::from_name(&a.activation, "--activation")?,
        };
        let cfg = ContrastiveConfig {
            negatives,
            mcmc_steps: a.langevin_steps.unwrap_or(if grid { 0 } else { 20 }),
            grid_cells: a.grid_cells,
            grid_refresh: a.grid_refresh,
            noise_lo,
            noise_hi,
            step_size: a.step_size,
            kernel: Some(kernel(&a.kernel)?),
            leapfrog: a.leapfrog,
            energy_l2: a.energy_l2.unwrap_or(if grid { 0.0 } else { 0.001 }),
            optim: OptimConfig::adamw(
                a.lr.unwrap_or(if grid { 3e-3 } else { 1e-3 }),
                a.weight_decay,
            ),
            batch: a.batch,
            spectral_norm: a.spectral_norm,
            ..ContrastiveConfig::default()
        };
        Ok((spec, cfg))
    }

    /// A fresh run from these options, its evaluated model saved as
    /// `out/energy.safetensors`; `out/config.json` written and a trainer state of an earlier
    /// run in `out` removed.
    pub fn start(&self, out: &Path, seed: u64) -> Result<ToyTraining> {
        let a = self;
        let data = ToyData::from_name(&a.dataset)?;
        let (spec, cfg) = a.settings(&data)?;
        if a.lr_decay_at.0.iter().any(|f| !(0.0..=1.0).contains(f)) {
            return Err(Error::invalid(
                "--lr-decay-at",
                format!(
                    "{:?}: fractions of the run must be in [0, 1]",
                    a.lr_decay_at.0
                ),
            ));
        }
        let run = ToyRunConfig {
            updates: a.updates.unwrap_or(DEFAULT_UPDATES),
            eval_every: a.eval_every,
            train_size: a.train_size,
            grid: a.grid,
            lr_decay_at: a.lr_decay_at.0.clone(),
            checkpoint: Some(out.join("energy.safetensors")),
            ..ToyRunConfig::default()
        };
        let t = ToyTraining::new(&data, spec, cfg, &run, seed)?;
        // A fresh run in an old folder: its state is not this run's (best and the kept
        // checkpoints are cleared by RunDir::start_metrics).
        crate::io::remove_if_present(&out.join("trainer.safetensors"))?;
        // The resolved configuration, written before training so a stopped run still says
        // what it was.
        write_config(out, &t)?;
        Ok(t)
    }
}

/// The negatives' kernel `--kernel` names.
fn kernel(name: &str) -> Result<crate::mcmc::KernelName> {
    crate::mcmc::KernelName::from_name(name).map_err(|e| match e {
        Error::Invalid { msg, .. } => Error::invalid("--kernel", msg),
        e => e,
    })
}

/// config.json: the data set, seed, energy, training and run settings.
pub fn write_config(out: &Path, t: &ToyTraining) -> Result<()> {
    let resolved = serde_json::json!({
        "model": "toy-ebm", "dataset": t.data().name(), "seed": t.seed(),
        "energy": &t.trainer().energy.spec, "training": &t.trainer().cfg, "run": t.run_config(),
    });
    crate::io::write_atomic(&out.join("config.json"), &crate::io::config_json(&resolved))
}

impl ToyStep {
    /// The run saved in `dir` ([`ToyStep::load`]), extended to `updates` in all when
    /// given, its evaluated model saved as `dir/energy.safetensors` and `config.json`
    /// rewritten; with the `keep` it was saved with.
    pub fn resume(dir: &Path, updates: Option<usize>) -> Result<(ToyTraining, Option<usize>)> {
        let (mut t, keep) = ToyStep::load(dir)?;
        if let Some(u) = updates {
            t.extend(u).map_err(|e| match e {
                Error::Invalid { msg, .. } => Error::invalid("--updates", msg),
                e => e,
            })?;
        }
        t.set_checkpoint(Some(dir.join("energy.safetensors")));
        write_config(dir, &t)?;
        Ok((t, keep))
    }
}

/// The run folder `dir` and the run in it: a fresh run from `options` (seeded with
/// `seed`), or with `resume` the run saved there, extended to `options.updates` in all
/// when given; with the `keep` the run was saved with (resumes only).
pub fn open_run(
    dir: &Path,
    resume: bool,
    options: &ToyOptions,
    seed: u64,
) -> Result<(RunDir, ToyTraining, Option<usize>)> {
    if resume {
        let run = RunDir::resume(dir)?;
        let (t, keep) = ToyStep::resume(dir, options.updates)?;
        Ok((run, t, keep))
    } else {
        let run = RunDir::open(dir)?;
        let t = options.start(dir, seed)?;
        run.start_metrics(&METRICS_HEADER)?;
        Ok((run, t, None))
    }
}

/// The end of a finished run in `dir`: the final model as `energy.safetensors` and the
/// run folder's figures (`sample_steps` transitions of the negatives' kernel for
/// samples.png).
pub fn finish_run(step: ToyStep, dir: &Path, sample_steps: usize) -> Result<ToyRun> {
    if !(1..=100_000).contains(&sample_steps) {
        return Err(Error::invalid(
            "--sample-steps",
            format!("{sample_steps} (must be in 1..=100000)"),
        ));
    }
    let data = step.run.data();
    let mut r = step.run.finish()?;
    r.trainer.model().save(&dir.join("energy.safetensors"))?;
    crate::figures::toy_run_figures(dir, &data, &mut r, sample_steps)?;
    Ok(r)
}
