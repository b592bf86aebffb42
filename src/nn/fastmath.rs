//! Transcendentals in a form the compiler vectorizes: plain arithmetic and bit casts,
//! no libm call per element (the profile of general frameworks shows scalar `expf`
//! taking half of a Langevin run). Accuracy: a few ulp over the f32 range, checked
//! against `std` in the tests.

// Constants are the published Cephes coefficients, kept digit for digit.
#![allow(clippy::excessive_precision)]

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding it rounds an f32 of magnitude below 2^22 to the nearest integer.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `e^x` (`x = n ln2 + r` as in Cephes `expf`, a degree-5 minimax polynomial for `e^r`,
/// `2^n` built in the exponent bits). Saturates to 0 below -87.3 and to ~1.6e38 above 88.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    // n = round(x / ln 2), without `floor` (not vectorized on baseline x86-64).
    let t = x * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Degree-5 minimax polynomial for e^r on |r| <= ln2/2 (relative error 7.5e-8 in
    // exact arithmetic, 2.1e-7 evaluated in f32; fitted by Lawson's algorithm).
    let p = 8.297_615e-3_f32;
    let p = p * r + 4.191_563e-2;
    let p = p * r + 1.666_757_7e-1;
    let p = p * r + 4.999_889_3e-1;
    let p = p * r + 9.999_997e-1;
    let er = p * r + 1.000_000_1;
    // The low mantissa bits of t hold n (two's complement, biased by the magic).
    let ni = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let scale = f32::from_bits(((ni + 127) << 23) as u32);
    er * scale
}

/// `ln x` for `x > 0` (Cephes `logf` scheme). Returns a large negative number at 0.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let x = x.max(f32::MIN_POSITIVE);
    let bits = x.to_bits() as i32;
    let mut e = ((bits >> 23) & 0xff) - 126;
    // mantissa in [0.5, 1)
    let mut m = f32::from_bits(((bits & 0x007f_ffff) | 0x3f00_0000) as u32);
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    e -= small as i32;
    m = if small { m + m - 1.0 } else { m - 1.0 };
    let z = m * m;
    let mut y = 7.037_683_6e-2_f32;
    y = y * m - 1.151_461e-1;
    y = y * m + 1.167_699_9e-1;
    y = y * m - 1.242_014_1e-1;
    y = y * m + 1.424_932_3e-1;
    y = y * m - 1.666_805_8e-1;
    y = y * m + 2.000_071_4e-1;
    y = y * m - 2.499_999_4e-1;
    y = y * m + 3.333_333e-1;
    y *= m * z;
    let ef = e as f32;
    y += ef * LN2_LO;
    y -= 0.5 * z;
    m + y + ef * LN2_HI
}

/// The logistic function `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `ln(1 + u)` for `u >= 0`, accurate for small `u`: with `w = 1 + u` rounded,
/// `ln(w) * u / (w - 1)` cancels the rounding of `w` (Goldberg 1991, Theorem 4).
#[inline(always)]
pub fn ln_1p(u: f32) -> f32 {
    let w = 1.0 + u;
    let d = w - 1.0;
    if d == 0.0 { u } else { ln(w) * (u / d) }
}

/// `ln(1 + e^x)`, stable: `max(x, 0) + ln(1 + e^-|x|)`.
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    x.max(0.0) + ln_1p(exp(-x.abs()))
}

/// `tanh x`: odd polynomial near 0 (Cephes `tanhf`), `1 - 2/(e^{2|x|}+1)` elsewhere.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let s = x * x;
    let p = ((((-5.704_988_7e-3 * s + 2.063_908_9e-2) * s - 5.373_971_6e-2) * s + 1.333_144_2e-1)
        * s
        - 3.333_328_2e-1)
        * s
        * x
        + x;
    let big = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    if a < 0.625 { p } else { big.copysign(x) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f32, b: f64) -> f64 {
        ((a as f64 - b) / b.abs().max(1e-30)).abs()
    }

    #[test]
    fn exp_matches_std() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            worst = worst.max(rel(exp(x), (x as f64).exp()));
            x += 0.0137;
        }
        assert!(worst < 4e-7, "exp rel err {worst}");
        assert_eq!(exp(-200.0), exp(-87.3));
        assert!(exp(-200.0) < 1e-37 && exp(200.0).is_finite());
    }

    #[test]
    fn ln_matches_std() {
        let mut worst = 0.0f64;
        let mut x = 1e-30f32;
        while x < 1e30 {
            let want = (x as f64).ln();
            let err = ((ln(x) as f64) - want).abs() / want.abs().max(1.0);
            worst = worst.max(err);
            x *= 1.013;
        }
        assert!(worst < 4e-7, "ln err {worst}");
    }

    #[test]
    fn sigmoid_softplus_tanh_match_std() {
        let mut x = -30.0f32;
        while x < 30.0 {
            let xd = x as f64;
            let sp = xd.max(0.0) + (-xd.abs()).exp().ln_1p();
            assert!(rel(softplus(x), sp) < 1e-6, "softplus({x})");
            let sg = 1.0 / (1.0 + (-xd).exp());
            assert!(rel(sigmoid(x), sg) < 1e-6, "sigmoid({x})");
            assert!(
                rel(tanh(x), xd.tanh()) < 1e-6,
                "tanh({x}) {} {}",
                tanh(x),
                xd.tanh()
            );
            x += 0.00731;
        }
        assert_eq!(tanh(0.0), 0.0);
        let mut u = 1e-30f32;
        while u < 1.0 {
            assert!(rel(ln_1p(u), (u as f64).ln_1p()) < 1e-6, "ln_1p({u})");
            u *= 1.07;
        }
        assert!(rel(tanh(1e-5), 1e-5f64.tanh()) < 1e-6);
    }
}
