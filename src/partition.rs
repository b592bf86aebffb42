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
use crate::mcmc::ais::Moves;
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

/// `log Z_beta` by annealed importance sampling ([`crate::mcmc::ais`]) along the geometric
/// bridge from the Gaussian base, with MALA transitions.
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
    // Particles from the base.
    let y = sample_diag(&mut rng, mean, std, n); // [runs, d]
    let mut e = vec![0.0; n];
    let mut ge = Array2::<f64>::zeros((n, d)); // dE/dy
    energy.energy_grad(y.view(), &mut e, ge.view_mut());
    // The base's constants, once: log q0(y) = log_norm - 1/2 sum (y - m)^2 / s^2.
    let inv_var: Vec<f64> = std.iter().map(|s| 1.0 / (s * s)).collect();
    let log_norm = -std.iter().map(|s| s.ln()).sum::<f64>()
        - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
    let mut path = Bridge {
        energy,
        beta,
        mean,
        inv_var,
        log_norm,
        lq: Vec::new(),
        yp: y.clone(),
        gp: ge.clone(),
        ep: vec![0.0; n],
        gu: Array2::zeros((n, d)),
        gup: vec![0.0; d],
        pre: {
            let s_min = std.iter().cloned().fold(f64::INFINITY, f64::min);
            std.iter().map(|s| (s / s_min) * (s / s_min)).collect()
        },
        y,
        e,
        ge,
        eps: cfg.step_size,
        steps: cfg.steps_per_temp,
        acc_total: 0.0,
        moves: 0,
    };
    // log q0 at the current points, kept up to date on acceptance.
    path.lq = path
        .y
        .rows()
        .into_iter()
        .map(|r| path.log_q(r.as_slice().unwrap()))
        .collect();
    let lw = crate::mcmc::ais::anneal(&mut path, sch, n, &mut rng, None)?.log_weights;
    let (acc_total, moves) = (path.acc_total, path.moves);
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

/// The geometric bridge of [`ais`], `U_t = -(1 - t) log q0 + t beta E` from the Gaussian
/// base `q0` (`t = 0`) to `exp(-beta E)` (`t = 1`), with its particles: MALA on `U_t`,
/// the step adapted after each move from the population's acceptance toward 57%. The
/// particles keep `E`, `dE/dy` and `log q0` apart, so a change of `t` costs no energy
/// evaluation.
struct Bridge<'a> {
    energy: &'a dyn Energy,
    beta: f64,
    mean: &'a [f64],
    inv_var: Vec<f64>,
    log_norm: f64,
    /// `[runs, d]` points, `E`, `dE/dy`, `log q0`.
    y: Array2<f64>,
    e: Vec<f64>,
    ge: Array2<f64>,
    lq: Vec<f64>,
    /// Proposals and their `E`, `dE/dy`.
    yp: Array2<f64>,
    gp: Array2<f64>,
    ep: Vec<f64>,
    /// `grad U_t` at the points, and at one proposal.
    gu: Array2<f64>,
    gup: Vec<f64>,
    /// The MALA preconditioner `(s_i / min_j s_j)^2`: the base's shape, so that every
    /// axis moves at its own scale (all ones for an isotropic base).
    pre: Vec<f64>,
    eps: f64,
    steps: usize,
    acc_total: f64,
    moves: usize,
}

