//! A saved VAE evaluated on its test set: the checkpoint with the run's settings
//! ([`SavedVae::load`]), the test images as the run's protocol has them
//! ([`SavedVae::test_set`]), and the importance-weighted estimate of the test NLL
//! ([`nll_estimate`]): `-L_k = -mean_y log (1/k) sum_i p(y, z_i) / q(z_i | y)`,
//! `z_i ~ q(z | y)`, an upper bound on `-log p(y)` in expectation that tightens as `k`
//! grows (Burda et al. 2016).

use crate::data::images::ImageSet;
use crate::models::iwae::{BoundEstimate, log_likelihood_bound_with};
use crate::models::vae::{Vae, VaeConfig};
use crate::nn::checkpoint;
use crate::train::vae::{TEST_BINARIZATION_SEED, binarize_fixed};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::Rng;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A VAE read from a checkpoint, with the settings of the run that wrote it.
pub struct SavedVae {
    pub vae: Vae,
    /// The run's settings (`config.json`: `vae`, `seed`, `binarize`, ...).
    pub run: serde_json::Value,
    /// The tensors' file.
    pub path: PathBuf,
}

impl SavedVae {
    /// The VAE of `checkpoint` (a safetensors file, or a run folder holding
    /// `model.safetensors`), built with `rng` and then given the saved weights. Its
    /// settings: the JSON beside the tensors (what a user may edit), else the copy in the
    /// file's metadata.
    pub fn load(checkpoint: &Path, rng: &mut impl Rng) -> Result<SavedVae> {
        let path = if checkpoint.is_dir() {
            checkpoint.join("model.safetensors")
        } else {
            checkpoint.to_path_buf()
        };
        let cfg_path = checkpoint::config_path(&path);
        let (run, cfg_src) = if cfg_path.exists() {
            let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::format(&cfg_path, format!("not JSON: {e}")))?;
            (v, cfg_path)
        } else {
            (checkpoint::read_config(&path)?, path.clone())
        };
        let cfg: VaeConfig = serde_json::from_value(run["vae"].clone())
            .map_err(|e| Error::format(&cfg_src, format!("field `vae`: {e}")))?;
        checkpoint::check_stored_size(&path, "vae", cfg.param_count())?;
        let mut vae = Vae::new(cfg, rng)?;
        checkpoint::load(&path, &mut vae)?;
        Ok(SavedVae { vae, run, path })
    }

    /// The seed the run split its data with (`default` if it has none).
    pub fn data_seed(&self, default: u64) -> u64 {
        self.run["seed"].as_u64().unwrap_or(default)
    }

    /// Whether the run binarized its images.
    pub fn binarized(&self) -> bool {
        self.run["binarize"].as_bool().unwrap_or(false)
    }

    /// The test images of `data` as the run's protocol has them: binarized once with
    /// [`TEST_BINARIZATION_SEED`] if the run binarized, else intensities in `[0, 1]`.
    pub fn test_set(&self, data: &ImageSet) -> Result<Array2<f32>> {
        if data.test.ncols() != self.vae.config.input_dim {
            return Err(Error::Shape {
                what: format!(
                    "test data ({}) for the checkpoint {}",
                    data.what,
                    self.path.display()
                ),
                expected: vec![self.vae.config.input_dim],
                found: vec![data.test.ncols()],
            });
        }
        Ok(if self.binarized() {
            binarize_fixed(&data.test)
        } else {
            data.test.clone()
        })
    }

    /// The test protocol in words.
    pub fn protocol(&self) -> String {
        if self.binarized() {
            format!("binarized once with seed {TEST_BINARIZATION_SEED}")
        } else {
            "pixels in [0, 1], not binarized: a bound on a Bernoulli 'likelihood' of grey pixels, not a true NLL".into()
        }
    }
}

/// `-L_k` on the rows of `test` with `k` samples per image (streams from `seed`), with a
/// progress bar; the estimate and the seconds it took.
pub fn nll_estimate(
    vae: &mut Vae,
    test: ArrayView2<f32>,
    k: usize,
    seed: u64,
) -> Result<(BoundEstimate, f64)> {
    let t = Instant::now();
    let bar = crate::progress::Progress::new(test.nrows() as u64, &format!("L_{k}"));
    let b = log_likelihood_bound_with(vae, test, k, seed, Some(&bar))?;
    bar.finish();
    Ok((b, t.elapsed().as_secs_f64()))
}
