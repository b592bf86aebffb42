//! `ebm train rbm`: a Bernoulli-Bernoulli RBM by CD-k or PCD on MNIST (a directory of
//! IDX files) or, without `--data`, on the embedded UCI digits.
//!
//! Binarization: the digits at intensity > 0.5; MNIST by sampling `v ~ Bernoulli(pixel
//! / 255)` once, with a generator seeded by `--seed` (the same binary set every run).
//! Per epoch: the reconstruction error `||v - p(v | h)||^2` per image and, with at most
//! 20 hidden units, the exact average log-likelihood (nats per image) of train and test.
//!
//! With `--run DIR`, pictures after training: `filters.png` (columns of `W` as square
//! tiles), `samples.png` (`p(v | h)` after `--sample-sweeps` Gibbs sweeps of 100 chains,
//! from the PCD particles or from random test images) and, with `--ais-every E`,
//! `curve.csv` + `curve.png` (average test log-probability by AIS every E epochs, with
//! the interval of log Z +- 3 standard errors).

use clap::Args;
use ebm::data::digits::Digits;
use ebm::data::idx::Mnist;
use ebm::models::rbm::{MAX_EXACT_UNITS, Rbm, RbmConfig, RbmTrainer, Sampler};
use ebm::{Error, Result};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Largest hidden layer for which the exact log-likelihood is printed.
const EXACT_HIDDEN: usize = 20;

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Examples:\n  ebm train rbm --data ../shared/data/mnist --hidden 500 --epochs 2 --batch 100 --lr 0.05 --lr-final 0.05 --run runs/rbm-cd1 --ais-every 1 --ais-betas 14500   # CD-1: about -117 nats after epoch 2\n  ebm train rbm --resume runs/rbm-cd1 --epochs 4    # continue (bit for bit) to epoch 4\n  ebm train rbm --data ../shared/data/mnist --hidden 500 --sampler cd --k 25 --k-ramp 5 --lr-over-k --lr 0.05 --lr-final 0.05 --binarize dynamic --epochs 250 --batch 100 --run runs/rbm-cd25 --ais-every 25 --ais-betas 2000   # CD-25 (k from 1 to 25): about -84 nats\n  ebm train rbm --hidden 16 --epochs 8              # embedded digits, exact log-likelihood per epoch, run folder runs/rbm"
)]
pub struct TrainRbmArgs {
    /// MNIST directory (IDX files, gzip or not); without it, the embedded UCI digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Hidden units.
    #[arg(long, default_value_t = 16)]
    pub hidden: usize,
    /// Model term of the gradient: cd (chains start at the batch) or pcd (persistent).
    #[arg(long, default_value = "cd")]
    pub sampler: String,
    /// Gibbs sweeps per update (the most, with --k-ramp).
    #[arg(long, default_value_t = 1)]
    pub k: usize,
    /// Grow k by one every E epochs, from 1 up to --k (as public copies of Salakhutdinov's
    /// RBM code do for CD-25; 0: k from the start).
    #[arg(long, default_value_t = 0)]
    pub k_ramp: usize,
    /// Divide the learning rate by the current k.
    #[arg(long)]
    pub lr_over_k: bool,
    /// Training images: `once` (one Bernoulli draw of the grey levels, seeded, as the
    /// test set) or `dynamic` (a fresh draw for every mini-batch). Evaluation always uses
    /// the fixed draw.
    #[arg(long, default_value = "once")]
    pub binarize: String,
    /// PCD fantasy particles.
    #[arg(long, default_value_t = 100)]
    pub chains: usize,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 20)]
    pub batch: usize,
    /// Learning rate at the first epoch, decayed linearly to --lr-final.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f32,
    #[arg(long, default_value_t = 0.01)]
    pub lr_final: f32,
    /// L2 penalty on the weights.
    #[arg(long, default_value_t = 2e-4)]
    pub weight_decay: f32,
    /// Momentum of the parameter updates for the first --momentum-switch epochs.
    #[arg(long, default_value_t = 0.5)]
    pub momentum: f32,
    /// Momentum after --momentum-switch epochs (Hinton's practical guide: 0.5, then 0.9).
    #[arg(long, default_value_t = 0.9)]
    pub momentum_final: f32,
    #[arg(long, default_value_t = 5)]
    pub momentum_switch: usize,
    /// Checkpoint written (atomically) after every epoch: safetensors + JSON config.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Run folder (created; default runs/rbm unless --save is given): model.safetensors
    /// and trainer.safetensors after every epoch (atomic; what --resume needs),
    /// checkpoints/ (the last --keep epochs), best.safetensors (the highest test
    /// log-probability so far: exact with at most 20 hidden units, else at the AIS
    /// points), config.json, metrics.csv and metrics.jsonl, run.json, filters.png,
    /// samples.png and, with --ais-every, curve.csv and curve.png. Ctrl-C finishes the
    /// epoch, checkpoints and exits.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Keep the models of the last N epochs in DIR/checkpoints/ (0: none).
    #[arg(long, default_value_t = 3)]
    pub keep: usize,
    /// Continue the run in this folder (written by --run): its model, momentum
    /// velocities, PCD particles, config and data; --epochs, when larger than the saved
    /// total, extends the run (the learning-rate schedule then stretches to the new total).
    /// A resumed run reaches the same numbers as an uninterrupted one.
    #[arg(long, conflicts_with = "run")]
    pub resume: Option<PathBuf>,
    /// Block-Gibbs sweeps of the 100 chains drawn in samples.png.
    #[arg(long, default_value_t = 1000)]
    pub sample_sweeps: usize,
    /// Estimate log Z by AIS every E epochs (and after the last) for the curve of the
    /// average log-probability (needs --run).
    #[arg(long)]
    pub ais_every: Option<usize>,
    /// AIS runs per curve point.
    #[arg(long, default_value_t = 100)]
    pub ais_runs: usize,
    /// AIS intermediate distributions per curve point (schedule as `ebm eval rbm`).
    #[arg(long, default_value_t = 1000)]
    pub ais_betas: usize,
    /// Stop after this epoch as if interrupted (tests of --resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

