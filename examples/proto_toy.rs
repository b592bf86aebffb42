use ebm::contrastive::{ContrastiveConfig, ContrastiveTrainer, Negatives};
use ebm::energy::{Energy, GaussianMixture, MlpSpec};
use ebm::nn::ActivationKind;
use ebm::nn::optim::OptimConfig;
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn kl(model: &dyn Energy, data: &GaussianMixture, lo: f64, hi: f64, n: usize) -> (f64, f64) {
    let h = (hi - lo) / n as f64;
    let grid = Array2::from_shape_fn((n * n, 2), |(k, j)| lo + h * (if j == 0 { k % n } else { k / n } as f64 + 0.5));
    let mut em = vec![0.0; n * n];
    let mut ed = vec![0.0; n * n];
    model.energy(grid.view(), &mut em);
    data.energy(grid.view(), &mut ed);
    let mx = em.iter().map(|e| -e).fold(f64::NEG_INFINITY, f64::max);
    let log_z = mx + (em.iter().map(|e| (-e - mx).exp()).sum::<f64>() * h * h).ln();
    let mut kl = 0.0;
    for i in 0..n * n {
        let lp = -ed[i];
        let lq = -em[i] - log_z;
        kl += lp.exp() * (lp - lq) * h * h;
    }
    (kl, log_z)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let updates: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(2000);
    let steps: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(20);
    let eps: f64 = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(0.005);
    let l2: f64 = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(0.01);
    let lr: f32 = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(1e-3);
    let neg = args.get(6).map(|s| s.as_str()).unwrap_or("pcd");
    let data = GaussianMixture::ring(8, 4.0 / 1.414, 0.5 / 1.414, 2).unwrap();
    let cfg = ContrastiveConfig { mcmc_steps: steps, step_size: eps, energy_l2: l2, optim: OptimConfig::adam(lr), negatives: Negatives::from_name(neg).unwrap(), ..Default::default() };
    let spec = MlpSpec { in_dim: 2, hidden: vec![128, 128], activation: ActivationKind::Silu };
    let mut t = ContrastiveTrainer::new(spec, cfg, 0).unwrap();
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
    let t0 = std::time::Instant::now();
    for i in 0..updates {
        let mut b = Array2::zeros((256, 2));
        for mut r in b.rows_mut() {
            use rand::Rng;
            let k = rng.gen_range(0..8);
            let z0: f64 = StandardNormal.sample(&mut rng);
            let z1: f64 = StandardNormal.sample(&mut rng);
            r[0] = data.means[k][0] + data.stds[k] * z0;
            r[1] = data.means[k][1] + data.stds[k] * z1;
        }
        let m = t.step(b.view()).unwrap();
        if (i + 1) % (updates / 10).max(1) == 0 {
            let (k, lz) = kl(&t.energy, &data, -6.0, 6.0, 200);
            println!("{:5} {:6.1}s gap {:7.3} acc {:.2} E_d {:7.3} KL {:.4} logZ {:.3}", i + 1, t0.elapsed().as_secs_f64(), m.gap, m.acceptance, m.e_data, k, lz);
        }
    }
}
