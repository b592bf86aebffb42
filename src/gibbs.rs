//! From energies to probabilities: the Gibbs distribution (SPEC section 1).
//!
//! For a finite set of states `y` with energies `E(y)` and an inverse temperature
//! `beta > 0`:
//!
//! - `P(y) = exp(-beta E(y)) / Z` ("softargmax" of `-beta E`), with the partition function
//!   `Z = sum_y exp(-beta E(y))` ([`softargmax`], [`log_softargmax`], [`log_z`]);
//! - the free energy of the whole set `F = -(1/beta) log Z` ([`free_energy`]);
//! - the same along one axis of an n-d table of energies ([`softargmax_axis`],
//!   [`log_softargmax_axis`], [`log_z_axis`]);
//! - on a table `E[x, y, z]` ([`EnergyTable`]), for each `x`: the joint
//!   `P(y, z | x) = exp(-beta E(x, y, z)) / Z(x)`, the marginals
//!   `P(y | x) = sum_z P(y, z | x)` and `P(z | x) = sum_y P(y, z | x)`, the conditionals
//!   `P(y | z, x) = P(y, z | x) / P(z | x)` and `P(z | y, x) = P(y, z | x) / P(y | x)`,
//!   the free energy `F_beta(x, y) = -(1/beta) log sum_z exp(-beta E(x, y, z))` (so that
//!   `P(y | x) = exp(-beta F_beta(x, y)) / Z(x)`), and Bayes' rule
//!   `P(y, z) = P(y | z) P(z) = P(z | y) P(y)` ([`bayes_rule_violation`]);
//! - the limits: as `beta -> inf`, `P` tends to the uniform law over the minimizers of `E`
//!   ([`argmin_limit`]); as `beta -> 0`, to the uniform law over the states
//!   ([`uniform_limit`]).
//!
//! Everything is computed in log space and in f64. Each normalization is shifted by the
//! minimum energy of the set it sums over, `m = min E`:
//! `log sum_i exp(-beta E_i) = -beta m + log(1 + sum_{i != argmin} exp(-beta (E_i - m)))`,
//! so no exponential overflows, the largest term is exactly 1, and `-beta (E_i - m)` is
//! rounded relative to the energy *difference*, not to `|E|`. This keeps probabilities
//! accurate to a few ulps (and Bayes' rule to about 1e-13) for `beta` in `[1e-3, 1e6]` and
//! `|E|` up to 1e4, where a naive `exp(-beta E)` overflows (`beta |E| = 1e10`).
//!
//! Inputs: `beta` must be finite and `> 0`. An energy of `+inf` in a slice or an n-d table
//! means "excluded": that state gets probability exactly 0 (log-probability `-inf`); at
//! least one state of each normalized set must be finite. `NaN` and `-inf` energies are
//! errors naming their index. Energies of an [`EnergyTable`] must all be finite.

use crate::error::{Error, Result};
use ndarray::{Array1, Array2, Array3, ArrayD, ArrayView, ArrayView1, ArrayView2, ArrayView3};
use ndarray::{ArrayViewD, Axis, Dimension, IxDyn, Zip};

/// `softplus(x) = log(1 + e^x) = log_sum_exp([0, x])`, without overflow (f64).
pub fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// `log sum_i exp(x_i)`, shifted by the maximum:
/// `m + log(1 + sum_{i != argmax} exp(x_i - m))`.
///
/// `-inf` for an empty slice or when every entry is `-inf`; `+inf` if an entry is `+inf`;
/// `NaN` if an entry is `NaN` (this is the bare numerical kernel: the validating entry
/// points are [`log_z`] and friends).
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    if xs.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        // Empty or all -inf (-inf), or some +inf (+inf).
        return m;
    }
    let mut rest = 0.0f64;
    let mut skipped = false;
    for &x in xs {
        if !skipped && x == m {
            skipped = true;
        } else {
            rest += (x - m).exp();
        }
    }
    m + rest.ln_1p()
}

/// Checks an inverse temperature: finite and `> 0`.
pub fn validate_beta(beta: f64) -> Result<()> {
    if beta.is_finite() && beta > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "beta",
            format!("{beta} (the inverse temperature must be finite and > 0)"),
        ))
    }
}

