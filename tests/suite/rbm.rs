//! The Bernoulli-Bernoulli RBM against brute-force oracles: free energy, log Z (three
//! enumerations), conditionals, the gradient's data term against finite differences,
//! block Gibbs marginals, AIS against the exact log Z, CD-1 and PCD raising the exact
//! log-likelihood of the embedded digits, checkpoints.

use ebm::data::digits::Digits;
use ebm::gibbs::log_sum_exp;
use ebm::mcmc::{BinaryBlocks, BlockGibbs, BlockState};
use ebm::models::rbm::{Rbm, RbmConfig, Sampler, ais_log_z, ais_schedule, base_rate_bias};
use ebm::train::rbm::RbmTrainer;
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus as Rng64;

/// An RBM with `W ~ N(0, std^2)`-ish uniform weights and random biases.
fn random_rbm(nv: usize, nh: usize, scale: f32, seed: u64) -> Rbm {
    let mut r = Rng64::seed_from_u64(seed);
    let w = Array2::from_shape_simple_fn((nv, nh), || scale * (r.r#gen::<f32>() * 2.0 - 1.0));
    let b = (0..nv).map(|_| r.r#gen::<f32>() - 0.5).collect();
    let c = (0..nh).map(|_| r.r#gen::<f32>() - 0.5).collect();
    Rbm::from_parts(w, b, c)
}

/// Every binary vector of length `n`, one per row.
fn all_states(n: usize) -> Array2<f32> {
    Array2::from_shape_fn((1 << n, n), |(s, j)| ((s >> j) & 1) as f32)
}

fn row(a: &Array2<f32>, i: usize) -> Vec<f32> {
    a.row(i).to_vec()
}

#[test]
fn free_energy_equals_brute_force_sum_over_hidden() {
    let rbm = random_rbm(6, 4, 1.5, 1);
    let vs = all_states(6);
    let hs = all_states(4);
    let f = rbm.free_energy(vs.view()).unwrap();
    let mut worst = 0.0f64;
    for (i, &fi) in f.iter().enumerate() {
        let v = row(&vs, i);
        let neg_e: Vec<f64> = (0..hs.nrows())
            .map(|j| -rbm.energy(&v, &row(&hs, j)))
            .collect();
        worst = worst.max((fi + log_sum_exp(&neg_e)).abs());
    }
    assert!(worst < 1e-5, "max |F - brute force| = {worst}");
}

#[test]
fn log_z_enumerations_agree_with_brute_force() {
    for (nv, nh, seed) in [(6, 4, 2), (5, 7, 3)] {
        let rbm = random_rbm(nv, nh, 1.0, seed);
        let (vs, hs) = (all_states(nv), all_states(nh));
        let mut neg_e = Vec::new();
        for i in 0..vs.nrows() {
            for j in 0..hs.nrows() {
                neg_e.push(-rbm.energy(&row(&vs, i), &row(&hs, j)));
            }
        }
        let brute = log_sum_exp(&neg_e);
        let over_h = rbm.log_z_over_hidden().unwrap();
        let over_v = rbm.log_z_over_visible().unwrap();
        let exact = rbm.log_z_exact().unwrap();
        for (name, x) in [("hidden", over_h), ("visible", over_v), ("exact", exact)] {
            assert!(
                (x - brute).abs() < 1e-5,
                "{nv}x{nh}: log Z over {name} {x} vs brute force {brute}"
            );
        }
    }
    // A layer too large to enumerate is an error, not a hang.
    let big = Rbm::new(30, 30, 0.01, 0).unwrap();
    assert!(big.log_z_exact().is_err());
}

#[test]
fn conditionals_equal_brute_force_marginals() {
    let rbm = random_rbm(6, 4, 1.5, 4);
    let (vs, hs) = (all_states(6), all_states(4));
    let ph = rbm.hidden_probs(vs.view()).unwrap(); // [64, 4]
    let pv = rbm.visible_probs(hs.view()).unwrap(); // [16, 6]
    let mut worst = 0.0f64;
    for i in 0..vs.nrows() {
        let v = row(&vs, i);
        let w: Vec<f64> = (0..hs.nrows())
            .map(|j| (-rbm.energy(&v, &row(&hs, j))).exp())
            .collect();
        let z: f64 = w.iter().sum();
        for k in 0..4 {
            let m: f64 = (0..hs.nrows()).map(|j| w[j] * f64::from(hs[[j, k]])).sum();
            worst = worst.max((m / z - f64::from(ph[[i, k]])).abs());
        }
    }
    for j in 0..hs.nrows() {
        let h = row(&hs, j);
        let w: Vec<f64> = (0..vs.nrows())
            .map(|i| (-rbm.energy(&row(&vs, i), &h)).exp())
            .collect();
        let z: f64 = w.iter().sum();
        for k in 0..6 {
            let m: f64 = (0..vs.nrows()).map(|i| w[i] * f64::from(vs[[i, k]])).sum();
            worst = worst.max((m / z - f64::from(pv[[j, k]])).abs());
        }
    }
    assert!(worst < 1e-6, "max |conditional - brute force| = {worst}");

    // The BinaryBlocks view: p(h | v) at beta is sigmoid(beta * (c + v W)).
    let beta = 0.7;
    let blocks = vec![vs.mapv(f64::from), Array2::zeros((64, 4))];
    let mut prob = Array2::zeros((64, 4));
    rbm.conditional(1, &blocks, beta, &mut prob);
    let a = rbm.hidden_input(vs.view());
    let worst = prob
        .iter()
        .zip(a.iter())
        .map(|(&p, &a)| (p - 1.0 / (1.0 + (-beta * f64::from(a)).exp())).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-6, "blocks conditional at beta {beta}: {worst}");
}

#[test]
fn block_gibbs_marginals_match_exact() {
    let rbm = random_rbm(6, 4, 1.5, 5);
    let vs = all_states(6);
    let f = rbm.free_energy(vs.view()).unwrap();
    let log_z = rbm.log_z_exact().unwrap();
    let mut exact = [0.0f64; 6];
    for (i, &fi) in f.iter().enumerate() {
        let p = (-fi - log_z).exp();
        for (k, e) in exact.iter_mut().enumerate() {
            *e += p * f64::from(vs[[i, k]]);
        }
    }
    let mut rng = Rng64::seed_from_u64(6);
    let chains = 4000;
    let mut state = BlockState::random(&rbm, chains, &mut rng).unwrap();
    let kernel = BlockGibbs::new(1.0).unwrap();
    for _ in 0..100 {
        kernel.step(&rbm, &mut state, &mut rng);
    }
    for (k, &e) in exact.iter().enumerate() {
        let m = state.blocks[0].column(k).sum() / chains as f64;
        // sd of the mean <= 0.5 / sqrt(4000) = 0.008
        assert!((m - e).abs() < 0.035, "p(v_{k} = 1): gibbs {m}, exact {e}");
    }
}

/// `-mean F(v)` of a batch, the function whose gradient is the CD data term.
fn neg_mean_f(rbm: &Rbm, v: ArrayView2<f32>) -> f64 {
    let f = rbm.free_energy(v).unwrap();
    -f.iter().sum::<f64>() / f.len() as f64
}

#[test]
fn data_term_equals_finite_differences_of_free_energy() {
    let rbm = random_rbm(6, 4, 1.0, 7);
    let mut r = Rng64::seed_from_u64(8);
    let v = Array2::from_shape_simple_fn((10, 6), || f32::from(u8::from(r.r#gen::<bool>())));
    let g = rbm.positive_phase(v.view()).unwrap();
    let eps = 1e-2f32;
    let mut worst = 0.0f64;
    let mut check = |which: usize, idx: usize, analytic: f32| {
        let mut plus = rbm.clone();
        let mut minus = rbm.clone();
        for (m, s) in [(&mut plus, eps), (&mut minus, -eps)] {
            let p = match which {
                0 => &mut m.w,
                1 => &mut m.b,
                _ => &mut m.c,
            };
            p.value[idx] += s;
        }
        let fd = (neg_mean_f(&plus, v.view()) - neg_mean_f(&minus, v.view())) / (2.0 * eps as f64);
        worst = worst.max((fd - f64::from(analytic)).abs());
    };
    for i in 0..6 {
        for j in 0..4 {
            check(0, i * 4 + j, g.w[[i, j]]);
        }
        check(1, i, g.b[i]);
    }
    for j in 0..4 {
        check(2, j, g.c[j]);
    }
    assert!(
        worst < 2e-3,
        "max |data term - finite difference| = {worst}"
    );
}

#[test]
fn ais_schedule_has_the_papers_segments() {
    let s = ais_schedule(None);
    assert_eq!(s.len(), 14_501);
    assert_eq!((s[0], s[14_500]), (0.0, 1.0));
    assert_eq!(s.iter().filter(|&&b| b < 0.5).count(), 500);
    assert_eq!(s.iter().filter(|&&b| (0.5..0.9).contains(&b)).count(), 4000);
    assert!(s.windows(2).all(|w| w[1] > w[0]));
    let k = ais_schedule(Some(1000));
    assert_eq!(k.len(), 1001);
    assert_eq!((k[0], k[1000]), (0.0, 1.0));
    assert!(k.windows(2).all(|w| w[1] > w[0]));
}

/// Binary data with varied pixel means, for the base-rate model.
fn fake_data(n: usize, nv: usize, seed: u64) -> Array2<f32> {
    let mut r = Rng64::seed_from_u64(seed);
    let means: Vec<f32> = (0..nv).map(|_| r.r#gen::<f32>() * 0.8 + 0.1).collect();
    Array2::from_shape_fn((n, nv), |(_, i)| {
        f32::from(u8::from(r.r#gen::<f32>() < means[i]))
    })
}

#[test]
fn ais_matches_exact_log_z() {
    // 20x10 with strong weights along the paper's 14,500-step schedule, and 784x10
    // with small weights along 5,000 steps.
    for (nv, nh, scale, k, runs) in [
        (20, 10, 1.0f32, None, 200),
        (784, 10, 0.05, Some(5000), 200),
    ] {
        let rbm = random_rbm(nv, nh, scale, 9);
        let exact = rbm.log_z_exact().unwrap();
        let base = base_rate_bias(fake_data(500, nv, 10).view());
        let est = ais_log_z(&rbm, &base, &ais_schedule(k), runs, 11).unwrap();
        let err = est.log_z - exact;
        eprintln!(
            "{nv}x{nh}: exact {exact:.4}, AIS {:.4} ± {:.4} (ESS {:.0}/{runs}), error {err:+.4}",
            est.log_z, est.std_err, est.ess
        );
        assert!(
            est.interval.0 <= exact && exact <= est.interval.1,
            "{nv}x{nh}: exact {exact} outside AIS ±3 SE {:?}",
            est.interval
        );
        assert!(err.abs() < 0.1, "{nv}x{nh}: AIS error {err}");
    }
}

fn binarized_digits() -> Array2<f32> {
    Digits::embedded()
        .images
        .mapv(|x| f32::from(u8::from(x > 0.5)))
}

fn train_ll(sampler: Sampler, epochs: usize, lr: f32, momentum_final: f32) -> Vec<f64> {
    let data = binarized_digits();
    let mut cfg = RbmConfig::new(64, 16);
    cfg.sampler = sampler;
    cfg.epochs = epochs;
    cfg.batch_size = 20;
    cfg.lr = lr;
    cfg.lr_final = 0.01;
    cfg.momentum_switch = 2;
    cfg.momentum_final = momentum_final;
    cfg.seed = 12;
    let mut rbm = RbmTrainer::init_model(&cfg, data.view()).unwrap();
    let mut trainer = RbmTrainer::new(cfg).unwrap();
    let ll = |rbm: &Rbm| {
        rbm.mean_log_prob(data.view(), rbm.log_z_exact().unwrap())
            .unwrap()
    };
    let mut lls = vec![ll(&rbm)];
    for _ in 0..epochs {
        let s = trainer.train_epoch(&mut rbm, data.view()).unwrap();
        lls.push(ll(&rbm));
        eprintln!(
            "{sampler:?} epoch {}: recon {:.3}, train LL {:.3}",
            s.epoch,
            s.recon_error,
            lls.last().unwrap()
        );
    }
    lls
}

#[test]
fn cd1_training_raises_exact_log_likelihood_on_digits() {
    let lls = train_ll(Sampler::Cd { k: 1 }, 8, 0.1, 0.9);
    let (first, last) = (lls[0], *lls.last().unwrap());
    // The base-rate start is the independent-pixel model (about -24.4 nats).
    assert!(
        last > first + 3.0,
        "train LL {first:.3} -> {last:.3}: {lls:?}"
    );
    // Rising epoch over epoch, up to noise, once the hidden units have broken symmetry.
    assert!(lls.windows(2).skip(2).all(|w| w[1] > w[0] - 0.3), "{lls:?}");
}

#[test]
fn pcd_training_raises_exact_log_likelihood_on_digits() {
    // PCD with momentum 0.9 oscillates at this size; 0.5 throughout is steady.
    let lls = train_ll(Sampler::Pcd { k: 1, chains: 100 }, 10, 0.05, 0.5);
    let (first, last) = (lls[0], *lls.last().unwrap());
    assert!(
        last > first + 2.5,
        "train LL {first:.3} -> {last:.3}: {lls:?}"
    );
    assert!(lls.windows(2).skip(2).all(|w| w[1] > w[0] - 0.3), "{lls:?}");
}

#[test]
fn checkpoint_round_trip() {
    let dir = std::env::temp_dir().join(format!("ebm-rbm-{}", std::process::id()));
    let path = dir.join("rbm.safetensors");
    let rbm = random_rbm(7, 3, 1.0, 13);
    let mut cfg = RbmConfig::new(7, 3);
    cfg.sampler = Sampler::Pcd { k: 5, chains: 50 };
    rbm.save(&path, &cfg).unwrap();
    let (back, cfg_back) = Rbm::load(&path).unwrap();
    assert_eq!(back, rbm);
    assert_eq!(cfg_back, cfg);
    // A config that does not match the tensors is an error.
    let mut wrong = cfg.clone();
    wrong.hidden = 4;
    rbm.save(&path, &wrong).unwrap();
    assert!(Rbm::load(&path).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_are_errors() {
    assert!(Rbm::new(0, 3, 0.01, 0).is_err());
    let rbm = Rbm::new(4, 3, 0.01, 0).unwrap();
    assert!(rbm.free_energy(Array2::zeros((2, 5)).view()).is_err());
    let mut cfg = RbmConfig::new(4, 3);
    cfg.sampler = Sampler::Cd { k: 0 };
    assert!(RbmTrainer::new(cfg).is_err());
    let base = vec![0.0; 4];
    assert!(ais_log_z(&rbm, &base, &[0.0, 0.5], 10, 0).is_err());
    assert!(ais_log_z(&rbm, &base[..3], &[0.0, 1.0], 10, 0).is_err());
}

/// The growing-k schedule: one more sweep every `k_ramp` epochs, capped at `k`; with
/// `lr_over_k` the learning rate is divided by the current k.
#[test]
fn k_ramp_grows_k_and_divides_the_learning_rate() {
    let cfg = RbmConfig {
        sampler: Sampler::Cd { k: 25 },
        k_ramp: 10,
        lr: 0.05,
        lr_final: 0.05,
        lr_over_k: true,
        epochs: 400,
        ..RbmConfig::new(6, 3)
    };
    for (e, k) in [
        (0, 1),
        (9, 1),
        (10, 2),
        (19, 2),
        (239, 24),
        (240, 25),
        (399, 25),
    ] {
        assert_eq!(cfg.k_at(e), k, "epoch {e}");
        assert!((cfg.lr_at(e) - 0.05 / k as f32).abs() < 1e-9, "epoch {e}");
    }
    let fixed = RbmConfig {
        sampler: Sampler::Pcd { k: 3, chains: 10 },
        ..RbmConfig::new(6, 3)
    };
    assert_eq!(fixed.k_at(0), 3);
    assert_eq!(fixed.k_at(1000), 3);
}

/// Dynamic binarization trains on `v0 ~ Bernoulli(x)`: on grey images of 0.5 everywhere
/// the data term is binary, so the reconstruction error `||v0 - p(v | h)||^2` of a model
/// near p(v) = 0.5 is about V / 4 per image; without it `v0 = 0.5` and the error is near 0.
#[test]
fn dynamic_binarization_draws_binary_batches_from_grey_levels() {
    let nv = 40;
    let grey = Array2::from_elem((200, nv), 0.5f32);
    let recon = |binarize: bool| {
        let cfg = RbmConfig {
            binarize,
            epochs: 1,
            batch_size: 20,
            lr: 1e-4,
            lr_final: 1e-4,
            ..RbmConfig::new(nv, 4)
        };
        let mut rbm = RbmTrainer::init_model(&cfg, grey.view()).unwrap();
        let mut t = RbmTrainer::new(cfg).unwrap();
        t.train_epoch(&mut rbm, grey.view()).unwrap().recon_error
    };
    let (with, without) = (recon(true), recon(false));
    assert!((with - nv as f64 / 4.0).abs() < 0.05 * nv as f64, "{with}");
    assert!(without < 0.01 * nv as f64, "{without}");
}

/// The full log-likelihood gradient's model term `E_model[v p(h|v)^T]`, `E[v]`,
/// `E[p(h|v)]` of a small RBM with parameters `(w, b, c)`, by enumerating every visible
/// vector, written apart from the library: `p(v) ~ exp(b.v + sum_j softplus(c_j + W_j.v))`.
fn exact_model_term(w: &Array2<f32>, b: &[f32], c: &[f32]) -> (Array2<f64>, Vec<f64>, Vec<f64>) {
    let (nv, nh) = w.dim();
    let softplus = |x: f64| if x > 30.0 { x } else { x.exp().ln_1p() };
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let mut logp = Vec::new();
    let mut states = Vec::new();
    for s in 0..1usize << nv {
        let v: Vec<f64> = (0..nv).map(|i| ((s >> i) & 1) as f64).collect();
        let act: Vec<f64> = (0..nh)
            .map(|j| c[j] as f64 + (0..nv).map(|i| w[[i, j]] as f64 * v[i]).sum::<f64>())
            .collect();
        logp.push(
            (0..nv).map(|i| b[i] as f64 * v[i]).sum::<f64>()
                + act.iter().map(|a| softplus(*a)).sum::<f64>(),
        );
        states.push((v, act.iter().map(|a| sigmoid(*a)).collect::<Vec<f64>>()));
    }
    let lz = log_sum_exp(&logp);
    let (mut ew, mut eb, mut ec) = (Array2::zeros((nv, nh)), vec![0.0; nv], vec![0.0; nh]);
    for (lp, (v, ph)) in logp.iter().zip(&states) {
        let p = (lp - lz).exp();
        for i in 0..nv {
            eb[i] += p * v[i];
            for j in 0..nh {
                ew[[i, j]] += p * v[i] * ph[j];
            }
        }
        for j in 0..nh {
            ec[j] += p * ph[j];
        }
    }
    (ew, eb, ec)
}

#[test]
fn cd_k_model_term_tends_to_the_exact_one_as_k_grows() {
    let mut r = Rng64::seed_from_u64(11);
    let w = Array2::from_shape_simple_fn((6, 4), || 2.0 * (r.r#gen::<f32>() * 2.0 - 1.0));
    let b: Vec<f32> = (0..6).map(|_| r.r#gen::<f32>() - 0.5).collect();
    let c: Vec<f32> = (0..4).map(|_| r.r#gen::<f32>() - 0.5).collect();
    let rbm = Rbm::from_parts(w.clone(), b.clone(), c.clone());
    let (ew, eb, ec) = exact_model_term(&w, &b, &c);
    let chains = 20_000;
    // Chains start far from the model: every unit on with probability 0.9.
    let v0 =
        Array2::from_shape_simple_fn((chains, 6), || f32::from(u8::from(r.r#gen::<f32>() < 0.9)));
    // The largest error over every entry of the three terms, after k sweeps.
    let err = |k: usize| -> f64 {
        let pv = ebm::models::rbm::gibbs_chains(&rbm, v0.view(), k, 5 + k as u64).unwrap();
        let mut rng = ebm::mcmc::Rng::seed_from_u64(9 + k as u64);
        let vk = ebm::models::rbm::bernoulli(&pv, &mut rng); // [chains, 6]: CD-k's negatives
        let g = rbm.positive_phase(vk.view()).unwrap(); // the phase at the chains' states
        let gaps =
            g.w.iter()
                .zip(ew.iter())
                .chain(g.b.iter().zip(&eb))
                .chain(g.c.iter().zip(&ec))
                .map(|(x, y)| (*x as f64 - y).abs());
        gaps.fold(0.0, f64::max)
    };
    let (e1, e50) = (err(1), err(50));
    // Each entry is a mean of 20,000 terms in [0, 1]: standard error below 0.004.
    assert!(e50 < 0.02, "CD-50 model term off by {e50}");
    assert!(
        e1 > 3.0 * e50 && e1 > 0.05,
        "CD-1 {e1} vs CD-50 {e50}: no approach"
    );
}
