//! Exact evaluation of a 2-D energy model `p_model(x) = exp(-beta E(x)) / Z` against a
//! toy data set ([`crate::toy`]), by the midpoint rule on an `n x n` grid over the set's
//! [`ToyData::support_box`] (default `n = 512`; cell sides `h_x, h_y`, midpoints `c`):
//!
//! - `log Z = log sum_c exp(-beta E(c)) + log(h_x h_y)`, a log-sum-exp in f64; the
//!   energy is called on whole grid rows, several rows a call.
//! - Whether the box holds the model: the model's mass on the cells of the outer 5%
//!   frame (midpoints within `0.05 (hi - lo)` of an edge), `frame_mass`. Above
//!   [`FRAME_MASS_MAX`] = `1e-3` the result is still returned, with
//!   `box_holds_mass = false`: `Z` is then the box's share only (too small), so `log Z`,
//!   the test NLL and the KL are lower bounds of sorts and should not be trusted. A
//!   trainer logs a flag; it does not want an error.
//! - Test NLL in nats: `mean_i [beta E(x_i) + log Z]` (the exact `-log p_model(x_i)` but
//!   for the quadrature's error).
//! - Where the data set has a closed-form density `p_data`, both densities are taken as
//!   the distributions the midpoint rule gives them on the grid, each normalized over the
//!   cells (`p^_data(c) = p_data(c) / sum_c' p_data(c') h_x h_y`, and `p_model(c)` as above):
//!   `KL(p_data || p_model) = sum_{c: p_data(c) > 0} p^_data(c) (log p^_data(c) - log
//!   p_model(c)) h_x h_y` (the checkerboard's sum runs over its support only), and the
//!   data entropy `H = -sum_c p^_data log p^_data h_x h_y`, the best possible test NLL.
//!   For smooth densities this is the integral to `O(h^2)`; for the checkerboard it is
//!   exact when the cell edges fall on the squares' edges (a grid that is a multiple of
//!   128 on its box `+-5.12`: 512 is), else its squares are resolved to `O(h)`.
//! - `mass_outside`: the model's mass where the data is essentially absent, the cells with
//!   `p_data(c) < 1e-4 max_c' p_data(c')` (for the checkerboard, exactly the cells off
//!   its support, where `p_data = 0`). Sets without a closed form get `None` for the KL,
//!   the entropy and `mass_outside`.
//!
//! [`gaussian_fit_nll`] is the baseline any model should beat: the maximum-likelihood
//! Gaussian (mean, full covariance `S = 1/n sum (x - m)(x - m)^T` from the training
//! points), its mean test NLL `d/2 log 2 pi + 1/2 log det S + 1/2 mean (x - m)^T S^-1
//! (x - m)`.

// Index loops read like the equations here.
#![allow(clippy::needless_range_loop)]

use crate::energy::{Energy, validate_beta};
use crate::toy::ToyData;
use crate::{Error, Result};
use ndarray::{Array1, Array2, ArrayView2, Axis};

/// The grid per axis unless told otherwise.
pub const DEFAULT_GRID: usize = 512;
/// The outer frame whose model mass says whether the box holds the model, as a fraction
/// of the box's side.
pub const FRAME: f64 = 0.05;
/// Above this model mass in the frame, `box_holds_mass` is false.
pub const FRAME_MASS_MAX: f64 = 1e-3;
/// `p_data < DATA_FLOOR * max p_data` counts as "no data" for `mass_outside`.
pub const DATA_FLOOR: f64 = 1e-4;

/// A box `([x_lo, y_lo], [x_hi, y_hi])`.
pub type Box2 = ([f64; 2], [f64; 2]);

/// The exact evaluation of a 2-D energy model (nats).
#[derive(Clone, Debug, PartialEq)]
pub struct Exact2d {
    /// `log Z_beta` over the box.
    pub log_z: f64,
    /// Mean `beta E(x) + log Z` over the test points.
    pub test_nll: f64,
    /// `KL(p_data || p_model)`, where the data has a closed-form density.
    pub kl: Option<f64>,
    /// The data's entropy on the same grid (the test NLL of a perfect model).
    pub data_entropy: Option<f64>,
    /// Model mass where `p_data < 1e-4 max p_data` (off the support, for the checkerboard).
    pub mass_outside: Option<f64>,
    /// Model mass in the box's outer 5% frame.
    pub frame_mass: f64,
    /// `frame_mass <= 1e-3`: otherwise `log Z` misses mass and nothing here is exact.
    pub box_holds_mass: bool,
    /// The box integrated over and the grid per axis.
    pub bounds: Box2,
    pub grid: usize,
}

fn check_grid(energy: &dyn Energy, beta: f64, bounds: Box2, n: usize) -> Result<()> {
    validate_beta(beta)?;
    if energy.dim() != 2 {
        return Err(Error::invalid(
            "exact 2-D evaluation",
            format!("{} has dimension {}, not 2", energy.name(), energy.dim()),
        ));
    }
    let (lo, hi) = bounds;
    if let Some(i) = (0..2).find(|&i| !(lo[i].is_finite() && hi[i].is_finite() && hi[i] > lo[i])) {
        return Err(Error::invalid(
            "exact 2-D box",
            format!("axis {i}: [{}, {}] is not a finite interval", lo[i], hi[i]),
        ));
    }
    if n < 8 {
        return Err(Error::invalid(
            "exact 2-D grid",
            format!("{n} cells per axis; use at least 8"),
        ));
    }
    Ok(())
}

