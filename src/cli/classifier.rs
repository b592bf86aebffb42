//! `ebm train classifier` and `ebm eval classifier`: a conditional energy `E(x, y)` over
//! the 10 digit classes, trained by exact maximum likelihood (the Gibbs NLL, whose
//! partition function is a sum over the classes), on MNIST (a directory of IDX files)
//! or, without `--data`, on the embedded UCI digits. Pixels are scaled to [0, 1].

use clap::Args;
use ebm::data::digits::Digits;
use ebm::data::idx::Mnist;
use ebm::models::conditional::{ConditionalConfig, ConditionalEbm};
use ebm::nn::optim::OptimConfig;
use ebm::{Error, Result};
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Images held out of the embedded digits for testing.
const DIGITS_TEST: usize = 300;

#[derive(Args, Debug)]
pub struct TrainClassifierArgs {
    /// MNIST directory (IDX files, gzip or not); without it, the embedded UCI digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Hidden widths of the MLP, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,512")]
    pub hidden: Vec<usize>,
    /// Inverse temperature of `P(y|x) ~ exp(-beta E(x, y))`.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f32,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Multiply the learning rate by this after every epoch.
    #[arg(long, default_value_t = 1.0)]
    pub lr_decay: f32,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Checkpoint written (atomically) after every epoch: safetensors + JSON config.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvalClassifierArgs {
    /// A checkpoint written by `ebm train classifier --save`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// MNIST directory; without it, the embedded digits' held-out split.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Images and labels of one split.
struct Split {
    x: Array2<f32>,
    y: Vec<u8>,
}

/// (train, test, description) for `data`, or the embedded digits split with `seed`.
fn load(data: &Option<PathBuf>, seed: u64) -> Result<(Split, Split, String)> {
    match data {
        Some(d) => {
            let m = Mnist::load(d)?;
            Ok((
                Split {
                    x: m.train_images,
                    y: m.train_labels,
                },
                Split {
                    x: m.test_images,
                    y: m.test_labels,
                },
                format!("MNIST at {}", d.display()),
            ))
        }
        None => {
            let (tr, te) = Digits::embedded().split(DIGITS_TEST, seed);
            Ok((
                Split {
                    x: tr.images,
                    y: tr.labels,
                },
                Split {
                    x: te.images,
                    y: te.labels,
                },
                "embedded UCI digits".into(),
            ))
        }
    }
}

pub fn train(a: &TrainClassifierArgs, seed: u64) -> Result<()> {
    if a.epochs == 0 || a.batch == 0 {
        return Err(Error::invalid("--epochs/--batch", "must be at least 1"));
    }
    if !(a.lr.is_finite() && a.lr > 0.0) {
        return Err(Error::invalid("--lr", format!("{} is not > 0", a.lr)));
    }
    if !(a.lr_decay.is_finite() && a.lr_decay > 0.0) {
        return Err(Error::invalid(
            "--lr-decay",
            format!("{} is not > 0", a.lr_decay),
        ));
    }
    let (train, test, what) = load(&a.data, seed)?;
    let cfg = ConditionalConfig {
        beta: a.beta,
        ..ConditionalConfig::mlp(train.x.ncols(), &a.hidden, 10)
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut model = ConditionalEbm::new(cfg.clone(), &mut rng)?;
    let opt_cfg = OptimConfig::adam(a.lr);
    let mut opt = opt_cfg.build();
    let run = |epoch: usize| {
        json!({"optimizer": opt_cfg, "lr_decay": a.lr_decay, "batch": a.batch,
               "epoch": epoch, "seed": seed, "data": what})
    };
    eprintln!(
        "config: {}",
        json!({"model": "conditional_ebm", "conditional": cfg, "run": run(0)})
    );
    println!(
        "{:>5} {:>10} {:>10} {:>9} {:>8}",
        "epoch", "train nll", "test nll", "test acc", "seconds"
    );
    let start = Instant::now();
    for e in 1..=a.epochs {
        let t = Instant::now();
        let tl = match model.train_epoch(train.x.view(), &train.y, a.batch, &mut rng, opt.as_mut())
        {
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
        let (acc, nll) = model.evaluate(test.x.view(), &test.y)?;
        println!(
            "{e:>5} {tl:>10.4} {nll:>10.4} {:>8.2}% {secs:>8.2}",
            100.0 * acc
        );
        if let Some(p) = &a.save {
            model.save(p, &run(e))?;
        }
        opt.set_lr(opt.lr() * a.lr_decay);
    }
    println!(
        "total {:.1} s; NLL in nats per test example",
        start.elapsed().as_secs_f64()
    );
    if let Some(p) = &a.save {
        println!("checkpoint: {}", p.display());
    }
    Ok(())
}

pub fn eval(a: &EvalClassifierArgs, seed: u64) -> Result<()> {
    let (mut model, run) = ConditionalEbm::load(&a.checkpoint)?;
    let data_seed = run["seed"].as_u64().unwrap_or(seed);
    let (_, test, what) = load(&a.data, data_seed)?;
    if test.x.ncols() != model.config.in_dim {
        return Err(Error::Shape {
            what: format!(
                "test data ({what}) for the checkpoint {}",
                a.checkpoint.display()
            ),
            expected: vec![model.config.in_dim],
            found: vec![test.x.ncols()],
        });
    }
    let (acc, nll) = model.evaluate(test.x.view(), &test.y)?;
    println!(
        "test accuracy {:.2}%, NLL {nll:.4} nats/example (beta {}) on {} images of {what}",
        100.0 * acc,
        model.beta(),
        test.y.len()
    );
    Ok(())
}
