//! Toy 2-D data sets, after FFJORD's `toy_data.py` (Grathwohl et al. 2019), drawn i.i.d.
//! from a seed, with closed-form densities where the set has one.
//!
//! FFJORD builds some sets from evenly spaced angles and equal class counts; here every
//! point is an independent draw from the limiting distribution (angles uniform, the
//! component uniform), so a sample of any size is i.i.d. `N` is a standard normal, `U` a
//! uniform on `[0, 1)`, each draw fresh.
//!
//! - `8gaussians`: centers `4 (cos k pi/4, sin k pi/4)`, `k` uniform in `0..8`;
//!   `x = (center + 0.5 N_2) / 1.414`. So a mixture of 8 isotropic Gaussians, means
//!   `mu_k = (4 / 1.414) (cos k pi/4, sin k pi/4)`, std `s = 0.5 / 1.414`:
//!   `p(x) = 1/8 sum_k N(x; mu_k, s^2 I)`.
//! - `rings`: FFJORD puts points on circles of radii `3 (1, 0.75, 0.5, 0.25)` and adds
//!   `0.08 N_2`. Here the radial version of that, which has a closed form: ring `k`
//!   uniform in `0..4` (weights `w_k = 1/4`), radii `R = (3, 2.25, 1.5, 0.75)`,
//!   `r ~ N(R_k, s^2)` truncated to `r > 0`, `s = 0.08`, angle `theta ~ U(0, 2 pi)`,
//!   `x = r (cos theta, sin theta)`:
//!   `p(x) = sum_k w_k N(|x|; R_k, s^2) / (2 pi |x| Phi(R_k / s))` (exactly normalized;
//!   `Phi(R_k / s) = 1` in f64 for these radii). The density has an integrable `1/|x|`
//!   singularity of weight `~e^-44` at the origin; below `|x| = 1e-12` it is taken there.
//! - `moons` (sklearn's `make_moons`, noise 0.1): `t ~ U(0, pi)`, upper moon
//!   `(cos t, sin t)` or lower moon `(1 - cos t, 1/2 - sin t)` with probability 1/2 each,
//!   plus `0.1 N_2`; then `x = 2 y + (-1, -0.2)`.
//! - `pinwheel`: 5 arms, arm `a` uniform in `0..5`; `f = (1 + 0.3 N, 0.1 N)`,
//!   angle `phi = 2 pi a / 5 + 0.25 exp(f_0)`,
//!   `x = 2 (f_0 cos phi + f_1 sin phi, -f_0 sin phi + f_1 cos phi)`.
//! - `swissroll` (sklearn's `make_swiss_roll`, noise 1, its first and third coordinates):
//!   `t = 1.5 pi (1 + 2 U)`, `x = (t cos t + N, t sin t + N) / 5`.
//! - `checkerboard`: `x_1 = 4 U - 2`, `x_2 = U - 2 B + (floor(x_1) mod 2)` with `B`
//!   uniform in `{0, 1}`, `x = 2 (x_1, x_2)`: uniform on the 8 squares `[2i, 2i + 2) x
//!   [2j, 2j + 2)`, `i, j` in `-2..2`, `i + j` even, inside `[-4, 4)^2`;
//!   `p(x) = 1/32` on them, 0 elsewhere.
//! - `2spirals`: `u = 3 pi sqrt(U)` (540 degrees), `d = (-u cos u + U/2, u sin u + U/2)`,
//!   `x = +-d / 3 + 0.1 N_2`, the sign uniform.
//!
//! [`ToyData::support_box`] gives a square per set that holds the data's mass with a
//! margin (no data in its outer 5% frame), the box exact evaluation integrates over
//! ([`crate::exact2d`]).

use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::f64::consts::PI;

/// The seven toy sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToyData {
    EightGaussians,
    Rings,
    Moons,
    Pinwheel,
    SwissRoll,
    Checkerboard,
    TwoSpirals,
}

