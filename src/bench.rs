//! The two core workloads the engine is measured on (see BENCHMARKS.md), shared by
//! `ebm bench` and the criterion benchmarks.
//!
//! - `vae`: the PyTorch examples VAE on MNIST (784-400-20, Adam 1e-3, batch 128).
//! - `langevin`: 4,096 chains in 2-D through the energy MLP 2-128-128-1 (SiLU), 200 steps
//!   of `y <- y - eta dE/dy + sqrt(2 eta) xi`, `eta = 0.01`.
//! - `ais`: annealed importance sampling of `log Z` for the 100-d ill-conditioned quadratic
//!   energy ([`ill_conditioned_quadratic`]), 1,000 temperatures, 256 runs, MALA moves,
//!   checked against the closed form.

pub mod workloads;

use crate::energy::{Energy, Quadratic};
use crate::models::vae::{Vae, VaeConfig};
use crate::nn::init::Init;
use crate::nn::optim::OptimConfig;
use crate::nn::{ActivationKind, Sequential, Workspace};
use crate::partition::AisConfig;
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

/// `E(y) = 1/2 (y - m)^T A (y - m)` with `A = R diag(lambda) R^T`: eigenvalues
/// `lambda_i = 10^(-1 + 2 i / (d - 1))` log-spaced over 2 decades (0.1 .. 10), `R` the
/// product of Givens rotations `(c, s) = (0.8, 0.6)` on coordinates `(i, i + 1)`,
/// `i = 0 .. d - 2` in order (each applied as `A <- G A G^T`), and `m_i = 0.1 i`.
/// `bench/peers/ais_jax.py` builds the same matrix.
pub fn ill_conditioned_quadratic(d: usize) -> Quadratic {
    assert!(
        d >= 1,
        "ill_conditioned_quadratic: dimension must be at least 1"
    );
    let mut a = Array2::<f64>::zeros((d, d));
    for i in 0..d {
        a[[i, i]] = 10f64.powf(-1.0 + 2.0 * i as f64 / (d.max(2) - 1) as f64);
    }
    let (c, s) = (0.8f64, 0.6f64);
    for i in 0..d.saturating_sub(1) {
        for k in 0..d {
            let (x, y) = (a[[i, k]], a[[i + 1, k]]);
            a[[i, k]] = c * x - s * y;
            a[[i + 1, k]] = s * x + c * y;
        }
        for k in 0..d {
            let (x, y) = (a[[k, i]], a[[k, i + 1]]);
            a[[k, i]] = c * x - s * y;
            a[[k, i + 1]] = s * x + c * y;
        }
    }
    let mean = (0..d).map(|i| (0.7 * i as f64).sin()).collect(); // bounded: |m| ~ sqrt(d / 2)
    Quadratic::new(mean, a).expect("A = R diag(lambda) R^T is symmetric positive definite")
}

/// Standard deviation of the AIS workload's base `N(0, b^2 I)`.
pub const AIS_BASE_STD: f64 = 3.0;
/// Initial MALA step size of the AIS workload (adapted after every temperature).
pub const AIS_STEP_SIZE: f64 = 0.05;

/// Result of the AIS workload.
#[derive(Clone, Debug, Serialize)]
pub struct AisBench {
    pub workload: &'static str,
    pub threads: usize,
    /// Wall time of `partition::ais` (matrix construction excluded).
    pub seconds: f64,
    pub dim: usize,
    pub temps: usize,
    pub runs: usize,
    pub log_z: f64,
    pub std_err: f64,
    /// Closed form `d/2 log(2 pi) - 1/2 log det A`.
    pub truth: f64,
    /// `log_z - truth`.
    pub error: f64,
    pub ess: f64,
    pub acceptance: f64,
    pub seed: u64,
}

/// AIS of `log Z_1` for [`ill_conditioned_quadratic`]`(dim)`: base `N(0, base_std^2 I)`,
/// [`AisConfig::sigmoid_schedule`]`(temps)`, `runs` runs, one MALA step per temperature
/// from `step_size`.
pub fn ais(
    dim: usize,
    temps: usize,
    runs: usize,
    base_std: f64,
    step_size: f64,
    seed: u64,
) -> Result<AisBench> {
    if dim == 0 || temps == 0 {
        return Err(Error::invalid("--dim/--temps", "must be at least 1"));
    }
    let energy = ill_conditioned_quadratic(dim);
    let truth = energy.log_z(1.0).expect("closed form");
    let cfg = AisConfig {
        runs,
        schedule: AisConfig::sigmoid_schedule(temps),
        base_mean: vec![0.0; dim],
        base_std: vec![base_std; dim],
        step_size,
        steps_per_temp: 1,
        seed,
    };
    let t = Instant::now();
    let r = crate::partition::ais(&energy, 1.0, &cfg)?;
    let seconds = t.elapsed().as_secs_f64();
    Ok(AisBench {
        workload: "ais",
        threads: crate::threads::threads(),
        seconds,
        dim,
        temps,
        runs,
        log_z: r.log_z.log_z,
        std_err: r.log_z.std_err,
        truth,
        error: r.log_z.log_z - truth,
        ess: r.log_z.ess,
        acceptance: r.acceptance,
        seed,
    })
}