/// Chains drawn in samples.png.
const SAMPLE_CHAINS: usize = 100;

/// One point of the training curve.
struct CurvePoint {
    epoch: usize,
    test: f64,
    lo: f64,
    hi: f64,
    train: f64,
}

/// AIS log Z of `rbm`, then the average log-probabilities of `train` and `test`.
fn curve_point(
    rbm: &Rbm,
    a: &TrainRbmArgs,
    base: &[f32],
    data: (&Array2<f32>, &Array2<f32>),
    epoch: usize,
    seed: u64,
) -> Result<CurvePoint> {
    let t = Instant::now();
    let est = ebm::models::rbm::ais_log_z(
        rbm,
        base,
        &ais_betas(a.ais_betas),
        a.ais_runs,
        seed.wrapping_add(epoch as u64),
    )?;
    let test = rbm.mean_log_prob(data.1.view(), est.log_z)?;
    let train = rbm.mean_log_prob(data.0.view(), est.log_z)?;
    eprintln!(
        "epoch {epoch}: AIS log Z {:.3} +- {:.3}, test log-prob {test:.3} [{:.3}, {:.3}], train {train:.3} ({:.1} s)",
        est.log_z,
        est.std_err,
        test - 3.0 * est.std_err,
        test + 3.0 * est.std_err,
        t.elapsed().as_secs_f64()
    );
    Ok(CurvePoint {
        epoch,
        test,
        lo: test - 3.0 * est.std_err,
        hi: test + 3.0 * est.std_err,
        train,
    })
}

/// The AIS schedule for `k` betas: Salakhutdinov and Murray's own for 14,500.
fn ais_betas(k: usize) -> Vec<f64> {
    if k == 14_500 {
        ebm::models::rbm::ais_schedule(None)
    } else {
        ebm::models::rbm::ais_schedule(Some(k))
    }
}

