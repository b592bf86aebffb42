//! Criterion benchmarks of the engine's hot loops (`cargo bench`). The whole workloads
//! with their targets are `ebm bench vae` and `ebm bench langevin` (BENCHMARKS.md).
//! Each iteration runs on a worker of the thread pool, as the `ebm` command does.

use criterion::{Criterion, criterion_group, criterion_main};
use ebm::models::vae::{Vae, VaeConfig};
use ebm::nn::init::Init;
use ebm::nn::optim::OptimConfig;
use ebm::nn::{ActivationKind, Sequential};
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus as Rng64;

fn vae_step(c: &mut Criterion) {
    let mut rng = Rng64::seed_from_u64(0);
    let mut vae = Vae::new(VaeConfig::pytorch_mnist(), &mut rng).unwrap();
    let mut opt = OptimConfig::adam(1e-3).build();
    let x = Array2::from_shape_fn((128, 784), |(i, j)| ((i * 31 + j * 7) % 256) as f32 / 255.0);
    c.bench_function("vae_step_784_400_20_batch128", |b| {
        b.iter(|| {
            ebm::threads::in_pool(|| vae.train_step(x.view(), &mut rng, opt.as_mut()).unwrap())
        })
    });
}

fn energy_grad(c: &mut Criterion) {
    let mut rng = Rng64::seed_from_u64(0);
    let e = Sequential::mlp(
        2,
        &[128, 128],
        1,
        ActivationKind::Silu,
        Init::PyTorchDefault,
        &mut rng,
    );
    let y = Array2::from_shape_fn((4096, 2), |(i, j)| ((i * 13 + j) % 100) as f32 / 25.0 - 2.0);
    let mut g = Array2::zeros((4096, 2));
    let mut en = vec![0.0f32; 4096];
    let mut pool = Vec::new();
    c.bench_function("energy_and_grad_mlp_2_128_128_1_chains4096", |b| {
        b.iter(|| {
            ebm::threads::in_pool(|| {
                e.energy_and_grad(y.view(), &mut en, g.view_mut(), &mut pool, 256)
            })
        })
    });
}

criterion_group!(benches, vae_step, energy_grad);
criterion_main!(benches);