/// Cell sides `(h_x, h_y)` and the midpoints of each axis.
fn axes(bounds: Box2, n: usize) -> ([f64; 2], [Vec<f64>; 2]) {
    let (lo, hi) = bounds;
    let h = [(hi[0] - lo[0]) / n as f64, (hi[1] - lo[1]) / n as f64];
    let mids = [0, 1].map(|i| (0..n).map(|k| lo[i] + (k as f64 + 0.5) * h[i]).collect());
    (h, mids)
}

/// Calls `f(iy0, points, out)` on blocks of whole grid rows: `points: [rows * n, 2]`,
/// row `iy` of the grid is `y = mids_y[iy]`, `x` running over `mids_x`.
fn for_grid_rows(
    bounds: Box2,
    n: usize,
    mut f: impl FnMut(usize, ArrayView2<f64>, &mut [f64]) -> Result<()>,
) -> Result<()> {
    let (_, [mx, my]) = axes(bounds, n);
    let rows = (16384 / n).clamp(1, n);
    let mut pts = Array2::<f64>::zeros((rows * n, 2)); // [rows * n, 2]
    let mut out = vec![0.0; rows * n];
    let mut iy0 = 0;
    while iy0 < n {
        let len = rows.min(n - iy0);
        for r in 0..len {
            for ix in 0..n {
                pts[[r * n + ix, 0]] = mx[ix];
                pts[[r * n + ix, 1]] = my[iy0 + r];
            }
        }
        let view = pts.slice(ndarray::s![..len * n, ..]); // [len * n, 2]
        f(iy0, view, &mut out[..len * n])?;
        iy0 += len;
    }
    Ok(())
}

/// `-beta E(c)` at the cell midpoints, `[n, n]` (row `iy`, column `ix`; row 0 at the
/// bottom, as [`crate::plot::heatmap`] draws it). `NaN` or `-inf` energies are errors.
pub fn neg_energy_grid(
    energy: &dyn Energy,
    beta: f64,
    bounds: Box2,
    n: usize,
) -> Result<Array2<f64>> {
    check_grid(energy, beta, bounds, n)?;
    let mut g = Array2::<f64>::zeros((n, n)); // [n, n]
    for_grid_rows(bounds, n, |iy0, pts, out| {
        energy.energy(pts, out);
        if let Some(i) = out
            .iter()
            .position(|e| e.is_nan() || *e == f64::NEG_INFINITY)
        {
            return Err(Error::invalid(
                "energy",
                format!(
                    "{} returned {} at y = {:?}",
                    energy.name(),
                    out[i],
                    pts.row(i).to_vec()
                ),
            ));
        }
        for (k, &e) in out.iter().enumerate() {
            g[[iy0 + k / n, k % n]] = -beta * e;
        }
        Ok(())
    })?;
    Ok(g)
}

/// `log sum_c exp(g_c) + log(h_x h_y)`: `log Z` from [`neg_energy_grid`]'s grid.
fn log_z_of(g: &Array2<f64>, h: [f64; 2], name: &str) -> Result<f64> {
    let s = crate::gibbs::log_sum_exp(g.as_slice().expect("standard layout"));
    if !s.is_finite() {
        return Err(Error::invalid(
            "exact 2-D evaluation",
            format!("{name}: sum of exp(-beta E) over the grid is {}", s.exp()),
        ));
    }
    Ok(s + (h[0] * h[1]).ln())
}

/// `p_model` at the cell midpoints, `[n, n]` (row `iy` at `y`, row 0 at the bottom, for
/// [`crate::plot::heatmap`]), and `log Z` over the box.
pub fn density_grid(
    energy: &dyn Energy,
    beta: f64,
    bounds: Box2,
    n: usize,
) -> Result<(Array2<f64>, f64)> {
    let g = neg_energy_grid(energy, beta, bounds, n)?;
    let (h, _) = axes(bounds, n);
    let log_z = log_z_of(&g, h, &energy.name())?;
    Ok((g.mapv(|v| (v - log_z).exp()), log_z)) // [n, n]
}

/// `log p_data` at the cell midpoints, `[n, n]`, where the set has a closed form.
pub fn data_log_density_grid(data: &ToyData, bounds: Box2, n: usize) -> Result<Array2<f64>> {
    let mut g = Array2::<f64>::zeros((n, n)); // [n, n]
    for_grid_rows(bounds, n, |iy0, pts, out| {
        data.log_density(pts, out)?;
        for (k, &v) in out.iter().enumerate() {
            g[[iy0 + k / n, k % n]] = v;
        }
        Ok(())
    })?;
    Ok(g)
}

