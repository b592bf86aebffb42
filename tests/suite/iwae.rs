//! Latent-variable oracles: the KL term against a Monte Carlo estimate, the
//! importance-weighted objective's gradients against finite differences, the bound's
//! monotonicity in k and its position below the exact log-likelihood of a
//! linear-Gaussian model, the beta (KL weight) ordering, and zero-temperature inference.

use ebm::data::digits::Digits;
use ebm::models::iwae::log_likelihood_bound;
use ebm::models::latent_inference::infer_latent;
use ebm::models::vae::{Likelihood, Vae, VaeConfig};
use ebm::nn::optim::OptimConfig;
use ebm::nn::{ActivationKind, Parameters};
use ndarray::{Array2, s};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus as Rng64;

fn small(likelihood: Likelihood, k: usize) -> VaeConfig {
    VaeConfig {
        input_dim: 64,
        hidden: vec![12],
        latent: 3,
        activation: ActivationKind::Tanh,
        likelihood,
        kl_weight: 1.0,
        iwae_k: k,
        ..VaeConfig::pytorch_mnist()
    }
}

fn binary_digits() -> (Array2<f32>, Array2<f32>) {
    let (tr, te) = Digits::embedded().split(300, 0);
    let b = |x: Array2<f32>| x.mapv(|p| f32::from(u8::from(p > 0.5)));
    (b(tr.images), b(te.images))
}

#[test]
fn the_forward_pass_kl_equals_a_monte_carlo_estimate() {
    // KL(q || p) = E_q[log q(z) - log p(z)] with q = N(mu, diag e^lv), p = N(0, I).
    let x = Digits::embedded().images.slice(s![..4, ..]).to_owned();
    let mut vae = Vae::new(
        small(Likelihood::Bernoulli, 1),
        &mut Rng64::seed_from_u64(1),
    )
    .unwrap();
    let (mu, lv) = vae.encode(x.view()).unwrap();
    let mut rng = Rng64::seed_from_u64(2);
    for i in 0..4 {
        let closed: f64 = (0..3)
            .map(|c| {
                let (m, v) = (mu[[i, c]] as f64, lv[[i, c]] as f64);
                0.5 * (m * m + v.exp() - 1.0 - v)
            })
            .sum();
        let n = 200_000;
        let (mut s1, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let mut d = 0.0;
            for c in 0..3 {
                let (m, v) = (mu[[i, c]] as f64, lv[[i, c]] as f64);
                let e: f64 = rng.sample(StandardNormal);
                let z = m + e * (0.5 * v).exp();
                // log q - log p = -e^2/2 - v/2 + z^2/2.
                d += -0.5 * e * e - 0.5 * v + 0.5 * z * z;
            }
            s1 += d;
            s2 += d * d;
        }
        let mean = s1 / n as f64;
        let se = ((s2 / n as f64 - mean * mean) / n as f64).sqrt();
        assert!(
            (mean - closed).abs() < 4.0 * se + 1e-9,
            "image {i}: Monte Carlo {mean} +- {se} vs closed form {closed}"
        );
        // The KL the library's forward pass reports for this image (what the loss and
        // the metrics use) is the same quantity.
        let lib = vae
            .evaluate(x.slice(s![i..i + 1, ..]), 1, &mut rng)
            .unwrap()
            .kl;
        assert!(
            (lib - mean).abs() < 4.0 * se + 1e-5,
            "image {i}: the forward pass's KL {lib} vs Monte Carlo {mean} +- {se}"
        );
        assert!(
            (lib - closed).abs() < 1e-4 * closed.max(1.0),
            "{lib} vs {closed}"
        );
    }
}