/// 8gaussians: radius of the centers and the std, after the division by 1.414.
pub const EIGHT_GAUSSIANS_RADIUS: f64 = 4.0 / 1.414;
/// 8gaussians: the components' std.
pub const EIGHT_GAUSSIANS_STD: f64 = 0.5 / 1.414;
/// rings: the radii `3 (1, 0.75, 0.5, 0.25)`.
pub const RINGS_RADII: [f64; 4] = [3.0, 2.25, 1.5, 0.75];
/// rings: the radial std.
pub const RINGS_STD: f64 = 0.08;
/// checkerboard: the density on the support, `1/32`.
pub const CHECKERBOARD_DENSITY: f64 = 1.0 / 32.0;

const ALL: [ToyData; 7] = [
    ToyData::EightGaussians,
    ToyData::Rings,
    ToyData::Moons,
    ToyData::Pinwheel,
    ToyData::SwissRoll,
    ToyData::Checkerboard,
    ToyData::TwoSpirals,
];

impl ToyData {
    /// Every set, in a fixed order.
    pub fn all() -> [ToyData; 7] {
        ALL
    }

    /// The FFJORD name (`8gaussians`, `rings`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ToyData::EightGaussians => "8gaussians",
            ToyData::Rings => "rings",
            ToyData::Moons => "moons",
            ToyData::Pinwheel => "pinwheel",
            ToyData::SwissRoll => "swissroll",
            ToyData::Checkerboard => "checkerboard",
            ToyData::TwoSpirals => "2spirals",
        }
    }

    /// The set named `name` (case-insensitive); an unknown name is an error that lists
    /// the known ones.
    pub fn from_name(name: &str) -> Result<Self> {
        let lower = name.to_ascii_lowercase();
        ALL.iter()
            .copied()
            .find(|d| d.name() == lower)
            .ok_or_else(|| {
                let known: Vec<&str> = ALL.iter().map(|d| d.name()).collect();
                Error::invalid(
                    "toy data",
                    format!("unknown set `{name}` (known: {})", known.join(", ")),
                )
            })
    }

    /// Whether [`ToyData::log_density`] has a closed form (8gaussians, rings,
    /// checkerboard).
    pub fn has_density(&self) -> bool {
        matches!(
            self,
            ToyData::EightGaussians | ToyData::Rings | ToyData::Checkerboard
        )
    }

    /// `[lo, hi]` of a square that holds essentially all the data mass, with no data in
    /// its outer 5% frame: 8gaussians `+-5`, rings `+-4`, moons, swissroll `+-4.5`,
    /// pinwheel `+-6`, 2spirals `+-4.5`, checkerboard `+-5.12` (a grid of a multiple of
    /// 128 cells per axis then has cell edges on the squares' edges; 512 gives h = 0.02).
    pub fn support_box(&self) -> ([f64; 2], [f64; 2]) {
        let l = match self {
            ToyData::EightGaussians => 5.0,
            ToyData::Rings => 4.0,
            ToyData::Moons | ToyData::SwissRoll | ToyData::TwoSpirals => 4.5,
            ToyData::Pinwheel => 6.0,
            ToyData::Checkerboard => 5.12,
        };
        ([-l, -l], [l, l])
    }

    /// `n` i.i.d. points, `[n, 2]`, from `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        self.sample_rng(n, &mut rng)
    }

    /// `n` i.i.d. points, `[n, 2]`, from a caller's generator (a trainer's stream).
    pub fn sample_rng<R: Rng + ?Sized>(&self, n: usize, rng: &mut R) -> Array2<f64> {
        let mut x = Array2::<f64>::zeros((n, 2)); // [n, 2]
        for mut row in x.rows_mut() {
            let p = self.draw(rng);
            row[0] = p[0];
            row[1] = p[1];
        }
        x
    }

    /// One point.
    fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> [f64; 2] {
        match self {
            ToyData::EightGaussians => {
                let (a, b) = normal2(rng);
                let k = rng.gen_range(0..8) as f64;
                let t = k * PI / 4.0;
                [
                    (4.0 * t.cos() + 0.5 * a) / 1.414,
                    (4.0 * t.sin() + 0.5 * b) / 1.414,
                ]
            }
            ToyData::Rings => {
                let rk = RINGS_RADII[rng.gen_range(0..4)];
                let r = loop {
                    let z: f64 = StandardNormal.sample(rng);
                    let r = rk + RINGS_STD * z;
                    if r > 0.0 {
                        break r;
                    }
                };
                let theta = 2.0 * PI * rng.r#gen::<f64>();
                [r * theta.cos(), r * theta.sin()]
            }
            ToyData::Moons => {
                let t = PI * rng.r#gen::<f64>();
                let upper = rng.r#gen::<bool>();
                let (a, b) = normal2(rng);
                let (x, y) = if upper {
                    (t.cos(), t.sin())
                } else {
                    (1.0 - t.cos(), 0.5 - t.sin())
                };
                [2.0 * (x + 0.1 * a) - 1.0, 2.0 * (y + 0.1 * b) - 0.2]
            }
            ToyData::Pinwheel => {
                let arm = rng.gen_range(0..5) as f64;
                let (a, b) = normal2(rng);
                let (f0, f1) = (1.0 + 0.3 * a, 0.1 * b);
                let phi = 2.0 * PI * arm / 5.0 + 0.25 * f0.exp();
                let (s, c) = phi.sin_cos();
                [2.0 * (f0 * c + f1 * s), 2.0 * (-f0 * s + f1 * c)]
            }
            ToyData::SwissRoll => {
                let t = 1.5 * PI * (1.0 + 2.0 * rng.r#gen::<f64>());
                let (a, b) = normal2(rng);
                [(t * t.cos() + a) / 5.0, (t * t.sin() + b) / 5.0]
            }
            ToyData::Checkerboard => loop {
                // FFJORD's construction; a draw that rounding puts on an outer edge (2^-53
                // odds) is drawn again, so every point is on the support.
                let x1 = 4.0 * rng.r#gen::<f64>() - 2.0;
                let shift = if rng.r#gen::<bool>() { 2.0 } else { 0.0 };
                let x2 = rng.r#gen::<f64>() - shift + x1.floor().rem_euclid(2.0);
                let p = [2.0 * x1, 2.0 * x2];
                if on_checkerboard(p[0], p[1]) {
                    break p;
                }
            },
            ToyData::TwoSpirals => {
                let u = 3.0 * PI * rng.r#gen::<f64>().sqrt();
                let dx = -u * u.cos() + 0.5 * rng.r#gen::<f64>();
                let dy = u * u.sin() + 0.5 * rng.r#gen::<f64>();
                let sign = if rng.r#gen::<bool>() { 1.0 } else { -1.0 };
                let (a, b) = normal2(rng);
                [sign * dx / 3.0 + 0.1 * a, sign * dy / 3.0 + 0.1 * b]
            }
        }
    }

    /// `out[i] = log p(x[i, :])` in nats for `x: [batch, 2]`, where [`ToyData::has_density`]
    /// (`-inf` off the checkerboard's support); an error for the other sets.
    pub fn log_density(&self, x: ArrayView2<f64>, out: &mut [f64]) -> Result<()> {
        if x.ncols() != 2 || out.len() != x.nrows() {
            return Err(Error::Shape {
                what: format!("{} log density: points and output", self.name()),
                expected: vec![out.len(), 2],
                found: vec![x.nrows(), x.ncols()],
            });
        }
        let f: fn(f64, f64) -> f64 = match self {
            ToyData::EightGaussians => log_p_eight_gaussians,
            ToyData::Rings => log_p_rings,
            ToyData::Checkerboard => |a, b| {
                if on_checkerboard(a, b) {
                    CHECKERBOARD_DENSITY.ln()
                } else {
                    f64::NEG_INFINITY
                }
            },
            _ => {
                return Err(Error::invalid(
                    "toy data log density",
                    format!(
                        "{} has no closed form (8gaussians, rings and checkerboard do)",
                        self.name()
                    ),
                ));
            }
        };
        for (o, r) in out.iter_mut().zip(x.rows()) {
            *o = f(r[0], r[1]);
        }
        Ok(())
    }
}

