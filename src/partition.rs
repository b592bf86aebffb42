//! Partition functions of continuous energies, `log Z_beta = log integral exp(-beta E(y)) dy`
//! (SPEC section 1), each returned with a standard error, accumulated in f64:
//!
//! - [`quadrature`]: the midpoint rule on a grid over a box in 1 to 3 dimensions,
//!   `log Z ~ log sum_cells exp(-beta E(c)) + sum_i log h_i`. Its error is estimated from the
//!   same rule on the grid with half as many points per axis (the midpoint rule's error
//!   falls as `h^2`, so `|fine - coarse| / 3`). The box must hold the mass: if the cells on
//!   its boundary carry more than `1e-6` of it, the result is an error that says how much.
//! - [`importance`]: `Z = E_q[exp(-beta E(y)) / q(y)]` with a Gaussian proposal `q`;
//!   `log Z ~ log mean w`, standard error by the delta method `sd(w) / (sqrt(n) mean(w))`.
//! - [`ais`]: annealed importance sampling (Neal 2001) on the geometric path
//!   `log pi_t = (1 - t) log q_0 + t (-beta E)` from a Gaussian base `q_0` (`Z_0 = 1`) over a
//!   schedule `0 = t_0 < ... < t_K = 1`; each run accumulates
//!   `log w += (t_k - t_{k-1}) (-beta E(y) - log q_0(y))` and then moves `y` with a MALA
//!   transition that leaves `pi_{t_k}` invariant. All runs advance together as one batch
//!   (one energy call per step). `log Z = log mean w` over the runs, with the delta-method
//!   error and the effective sample size `(sum w)^2 / sum w^2`.

// Index loops read like the equations here.
#![allow(clippy::needless_range_loop)]

use crate::energy::{Energy, validate_beta};
use crate::{Error, Result};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal, Uniform};
use rand_xoshiro::Xoshiro256PlusPlus;

/// An estimate of `log Z` with its standard error (nats).
#[derive(Clone, Debug, PartialEq)]
pub struct LogZ {
    /// `log Z_beta`.
    pub log_z: f64,
    /// Standard error of `log_z`.
    pub std_err: f64,
    /// Effective sample size of the weights (sampling methods), else the number of points.
    pub ess: f64,
    /// Points or runs used.
    pub n: usize,
}

impl std::fmt::Display for LogZ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.6} ± {:.2e} nats", self.log_z, self.std_err)
    }
}

/// `log mean exp(lw)`, the delta-method standard error and the effective sample size.
pub fn log_mean_exp_with_error(lw: &[f64]) -> (f64, f64, f64) {
    let n = lw.len() as f64;
    let mx = lw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !mx.is_finite() {
        return (mx, f64::INFINITY, 0.0);
    }
    let w: Vec<f64> = lw.iter().map(|&l| (l - mx).exp()).collect(); // in (0, 1]
    let s: f64 = w.iter().sum();
    let s2: f64 = w.iter().map(|v| v * v).sum();
    let mean = s / n;
    let var = if n > 1.0 {
        (s2 - n * mean * mean).max(0.0) / (n - 1.0)
    } else {
        f64::INFINITY
    };
    let se = (var / n).sqrt() / mean;
    (mx + mean.ln(), se, s * s / s2)
}

fn eval_energy(energy: &dyn Energy, pts: &Array2<f64>, out: &mut [f64]) -> Result<()> {
    energy.energy(pts.view(), out);
    if let Some(i) = out.iter().position(|v| v.is_nan()) {
        return Err(Error::invalid(
            "energy",
            format!(
                "{} returned NaN at y = {:?}",
                energy.name(),
                pts.row(i).to_vec()
            ),
        ));
    }
    Ok(())
}

