//! Image data sets as the trainers take them, loaded in one place: MNIST from a
//! directory of IDX files, or the UCI digits embedded in the binary (split into 1,497
//! training and 300 test images with the run's seed); intensities in `[0, 1]`, one image
//! per row (`[n, pixels]`).
//!
//! Binarization, once for every model: a Bernoulli draw `v = [u < p]`, `u ~ U(0, 1)`
//! from Xoshiro256++ seeded with `seed`, row by row ([`binarize`]), or a threshold
//! ([`threshold`]).

use super::digits::Digits;
use super::idx::Mnist;
use crate::Result;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::Path;

/// Test images of the embedded digits.
pub const DIGITS_TEST: usize = 300;

/// Train and test images with their labels.
#[derive(Clone, Debug)]
pub struct ImageSet {
    /// `[n_train, pixels]`, intensities in `[0, 1]`.
    pub train: Array2<f32>,
    /// `[n_test, pixels]`.
    pub test: Array2<f32>,
    pub train_labels: Vec<u8>,
    pub test_labels: Vec<u8>,
    /// `MNIST at DIR` or `embedded UCI digits`.
    pub what: String,
    /// Whether the images are MNIST's (else the embedded digits).
    pub is_mnist: bool,
}

impl ImageSet {
    /// MNIST from `dir`, or without it the embedded digits split with `seed`.
    pub fn load(dir: Option<&Path>, seed: u64) -> Result<ImageSet> {
        match dir {
            Some(d) => {
                let m = Mnist::load(d)?;
                Ok(ImageSet {
                    train: m.train_images,
                    test: m.test_images,
                    train_labels: m.train_labels,
                    test_labels: m.test_labels,
                    what: format!("MNIST at {}", d.display()),
                    is_mnist: true,
                })
            }
            None => {
                let (tr, te) = Digits::embedded().split(DIGITS_TEST, seed);
                Ok(ImageSet {
                    train: tr.images,
                    test: te.images,
                    train_labels: tr.labels,
                    test_labels: te.labels,
                    what: "embedded UCI digits".into(),
                    is_mnist: false,
                })
            }
        }
    }
}

/// One Bernoulli draw of every pixel: `[u < p]` with `u` from Xoshiro256++ seeded with
/// `seed`, in row-major order.
pub fn binarize(x: &Array2<f32>, seed: u64) -> Array2<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    binarize_with(x, &mut rng)
}

/// [`binarize`] drawing from `rng` (several arrays from one stream).
pub fn binarize_with(x: &Array2<f32>, rng: &mut impl Rng) -> Array2<f32> {
    x.mapv(|p| f32::from(u8::from(rng.r#gen::<f32>() < p)))
}

/// `[p > t]` for every pixel.
pub fn threshold(x: &Array2<f32>, t: f32) -> Array2<f32> {
    x.mapv(|p| f32::from(u8::from(p > t)))
}

/// Binary images for an RBM: train and test sets in `{0, 1}`, what they are, and the
/// training images' grey levels in `[0, 1]` (what dynamic binarization draws from).
pub struct BinarySets {
    /// `[n_train, pixels]`.
    pub train: Array2<f32>,
    /// `[n_test, pixels]`.
    pub test: Array2<f32>,
    pub what: String,
    /// `[n_train, pixels]`, the grey levels `train` was drawn from.
    pub grey: Array2<f32>,
}

impl BinarySets {
    /// MNIST from `dir` drawn `v ~ Bernoulli(pixel)` once with `seed` (the same binary set
    /// every run), or the embedded digits thresholded at 0.5.
    pub fn load(dir: Option<&Path>, seed: u64) -> Result<BinarySets> {
        let d = ImageSet::load(dir, seed)?;
        if d.is_mnist {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            Ok(BinarySets {
                train: binarize_with(&d.train, &mut rng),
                test: binarize_with(&d.test, &mut rng),
                what: format!("{} (v ~ Bernoulli(intensity), seed {seed})", d.what),
                grey: d.train,
            })
        } else {
            Ok(BinarySets {
                train: threshold(&d.train, 0.5),
                test: threshold(&d.test, 0.5),
                what: "embedded UCI digits (intensity > 0.5)".to_string(),
                grey: d.train,
            })
        }
    }
}