/// Checks a set of energies: not empty, no `NaN` or `-inf`, not all `+inf`.
fn validate_energies(energies: &[f64]) -> Result<()> {
    if energies.is_empty() {
        return Err(Error::invalid(
            "energies",
            "empty (no state to normalize over)",
        ));
    }
    for (i, &e) in energies.iter().enumerate() {
        check_energy(e, || format!("entry {i}"))?;
    }
    if energies.iter().all(|&e| e == f64::INFINITY) {
        return Err(Error::invalid(
            "energies",
            format!(
                "all {} entries are +inf (every state excluded)",
                energies.len()
            ),
        ));
    }
    Ok(())
}

fn check_energy(e: f64, at: impl FnOnce() -> String) -> Result<()> {
    if e.is_nan() {
        Err(Error::invalid("energies", format!("{} is NaN", at())))
    } else if e == f64::NEG_INFINITY {
        Err(Error::invalid(
            "energies",
            format!("{} is -inf (only +inf, meaning excluded, is allowed)", at()),
        ))
    } else {
        Ok(())
    }
}

/// For energies `e` (validated: some entry finite, none NaN or -inf), returns `(m, l)` with
/// `m = min e` and `l = log sum_i exp(-beta (e_i - m)) = log(1 + sum_{i != argmin} ...)`,
/// so that `log sum_i exp(-beta e_i) = -beta m + l` and `0 <= l <= ln n`.
fn shifted_lse<D: Dimension>(e: &ArrayView<f64, D>, beta: f64) -> (f64, f64) {
    let m = e.iter().copied().fold(f64::INFINITY, f64::min);
    let mut rest = 0.0f64;
    let mut skipped = false;
    for &v in e.iter() {
        if !skipped && v == m {
            skipped = true;
        } else {
            rest += (-beta * (v - m)).exp();
        }
    }
    (m, rest.ln_1p())
}

/// `log Z = -beta m + l`, an error if it overflows f64 (only for `beta |m|` near 1.8e308).
fn finite_log_z(m: f64, l: f64, beta: f64) -> Result<f64> {
    let lz = -beta * m + l;
    if lz.is_finite() {
        Ok(lz)
    } else {
        Err(Error::invalid(
            "beta",
            format!("{beta}: log Z = -beta * {m} overflows f64"),
        ))
    }
}

/// `F = m - l / beta`, an error if it overflows f64 (only for `beta` near 1e-300).
fn finite_free_energy(m: f64, l: f64, beta: f64) -> Result<f64> {
    let f = m - l / beta;
    if f.is_finite() {
        Ok(f)
    } else {
        Err(Error::invalid(
            "beta",
            format!("{beta}: free energy -(1/beta) log Z overflows f64"),
        ))
    }
}

/// Log partition function `log Z = log sum_y exp(-beta E(y))`.
///
/// Errors: `beta` not finite and `> 0`; empty `energies`; a `NaN` or `-inf` energy (named by
/// its index); every energy `+inf`.
pub fn log_z(energies: &[f64], beta: f64) -> Result<f64> {
    validate_beta(beta)?;
    validate_energies(energies)?;
    let (m, l) = shifted_lse(&ArrayView1::from(energies), beta);
    finite_log_z(m, l, beta)
}

/// Free energy of the set, `F = -(1/beta) log Z = min E - (1/beta) log sum exp(-beta (E - min E))`.
///
/// It lies in `[min E - ln(n) / beta, min E]`: it tends to `min E` as `beta -> inf`. Errors as
/// [`log_z`].
pub fn free_energy(energies: &[f64], beta: f64) -> Result<f64> {
    validate_beta(beta)?;
    validate_energies(energies)?;
    let (m, l) = shifted_lse(&ArrayView1::from(energies), beta);
    finite_free_energy(m, l, beta)
}

/// Log-probabilities `log P(y) = -beta E(y) - log Z = -beta (E(y) - min E) - l`; `-inf` for
/// an excluded (`+inf`) state. Errors as [`log_z`].
pub fn log_softargmax(energies: &[f64], beta: f64) -> Result<Vec<f64>> {
    validate_beta(beta)?;
    validate_energies(energies)?;
    let (m, l) = shifted_lse(&ArrayView1::from(energies), beta);
    Ok(energies.iter().map(|&e| -beta * (e - m) - l).collect())
}