/// Midpoint-rule sum: (log sum exp(-beta E), log sum over boundary cells).
fn grid_sum(
    energy: &dyn Energy,
    beta: f64,
    lo: &[f64],
    hi: &[f64],
    n: usize,
) -> Result<(f64, f64)> {
    let d = lo.len();
    let h: Vec<f64> = (0..d).map(|i| (hi[i] - lo[i]) / n as f64).collect();
    let total = n.pow(d as u32);
    const CHUNK: usize = 8192;
    let mut pts = Array2::<f64>::zeros((CHUNK.min(total), d));
    let mut e = vec![0.0; CHUNK.min(total)];
    // Running log-sum-exp of all cells and of the boundary cells.
    let (mut m_all, mut s_all) = (f64::NEG_INFINITY, 0.0f64);
    let (mut m_b, mut s_b) = (f64::NEG_INFINITY, 0.0f64);
    let add = |m: &mut f64, s: &mut f64, x: f64| {
        if x > *m {
            *s = *s * (*m - x).exp() + 1.0;
            *m = x;
        } else {
            *s += (x - *m).exp();
        }
    };
    let mut start = 0;
    while start < total {
        let len = CHUNK.min(total - start);
        let mut boundary = vec![false; len];
        for r in 0..len {
            let mut idx = start + r;
            for i in 0..d {
                let k = idx % n;
                idx /= n;
                pts[[r, i]] = lo[i] + (k as f64 + 0.5) * h[i];
                if k == 0 || k == n - 1 {
                    boundary[r] = true;
                }
            }
        }
        let view = pts.slice(ndarray::s![..len, ..]).to_owned();
        eval_energy(energy, &view, &mut e[..len])?;
        for r in 0..len {
            let x = -beta * e[r];
            add(&mut m_all, &mut s_all, x);
            if boundary[r] {
                add(&mut m_b, &mut s_b, x);
            }
        }
        start += len;
    }
    let log_h: f64 = h.iter().map(|v| v.ln()).sum();
    Ok((m_all + s_all.ln() + log_h, m_b + s_b.ln() + log_h))
}

/// `log Z_beta` by the midpoint rule on `n` points per axis over the box `[lo, hi]`
/// (1 to 3 dimensions).
pub fn quadrature(
    energy: &dyn Energy,
    beta: f64,
    lo: &[f64],
    hi: &[f64],
    n: usize,
) -> Result<LogZ> {
    validate_beta(beta)?;
    let d = energy.dim();
    if !(1..=3).contains(&d) {
        return Err(Error::invalid(
            "quadrature",
            format!("works in 1 to 3 dimensions, the energy has {d}"),
        ));
    }
    if lo.len() != d || hi.len() != d {
        return Err(Error::Shape {
            what: "quadrature box".into(),
            expected: vec![d],
            found: vec![lo.len().min(hi.len())],
        });
    }
    if let Some(i) = (0..d).find(|&i| !(lo[i].is_finite() && hi[i].is_finite() && hi[i] > lo[i])) {
        return Err(Error::invalid(
            "quadrature box",
            format!("axis {i}: [{}, {}] is not a finite interval", lo[i], hi[i]),
        ));
    }
    if n < 8 {
        return Err(Error::invalid(
            "quadrature points",
            format!("{n} per axis; use at least 8"),
        ));
    }
    let (fine, boundary) = grid_sum(energy, beta, lo, hi, n)?;
    let mass_out = (boundary - fine).exp();
    if mass_out > 1e-6 {
        return Err(Error::invalid(
            "quadrature box",
            format!(
                "does not hold the mass: the cells on its boundary carry {mass_out:.2e} of it; widen [lo, hi]"
            ),
        ));
    }
    let (coarse, _) = grid_sum(energy, beta, lo, hi, n / 2)?;
    // The midpoint rule converges fast on smooth integrands, so |fine - coarse| can fall
    // to rounding; the floor is the summation's own rounding (n^d terms in f64).
    let cells = n.pow(d as u32);
    let rounding = 1e-16 * cells as f64 + 1e-15 * fine.abs();
    Ok(LogZ {
        log_z: fine,
        std_err: ((fine - coarse).abs() / 3.0).max(rounding),
        ess: cells as f64,
        n: cells,
    })
}

fn log_q_diag(y: &[f64], mean: &[f64], std: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..y.len() {
        let z = (y[i] - mean[i]) / std[i];
        s += -0.5 * z * z - std[i].ln();
    }
    s - 0.5 * y.len() as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// `n` draws from `N(mean, diag(std^2))`, row by row.
fn sample_diag(rng: &mut Xoshiro256PlusPlus, mean: &[f64], std: &[f64], n: usize) -> Array2<f64> {
    let d = mean.len();
    let mut y = Array2::<f64>::zeros((n, d)); // [n, d]
    for mut row in y.rows_mut() {
        for i in 0..d {
            let e: f64 = StandardNormal.sample(rng);
            row[i] = mean[i] + std[i] * e;
        }
    }
    y
}

fn check_gauss(d: usize, mean: &[f64], std: &[f64], what: &str) -> Result<()> {
    if mean.len() != d || std.len() != d {
        return Err(Error::Shape {
            what: format!("{what} mean/std"),
            expected: vec![d],
            found: vec![mean.len().min(std.len())],
        });
    }
    if let Some(i) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(Error::invalid(
            what,
            format!("std {i} is {} (must be > 0)", std[i]),
        ));
    }
    Ok(())
}

