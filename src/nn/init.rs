//! Weight initializations for a `[fan_out, fan_in]` matrix.
//!
//! - `PyTorchDefault`: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for weights and biases
//!   (what `torch.nn.Linear` does: kaiming_uniform with `a = sqrt(5)`).
//! - `XavierUniform`: `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))` (Glorot, Bengio 2010).
//! - `XavierNormal`: `N(0, 2 / (fan_in + fan_out))`.
//! - `KaimingUniform`: `U(-a, a)`, `a = sqrt(6 / fan_in)` (He et al. 2015, for ReLU).
//! - `KaimingNormal`: `N(0, 2 / fan_in)`.
//! - `Zeros`.
//!
//! Biases are zero except under `PyTorchDefault`.

use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

/// How to draw the initial weights of a Linear layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// `torch.nn.Linear`'s default.
    #[default]
    PyTorchDefault,
    XavierUniform,
    XavierNormal,
    KaimingUniform,
    KaimingNormal,
    Zeros,
}

impl Init {
    /// Draw `fan_out * fan_in` weights and `fan_out` biases.
    pub fn draw(self, fan_in: usize, fan_out: usize, rng: &mut impl Rng) -> (Vec<f32>, Vec<f32>) {
        self.draw_shaped(fan_in, fan_out, fan_in * fan_out, fan_out, rng)
    }

    /// Draw `n` weights and `n_bias` biases for a layer whose fans are `fan_in` and
    /// `fan_out` (PyTorch's: a convolution's fans include its kernel area).
    pub fn draw_shaped(
        self,
        fan_in: usize,
        fan_out: usize,
        n: usize,
        n_bias: usize,
        rng: &mut impl Rng,
    ) -> (Vec<f32>, Vec<f32>) {
        let (fi, fo) = (fan_in.max(1) as f32, fan_out.max(1) as f32);
        let uniform = |a: f32, k: usize, rng: &mut dyn rand::RngCore| -> Vec<f32> {
            let d = Uniform::new_inclusive(-a, a);
            (0..k).map(|_| d.sample(rng)).collect()
        };
        let normal = |s: f32, k: usize, rng: &mut dyn rand::RngCore| -> Vec<f32> {
            let d = Normal::new(0.0, s).expect("finite std");
            (0..k).map(|_| d.sample(rng)).collect()
        };
        let zeros = vec![0.0; n_bias];
        match self {
            Init::PyTorchDefault => {
                let a = 1.0 / fi.sqrt();
                let w = uniform(a, n, rng);
                let b = uniform(a, n_bias, rng);
                (w, b)
            }
            Init::XavierUniform => (uniform((6.0 / (fi + fo)).sqrt(), n, rng), zeros),
            Init::XavierNormal => (normal((2.0 / (fi + fo)).sqrt(), n, rng), zeros),
            Init::KaimingUniform => (uniform((6.0 / fi).sqrt(), n, rng), zeros),
            Init::KaimingNormal => (normal((2.0 / fi).sqrt(), n, rng), zeros),
            Init::Zeros => (vec![0.0; n], zeros),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn var(v: &[f32]) -> f64 {
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / v.len() as f64
    }

    #[test]
    fn variances_match_their_formulas() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
        let (fi, fo) = (400usize, 300usize);
        let cases = [
            (Init::PyTorchDefault, 1.0 / (3.0 * fi as f64)),
            (Init::XavierUniform, 2.0 / (fi + fo) as f64),
            (Init::XavierNormal, 2.0 / (fi + fo) as f64),
            (Init::KaimingUniform, 2.0 / fi as f64),
            (Init::KaimingNormal, 2.0 / fi as f64),
        ];
        for (init, want) in cases {
            let (w, b) = init.draw(fi, fo, &mut rng);
            assert_eq!((w.len(), b.len()), (fi * fo, fo));
            let got = var(&w);
            assert!((got / want - 1.0).abs() < 0.02, "{init:?}: {got} vs {want}");
        }
        let (w, b) = Init::Zeros.draw(3, 2, &mut rng);
        assert!(w.iter().chain(&b).all(|&x| x == 0.0));
    }
}