/// The Gibbs distribution `P(y) = exp(-beta E(y)) / Z` ("softargmax" of `-beta E`); sums to
/// 1 to a few ulps. As `beta -> inf` it tends to [`argmin_limit`], as `beta -> 0` to
/// [`uniform_limit`] (over the finite states). Errors as [`log_z`].
pub fn softargmax(energies: &[f64], beta: f64) -> Result<Vec<f64>> {
    let mut p = log_softargmax(energies, beta)?;
    p.iter_mut().for_each(|v| *v = v.exp());
    Ok(p)
}

/// The `beta -> inf` limit of [`softargmax`]: the uniform law over the minimizers of `E`
/// (`1/k` on each of the `k` entries equal to `min E`, 0 elsewhere).
///
/// Ties are exact equalities; at a finite `beta`, states within much less than `1/beta` of
/// the minimum share the mass as well. Errors as [`log_z`] (without `beta`).
pub fn argmin_limit(energies: &[f64]) -> Result<Vec<f64>> {
    validate_energies(energies)?;
    let m = energies.iter().copied().fold(f64::INFINITY, f64::min);
    let k = energies.iter().filter(|&&e| e == m).count();
    let p = 1.0 / k as f64;
    Ok(energies
        .iter()
        .map(|&e| if e == m { p } else { 0.0 })
        .collect())
}

/// The `beta -> 0` limit of [`softargmax`] over `n` finite states: `1/n` each. (With
/// excluded `+inf` states, the limit is uniform over the finite ones only.) Error if `n = 0`.
pub fn uniform_limit(n: usize) -> Result<Vec<f64>> {
    if n == 0 {
        return Err(Error::invalid(
            "n",
            "0 states (the uniform law needs at least one)",
        ));
    }
    Ok(vec![1.0 / n as f64; n])
}

/// Validates an n-d energy table for normalization along `axis`.
fn validate_axis(e: &ArrayViewD<f64>, axis: usize) -> Result<()> {
    if axis >= e.ndim() {
        return Err(Error::invalid(
            "axis",
            format!(
                "{axis} out of range for a table of shape {:?} ({} axes)",
                e.shape(),
                e.ndim()
            ),
        ));
    }
    if e.len_of(Axis(axis)) == 0 {
        return Err(Error::invalid(
            "energies",
            format!(
                "empty along axis {axis} (shape {:?}): no state to normalize over",
                e.shape()
            ),
        ));
    }
    for (idx, &v) in e.indexed_iter() {
        check_energy(v, || format!("entry {:?}", idx.slice()))?;
    }
    let excluded = e.map_axis(Axis(axis), |lane| lane.iter().all(|&v| v == f64::INFINITY));
    if let Some((idx, _)) = excluded.indexed_iter().find(|(_, all)| **all) {
        return Err(Error::invalid(
            "energies",
            format!(
                "every entry of the slice {:?} (axis {axis} removed) is +inf (every state excluded)",
                idx.slice()
            ),
        ));
    }
    Ok(())
}

/// `log P` normalized along `axis` of an n-d table of energies: for every slice `s` along
/// `axis`, `log P[s, i] = -beta E[s, i] - log Z[s]`. Same shape as `e`.
///
/// Errors: `beta`; `axis >= e.ndim()`; an empty axis; a `NaN` or `-inf` energy (named by its
/// multi-index); a slice whose energies are all `+inf`.
pub fn log_softargmax_axis(e: ArrayViewD<f64>, axis: usize, beta: f64) -> Result<ArrayD<f64>> {
    validate_beta(beta)?;
    validate_axis(&e, axis)?;
    let mut out = e.to_owned();
    for mut lane in out.lanes_mut(Axis(axis)) {
        let (m, l) = shifted_lse(&lane.view(), beta);
        lane.mapv_inplace(|v| -beta * (v - m) - l);
    }
    Ok(out)
}

/// `P` normalized along `axis` of an n-d table of energies:
/// `P[s, i] = exp(-beta E[s, i]) / sum_j exp(-beta E[s, j])`. Same shape as `e`; every slice
/// along `axis` sums to 1. Errors as [`log_softargmax_axis`].
pub fn softargmax_axis(e: ArrayViewD<f64>, axis: usize, beta: f64) -> Result<ArrayD<f64>> {
    let mut p = log_softargmax_axis(e, axis, beta)?;
    p.mapv_inplace(f64::exp);
    Ok(p)
}