#[test]
fn importance_weighted_gradients_match_finite_differences() {
    let x = Digits::embedded().images.slice(s![..4, ..]).to_owned();
    for lik in [Likelihood::Bernoulli, Likelihood::Gaussian { sigma: 0.5 }] {
        let mut vae = Vae::new(small(lik, 4), &mut Rng64::seed_from_u64(3)).unwrap();
        vae.zero_grad();
        let l = vae
            .forward_backward(x.view(), &mut Rng64::seed_from_u64(9), true)
            .unwrap();
        assert!((l.total() - (l.recon + l.kl)).abs() < 1e-9);
        let mut grads = Vec::new();
        vae.visit_named("", &mut |n, p| grads.push((n.to_string(), p.grad.clone())));
        for (pi, (name, g)) in grads.iter().enumerate() {
            for e in [0, g.len() / 2, g.len() - 1] {
                let eval = |d: f32| {
                    let mut v = vae.clone();
                    let mut k = 0;
                    v.visit_mut(&mut |p| {
                        if k == pi {
                            p.value[e] += d;
                        }
                        k += 1;
                    });
                    v.forward_backward(x.view(), &mut Rng64::seed_from_u64(9), false)
                        .unwrap()
                        .total()
                };
                let h = 1e-2f32;
                let fd = (eval(h) - eval(-h)) / (2.0 * h as f64);
                let an = g[e] as f64;
                assert!(
                    (an - fd).abs() <= 3e-3 * fd.abs().max(1.0),
                    "{lik:?} k=4 {name}[{e}]: analytic {an} vs finite difference {fd}"
                );
            }
        }
    }
}

fn trained_digits_vae(kl_weight: f32, epochs: usize, seed: u64) -> (Vae, Array2<f32>) {
    let (train, test) = binary_digits();
    let cfg = VaeConfig {
        input_dim: 64,
        hidden: vec![64],
        latent: 8,
        kl_weight,
        // tanh (smooth): finite differences in z do not cross a ReLU kink.
        activation: ActivationKind::Tanh,
        ..VaeConfig::pytorch_mnist()
    };
    let mut rng = Rng64::seed_from_u64(seed);
    let mut vae = Vae::new(cfg, &mut rng).unwrap();
    let mut opt = OptimConfig::adam(2e-3).build();
    for _ in 0..epochs {
        vae.train_epoch(train.view(), 32, &mut rng, opt.as_mut())
            .unwrap();
    }
    (vae, test)
}

#[test]
fn the_bound_rises_with_k_on_a_trained_model() {
    let (mut vae, test) = trained_digits_vae(1.0, 25, 0);
    let mut last: Option<ebm::models::iwae::BoundEstimate> = None;
    for k in [1, 5, 50, 500] {
        let b = log_likelihood_bound(&mut vae, test.view(), k, 7).unwrap();
        assert_eq!(b.per_image.len(), 300);
        if let Some(p) = &last {
            // Paired over the same images: the mean gain and its standard error.
            let d: Vec<f64> = b
                .per_image
                .iter()
                .zip(&p.per_image)
                .map(|(a, b)| a - b)
                .collect();
            let m = d.iter().sum::<f64>() / d.len() as f64;
            let se = (d.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                / (d.len() - 1) as f64
                / d.len() as f64)
                .sqrt();
            assert!(
                m > 2.0 * se && m > 0.0,
                "L_{k} - L_{} = {m} +- {se}: the bound did not rise",
                p.k
            );
        }
        last = Some(b);
    }
    // The ELBO from the training loss path equals L_1 in expectation.
    let elbo = -vae
        .evaluate(test.view(), 300, &mut Rng64::seed_from_u64(1))
        .unwrap()
        .per_row();
    let l1 = log_likelihood_bound(&mut vae, test.view(), 1, 11).unwrap();
    assert!(
        (l1.mean() - elbo).abs() < 4.0 * l1.std_error(),
        "L_1 {} vs ELBO {elbo}",
        l1.mean()
    );
}

