//! Figures of trained models, written as PNG files (through [`crate::plot`]):
//!
//! - a VAE's run folder ([`vae_run_figures`]): `recon.png` (test inputs above their
//!   reconstructions `Dec(mu(y))`), `samples.png` (decoder means at `z ~ N(0, I)`),
//!   `traversal.png` (a grid over the two most active latent directions) and, for a 2-D
//!   latent, `codes.png` (the codes `q(z|y) = N(mu, diag sigma^2)` as means and as
//!   one-sigma "fuzzy balls", colored by label);
//! - the lecture's fuzzy balls ([`fuzzy_balls`]): one 2-D-latent VAE per KL weight (same
//!   seed, data and schedule), their test codes as balls side by side. Without the KL
//!   term the balls shrink (mean sigma well below 0.1) and spread far from the origin;
//!   with weight 1 they gather within a few units of the origin with sigma of order
//!   0.1-1;
//! - a Gibbs distribution `P_beta(y) = exp(-beta E(y) - log Z_beta)` of a 1-D or 2-D
//!   energy ([`gibbs_density`]): a curve or a heatmap over the part of a box that holds
//!   its mass;
//! - an RBM's run folder ([`rbm_run_figures`]): `filters.png` and `samples.png`;
//! - a toy EBM's run folder ([`toy_run_figures`]): density, energy, samples over the
//!   data, and the curves.

use crate::data::images::ImageSet;
use crate::energy::Energy;
use crate::models::vae::{Vae, VaeConfig};
use crate::nn::optim::OptimConfig;
use crate::plot::{CodePanel, TileScale, code_scatter, image_grid};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis, s};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::{Path, PathBuf};

/// Side of a square image of `d` pixels (28 for MNIST, 8 for the digits).
pub fn image_side(d: usize) -> Result<usize> {
    let s = (d as f64).sqrt().round() as usize;
    if s * s != d {
        return Err(Error::invalid(
            "figures",
            format!("{d} pixels is not a square image"),
        ));
    }
    Ok(s)
}

/// Write `recon.png`, `samples.png`, `traversal.png` and, for a 2-D latent, `codes.png`
/// into `dir`, from the first 2,000 rows of `test` (`[n, D]`, square images) and their
/// labels; the prior's samples are drawn with `seed`.
pub fn vae_run_figures(
    dir: &Path,
    vae: &mut Vae,
    test: ArrayView2<f32>,
    test_labels: &[u8],
    seed: u64,
) -> Result<()> {
    let px = image_side(vae.config.input_dim)?;
    let n = test.nrows().min(2000);
    let y = test.slice(s![..n, ..]); // [n, D]
    let (mu, lv) = vae.encode(y)?; // [n, L] each
    recon_figure(&dir.join("recon.png"), vae, y, mu.view(), px)?;
    samples_figure(&dir.join("samples.png"), vae, px, seed)?;
    traversal_figure(&dir.join("traversal.png"), vae, mu.view(), lv.view(), px)?;
    if vae.config.latent == 2 {
        let (centres, sds) = code_balls(mu.view(), lv.view());
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

/// Rows of 10 inputs, each followed by their decoded means `Dec(mu(y))` (20 images).
fn recon_figure(
    path: &Path,
    vae: &mut Vae,
    y: ArrayView2<f32>,
    mu: ArrayView2<f32>,
    px: usize,
) -> Result<()> {
    let m = 20.min(y.nrows());
    let rec = vae.decode(mu.slice(s![..m, ..])); // [m, D]
    let mut grid = Array2::<f32>::zeros((2 * m, y.ncols())); // [2m, D]
    for r in 0..m {
        let (blk, j) = (r / 10, r % 10);
        grid.row_mut(blk * 20 + j).assign(&y.row(r));
        grid.row_mut(blk * 20 + 10 + j).assign(&rec.row(r));
    }
    image_grid(
        path,
        "test inputs (odd rows) and reconstructions Dec(mu(y)) (even rows)",
        grid.view(),
        px,
        px,
        10,
        TileScale::Unit,
    )
}

/// Decoder means at 64 draws `z ~ N(0, I)` (Xoshiro256++ seeded with `seed`).
fn samples_figure(path: &Path, vae: &mut Vae, px: usize, seed: u64) -> Result<()> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let l = vae.config.latent;
    let z = Array2::from_shape_fn((64, l), |_| StandardNormal.sample(&mut rng)); // [64, L]
    let smp = vae.decode(z.view());
    image_grid(
        path,
        "decoder means at z ~ N(0, I)",
        smp.view(),
        px,
        px,
        8,
        TileScale::Unit,
    )
}

/// A 12 x 12 grid of decoder means over the two most active latent directions (largest
/// mean `KL(q || p)` per dimension over the codes `mu`, `lv`), from -2.5 to 2.5, the other
/// coordinates 0.
fn traversal_figure(
    path: &Path,
    vae: &mut Vae,
    mu: ArrayView2<f32>,
    lv: ArrayView2<f32>,
    px: usize,
) -> Result<()> {
    let (n, l) = mu.dim();
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
        path,
        &format!(
            "latent traversal: z[{c0}] from -2.5 to 2.5 (left to right), z[{c1}] from 2.5 to -2.5 (top to bottom), other coordinates 0"
        ),
        tr.view(),
        px,
        px,
        g,
        TileScale::Unit,
    )
}