/// filters.png and samples.png into `dir`.
fn pictures(
    dir: &std::path::Path,
    rbm: &Rbm,
    trainer: &RbmTrainer,
    test: &Array2<f32>,
    sweeps: usize,
    seed: u64,
) -> Result<()> {
    use ebm::plot::{TileScale, image_grid};
    let side = square_side(rbm.visible())?;
    let m = rbm.hidden().min(100);
    let filters = rbm
        .weights()
        .t()
        .slice(ndarray::s![..m, ..])
        .as_standard_layout()
        .into_owned(); // [m, V]
    image_grid(
        &dir.join("filters.png"),
        &format!("RBM filters: columns 1-{m} of W ({side}x{side}, each min..max)"),
        filters.view(),
        side,
        side,
        10,
        TileScale::PerTile,
    )?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5a3b_51e5);
    let (start, from) = match trainer.chains() {
        Some(p) => (
            Array2::from_shape_fn((SAMPLE_CHAINS, p.ncols()), |(r, i)| p[[r % p.nrows(), i]]),
            "the PCD particles",
        ),
        None => {
            let rows: Vec<usize> = (0..SAMPLE_CHAINS)
                .map(|_| rng.gen_range(0..test.nrows()))
                .collect();
            (test.select(ndarray::Axis(0), &rows), "random test images")
        }
    };
    let pv = ebm::models::rbm::gibbs_chains(rbm, start.view(), sweeps, rng.r#gen())?;
    image_grid(
        &dir.join("samples.png"),
        &format!("p(v | h) after {sweeps} Gibbs sweeps from {from}"),
        pv.view(),
        side,
        side,
        10,
        TileScale::Unit,
    )
}

/// The side of a square image of `n` pixels.
fn square_side(n: usize) -> Result<usize> {
    let side = (n as f64).sqrt().round() as usize;
    if side * side != n {
        return Err(Error::invalid(
            "--run",
            format!("{n} visible units are not a square image, cannot draw tiles"),
        ));
    }
    Ok(side)
}

/// curve.csv and curve.png into `dir`.
fn write_curve(dir: &std::path::Path, pts: &[CurvePoint]) -> Result<()> {
    use ebm::plot::{BLUE, ORANGE, Series, errorbar_plot};
    let mut csv = String::from("epoch,test_logp,logp_lo,logp_hi,train_logp\n");
    for p in pts {
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{:.6}\n",
            p.epoch, p.test, p.lo, p.hi, p.train
        ));
    }
    let path = dir.join("curve.csv");
    ebm::io::write_atomic(&path, csv.as_bytes())?;
    let x: Vec<f64> = pts.iter().map(|p| p.epoch as f64).collect();
    let col = |f: fn(&CurvePoint) -> f64| pts.iter().map(f).collect::<Vec<f64>>();
    let (test, lo, hi, train) = (
        col(|p| p.test),
        col(|p| p.lo),
        col(|p| p.hi),
        col(|p| p.train),
    );
    errorbar_plot(
        &dir.join("curve.png"),
        "RBM log-probability (AIS; bars: log Z +- 3 SE)",
        "epoch",
        "nats per image",
        &[
            Series {
                label: "train",
                x: &x,
                y: &train,
                err: None,
                color: ORANGE,
            },
            Series {
                label: "test",
                x: &x,
                y: &test,
                err: Some((&lo, &hi)),
                color: BLUE,
            },
        ],
    )
}

/// Binary (train, test) images and a description of the data.
fn load(data: &Option<PathBuf>, seed: u64) -> Result<(Array2<f32>, Array2<f32>, String)> {
    let (tr, te, what, _) = load_with_grey(data, seed)?;
    Ok((tr, te, what))
}

/// Binary train and test images, a description of the data, the training grey levels.
type Loaded = (Array2<f32>, Array2<f32>, String, Array2<f32>);

