//! MCMC convergence diagnostics: R-hat, effective sample sizes, Monte Carlo standard
//! errors and a summary table, after Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021),
//! "Rank-normalization, folding, and localization: an improved R-hat", computed exactly
//! as ArviZ (`arviz.stats.diagnostics`, the reference of `tests/diagnostics.rs`) does.
//!
//! The input for one scalar quantity is `x[m, n]`: `M` chains of `N` draws
//! (`ArrayView2<f64>` shaped `[chains, draws]`). Every public function checks it: at least
//! one chain, at least 4 draws per chain, every draw finite, else [`Error::Invalid`].
//!
//! **Split chains.** Each chain is cut into its first and last `N' = floor(N / 2)` draws
//! (for odd `N` the middle draw is dropped): `M' = 2M` chains of `N'` draws.
//!
//! **Split R-hat** ([`split_rhat`]) on the split chains, with chain means `xbar_m`,
//! chain variances `s_m^2` (divisor `N' - 1`), between- and within-chain variances
//!
//! ```text
//! B = N' / (M' - 1) sum_m (xbar_m - xbar)^2,   W = 1/M' sum_m s_m^2,
//! var+ = (N' - 1) / N' W + B / N',             R-hat = sqrt(var+ / W).
//! ```
//!
//! **Rank normalization.** All `S = M' N'` split draws are ranked together (ties get their
//! average rank `r`) and mapped to `z = Phi^{-1}((r - 3/8) / (S + 1/4))` (Blom), with the
//! inverse normal CDF of Wichura's AS241 ([`inverse_normal_cdf`], ~1e-16 relative).
//! **Rank-normalized R-hat** ([`rank_normalized_rhat`]) is
//! `max(R-hat(z(x)), R-hat(z(|x - median(x)|)))`: bulk and folded (tail) split R-hat.
//!
//! **Effective sample size** of split chains `y[m, n]`, per chain the autocovariance by
//! FFT (zero-padded to `2N'`) `acov_m(t) = 1/N' sum_{n < N'-t} (y_mn - ybar_m)(y_m(n+t) - ybar_m)`,
//! `W = mean_m acov_m(0) N' / (N' - 1)`, `var+ = (N' - 1)/N' W + var_m(ybar_m)`
//! (`var_m` with divisor `M' - 1`, only when `M' > 1`), and the combined autocorrelation
//!
//! ```text
//! rho_t = 1 - (W - mean_m acov_m(t)) / var+.
//! ```
//!
//! Geyer's initial positive sequence sums the pairs `P_k = rho_{2k} + rho_{2k+1}` while they
//! are positive (the last positive even lag is kept alone), the initial monotone sequence
//! clips each pair to the one before, and
//!
//! ```text
//! tau = -1 + 2 sum_{t <= T} rho_t + rho_{T+1},   tau >= 1 / log10(S),   ESS = S / tau,
//! ```
//!
//! the floor on `tau` bounding ESS for antithetic chains at `S log10(S)`. Draws whose range
//! is below 1e-15 have `ESS = S`. From this one estimator:
//!
//! * [`ess_basic`]: on the split draws (the ESS of the mean);
//! * [`ess_bulk`]: on the rank-normalized split draws;
//! * [`ess_quantile`]: on the indicators `I(x <= q_p)`, `q_p` the type-7 quantile of all draws;
//! * [`ess_tail`]: `min(ESS(I(x <= q_0.05)), ESS(I(x <= q_0.95)))`.
//!
//! **Monte Carlo standard errors**: `mcse_mean = sd / sqrt(ess_basic)` ([`mcse_mean`], `sd`
//! with divisor `S - 1` over all draws); for the sd ([`mcse_sd`]), with
//! `d = (x - xbar)^2`: `Var[var] = (mean(d^2) - mean(d)^2) / ess_basic(d)` and
//! `mcse_sd = sqrt(Var[var] / (4 mean(d)))` (delta method).
//!
//! **Quantiles** ([`quantile`]) are R's type 7 over all draws: with sorted `x_(1..S)` and
//! `h = S p + 1 - p`, `k = floor(clamp(h, 1, S - 1))`: `(1 - g) x_(k) + g x_(k+1)`,
//! `g = clamp(h - k, 0, 1)`.
//!
//! R-hat is `NaN` when the within-chain variance is zero (constant draws), as in ArviZ.
//! Unlike ArviZ (which returns `NaN`), R-hat accepts a single chain: its two halves are
//! compared.
//!
//! [`summarize`] applies all of this to each quantity of `draws[chains, draws, dim]`, and
//! [`SummaryTable`] prints the result like ArviZ's `az.summary`, with an optional footer of
//! [`SamplerStats`].
//!
//! ```
//! use ebm::diagnostics::{ess_bulk, rank_normalized_rhat, summarize, SummaryTable};
//! use ndarray::Array3;
//!
//! // 4 chains x 100 draws of 2 quantities (a deterministic, well-mixed toy).
//! let draws = Array3::from_shape_fn((4, 100, 2), |(c, n, k)| {
//!     (((c * 100 + n) * 7919 + k * 104729) % 1000) as f64 / 1000.0
//! });
//! let x = draws.index_axis(ndarray::Axis(2), 0); // [4, 100]
//! assert!(rank_normalized_rhat(x).unwrap() < 1.05);
//! assert!(ess_bulk(x).unwrap() > 100.0);
//! let rows = summarize(draws.view(), &["a".into(), "b".into()]).unwrap();
//! let table = SummaryTable::new(rows);
//! assert!(table.to_string().contains("ess_bulk"));
//! ```