/// The log-partition of every slice along `axis`:
/// `log Z[s] = log sum_i exp(-beta E[s, i])`; the shape of `e` with `axis` removed.
/// Errors as [`log_softargmax_axis`], and if a `log Z` overflows f64.
pub fn log_z_axis(e: ArrayViewD<f64>, axis: usize, beta: f64) -> Result<ArrayD<f64>> {
    validate_beta(beta)?;
    validate_axis(&e, axis)?;
    let mut shape = e.shape().to_vec();
    shape.remove(axis);
    let mut out = ArrayD::zeros(IxDyn(&shape));
    for (o, lane) in out.iter_mut().zip(e.lanes(Axis(axis))) {
        let (m, l) = shifted_lse(&lane, beta);
        *o = finite_log_z(m, l, beta)?;
    }
    Ok(out)
}

/// The largest violation of Bayes' rule `P(y, z) = P(y | z) P(z) = P(z | y) P(y)`:
/// `max_{y, z} max(|P(y,z) - P(y|z) P(z)|, |P(y,z) - P(z|y) P(y)|)`.
///
/// Shapes: `joint`, `y_given_z` and `z_given_y` are `[y, z]`, `p_y` is `[y]`, `p_z` is `[z]`.
/// Errors: a shape mismatch, a non-finite entry.
pub fn bayes_rule_violation(
    joint: ArrayView2<f64>,
    y_given_z: ArrayView2<f64>,
    z_given_y: ArrayView2<f64>,
    p_y: ArrayView1<f64>,
    p_z: ArrayView1<f64>,
) -> Result<f64> {
    let (ny, nz) = joint.dim();
    let shape2 = |what: &str, a: &ArrayView2<f64>| -> Result<()> {
        if a.dim() == (ny, nz) {
            Ok(())
        } else {
            Err(Error::Shape {
                what: what.into(),
                expected: vec![ny, nz],
                found: a.shape().to_vec(),
            })
        }
    };
    shape2("Bayes' rule: P(y|z)", &y_given_z)?;
    shape2("Bayes' rule: P(z|y)", &z_given_y)?;
    for (what, len, n) in [
        ("Bayes' rule: P(y)", p_y.len(), ny),
        ("Bayes' rule: P(z)", p_z.len(), nz),
    ] {
        if len != n {
            return Err(Error::Shape {
                what: what.into(),
                expected: vec![n],
                found: vec![len],
            });
        }
    }
    let named: [(&str, Vec<f64>); 5] = [
        ("joint", joint.iter().copied().collect()),
        ("y_given_z", y_given_z.iter().copied().collect()),
        ("z_given_y", z_given_y.iter().copied().collect()),
        ("p_y", p_y.to_vec()),
        ("p_z", p_z.to_vec()),
    ];
    for (name, v) in &named {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                *name,
                format!("entry {i} (row-major) is {}", v[i]),
            ));
        }
    }
    let mut worst = 0.0f64;
    for ((y, z), &pj) in joint.indexed_iter() {
        let a = (pj - y_given_z[[y, z]] * p_z[z]).abs();
        let b = (pj - z_given_y[[y, z]] * p_y[y]).abs();
        worst = worst.max(a).max(b);
    }
    Ok(worst)
}

/// A discrete energy `E[x, y, z]` (`[n_x, n_y, n_z]`, all entries finite) and its Gibbs
/// distributions `P(y, z | x)` at any `beta`.
///
/// Every method takes the conditioning index `x` and `beta`, and errors if `x >= n_x` or
/// `beta` is not finite and `> 0`. Each quantity is normalized in log space by the minimum
/// energy of the set it sums over (the whole `[y, z]` slice, a row or a column), so the
/// joint, the marginals and the conditionals satisfy Bayes' rule to about 1e-13 even at
/// `beta = 1e6` with `|E| = 1e4`.
#[derive(Clone, Debug)]
pub struct EnergyTable {
    e: Array3<f64>,
}

/// The row (`y`) and column (`z`) normalizers of one `x` slice: `min` and
/// `l = log sum exp(-beta (E - min))` along each row and column.
struct Lanes {
    row_min: Array1<f64>, // [y]
    row_l: Array1<f64>,   // [y]
    col_min: Array1<f64>, // [z]
    col_l: Array1<f64>,   // [z]
}

