//! The run folder's pictures of a trained VAE, and `ebm fuzzy-balls`: the lecture's
//! picture of the codes `q(z|y) = N(mu, diag sigma^2)` as balls in a 2-D latent space,
//! with and without the KL term.
//!
//! Expected (`ebm fuzzy-balls`, embedded digits, seed 0): with the KL weight at 0 the
//! balls shrink (mean sigma well below 0.1) and spread far from the origin; at weight 1
//! they gather within a few units of the origin with sigma of order 0.1-1.

use clap::Args;
use ebm::models::vae::{Vae, VaeConfig};
use ebm::nn::optim::OptimConfig;
use ebm::plot::{CodePanel, TileScale, code_scatter, image_grid};
use ebm::{Error, Result};
use ndarray::{Array2, Axis, s};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::{Path, PathBuf};

/// Side of a square image of `d` pixels (28 for MNIST, 8 for the digits).
fn side(d: usize) -> Result<usize> {
    let s = (d as f64).sqrt().round() as usize;
    if s * s != d {
        return Err(Error::invalid(
            "vae figures",
            format!("{d} pixels is not a square image"),
        ));
    }
    Ok(s)
}

/// Write `recon.png` (inputs above reconstructions), `samples.png` (from the prior),
/// `traversal.png` (a grid over the two most active latent directions) and, for a 2-D
/// latent, `codes.png` (means and one-sigma balls colored by label) into `dir`.
pub fn write(
    dir: &Path,
    vae: &mut Vae,
    test: &Array2<f32>,
    test_labels: &[u8],
    _train: &Array2<f32>,
    _train_labels: &[u8],
    seed: u64,
) -> Result<()> {
    let d = vae.config.input_dim;
    let l = vae.config.latent;
    let px = side(d)?;
    let n = test.nrows().min(2000);
    let y = test.slice(s![..n, ..]); // [n, D]
    let (mu, lv) = vae.encode(y)?; // [n, L] each
    // Reconstructions: rows of 10 inputs, then their decoded means.
    let m = 20.min(n);
    let rec = vae.decode(mu.slice(s![..m, ..])); // [m, D]
    let mut grid = Array2::<f32>::zeros((2 * m, d)); // [2m, D]
    for r in 0..m {
        let (blk, j) = (r / 10, r % 10);
        grid.row_mut(blk * 20 + j).assign(&y.row(r));
        grid.row_mut(blk * 20 + 10 + j).assign(&rec.row(r));
    }
    image_grid(
        &dir.join("recon.png"),
        "test inputs (odd rows) and reconstructions Dec(mu(y)) (even rows)",
        grid.view(),
        px,
        px,
        10,
        TileScale::Unit,
    )?;
    // Samples from the prior.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let z = Array2::from_shape_fn((64, l), |_| StandardNormal.sample(&mut rng)); // [64, L]
    let smp = vae.decode(z.view());
    image_grid(
        &dir.join("samples.png"),
        "decoder means at z ~ N(0, I)",
        smp.view(),
        px,
        px,
        8,
        TileScale::Unit,
    )?;
    // The two most active directions: largest mean KL per dimension over the test codes.
    let mut kl: Vec<(f64, usize)> = (0..l)
        .map(|c| {
            let k = mu
                .column(c)
                .iter()
                .zip(lv.column(c))
                .map(|(&m, &v)| 0.5 * ((m * m) as f64 + (v as f64).exp() - 1.0 - v as f64))
                .sum::<f64>()
                / n as f64;
            (k, c)
        })
        .collect();
    kl.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (c0, c1) = (kl[0].1, kl.get(1).map_or(kl[0].1, |k| k.1));
    let g = 12;
    let mut zt = Array2::<f32>::zeros((g * g, l)); // [144, L]
    for i in 0..g {
        for j in 0..g {
            let (a, b) = (
                -2.5 + 5.0 * j as f32 / (g - 1) as f32,
                2.5 - 5.0 * i as f32 / (g - 1) as f32,
            );
            zt[[i * g + j, c0]] = a;
            if c1 != c0 {
                zt[[i * g + j, c1]] = b;
            }
        }
    }
    let tr = vae.decode(zt.view());
    image_grid(
        &dir.join("traversal.png"),
        &format!(
            "latent traversal: z[{c0}] from -2.5 to 2.5 (left to right), z[{c1}] from 2.5 to -2.5 (top to bottom), other coordinates 0"
        ),
        tr.view(),
        px,
        px,
        g,
        TileScale::Unit,
    )?;
    if l == 2 {
        let (centres, sds) = codes(&mu, &lv);
        let labels = &test_labels[..n];
        code_scatter(
            &dir.join("codes.png"),
            &[
                CodePanel {
                    title: "code vectors mu(y) of test digits",
                    mu: &centres,
                    sd: None,
                    labels,
                },
                CodePanel {
                    title: "fuzzy balls: mu(y) +- sigma(y)",
                    mu: &centres,
                    sd: Some(&sds),
                    labels,
                },
            ],
        )?;
    }
    Ok(())
}