/// Result of the T5 MALA workload.
#[derive(Clone, Debug, Serialize)]
pub struct MalaBench {
    pub workload: &'static str,
    pub threads: usize,
    /// Wall time of the steps.
    pub seconds: f64,
    pub chains: usize,
    pub steps: usize,
    pub acceptance: f64,
    /// Fraction of the chains nearest to each of the 8 means (each should be 9-16%).
    pub mode_fractions: Vec<f64>,
    /// Fraction of the chains within 0.3 of a mean (should be > 0.95).
    pub near_mode: f64,
    pub seed: u64,
}

/// T5 of the sampler suite: `chains` 2-D chains from N(0, I), `steps` MALA steps of size
/// 0.01 on the 8-Gaussian ring (f64; the peers run f32).
pub fn mala_t5(chains: usize, steps: usize, seed: u64) -> Result<MalaBench> {
    use crate::mcmc::{Info, Kernel, Langevin, State};
    let t5 = crate::targets::t5();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let init = Array2::from_shape_simple_fn((chains, 2), || StandardNormal.sample(&mut rng)); // [chains, 2]
    let mut state = State::new(&t5, init)?;
    let k = Langevin::mala(0.01, 1.0)?;
    let mut info = Info::default();
    let mut acc = 0.0;
    let t = Instant::now();
    for _ in 0..steps {
        k.step(&t5, &mut state, &mut rng, &mut info)?;
        acc += info.mean_acceptance();
    }
    let seconds = t.elapsed().as_secs_f64();
    let mut counts = [0usize; 8];
    let mut near = 0usize;
    for row in state.position.rows() {
        let (best, d2) = t5
            .means
            .iter()
            .enumerate()
            .map(|(k, m)| (k, (row[0] - m[0]).powi(2) + (row[1] - m[1]).powi(2)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("8 means");
        counts[best] += 1;
        near += usize::from(d2 < 0.09);
    }
    Ok(MalaBench {
        workload: "mala_t5",
        threads: crate::threads::threads(),
        seconds,
        chains,
        steps,
        acceptance: acc / steps.max(1) as f64,
        mode_fractions: counts.iter().map(|&c| c as f64 / chains as f64).collect(),
        near_mode: near as f64 / chains as f64,
        seed,
    })
}

/// Result of the batched HMC workload on T1.
#[derive(Clone, Debug, Serialize)]
pub struct HmcBench {
    pub workload: &'static str,
    pub threads: usize,
    /// Wall time of warm-up and draws.
    pub seconds: f64,
    pub seconds_warmup: f64,
    pub seconds_draws: f64,
    pub chains: usize,
    pub leapfrog: usize,
    pub warmup: usize,
    pub draws: usize,
    pub step_size: f64,
    pub acceptance: f64,
    pub divergences: usize,
    /// Gradient evaluations per chain, warm-up included.
    pub grad_evals: u64,
    /// Bulk ESS over the 100 coordinates (all chains).
    pub ess_bulk_min: f64,
    pub ess_bulk_median: f64,
    /// `min ESS / (chains x draws x leapfrog)`: gradients of the draws only.
    pub min_ess_per_grad_draws: f64,
    /// `min ESS / (chains x all gradient evaluations)`.
    pub min_ess_per_grad_total: f64,
    /// Smallest tail ESS and largest rank-normalized R-hat over coordinates.
    pub ess_tail_min: f64,
    pub max_rhat: f64,
    pub jitter: f64,
    /// Largest `|mean - 0| / mcse` and `|var - s^2| / s^2` over coordinates.
    pub max_mean_z: f64,
    pub max_var_rel_err: f64,
    pub seed: u64,
}

/// Batched HMC on T1: `chains` chains, `leapfrog` steps, warm-up (dual averaging and
/// diagonal mass matrix) then draws; bulk ESS from [`crate::diagnostics`].
pub fn hmc_t1(
    chains: usize,
    leapfrog: usize,
    warmup: usize,
    draws: usize,
    jitter: f64,
    seed: u64,
) -> Result<HmcBench> {
    use crate::mcmc::{Hmc, SampleConfig, sample};
    let t1 = crate::targets::t1();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let init = Array2::from_shape_simple_fn((chains, 100), || StandardNormal.sample(&mut rng)); // [chains, 100]
    let mut k = Hmc::new(0.1, leapfrog, 1.0)?;
    k.jitter = jitter;
    let cfg = crate::mcmc::SampleConfig {
        warmup,
        draws,
        seed,
        ..SampleConfig::default()
    };
    let t = Instant::now();
    let tr = sample(&mut k, &t1, init, &cfg)?;
    let seconds = t.elapsed().as_secs_f64();
    let mut ess = Vec::with_capacity(100);
    let (mut max_z, mut max_v) = (0.0f64, 0.0f64);
    let (mut tail_min, mut rhat_max) = (f64::INFINITY, 0.0f64);
    for j in 0..100 {
        let x = tr.coordinate(j);
        ess.push(crate::diagnostics::ess_bulk(x)?);
        tail_min = tail_min.min(crate::diagnostics::ess_tail(x)?);
        rhat_max = rhat_max.max(crate::diagnostics::rank_normalized_rhat(x)?);
        let mean = x.mean().unwrap_or(0.0);
        let mcse = crate::diagnostics::mcse_mean(x)?;
        max_z = max_z.max(mean.abs() / mcse);
        let s2 = t1.std[j] * t1.std[j];
        let var = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        max_v = max_v.max((var - s2).abs() / s2);
    }
    let mut sorted = ess.clone();
    sorted.sort_by(f64::total_cmp);
    let min = sorted[0];
    Ok(HmcBench {
        workload: "hmc_t1",
        threads: crate::threads::threads(),
        seconds,
        seconds_warmup: tr.seconds_warmup,
        seconds_draws: tr.seconds_draws,
        chains,
        leapfrog,
        warmup,
        draws,
        step_size: tr.step_size,
        acceptance: tr.acceptance,
        divergences: tr.divergences,
        grad_evals: tr.grad_evals,
        ess_bulk_min: min,
        ess_bulk_median: sorted[50],
        min_ess_per_grad_draws: min / (chains * draws * leapfrog) as f64,
        min_ess_per_grad_total: min / (chains as u64 * tr.grad_evals) as f64,
        ess_tail_min: tail_min,
        max_rhat: rhat_max,
        jitter,
        max_mean_z: max_z,
        max_var_rel_err: max_v,
        seed,
    })
}

/// Result of the contrastive-training workload.
#[derive(Clone, Debug, Serialize)]
pub struct ContrastiveBench {
    pub workload: &'static str,
    pub threads: usize,
    /// Wall time of the updates (after one warm-up update).
    pub seconds: f64,
    pub seconds_per_update: f64,
    pub updates: usize,
    pub batch: usize,
    pub langevin_steps: usize,
    /// Mean energies of data and negatives over the last 10 updates.
    pub e_data: f64,
    pub e_neg: f64,
    pub seed: u64,
}

/// Points of the 8-Gaussians ring used by the throughput workload: `n` points, means on
/// the circle of radius 2, std 0.1 (`bench/peers/contrastive_torch.py` draws the same law).
pub fn ring_data(n: usize, seed: u64) -> Array2<f64> {
    use rand::Rng;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut a = Array2::zeros((n, 2)); // [n, 2]
    for mut r in a.rows_mut() {
        let k = rng.gen_range(0..8) as f64;
        let t = 2.0 * std::f64::consts::PI * k / 8.0;
        let (z0, z1): (f64, f64) = (
            StandardNormal.sample(&mut rng),
            StandardNormal.sample(&mut rng),
        );
        r[0] = 2.0 * t.cos() + 0.1 * z0;
        r[1] = 2.0 * t.sin() + 0.1 * z1;
    }
    a
}

/// Contrastive training throughput: MLP energy 2-128-128-1 (SiLU), batch `batch`,
/// persistent chains (buffer 8,192, 5% restarts from U[-3, 3]^2), `steps` unadjusted
/// Langevin steps of 0.005 per update, energy penalty 0.01, Adam 1e-3.
pub fn contrastive(
    updates: usize,
    batch: usize,
    steps: usize,
    seed: u64,
) -> Result<ContrastiveBench> {
    use crate::contrastive::{ContrastiveConfig, ContrastiveTrainer, Negatives};
    use crate::energy::MlpSpec;
    let cfg = ContrastiveConfig {
        negatives: Negatives::Persistent,
        mcmc_steps: steps,
        step_size: 0.005,
        adjusted: false,
        buffer: 8192,
        restart: 0.05,
        noise_lo: -3.0,
        noise_hi: 3.0,
        energy_l2: 0.01,
        optim: OptimConfig::adam(1e-3),
        clip: 0.0,
        batch,
        max_gap: 1e4,
        ema: 0.0,
        spectral_norm: false,
        ..ContrastiveConfig::default()
    };
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![128, 128],
        activation: ActivationKind::Silu,
    };
    let mut t = ContrastiveTrainer::new(spec, cfg, seed)?;
    let data = ring_data(batch * (updates + 1), seed ^ 0xda7a);
    let rows = |i: usize| data.slice(ndarray::s![i * batch..(i + 1) * batch, ..]);
    t.step(rows(0))?;
    let (mut ed, mut en) = (0.0, 0.0);
    let clock = Instant::now();
    for i in 1..=updates {
        let m = t.step(rows(i))?;
        if i + 10 > updates {
            ed += m.e_data / 10.0;
            en += m.e_neg / 10.0;
        }
    }
    let seconds = clock.elapsed().as_secs_f64();
    Ok(ContrastiveBench {
        workload: "contrastive",
        threads: crate::threads::threads(),
        seconds,
        seconds_per_update: seconds / updates.max(1) as f64,
        updates,
        batch,
        langevin_steps: steps,
        e_data: ed,
        e_neg: en,
        seed,
    })
}

/// What [`conv`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct ConvBench {
    pub workload: &'static str,
    pub threads: usize,
    pub batch: usize,
    pub steps: usize,
    pub features: usize,
    /// One image-EBM update: `steps` SGLD steps of `batch` chains from noise, then the
    /// contrastive gradient on `batch` positives and negatives and an Adam step.
    pub update_s: f64,
    /// One forward and backward (weights and input) of the network on `batch` images.
    pub fwd_bwd_s: f64,
}

