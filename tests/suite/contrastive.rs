//! Contrastive maximum likelihood against exact answers: the sampled NLL gradient on a
//! small discrete space equals the exact gradient within its standard error, a learnable
//! Gaussian reaches the maximum-likelihood fit, the MLP energy's parameter gradient
//! equals finite differences, and divergence is caught.

#![allow(clippy::needless_range_loop)]

use ebm::contrastive::{
    ContrastiveConfig, ContrastiveTrainer, GaussianEnergy, Learnable, Negatives, contrastive_grad,
};
use ebm::energy::{Energy, MlpSpec, NeuralEnergy};
use ebm::mcmc::{BitFlip, Info, Kernel, Langevin, Rng, State};
use ebm::nn::{ActivationKind, Parameters};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, array};
use rand::{Rng as _, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// `E_theta(y) = -theta . phi(y)`, `phi = (y0, y1, y2, y0 y1, y1 y2)` on `{0, 1}^3`.
struct LinearBits {
    theta: Vec<f64>,
    grad: Vec<f64>,
}

fn phi(y: &[f64]) -> [f64; 5] {
    [y[0], y[1], y[2], y[0] * y[1], y[1] * y[2]]
}

impl Energy for LinearBits {
    fn dim(&self) -> usize {
        3
    }
    fn energy(&self, y: ArrayView2<f64>, out: &mut [f64]) {
        for (o, r) in out.iter_mut().zip(y.rows()) {
            let f = phi(r.as_slice().unwrap());
            *o = -f.iter().zip(&self.theta).map(|(a, b)| a * b).sum::<f64>();
        }
    }
    fn energy_grad(&self, _y: ArrayView2<f64>, _out: &mut [f64], _g: ArrayViewMut2<f64>) {
        unreachable!("discrete energy: no gradient in y")
    }
}

impl Learnable for LinearBits {
    fn accumulate_param_grad(&mut self, y: ArrayView2<f64>, coef: &[f64]) {
        for (r, c) in y.rows().into_iter().zip(coef) {
            let f = phi(r.as_slice().unwrap());
            for k in 0..5 {
                self.grad[k] -= c * f[k];
            }
        }
    }
    fn zero_param_grad(&mut self) {
        self.grad.iter_mut().for_each(|g| *g = 0.0);
    }
}

#[test]
fn sampled_nll_gradient_matches_the_exact_gradient_on_three_bits() {
    let mut model = LinearBits {
        theta: vec![0.4, -0.3, 0.2, 0.9, -0.6],
        grad: vec![0.0; 5],
    };
    // A fixed data set of 40 states.
    let data = Array2::from_shape_fn((40, 3), |(i, j)| ((((i * 5 + 3) % 8) >> j) & 1) as f64);
    // Exact: dNLL/dtheta = mean_data dE/dtheta - E_p[dE/dtheta] = -phibar_data + E_p[phi].
    let states = Array2::from_shape_fn((8, 3), |(s, j)| ((s >> j) & 1) as f64);
    let mut e = vec![0.0; 8];
    model.energy(states.view(), &mut e);
    let z: f64 = e.iter().map(|e| (-e).exp()).sum();
    let mut exact = [0.0; 5];
    for s in 0..8 {
        let p = (-e[s]).exp() / z;
        let f = phi(states.row(s).as_slice().unwrap());
        for k in 0..5 {
            exact[k] += p * f[k];
        }
    }
    for r in data.rows() {
        let f = phi(r.as_slice().unwrap());
        for k in 0..5 {
            exact[k] -= f[k] / 40.0;
        }
    }
    // Sampled: negatives from bit-flip Metropolis chains (burned in), 300 estimates.
    let mut rng = Rng::seed_from_u64(1);
    let init = Array2::from_shape_fn((64, 3), |_| f64::from(rng.r#gen::<bool>()));
    let mut state = State::without_grad(&model, init).unwrap();
    let k = BitFlip::new(1.0).unwrap();
    let mut info = Info::default();
    for _ in 0..100 {
        k.step(&model, &mut state, &mut rng, &mut info).unwrap();
    }
    let reps = 300;
    let mut est = vec![[0.0; 5]; reps];
    for est_r in est.iter_mut() {
        for _ in 0..10 {
            k.step(&model, &mut state, &mut rng, &mut info).unwrap();
        }
        model.zero_param_grad();
        contrastive_grad(&mut model, data.view(), state.position.view(), 0.0);
        est_r.copy_from_slice(&model.grad);
    }
    for k in 0..5 {
        let m: f64 = est.iter().map(|g| g[k]).sum::<f64>() / reps as f64;
        let v: f64 = est.iter().map(|g| (g[k] - m).powi(2)).sum::<f64>() / (reps - 1) as f64;
        let se = (v / reps as f64).sqrt();
        assert!(
            (m - exact[k]).abs() <= 4.0 * se,
            "theta[{k}]: sampled {m} +- {se} vs exact {}",
            exact[k]
        );
        assert!(se < 0.02, "estimate too noisy to be a check: se {se}");
    }
}

#[test]
fn learnable_gaussian_reaches_the_maximum_likelihood_fit() {
    let mut rng = Rng::seed_from_u64(2);
    let n = 2000;
    let (m, a) = ([1.0, -0.5], array![[1.0, 0.0], [0.8, 0.6]]); // y = m + A z: Cov = A A^T
    let data = Array2::from_shape_fn((n, 2), |_| 0.0);
    let mut data = data;
    for mut r in data.rows_mut() {
        let z: [f64; 2] = [
            StandardNormal.sample(&mut rng),
            StandardNormal.sample(&mut rng),
        ];
        r[0] = m[0] + a[[0, 0]] * z[0];
        r[1] = m[1] + a[[1, 0]] * z[0] + a[[1, 1]] * z[1];
    }
    let mean = data.mean_axis(ndarray::Axis(0)).unwrap();
    let c = &data - &mean;
    let cov = c.t().dot(&c) / n as f64;

    let mut g = GaussianEnergy::new(2);
    let mut chains = State::new(&g, Array2::zeros((512, 2))).unwrap();
    let k = Langevin::mala(0.1, 1.0).unwrap();
    let mut info = Info::default();
    let lr = 0.05f32;
    for it in 0..1500 {
        // Persistent chains on the current model.
        chains.refresh(&g, true);
        for _ in 0..3 {
            k.step(&g, &mut chains, &mut rng, &mut info).unwrap();
        }
        g.zero_param_grad();
        let lo = (it * 256) % (n - 256);
        contrastive_grad(
            &mut g,
            data.slice(ndarray::s![lo..lo + 256, ..]),
            chains.position.view(),
            0.0,
        );
        let step = if it < 1000 { lr } else { lr * 0.2 };
        for i in 0..2 {
            g.mu.value[i] -= step * g.mu.grad[i];
            for j in 0..=i {
                g.l.value[i * 2 + j] -= step * g.l.grad[i * 2 + j];
            }
        }
    }
    let p = g.precision();
    let det = p[[0, 0]] * p[[1, 1]] - p[[0, 1]] * p[[1, 0]];
    let model_cov = array![
        [p[[1, 1]] / det, -p[[0, 1]] / det],
        [-p[[1, 0]] / det, p[[0, 0]] / det]
    ];
    let mu = g.mean();
    for i in 0..2 {
        assert!(
            (mu[i] - mean[i]).abs() < 0.05,
            "mean {i}: {} vs {}",
            mu[i],
            mean[i]
        );
        for j in 0..2 {
            assert!(
                (model_cov[[i, j]] - cov[[i, j]]).abs() < 0.08,
                "cov[{i}][{j}]: {} vs {}",
                model_cov[[i, j]],
                cov[[i, j]]
            );
        }
    }
}

/// Add `delta` to the `k`-th scalar parameter of `e`.
fn nudge(e: &mut NeuralEnergy, k: usize, delta: f32) {
    let mut seen = 0;
    e.net.visit_mut(&mut |p| {
        for v in p.value.iter_mut() {
            if seen == k {
                *v += delta;
            }
            seen += 1;
        }
    });
}

#[test]
fn neural_energy_parameter_gradient_matches_finite_differences() {
    let mut rng = Rng::seed_from_u64(3);
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![8, 8],
        activation: ActivationKind::Tanh,
    };
    let mut e = NeuralEnergy::mlp(spec, &mut rng).unwrap();
    let y = array![[0.3, -0.7], [1.1, 0.4], [-0.5, 0.9]];
    let coef = [0.7, -1.2, 0.4];
    e.zero_param_grad();
    e.accumulate_param_grad(y.view(), &coef);
    let mut analytic = Vec::new();
    e.net
        .visit_mut(&mut |p| analytic.extend(p.grad.iter().copied()));
    let weighted = |e: &NeuralEnergy| {
        let mut out = [0.0; 3];
        e.energy(y.view(), &mut out);
        out.iter().zip(&coef).map(|(a, b)| a * b).sum::<f64>()
    };
    let h = 1e-2f32;
    let mut idx = 0;
    let n = analytic.len();
    for k in (0..n).step_by(7) {
        nudge(&mut e, k, h);
        let plus = weighted(&e);
        nudge(&mut e, k, -2.0 * h);
        let minus = weighted(&e);
        nudge(&mut e, k, h);
        let fd = (plus - minus) / (2.0 * h as f64);
        // f32 network: central differences with h = 1e-2 are good to ~1e-3.
        assert!(
            (fd - analytic[k] as f64).abs() < 2e-3 * (1.0 + fd.abs()),
            "param {k}: fd {fd} vs {}",
            analytic[k]
        );
        idx += 1;
    }
    assert!(idx > 5);
}

#[test]
fn a_diverging_run_stops_with_a_message_naming_the_step() {
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![16],
        activation: ActivationKind::Silu,
    };
    let cfg = ContrastiveConfig {
        negatives: Negatives::ShortRun,
        energy_l2: 0.0,
        max_gap: 5.0,
        optim: ebm::nn::optim::OptimConfig::adam(0.5),
        clip: 0.0,
        batch: 64,
        ..ContrastiveConfig::default()
    };
    let mut t = ContrastiveTrainer::new(spec, cfg, 4).unwrap();
    let mut rng = Rng::seed_from_u64(5);
    let data = Array2::from_shape_fn((64, 2), |_| 0.05 * rng.r#gen::<f64>());
    let mut err = None;
    for _ in 0..500 {
        if let Err(e) = t.step(data.view()) {
            err = Some(e.to_string());
            break;
        }
    }
    let err = err.expect("an unregularized run with lr 0.5 on one tight cluster diverges");
    assert!(err.contains("diverged at step"), "{err}");
}

#[test]
fn a_short_run_on_eight_gaussians_beats_the_best_single_gaussian() {
    use ebm::toy::ToyData;
    use ebm::toy_ebm::{ToyRunConfig, train};
    let data = ToyData::EightGaussians;
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![64, 64],
        activation: ActivationKind::Silu,
    };
    let cfg = ContrastiveConfig {
        batch: 128,
        step_size: 0.02,
        ..ContrastiveConfig::default()
    };
    let run = ToyRunConfig {
        updates: 600,
        eval_every: 600,
        test_size: 4000,
        grid: 128,
        ..ToyRunConfig::default()
    };
    let r = train(&data, spec, cfg, &run, 0, |_| {}).unwrap();
    let train_pts = data.sample(4000, 1);
    let gauss = ebm::exact2d::gaussian_fit_nll(train_pts.view(), r.test.view()).unwrap();
    let nll = r.final_eval.test_nll;
    assert!(r.final_eval.box_holds_mass);
    assert!(
        nll < gauss - 0.3,
        "EBM test NLL {nll} vs single Gaussian {gauss}"
    );
    // And it cannot beat the data's own entropy by more than the test noise.
    assert!(nll > r.final_eval.data_entropy.unwrap() - 0.05, "{nll}");
    // The exact KL(p_data || p_model) by quadrature: the best single Gaussian's is
    // about 1.4 nats; 600 updates reach about 0.5 (seed 0). It agrees with the test NLL
    // minus the data entropy within the test set's Monte Carlo error.
    let kl = r.final_eval.kl.expect("8gaussians has a known density");
    let entropy = r.final_eval.data_entropy.unwrap();
    assert!(kl < 0.75, "KL {kl} nats after 600 updates");
    assert!(
        gauss - entropy > 1.2,
        "the single Gaussian's KL {}",
        gauss - entropy
    );
    assert!(
        (kl - (nll - entropy)).abs() < 0.08,
        "KL {kl} vs NLL - H {}",
        nll - entropy
    );
}

/// Largest singular value of `w: [o, i]` by 500 power iterations in f64.
fn sigma_max(w: &[f32], o: usize, i: usize) -> f64 {
    let mut v = vec![1.0f64; i];
    let mut s = 0.0;
    for _ in 0..500 {
        let u: Vec<f64> = (0..o)
            .map(|r| (0..i).map(|c| w[r * i + c] as f64 * v[c]).sum())
            .collect();
        let mut nv: Vec<f64> = (0..i)
            .map(|c| (0..o).map(|r| w[r * i + c] as f64 * u[r]).sum())
            .collect();
        s = nv.iter().map(|x| x * x).sum::<f64>().sqrt();
        nv.iter_mut().for_each(|x| *x /= s);
        v = nv;
    }
    s.sqrt()
}

#[test]
fn spectral_projection_makes_every_layer_one_lipschitz() {
    let mut rng = Rng::seed_from_u64(6);
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![32, 32],
        activation: ActivationKind::Silu,
    };
    let mut e = NeuralEnergy::mlp(spec, &mut rng).unwrap();
    e.net
        .visit_mut(&mut |p| p.value.iter_mut().for_each(|v| *v *= 8.0));
    let before: Vec<f64> = {
        let mut s = Vec::new();
        e.net.visit_named("", &mut |n, p| {
            if n.ends_with("weight") {
                s.push(sigma_max(&p.value, p.shape[0], p.shape[1]))
            }
        });
        s
    };
    assert!(before.iter().any(|&s| s > 2.0), "{before:?}");
    let mut power = Vec::new();
    for _ in 0..30 {
        ebm::contrastive::spectral_project(&mut e.net, &mut power);
    }
    e.net.visit_named("", &mut |n, p| {
        if n.ends_with("weight") {
            let s = sigma_max(&p.value, p.shape[0], p.shape[1]);
            assert!(s <= 1.01, "{n}: sigma {s} after projection");
            assert!(s > 0.9, "{n}: sigma {s}: projected too far");
        }
    });
}

