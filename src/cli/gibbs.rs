//! `ebm gibbs`: the temperature at work on a built-in energy. For each beta, `log Z_beta`
//! by quadrature (the box widened until it holds the mass) and by importance sampling,
//! and the free energy `F_beta = -log Z_beta / beta`, with their errors.
//!
//! Expected: the double well's `log Z` is 1.1649 at beta 0.1, 0.3822 at beta 1 and 1.3933
//! at beta 10 (the deeper well takes over); for the banana at beta 1,
//! `log Z = log(20 pi) = 4.1405`, where quadrature agrees to 1e-8. Importance sampling
//! agrees within a few errors where its effective sample size (ESS) is large; a small ESS
//! flags a proposal that misses mass, and then its error is too small to trust.

use clap::{Args, ValueEnum};
use ebm::energy::{Banana, DoubleWell, Energy, GaussianMixture};
use ebm::partition::{LogZ, importance, quadrature};
use ebm::{Error, Result};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Builtin {
    /// `E(y) = 2 (y^2 - 1)^2 + 0.3 y` (1-D).
    DoubleWell,
    /// Eight Gaussians of std 0.3 on a circle of radius 2 (2-D, normalized at beta 1).
    Mixture,
    /// Haario's banana, b = 0.03 (2-D, log Z_1 = log(20 pi)).
    Banana,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ebm gibbs --energy banana --betas 0.5,1,2     # log Z at beta 1 = log(20 pi) = 4.140462"
)]
pub struct GibbsArgs {
    /// The energy.
    #[arg(long, value_enum, default_value = "double-well")]
    pub energy: Builtin,
    /// Inverse temperatures, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.5,1,2,10")]
    pub betas: Vec<f64>,
    /// Importance samples per beta.
    #[arg(long, default_value_t = 100_000)]
    pub samples: usize,
    /// Folder for the PNG of P_beta(y) at each beta.
    #[arg(long, default_value = "runs/gibbs")]
    pub out: std::path::PathBuf,
}

fn build(b: Builtin) -> (Box<dyn Energy>, Vec<f64>, Vec<f64>) {
    match b {
        Builtin::DoubleWell => (
            Box::new(DoubleWell {
                height: 2.0,
                tilt: 0.3,
            }),
            vec![0.0],
            vec![1.5],
        ),
        Builtin::Mixture => (
            Box::new(GaussianMixture::ring(8, 2.0, 0.3, 2).expect("valid mixture")),
            vec![0.0, 0.0],
            vec![2.5, 2.5],
        ),
        Builtin::Banana => (
            Box::new(Banana { b: 0.03 }),
            vec![0.0, -1.0],
            vec![12.0, 6.0],
        ),
    }
}

/// Quadrature on a box around the origin, doubled until it holds the mass.
fn quad(
    e: &dyn Energy,
    beta: f64,
    center: &[f64],
    scale: &[f64],
) -> Result<(LogZ, Vec<f64>, Vec<f64>)> {
    let d = e.dim();
    let n = [4000, 400, 100][d - 1];
    let mut half = 4.0;
    loop {
        let lo: Vec<f64> = (0..d).map(|i| center[i] - half * scale[i] * 3.0).collect();
        let hi: Vec<f64> = (0..d).map(|i| center[i] + half * scale[i] * 3.0).collect();
        match quadrature(e, beta, &lo, &hi, n) {
            Ok(r) => return Ok((r, lo, hi)),
            Err(Error::Invalid { msg, .. })
                if msg.contains("does not hold the mass") && half < 256.0 =>
            {
                half *= 2.0
            }
            Err(err) => return Err(err),
        }
    }
}

pub fn run(a: &GibbsArgs, seed: u64) -> Result<()> {
    let (e, center, scale) = build(a.energy);
    println!(
        "Gibbs distribution P_beta(y) = exp(-beta E(y)) / Z_beta for the {} energy ({}-D)",
        e.name(),
        e.dim()
    );
    println!(
        "{:>8} {:>24} {:>24} {:>8} {:>22} {:>12}",
        "beta",
        "log Z (quadrature)",
        "log Z (importance)",
        "IS ESS",
        "F = -log Z / beta",
        "closed form"
    );
    let mut pictures = Vec::new();
    for &beta in &a.betas {
        ebm::energy::validate_beta(beta)?;
        let (q, lo, hi) = quad(e.as_ref(), beta, &center, &scale)?;
        pictures.push(picture(e.as_ref(), beta, q.log_z, &lo, &hi, &a.out)?);
        // Proposal: wider than the law at this temperature (at least the energy's scale).
        let std: Vec<f64> = scale
            .iter()
            .map(|s| 1.5 * s * (1.0 / beta.sqrt()).max(1.0))
            .collect();
        let is = importance(e.as_ref(), beta, &center, &std, a.samples, seed)?;
        let closed = e.log_z(beta).map_or("-".to_string(), |v| format!("{v:.6}"));
        println!(
            "{beta:>8} {:>14.6} ± {:<7.1e} {:>14.6} ± {:<7.1e} {:>7.1}% {:>12.6} ± {:<7.1e} {closed:>12}",
            q.log_z,
            q.std_err,
            is.log_z,
            is.std_err,
            100.0 * is.ess / a.samples as f64,
            -q.log_z / beta,
            q.std_err / beta
        );
    }
    println!("(nats; errors are one standard error)");
    for p in pictures {
        println!("wrote {}", p.display());
    }
    println!("report: {}", ebm::report::write_report(&a.out)?.display());
    Ok(())
}

/// The PNG of `P_beta(y) = exp(-beta E(y) - log Z_beta)` over the quadrature box: a curve
/// in 1-D, a heatmap in 2-D.
fn picture(
    e: &dyn Energy,
    beta: f64,
    log_z: f64,
    lo: &[f64],
    hi: &[f64],
    out: &std::path::Path,
) -> Result<std::path::PathBuf> {
    use ndarray::Array2;
    let path = out.join(format!("{}_beta{}.png", e.name(), beta));
    let (lo, hi) = zoom(e, beta, log_z, lo, hi);
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
        ebm::plot::line_plot(&path, &title, "y", "P_beta(y)", &ys, &p)?;
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
        ebm::plot::heatmap(&path, &title, (lo[0], hi[0]), (lo[1], hi[1]), &grid)?;
    }
    Ok(path)
}

/// The part of the box where the density is above 1e-4 of its peak (on a 200-point grid
/// per axis), padded by 10%: the picture shows the mass, not the empty tails that the
/// quadrature needed.
fn zoom(e: &dyn Energy, beta: f64, log_z: f64, lo: &[f64], hi: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let d = e.dim();
    let n = 200usize;
    let cells = n.pow(d as u32);
    let at = |k: usize, i: usize| lo[k] + (i as f64 + 0.5) * (hi[k] - lo[k]) / n as f64;
    let y = ndarray::Array2::from_shape_fn((cells, d), |(r, k)| at(k, (r / n.pow(k as u32)) % n));
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