/// `log Z_beta` by importance sampling from `N(mean, diag(std^2))` with `n` draws.
pub fn importance(
    energy: &dyn Energy,
    beta: f64,
    mean: &[f64],
    std: &[f64],
    n: usize,
    seed: u64,
) -> Result<LogZ> {
    validate_beta(beta)?;
    let d = energy.dim();
    check_gauss(d, mean, std, "importance proposal")?;
    if n < 2 {
        return Err(Error::invalid("importance samples", "need at least 2"));
    }
    // One f64 log-weight per draw is kept (the draws themselves go in chunks).
    crate::budget::check(
        "samples",
        crate::budget::bytes(Some(n as u64), 8),
        &format!("{n} importance samples"),
    )?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut lw = Vec::with_capacity(n);
    const CHUNK: usize = 4096;
    let mut done = 0;
    while done < n {
        let len = CHUNK.min(n - done);
        let y = sample_diag(&mut rng, mean, std, len); // [len, d]
        let mut e = vec![0.0; len];
        eval_energy(energy, &y, &mut e)?;
        for (r, row) in y.rows().into_iter().enumerate() {
            lw.push(-beta * e[r] - log_q_diag(row.as_slice().unwrap(), mean, std));
        }
        done += len;
    }
    let (l, se, ess) = log_mean_exp_with_error(&lw);
    Ok(LogZ {
        log_z: l,
        std_err: se,
        ess,
        n,
    })
}

/// Settings of annealed importance sampling.
#[derive(Clone, Debug)]
pub struct AisConfig {
    /// Independent runs (particles), advanced together.
    pub runs: usize,
    /// The schedule `0 = t_0 < t_1 < ... < t_K = 1`.
    pub schedule: Vec<f64>,
    /// Base distribution `N(mean, diag(std^2))`.
    pub base_mean: Vec<f64>,
    pub base_std: Vec<f64>,
    /// Initial MALA step size; adapted between temperatures toward 57% acceptance.
    pub step_size: f64,
    /// MALA steps per temperature.
    pub steps_per_temp: usize,
    pub seed: u64,
}

impl AisConfig {
    /// A schedule of `k` intervals, geometric in `t` near 0 then linear: the usual choice
    /// (dense at small `t`, where the base dominates).
    pub fn sigmoid_schedule(k: usize) -> Vec<f64> {
        // Grosse et al. (2013)'s sigmoidal schedule, rescaled to [0, 1].
        let delta = 4.0;
        let s: Vec<f64> = (0..=k)
            .map(|i| {
                let x = -delta + 2.0 * delta * i as f64 / k as f64;
                1.0 / (1.0 + (-x).exp())
            })
            .collect();
        let (a, b) = (s[0], s[k]);
        s.iter().map(|v| (v - a) / (b - a)).collect()
    }
}

/// Result of [`ais`]: the estimate, the log-weights of every run, the mean acceptance.
#[derive(Clone, Debug)]
pub struct AisResult {
    pub log_z: LogZ,
    pub log_weights: Vec<f64>,
    pub acceptance: f64,
}