/// `log N(x; b, W W^T + s^2 I)` by Cholesky.
fn gaussian_log_density(x: &[f64], b: &[f64], w: &Array2<f64>, s2: f64) -> f64 {
    let d = x.len();
    let mut c = w.dot(&w.t());
    for i in 0..d {
        c[[i, i]] += s2;
    }
    let mut l = Array2::<f64>::zeros((d, d));
    for i in 0..d {
        for j in 0..=i {
            let mut v = c[[i, j]];
            for k in 0..j {
                v -= l[[i, k]] * l[[j, k]];
            }
            l[[i, j]] = if i == j { v.sqrt() } else { v / l[[j, j]] };
        }
    }
    // Solve L u = x - b; quad = |u|^2; log det C = 2 sum log L_ii.
    let mut u = vec![0.0; d];
    for i in 0..d {
        let mut v = x[i] - b[i];
        for k in 0..i {
            v -= l[[i, k]] * u[k];
        }
        u[i] = v / l[[i, i]];
    }
    let quad: f64 = u.iter().map(|v| v * v).sum();
    let logdet: f64 = (0..d).map(|i| 2.0 * l[[i, i]].ln()).sum();
    -0.5 * (d as f64 * (2.0 * std::f64::consts::PI).ln() + logdet + quad)
}

#[test]
fn the_bound_stays_below_the_exact_log_likelihood_of_a_linear_gaussian_model() {
    // Decoder Dec(z) = W z + b with Gaussian noise s: p(x) = N(b, W W^T + s^2 I) exactly.
    let (d, l, s) = (6, 2, 0.5f32);
    let cfg = VaeConfig {
        input_dim: d,
        hidden: vec![],
        latent: l,
        activation: ActivationKind::Tanh,
        likelihood: Likelihood::Gaussian { sigma: s },
        kl_weight: 1.0,
        iwae_k: 1,
        ..VaeConfig::pytorch_mnist()
    };
    let mut rng = Rng64::seed_from_u64(5);
    // Data from a linear-Gaussian model.
    let wt = Array2::from_shape_fn((d, l), |(i, j)| ((i + 2 * j) as f32 * 0.7).sin() * 1.5);
    let data = Array2::from_shape_fn((2000, d), |_| 0.0f32);
    let mut data = data;
    for mut row in data.rows_mut() {
        let z: [f32; 2] = [rng.sample(StandardNormal), rng.sample(StandardNormal)];
        for i in 0..d {
            let e: f32 = rng.sample(StandardNormal);
            row[i] = wt[[i, 0]] * z[0] + wt[[i, 1]] * z[1] + 0.3 + s * e;
        }
    }
    let mut vae = Vae::new(cfg, &mut rng).unwrap();
    let mut opt = OptimConfig::adam(1e-2).build();
    for _ in 0..30 {
        vae.train_epoch(data.view(), 50, &mut rng, opt.as_mut())
            .unwrap();
    }
    // The trained decoder's W and b.
    let (mut w, mut b) = (Array2::<f64>::zeros((d, l)), vec![0.0; d]);
    vae.visit_named("", &mut |n, p| {
        if n.starts_with("decoder.") && n.ends_with("weight") {
            for i in 0..d {
                for j in 0..l {
                    w[[i, j]] = p.value[i * l + j] as f64;
                }
            }
        } else if n.starts_with("decoder.") && n.ends_with("bias") {
            for (bi, &v) in b.iter_mut().zip(&p.value) {
                *bi = v as f64;
            }
        }
    });
    let test = data.slice(s![..200, ..]).to_owned();
    let exact: Vec<f64> = test
        .rows()
        .into_iter()
        .map(|r| {
            let x: Vec<f64> = r.iter().map(|&v| v as f64).collect();
            gaussian_log_density(&x, &b, &w, (s * s) as f64)
        })
        .collect();
    let mut gaps = Vec::new();
    for k in [1, 10, 100, 2000] {
        let bd = log_likelihood_bound(&mut vae, test.view(), k, 3).unwrap();
        let diff: Vec<f64> = exact
            .iter()
            .zip(&bd.per_image)
            .map(|(e, b)| e - b)
            .collect();
        let m = diff.iter().sum::<f64>() / diff.len() as f64;
        let se = (diff.iter().map(|x| (x - m).powi(2)).sum::<f64>()
            / (diff.len() - 1) as f64
            / diff.len() as f64)
            .sqrt();
        // log p(x) - L_k >= 0 in expectation.
        assert!(
            m > -3.0 * se - 1e-6,
            "k = {k}: exact - bound = {m} +- {se} < 0"
        );
        gaps.push(m);
    }
    // The gap shrinks with k and nearly closes.
    assert!(gaps.windows(2).all(|g| g[1] < g[0]), "gaps {gaps:?}");
    assert!(gaps[3] < 0.02, "gap at k = 2000: {gaps:?}");
}