impl std::str::FromStr for ToyData {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_name(s)
    }
}

impl std::fmt::Display for ToyData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Two independent standard normals.
fn normal2<R: Rng + ?Sized>(rng: &mut R) -> (f64, f64) {
    (StandardNormal.sample(rng), StandardNormal.sample(rng))
}

/// On the checkerboard's support: `[-4, 4)^2` and `floor(x/2) + floor(y/2)` even.
fn on_checkerboard(x: f64, y: f64) -> bool {
    let inside = (-4.0..4.0).contains(&x) && (-4.0..4.0).contains(&y);
    inside && ((x / 2.0).floor() + (y / 2.0).floor()).rem_euclid(2.0) == 0.0
}

/// `log (1/8) sum_k N(x; mu_k, s^2 I)`, by log-sum-exp.
fn log_p_eight_gaussians(x: f64, y: f64) -> f64 {
    let s2 = EIGHT_GAUSSIANS_STD * EIGHT_GAUSSIANS_STD;
    let mut t = [0.0; 8];
    for (k, t) in t.iter_mut().enumerate() {
        let a = k as f64 * PI / 4.0;
        let (dx, dy) = (
            x - EIGHT_GAUSSIANS_RADIUS * a.cos(),
            y - EIGHT_GAUSSIANS_RADIUS * a.sin(),
        );
        *t = -0.5 * (dx * dx + dy * dy) / s2;
    }
    lse(&t) - 8f64.ln() - (2.0 * PI * s2).ln()
}

