//! `ebm train vae` and `ebm eval vae`: the VAE as variational free energy on MNIST (a
//! directory of IDX files) or, without `--data`, on the embedded UCI digits.
//!
//! Two protocols. `--binarize none` (the PyTorch example's): pixels in [0, 1] as the
//! Bernoulli targets. `--binarize dynamic` (the likelihood protocol of Burda et al.):
//! each training pass draws every pixel `~ Bernoulli(intensity)` afresh, and the test
//! set is binarized once with the fixed seed [`TEST_BINARIZATION_SEED`], so test
//! log-likelihoods of different runs are comparable.
//!
//! Expected: `ebm train vae --data MNIST` (PyTorch example): test loss about 127
//! nats/image after epoch 1 and about 104 after 10 epochs. `--arch iwae` (784-200-200-50
//! tanh, dynamic binarization) for 30 minutes, then `ebm eval vae --iwae-k 5000`: a test
//! NLL near 87.5 nats (BENCHMARKS.md has the measured figures).

use clap::Args;
use ebm::data::digits::Digits;
use ebm::data::idx::Mnist;
use ebm::models::iwae::{log_likelihood_bound, log_likelihood_bound_with};
use ebm::models::latent_inference::infer_latent;
use ebm::models::vae::{Vae, VaeConfig, VaeLoss};
use ebm::nn::checkpoint;
use ebm::nn::optim::OptimConfig;
use ebm::{Error, Result};
use ndarray::{Array2, Axis, s};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The seed of the one fixed binarization of the test set (Xoshiro256++,
/// `v = [u < intensity]`, `u ~ U(0, 1)` row by row).
pub const TEST_BINARIZATION_SEED: u64 = 0;

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  ebm train vae --data ../shared/data/mnist --epochs 10 --run runs/vae        # the PyTorch example: ~104 nats after 10 epochs\n  ebm train vae --data ../shared/data/mnist --arch iwae --batch 20 --schedule cosine --epochs 450 --minutes 30 --run runs/iwae\n  ebm train vae --latent 2 --epochs 30 --run runs/vae2d                       # embedded digits, codes.png with fuzzy balls\n  ebm train vae --resume runs/iwae --epochs 600                                # continue a run bit for bit"
)]
pub struct TrainVaeArgs {
    /// MNIST directory (IDX files, gzip or not); without it, the embedded UCI digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Architecture: pytorch (784-400-20 ReLU, the PyTorch example) or iwae
    /// (784-200-200-50 tanh, Burda et al. 2016).
    #[arg(long, default_value = "pytorch")]
    pub arch: String,
    /// Hidden widths of the encoder, comma-separated (the decoder mirrors them);
    /// default: the architecture's.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Width of z (2 for the pictures of the latent space); default: the architecture's.
    #[arg(long)]
    pub latent: Option<usize>,
    /// Weight of the KL term, 1/beta in the lecture's free energy <E>_q + (1/beta) KL.
    #[arg(long, default_value_t = 1.0)]
    pub kl_weight: f32,
    /// Samples per image in the training objective: 1 = VAE, k > 1 = IWAE bound.
    #[arg(long, default_value_t = 1)]
    pub iwae_k: usize,
    /// none (pixels in [0, 1]) or dynamic (fresh Bernoulli draws every pass);
    /// default: none for pytorch, dynamic for iwae.
    #[arg(long)]
    pub binarize: Option<String>,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Stop after the epoch during which this many minutes of training have passed.
    #[arg(long)]
    pub minutes: Option<f64>,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Learning rate (lower it if the loss diverges).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Learning-rate schedule: constant; iwae (Burda et al.: pass i of 3^i epochs at
    /// lr 10^(-i/7)); or cosine (from --lr down to --lr / 10 over --epochs).
    #[arg(long, default_value = "constant")]
    pub schedule: String,
    /// Optimizer: adam, adamw or sgd (momentum 0.9, Nesterov).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    pub clip: Option<f64>,
    /// Checkpoint written (atomically) after every epoch: safetensors + JSON config.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Run folder (default runs/vae unless --save is given): config.json, metrics.csv,
    /// model.safetensors (+ optimizer state) after every epoch, figures at the end.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Continue the run in this folder up to --epochs (same optimizer state and random
    /// streams as an uninterrupted run).
    #[arg(long, conflicts_with = "run")]
    pub resume: Option<PathBuf>,
    /// Also checkpoint every N batches inside an epoch (a kill -9 loses at most N steps).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Keep the last N epoch checkpoints in DIR/checkpoints/ (0: none) beside best.safetensors
    /// (the lowest test loss so far).
    #[arg(long, default_value_t = 3)]
    pub keep: usize,
    /// Stop as Ctrl-C would after this many batches in all (for tests of interruption).
    #[arg(long, hide = true)]
    pub stop_after_batches: Option<usize>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm eval vae --checkpoint runs/iwae --data ../shared/data/mnist --iwae-k 5000 --latent-steps 200"
)]
pub struct EvalVaeArgs {
    /// A checkpoint written by `ebm train vae` (or a run folder holding model.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// MNIST directory; without it, the embedded digits' held-out split.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Samples per image of the importance-weighted bound (the test NLL estimate).
    #[arg(long, default_value_t = 5000)]
    pub iwae_k: usize,
    /// Evaluate the first N test images only.
    #[arg(long)]
    pub images: Option<usize>,
    /// Zero-temperature inference: gradient steps on z from the encoder's code, and the
    /// table comparing min_z E(y, z) with the free energies (0: skip).
    #[arg(long, default_value_t = 0)]
    pub latent_steps: usize,
    /// Folder for latent_inference.png (default: the run folder, or beside the checkpoint).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Train and test images (intensities in [0, 1]) and labels, and a description.
struct Data {
    train: Array2<f32>,
    test: Array2<f32>,
    train_labels: Vec<u8>,
    test_labels: Vec<u8>,
    what: String,
}

fn load(data: &Option<PathBuf>, seed: u64) -> Result<Data> {
    match data {
        Some(d) => {
            let m = Mnist::load(d)?;
            Ok(Data {
                train: m.train_images,
                test: m.test_images,
                train_labels: m.train_labels,
                test_labels: m.test_labels,
                what: format!("MNIST at {}", d.display()),
            })
        }
        None => {
            let (tr, te) = Digits::embedded().split(300, seed);
            Ok(Data {
                train: tr.images,
                test: te.images,
                train_labels: tr.labels,
                test_labels: te.labels,
                what: "embedded UCI digits".into(),
            })
        }
    }
}

/// The fixed binarization of a test set: `[u < p]` with `u` from [`TEST_BINARIZATION_SEED`].
pub fn binarize_fixed(x: &Array2<f32>) -> Array2<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(TEST_BINARIZATION_SEED);
    x.mapv(|p| f32::from(u8::from(rng.r#gen::<f32>() < p)))
}

fn optimizer(a: &TrainVaeArgs) -> Result<OptimConfig> {
    if !(a.lr.is_finite() && a.lr > 0.0) {
        return Err(Error::invalid(
            "--lr",
            format!("{} is not a positive number", a.lr),
        ));
    }
    Ok(match a.optimizer.as_str() {
        "adam" => OptimConfig::Adam {
            lr: a.lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: a.weight_decay,
        },
        "adamw" => OptimConfig::AdamW {
            lr: a.lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: a.weight_decay,
        },
        "sgd" => OptimConfig::Sgd {
            lr: a.lr,
            momentum: 0.9,
            nesterov: true,
            weight_decay: a.weight_decay,
        },
        o => {
            return Err(Error::invalid(
                "--optimizer",
                format!("`{o}` is not one of adam, adamw, sgd"),
            ));
        }
    })
}

/// The learning rate of `epoch` (1-based, of `epochs`) under `schedule`.
fn lr_at(schedule: &str, lr: f32, epoch: usize, epochs: usize) -> f32 {
    match schedule {
        "cosine" => {
            let t = (epoch - 1) as f32 / (epochs.max(2) - 1) as f32;
            lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f32::consts::PI * t.min(1.0)).cos()))
        }
        "iwae" => {
            // Pass i covers epochs (3^0 + ... + 3^(i-1)) + 1 ..= 3^0 + ... + 3^i.
            let (mut i, mut end) = (0i32, 1usize);
            while epoch > end {
                i += 1;
                end += 3usize.pow(i as u32);
            }
            lr * 10f32.powf(-(i as f32) / 7.0)
        }
        _ => lr,
    }
}