/// Balls in a 2-D latent space: their centres and their radii per axis.
pub type Balls = (Vec<[f64; 2]>, Vec<[f64; 2]>);

/// The 2-D codes as balls: centres `mu` and radii `sigma = exp(lv / 2)` per row.
pub fn code_balls(mu: ArrayView2<f32>, lv: ArrayView2<f32>) -> Balls {
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

/// The settings of [`fuzzy_balls`].
#[derive(Clone, Debug)]
pub struct FuzzyBallsConfig {
    /// Training epochs of each VAE (batch 64, Adam at 1e-3).
    pub epochs: usize,
    /// The KL weights (1/beta) compared side by side, one VAE each.
    pub kl_weights: Vec<f32>,
    /// Test images drawn per panel.
    pub points: usize,
}

/// One VAE of [`fuzzy_balls`]: its test loss and the size and spread of its balls.
#[derive(Clone, Debug, PartialEq)]
pub struct FuzzyBallRow {
    pub kl_weight: f32,
    /// The training loss on the drawn test images (nats/image).
    pub test_loss: f64,
    /// `<E>_q` and `KL` per image.
    pub recon: f64,
    pub kl: f64,
    /// Mean over the images of the mean of the two sigmas.
    pub mean_sigma: f64,
    /// Mean distance `|mu|` of the centres from the origin.
    pub mean_abs_mu: f64,
}

/// What [`fuzzy_balls`] produced.
#[derive(Clone, Debug)]
pub struct FuzzyBalls {
    pub rows: Vec<FuzzyBallRow>,
    /// `fuzzy_balls.png`: one panel of balls per KL weight.
    pub picture: PathBuf,
    /// `fuzzy_balls.csv`: the rows.
    pub table: PathBuf,
}

/// Train one 2-D-latent VAE (`D-256-2`) per KL weight on `data.train`, all from `seed`,
/// and draw the codes of the first `cfg.points` test images as balls side by side into
/// `out/fuzzy_balls.png`, the numbers into `out/fuzzy_balls.csv`. `on_row` sees each
/// VAE's row as soon as it is trained.
pub fn fuzzy_balls(
    data: &ImageSet,
    cfg: &FuzzyBallsConfig,
    out: &Path,
    seed: u64,
    mut on_row: impl FnMut(&FuzzyBallRow),
) -> Result<FuzzyBalls> {
    let n = cfg.points.min(data.test.nrows());
    let y = data.test.slice(s![..n, ..]);
    // (title, centres, radii) per KL weight.
    type Panel = (String, Vec<[f64; 2]>, Vec<[f64; 2]>);
    let mut panels: Vec<Panel> = Vec::new();
    let mut rows = Vec::new();
    let mut csv = String::from("kl_weight,test_loss,recon,kl,mean_sigma,mean_abs_mu\n");
    for &w in &cfg.kl_weights {
        let (r, (c, sd)) = fuzzy_ball_panel(data.train.view(), y, w, cfg.epochs, seed)?;
        on_row(&r);
        csv.push_str(&format!(
            "{w},{:.4},{:.4},{:.4},{:.5},{:.4}\n",
            r.test_loss, r.recon, r.kl, r.mean_sigma, r.mean_abs_mu
        ));
        panels.push((
            format!("KL weight {w} (1/beta): mean sigma {:.3}", r.mean_sigma),
            c,
            sd,
        ));
        rows.push(r);
    }
    let labels = &data.test_labels[..n];
    let cp: Vec<CodePanel> = panels
        .iter()
        .map(|(t, c, sd)| CodePanel {
            title: t,
            mu: c,
            sd: Some(sd),
            labels,
        })
        .collect();
    let picture = out.join("fuzzy_balls.png");
    code_scatter(&picture, &cp)?;
    let table = out.join("fuzzy_balls.csv");
    crate::io::write_atomic(&table, csv.as_bytes())?;
    Ok(FuzzyBalls {
        rows,
        picture,
        table,
    })
}

/// One VAE of [`fuzzy_balls`], trained with KL weight `w`: its row and its balls on `y`.
fn fuzzy_ball_panel(
    train: ArrayView2<f32>,
    y: ArrayView2<f32>,
    w: f32,
    epochs: usize,
    seed: u64,
) -> Result<(FuzzyBallRow, Balls)> {
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
    for _ in 0..epochs {
        vae.train_epoch(train, 64, &mut rng, opt.as_mut())?;
    }
    let tl = vae.evaluate(y, 500, &mut rng)?;
    let (mu, lv) = vae.encode(y)?;
    let (c, sd) = code_balls(mu.view(), lv.view());
    let n = y.nrows() as f64;
    let mean_sigma = sd.iter().map(|s| 0.5 * (s[0] + s[1])).sum::<f64>() / n;
    let mean_abs_mu = c
        .iter()
        .map(|m| (m[0] * m[0] + m[1] * m[1]).sqrt())
        .sum::<f64>()
        / n;
    let row = FuzzyBallRow {
        kl_weight: w,
        test_loss: tl.per_row(),
        recon: tl.recon / tl.n as f64,
        kl: tl.kl / tl.n as f64,
        mean_sigma,
        mean_abs_mu,
    };
    Ok((row, (c, sd)))
}

/// `out/NAME_betaBETA.png`, the density `P_beta(y) = exp(-beta E(y) - log Z_beta)` of a
/// 1-D (a curve) or 2-D (a heatmap) energy, over the part of the box `[lo, hi]` where it
/// is above 1e-4 of its peak ([`mass_box`]).
pub fn gibbs_density(
    e: &dyn Energy,
    beta: f64,
    log_z: f64,
    lo: &[f64],
    hi: &[f64],
    out: &Path,
) -> Result<PathBuf> {
    let path = out.join(format!("{}_beta{}.png", e.name(), beta));
    let (lo, hi) = mass_box(e, beta, log_z, lo, hi);
    let (lo, hi) = (&lo[..], &hi[..]);
    let title = format!("P_beta(y), beta = {beta}, log Z = {log_z:.4}");
    if e.dim() == 1 {
        let n = 1000;
        let ys: Vec<f64> = (0..n)
            .map(|i| lo[0] + (i as f64 + 0.5) * (hi[0] - lo[0]) / n as f64)
            .collect();
        let y = Array2::from_shape_vec((n, 1), ys.clone()).expect("shape"); // [n, 1]
        let mut en = vec![0.0; n];
        e.energy(y.view(), &mut en);
        let p: Vec<f64> = en.iter().map(|v| (-beta * v - log_z).exp()).collect();
        crate::plot::line_plot(&path, &title, "y", "P_beta(y)", &ys, &p)?;
    } else {
        let n = 200;
        let at = |k: usize, i: usize| lo[k] + (i as f64 + 0.5) * (hi[k] - lo[k]) / n as f64;
        let y = Array2::from_shape_fn(
            (n * n, 2),
            |(r, k)| if k == 0 { at(0, r % n) } else { at(1, r / n) },
        ); // [n*n, 2]
        let mut en = vec![0.0; n * n];
        e.energy(y.view(), &mut en);
        let grid =
            Array2::from_shape_fn((n, n), |(iy, ix)| (-beta * en[iy * n + ix] - log_z).exp()); // [y2, y1]
        crate::plot::heatmap(
            &path,
            &title,
            "P_beta(y)",
            (lo[0], hi[0]),
            (lo[1], hi[1]),
            &grid,
        )?;
    }
    Ok(path)
}

/// The part of the box `[lo, hi]` where the density is above 1e-4 of its peak (on a
/// 200-point grid per axis), padded by 10%: the picture shows the mass, not the empty
/// tails that a quadrature needed.
pub fn mass_box(
    e: &dyn Energy,
    beta: f64,
    log_z: f64,
    lo: &[f64],
    hi: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let d = e.dim();
    let n = 200usize;
    let cells = n.pow(d as u32);
    let at = |k: usize, i: usize| lo[k] + (i as f64 + 0.5) * (hi[k] - lo[k]) / n as f64;
    let y = Array2::from_shape_fn((cells, d), |(r, k)| at(k, (r / n.pow(k as u32)) % n));
    let mut en = vec![0.0; cells];
    e.energy(y.view(), &mut en);
    let p: Vec<f64> = en.iter().map(|v| (-beta * v - log_z).exp()).collect();
    let peak = p.iter().cloned().fold(0.0, f64::max);
    let (mut a, mut b) = (vec![n; d], vec![0usize; d]);
    for (r, &v) in p.iter().enumerate() {
        if v >= 1e-4 * peak {
            for k in 0..d {
                let i = (r / n.pow(k as u32)) % n;
                a[k] = a[k].min(i);
                b[k] = b[k].max(i);
            }
        }
    }
    let (mut l2, mut h2) = (lo.to_vec(), hi.to_vec());
    for k in 0..d {
        if a[k] <= b[k] {
            let (x0, x1) = (at(k, a[k]), at(k, b[k]));
            let pad = 0.1 * (x1 - x0).max((hi[k] - lo[k]) / n as f64);
            l2[k] = (x0 - pad).max(lo[k]);
            h2[k] = (x1 + pad).min(hi[k]);
        }
    }
    (l2, h2)
}

/// Chains drawn in an RBM's samples.png.
const RBM_SAMPLE_CHAINS: usize = 100;

/// An RBM's run-folder figures into `dir`: `filters.png` (the first 100 columns of `W`
/// as square tiles) and `samples.png` (`p(v | h)` after `sweeps` Gibbs sweeps of 100
/// chains, from the PCD particles `chains` or from random rows of `test`), drawn with
/// `seed`.
pub fn rbm_run_figures(
    dir: &Path,
    rbm: &crate::models::rbm::Rbm,
    chains: Option<ArrayView2<f32>>,
    test: &Array2<f32>,
    sweeps: usize,
    seed: u64,
) -> Result<()> {
    use rand::Rng;
    let side = image_side(rbm.visible())?;
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
    let (start, from) = match chains {
        Some(p) => (
            Array2::from_shape_fn((RBM_SAMPLE_CHAINS, p.ncols()), |(r, i)| {
                p[[r % p.nrows(), i]]
            }),
            "the PCD particles",
        ),
        None => {
            let rows: Vec<usize> = (0..RBM_SAMPLE_CHAINS)
                .map(|_| rng.gen_range(0..test.nrows()))
                .collect();
            (test.select(ndarray::Axis(0), &rows), "random test images")
        }
    };
    let pv = crate::models::rbm::gibbs_chains(rbm, start.view(), sweeps, rng.r#gen())?;
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

/// A toy run's figures into `out`: `density.png` (`exp(-E)/Z` on a 200x200 grid over
/// the data's box), `energy.png`, `samples.png` (2,000 data points and 2,000 model
/// samples after `sample_steps` transitions of the run's kernel from uniform noise) and
/// the curves `test_nll.png`, `loss.png`, `kl.png` (from two evaluation points on).
pub fn toy_run_figures(
    out: &Path,
    data: &crate::toy::ToyData,
    r: &mut crate::toy_ebm::ToyRun,
    sample_steps: usize,
) -> Result<()> {
    let bounds = data.support_box();
    let (dens, _) = crate::exact2d::density_grid(r.trainer.model(), 1.0, bounds, 200)?;
    let xr = (bounds.0[0], bounds.1[0]);
    let yr = (bounds.0[1], bounds.1[1]);
    crate::plot::heatmap(
        &out.join("density.png"),
        &format!("{}: exp(-E)/Z, beta 1", data.name()),
        "density exp(-E(y))/Z",
        xr,
        yr,
        &dens,
    )?;
    let g = crate::exact2d::neg_energy_grid(r.trainer.model(), 1.0, bounds, 200)?;
    crate::plot::heatmap(
        &out.join("energy.png"),
        &format!("{}: energy E(y)", data.name()),
        "-E(y) (higher is likelier)",
        xr,
        yr,
        &g.mapv(|v| -v),
    )?;
    let samples = r.trainer.sample(2000, sample_steps)?;
    let shown = data.sample(2000, 99);
    crate::plot::scatter_series(
        &out.join("samples.png"),
        &format!("{}: data (blue), model samples (orange)", data.name()),
        &[
            (
                &shown.column(0).to_vec(),
                &shown.column(1).to_vec(),
                crate::plot::BLUE,
            ),
            (
                &samples.column(0).to_vec(),
                &samples.column(1).to_vec(),
                crate::plot::ORANGE,
            ),
        ],
        Some(bounds),
    )?;
    let steps: Vec<f64> = r.curve.iter().map(|p| p.step as f64).collect();
    if steps.len() >= 2 {
        let nll: Vec<f64> = r.curve.iter().map(|p| p.test_nll).collect();
        crate::plot::line_plot(
            &out.join("test_nll.png"),
            "exact test NLL (nats)",
            "update",
            "nats",
            &steps,
            &nll,
        )?;
        let loss: Vec<f64> = r.curve.iter().map(|p| p.loss).collect();
        crate::plot::line_plot(
            &out.join("loss.png"),
            "contrastive loss",
            "update",
            "loss",
            &steps,
            &loss,
        )?;
        if r.curve.iter().all(|p| p.kl.is_some()) {
            let kl: Vec<f64> = r.curve.iter().map(|p| p.kl.unwrap_or(0.0)).collect();
            crate::plot::line_plot(
                &out.join("kl.png"),
                "KL(p_data || p_model) (nats)",
                "update",
                "nats",
                &steps,
                &kl,
            )?;
        }
    }
    Ok(())
}

/// An image EBM's run-folder figures into `dir`: `samples.png` (64 chains of the
/// evaluation's SGLD from uniform noise), `buffer.png` (64 images of the replay buffer,
/// when there is one) and `inpaint.png` (10 test images, their bottom halves removed,
/// and restored by SGLD on the missing pixels).
pub fn image_ebm_run_figures(
    dir: &Path,
    step: &mut crate::train::image_ebm::ImageEbmStep<'_>,
) -> Result<()> {
    let cfg = step.config().clone();
    let (h, w) = (cfg.image_ebm.height, cfg.image_ebm.width);
    let unit = |x: ArrayView2<f32>| x.mapv(|v| (v + 1.0) / 2.0);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed ^ 0x1a6e_5eed);
    let samples = step.samples_from_noise(64, &mut rng);
    image_grid(
        &dir.join("samples.png"),
        &format!("{} SGLD steps from uniform noise", cfg.eval_steps),
        unit(samples.view()).view(),
        h,
        w,
        8,
        TileScale::Unit,
    )?;
    if step.buffer.nrows() > 0 {
        let n = step.buffer.nrows().min(64);
        image_grid(
            &dir.join("buffer.png"),
            &format!(
                "the replay buffer: {n} of its {} chains",
                step.buffer.nrows()
            ),
            unit(step.buffer.slice(ndarray::s![..n, ..])).view(),
            h,
            w,
            8,
            TileScale::Unit,
        )?;
    }
    let (mse, mse_mean, restored) = step.inpaint_test(&mut rng);
    let n = restored.nrows().min(10);
    let mask = crate::models::image_ebm::bottom_half_mask(&cfg.image_ebm);
    let test = step.test().slice(ndarray::s![..n, ..]).to_owned();
    let mut tiles = Array2::<f32>::zeros((3 * n, cfg.image_ebm.pixels()));
    for i in 0..n {
        tiles.row_mut(i).assign(&test.row(i));
        let mut masked = test.row(i).to_owned();
        masked.iter_mut().zip(&mask).for_each(|(v, &m)| {
            if m != 0.0 {
                *v = 0.0
            }
        });
        tiles.row_mut(n + i).assign(&masked);
        tiles.row_mut(2 * n + i).assign(&restored.row(i));
    }
    image_grid(
        &dir.join("inpaint.png"),
        &format!(
            "test digits, bottom half removed, restored by {} SGLD steps (MSE {mse:.4}; mean image {mse_mean:.4})",
            cfg.eval_steps
        ),
        unit(tiles.view()).view(),
        h,
        w,
        n.max(1),
        TileScale::Unit,
    )
}