use crate::error::{Error, Result};
use ndarray::{Array2, ArrayView2, ArrayView3, Axis, concatenate, s};
use rustfft::{FftPlanner, num_complex::Complex};
use std::fmt;

/// Checks `x[chains, draws]`: at least one chain, at least 4 draws per chain, all finite.
fn validate(x: ArrayView2<f64>) -> Result<()> {
    let (m, n) = x.dim();
    if m == 0 {
        return Err(Error::invalid("draws", "no chains (need at least 1)"));
    }
    if n < 4 {
        return Err(Error::invalid(
            "draws",
            format!("{n} draws per chain (need at least 4)"),
        ));
    }
    if let Some(((c, t), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid(
            "draws",
            format!("chain {c}, draw {t} is {v} (draws must be finite)"),
        ));
    }
    Ok(())
}

/// Checks a probability `p` in `[0, 1]`.
fn validate_prob(p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::invalid("p", format!("{p} (must be in [0, 1])")))
    }
}

/// The inverse of the standard normal CDF, `Phi^{-1}(p)`, by Wichura's algorithm AS241
/// (PPND16, Applied Statistics 37, 1988): rational approximations in `q = p - 1/2` for
/// `|q| <= 0.425` and in `r = sqrt(-ln min(p, 1 - p))` otherwise, relative error about 1e-16.
///
/// `-inf` at 0, `+inf` at 1, `NaN` outside `[0, 1]` or for `NaN`.
// The coefficients are AS241's published digits, kept verbatim (beyond f64 precision).
#[allow(clippy::excessive_precision)]
pub fn inverse_normal_cdf(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let poly = |c: &[f64], x: f64| c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci);
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        const A: [f64; 8] = [
            3.387_132_872_796_366_608,
            1.331_416_678_917_843_774_5e2,
            1.971_590_950_306_551_442_7e3,
            1.373_169_376_550_946_112_5e4,
            4.592_195_393_154_987_145_7e4,
            6.726_577_092_700_870_085_3e4,
            3.343_057_558_358_812_810_5e4,
            2.509_080_928_730_122_672_7e3,
        ];
        const B: [f64; 8] = [
            1.0,
            4.231_333_070_160_091_125_2e1,
            6.871_870_074_920_579_083e2,
            5.394_196_021_424_751_107_7e3,
            2.121_379_430_158_659_586_7e4,
            3.930_789_580_009_271_061e4,
            2.872_908_573_572_194_267_4e4,
            5.226_495_278_852_854_561e3,
        ];
        let r = 0.180_625 - q * q;
        return q * poly(&A, r) / poly(&B, r);
    }
    let r = (-(if q < 0.0 { p } else { 1.0 - p }).ln()).sqrt();
    let val = if r <= 5.0 {
        const C: [f64; 8] = [
            1.423_437_110_749_683_577_34,
            4.630_337_846_156_545_295_9,
            5.769_497_221_460_691_405_5,
            3.647_848_324_763_204_605_04,
            1.270_458_252_452_368_382_58,
            2.417_807_251_774_506_117_7e-1,
            2.272_384_498_926_918_458_33e-2,
            7.745_450_142_783_414_076_4e-4,
        ];
        const D: [f64; 8] = [
            1.0,
            2.053_191_626_637_758_821_87,
            1.676_384_830_183_803_849_4,
            6.897_673_349_851_000_045_5e-1,
            1.481_039_764_274_800_745_9e-1,
            1.519_866_656_361_645_719_66e-2,
            5.475_938_084_995_344_946e-4,
            1.050_750_071_644_416_843_24e-9,
        ];
        let r = r - 1.6;
        poly(&C, r) / poly(&D, r)
    } else {
        const E: [f64; 8] = [
            6.657_904_643_501_103_777_2,
            5.463_784_911_164_114_369_9,
            1.784_826_539_917_291_335_8,
            2.965_605_718_285_048_912_3e-1,
            2.653_218_952_657_612_309_3e-2,
            1.242_660_947_388_078_438_6e-3,
            2.711_555_568_743_487_578_15e-5,
            2.010_334_399_292_288_132_65e-7,
        ];
        const F: [f64; 8] = [
            1.0,
            5.998_322_065_558_879_376_9e-1,
            1.369_298_809_227_358_053_1e-1,
            1.487_536_129_085_061_485_25e-2,
            7.868_691_311_456_132_591e-4,
            1.846_318_317_510_054_681_8e-5,
            1.421_511_758_316_445_888_7e-7,
            2.044_263_103_389_939_785_64e-15,
        ];
        let r = r - 5.0;
        poly(&E, r) / poly(&F, r)
    };
    if q < 0.0 { -val } else { val }
}