/// `log Z_beta` by annealed importance sampling with MALA transitions.
pub fn ais(energy: &dyn Energy, beta: f64, cfg: &AisConfig) -> Result<AisResult> {
    validate_beta(beta)?;
    let d = energy.dim();
    check_gauss(d, &cfg.base_mean, &cfg.base_std, "AIS base")?;
    let sch = &cfg.schedule;
    if sch.len() < 2
        || sch[0] != 0.0
        || *sch.last().unwrap() != 1.0
        || sch.windows(2).any(|w| w[1].is_nan() || w[1] <= w[0])
    {
        return Err(Error::invalid(
            "AIS schedule",
            "must increase strictly from 0 to 1 (at least 2 points)",
        ));
    }
    if cfg.runs < 2 || !(cfg.step_size.is_finite() && cfg.step_size > 0.0) {
        return Err(Error::invalid(
            "AIS",
            format!(
                "runs {} must be >= 2 and step size {} > 0",
                cfg.runs, cfg.step_size
            ),
        ));
    }
    let (n, mean, std) = (cfg.runs, &cfg.base_mean, &cfg.base_std);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
    let unif = Uniform::new(0.0f64, 1.0);
    // Particles from the base.
    let mut y = sample_diag(&mut rng, mean, std, n); // [runs, d]
    let mut e = vec![0.0; n];
    let mut ge = Array2::<f64>::zeros((n, d)); // dE/dy
    energy.energy_grad(y.view(), &mut e, ge.view_mut());
    let mut lw = vec![0.0; n];
    let (mut yp, mut gp) = (y.clone(), ge.clone());
    let mut ep = vec![0.0; n];
    let mut eps = cfg.step_size;
    let (mut acc_total, mut moves) = (0.0, 0usize);
    // The base's constants, once: log q0(y) = log_norm - 1/2 sum (y - m)^2 / s^2.
    let inv_var: Vec<f64> = std.iter().map(|s| 1.0 / (s * s)).collect();
    let log_norm = -std.iter().map(|s| s.ln()).sum::<f64>()
        - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
    let log_q = |y: &[f64]| {
        let mut s = 0.0;
        for i in 0..y.len() {
            let z = y[i] - mean[i];
            s += z * z * inv_var[i];
        }
        log_norm - 0.5 * s
    };
    // grad U_t(y) = (1-t) (y - m) / s^2 + t beta dE/dy, for U_t = -(1-t) log q0 + t beta E.
    let grad_u = |t: f64, y: &[f64], ge: &[f64], out: &mut [f64]| {
        for i in 0..y.len() {
            out[i] = (1.0 - t) * (y[i] - mean[i]) * inv_var[i] + t * beta * ge[i];
        }
    };
    // log q0 at the current points, kept up to date on acceptance.
    let mut lq: Vec<f64> = y
        .rows()
        .into_iter()
        .map(|r| log_q(r.as_slice().unwrap()))
        .collect();
    let mut gu = Array2::<f64>::zeros((n, d)); // grad U_t at the current points
    let mut gup = vec![0.0; d];
    for k in 1..sch.len() {
        let (t0, t) = (sch[k - 1], sch[k]);
        // Weight update at the current points.
        for r in 0..n {
            lw[r] += (t - t0) * (-beta * e[r] - lq[r]);
        }
        if lw.iter().any(|v| v.is_nan()) {
            return Err(Error::Diverged(format!(
                "AIS weights became NaN at t = {t}"
            )));
        }
        // MALA transitions leaving pi_t invariant.
        for _ in 0..cfg.steps_per_temp {
            let s2 = (2.0 * eps).sqrt();
            for r in 0..n {
                let mut g = gu.row_mut(r);
                let g = g.as_slice_mut().unwrap();
                grad_u(
                    t,
                    y.row(r).as_slice().unwrap(),
                    ge.row(r).as_slice().unwrap(),
                    g,
                );
                for i in 0..d {
                    let xi: f64 = StandardNormal.sample(&mut rng);
                    yp[[r, i]] = y[[r, i]] - eps * g[i] + s2 * xi;
                }
            }
            energy.energy_grad(yp.view(), &mut ep, gp.view_mut());
            let mut acc_step = 0.0;
            for r in 0..n {
                let (ypr, yr) = (yp.row(r), y.row(r));
                let (ypr, yr) = (ypr.as_slice().unwrap(), yr.as_slice().unwrap());
                grad_u(t, ypr, gp.row(r).as_slice().unwrap(), &mut gup);
                // log q(y | y') - log q(y' | y) for the Langevin proposal.
                let (mut fwd, mut bwd) = (0.0, 0.0);
                for i in 0..d {
                    let a = ypr[i] - yr[i] + eps * gu[[r, i]];
                    let b = yr[i] - ypr[i] + eps * gup[i];
                    fwd += a * a;
                    bwd += b * b;
                }
                let lqp = log_q(ypr);
                let u_new = -(1.0 - t) * lqp + t * beta * ep[r];
                let u_old = -(1.0 - t) * lq[r] + t * beta * e[r];
                let log_a = -u_new + u_old - (bwd - fwd) / (4.0 * eps);
                let a = if log_a.is_nan() || !ep[r].is_finite() {
                    0.0
                } else {
                    log_a.min(0.0).exp()
                };
                acc_step += a;
                if unif.sample(&mut rng) < a {
                    y.row_mut(r).assign(&yp.row(r));
                    ge.row_mut(r).assign(&gp.row(r));
                    e[r] = ep[r];
                    lq[r] = lqp;
                }
            }
            let acc = acc_step / n as f64;
            acc_total += acc;
            moves += 1;
            // Step-size adaptation from the population's acceptance.
            eps *= (acc - 0.57).exp();
        }
    }
    let (l, se, ess) = log_mean_exp_with_error(&lw);
    Ok(AisResult {
        log_z: LogZ {
            log_z: l,
            std_err: se,
            ess,
            n,
        },
        log_weights: lw,
        acceptance: if moves > 0 {
            acc_total / moves as f64
        } else {
            f64::NAN
        },
    })
}