/// Exact evaluation of `p_model = exp(-beta E) / Z` on `data`'s support box with `grid`
/// cells per axis, and its NLL on `test: [m, 2]` (module doc).
pub fn evaluate(
    energy: &dyn Energy,
    beta: f64,
    data: &ToyData,
    test: ArrayView2<f64>,
    grid: usize,
) -> Result<Exact2d> {
    let bounds = data.support_box();
    if test.ncols() != 2 || test.nrows() == 0 {
        return Err(Error::Shape {
            what: "exact 2-D evaluation: test points".into(),
            expected: vec![test.nrows().max(1), 2],
            found: vec![test.nrows(), test.ncols()],
        });
    }
    let n = grid;
    let g = neg_energy_grid(energy, beta, bounds, n)?; // [n, n]
    let (h, [mx, my]) = axes(bounds, n);
    let cell = h[0] * h[1];
    let log_z = log_z_of(&g, h, &energy.name())?;
    let log_pm = g.mapv(|v| v - log_z); // log p_model(c): [n, n]

    // Model mass in the outer frame.
    let (lo, hi) = bounds;
    let in_frame = |v: f64, i: usize| {
        let w = FRAME * (hi[i] - lo[i]);
        v < lo[i] + w || v > hi[i] - w
    };
    let mut frame_mass = 0.0;
    for iy in 0..n {
        for ix in 0..n {
            if in_frame(mx[ix], 0) || in_frame(my[iy], 1) {
                frame_mass += log_pm[[iy, ix]].exp() * cell;
            }
        }
    }

    // Test NLL, in blocks.
    let mut nll = 0.0;
    let mut e = vec![0.0; test.nrows().min(8192)];
    for block in test.axis_chunks_iter(Axis(0), 8192) {
        let e = &mut e[..block.nrows()];
        energy.energy(block, e);
        if let Some(i) = e.iter().position(|v| v.is_nan()) {
            return Err(Error::invalid(
                "energy",
                format!(
                    "{} returned NaN at test point {:?}",
                    energy.name(),
                    block.row(i).to_vec()
                ),
            ));
        }
        nll += e.iter().map(|v| beta * v + log_z).sum::<f64>();
    }
    let test_nll = nll / test.nrows() as f64;

    let (mut kl, mut data_entropy, mut mass_outside) = (None, None, None);
    if data.has_density() {
        let log_pd = data_log_density_grid(data, bounds, n)?; // [n, n]
        let mass = log_pd.iter().map(|v| v.exp()).sum::<f64>() * cell;
        let log_mass = mass.ln();
        let max_pd = log_pd.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let floor = max_pd + DATA_FLOOR.ln();
        let (mut k, mut ent, mut out) = (0.0, 0.0, 0.0);
        for (&lp, &lm) in log_pd.iter().zip(log_pm.iter()) {
            if lp < floor {
                out += lm.exp() * cell;
            }
            if lp == f64::NEG_INFINITY {
                continue; // p_data = 0 contributes nothing (the checkerboard off its support)
            }
            let lp = lp - log_mass; // log p^_data
            let w = lp.exp() * cell;
            k += w * (lp - lm);
            ent -= w * lp;
        }
        kl = Some(k);
        data_entropy = Some(ent);
        mass_outside = Some(out);
    }
    Ok(Exact2d {
        log_z,
        test_nll,
        kl,
        data_entropy,
        mass_outside,
        frame_mass,
        box_holds_mass: frame_mass <= FRAME_MASS_MAX,
        bounds,
        grid: n,
    })
}

/// Mean test NLL (nats) of the maximum-likelihood Gaussian of `train: [n, d]` (mean and
/// full covariance, divided by `n`) on `test: [m, d]`. An error if the widths differ,
/// either set is empty or the covariance is singular.
pub fn gaussian_fit_nll(train: ArrayView2<f64>, test: ArrayView2<f64>) -> Result<f64> {
    let d = train.ncols();
    if d == 0 || test.ncols() != d || train.nrows() <= d || test.nrows() == 0 {
        return Err(Error::Shape {
            what: "gaussian fit: train [n > d, d] and test [m > 0, d]".into(),
            expected: vec![train.nrows(), d, test.nrows(), d],
            found: vec![train.nrows(), train.ncols(), test.nrows(), test.ncols()],
        });
    }
    let mean: Array1<f64> = train.mean_axis(Axis(0)).expect("non-empty"); // [d]
    let r = &train - &mean; // [n, d]
    let cov = r.t().dot(&r) / train.nrows() as f64; // [d, d]
    let l = crate::info::cholesky("gaussian fit covariance", cov.view())?;
    let log_det: f64 = 2.0 * (0..d).map(|i| l[[i, i]].ln()).sum::<f64>();
    let mut quad = 0.0;
    let mut z = vec![0.0; d];
    for row in test.rows() {
        // Solve L z = x - m; (x - m)^T S^-1 (x - m) = |z|^2.
        for i in 0..d {
            let mut s = row[i] - mean[i];
            for j in 0..i {
                s -= l[[i, j]] * z[j];
            }
            z[i] = s / l[[i, i]];
        }
        quad += z.iter().map(|v| v * v).sum::<f64>();
    }
    Ok(0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()
        + 0.5 * log_det
        + 0.5 * quad / test.nrows() as f64)
}