/// The split chains: the first and last `floor(N / 2)` draws of each chain, stacked.
fn split_chains(x: ArrayView2<f64>) -> Array2<f64> {
    let half = x.ncols() / 2;
    let first = x.slice(s![.., ..half]);
    let last = x.slice(s![.., x.ncols() - half..]);
    concatenate(Axis(0), &[first, last]).expect("halves of equal length") // [2M, N/2]
}

/// Mean and variance (divisor `n - 1`) of a sequence.
fn mean_var<'a>(xs: impl Iterator<Item = &'a f64> + Clone) -> (f64, f64) {
    let (n, sum) = xs.clone().fold((0usize, 0.0), |(n, s), &v| (n + 1, s + v));
    let mean = sum / n as f64;
    let ss = xs.map(|&v| (v - mean) * (v - mean)).sum::<f64>();
    (mean, ss / (n as f64 - 1.0))
}

/// Type-7 quantile of all entries (scipy's `mquantiles` with `alphap = betap = 1`).
fn quantile_all<'a>(xs: impl Iterator<Item = &'a f64>, p: f64) -> f64 {
    let mut v: Vec<f64> = xs.copied().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 1 {
        return v[0];
    }
    let h = n as f64 * p + (1.0 - p);
    let k = h.clamp(1.0, (n - 1) as f64).floor() as usize;
    let g = (h - k as f64).clamp(0.0, 1.0);
    (1.0 - g) * v[k - 1] + g * v[k]
}