/// The random stream of batch `j` of epoch `e`.
fn batch_rng(seed: u64, e: usize, j: usize) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(
        seed ^ (e as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ (j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
}

/// The random stream of epoch `e` (so a resumed run draws what an uninterrupted one would).
fn epoch_rng(seed: u64, e: usize) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ (e as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// The resolved settings of a training run (saved as the run's config.json).
fn resolve(a: &TrainVaeArgs, input_dim: usize) -> Result<(VaeConfig, bool)> {
    let base = match a.arch.as_str() {
        "pytorch" => VaeConfig::pytorch_mnist(),
        "iwae" => VaeConfig::iwae_mnist(),
        o => {
            return Err(Error::invalid(
                "--arch",
                format!("`{o}` is not one of pytorch, iwae"),
            ));
        }
    };
    let binarize = match a.binarize.as_deref() {
        None => a.arch == "iwae",
        Some("dynamic") => true,
        Some("none") => false,
        Some(o) => {
            return Err(Error::invalid(
                "--binarize",
                format!("`{o}` is not one of none, dynamic"),
            ));
        }
    };
    if !matches!(a.schedule.as_str(), "constant" | "iwae" | "cosine") {
        return Err(Error::invalid(
            "--schedule",
            format!("`{}` is not one of constant, iwae, cosine", a.schedule),
        ));
    }
    let cfg = VaeConfig {
        input_dim,
        hidden: a.hidden.clone().unwrap_or(base.hidden.clone()),
        latent: a.latent.unwrap_or(base.latent),
        kl_weight: a.kl_weight,
        iwae_k: a.iwae_k,
        ..base
    };
    cfg.validate()?;
    Ok((cfg, binarize))
}

/// Paths of a run folder.
fn model_path(run: &Path) -> PathBuf {
    run.join("model.safetensors")
}
/// Write a consistent checkpoint pair: the optimizer state under a new name (by global
/// step), then the model (atomically) naming that file, then remove older optimizer files.
/// A crash at any point leaves a model whose optimizer file exists.
fn save_pair(
    dir: &Path,
    vae: &Vae,
    opt: &dyn ebm::nn::optim::Optimizer,
    cfg: &serde_json::Value,
    step: usize,
) -> Result<()> {
    let name = format!("optimizer-{step:09}.safetensors");
    checkpoint::save_optimizer(&dir.join(&name), opt)?;
    let mut c = cfg.clone();
    c["optimizer_state"] = json!(name);
    checkpoint::save(&model_path(dir), vae, &c)?;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            if f.starts_with("optimizer-") && f.ends_with(".safetensors") && f != name {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// `checkpoints/epoch-NNNNNN.safetensors` for the last `keep` epochs, and
/// `best.safetensors` whenever the test loss is the lowest so far (its config records it).
fn keep_checkpoints(
    dir: &Path,
    vae: &Vae,
    cfg: &serde_json::Value,
    epoch: usize,
    test_loss: f64,
    keep: usize,
) -> Result<()> {
    let best = dir.join("best.safetensors");
    let best_loss = checkpoint::read_config(&best)
        .ok()
        .and_then(|c| c["test_loss"].as_f64())
        .unwrap_or(f64::INFINITY);
    let mut c = cfg.clone();
    c["test_loss"] = json!(test_loss);
    if test_loss < best_loss {
        checkpoint::save(&best, vae, &c)?;
    }
    super::keep_checkpoint(dir, &format!("epoch-{epoch:06}"), vae, &c, keep)
}

/// Keep the rows of `metrics.csv` up to `epoch` (rows written after the last checkpoint
/// by a run that was then killed are recomputed by the resumed run).
fn truncate_metrics(dir: &Path, epoch: usize) -> Result<()> {
    let p = dir.join("metrics.csv");
    let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, l)| {
            *i == 0
                || l.split(',')
                    .next()
                    .and_then(|v| v.parse::<usize>().ok())
                    .is_some_and(|e| e <= epoch)
        })
        .map(|(_, l)| l)
        .collect();
    checkpoint::write_atomic(&p, format!("{}\n", kept.join("\n")).as_bytes())?;
    let pj = dir.join("metrics.jsonl");
    if pj.exists() {
        checkpoint::write_atomic(&pj, super::jsonl_upto(&pj, epoch).as_bytes())?;
    }
    Ok(())
}

pub fn train(a: &TrainVaeArgs, seed: u64) -> Result<()> {
    if a.epochs == 0 || a.batch == 0 {
        return Err(Error::invalid("--epochs/--batch", "must be at least 1"));
    }
    // On resume the saved config wins over the flags (except --epochs and --minutes).
    let (run_dir, resumed): (Option<PathBuf>, Option<serde_json::Value>) = match &a.resume {
        Some(r) => {
            let p = r.join("config.json");
            let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::format(&p, format!("not JSON: {e}")))?;
            (Some(r.clone()), Some(v))
        }
        // Without --run, the run folder is runs/vae unless only --save is wanted.
        None => (
            a.run
                .clone()
                .or_else(|| a.save.is_none().then(|| PathBuf::from("runs/vae"))),
            None,
        ),
    };
    let seed = resumed
        .as_ref()
        .and_then(|v| v["seed"].as_u64())
        .unwrap_or(seed);
    let data_arg: Option<PathBuf> = match &resumed {
        Some(v) => v["data_dir"].as_str().map(PathBuf::from),
        None => a.data.clone(),
    };
    let data = load(&data_arg, seed)?;
    let (cfg, binarize, opt_cfg, batch, schedule, lr) = match &resumed {
        Some(v) => {
            let field = |f: &str| {
                Error::format(
                    run_dir.as_ref().unwrap().join("config.json"),
                    format!("field `{f}` missing or malformed"),
                )
            };
            let cfg: VaeConfig =
                serde_json::from_value(v["vae"].clone()).map_err(|_| field("vae"))?;
            let opt: OptimConfig =
                serde_json::from_value(v["optimizer"].clone()).map_err(|_| field("optimizer"))?;
            (
                cfg,
                v["binarize"].as_bool().ok_or_else(|| field("binarize"))?,
                opt,
                v["batch"].as_u64().ok_or_else(|| field("batch"))? as usize,
                v["schedule"]
                    .as_str()
                    .ok_or_else(|| field("schedule"))?
                    .to_string(),
                v["lr"].as_f64().ok_or_else(|| field("lr"))? as f32,
            )
        }
        None => {
            let (c, b) = resolve(a, data.train.ncols())?;
            (c, b, optimizer(a)?, a.batch, a.schedule.clone(), a.lr)
        }
    };
    if cfg.input_dim != data.train.ncols() {
        return Err(Error::Shape {
            what: format!("images of {} for the VAE", data.what),
            expected: vec![cfg.input_dim],
            found: vec![data.train.ncols()],
        });
    }
    let protocol = if binarize {
        format!("dynamic binarization; test set binarized once (seed {TEST_BINARIZATION_SEED})")
    } else {
        "pixels in [0, 1] (not binarized)".to_string()
    };
    let test = if binarize {
        binarize_fixed(&data.test)
    } else {
        data.test.clone()
    };
    // The schedule spans the epochs the run was started with (a resume keeps it).
    let sched_epochs = resumed
        .as_ref()
        .and_then(|v| v["epochs"].as_u64())
        .map_or(a.epochs, |e| e as usize);
    let mut init_rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut vae = Vae::new(cfg.clone(), &mut init_rng)?;
    vae.clip_norm = a.clip;
    vae.binarize = binarize;
    let mut opt = opt_cfg.build();
    let run_cfg = json!({"model": "vae", "vae": cfg, "optimizer": opt_cfg, "batch": batch,
        "binarize": binarize, "schedule": schedule, "lr": lr, "epochs": sched_epochs, "seed": seed,
        "data": data.what, "data_dir": data_arg.as_ref().map(|p| p.display().to_string()),
        "protocol": protocol});
    let mut first = 1;
    // Inside an interrupted epoch: batches done and their loss sums.
    let mut skip_batches = 0usize;
    let mut partial = VaeLoss::default();
    if let Some(dir) = &run_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        if resumed.is_some() {
            let saved = checkpoint::load(&model_path(dir), &mut vae)?;
            // Runs written before the optimizer file was named by step used one name.
            let ost = saved["optimizer_state"]
                .as_str()
                .unwrap_or("optimizer.safetensors");
            checkpoint::load_optimizer(&dir.join(ost), opt.as_mut(), &vae)?;
            first = saved["epoch"].as_u64().unwrap_or(0) as usize + 1;
            truncate_metrics(dir, first - 1)?;
            skip_batches = saved["batches"].as_u64().unwrap_or(0) as usize;
            partial = VaeLoss {
                recon: saved["partial_recon"].as_f64().unwrap_or(0.0),
                kl: saved["partial_kl"].as_f64().unwrap_or(0.0),
                n: saved["partial_n"].as_u64().unwrap_or(0) as usize,
                kl_weight: cfg.kl_weight as f64,
            };
            eprintln!(
                "resuming {} after epoch {}{}",
                dir.display(),
                first - 1,
                if skip_batches > 0 {
                    format!(" and {skip_batches} batches of epoch {first}")
                } else {
                    String::new()
                }
            );
        } else {
            let p = dir.join("config.json");
            checkpoint::write_atomic(
                &p,
                &serde_json::to_vec_pretty(&run_cfg).expect("json serializes"),
            )?;
            let header = "epoch,seconds,wall_seconds,lr,train_loss,train_recon,train_kl,test_loss,test_recon,test_kl\n";
            checkpoint::write_atomic(&dir.join("metrics.csv"), header.as_bytes())?;
        }
    }
    eprintln!("config: {run_cfg}");
    println!(
        "VAE {}-{}-{} ({:?}), {}, objective {}, on {} ({})",
        cfg.input_dim,
        cfg.hidden
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join("-"),
        cfg.latent,
        cfg.activation,
        if cfg.iwae_k > 1 {
            format!("IWAE k = {}", cfg.iwae_k)
        } else {
            format!("free energy <E>_q + {} KL", cfg.kl_weight)
        },
        if cfg.iwae_k > 1 {
            "-L_k".to_string()
        } else {
            "ELBO".to_string()
        },
        data.what,
        protocol
    );
    println!(
        "{:>5} {:>12} {:>12} {:>10} {:>8}",
        "epoch", "train loss", "test loss", "test KL", "seconds"
    );
    let start = Instant::now();
    let stop = super::interrupt_flag();
    let n_batches = data.train.nrows().div_ceil(batch);
    for e in first..=a.epochs {
        let lr_e = lr_at(&schedule, lr, e, sched_epochs);
        opt.set_lr(lr_e);
        let t = Instant::now();
        // The epoch's order, then one random stream per batch: a run stopped after any
        // batch resumes exactly where it was.
        let mut order: Vec<usize> = (0..data.train.nrows()).collect();
        order.shuffle(&mut epoch_rng(seed, e));
        let mut l = std::mem::take(&mut partial);
        let bar = ebm::progress::Progress::new(n_batches as u64, &format!("epoch {e}"));
        bar.inc(skip_batches as u64, None);
        for (j, idx) in order.chunks(batch).enumerate().skip(skip_batches) {
            let mut rng = batch_rng(seed, e, j);
            match vae.train_batch(data.train.view(), idx, &mut rng, opt.as_mut()) {
                Ok(b) => l.add(&b),
                Err(err @ Error::Diverged(_)) => {
                    if let Some(p) = run_dir.as_ref().map(|d| model_path(d)).or(a.save.clone()) {
                        eprintln!(
                            "stopping at epoch {e}, batch {}; the last good checkpoint is {}",
                            j + 1,
                            p.display()
                        );
                    }
                    return Err(err);
                }
                Err(err) => return Err(err),
            }
            bar.inc(1, Some(format!("loss {:.3}", l.per_row())));
            let done = j + 1;
            let interrupted = stop.load(std::sync::atomic::Ordering::SeqCst)
                || a.stop_after_batches
                    .is_some_and(|s| s == done + (e - 1) * n_batches);
            let periodic = a.checkpoint_every.is_some_and(|c| c > 0 && done % c == 0);
            if (interrupted || periodic) && done < n_batches {
                if let Some(dir) = &run_dir {
                    let mut c = run_cfg.clone();
                    c["epoch"] = json!(e - 1);
                    c["batches"] = json!(done);
                    c["partial_recon"] = json!(l.recon);
                    c["partial_kl"] = json!(l.kl);
                    c["partial_n"] = json!(l.n);
                    save_pair(dir, &vae, opt.as_ref(), &c, (e - 1) * n_batches + done)?;
                }
                if interrupted {
                    bar.finish();
                    match &run_dir {
                        Some(dir) => println!(
                            "interrupted in epoch {e} after batch {done} of {n_batches}: checkpoint written; continue with `ebm train vae --resume {}`",
                            dir.display()
                        ),
                        None => println!(
                            "interrupted in epoch {e} after batch {done} (no --run folder: nothing saved)"
                        ),
                    }
                    return Ok(());
                }
            }
        }
        skip_batches = 0;
        bar.finish();
        let mut rng = epoch_rng(seed ^ 0xE7A1, e);
        let secs = t.elapsed().as_secs_f64();
        let tl = vae.evaluate(test.view(), 500, &mut rng)?;
        println!(
            "{e:>5} {:>12.3} {:>12.3} {:>10.3} {secs:>8.2}",
            l.per_row(),
            tl.per_row(),
            tl.kl / tl.n as f64
        );
        let epoch_cfg = {
            let mut c = run_cfg.clone();
            c["epoch"] = json!(e);
            c
        };
        if let Some(p) = &a.save {
            checkpoint::save(p, &vae, &epoch_cfg)?;
        }
        if let Some(dir) = &run_dir {
            // Metrics first, then the checkpoint: a kill in between leaves a row that the
            // resumed run drops and writes again (identically).
            let p = dir.join("metrics.csv");
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&p)
                .map_err(|e| Error::io(&p, e))?;
            let n = |x: f64, l: &VaeLoss| x / l.n.max(1) as f64;
            writeln!(
                f,
                "{e},{secs:.3},{:.1},{lr_e},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}",
                start.elapsed().as_secs_f64(),
                l.per_row(),
                n(l.recon, &l),
                n(l.kl, &l),
                tl.per_row(),
                n(tl.recon, &tl),
                n(tl.kl, &tl)
            )
            .map_err(|err| Error::io(&p, err))?;
            drop(f);
            let pj = dir.join("metrics.jsonl");
            let mut fj = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&pj)
                .map_err(|e| Error::io(&pj, e))?;
            writeln!(
                fj,
                "{}",
                json!({"epoch": e, "step": e * n_batches, "seconds": secs,
                       "wall_seconds": start.elapsed().as_secs_f64(), "lr": lr_e,
                       "train_loss": l.per_row(), "train_recon": n(l.recon, &l), "train_kl": n(l.kl, &l),
                       "test_loss": tl.per_row(), "test_recon": n(tl.recon, &tl), "test_kl": n(tl.kl, &tl),
                       "unit": "nats per image"})
            )
            .map_err(|err| Error::io(&pj, err))?;
            drop(fj);
            save_pair(dir, &vae, opt.as_ref(), &epoch_cfg, e * n_batches)?;
            keep_checkpoints(dir, &vae, &epoch_cfg, e, tl.per_row(), a.keep)?;
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst)
            || a.stop_after_batches == Some(e * n_batches)
        {
            println!("interrupted at the end of epoch {e}: checkpoint written");
            return Ok(());
        }
        if let Some(m) = a.minutes
            && start.elapsed().as_secs_f64() >= m * 60.0
        {
            println!(
                "stopped after epoch {e}: the budget of {m} minutes is spent ({:.1} min)",
                start.elapsed().as_secs_f64() / 60.0
            );
            break;
        }
    }
    if let Some(dir) = &run_dir {
        super::vae_figures::write(
            dir,
            &mut vae,
            &data.test,
            &data.test_labels,
            &data.train,
            &data.train_labels,
            seed,
        )?;
        println!("run folder: {}", dir.display());
        println!("report: {}", ebm::report::write_report(dir)?.display());
    }
    if let Some(p) = &a.save {
        println!("checkpoint: {}", p.display());
    }
    Ok(())
}

