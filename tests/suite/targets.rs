//! The sampler targets T1-T5: gradients equal central finite differences, and the
//! closed-form log Z of T1 and T3 equals quadrature-free identities: T1's Gaussian
//! normalizer, and for T3 (the funnel) `-E(y) - log Z` equals the log-density of its
//! generative definition (`v ~ N(0, 9)`, `x_i | v ~ N(0, e^v)`), written here apart,
//! at random points.

use ebm::energy::Energy;
use ebm::targets;
use ndarray::Array2;

fn check_grad(e: &dyn Energy, y: Array2<f64>, tol: f64) {
    let (b, d) = y.dim();
    let mut out = vec![0.0; b];
    let mut g = Array2::zeros((b, d));
    e.energy_grad(y.view(), &mut out, g.view_mut());
    let mut only = vec![0.0; b];
    e.energy(y.view(), &mut only);
    for i in 0..b {
        assert!((out[i] - only[i]).abs() <= 1e-12 * (1.0 + out[i].abs()));
    }
    let h = 1e-5;
    for j in 0..d {
        let (mut yp, mut ym) = (y.clone(), y.clone());
        yp.column_mut(j).mapv_inplace(|v| v + h);
        ym.column_mut(j).mapv_inplace(|v| v - h);
        let (mut ep, mut em) = (vec![0.0; b], vec![0.0; b]);
        e.energy(yp.view(), &mut ep);
        e.energy(ym.view(), &mut em);
        for i in 0..b {
            let fd = (ep[i] - em[i]) / (2.0 * h);
            assert!(
                (fd - g[[i, j]]).abs() <= tol * (1.0 + fd.abs()),
                "{}: row {i} coord {j}: fd {fd} vs grad {}",
                e.name(),
                g[[i, j]]
            );
        }
    }
}

fn points(b: usize, d: usize, scale: f64) -> Array2<f64> {
    Array2::from_shape_fn((b, d), |(i, j)| {
        scale * ((i * 7 + j * 3) as f64 * 0.37).sin()
    })
}

#[test]
fn every_target_gradient_matches_finite_differences() {
    check_grad(&targets::t1(), points(3, 100, 2.0), 1e-6);
    check_grad(&targets::t2(), points(5, 2, 8.0), 1e-6);
    check_grad(&targets::t3(), points(4, 10, 1.5), 1e-6);
    check_grad(&targets::t4(), points(3, 25, 0.5), 1e-5);
    check_grad(&targets::t5(), points(6, 2, 2.0), 1e-5);
    // Large batches take the thread-parallel path: same numbers as row by row.
    let e = targets::t5();
    let y = points(2000, 2, 2.2);
    let mut all = vec![0.0; 2000];
    let mut g = Array2::zeros((2000, 2));
    e.energy_grad(y.view(), &mut all, g.view_mut());
    for i in (0..2000).step_by(97) {
        let mut one = [0.0];
        e.energy(y.slice(ndarray::s![i..i + 1, ..]), &mut one);
        assert_eq!(one[0], all[i]);
    }
}

#[test]
fn t1_log_z_is_the_gaussian_normalizer_and_t4_labels_follow_the_true_weights() {
    let t1 = targets::t1();
    // E = sum u^2/2 at 0 is 0; log Z = 50 log(2 pi) + sum log s.
    let s: f64 = (0..100).map(|i| (0.1 + 9.9 * i as f64 / 99.0).ln()).sum();
    assert!((t1.log_z(1.0).unwrap() - (50.0 * (2.0 * std::f64::consts::PI).ln() + s)).abs() < 1e-9);
    let t4 = targets::t4();
    assert_eq!(t4.x.dim(), (1000, 25));
    // The true weights classify their own labels far better than chance.
    let logits = t4.x.dot(&t4.w_true);
    let agree = logits
        .iter()
        .zip(&t4.t)
        .filter(|(l, t)| (**l > 0.0) == (**t > 0.5))
        .count();
    assert!(
        agree > 800,
        "{agree} of 1000 labels agree with the true weights"
    );
}

#[test]
fn t3_log_z_makes_exp_minus_e_the_funnels_own_density() {
    use rand::{Rng, SeedableRng};
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    let normal = |x: f64, var: f64| -0.5 * (ln2pi + var.ln() + x * x / var);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
    for dim in [2usize, 10] {
        let f = targets::Funnel { dim };
        let log_z = f.log_z(1.0).unwrap();
        let y = Array2::from_shape_fn((50, dim), |_| rng.gen_range(-4.0..4.0));
        let mut e = vec![0.0; 50];
        f.energy(y.view(), &mut e);
        for (i, row) in y.outer_iter().enumerate() {
            let v = row[0];
            let log_q =
                normal(v, 9.0) + row.iter().skip(1).map(|x| normal(*x, v.exp())).sum::<f64>();
            assert!(
                (-e[i] - log_z - log_q).abs() < 1e-9,
                "dim {dim}: -E - log Z = {} vs log q = {log_q}",
                -e[i] - log_z
            );
        }
    }
    // Only beta 1 has a closed form.
    assert!(targets::Funnel { dim: 3 }.log_z(2.0).is_none());
}