/// Median of all entries (average of the two middle values for an even count).
fn median_all<'a>(xs: impl Iterator<Item = &'a f64>) -> f64 {
    let mut v: Vec<f64> = xs.copied().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Rank normalization: pooled average ranks `r` mapped to `Phi^{-1}((r - 3/8) / (S + 1/4))`.
fn z_scale(x: &Array2<f64>) -> Array2<f64> {
    let flat: Vec<f64> = x.iter().copied().collect();
    let s = flat.len();
    let mut order: Vec<usize> = (0..s).collect();
    order.sort_by(|&a, &b| flat[a].total_cmp(&flat[b]));
    let mut z = vec![0.0; s];
    let denom = s as f64 + 0.25;
    let mut i = 0;
    while i < s {
        let mut j = i + 1;
        while j < s && flat[order[j]] == flat[order[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share the ranks i+1..=j: their average.
        let rank = 0.5 * ((i + 1 + j) as f64);
        let zi = inverse_normal_cdf((rank - 0.375) / denom);
        for &k in &order[i..j] {
            z[k] = zi;
        }
        i = j;
    }
    Array2::from_shape_vec(x.dim(), z).expect("same length")
}

/// The R-hat of already split (or otherwise prepared) chains `y[M', N']`.
fn rhat_of(y: ArrayView2<f64>) -> f64 {
    let (m, n) = y.dim();
    let stats: Vec<(f64, f64)> = y.outer_iter().map(|c| mean_var(c.iter())).collect();
    let means: Vec<f64> = stats.iter().map(|s| s.0).collect();
    let w = stats.iter().map(|s| s.1).sum::<f64>() / m as f64;
    let b = n as f64 * mean_var(means.iter()).1;
    ((b / w + n as f64 - 1.0) / n as f64).sqrt()
}

/// Per-chain autocovariances `acov[m, t]` (divisor `N`, mean removed), by FFT of length `2N`.
fn autocovariance(y: ArrayView2<f64>) -> Array2<f64> {
    let (m, n) = y.dim();
    let len = 2 * n;
    let mut planner = FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(len);
    let inv = planner.plan_fft_inverse(len);
    let mut acov = Array2::zeros((m, n)); // [M, N]
    let mut buf = vec![Complex::new(0.0, 0.0); len];
    for (chain, mut out) in y.outer_iter().zip(acov.outer_iter_mut()) {
        let mean = chain.sum() / n as f64;
        for (b, &v) in buf.iter_mut().zip(chain.iter()) {
            *b = Complex::new(v - mean, 0.0);
        }
        buf[n..].fill(Complex::new(0.0, 0.0));
        fwd.process(&mut buf);
        for b in buf.iter_mut() {
            *b = Complex::new(b.norm_sqr(), 0.0);
        }
        inv.process(&mut buf);
        let scale = 1.0 / (len as f64 * n as f64);
        for (o, b) in out.iter_mut().zip(&buf[..n]) {
            *o = b.re * scale;
        }
    }
    acov
}

/// The ESS of prepared chains `y[M', N']` (ArviZ's `_ess`): Stan's multi-chain
/// autocorrelation, Geyer's initial positive and monotone sequences, `tau >= 1/log10(S)`.
fn ess_of(y: ArrayView2<f64>) -> f64 {
    let (m, n) = y.dim();
    let size = (m * n) as f64;
    let (lo, hi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if hi - lo < 1e-15 {
        return size;
    }
    let acov = autocovariance(y); // [M', N']
    let acov_mean = acov.mean_axis(Axis(0)).expect("at least one chain"); // [N']
    let nf = n as f64;
    let mean_var = acov_mean[0] * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if m > 1 {
        let chain_means: Vec<f64> = y.outer_iter().map(|c| c.sum() / nf).collect();
        var_plus += mean_var_of(&chain_means);
    }
    let rho = |t: usize| 1.0 - (mean_var - acov_mean[t]) / var_plus;
    let mut rho_hat = vec![0.0; n];
    let mut even = 1.0;
    rho_hat[0] = even;
    let mut odd = rho(1);
    rho_hat[1] = odd;
    // Geyer's initial positive sequence.
    let mut t = 1usize;
    while t + 3 < n && even + odd > 0.0 {
        even = rho(t + 1);
        odd = rho(t + 2);
        if even + odd >= 0.0 {
            rho_hat[t + 1] = even;
            rho_hat[t + 2] = odd;
        }
        t += 2;
    }
    // max_t = t - 2 >= -1; the sums below run over rho_hat[..=max_t] and rho_hat[max_t + 1].
    let last = t - 1; // max_t + 1
    if even > 0.0 {
        rho_hat[last] = even;
    }
    // Geyer's initial monotone sequence.
    let mut t = 1usize;
    while t + 3 <= last {
        if rho_hat[t + 1] + rho_hat[t + 2] > rho_hat[t - 1] + rho_hat[t] {
            rho_hat[t + 1] = 0.5 * (rho_hat[t - 1] + rho_hat[t]);
            rho_hat[t + 2] = rho_hat[t + 1];
        }
        t += 2;
    }
    if rho_hat.iter().any(|r| r.is_nan()) {
        return f64::NAN;
    }
    let tau = -1.0 + 2.0 * rho_hat[..last].iter().sum::<f64>() + rho_hat[last];
    let tau = tau.max(1.0 / size.log10());
    size / tau
}

/// Variance with divisor `n - 1` of a slice.
fn mean_var_of(xs: &[f64]) -> f64 {
    mean_var(xs.iter()).1
}

/// Classic split R-hat: `sqrt(var+ / W)` on the split chains (see the module docs).
///
/// `x[chains, draws]`; `NaN` for constant draws.
pub fn split_rhat(x: ArrayView2<f64>) -> Result<f64> {
    validate(x)?;
    Ok(rhat_of(split_chains(x).view()))
}

/// Rank-normalized split R-hat: the maximum of the bulk R-hat (rank-normalized split draws)
/// and the tail R-hat (rank-normalized `|x - median|` of the split draws).
///
/// `x[chains, draws]`; `NaN` for constant draws.
pub fn rank_normalized_rhat(x: ArrayView2<f64>) -> Result<f64> {
    validate(x)?;
    let split = split_chains(x); // [2M, N/2]
    let bulk = rhat_of(z_scale(&split).view());
    let med = median_all(split.iter());
    let folded = split.mapv(|v| (v - med).abs());
    let tail = rhat_of(z_scale(&folded).view());
    Ok(if bulk.is_nan() || tail.is_nan() {
        f64::NAN
    } else {
        bulk.max(tail)
    })
}

/// ESS of the mean: the ESS estimator on the split chains, no rank normalization.
pub fn ess_basic(x: ArrayView2<f64>) -> Result<f64> {
    validate(x)?;
    Ok(ess_of(split_chains(x).view()))
}

/// Bulk ESS: the ESS estimator on the rank-normalized split chains.
pub fn ess_bulk(x: ArrayView2<f64>) -> Result<f64> {
    validate(x)?;
    Ok(ess_of(z_scale(&split_chains(x)).view()))
}

/// ESS of the `p` quantile: the ESS estimator on the split indicators `I(x <= q_p)`,
/// `q_p` the type-7 quantile of all draws. `p` in `[0, 1]`.
pub fn ess_quantile(x: ArrayView2<f64>, p: f64) -> Result<f64> {
    validate(x)?;
    validate_prob(p)?;
    Ok(ess_quantile_of(x, p))
}

fn ess_quantile_of(x: ArrayView2<f64>, p: f64) -> f64 {
    let q = quantile_all(x.iter(), p);
    let ind = x.mapv(|v| if v <= q { 1.0 } else { 0.0 }); // [M, N]
    ess_of(split_chains(ind.view()).view())
}

/// Tail ESS: `min(ess_quantile(x, 0.05), ess_quantile(x, 0.95))`.
pub fn ess_tail(x: ArrayView2<f64>) -> Result<f64> {
    validate(x)?;
    Ok(ess_quantile_of(x, 0.05).min(ess_quantile_of(x, 0.95)))
}

/// Monte Carlo standard error of the mean: `sd / sqrt(ess_basic)`, `sd` over all draws
/// (divisor `S - 1`).
pub fn mcse_mean(x: ArrayView2<f64>) -> Result<f64> {
    let ess = ess_basic(x)?;
    let sd = mean_var(x.iter()).1.sqrt();
    Ok(sd / ess.sqrt())
}

/// Monte Carlo standard error of the sd (ArviZ's `_mcse_sd`): with `d = (x - xbar)^2`,
/// `sqrt((mean(d^2) - mean(d)^2) / ess_basic(d) / (4 mean(d)))`.
pub fn mcse_sd(x: ArrayView2<f64>) -> Result<f64> {
    validate(x)?;
    let mean = x.mean().expect("validated: not empty");
    let d = x.mapv(|v| (v - mean) * (v - mean)); // [M, N]
    let ess = ess_of(split_chains(d.view()).view());
    let evar = d.mean().expect("not empty");
    let e2 = d.iter().map(|v| v * v).sum::<f64>() / d.len() as f64;
    let varvar = (e2 - evar * evar) / ess;
    Ok((varvar / evar / 4.0).sqrt())
}

/// The type-7 `p` quantile of all draws (R's default, numpy's `linear`). `p` in `[0, 1]`.
pub fn quantile(x: ArrayView2<f64>, p: f64) -> Result<f64> {
    validate(x)?;
    validate_prob(p)?;
    Ok(quantile_all(x.iter(), p))
}

/// Posterior summary of one scalar quantity (the columns of ArviZ's `az.summary`, with
/// quantiles in place of the HDI).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub name: String,
    /// Mean of all draws.
    pub mean: f64,
    /// Standard deviation of all draws (divisor `S - 1`).
    pub sd: f64,
    /// [`mcse_mean`].
    pub mcse_mean: f64,
    /// [`mcse_sd`].
    pub mcse_sd: f64,
    /// Type-7 quantiles 5 %, 50 %, 95 %.
    pub q05: f64,
    pub q50: f64,
    pub q95: f64,
    /// [`ess_bulk`].
    pub ess_bulk: f64,
    /// [`ess_tail`].
    pub ess_tail: f64,
    /// [`rank_normalized_rhat`].
    pub rhat: f64,
}

impl Summary {
    /// The summary of `x[chains, draws]` under `name`.
    pub fn of(name: impl Into<String>, x: ArrayView2<f64>) -> Result<Self> {
        validate(x)?;
        let (mean, var) = mean_var(x.iter());
        Ok(Summary {
            name: name.into(),
            mean,
            sd: var.sqrt(),
            mcse_mean: mcse_mean(x)?,
            mcse_sd: mcse_sd(x)?,
            q05: quantile_all(x.iter(), 0.05),
            q50: quantile_all(x.iter(), 0.5),
            q95: quantile_all(x.iter(), 0.95),
            ess_bulk: ess_bulk(x)?,
            ess_tail: ess_tail(x)?,
            rhat: rank_normalized_rhat(x)?,
        })
    }
}

/// One [`Summary`] per quantity of `draws[chains, draws, dim]`, `names.len() == dim`.
pub fn summarize(draws: ArrayView3<f64>, names: &[String]) -> Result<Vec<Summary>> {
    let dim = draws.len_of(Axis(2));
    if names.len() != dim {
        return Err(Error::Shape {
            what: "summarize: names vs the last axis of draws".into(),
            expected: vec![dim],
            found: vec![names.len()],
        });
    }
    names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let x = draws.index_axis(Axis(2), k); // [chains, draws]
            Summary::of(name.clone(), x).map_err(|e| match e {
                Error::Invalid { field, msg } => Error::Invalid {
                    field: format!("{field} of {name}"),
                    msg,
                },
                e => e,
            })
        })
        .collect()
}

/// Sampler statistics for the footer of a [`SummaryTable`], supplied by the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerStats {
    /// Mean acceptance rate (or mean acceptance probability), in `[0, 1]`.
    pub acceptance: f64,
    /// Number of divergent transitions.
    pub divergences: usize,
    /// Number of gradient evaluations of the energy.
    pub grad_evals: u64,
}

