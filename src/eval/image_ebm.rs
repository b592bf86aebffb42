//! A saved image EBM on the test set: inpainting and denoising by SGLD, each against a
//! baseline that uses no model.
//!
//! - Inpainting: the bottom half of each test image is replaced by uniform noise and
//!   moved by SGLD on those pixels only (the top half held), `chains` chains per image
//!   averaged (the posterior-mean completion). Baseline: the mean training image's
//!   bottom half.
//! - Denoising: every pixel gets Gaussian noise of standard deviation `noise` (in
//!   `[-1, 1]` units), then `denoise_steps` SGLD steps move all pixels from there (no
//!   fresh start; a long run would forget the image), `chains` chains averaged.
//!   Baseline: the noisy image itself.
//!
//! Errors are mean squared errors in `[0, 1]` pixel units over the pixels concerned.

use crate::models::image_ebm::{ImageEbm, Sgld, SgldScratch, bottom_half_mask, inpaint};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::fmt;

/// The numbers of [`evaluate`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageEbmEval {
    pub images: usize,
    pub chains: usize,
    pub sgld: Sgld,
    pub inpaint_mse: f64,
    pub mean_image_mse: f64,
    pub denoise_noise: f32,
    pub denoise_steps: usize,
    pub denoise_mse: f64,
    pub noisy_mse: f64,
    pub seconds: f64,
}

impl ImageEbmEval {
    /// The mean image's error over the model's (the target: at least 2).
    pub fn inpaint_gain(&self) -> f64 {
        self.mean_image_mse / self.inpaint_mse.max(1e-300)
    }
}

impl fmt::Display for ImageEbmEval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "inpainting the bottom half of {} test images ({} SGLD steps of {} with noise {}, mean of {} chains): MSE {:.5}; the mean training image {:.5} ({:.2}x the model's)",
            self.images,
            self.sgld.steps,
            self.sgld.step_size,
            self.sgld.noise,
            self.chains,
            self.inpaint_mse,
            self.mean_image_mse,
            self.inpaint_gain()
        )?;
        write!(
            f,
            "denoising (Gaussian noise sd {} in [-1, 1] units, {} SGLD steps): MSE {:.5}; the noisy images {:.5}",
            self.denoise_noise, self.denoise_steps, self.denoise_mse, self.noisy_mse
        )
    }
}

/// Squared error in `[0, 1]` units between `a` and `b` (both `[-1, 1]`) over the pixels
/// where `mask` is nonzero (all pixels without a mask), averaged.
fn mse(a: ArrayView2<f32>, b: ArrayView2<f32>, mask: Option<&[f32]>) -> f64 {
    let (mut s, mut n) = (0.0f64, 0usize);
    for (ra, rb) in a.rows().into_iter().zip(b.rows()) {
        for (j, (&x, &y)) in ra.iter().zip(rb.iter()).enumerate() {
            if mask.is_none_or(|m| m[j] != 0.0) {
                s += ((x as f64 - y as f64) / 2.0).powi(2);
                n += 1;
            }
        }
    }
    s / n.max(1) as f64
}

/// Inpainting and denoising of `test` (`[n, pixels]` in `[-1, 1]`) by `model`, the
/// baselines from `train_mean` (the mean training image in `[-1, 1]`), drawn with `seed`;
/// `denoise` is the noise's standard deviation and the SGLD steps from the noisy image.
pub fn evaluate(
    model: &ImageEbm,
    test: ArrayView2<f32>,
    train_mean: &[f32],
    sgld: &Sgld,
    chains: usize,
    (denoise_noise, denoise_steps): (f32, usize),
    seed: u64,
) -> Result<ImageEbmEval> {
    let d = model.cfg.pixels();
    if test.ncols() != d || train_mean.len() != d {
        return Err(Error::Shape {
            what: "test images for the image EBM".into(),
            expected: vec![d],
            found: vec![test.ncols()],
        });
    }
    if test.nrows() == 0 {
        return Err(Error::invalid("images", "no test images"));
    }
    if !(denoise_noise.is_finite() && denoise_noise > 0.0) {
        return Err(Error::invalid("denoise-noise", "must be a positive number"));
    }
    let t0 = std::time::Instant::now();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mask = bottom_half_mask(&model.cfg);
    let restored = inpaint(model, test, &mask, sgld, chains, &mut rng);
    let mean = Array2::from_shape_fn(test.dim(), |(_, j)| train_mean[j]);
    let inpaint_mse = mse(restored.view(), test, Some(&mask));
    let mean_image_mse = mse(mean.view(), test, Some(&mask));
    // Denoising: chains start at the noisy image (all pixels free).
    let normal = Normal::new(0.0f32, denoise_noise).expect("finite noise");
    let noisy = test.mapv(|v| (v + normal.sample(&mut rng)).clamp(-1.0, 1.0));
    let k = chains.max(1);
    let mut x = Array2::zeros((test.nrows() * k, d));
    for (r, mut row) in x.rows_mut().into_iter().enumerate() {
        row.assign(&noisy.row(r / k));
    }
    let mut scratch = SgldScratch::default();
    let denoise = Sgld {
        steps: denoise_steps,
        ..*sgld
    };
    denoise.run(model, &mut x, None, &mut rng, &mut scratch);
    let mut denoised = Array2::zeros(test.dim());
    for (r, row) in x.axis_iter(Axis(0)).enumerate() {
        denoised.row_mut(r / k).scaled_add(1.0 / k as f32, &row);
    }
    Ok(ImageEbmEval {
        images: test.nrows(),
        chains: k,
        sgld: *sgld,
        inpaint_mse,
        mean_image_mse,
        denoise_noise,
        denoise_steps,
        denoise_mse: mse(denoised.view(), test, None),
        noisy_mse: mse(noisy.view(), test, None),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
