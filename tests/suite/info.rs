//! Oracles for `ebm::info`: closed forms against each other, against hand computations, and
//! against Monte Carlo; honest standard errors; one-line errors naming the field.

use ebm::info::{
    Estimate, LN_2, MvNormal, Rng, bits_to_nats, cross_entropy_gauss_diag,
    cross_entropy_gauss_full, entropy_discrete, entropy_gauss_diag, entropy_gauss_full,
    entropy_uniform_cube, expectation_monte_carlo, kl_diag_gauss, kl_diag_vs_isotropic,
    kl_gauss_1d, kl_gauss_full, kl_monte_carlo, kl_uniform_cubes, kl_uniform_cubes_bits,
    log_normal_diag, log_normal_diag_checked, nats_to_bits,
};
use ndarray::{Array2, array};
use rand::{Rng as _, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn normal(rng: &mut Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// A diagonal-Gaussian sampler for `kl_monte_carlo`.
fn diag_sampler(mu: Vec<f64>, var: Vec<f64>) -> impl FnMut(&mut Rng) -> Vec<f64> {
    move |rng| {
        mu.iter()
            .zip(&var)
            .map(|(m, v)| m + v.sqrt() * normal(rng))
            .collect()
    }
}

/// |est - truth| within `k` reported standard errors.
fn within(est: &Estimate, truth: f64, k: f64) -> bool {
    (est.value - truth).abs() <= k * est.std_err + 1e-12
}

/// A random symmetric positive definite d x d matrix A A^T + 0.1 I.
fn random_spd(d: usize, seed: u64) -> Array2<f64> {
    let mut rng = Rng::seed_from_u64(seed);
    let a = Array2::from_shape_fn((d, d), |_| rng.gen_range(-1.0..1.0));
    a.dot(&a.t()) + Array2::<f64>::eye(d) * 0.1
}

fn assert_one_line_err<T: std::fmt::Debug>(r: ebm::Result<T>, field: &str) -> String {
    let msg = r.expect_err("expected an error").to_string();
    assert!(!msg.contains('\n'), "multi-line error: {msg}");
    assert!(msg.contains(field), "error does not name `{field}`: {msg}");
    msg
}

// ---------------------------------------------------------------------------------------
// Units and uniform cubes
// ---------------------------------------------------------------------------------------

#[test]
fn unit_conversions() {
    assert_eq!(LN_2, std::f64::consts::LN_2);
    assert!((nats_to_bits(LN_2) - 1.0).abs() < 1e-15);
    assert!((bits_to_nats(1.0) - LN_2).abs() < 1e-15);
    assert!((nats_to_bits(bits_to_nats(3.7)) - 3.7).abs() < 1e-14);
}

#[test]
fn uniform_cubes_exact_bits() {
    assert_eq!(kl_uniform_cubes_bits(3, 4.0, 1.0).unwrap(), 6.0);
    assert_eq!(kl_uniform_cubes_bits(1, 2.0, 1.0).unwrap(), 1.0);
    assert_eq!(kl_uniform_cubes_bits(10, 8.0, 0.5).unwrap(), 40.0);
    for d in [1, 2, 7] {
        assert_eq!(kl_uniform_cubes_bits(d, 2.5, 2.5).unwrap(), 0.0);
    }
    let d = 5;
    let (r, s) = (3.0, 0.7);
    let bits = kl_uniform_cubes_bits(d, r, s).unwrap();
    assert!((bits - d as f64 * (r / s).log2()).abs() < 1e-12);
    let nats = kl_uniform_cubes(d, r, s).unwrap();
    assert!((bits_to_nats(bits) - nats).abs() < 1e-12);
    // KL = cross-entropy - entropy: H(q, p) = d ln r for q inside p.
    let h_q = entropy_uniform_cube(d, s).unwrap();
    assert!((d as f64 * r.ln() - h_q - nats).abs() < 1e-12);
}

// ---------------------------------------------------------------------------------------
// Gaussian closed forms
// ---------------------------------------------------------------------------------------

#[test]
fn gauss_1d_zero_at_prior_positive_elsewhere() {
    let r = 1.5;
    assert_eq!(kl_gauss_1d(0.0, r, r).unwrap(), 0.0);
    let mut best = (f64::INFINITY, 0.0, 0.0);
    for i in -20..=20 {
        for j in 1..=60 {
            let m = i as f64 * 0.1;
            let s = j as f64 * 0.05; // includes s = 1.5 at j = 30
            let kl = kl_gauss_1d(m, s, r).unwrap();
            if i != 0 || j != 30 {
                assert!(kl > 0.0, "KL({m}, {s}) = {kl} not > 0");
            }
            if kl < best.0 {
                best = (kl, m, s);
            }
        }
    }
    assert_eq!(best.1, 0.0);
    assert!((best.2 - r).abs() < 1e-12, "argmin s = {}", best.2);
    assert!(best.0.abs() < 1e-15);
    // The formula itself at a hand-checked point: m = 1, s = 1, r = 2:
    // ln 2 + 2/8 - 1/2 = ln 2 - 1/4.
    let kl = kl_gauss_1d(1.0, 1.0, 2.0).unwrap();
    assert!((kl - (LN_2 - 0.25)).abs() < 1e-15);
}

#[test]
fn one_d_matches_diag_matches_full() {
    let cases = [
        (0.3, 0.5, 1.0),
        (-1.2, 2.0, 0.7),
        (0.0, 1.0, 1.0),
        (2.5, 0.1, 3.0),
    ];
    for &(m, s, r) in &cases {
        let k1 = kl_gauss_1d(m, s, r).unwrap();
        let kd = kl_diag_gauss(&[m], &[s * s], &[0.0], &[r * r]).unwrap();
        let ki = kl_diag_vs_isotropic(&[m], &[2.0 * s.ln()], r).unwrap();
        let kf =
            kl_gauss_full(&[m], array![[s * s]].view(), &[0.0], array![[r * r]].view()).unwrap();
        for k in [kd, ki, kf] {
            assert!((k - k1).abs() < 1e-12, "{k} vs {k1} at {m} {s} {r}");
        }
    }
    // Several dimensions: the sum of the 1-D terms, in all three forms.
    let mu = [0.3, -1.2, 0.0, 2.5];
    let sd = [0.5, 2.0, 1.0, 0.1];
    let r = 1.3;
    let sum: f64 = mu
        .iter()
        .zip(&sd)
        .map(|(&m, &s)| kl_gauss_1d(m, s, r).unwrap())
        .sum();
    let var: Vec<f64> = sd.iter().map(|s| s * s).collect();
    let log_var: Vec<f64> = var.iter().map(|v| v.ln()).collect();
    let kd = kl_diag_gauss(&mu, &var, &[0.0; 4], &[r * r; 4]).unwrap();
    let ki = kl_diag_vs_isotropic(&mu, &log_var, r).unwrap();
    let kf = kl_gauss_full(
        &mu,
        Array2::from_diag(&ndarray::arr1(&var)).view(),
        &[0.0; 4],
        (Array2::<f64>::eye(4) * (r * r)).view(),
    )
    .unwrap();
    for k in [kd, ki, kf] {
        assert!((k - sum).abs() < 1e-12, "{k} vs {sum}");
    }
    // A non-zero, non-isotropic diagonal p: diagonal vs full.
    let mu_p = [0.1, 0.2, -0.3, 0.4];
    let var_p = [0.5, 1.5, 2.0, 0.9];
    let kd = kl_diag_gauss(&mu, &var, &mu_p, &var_p).unwrap();
    let kf = kl_gauss_full(
        &mu,
        Array2::from_diag(&ndarray::arr1(&var)).view(),
        &mu_p,
        Array2::from_diag(&ndarray::arr1(&var_p)).view(),
    )
    .unwrap();
    assert!((kd - kf).abs() < 1e-12, "{kd} vs {kf}");
}

#[test]
fn full_covariance_hand_checked() {
    // q = N([1, 0], [[2, 1], [1, 2]]), p = N(0, I):
    // 1/2 [tr Sq + |m|^2 - 2 - ln det Sq] = 1/2 [4 + 1 - 2 - ln 3].
    let kl = kl_gauss_full(
        &[1.0, 0.0],
        array![[2.0, 1.0], [1.0, 2.0]].view(),
        &[0.0, 0.0],
        Array2::<f64>::eye(2).view(),
    )
    .unwrap();
    assert!((kl - 0.5 * (3.0 - 3f64.ln())).abs() < 1e-14, "{kl}");
    // q = N([1, 1], I), p = N(0, [[2, 1], [1, 2]]); Sp^-1 = 1/3 [[2, -1], [-1, 2]]:
    // tr = 4/3, Mahalanobis = 2/3, -d = -2, ln det Sp = ln 3: KL = ln(3) / 2.
    let kl = kl_gauss_full(
        &[1.0, 1.0],
        Array2::<f64>::eye(2).view(),
        &[0.0, 0.0],
        array![[2.0, 1.0], [1.0, 2.0]].view(),
    )
    .unwrap();
    assert!((kl - 0.5 * 3f64.ln()).abs() < 1e-14, "{kl}");
}

#[test]
fn kl_of_a_gaussian_with_itself_is_zero() {
    for (d, seed) in [(1, 1), (3, 2), (6, 3), (10, 4)] {
        let cov = random_spd(d, seed);
        let mut rng = Rng::seed_from_u64(seed + 100);
        let mu: Vec<f64> = (0..d).map(|_| rng.gen_range(-2.0..2.0)).collect();
        let kl = kl_gauss_full(&mu, cov.view(), &mu, cov.view()).unwrap();
        assert!(kl.abs() < 1e-10, "d = {d}: KL(q || q) = {kl}");
        // and strictly positive against a different SPD matrix
        let other = random_spd(d, seed + 7);
        assert!(kl_gauss_full(&mu, cov.view(), &mu, other.view()).unwrap() > 0.0);
    }
}

// ---------------------------------------------------------------------------------------
// Monte Carlo against closed forms
// ---------------------------------------------------------------------------------------

#[test]
fn monte_carlo_1d() {
    let (m, s, r) = (0.7, 0.5, 1.3);
    let exact = kl_gauss_1d(m, s, r).unwrap();
    let est = kl_monte_carlo(
        |z| log_normal_diag(z, &[m], &[s * s]),
        |z| log_normal_diag(z, &[0.0], &[r * r]),
        diag_sampler(vec![m], vec![s * s]),
        20_000,
        1,
    )
    .unwrap();
    assert_eq!(est.n, 20_000);
    assert!(est.std_err > 0.0 && est.std_err < 0.05 * exact, "{est}");
    assert!(within(&est, exact, 4.0), "MC {est} vs exact {exact}");
}

#[test]
fn monte_carlo_5d_diagonal() {
    let mu_q = vec![0.5, -0.3, 1.0, 0.0, -1.5];
    let var_q = vec![0.4, 1.2, 0.8, 2.0, 0.3];
    let mu_p = vec![0.0, 0.2, 0.5, -0.5, -1.0];
    let var_p = vec![1.0, 0.9, 1.5, 2.5, 0.6];
    let exact = kl_diag_gauss(&mu_q, &var_q, &mu_p, &var_p).unwrap();
    let (mq, vq, mp, vp) = (mu_q.clone(), var_q.clone(), mu_p.clone(), var_p.clone());
    let est = kl_monte_carlo(
        move |z| log_normal_diag(z, &mq, &vq),
        move |z| log_normal_diag(z, &mp, &vp),
        diag_sampler(mu_q, var_q),
        20_000,
        2,
    )
    .unwrap();
    assert!(within(&est, exact, 4.0), "MC {est} vs exact {exact}");
    // The VAE form against N(0, I), same check.
    let mu = [0.5, -0.3, 1.0, 0.0, -1.5];
    let var = [0.4, 1.2, 0.8, 2.0, 0.3];
    let log_var: Vec<f64> = var.iter().map(|v: &f64| v.ln()).collect();
    let exact = kl_diag_vs_isotropic(&mu, &log_var, 1.0).unwrap();
    let est = kl_monte_carlo(
        |z| log_normal_diag(z, &mu, &var),
        |z| log_normal_diag(z, &[0.0; 5], &[1.0; 5]),
        diag_sampler(mu.to_vec(), var.to_vec()),
        20_000,
        3,
    )
    .unwrap();
    assert!(within(&est, exact, 4.0), "MC {est} vs exact {exact}");
}

/// 2-D Gaussian log-density written out by hand (explicit 2x2 inverse and determinant),
/// independent of the library's Cholesky.
fn log_normal_2d(z: &[f64], m: [f64; 2], s: [[f64; 2]; 2]) -> f64 {
    let det = s[0][0] * s[1][1] - s[0][1] * s[1][0];
    let (a, b) = (z[0] - m[0], z[1] - m[1]);
    let quad = (s[1][1] * a * a - 2.0 * s[0][1] * a * b + s[0][0] * b * b) / det;
    -(2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln() - 0.5 * quad
}

/// 2-D Gaussian sampler by a hand-written 2x2 Cholesky.
fn sampler_2d(m: [f64; 2], s: [[f64; 2]; 2]) -> impl FnMut(&mut Rng) -> Vec<f64> {
    let l00 = s[0][0].sqrt();
    let l10 = s[1][0] / l00;
    let l11 = (s[1][1] - l10 * l10).sqrt();
    move |rng| {
        let (e0, e1) = (normal(rng), normal(rng));
        vec![m[0] + l00 * e0, m[1] + l10 * e0 + l11 * e1]
    }
}

#[test]
fn monte_carlo_2d_full_covariance() {
    let mq = [0.5, -0.2];
    let sq = [[1.0, 0.6], [0.6, 0.8]];
    let mp = [0.0, 0.3];
    let sp = [[2.0, -0.5], [-0.5, 1.5]];
    let exact = kl_gauss_full(
        &mq,
        array![[1.0, 0.6], [0.6, 0.8]].view(),
        &mp,
        array![[2.0, -0.5], [-0.5, 1.5]].view(),
    )
    .unwrap();
    assert!(exact > 0.1);
    let est = kl_monte_carlo(
        |z| log_normal_2d(z, mq, sq),
        |z| log_normal_2d(z, mp, sp),
        sampler_2d(mq, sq),
        20_000,
        4,
    )
    .unwrap();
    assert!(within(&est, exact, 4.0), "MC {est} vs exact {exact}");

    // MvNormal agrees with the hand-written density and sampler moments.
    let q = MvNormal::new(&mq, array![[1.0, 0.6], [0.6, 0.8]].view()).unwrap();
    for z in [[0.0, 0.0], [1.0, -1.0], [-2.0, 0.5]] {
        assert!((q.log_density(&z) - log_normal_2d(&z, mq, sq)).abs() < 1e-12);
    }
    let mut rng = Rng::seed_from_u64(5);
    let n = 20_000;
    let (mut s0, mut s1, mut s01) = (0.0, 0.0, 0.0);
    for _ in 0..n {
        let z = q.sample(&mut rng);
        s0 += z[0];
        s1 += z[1];
        s01 += (z[0] - mq[0]) * (z[1] - mq[1]);
    }
    let n = n as f64;
    assert!((s0 / n - mq[0]).abs() < 0.03 && (s1 / n - mq[1]).abs() < 0.03);
    assert!((s01 / n - 0.6).abs() < 0.04, "cov01 {}", s01 / n);
    let h = entropy_gauss_full(array![[1.0, 0.6], [0.6, 0.8]].view()).unwrap();
    assert!((q.entropy() - h).abs() < 1e-14);
}

#[test]
fn monte_carlo_uniform_cubes() {
    let (d, r, s) = (3usize, 4.0f64, 1.0f64);
    // p uniform on [0, r]^d, q uniform on [1, 1 + s]^d (inside).
    let inside = |z: &[f64], lo: f64, side: f64| z.iter().all(|&x| x >= lo && x <= lo + side);
    let log_q = |z: &[f64]| {
        if inside(z, 1.0, s) {
            -(d as f64) * s.ln()
        } else {
            f64::NEG_INFINITY
        }
    };
    let log_p = |z: &[f64]| {
        if inside(z, 0.0, r) {
            -(d as f64) * r.ln()
        } else {
            f64::NEG_INFINITY
        }
    };
    let est = kl_monte_carlo(
        log_q,
        log_p,
        |rng| (0..d).map(|_| 1.0 + s * rng.r#gen::<f64>()).collect(),
        5_000,
        6,
    )
    .unwrap();
    let exact_bits = kl_uniform_cubes_bits(d, r, s).unwrap();
    assert!(within(&est, bits_to_nats(exact_bits), 4.0), "{est}");
    assert!((nats_to_bits(est.value) - 6.0).abs() < 1e-12);
    assert_eq!(est.std_err, 0.0); // log q - log p is constant on q's support

    // q uniform on [3.5, 4.5]^d sticks out of p's [0, 4]^d: infinite KL, reported as an
    // error naming log_p and the first sample outside p's support.
    let log_q_out = |z: &[f64]| {
        if inside(z, 3.5, 1.0) {
            0.0
        } else {
            f64::NEG_INFINITY
        }
    };
    let e = kl_monte_carlo(
        log_q_out,
        log_p,
        |rng| (0..d).map(|_| 3.5 + rng.r#gen::<f64>()).collect(),
        100,
        6,
    );
    let msg = assert_one_line_err(e, "log_p");
    assert!(msg.contains("sample") && msg.contains("infinite"), "{msg}");
}

#[test]
fn monte_carlo_std_err_is_honest() {
    let (m, s, r) = (0.7, 0.5, 1.3);
    let exact = kl_gauss_1d(m, s, r).unwrap();
    let ests: Vec<Estimate> = (0..50u64)
        .map(|seed| {
            kl_monte_carlo(
                |z| log_normal_diag(z, &[m], &[s * s]),
                |z| log_normal_diag(z, &[0.0], &[r * r]),
                diag_sampler(vec![m], vec![s * s]),
                500,
                1000 + seed,
            )
            .unwrap()
        })
        .collect();
    let k = ests.len() as f64;
    let mean = ests.iter().map(|e| e.value).sum::<f64>() / k;
    let emp_std = (ests.iter().map(|e| (e.value - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
    let mean_se = ests.iter().map(|e| e.std_err).sum::<f64>() / k;
    let ratio = emp_std / mean_se;
    assert!(
        (1.0 / 1.5..=1.5).contains(&ratio),
        "empirical std {emp_std} vs reported {mean_se} (ratio {ratio})"
    );
    // The pooled mean agrees with the closed form within its own error.
    assert!(
        (mean - exact).abs() < 4.0 * mean_se / k.sqrt(),
        "{mean} vs {exact}"
    );
    // Different seeds give different estimates; the same seed the same one.
    assert_ne!(ests[0].value, ests[1].value);
    let again = kl_monte_carlo(
        |z| log_normal_diag(z, &[m], &[s * s]),
        |z| log_normal_diag(z, &[0.0], &[r * r]),
        diag_sampler(vec![m], vec![s * s]),
        500,
        1000,
    )
    .unwrap();
    assert_eq!(again, ests[0]);
}

/// The z-scores `(estimate - exact) / std_err` over many seeds: their RMS is 1 for an honest
/// standard error (a sharper version of the check above, which tolerates a factor 1.5).
#[test]
fn monte_carlo_z_scores_have_unit_rms() {
    let mu_q = [0.5, -0.3];
    let var_q = [0.4, 1.2];
    let (mu_p, var_p) = ([0.0, 0.2], [1.0, 0.9]);
    let exact = kl_diag_gauss(&mu_q, &var_q, &mu_p, &var_p).unwrap();
    let seeds = 400u64;
    let mut sum_z2 = 0.0;
    for seed in 0..seeds {
        let est = kl_monte_carlo(
            |z| log_normal_diag(z, &mu_q, &var_q),
            |z| log_normal_diag(z, &mu_p, &var_p),
            diag_sampler(mu_q.to_vec(), var_q.to_vec()),
            400,
            5000 + seed,
        )
        .unwrap();
        let z = (est.value - exact) / est.std_err;
        sum_z2 += z * z;
    }
    let rms = (sum_z2 / seeds as f64).sqrt();
    assert!((0.85..=1.15).contains(&rms), "RMS z-score {rms}");
}

#[test]
fn estimate_display() {
    let e = Estimate {
        value: 1.25,
        std_err: 0.5,
        n: 10,
    };
    assert_eq!(e.to_string(), "1.25 ± 0.5");
    assert_eq!(format!("{e:.3}"), "1.250 ± 0.500");
}

// ---------------------------------------------------------------------------------------
// Entropy
// ---------------------------------------------------------------------------------------

#[test]
fn kl_is_cross_entropy_minus_entropy() {
    let mu_q = [0.5, -0.3, 1.0];
    let var_q = [0.4, 1.2, 0.8];
    let mu_p = [0.0, 0.2, 0.5];
    let var_p = [1.0, 0.9, 1.5];
    let kl = kl_diag_gauss(&mu_q, &var_q, &mu_p, &var_p).unwrap();
    let h_q = entropy_gauss_diag(&var_q).unwrap();
    let h_qp = cross_entropy_gauss_diag(&mu_q, &var_q, &mu_p, &var_p).unwrap();
    assert!((h_qp - h_q - kl).abs() < 1e-12);
    // Numerically: H(q) = E_q[-ln q] and H(q, p) = E_q[-ln p] by Monte Carlo.
    let n = 20_000;
    let mc_h_q = expectation_monte_carlo(
        |z| -log_normal_diag(z, &mu_q, &var_q),
        diag_sampler(mu_q.to_vec(), var_q.to_vec()),
        n,
        11,
    )
    .unwrap();
    let mc_h_qp = expectation_monte_carlo(
        |z| -log_normal_diag(z, &mu_p, &var_p),
        diag_sampler(mu_q.to_vec(), var_q.to_vec()),
        n,
        11,
    )
    .unwrap();
    assert!(within(&mc_h_q, h_q, 4.0), "{mc_h_q} vs {h_q}");
    assert!(within(&mc_h_qp, h_qp, 4.0), "{mc_h_qp} vs {h_qp}");
    // Same seed, same samples: the difference is the MC KL on those samples.
    let mc_kl = kl_monte_carlo(
        |z| log_normal_diag(z, &mu_q, &var_q),
        |z| log_normal_diag(z, &mu_p, &var_p),
        diag_sampler(mu_q.to_vec(), var_q.to_vec()),
        n,
        11,
    )
    .unwrap();
    assert!((mc_h_qp.value - mc_h_q.value - mc_kl.value).abs() < 1e-9);

    // Full covariance: the same relation, and the diagonal entropy agrees with the full one.
    let cov_q = random_spd(3, 21);
    let cov_p = random_spd(3, 22);
    let kl = kl_gauss_full(&mu_q, cov_q.view(), &mu_p, cov_p.view()).unwrap();
    let h_q = entropy_gauss_full(cov_q.view()).unwrap();
    let h_qp = cross_entropy_gauss_full(&mu_q, cov_q.view(), &mu_p, cov_p.view()).unwrap();
    assert!((h_qp - h_q - kl).abs() < 1e-12);
    let p = MvNormal::new(&mu_p, cov_p.view()).unwrap();
    let q = MvNormal::new(&mu_q, cov_q.view()).unwrap();
    let mc_h_qp =
        expectation_monte_carlo(|z| -p.log_density(z), |rng| q.sample(rng), n, 12).unwrap();
    assert!(within(&mc_h_qp, h_qp, 4.0), "{mc_h_qp} vs {h_qp}");
    let hd = entropy_gauss_diag(&var_q).unwrap();
    let hf = entropy_gauss_full(Array2::from_diag(&ndarray::arr1(&var_q)).view()).unwrap();
    assert!((hd - hf).abs() < 1e-12);
    // 1/2 ln(2 pi e) for a standard normal.
    let h1 = entropy_gauss_diag(&[1.0]).unwrap();
    assert!((h1 - 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E).ln()).abs() < 1e-15);
}

#[test]
fn discrete_entropy() {
    for n in [1usize, 2, 3, 10, 256] {
        let p = vec![1.0 / n as f64; n];
        let h = entropy_discrete(&p).unwrap();
        assert!((h - (n as f64).ln()).abs() < 1e-12, "n = {n}: {h}");
    }
    assert!((nats_to_bits(entropy_discrete(&[0.5, 0.5]).unwrap()) - 1.0).abs() < 1e-15);
    // 0 ln 0 = 0, a point mass has zero entropy.
    assert_eq!(entropy_discrete(&[0.0, 1.0, 0.0]).unwrap(), 0.0);
    let h = entropy_discrete(&[0.25, 0.0, 0.75]).unwrap();
    assert!((h + 0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln()).abs() < 1e-15);
    assert!(h < 2f64.ln());
}

// ---------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------

#[test]
fn bad_input_is_a_one_line_error_naming_the_field() {
    let msg = assert_one_line_err(kl_uniform_cubes_bits(2, 1.0, 2.0), "s");
    assert!(msg.contains("infinite") && msg.contains("support"), "{msg}");
    assert_one_line_err(kl_uniform_cubes(2, 1.0, 2.0), "s");
    assert_one_line_err(kl_uniform_cubes_bits(2, -1.0, 0.5), "r");
    assert_one_line_err(kl_uniform_cubes_bits(2, 1.0, 0.0), "s");
    assert_one_line_err(entropy_uniform_cube(2, f64::NAN), "s");

    assert_one_line_err(kl_gauss_1d(0.0, -1.0, 1.0), "s");
    assert_one_line_err(kl_gauss_1d(0.0, 1.0, 0.0), "r");
    assert_one_line_err(kl_gauss_1d(f64::NAN, 1.0, 1.0), "m");
    assert_one_line_err(kl_diag_gauss(&[0.0], &[-1.0], &[0.0], &[1.0]), "var_q[0]");
    assert_one_line_err(
        kl_diag_gauss(&[0.0, 0.0], &[1.0, 1.0], &[0.0, 0.0], &[1.0, 0.0]),
        "var_p[1]",
    );
    assert_one_line_err(
        kl_diag_gauss(&[0.0, 0.0], &[1.0], &[0.0, 0.0], &[1.0, 1.0]),
        "var_q",
    );
    assert_one_line_err(kl_diag_vs_isotropic(&[0.0], &[f64::NAN], 1.0), "log_var[0]");
    assert_one_line_err(kl_diag_vs_isotropic(&[0.0, 1.0], &[0.0], 1.0), "log_var");
    assert_one_line_err(kl_diag_vs_isotropic(&[0.0], &[0.0], -1.0), "r");
    assert_one_line_err(entropy_gauss_diag(&[1.0, -0.5]), "var[1]");
    assert_one_line_err(log_normal_diag_checked(&[0.0], &[0.0], &[0.0]), "var[0]");
    assert_one_line_err(
        cross_entropy_gauss_diag(&[0.0], &[1.0], &[0.0], &[-1.0]),
        "var_p[0]",
    );

    let spd = array![[2.0, 0.5], [0.5, 1.0]];
    let not_pd = array![[1.0, 2.0], [2.0, 1.0]]; // eigenvalues 3, -1
    let not_sym = array![[1.0, 0.5], [0.0, 1.0]];
    let msg = assert_one_line_err(
        kl_gauss_full(&[0.0; 2], spd.view(), &[0.0; 2], not_pd.view()),
        "cov_p",
    );
    assert!(msg.contains("positive definite"), "{msg}");
    let msg = assert_one_line_err(
        kl_gauss_full(&[0.0; 2], not_pd.view(), &[0.0; 2], spd.view()),
        "cov_q",
    );
    assert!(msg.contains("positive definite"), "{msg}");
    let msg = assert_one_line_err(
        kl_gauss_full(&[0.0; 2], not_sym.view(), &[0.0; 2], spd.view()),
        "cov_q",
    );
    assert!(msg.contains("symmetric"), "{msg}");
    assert_one_line_err(
        kl_gauss_full(&[0.0; 3], spd.view(), &[0.0; 2], spd.view()),
        "mu_q",
    );
    assert_one_line_err(
        kl_gauss_full(
            &[0.0; 2],
            spd.view(),
            &[0.0; 2],
            Array2::<f64>::eye(3).view(),
        ),
        "cov_p",
    );
    assert_one_line_err(
        kl_gauss_full(
            &[0.0; 2],
            array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]].view(),
            &[0.0; 2],
            spd.view(),
        ),
        "cov_q",
    );
    assert_one_line_err(entropy_gauss_full(array![[0.0]].view()), "cov");
    assert_one_line_err(MvNormal::new(&[0.0], array![[f64::INFINITY]].view()), "cov");

    let msg = assert_one_line_err(entropy_discrete(&[0.5, 0.4]), "p");
    assert!(msg.contains("sum"), "{msg}");
    assert_one_line_err(entropy_discrete(&[1.5, -0.5]), "p[1]");
    assert_one_line_err(entropy_discrete(&[]), "p");
    // Within 1e-9 of 1 is accepted.
    assert!(entropy_discrete(&[0.5, 0.5 + 5e-10]).is_ok());

    let lq = |z: &[f64]| log_normal_diag(z, &[0.0], &[1.0]);
    for n in [0, 1] {
        let msg = assert_one_line_err(
            kl_monte_carlo(lq, lq, diag_sampler(vec![0.0], vec![1.0]), n, 0),
            "n",
        );
        assert!(msg.contains("at least 2"), "{msg}");
    }
    assert!(kl_monte_carlo(lq, lq, diag_sampler(vec![0.0], vec![1.0]), 2, 0).is_ok());
    let msg = assert_one_line_err(
        kl_monte_carlo(lq, |_| f64::NAN, diag_sampler(vec![0.0], vec![1.0]), 10, 0),
        "log_p",
    );
    assert!(msg.contains("NaN") && msg.contains("sample 0"), "{msg}");
    let mut count = 0;
    let msg = assert_one_line_err(
        kl_monte_carlo(
            |z| if z[0] > 100.0 { f64::NAN } else { 0.0 },
            lq,
            |_| {
                count += 1;
                vec![if count == 4 { 1000.0 } else { 0.0 }]
            },
            10,
            0,
        ),
        "log_q",
    );
    assert!(msg.contains("NaN") && msg.contains("sample 3"), "{msg}");
    assert_one_line_err(expectation_monte_carlo(|_| 0.0, |_| vec![0.0], 1, 0), "n");
    assert_one_line_err(
        expectation_monte_carlo(|_| f64::INFINITY, |_| vec![0.0], 5, 0),
        "f",
    );
    let mut k = 0;
    assert_one_line_err(
        kl_monte_carlo(
            |_| 0.0,
            |_| 0.0,
            |_| {
                k += 1;
                vec![0.0; k]
            },
            5,
            0,
        ),
        "sample_q",
    );
}

/// `KL(p || q)` of two categoricals: two Bernoullis' closed form `a ln(a/b) + (1 - a)
/// ln((1 - a)/(1 - b))`, zero for equal laws, infinite where q has no mass and p has,
/// finite where p has none and q has; outcome counts must match.
#[test]
fn discrete_kl_matches_the_bernoulli_closed_form() {
    use ebm::info::kl_discrete;
    let (a, b) = (0.3f64, 0.8f64);
    let closed = a * (a / b).ln() + (1.0 - a) * ((1.0 - a) / (1.0 - b)).ln();
    let kl = kl_discrete(&[a, 1.0 - a], &[b, 1.0 - b]).unwrap();
    assert!((kl - closed).abs() < 1e-15, "{kl} vs {closed}");
    assert_eq!(kl_discrete(&[0.25; 4], &[0.25; 4]).unwrap(), 0.0);
    assert_eq!(
        kl_discrete(&[0.5, 0.5], &[1.0, 0.0]).unwrap(),
        f64::INFINITY
    );
    let one_sided = kl_discrete(&[1.0, 0.0], &[0.5, 0.5]).unwrap();
    assert!((one_sided - 2f64.ln()).abs() < 1e-15);
    let msg = kl_discrete(&[0.5, 0.5], &[0.2, 0.3, 0.5])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("q"), "{msg}");
    let msg = kl_discrete(&[0.5, 0.5], &[0.2, 0.3])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("q") && msg.contains("sum to 1"), "{msg}");
}