/// Binary (train, test) images, a description, and the training images' grey levels in
/// [0, 1] (what dynamic binarization draws from).
fn load_with_grey(data: &Option<PathBuf>, seed: u64) -> Result<Loaded> {
    match data {
        Some(d) => {
            let m = Mnist::load(d)?;
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut bin = |x: &Array2<f32>| x.mapv(|p| f32::from(u8::from(rng.r#gen::<f32>() < p)));
            let (tr, te) = (bin(&m.train_images), bin(&m.test_images));
            Ok((
                tr,
                te,
                format!(
                    "MNIST at {} (v ~ Bernoulli(intensity), seed {seed})",
                    d.display()
                ),
                m.train_images,
            ))
        }
        None => {
            let (tr, te) = Digits::embedded().split(300, seed);
            let bin = |x: &Array2<f32>| x.mapv(|p| f32::from(u8::from(p > 0.5)));
            Ok((
                bin(&tr.images),
                bin(&te.images),
                "embedded UCI digits (intensity > 0.5)".into(),
                tr.images,
            ))
        }
    }
}

/// The run-folder files.
fn model_path(dir: &Path) -> PathBuf {
    dir.join("model.safetensors")
}
fn trainer_path(dir: &Path) -> PathBuf {
    dir.join("trainer.safetensors")
}

/// What a resumed run needs besides the checkpoints (saved as `run.json`).
#[derive(serde::Serialize, serde::Deserialize)]
struct RunInfo {
    data: Option<PathBuf>,
    seed: u64,
    ais_every: Option<usize>,
    ais_runs: usize,
    ais_betas: usize,
    sample_sweeps: usize,
    /// Epoch checkpoints kept in checkpoints/ (absent in run folders of older versions).
    #[serde(default = "default_keep")]
    keep: usize,
}

fn default_keep() -> usize {
    3
}

/// `checkpoints/epoch-NNNNNN.safetensors` for the last `keep` epochs and, when this
/// epoch has a test log-probability (`test`: exact, or from AIS), `best.safetensors`
/// if it is the highest so far (its config records the epoch and the figure).
fn keep_checkpoints(
    dir: &Path,
    rbm: &Rbm,
    cfg: &RbmConfig,
    epoch: usize,
    test: Option<(f64, &str)>,
    keep: usize,
) -> Result<()> {
    use ebm::nn::checkpoint;
    let mut c = serde_json::json!({ "model": "rbm", "rbm": cfg, "epoch": epoch });
    if let Some((lp, how)) = test.filter(|t| t.0.is_finite()) {
        c["test_logp"] = serde_json::json!(lp);
        c["test_logp_by"] = serde_json::json!(how);
        let best = dir.join("best.safetensors");
        let best_lp = checkpoint::read_config(&best)
            .ok()
            .and_then(|c| c["test_logp"].as_f64())
            .unwrap_or(f64::NEG_INFINITY);
        if lp > best_lp {
            checkpoint::save(&best, rbm, &c)?;
        }
    }
    super::keep_checkpoint(dir, &format!("epoch-{epoch:06}"), rbm, &c, keep)
}

/// The curve points already in `dir/curve.csv` up to `epoch` (a resumed run keeps them).
fn read_curve(dir: &Path, epoch: usize) -> Vec<CurvePoint> {
    let Ok(text) = std::fs::read_to_string(dir.join("curve.csv")) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let g = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok());
            Some(CurvePoint {
                epoch: f.first()?.parse().ok()?,
                test: g(1)?,
                lo: g(2)?,
                hi: g(3)?,
                train: g(4)?,
            })
        })
        .filter(|p| p.epoch <= epoch)
        .collect()
}

