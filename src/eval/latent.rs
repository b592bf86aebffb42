//! The lecture's comparison of free energies for a VAE, image by image and averaged over
//! (at most 1,000) test images `y`, with the decoder's energy `E(y, z) = C(y, Dec(z))`:
//!
//! - the energy at the amortized code, `E(y, Enc(y))` (the encoder's mean);
//! - the zero-temperature free energy `F_inf(y) = min_z E(y, z)`, found by gradient
//!   descent on `z` from `Enc(y)` ([`infer_latent`]), so `F_inf <= E(y, Enc(y))`;
//! - the expected energy `<E(y, z)>_q` under `q(z|y)` (10 draws per image);
//! - the variational free energy (beta = 1) `F_q(y) = <E(y, z)>_q + KL(q(z|y) || p(z))`;
//! - `-L_k` (k = 50), the importance-weighted bound on `-log p(y)`.
//!
//! The minimum lies below the average, `F_inf = min_z E(y, z) <= <E>_q`, which lies below
//! the free energy `<E>_q + KL` since `KL >= 0`; and `-log p(y) <= -L_k <= <E>_q + KL`.

use crate::Result;
use crate::models::iwae::log_likelihood_bound;
use crate::models::latent_inference::infer_latent;
use crate::models::vae::{Vae, VaeLoss};
use crate::plot::{TileScale, image_grid};
use ndarray::{Array2, ArrayView2, Axis, s};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::fmt;
use std::path::{Path, PathBuf};

/// Test images used at most.
pub const MAX_IMAGES: usize = 1000;

/// The numbers of [`zero_temperature`] (means over the images, nats/image), and the
/// codes of the first ten images for [`ZeroTemperatureTable::write_picture`].
#[derive(Clone, Debug)]
pub struct ZeroTemperatureTable {
    /// Images averaged over.
    pub images: usize,
    /// Gradient steps on `z`.
    pub steps: usize,
    /// `E(y, Enc(y))`.
    pub amortized_energy: f64,
    /// `F_inf = min_z E(y, z)` (after `steps` steps).
    pub min_energy: f64,
    /// `<E(y, z)>_q`.
    pub expected_energy: f64,
    /// `KL(q(z|y) || p(z))`.
    pub kl: f64,
    /// `-L_50`.
    pub iwae_nll: f64,
    /// Mean Euclidean distance `|z* - Enc(y)|`.
    pub moved: f64,
    /// The first (at most) ten test images, `[m, D]`.
    pub inputs: Array2<f32>,
    /// Their amortized codes `Enc(y)`, `[m, L]`.
    pub codes: Array2<f32>,
    /// Their minimizers `z* = argmin_z E(y, z)`, `[m, L]`.
    pub optimal: Array2<f32>,
}

/// Compare `min_z E(y, z)` (in `steps` gradient steps from the encoder's mean) with the
/// variational free energy and `-L_50` on the first [`MAX_IMAGES`] rows of `test`
/// (`[n, D]`). The free energy is the VAE's (k = 1), whatever `vae.config.iwae_k`.
pub fn zero_temperature(
    vae: &mut Vae,
    test: ArrayView2<f32>,
    steps: usize,
    seed: u64,
) -> Result<ZeroTemperatureTable> {
    let y = test.slice(s![..test.nrows().min(MAX_IMAGES), ..]); // [n, D]
    let (mu, _) = vae.encode(y)?;
    let k_train = vae.config.iwae_k;
    vae.config.iwae_k = 1;
    let e_mu = vae.decoder_energy(y, mu.view(), None)?;
    let inf = infer_latent(vae, y, mu.view(), steps)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut elbo = VaeLoss::default();
    let mut recon = 0.0;
    for _ in 0..10 {
        let l = vae.evaluate(y, 500, &mut rng)?;
        recon += l.recon / 10.0;
        elbo.kl = l.kl;
        elbo.n = l.n;
    }
    vae.config.iwae_k = k_train;
    let n = y.nrows() as f64;
    let l50 = log_likelihood_bound(vae, y, 50, seed)?;
    let m = y.nrows().min(10);
    Ok(ZeroTemperatureTable {
        images: y.nrows(),
        steps,
        amortized_energy: mean(&e_mu),
        min_energy: mean(&inf.end),
        expected_energy: recon / n,
        kl: elbo.kl / n,
        iwae_nll: l50.nll(),
        moved: mean_distance(inf.z.view(), mu.view()),
        inputs: y.slice(s![..m, ..]).to_owned(),
        codes: mu.slice(s![..m, ..]).to_owned(),
        optimal: inf.z.slice(s![..m, ..]).to_owned(),
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean over rows of the Euclidean distance between the rows of `a` and `b`.
fn mean_distance(a: ArrayView2<f32>, b: ArrayView2<f32>) -> f64 {
    a.axis_iter(Axis(0))
        .zip(b.axis_iter(Axis(0)))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .sum::<f64>()
        / a.nrows() as f64
}

impl ZeroTemperatureTable {
    /// The variational free energy `<E>_q + KL` (beta = 1).
    pub fn free_energy(&self) -> f64 {
        self.expected_energy + self.kl
    }

    /// `out/latent_inference.png`: rows of the inputs `y`, `Dec(Enc(y))` and `Dec(z*)`.
    /// `None` (nothing written) when the images are not square.
    pub fn write_picture(&self, vae: &mut Vae, out: &Path) -> Result<Option<PathBuf>> {
        let m = self.inputs.nrows();
        let d = vae.config.input_dim;
        let px = (d as f64).sqrt().round() as usize;
        if px * px != d {
            return Ok(None);
        }
        let a = vae.decode(self.codes.view());
        let b = vae.decode(self.optimal.view());
        let mut grid = Array2::<f32>::zeros((3 * m, d)); // [3m, D]
        grid.slice_mut(s![..m, ..]).assign(&self.inputs);
        grid.slice_mut(s![m..2 * m, ..]).assign(&a);
        grid.slice_mut(s![2 * m.., ..]).assign(&b);
        let p = out.join("latent_inference.png");
        image_grid(
            &p,
            "rows: test inputs y; Dec(Enc(y)) (amortized code); Dec(z*), z* = argmin_z E(y, z)",
            grid.view(),
            px,
            px,
            m,
            TileScale::Unit,
        )?;
        Ok(Some(p))
    }
}

/// The table, one line per quantity (nats/image).
impl fmt::Display for ZeroTemperatureTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "zero-temperature inference on {} test images ({} gradient steps on z from the encoder's mean), nats/image:",
            self.images, self.steps
        )?;
        let rows = [
            (
                "E(y, Enc(y))",
                self.amortized_energy,
                "decoder energy at the amortized code",
            ),
            (
                "min_z E(y, z)",
                self.min_energy,
                "zero-temperature free energy F_inf",
            ),
            (
                "<E(y, z)>_q",
                self.expected_energy,
                "expected energy under q (10 draws)",
            ),
            (
                "<E>_q + KL(q || p)",
                self.free_energy(),
                "variational free energy (beta = 1)",
            ),
            (
                "-L_50",
                self.iwae_nll,
                "importance-weighted bound on -log p(y)",
            ),
        ];
        for (name, v, what) in rows {
            writeln!(f, "  {name:<26}{v:>10.3}   {what}")?;
        }
        writeln!(f, "  {:<26}{:>10.3}", "mean |z* - Enc(y)|", self.moved)
    }
}
