//! Zero-temperature latent inference: for a decoder alone, the energy of an observation
//! and a latent is `E(y, z) = C(y, Dec(z))`, and the zero-temperature free energy is
//!
//! `F_inf(y) = min_z E(y, z)`,  `z* = argmin_z E(y, z)`,
//!
//! the `beta -> inf` limit of `F_beta(y) = -1/beta log int exp(-beta E(y, z)) dz`. It is
//! found here by gradient descent on `z` with a per-image backtracking step (Armijo), so
//! every image's energy goes down monotonically from its starting code (the amortized
//! encoder's mean, for the comparison of the lecture).

use crate::models::vae::Vae;
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};

/// The result of [`infer_latent`].
#[derive(Clone, Debug)]
pub struct LatentInference {
    /// `z*` per image, `[batch, latent]`.
    pub z: Array2<f32>,
    /// `E(y, z)` per image at the start.
    pub start: Vec<f64>,
    /// `E(y, z*)` per image at the end.
    pub end: Vec<f64>,
    /// Mean energy over the images after each step (non-increasing), starting with the
    /// start's mean.
    pub trace: Vec<f64>,
}

/// Minimize `E(y, z)` over `z` from `z0` (`[batch, latent]`) in `steps` gradient steps.
pub fn infer_latent(
    vae: &mut Vae,
    y: ArrayView2<f32>,
    z0: ArrayView2<f32>,
    steps: usize,
) -> Result<LatentInference> {
    let (b, l) = (y.nrows(), vae.config.latent);
    if z0.dim() != (b, l) {
        return Err(Error::Shape {
            what: "starting codes z0".into(),
            expected: vec![b, l],
            found: vec![z0.nrows(), z0.ncols()],
        });
    }
    let mut z = z0.to_owned(); // [b, L]
    let mut g = Array2::<f32>::zeros((b, l)); // dE/dz, [b, L]
    let mut e = vae.decoder_energy(y, z.view(), Some(g.view_mut()))?;
    let start = e.clone();
    let mut step = vec![0.05f32; b];
    let mut trace = vec![mean(&e)];
    let mut zn = Array2::<f32>::zeros((b, l));
    let mut gn = Array2::<f32>::zeros((b, l));
    for _ in 0..steps {
        for r in 0..b {
            for c in 0..l {
                zn[[r, c]] = z[[r, c]] - step[r] * g[[r, c]];
            }
        }
        let en = vae.decoder_energy(y, zn.view(), Some(gn.view_mut()))?;
        for r in 0..b {
            let g2: f64 = g.row(r).iter().map(|&v| (v as f64).powi(2)).sum();
            // Armijo: accept a step that lowers E by a fraction of its first-order gain.
            if en[r].is_finite() && en[r] <= e[r] - 1e-4 * step[r] as f64 * g2 {
                z.row_mut(r).assign(&zn.row(r));
                g.row_mut(r).assign(&gn.row(r));
                e[r] = en[r];
                step[r] *= 1.5;
            } else {
                step[r] *= 0.5;
            }
        }
        trace.push(mean(&e));
    }
    Ok(LatentInference {
        z,
        start,
        end: e,
        trace,
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}