/// metrics.csv cut back to the epochs done (so a resumed run appends after them).
fn metrics_upto(dir: &Path, epoch: usize) -> String {
    let head = "epoch,seconds,recon_error,train_ll,test_ll,lr,k\n".to_string();
    let Ok(text) = std::fs::read_to_string(dir.join("metrics.csv")) else {
        return head;
    };
    let mut out = head;
    for l in text.lines().skip(1) {
        if l.split(',').next().and_then(|e| e.parse::<usize>().ok()) <= Some(epoch) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

pub fn train(a: &TrainRbmArgs, seed: u64) -> Result<()> {
    let sampler = match a.sampler.as_str() {
        "cd" => Sampler::Cd { k: a.k },
        "pcd" => Sampler::Pcd {
            k: a.k,
            chains: a.chains,
        },
        s => {
            return Err(Error::invalid(
                "--sampler",
                format!("`{s}` is not one of cd, pcd"),
            ));
        }
    };
    if a.epochs == 0 {
        return Err(Error::invalid("--epochs", "must be at least 1"));
    }
    let binarize = match a.binarize.as_str() {
        "once" => false,
        "dynamic" => true,
        s => {
            return Err(Error::invalid(
                "--binarize",
                format!("`{s}` is not one of once, dynamic"),
            ));
        }
    };
    if a.ais_every == Some(0) {
        return Err(Error::invalid("--ais-every", "must be at least 1 epoch"));
    }
    // The run folder: --resume's, --run's, or runs/rbm when neither --save is given.
    let default_run = (a.run.is_none() && a.resume.is_none() && a.save.is_none())
        .then(|| PathBuf::from("runs/rbm"));
    if a.ais_every.is_some() && a.run.is_none() && a.resume.is_none() && default_run.is_none() {
        return Err(Error::invalid(
            "--ais-every",
            "needs a run folder: --run DIR (or --resume DIR), not only --save",
        ));
    }
    if a.sample_sweeps == 0 {
        return Err(Error::invalid("--sample-sweeps", "must be at least 1"));
    }
    let run_dir = a.resume.clone().or_else(|| a.run.clone()).or(default_run);
    // A resumed run takes its data, seed and curve settings from run.json.
    let info = match &a.resume {
        Some(dir) => {
            let p = dir.join("run.json");
            let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            let mut i: RunInfo = serde_json::from_str(&text)
                .map_err(|e| Error::format(&p, format!("not an rbm run file: {e}")))?;
            if a.data.is_some() {
                i.data = a.data.clone();
            }
            i
        }
        None => RunInfo {
            data: a.data.clone(),
            seed,
            ais_every: a.ais_every,
            ais_runs: a.ais_runs,
            ais_betas: a.ais_betas,
            sample_sweeps: a.sample_sweeps,
            keep: a.keep,
        },
    };
    let seed = info.seed;
    let (train, test, what, grey) = load_with_grey(&info.data, seed)?;
    if let Some(dir) = &run_dir {
        square_side(train.ncols())?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        eprintln!("run folder: {}", dir.display());
    }
    let (mut rbm, mut trainer, cfg) = match &a.resume {
        Some(dir) => {
            let state = ebm::nn::checkpoint::read_config(&trainer_path(dir))?;
            let mut cfg: RbmConfig = serde_json::from_value(state["rbm"].clone()).map_err(|e| {
                Error::format(trainer_path(dir), format!("config field `rbm`: {e}"))
            })?;
            if a.epochs > cfg.epochs {
                cfg.epochs = a.epochs;
            }
            let (trainer, rbm) = RbmTrainer::load_state(cfg.clone(), &trainer_path(dir))?;
            rbm.check_visible(train.view())?;
            eprintln!(
                "resuming {} after epoch {} of {}",
                dir.display(),
                trainer.epoch(),
                cfg.epochs
            );
            (rbm, trainer, cfg)
        }
        None => {
            let cfg = RbmConfig {
                sampler,
                epochs: a.epochs,
                batch_size: a.batch,
                lr: a.lr,
                lr_final: a.lr_final,
                weight_decay: a.weight_decay,
                momentum: a.momentum,
                momentum_final: a.momentum_final,
                momentum_switch: a.momentum_switch,
                seed,
                binarize,
                k_ramp: a.k_ramp,
                lr_over_k: a.lr_over_k,
                ..RbmConfig::new(train.ncols(), a.hidden)
            };
            let rbm = RbmTrainer::init_model(&cfg, train.view())?;
            let trainer = RbmTrainer::new(cfg.clone())?;
            (rbm, trainer, cfg)
        }
    };
    let done = trainer.epoch();
    eprintln!(
        "data: {what}, {} train / {} test images",
        train.nrows(),
        test.nrows()
    );
    eprintln!(
        "config: {}",
        serde_json::to_string(&cfg).expect("config serializes")
    );
    let hidden = cfg.hidden;
    let exact = hidden <= EXACT_HIDDEN.min(MAX_EXACT_UNITS);
    let ll = |rbm: &Rbm| -> Result<(f64, f64)> {
        let log_z = rbm.log_z_exact()?;
        Ok((
            rbm.mean_log_prob(train.view(), log_z)?,
            rbm.mean_log_prob(test.view(), log_z)?,
        ))
    };
    let mut metrics = String::new();
    let mut jsonl = String::new();
    let mut curve = Vec::new();
    if let Some(dir) = &run_dir {
        let p = dir.join("run.json");
        let text = serde_json::to_string_pretty(&info).expect("run info serializes");
        ebm::io::write_atomic(&p, text.as_bytes())?;
        // The resolved configuration (what the report shows).
        let resolved =
            serde_json::json!({"model": "rbm", "rbm": &cfg, "run": &info, "data": &what});
        ebm::io::write_atomic(
            &dir.join("config.json"),
            &serde_json::to_vec_pretty(&resolved).expect("config serializes"),
        )?;
        metrics = metrics_upto(dir, done);
        jsonl = super::jsonl_upto(&dir.join("metrics.jsonl"), done);
        curve = read_curve(dir, done);
        if a.resume.is_none() {
            rbm.save(&model_path(dir), &cfg)?;
            trainer.save_state(&rbm, &trainer_path(dir))?;
        }
    }
    println!(
        "{:>5} {:>10} {:>12} {:>12} {:>8}",
        "epoch", "recon", "train LL", "test LL", "seconds"
    );
    if exact && done == 0 {
        let (tr, te) = ll(&rbm)?;
        println!("{:>5} {:>10} {tr:>12.3} {te:>12.3} {:>8}", 0, "-", "-");
    }
    let base = ebm::models::rbm::base_rate_bias(train.view());
    let stop = super::interrupt_flag();
    let curve_args = TrainRbmArgs {
        ais_runs: info.ais_runs,
        ais_betas: info.ais_betas,
        ..a.clone()
    };
    for e in done + 1..=cfg.epochs {
        let t = Instant::now();
        // Dynamic binarization draws from the grey levels; otherwise the fixed draw.
        let images = if cfg.binarize { &grey } else { &train };
        let s = match trainer.train_epoch(&mut rbm, images.view()) {
            Ok(s) => s,
            Err(err @ Error::Diverged(_)) => {
                if let Some(dir) = &run_dir {
                    eprintln!(
                        "stopping; the last good checkpoint is {}",
                        model_path(dir).display()
                    );
                } else if let Some(p) = &a.save {
                    eprintln!("stopping; the last good checkpoint is {}", p.display());
                }
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        let secs = t.elapsed().as_secs_f64();
        let (tr, te) = if exact {
            ll(&rbm)?
        } else {
            (f64::NAN, f64::NAN)
        };
        if exact {
            println!(
                "{e:>5} {:>10.3} {tr:>12.3} {te:>12.3} {secs:>8.2}",
                s.recon_error
            );
        } else {
            println!(
                "{e:>5} {:>10.3} {:>12} {:>12} {secs:>8.2}",
                s.recon_error, "-", "-"
            );
        }
        if let Some(p) = &a.save {
            rbm.save(p, &cfg)?;
        }
        let mut test_logp = exact.then_some((te, "exact log Z"));
        if let Some(every) = info.ais_every
            && (e % every == 0 || e == cfg.epochs)
        {
            curve.push(curve_point(
                &rbm,
                &curve_args,
                &base,
                (&train, &test),
                e,
                seed,
            )?);
            if let Some(dir) = &run_dir {
                write_curve(dir, &curve)?;
            }
            if !exact {
                test_logp = curve.last().map(|p| (p.test, "AIS log Z"));
            }
        }
        if let Some(dir) = &run_dir {
            let f = |x: f64| {
                if x.is_finite() {
                    format!("{x:.6}")
                } else {
                    String::new()
                }
            };
            metrics.push_str(&format!(
                "{e},{secs:.4},{:.6},{},{},{},{}\n",
                s.recon_error,
                f(tr),
                f(te),
                s.lr,
                s.k
            ));
            ebm::io::write_atomic(&dir.join("metrics.csv"), metrics.as_bytes())?;
            let num = |x: f64| {
                if x.is_finite() {
                    serde_json::json!(x)
                } else {
                    serde_json::Value::Null
                }
            };
            jsonl.push_str(
                &(serde_json::json!({
                    "epoch": e, "seconds": secs, "recon_error": s.recon_error,
                    "train_ll": num(tr), "test_ll": num(te), "lr": s.lr, "k": s.k,
                    "unit": "nats per image",
                })
                .to_string()
                    + "\n"),
            );
            ebm::io::write_atomic(&dir.join("metrics.jsonl"), jsonl.as_bytes())?;
            keep_checkpoints(dir, &rbm, &cfg, e, test_logp, info.keep)?;
            // trainer.safetensors holds the model too, in one atomic file: what
            // --resume reads; model.safetensors is the checkpoint for `ebm eval rbm`.
            trainer.save_state(&rbm, &trainer_path(dir))?;
            rbm.save(&model_path(dir), &cfg)?;
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) || a.stop_after == Some(e) {
            match &run_dir {
                Some(dir) => println!(
                    "interrupted at the end of epoch {e}: checkpoint written; continue with --resume {}",
                    dir.display()
                ),
                None => println!("interrupted at the end of epoch {e}"),
            }
            return Ok(());
        }
    }
    if let Some(p) = &a.save {
        println!("checkpoint: {}", p.display());
    }
    if let Some(dir) = &run_dir {
        pictures(dir, &rbm, &trainer, &test, info.sample_sweeps, seed)?;
        println!("pictures: {}", dir.display());
        println!("report: {}", ebm::report::write_report(dir)?.display());
    }
    Ok(())
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm train rbm --hidden 16 --epochs 8 --save runs/rbm16.safetensors\n  ebm eval rbm --checkpoint runs/rbm16.safetensors --ais-runs 100 --ais-betas 14500\n  (AIS log Z within a few hundredths of a nat of the exact value for 16 hidden units)"
)]
pub struct EvalRbmArgs {
    /// A checkpoint written by `ebm train rbm --save`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// MNIST directory; without it, the embedded UCI digits (binarized as in training:
    /// pass the training run's --seed).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Independent AIS runs (particles).
    #[arg(long, default_value_t = 100)]
    pub ais_runs: usize,
    /// Intermediate distributions; 14500 follows Salakhutdinov and Murray's schedule
    /// (500 betas in [0, 0.5], 4,000 in [0.5, 0.9], 10,000 in [0.9, 1]).
    #[arg(long, default_value_t = 14_500)]
    pub ais_betas: usize,
}

/// AIS `log Z` (and the exact value when the smaller layer allows it), then the average
/// log-probability `-F(v) - log Z` of train and test images in nats, with the interval
/// that the AIS error puts on it.
pub fn eval(a: &EvalRbmArgs, seed: u64) -> Result<()> {
    let (rbm, _cfg) = Rbm::load(&a.checkpoint)?;
    let (train, test, what) = load(&a.data, seed)?;
    if train.ncols() != rbm.visible() {
        return Err(Error::Shape {
            what: format!("{what} for the RBM in {}", a.checkpoint.display()),
            expected: vec![train.nrows(), rbm.visible()],
            found: vec![train.nrows(), train.ncols()],
        });
    }
    let betas = ais_betas(a.ais_betas);
    let base = ebm::models::rbm::base_rate_bias(train.view());
    let t = Instant::now();
    let bar = ebm::progress::Progress::new(betas.len() as u64, "AIS betas");
    let est = ebm::models::rbm::ais_log_z_with(&rbm, &base, &betas, a.ais_runs, seed, Some(&bar))?;
    bar.finish();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "AIS log Z = {:.4} +- {:.4} (3 SE: [{:.4}, {:.4}]), ESS {:.1} of {}, {} betas, {:.1} s",
        est.log_z,
        est.std_err,
        est.interval.0,
        est.interval.1,
        est.ess,
        a.ais_runs,
        betas.len(),
        secs
    );
    if rbm.visible().min(rbm.hidden()) <= MAX_EXACT_UNITS.min(EXACT_HIDDEN) {
        let exact = rbm.log_z_exact()?;
        println!(
            "exact log Z = {exact:.4} (AIS error {:+.4} nats, {:+.1} SE)",
            est.log_z - exact,
            (est.log_z - exact) / est.std_err.max(1e-300)
        );
    }
    for (name, x) in [("train", &train), ("test", &test)] {
        let lp = rbm.mean_log_prob(x.view(), est.log_z)?;
        println!(
            "average {name} log-probability: {lp:.3} nats per image (3 SE of log Z: [{:.3}, {:.3}]) on {what}",
            lp - 3.0 * est.std_err,
            lp + 3.0 * est.std_err
        );
    }
    Ok(())
}