pub fn eval(a: &EvalVaeArgs, seed: u64) -> Result<()> {
    let ckpt = if a.checkpoint.is_dir() {
        model_path(&a.checkpoint)
    } else {
        a.checkpoint.clone()
    };
    // The JSON beside the tensors (what a user may edit), else the copy in the metadata.
    let cfg_path = checkpoint::config_path(&ckpt);
    let (run, cfg_src) = if cfg_path.exists() {
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(&cfg_path, format!("not JSON: {e}")))?;
        (v, cfg_path)
    } else {
        (checkpoint::read_config(&ckpt)?, ckpt.clone())
    };
    let cfg: VaeConfig = serde_json::from_value(run["vae"].clone())
        .map_err(|e| Error::format(&cfg_src, format!("field `vae`: {e}")))?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut vae = Vae::new(cfg, &mut rng)?;
    checkpoint::load(&ckpt, &mut vae)?;
    let data_seed = run["seed"].as_u64().unwrap_or(seed);
    let data = load(&a.data, data_seed)?;
    if data.test.ncols() != vae.config.input_dim {
        return Err(Error::Shape {
            what: format!(
                "test data ({}) for the checkpoint {}",
                data.what,
                ckpt.display()
            ),
            expected: vec![vae.config.input_dim],
            found: vec![data.test.ncols()],
        });
    }
    let binarized = run["binarize"].as_bool().unwrap_or(false);
    let mut test = if binarized {
        binarize_fixed(&data.test)
    } else {
        data.test.clone()
    };
    if let Some(n) = a.images {
        if n == 0 {
            return Err(Error::invalid("--images", "must be at least 1"));
        }
        test = test.slice(s![..n.min(test.nrows()), ..]).to_owned();
    }
    let protocol = if binarized {
        format!("binarized once with seed {TEST_BINARIZATION_SEED}")
    } else {
        "pixels in [0, 1], not binarized: a bound on a Bernoulli 'likelihood' of grey pixels, not a true NLL".into()
    };
    // The training loss on the test set (one z per image, with k = 1 the free energy).
    let l = vae.evaluate(test.view(), 500, &mut rng)?;
    println!(
        "test loss {:.3} nats/image (reconstruction {:.3}, KL {:.3}) on {} images of {}",
        l.per_row(),
        l.recon / l.n as f64,
        l.kl / l.n as f64,
        l.n,
        data.what
    );
    let t = Instant::now();
    let bar = ebm::progress::Progress::new(test.nrows() as u64, &format!("L_{}", a.iwae_k));
    let b = log_likelihood_bound_with(&mut vae, test.view(), a.iwae_k, seed, Some(&bar))?;
    bar.finish();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "test NLL estimate -L_k (k = {}) {:.3} +- {:.3} nats/image (standard error) over {} images of {} ({protocol}); {secs:.1} s on {} threads",
        a.iwae_k,
        b.nll(),
        b.std_error(),
        test.nrows(),
        data.what,
        ebm::threads::threads()
    );
    println!(
        "{}",
        json!({"metric": "iwae_nll", "k": a.iwae_k, "nll": b.nll(), "se": b.std_error(),
               "images": test.nrows(), "seconds": secs, "threads": ebm::threads::threads()})
    );
    if a.latent_steps > 0 {
        let out = a.out.clone().unwrap_or_else(|| {
            ckpt.parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        });
        std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        zero_temperature_table(&mut vae, &test, a.latent_steps, seed, &out)?;
    }
    Ok(())
}