/// Per-draw sampler statistics, each `[chains, draws]`, under the names of ArviZ's
/// `sample_stats` group (what `arviz.from_dict(sample_stats=...)` reads; its BFMI reads
/// `energy`). A draw kept after `thin` transitions stands for all of them: acceptance
/// averaged, divergence if any diverged, leapfrog steps summed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DrawStats {
    /// `log p(y) + log Z = -beta E(y)` at the draw.
    pub lp: Array2<f64>,
    /// The Metropolis-Hastings acceptance probability `min(1, alpha)` of the
    /// transition (NUTS: the mean over its tree; ULA: 1).
    pub acceptance_rate: Array2<f64>,
    /// Whether the transition diverged (a non-finite or exploding energy).
    pub diverging: Array2<bool>,
    /// The step size the transition used (before any per-chain jitter).
    pub step_size: Array2<f64>,
    /// Leapfrog steps (gradient evaluations) of the transition; 1 for MALA/ULA, 0 for MH.
    pub n_steps: Array2<u64>,
    /// NUTS only: the depth of the tree.
    pub tree_depth: Option<Array2<u64>>,
    /// NUTS only: the Hamiltonian `beta E(y) + p^T M^-1 p / 2` at the draw.
    pub energy: Option<Array2<f64>>,
    /// NUTS only: the change of the Hamiltonian along the trajectory to the draw.
    pub energy_error: Option<Array2<f64>>,
}