/// `log sum_k w_k N(r; R_k, s^2) / Phi(R_k / s) - log(2 pi r)`, `r = max(|x|, 1e-12)`.
fn log_p_rings(x: f64, y: f64) -> f64 {
    let r = x.hypot(y).max(1e-12);
    let s = RINGS_STD;
    let mut t = [0.0; 4];
    for (t, &rk) in t.iter_mut().zip(&RINGS_RADII) {
        let u = (r - rk) / s;
        *t = -0.5 * u * u - normal_cdf(rk / s).ln();
    }
    lse(&t) + 0.25f64.ln() - (s * (2.0 * PI).sqrt()).ln() - (2.0 * PI * r).ln()
}

/// `log sum exp t` for a few finite terms.
fn lse(t: &[f64]) -> f64 {
    let m = t.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + t.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// The standard normal CDF `Phi(z) = erfc(-z / sqrt 2) / 2`.
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// `erfc` by the Chebyshev fit of Numerical Recipes (`erfcc`), relative error below
/// `1.2e-7` everywhere: enough for `Phi(R_k / s)`, which is 1 to far better than that.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let v = t * poly.exp();
    if x >= 0.0 { v } else { 2.0 - v }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_tabulated_values() {
        // erfc(0.5), erfc(1), erfc(2), erfc(-1) to 10 digits.
        for (x, v) in [
            (0.5, 0.4795001222),
            (1.0, 0.1572992071),
            (2.0, 0.004677734981),
            (-1.0, 1.842700793),
        ] {
            assert!(((erfc(x) - v) / v).abs() < 2e-7, "erfc({x}) = {}", erfc(x));
        }
    }

    #[test]
    fn checkerboard_support_is_the_even_squares() {
        // FFJORD: x_1 in [-2, -1) (floor even) puts x_2 in [0, 1) or [-2, -1).
        for (x, y) in [
            (-3.0, -3.0),
            (-3.0, 1.0),
            (-1.0, 3.0),
            (1.0, 1.0),
            (-4.0, -4.0),
        ] {
            assert!(on_checkerboard(x, y), "({x}, {y}) is on the support");
        }
        for (x, y) in [
            (-3.0, -1.0),
            (-1.0, 1.0),
            (3.0, 1.0),
            (4.0, 3.0),
            (1.0, -4.5),
        ] {
            assert!(!on_checkerboard(x, y), "({x}, {y}) is off the support");
        }
    }
}