/// The lecture's comparison on (at most 1,000) test images: the encoder's code, the
/// zero-temperature free energy `min_z E(y, z)`, the variational free energy and `-L_k`.
fn zero_temperature_table(
    vae: &mut Vae,
    test: &Array2<f32>,
    steps: usize,
    seed: u64,
    out: &Path,
) -> Result<()> {
    let y = test.slice(s![..test.nrows().min(1000), ..]); // [n, D]
    let (mu, _) = vae.encode(y)?;
    // The variational free energy row is the VAE's (k = 1), whatever the training k.
    let k_train = vae.config.iwae_k;
    vae.config.iwae_k = 1;
    let e_mu = vae.decoder_energy(y, mu.view(), None)?;
    let inf = infer_latent(vae, y, mu.view(), steps)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut elbo = ebm::models::vae::VaeLoss::default();
    let mut recon = 0.0;
    for _ in 0..10 {
        let l = vae.evaluate(y, 500, &mut rng)?;
        recon += l.recon / 10.0;
        elbo.kl = l.kl;
        elbo.n = l.n;
    }
    vae.config.iwae_k = k_train;
    let n = y.nrows() as f64;
    let l50 = log_likelihood_bound(vae, y, 50, seed)?;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "zero-temperature inference on {} test images ({steps} gradient steps on z from the encoder's mean), nats/image:",
        y.nrows()
    );
    println!(
        "  E(y, Enc(y))              {:>10.3}   decoder energy at the amortized code",
        mean(&e_mu)
    );
    println!(
        "  min_z E(y, z)             {:>10.3}   zero-temperature free energy F_inf",
        mean(&inf.end)
    );
    println!(
        "  <E(y, z)>_q               {:>10.3}   expected energy under q (10 draws)",
        recon / n
    );
    println!(
        "  <E>_q + KL(q || p)        {:>10.3}   variational free energy (beta = 1)",
        recon / n + elbo.kl / n
    );
    println!(
        "  -L_50                     {:>10.3}   importance-weighted bound on -log p(y)",
        l50.nll()
    );
    let moved = inf
        .z
        .axis_iter(Axis(0))
        .zip(mu.axis_iter(Axis(0)))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .sum::<f64>()
        / n;
    println!("  mean |z* - Enc(y)|        {moved:>10.3}");
    // Picture: inputs, Dec(Enc(y)), Dec(z*) for 10 images, one row each.
    let m = y.nrows().min(10);
    let d = vae.config.input_dim;
    let px = (d as f64).sqrt().round() as usize;
    if px * px == d {
        let a = vae.decode(mu.slice(s![..m, ..]));
        let b = vae.decode(inf.z.slice(s![..m, ..]));
        let mut grid = Array2::<f32>::zeros((3 * m, d)); // [3m, D]
        grid.slice_mut(s![..m, ..]).assign(&y.slice(s![..m, ..]));
        grid.slice_mut(s![m..2 * m, ..]).assign(&a);
        grid.slice_mut(s![2 * m.., ..]).assign(&b);
        let p = out.join("latent_inference.png");
        ebm::plot::image_grid(
            &p,
            "rows: test inputs y; Dec(Enc(y)) (amortized code); Dec(z*), z* = argmin_z E(y, z)",
            grid.view(),
            px,
            px,
            m,
            ebm::plot::TileScale::Unit,
        )?;
        println!("picture: {}", p.display());
    }
    Ok(())
}