impl DrawStats {
    /// Zeros for `chains x draws`, with NUTS's three extra statistics when `nuts`.
    pub fn zeros(chains: usize, draws: usize, nuts: bool) -> DrawStats {
        let z = || Array2::zeros((chains, draws));
        DrawStats {
            lp: z(),
            acceptance_rate: z(),
            diverging: Array2::from_elem((chains, draws), false),
            step_size: z(),
            n_steps: Array2::zeros((chains, draws)),
            tree_depth: nuts.then(|| Array2::zeros((chains, draws))),
            energy: nuts.then(z),
            energy_error: nuts.then(z),
        }
    }

    /// Divergent draws over all chains.
    pub fn divergences(&self) -> usize {
        self.diverging.iter().filter(|&&d| d).count()
    }

    /// Bayesian fraction of missing information per chain (NUTS only):
    /// `mean_n (H_n - H_{n-1})^2 / var_n H_n` (both with divisor `N - 1`), as ArviZ's
    /// `bfmi`; below 0.3 the momentum resampling explores the energy levels poorly.
    pub fn bfmi(&self) -> Option<Vec<f64>> {
        let h = self.energy.as_ref()?;
        Some(
            h.rows()
                .into_iter()
                .map(|r| {
                    let n = r.len() as f64;
                    let mean = r.sum() / n;
                    let jumps: f64 = r
                        .windows(2)
                        .into_iter()
                        .map(|w| (w[1] - w[0]).powi(2))
                        .sum();
                    let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
                    jumps / (n - 1.0) / var
                })
                .collect(),
        )
    }
}