/// The image EBM's workload on 28x28 images (the network of `ebm train image-ebm` with
/// `features` channels), as `bench/peers/conv_torch.py` runs it in PyTorch: the median
/// of `repeat` timed runs of each part after one warm-up.
pub fn conv(
    batch: usize,
    steps: usize,
    features: usize,
    repeat: usize,
    seed: u64,
) -> Result<ConvBench> {
    use crate::models::image_ebm::{ImageEbm, ImageEbmConfig, Sgld, SgldScratch, uniform_noise};
    use crate::nn::Parameters;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut model = ImageEbm::new(ImageEbmConfig::new(1, (28, 28), features), &mut rng)?;
    let mut opt = crate::nn::optim::OptimConfig::adam(1e-4).build();
    let pos = uniform_noise(batch, 784, &mut rng);
    let sgld = Sgld {
        steps,
        step_size: 1.0,
        noise: 0.01,
    };
    let par = crate::threads::gemm_parallelism();
    let mut scratch = SgldScratch::default();
    let mut ws = model.net.workspace(2 * batch);
    let mut update = |model: &mut ImageEbm, rng: &mut Xoshiro256PlusPlus| {
        let mut x = uniform_noise(batch, 784, rng);
        sgld.run(model, &mut x, None, rng, &mut scratch);
        {
            let mut input = model.net.input_mut(&mut ws, 2 * batch);
            input.slice_mut(ndarray::s![..batch, ..]).assign(&pos);
            input.slice_mut(ndarray::s![batch.., ..]).assign(&x);
        }
        model.contrastive_grad(&mut ws, batch, 0.0, par);
        opt.step(&mut model.net);
    };
    let mut ws2 = model.net.workspace(batch);
    let ones = Array2::<f32>::ones((batch, 1));
    let mut fwd_bwd = |model: &mut ImageEbm| {
        model.net.forward(pos.view(), &mut ws2, par);
        model.net.zero_grad();
        model.net.backward(ones.view(), &mut ws2, true, par);
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let reps = repeat.max(1);
    update(&mut model, &mut rng);
    let mut u = Vec::new();
    for _ in 0..reps {
        let t0 = Instant::now();
        update(&mut model, &mut rng);
        u.push(t0.elapsed().as_secs_f64());
    }
    fwd_bwd(&mut model);
    let mut fb = Vec::new();
    for _ in 0..reps {
        let t0 = Instant::now();
        fwd_bwd(&mut model);
        fb.push(t0.elapsed().as_secs_f64());
    }
    Ok(ConvBench {
        workload: "conv",
        threads: crate::threads::threads(),
        batch,
        steps,
        features,
        update_s: median(u),
        fwd_bwd_s: median(fb),
    })
}