impl Bridge<'_> {
    fn log_q(&self, y: &[f64]) -> f64 {
        let mut s = 0.0;
        for i in 0..y.len() {
            let z = y[i] - self.mean[i];
            s += z * z * self.inv_var[i];
        }
        self.log_norm - 0.5 * s
    }

    /// `grad U_t(y) = (1-t) (y - m) / s^2 + t beta dE/dy`.
    fn grad_u(&self, t: f64, y: &[f64], ge: &[f64], out: &mut [f64]) {
        for i in 0..y.len() {
            out[i] = (1.0 - t) * (y[i] - self.mean[i]) * self.inv_var[i] + t * self.beta * ge[i];
        }
    }

    /// One MALA move of every particle on `U_t`, preconditioned by `P = diag(pre)`:
    /// `y' = y - eps P grad U_t(y) + sqrt(2 eps P) xi`; returns the mean acceptance.
    fn mala(&mut self, t: f64, rng: &mut Xoshiro256PlusPlus) -> f64 {
        let (n, d) = self.y.dim();
        let eps = self.eps;
        let s2 = (2.0 * eps).sqrt();
        let mut gu = std::mem::take(&mut self.gu);
        for r in 0..n {
            let mut g = gu.row_mut(r);
            let g = g.as_slice_mut().unwrap();
            self.grad_u(
                t,
                self.y.row(r).as_slice().unwrap(),
                self.ge.row(r).as_slice().unwrap(),
                g,
            );
            for i in 0..d {
                let xi: f64 = StandardNormal.sample(rng);
                let p = self.pre[i];
                self.yp[[r, i]] = self.y[[r, i]] - eps * p * g[i] + s2 * p.sqrt() * xi;
            }
        }
        self.gu = gu;
        self.energy
            .energy_grad(self.yp.view(), &mut self.ep, self.gp.view_mut());
        let unif = Uniform::new(0.0f64, 1.0);
        let mut gup = std::mem::take(&mut self.gup);
        let mut acc_step = 0.0;
        for r in 0..n {
            let (ypr, yr) = (self.yp.row(r), self.y.row(r));
            let (ypr, yr) = (ypr.as_slice().unwrap(), yr.as_slice().unwrap());
            self.grad_u(t, ypr, self.gp.row(r).as_slice().unwrap(), &mut gup);
            // log q(y | y') - log q(y' | y) for the Langevin proposal (the norms in
            // P^-1).
            let (mut fwd, mut bwd) = (0.0, 0.0);
            for i in 0..d {
                let p = self.pre[i];
                let a = ypr[i] - yr[i] + eps * p * self.gu[[r, i]];
                let b = yr[i] - ypr[i] + eps * p * gup[i];
                fwd += a * a / p;
                bwd += b * b / p;
            }
            let lqp = self.log_q(ypr);
            let u_new = -(1.0 - t) * lqp + t * self.beta * self.ep[r];
            let u_old = -(1.0 - t) * self.lq[r] + t * self.beta * self.e[r];
            let log_a = -u_new + u_old - (bwd - fwd) / (4.0 * eps);
            let a = if log_a.is_nan() || !self.ep[r].is_finite() {
                0.0
            } else {
                log_a.min(0.0).exp()
            };
            acc_step += a;
            if unif.sample(rng) < a {
                self.y.row_mut(r).assign(&self.yp.row(r));
                self.ge.row_mut(r).assign(&self.gp.row(r));
                self.e[r] = self.ep[r];
                self.lq[r] = lqp;
            }
        }
        self.gup = gup;
        acc_step / n as f64
    }
}

impl crate::mcmc::ais::AnnealingPath for Bridge<'_> {
    /// `log w += (t1 - t0) (-beta E - log q0)`.
    fn add_log_weights(&self, t0: f64, t1: f64, lw: &mut [f64]) {
        for (r, lw) in lw.iter_mut().enumerate() {
            *lw += (t1 - t0) * (-self.beta * self.e[r] - self.lq[r]);
        }
    }

    fn transition(&mut self, t: f64, rng: &mut Xoshiro256PlusPlus) -> Result<Moves> {
        let mut acc_sum = 0.0;
        for _ in 0..self.steps {
            let acc = self.mala(t, rng);
            acc_sum += acc;
            self.acc_total += acc;
            self.moves += 1;
            // Step-size adaptation from the population's acceptance.
            self.eps *= (acc - 0.57).exp();
        }
        Ok(Moves {
            acceptance: if self.steps > 0 {
                acc_sum / self.steps as f64
            } else {
                f64::NAN
            },
            divergences: 0,
        })
    }
}