/// A printable table of summaries, aligned like ArviZ's `az.summary`: means, sds, mcse
/// and quantiles with 3 decimals, ESS rounded to integers, R-hat with 2 decimals; an
/// optional footer line of [`SamplerStats`].
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryTable {
    pub rows: Vec<Summary>,
    pub stats: Option<SamplerStats>,
}

impl SummaryTable {
    /// A table without a footer.
    pub fn new(rows: Vec<Summary>) -> Self {
        SummaryTable { rows, stats: None }
    }

    /// Adds the sampler-statistics footer.
    pub fn with_stats(mut self, stats: SamplerStats) -> Self {
        self.stats = Some(stats);
        self
    }
}

impl fmt::Display for SummaryTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEAD: [&str; 11] = [
            "",
            "mean",
            "sd",
            "mcse_mean",
            "mcse_sd",
            "5%",
            "50%",
            "95%",
            "ess_bulk",
            "ess_tail",
            "r_hat",
        ];
        let cells: Vec<[String; 11]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    format!("{:.3}", r.mean),
                    format!("{:.3}", r.sd),
                    format!("{:.3}", r.mcse_mean),
                    format!("{:.3}", r.mcse_sd),
                    format!("{:.3}", r.q05),
                    format!("{:.3}", r.q50),
                    format!("{:.3}", r.q95),
                    format!("{:.0}", r.ess_bulk),
                    format!("{:.0}", r.ess_tail),
                    format!("{:.2}", r.rhat),
                ]
            })
            .collect();
        let mut width = HEAD.map(str::len);
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, row: [&str; 11]| -> fmt::Result {
            write!(f, "{:<w$}", row[0], w = width[0])?;
            for (c, w) in row.iter().zip(width).skip(1) {
                write!(f, "  {c:>w$}")?;
            }
            writeln!(f)
        };
        line(f, HEAD)?;
        for row in &cells {
            line(f, std::array::from_fn(|i| row[i].as_str()))?;
        }
        if let Some(s) = self.stats {
            writeln!(
                f,
                "sampler: acceptance {:.3}, {} divergences, {} gradient evaluations",
                s.acceptance, s.divergences, s.grad_evals
            )?;
        }
        Ok(())
    }
}