#[test]
fn a_larger_kl_weight_gives_a_smaller_kl_and_a_larger_reconstruction_energy() {
    // The "larger beta" in the beta-VAE convention (beta multiplies KL) is a
    // larger `kl_weight` here (the lecture's 1/beta).
    let mut stats = Vec::new();
    for w in [0.3f32, 1.0, 3.0] {
        let (mut vae, test) = trained_digits_vae(w, 20, 0);
        let mut kl = 0.0;
        let mut recon = 0.0;
        for r in 0..5 {
            let l = vae
                .evaluate(test.view(), 300, &mut Rng64::seed_from_u64(r))
                .unwrap();
            kl += l.kl / l.n as f64;
            recon += l.recon / l.n as f64;
        }
        stats.push((w, kl / 5.0, recon / 5.0));
    }
    for p in stats.windows(2) {
        assert!(
            p[1].1 < p[0].1,
            "KL does not fall with the weight: {stats:?}"
        );
        assert!(p[1].2 > p[0].2, "reconstruction does not rise: {stats:?}");
    }
}

#[test]
fn zero_temperature_inference_lowers_the_energy_monotonically_from_the_encoder_code() {
    let (mut vae, test) = trained_digits_vae(1.0, 10, 0);
    let y = test.slice(s![..50, ..]).to_owned();
    let (mu, _) = vae.encode(y.view()).unwrap();
    // dE/dz against central finite differences at the encoder's code.
    let mut g = Array2::<f32>::zeros(mu.dim());
    let e0 = vae
        .decoder_energy(y.view(), mu.view(), Some(g.view_mut()))
        .unwrap();
    for (r, c) in [(0, 0), (3, 5), (49, 7)] {
        let h = 1e-2f32;
        let at = |d: f32, vae: &mut Vae| {
            let mut z = mu.clone();
            z[[r, c]] += d;
            vae.decoder_energy(y.view(), z.view(), None).unwrap()[r]
        };
        let fd = (at(h, &mut vae) - at(-h, &mut vae)) / (2.0 * h as f64);
        assert!(
            (fd - g[[r, c]] as f64).abs() < 2e-3 * fd.abs().max(1.0),
            "dE/dz[{r},{c}]: {} vs finite difference {fd}",
            g[[r, c]]
        );
    }
    let inf = infer_latent(&mut vae, y.view(), mu.view(), 100).unwrap();
    assert_eq!(inf.start, e0);
    assert!(
        inf.trace.windows(2).all(|t| t[1] <= t[0]),
        "trace {:?}",
        inf.trace
    );
    for (s, e) in inf.start.iter().zip(&inf.end) {
        assert!(e <= s);
    }
    let (s0, s1) = (inf.trace[0], *inf.trace.last().unwrap());
    assert!(s1 < s0 - 1.0, "mean energy only fell from {s0} to {s1}");
    // The result is consistent: the energy at z* is what was reported.
    let e_star = vae.decoder_energy(y.view(), inf.z.view(), None).unwrap();
    for (a, b) in e_star.iter().zip(&inf.end) {
        assert!((a - b).abs() < 1e-6 * a.abs().max(1.0));
    }
}

#[test]
fn bad_bound_inputs_are_errors() {
    let mut vae = Vae::new(
        small(Likelihood::Bernoulli, 1),
        &mut Rng64::seed_from_u64(0),
    )
    .unwrap();
    let x = Array2::<f32>::zeros((3, 784));
    let e = log_likelihood_bound(&mut vae, x.view(), 5, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("784") && e.contains("64"), "{e}");
    let x = Array2::<f32>::zeros((3, 64));
    assert!(log_likelihood_bound(&mut vae, x.view(), 0, 0).is_err());
    let bad = VaeConfig {
        kl_weight: 0.5,
        ..small(Likelihood::Bernoulli, 5)
    };
    let e = Vae::new(bad, &mut Rng64::seed_from_u64(0))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("kl_weight"), "{e}");
}