impl EnergyTable {
    /// Wraps `e[x, y, z]`. Errors: an empty axis; a non-finite energy, named by its index.
    pub fn new(e: Array3<f64>) -> Result<Self> {
        if e.is_empty() {
            return Err(Error::invalid(
                "energy table",
                format!(
                    "empty: shape {:?} (every axis needs at least one entry)",
                    e.shape()
                ),
            ));
        }
        if let Some(((x, y, z), v)) = e.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::invalid(
                "energy table",
                format!("E[{x}, {y}, {z}] = {v} is not finite"),
            ));
        }
        Ok(EnergyTable { e })
    }

    /// The energies, `[n_x, n_y, n_z]`.
    pub fn energies(&self) -> ArrayView3<'_, f64> {
        self.e.view()
    }

    /// `(n_x, n_y, n_z)`.
    pub fn dim(&self) -> (usize, usize, usize) {
        self.e.dim()
    }

    /// The `[y, z]` slice at `x`, after checking `x` and `beta`.
    fn slice(&self, x: usize, beta: f64) -> Result<ArrayView2<'_, f64>> {
        validate_beta(beta)?;
        let nx = self.e.len_of(Axis(0));
        if x >= nx {
            return Err(Error::invalid(
                "x",
                format!("{x} out of range (the table has {nx} values of x)"),
            ));
        }
        Ok(self.e.index_axis(Axis(0), x))
    }

    fn lanes(e: &ArrayView2<f64>, beta: f64) -> Lanes {
        let ny = e.nrows();
        let nz = e.ncols();
        let mut lanes = Lanes {
            row_min: Array1::zeros(ny),
            row_l: Array1::zeros(ny),
            col_min: Array1::zeros(nz),
            col_l: Array1::zeros(nz),
        };
        for (y, row) in e.rows().into_iter().enumerate() {
            (lanes.row_min[y], lanes.row_l[y]) = shifted_lse(&row, beta);
        }
        for (z, col) in e.columns().into_iter().enumerate() {
            (lanes.col_min[z], lanes.col_l[z]) = shifted_lse(&col, beta);
        }
        lanes
    }

    /// `log Z(x) = log sum_{y, z} exp(-beta E(x, y, z))`.
    pub fn log_z(&self, x: usize, beta: f64) -> Result<f64> {
        let e = self.slice(x, beta)?;
        let (m, l) = shifted_lse(&e, beta);
        finite_log_z(m, l, beta)
    }

    /// `log P(y, z | x) = -beta (E(x, y, z) - m) - l`, `[y, z]`.
    pub fn log_joint(&self, x: usize, beta: f64) -> Result<Array2<f64>> {
        let e = self.slice(x, beta)?;
        let (m, l) = shifted_lse(&e, beta);
        Ok(e.mapv(|v| -beta * (v - m) - l))
    }

    /// The joint `P(y, z | x) = exp(-beta E(x, y, z)) / Z(x)`, `[y, z]`; sums to 1.
    pub fn joint(&self, x: usize, beta: f64) -> Result<Array2<f64>> {
        let mut p = self.log_joint(x, beta)?;
        p.mapv_inplace(f64::exp);
        Ok(p)
    }

    /// The free energy of each `y` with `z` marginalized,
    /// `F_beta(x, y) = -(1/beta) log sum_z exp(-beta E(x, y, z))`, `[y]`. It lies in
    /// `[min_z E - ln(n_z) / beta, min_z E]` and `P(y | x) = exp(-beta F_beta(x, y)) / Z(x)`.
    pub fn free_energy_y(&self, x: usize, beta: f64) -> Result<Array1<f64>> {
        let e = self.slice(x, beta)?;
        e.rows()
            .into_iter()
            .map(|row| {
                let (m, l) = shifted_lse(&row, beta);
                finite_free_energy(m, l, beta)
            })
            .collect()
    }

    /// `log P(y | x) = log sum_z P(y, z | x)`, normalized over `y` from the row normalizers
    /// `r_y = -beta (min_z E(y, .) - m) + l_y`: `log P(y | x) = r_y - log sum_y' exp(r_y')`.
    fn log_marginal(mins: &Array1<f64>, ls: &Array1<f64>, beta: f64) -> Array1<f64> {
        let m = mins.iter().copied().fold(f64::INFINITY, f64::min);
        let r: Vec<f64> = Zip::from(mins)
            .and(ls)
            .map_collect(|&mn, &l| -beta * (mn - m) + l)
            .to_vec();
        let norm = log_sum_exp(&r);
        r.iter().map(|&v| v - norm).collect()
    }

    /// The marginal `P(y | x) = sum_z P(y, z | x)`, `[y]`; sums to 1.
    pub fn marginal_y(&self, x: usize, beta: f64) -> Result<Array1<f64>> {
        let e = self.slice(x, beta)?;
        let lanes = Self::lanes(&e, beta);
        Ok(Self::log_marginal(&lanes.row_min, &lanes.row_l, beta).mapv(f64::exp))
    }

    /// The marginal `P(z | x) = sum_y P(y, z | x)`, `[z]`; sums to 1.
    pub fn marginal_z(&self, x: usize, beta: f64) -> Result<Array1<f64>> {
        let e = self.slice(x, beta)?;
        let lanes = Self::lanes(&e, beta);
        Ok(Self::log_marginal(&lanes.col_min, &lanes.col_l, beta).mapv(f64::exp))
    }

    /// The conditional `P(y | z, x) = exp(-beta E(x, y, z)) / sum_y' exp(-beta E(x, y', z))`
    /// as `[y, z]`: each column sums to 1.
    pub fn conditional_y_given_z(&self, x: usize, beta: f64) -> Result<Array2<f64>> {
        let e = self.slice(x, beta)?;
        let lanes = Self::lanes(&e, beta);
        let mut p = e.to_owned();
        for ((_, z), v) in p.indexed_iter_mut() {
            *v = (-beta * (*v - lanes.col_min[z]) - lanes.col_l[z]).exp();
        }
        Ok(p)
    }

    /// The conditional `P(z | y, x) = exp(-beta E(x, y, z)) / sum_z' exp(-beta E(x, y, z'))`
    /// as `[y, z]`: each row sums to 1.
    pub fn conditional_z_given_y(&self, x: usize, beta: f64) -> Result<Array2<f64>> {
        let e = self.slice(x, beta)?;
        let lanes = Self::lanes(&e, beta);
        let mut p = e.to_owned();
        for ((y, _), v) in p.indexed_iter_mut() {
            *v = (-beta * (*v - lanes.row_min[y]) - lanes.row_l[y]).exp();
        }
        Ok(p)
    }

    /// The largest violation of Bayes' rule `P(y,z|x) = P(y|z,x) P(z|x) = P(z|y,x) P(y|x)`
    /// among this table's own joint, conditionals and marginals (see
    /// [`bayes_rule_violation`]); about 1e-16 to 1e-13.
    pub fn bayes_violation(&self, x: usize, beta: f64) -> Result<f64> {
        let joint = self.joint(x, beta)?;
        let ygz = self.conditional_y_given_z(x, beta)?;
        let zgy = self.conditional_z_given_y(x, beta)?;
        let py = self.marginal_y(x, beta)?;
        let pz = self.marginal_z(x, beta)?;
        bayes_rule_violation(joint.view(), ygz.view(), zgy.view(), py.view(), pz.view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lse_edge_cases() {
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[f64::NEG_INFINITY; 3]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert!(log_sum_exp(&[1.0, f64::NAN]).is_nan());
        assert!((log_sum_exp(&[0.0, 0.0]) - 2f64.ln()).abs() < 1e-15);
        assert!((log_sum_exp(&[1e300, 1e300]) - (1e300 + 2f64.ln())).abs() <= 1e285);
        assert!((log_sum_exp(&[-1e4, -1e4 - 1.0]) - (-1e4 + (-1f64).exp().ln_1p())).abs() < 1e-11);
    }

    #[test]
    fn shifted_lse_skips_one_minimizer() {
        let e = [2.0, 2.0, 3.0];
        let (m, l) = shifted_lse(&ArrayView1::from(&e), 1.0);
        assert_eq!(m, 2.0);
        assert!((l - (2.0 + (-1f64).exp()).ln()).abs() < 1e-15);
    }

    #[test]
    fn excluded_states_get_zero() {
        let p = softargmax(&[0.0, f64::INFINITY, 0.0], 1.0).unwrap();
        assert_eq!(p, vec![0.5, 0.0, 0.5]);
        let lp = log_softargmax(&[0.0, f64::INFINITY], 3.0).unwrap();
        assert_eq!(lp, vec![0.0, f64::NEG_INFINITY]);
        assert!(softargmax(&[f64::INFINITY; 2], 1.0).is_err());
    }

    #[test]
    fn overflowing_log_z_is_an_error() {
        assert!(log_z(&[-1e300], 1e300).is_err());
        assert!(free_energy(&[0.0, 0.0], 1e-310).is_err());
    }
}