/// A toy run that diverges keeps its last good checkpoint: the error names it and the
/// update it was saved at, and the file loads with finite energies.
#[test]
fn a_diverging_toy_run_keeps_its_last_good_checkpoint() {
    use ebm::toy::ToyData;
    use ebm::toy_ebm::{ToyRunConfig, train};
    let dir = std::env::temp_dir().join(format!("ebm-toy-diverge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ckpt = dir.join("energy.safetensors");
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![16],
        activation: ActivationKind::Silu,
    };
    let cfg = ContrastiveConfig {
        negatives: Negatives::ShortRun,
        energy_l2: 0.0,
        max_gap: 5.0,
        optim: ebm::nn::optim::OptimConfig::adam(0.5),
        clip: 0.0,
        batch: 64,
        ema: 0.0,
        ..ContrastiveConfig::default()
    };
    let run = ToyRunConfig {
        updates: 500,
        eval_every: 1,
        test_size: 200,
        grid: 32,
        checkpoint: Some(ckpt.clone()),
        ..ToyRunConfig::default()
    };
    let err = match train(&ToyData::EightGaussians, spec, cfg, &run, 4, |_| {}) {
        Ok(_) => panic!("an unregularized run with lr 0.5 should diverge"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("diverged at step"), "{err}");
    assert!(
        err.contains("last good checkpoint") && err.contains("energy.safetensors"),
        "{err}"
    );
    let saved = NeuralEnergy::load(&ckpt).expect("the checkpoint loads");
    let y = Array2::from_shape_fn((8, 2), |(i, j)| i as f64 * 0.3 - j as f64);
    let mut e = vec![0.0; 8];
    saved.energy(y.view(), &mut e);
    assert!(e.iter().all(|v| v.is_finite()), "{e:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Correlated Gaussian data `y = m + A z`: `n` rows, their mean and covariance.
fn gaussian_data(n: usize, seed: u64) -> (Array2<f64>, Vec<f64>, Array2<f64>) {
    let mut rng = Rng::seed_from_u64(seed);
    let (m, a) = ([1.0, -0.5], array![[1.0, 0.0], [0.8, 0.6]]);
    let mut data = Array2::<f64>::zeros((n, 2));
    for mut r in data.rows_mut() {
        let z: [f64; 2] = [
            StandardNormal.sample(&mut rng),
            StandardNormal.sample(&mut rng),
        ];
        r[0] = m[0] + a[[0, 0]] * z[0];
        r[1] = m[1] + a[[1, 0]] * z[0] + a[[1, 1]] * z[1];
    }
    let mean = data.mean_axis(ndarray::Axis(0)).unwrap();
    let c = &data - &mean;
    let cov = c.t().dot(&c) / n as f64;
    (data, mean.to_vec(), cov)
}

/// 3,000 updates of a trainer of `GaussianEnergy::new(2)` (learning rate divided by 5
/// after 2,000) on consecutive batches of `data`; the trainer and its mean acceptance.
fn fit_gaussian(
    cfg: ContrastiveConfig,
    seed: u64,
    data: &Array2<f64>,
) -> (ContrastiveTrainer<GaussianEnergy>, f64) {
    let mut t = ContrastiveTrainer::with_energy(cfg, seed, |_| Ok(GaussianEnergy::new(2))).unwrap();
    let (n, b) = (data.nrows(), t.cfg.batch);
    let mut acc = 0.0;
    for it in 0..3000 {
        if it == 2000 {
            t.set_lr(0.002);
        }
        let lo = (it * b) % (n - b);
        acc += t
            .step(data.slice(ndarray::s![lo..lo + b, ..]))
            .unwrap()
            .acceptance
            / 3000.0;
    }
    (t, acc)
}

/// The fitted mean within 0.05 and covariance `P^-1` within 0.08 of the data's.
fn assert_fits(what: &str, g: &GaussianEnergy, mean: &[f64], cov: &Array2<f64>) {
    let mu = g.mean();
    let p = g.precision();
    let det = p[[0, 0]] * p[[1, 1]] - p[[0, 1]] * p[[1, 0]];
    let model_cov = array![
        [p[[1, 1]] / det, -p[[0, 1]] / det],
        [-p[[1, 0]] / det, p[[0, 0]] / det]
    ];
    eprintln!("{what}: mean {mu:?} vs {mean:?}; covariance {model_cov:?} vs {cov:?}");
    for i in 0..2 {
        assert!(
            (mu[i] - mean[i]).abs() < 0.05,
            "{what} mean {i}: {} vs {}",
            mu[i],
            mean[i]
        );
        for j in 0..2 {
            assert!(
                (model_cov[[i, j]] - cov[[i, j]]).abs() < 0.08,
                "{what} cov[{i}][{j}]: {} vs {}",
                model_cov[[i, j]],
                cov[[i, j]]
            );
        }
    }
}

/// The contrastive trainer is generic over the energy (issue 26 item 1): the same
/// trainer that fits MLPs, with its persistent chains, Adam and weight average, trains
/// a `GaussianEnergy` to the maximum-likelihood fit (the sample mean and covariance,
/// within 0.05 and 0.08 as the hand-written loop above). Its state file round-trips:
/// a trainer saved and loaded makes the same next update as the one that went on.
#[test]
fn the_contrastive_trainer_fits_a_gaussian_energy_to_the_sample_mean_and_covariance() {
    let n = 4096;
    let (data, mean, cov) = gaussian_data(n, 3);
    let cfg = ContrastiveConfig {
        negatives: Negatives::Persistent,
        // Every chain moves at every update, none restarts from the noise box (fresh
        // chains a few steps from uniform noise are wider than the model and would
        // bias the fit narrow: with restarts 0.05 and a pool of 8,192, Var 0.87 vs 1.0).
        buffer: 256,
        restart: 0.0,
        mcmc_steps: 5,
        step_size: 0.05,
        energy_l2: 0.0,
        ema: 0.99,
        optim: ebm::nn::optim::OptimConfig::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
        ..ContrastiveConfig::default()
    };
    let (mut t, _) = fit_gaussian(cfg, 7, &data);
    assert_fits("PCD with MALA", t.model(), &mean, &cov);
    let b = t.cfg.batch;
    // Save, load, and both make the same next update.
    let dir = crate::common::tmpdir("gauss-state");
    let path = dir.join("trainer.safetensors");
    t.save_state(&path).unwrap();
    let mut back: ContrastiveTrainer<GaussianEnergy> =
        ContrastiveTrainer::load_state(&path).unwrap();
    let batch = data.slice(ndarray::s![..b, ..]);
    let (m1, m2) = (t.step(batch).unwrap(), back.step(batch).unwrap());
    assert_eq!(m1.loss.to_bits(), m2.loss.to_bits());
    assert_eq!(t.model().mu.value, back.model().mu.value);
    assert_eq!(t.model().l.value, back.model().l.value);
    // An MLP trainer refuses the Gaussian's state, naming the field.
    let err = match ContrastiveTrainer::<NeuralEnergy>::load_state(&path) {
        Ok(_) => panic!("an MLP trainer loaded a Gaussian state"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("spec"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Negatives from any batched kernel (issue 26 item 2): with each transition `ebm
/// sample --kernel` offers (random-walk MH, ULA, MALA, HMC) moving the persistent
/// chains, the trainer fits the Gaussian energy to the sample mean and covariance. ULA
/// runs at a smaller step (its stationary law is off by O(step)).
#[test]
fn every_kernel_as_negatives_fits_the_gaussian_energy() {
    use ebm::mcmc::KernelName;
    let n = 4096;
    let (data, mean, cov) = gaussian_data(n, 5);
    for (kernel, step, steps) in [
        (KernelName::Mh, 0.5, 5),
        (KernelName::Ula, 0.01, 10),
        (KernelName::Mala, 0.05, 5),
        (KernelName::Hmc, 0.15, 2),
    ] {
        let cfg = ContrastiveConfig {
            kernel: Some(kernel),
            leapfrog: 4,
            buffer: 256,
            restart: 0.0,
            mcmc_steps: steps,
            step_size: step,
            energy_l2: 0.0,
            ema: 0.99,
            optim: ebm::nn::optim::OptimConfig::Adam {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.0,
            },
            ..ContrastiveConfig::default()
        };
        let (t, acc) = fit_gaussian(cfg, 9, &data);
        assert_fits(
            &format!("{kernel:?} (acceptance {acc:.2})"),
            t.model(),
            &mean,
            &cov,
        );
    }
}
