//! The two core workloads the engine is measured on (see BENCHMARKS.md), shared by
//! `ebm bench` and the criterion benchmarks.
//!
//! - `vae`: the PyTorch examples VAE on MNIST (784-400-20, Adam 1e-3, batch 128).
//! - `langevin`: 4,096 chains in 2-D through the energy MLP 2-128-128-1 (SiLU), 200 steps
//!   of `y <- y - eta dE/dy + sqrt(2 eta) xi`, `eta = 0.01`.

use crate::models::vae::{Vae, VaeConfig};
use crate::nn::init::Init;
use crate::nn::optim::OptimConfig;
use crate::nn::{ActivationKind, Sequential, Workspace};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;
use std::time::Instant;

/// Result of the VAE workload.
#[derive(Clone, Debug, Serialize)]
pub struct VaeBench {
    pub workload: &'static str,
    pub threads: usize,
    pub epochs: usize,
    /// Median over the epochs after the first (the first if there is only one).
    pub seconds: f64,
    pub epoch_seconds: Vec<f64>,
    /// Mean training loss per image in each epoch (nats).
    pub train_loss: Vec<f64>,
    /// Test loss per image after each epoch (nats; one z sample per image).
    pub test_loss: Vec<f64>,
    pub seed: u64,
}

/// Median of the epochs after the first.
pub fn median_after_first(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = if xs.len() > 1 {
        xs[1..].to_vec()
    } else {
        xs.to_vec()
    };
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// Train the PyTorch-examples VAE on `train` for `epochs`, evaluating on `test` after
/// each; `on_epoch(epoch, seconds, train_loss, test_loss)` reports progress.
pub fn vae(
    train: ArrayView2<f32>,
    test: ArrayView2<f32>,
    epochs: usize,
    seed: u64,
    mut on_epoch: impl FnMut(usize, f64, f64, f64),
) -> Result<VaeBench> {
    if train.ncols() != 784 {
        return Err(Error::Shape {
            what: "vae bench input (MNIST images)".into(),
            expected: vec![784],
            found: vec![train.ncols()],
        });
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut model = Vae::new(VaeConfig::pytorch_mnist(), &mut rng)?;
    let mut opt = OptimConfig::adam(1e-3).build();
    let mut out = VaeBench {
        workload: "vae",
        threads: crate::threads::threads(),
        epochs,
        seconds: 0.0,
        epoch_seconds: vec![],
        train_loss: vec![],
        test_loss: vec![],
        seed,
    };
    for e in 0..epochs {
        let t = Instant::now();
        let l = model.train_epoch(train, 128, &mut rng, opt.as_mut())?;
        let secs = t.elapsed().as_secs_f64();
        let tl = model.evaluate(test, 128, &mut rng)?;
        out.epoch_seconds.push(secs);
        out.train_loss.push(l.per_row());
        out.test_loss.push(tl.per_row());
        on_epoch(e + 1, secs, l.per_row(), tl.per_row());
    }
    out.seconds = median_after_first(&out.epoch_seconds);
    Ok(out)
}

/// Result of the Langevin workload.
#[derive(Clone, Debug, Serialize)]
pub struct LangevinBench {
    pub workload: &'static str,
    pub threads: usize,
    /// Wall time of the steps.
    pub seconds: f64,
    pub chains: usize,
    pub steps: usize,
    pub tile: usize,
    /// Mean energy of the chains after the last step.
    pub mean_energy_end: f64,
    pub seed: u64,
}

/// The Langevin workload's energy: MLP 2-128-128-1, SiLU, PyTorch's default init.
pub fn langevin_energy(seed: u64) -> Sequential {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Sequential::mlp(
        2,
        &[128, 128],
        1,
        ActivationKind::Silu,
        Init::PyTorchDefault,
        &mut rng,
    )
}

/// Run `steps` unadjusted Langevin steps of `chains` 2-D chains (started from N(0, I)).
pub fn langevin(chains: usize, steps: usize, tile: usize, seed: u64) -> LangevinBench {
    let energy = langevin_energy(seed);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed);
    let mut y = Array2::from_shape_simple_fn((chains, 2), || StandardNormal.sample(&mut rng)); // [chains, 2]
    let mut g = Array2::<f32>::zeros((chains, 2));
    let mut e = vec![0.0f32; chains];
    let mut noise = vec![0.0f32; chains * 2];
    let mut pool: Vec<Workspace> = Vec::new();
    let (eta, s) = (0.01f32, (0.02f32).sqrt());
    let t = Instant::now();
    for _ in 0..steps {
        energy.energy_and_grad(y.view(), &mut e, g.view_mut(), &mut pool, tile);
        for v in noise.iter_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
        let ys = y.as_slice_mut().expect("standard layout");
        let gs = g.as_slice().expect("standard layout");
        for ((y, &g), &n) in ys.iter_mut().zip(gs).zip(&noise) {
            *y += -eta * g + s * n;
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    energy.energy_and_grad(y.view(), &mut e, g.view_mut(), &mut pool, tile);
    LangevinBench {
        workload: "langevin",
        threads: crate::threads::threads(),
        seconds,
        chains,
        steps,
        tile,
        mean_energy_end: e.iter().map(|&v| v as f64).sum::<f64>() / chains.max(1) as f64,
        seed,
    }
}