fn codes(mu: &Array2<f32>, lv: &Array2<f32>) -> (Vec<[f64; 2]>, Vec<[f64; 2]>) {
    let c = mu
        .axis_iter(Axis(0))
        .map(|r| [r[0] as f64, r[1] as f64])
        .collect();
    let s = lv
        .axis_iter(Axis(0))
        .map(|r| [(0.5 * r[0] as f64).exp(), (0.5 * r[1] as f64).exp()])
        .collect();
    (c, s)
}

#[derive(Args, Debug)]
pub struct FuzzyBallsArgs {
    /// MNIST directory; without it, the embedded UCI digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// The two KL weights (1/beta) compared side by side.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    pub kl_weights: Vec<f32>,
    /// Points drawn per panel (test images).
    #[arg(long, default_value_t = 500)]
    pub points: usize,
    /// Output folder (fuzzy_balls.png, fuzzy_balls.csv).
    #[arg(long, default_value = "runs/fuzzy-balls")]
    pub out: PathBuf,
}

/// Train one 2-D-latent VAE per KL weight (same seed, data and schedule) and draw their
/// test codes as balls side by side; print the mean radius and spread of each.
pub fn fuzzy_balls(a: &FuzzyBallsArgs, seed: u64) -> Result<()> {
    if a.kl_weights.is_empty() || a.epochs == 0 || a.points == 0 {
        return Err(Error::invalid(
            "--kl-weights/--epochs/--points",
            "need at least one weight, one epoch and one point",
        ));
    }
    let (train, test, labels, what) = match &a.data {
        Some(dd) => {
            let m = ebm::data::idx::Mnist::load(dd)?;
            (
                m.train_images,
                m.test_images,
                m.test_labels,
                format!("MNIST at {}", dd.display()),
            )
        }
        None => {
            let (tr, te) = ebm::data::digits::Digits::embedded().split(300, seed);
            (
                tr.images,
                te.images,
                te.labels,
                "embedded UCI digits".to_string(),
            )
        }
    };
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let n = a.points.min(test.nrows());
    let y = test.slice(s![..n, ..]);
    // (title, centres, radii) per KL weight.
    type Panel = (String, Vec<[f64; 2]>, Vec<[f64; 2]>);
    let mut panels: Vec<Panel> = Vec::new();
    let mut csv = String::from("kl_weight,test_loss,recon,kl,mean_sigma,mean_abs_mu\n");
    println!(
        "fuzzy balls: 2-D latent VAEs on {what}, {} epochs, seed {seed}",
        a.epochs
    );
    println!(
        "{:>10} {:>10} {:>10} {:>8} {:>11} {:>12}",
        "kl weight", "test loss", "recon", "KL", "mean sigma", "mean |mu|"
    );
    for &w in &a.kl_weights {
        let cfg = VaeConfig {
            input_dim: train.ncols(),
            hidden: vec![256],
            latent: 2,
            kl_weight: w,
            ..VaeConfig::pytorch_mnist()
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut vae = Vae::new(cfg, &mut rng)?;
        let mut opt = OptimConfig::adam(1e-3).build();
        for _ in 0..a.epochs {
            vae.train_epoch(train.view(), 64, &mut rng, opt.as_mut())?;
        }
        let tl = vae.evaluate(y, 500, &mut rng)?;
        let (mu, lv) = vae.encode(y)?;
        let (c, sd) = codes(&mu, &lv);
        let ms = sd.iter().map(|s| 0.5 * (s[0] + s[1])).sum::<f64>() / n as f64;
        let mm = c
            .iter()
            .map(|m| (m[0] * m[0] + m[1] * m[1]).sqrt())
            .sum::<f64>()
            / n as f64;
        let (rc, k) = (tl.recon / tl.n as f64, tl.kl / tl.n as f64);
        println!(
            "{w:>10} {:>10.3} {rc:>10.3} {k:>8.3} {ms:>11.4} {mm:>12.3}",
            tl.per_row()
        );
        csv.push_str(&format!(
            "{w},{:.4},{rc:.4},{k:.4},{ms:.5},{mm:.4}\n",
            tl.per_row()
        ));
        panels.push((format!("KL weight {w} (1/beta): mean sigma {ms:.3}"), c, sd));
    }
    let labels = &labels[..n];
    let cp: Vec<CodePanel> = panels
        .iter()
        .map(|(t, c, sd)| CodePanel {
            title: t,
            mu: c,
            sd: Some(sd),
            labels,
        })
        .collect();
    let png = a.out.join("fuzzy_balls.png");
    code_scatter(&png, &cp)?;
    ebm::io::write_atomic(&a.out.join("fuzzy_balls.csv"), csv.as_bytes())?;
    println!("picture: {}", png.display());
    Ok(())
}
