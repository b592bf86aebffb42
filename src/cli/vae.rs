//! `ebm train vae` and `ebm eval vae`: the VAE as variational free energy on MNIST (a
//! directory of IDX files) or, without `--data`, on the embedded UCI digits.
//!
//! Expected: on MNIST with the defaults, test loss about 127 nats/image after epoch 1
//! and about 106 after 10 epochs (pixels in [0, 1], not binarized, one z sample).

use clap::Args;
use ebm::data::digits::Digits;
use ebm::data::idx::Mnist;
use ebm::models::vae::{Vae, VaeConfig};
use ebm::nn::checkpoint;
use ebm::nn::optim::OptimConfig;
use ebm::{Error, Result};
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct TrainVaeArgs {
    /// MNIST directory (IDX files, gzip or not); without it, the embedded UCI digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Learning rate (lower it if the loss diverges).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Optimizer: adam, adamw or sgd (momentum 0.9, Nesterov).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    pub clip: Option<f64>,
    /// Hidden widths of the encoder, comma-separated (the decoder mirrors them).
    #[arg(long, value_delimiter = ',', default_value = "400")]
    pub hidden: Vec<usize>,
    #[arg(long, default_value_t = 20)]
    pub latent: usize,
    /// Weight of the KL term, 1/beta.
    #[arg(long, default_value_t = 1.0)]
    pub kl_weight: f32,
    /// Checkpoint written (atomically) after every epoch: safetensors + JSON config.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvalVaeArgs {
    /// A checkpoint written by `ebm train vae --save`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// MNIST directory; without it, the embedded digits' held-out split.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// (train, test) images for `data`, or the embedded digits split with `seed`.
fn load(data: &Option<PathBuf>, seed: u64) -> Result<(Array2<f32>, Array2<f32>, String)> {
    match data {
        Some(d) => {
            let m = Mnist::load(d)?;
            Ok((
                m.train_images,
                m.test_images,
                format!("MNIST at {}", d.display()),
            ))
        }
        None => {
            let (tr, te) = Digits::embedded().split(300, seed);
            Ok((tr.images, te.images, "embedded UCI digits".into()))
        }
    }
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

pub fn train(a: &TrainVaeArgs, seed: u64) -> Result<()> {
    if a.epochs == 0 || a.batch == 0 {
        return Err(Error::invalid("--epochs/--batch", "must be at least 1"));
    }
    let opt_cfg = optimizer(a)?;
    let (train, test, what) = load(&a.data, seed)?;
    let cfg = VaeConfig {
        input_dim: train.ncols(),
        hidden: a.hidden.clone(),
        latent: a.latent,
        kl_weight: a.kl_weight,
        ..VaeConfig::pytorch_mnist()
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut vae = Vae::new(cfg.clone(), &mut rng)?;
    vae.clip_norm = a.clip;
    let mut opt = opt_cfg.build();
    let run_cfg = |epoch: usize| {
        json!({"model": "vae", "vae": cfg, "optimizer": opt_cfg, "batch": a.batch,
               "epoch": epoch, "seed": seed, "data": what})
    };
    eprintln!("config: {}", run_cfg(0));
    println!(
        "{:>5} {:>12} {:>12} {:>8}",
        "epoch", "train loss", "test loss", "seconds"
    );
    for e in 1..=a.epochs {
        let t = Instant::now();
        let l = vae.train_epoch(train.view(), a.batch, &mut rng, opt.as_mut());
        let l = match l {
            Ok(l) => l,
            Err(err @ Error::Diverged(_)) => {
                if let Some(p) = &a.save {
                    eprintln!("stopping; the last good checkpoint is {}", p.display());
                }
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        let secs = t.elapsed().as_secs_f64();
        let tl = vae.evaluate(test.view(), a.batch, &mut rng)?;
        println!(
            "{e:>5} {:>12.3} {:>12.3} {secs:>8.2}",
            l.per_row(),
            tl.per_row()
        );
        if let Some(p) = &a.save {
            checkpoint::save(p, &vae, &run_cfg(e))?;
        }
    }
    if let Some(p) = &a.save {
        println!("checkpoint: {}", p.display());
    }
    Ok(())
}

pub fn eval(a: &EvalVaeArgs, seed: u64) -> Result<()> {
    let cfg_path = checkpoint::config_path(&a.checkpoint);
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
    let run: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(&cfg_path, format!("not JSON: {e}")))?;
    let cfg: VaeConfig = serde_json::from_value(run["vae"].clone())
        .map_err(|e| Error::format(&cfg_path, format!("field `vae`: {e}")))?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut vae = Vae::new(cfg, &mut rng)?;
    checkpoint::load(&a.checkpoint, &mut vae)?;
    let data_seed = run["seed"].as_u64().unwrap_or(seed);
    let (_, test, what) = load(&a.data, data_seed)?;
    if test.ncols() != vae.config.input_dim {
        return Err(Error::Shape {
            what: format!(
                "test data ({what}) for the checkpoint {}",
                a.checkpoint.display()
            ),
            expected: vec![vae.config.input_dim],
            found: vec![test.ncols()],
        });
    }
    let l = vae.evaluate(test.view(), 128, &mut rng)?;
    println!(
        "test loss {:.3} nats/image (reconstruction {:.3}, KL {:.3}) on {} images of {what}",
        l.per_row(),
        l.recon / l.n as f64,
        l.kl / l.n as f64,
        l.n
    );
    Ok(())
}
