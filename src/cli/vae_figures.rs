//! The run folder's pictures of a trained VAE.

use ebm::Result;
use ebm::models::vae::Vae;
use ndarray::Array2;
use std::path::Path;

/// Write the figures of `vae` into `dir`.
pub fn write(
    _dir: &Path,
    _vae: &mut Vae,
    _test: &Array2<f32>,
    _test_labels: &[u8],
    _train: &Array2<f32>,
    _train_labels: &[u8],
    _seed: u64,
) -> Result<()> {
    Ok(())
}
