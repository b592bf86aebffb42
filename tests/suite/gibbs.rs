//! Oracles for `ebm::gibbs` (SPEC section 1): normalization over the stable range, closed
//! forms (two states, equal energies, the Gaussian integral), Bayes' rule on tables, the
//! beta -> inf / beta -> 0 limits, and errors on bad input.

use ebm::gibbs::{
    EnergyTable, argmin_limit, bayes_rule_violation, free_energy, log_softargmax, log_sum_exp,
    log_z, log_z_axis, softargmax, softargmax_axis, uniform_limit,
};
use ndarray::{Array1, Array3, ArrayD, Axis, IxDyn};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// log-uniform over [1e-3, 1e6].
fn random_beta(r: &mut impl Rng) -> f64 {
    10f64.powf(r.gen_range(-3.0..=6.0))
}

/// The betas at both ends of the stable range and a few between.
const BETAS: [f64; 7] = [1e-3, 1e-2, 0.5, 1.0, 37.0, 1e4, 1e6];

fn random_energies(r: &mut impl Rng, n: usize, scale: f64) -> Vec<f64> {
    (0..n).map(|_| r.gen_range(-scale..=scale)).collect()
}

fn assert_distribution(p: &[f64], tol: f64, what: &str) {
    assert!(
        p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)),
        "{what}: entry outside [0, 1]: {p:?}"
    );
    let s: f64 = p.iter().sum();
    assert!((s - 1.0).abs() <= tol, "{what}: sums to {s}");
}

// ---------- normalization over the stable range ----------

#[test]
fn softargmax_sums_to_one_over_the_stable_range() {
    let mut r = rng(1);
    for trial in 0..400 {
        let n = r.gen_range(1..=64);
        let scale = [1.0, 100.0, 1e4][trial % 3];
        let e = random_energies(&mut r, n, scale);
        let beta = if trial < BETAS.len() * 3 {
            BETAS[trial % BETAS.len()]
        } else {
            random_beta(&mut r)
        };
        let p = softargmax(&e, beta).unwrap();
        assert_distribution(&p, 1e-12, &format!("n={n} beta={beta} scale={scale}"));
        let lp = log_softargmax(&e, beta).unwrap();
        assert!(lp.iter().all(|v| !v.is_nan() && *v <= 1e-15));
        for (a, b) in p.iter().zip(&lp) {
            assert!((a - b.exp()).abs() <= 1e-15);
        }
        let lz = log_z(&e, beta).unwrap();
        let f = free_energy(&e, beta).unwrap();
        assert!(lz.is_finite() && f.is_finite());
        // F = -(1/beta) log Z, and min E - ln(n)/beta <= F <= min E.
        assert!(
            (f + lz / beta).abs() <= 1e-9 * (1.0 + f.abs()),
            "{f} vs {lz}/{beta}"
        );
        let m = e.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(f <= m + 1e-12 * m.abs().max(1.0) && f >= m - (n as f64).ln() / beta - 1e-9);
        // log P = -beta E - log Z, checked where the naive form is exact enough.
        if beta * scale <= 100.0 {
            for (i, &e_i) in e.iter().enumerate() {
                assert!((lp[i] - (-beta * e_i - lz)).abs() <= 1e-10);
            }
        }
    }
}

#[test]
fn log_z_does_not_overflow_where_the_naive_sum_does() {
    // exp(1e10) overflows; log Z = 1e10 + ln 3 exactly in f64 terms.
    let lz = log_z(&[-1e4, -1e4, -1e4], 1e6).unwrap();
    assert_eq!(lz, 1e10 + 3f64.ln());
    let lz = log_z(&[1e4, 1e4 + 1e-6], 1e6).unwrap();
    let expect = -1e10 + (-1f64).exp().ln_1p();
    assert!((lz - expect).abs() <= 1e-5, "{lz} vs {expect}");
    assert!(
        (free_energy(&[1e4, 1e4 + 1e-6], 1e6).unwrap() - (1e4 - (-1f64).exp().ln_1p() / 1e6)).abs()
            < 1e-11
    );
}

#[test]
fn softargmax_axis_normalizes_each_slice_and_matches_the_1d_function() {
    let mut r = rng(2);
    let shape = [3, 5, 4];
    for trial in 0..30 {
        let beta = match BETAS.get(trial) {
            Some(&b) => b,
            None => random_beta(&mut r),
        };
        let e = ArrayD::from_shape_fn(IxDyn(&shape), |_| r.gen_range(-1e4..=1e4));
        for axis in 0..3 {
            let p = softargmax_axis(e.view(), axis, beta).unwrap();
            assert_eq!(p.shape(), e.shape());
            let lz = log_z_axis(e.view(), axis, beta).unwrap();
            let mut expect_shape = shape.to_vec();
            expect_shape.remove(axis);
            assert_eq!(lz.shape(), &expect_shape[..]);
            for ((lane_p, lane_e), &lz_s) in p
                .lanes(Axis(axis))
                .into_iter()
                .zip(e.lanes(Axis(axis)))
                .zip(lz.iter())
            {
                let pv = lane_p.to_vec();
                assert_distribution(&pv, 1e-12, &format!("axis {axis} beta {beta}"));
                let ev = lane_e.to_vec();
                let p1 = softargmax(&ev, beta).unwrap();
                for (a, b) in pv.iter().zip(&p1) {
                    assert!((a - b).abs() <= 1e-15);
                }
                assert_eq!(lz_s, log_z(&ev, beta).unwrap());
            }
        }
    }
}

// ---------- closed forms ----------

#[test]
fn two_states_follow_the_logistic() {
    for &beta in &BETAS {
        for &delta in &[-1e4, -3.0, -1e-3, 0.0, 1e-6, 0.25, 2.0, 50.0, 1e4] {
            let p = softargmax(&[0.0, delta], beta).unwrap();
            let expect0 = 1.0 / (1.0 + (-beta * delta).exp());
            let expect1 = 1.0 / (1.0 + (beta * delta).exp());
            assert!(
                (p[0] - expect0).abs() <= 1e-14 * expect0.max(1e-300) + 1e-300,
                "beta {beta} delta {delta}: {} vs {expect0}",
                p[0]
            );
            assert!(
                (p[1] - expect1).abs() <= 1e-14 * expect1.max(1e-300) + 1e-300,
                "beta {beta} delta {delta}: {} vs {expect1}",
                p[1]
            );
        }
    }
}

#[test]
fn log_z_of_equal_energies_is_ln_n_minus_beta_e() {
    for &beta in &BETAS {
        for &e in &[-1e4, -7.5, 0.0, 0.3, 1e4] {
            for n in [1usize, 2, 3, 10, 1000] {
                let lz = log_z(&vec![e; n], beta).unwrap();
                let expect = (n as f64).ln() - beta * e;
                assert!(
                    (lz - expect).abs() <= 1e-13 * expect.abs().max(1.0),
                    "n {n} beta {beta} e {e}: {lz} vs {expect}"
                );
                let p = softargmax(&vec![e; n], beta).unwrap();
                assert!(p.iter().all(|&v| (v - 1.0 / n as f64).abs() <= 1e-15));
            }
        }
    }
}

#[test]
fn grid_log_z_of_a_quadratic_approaches_the_gaussian_integral() {
    // E(y) = a/2 (y - m)^2: integral exp(-beta E) dy = sqrt(2 pi / (beta a)).
    for &(beta, a, m) in &[
        (1e-3f64, 1.0f64, 0.0f64),
        (1.0, 1.0, 0.0),
        (1.0, 4.0, 2.5),
        (10.0, 0.5, -1.0),
        (1e3, 1.0, 0.3),
        (1e6, 2.0, 0.0),
    ] {
        let sigma = 1.0 / (beta * a).sqrt();
        let h = sigma / 20.0;
        let half = (14.0 * sigma / h).ceil() as i64;
        let e: Vec<f64> = (-half..=half)
            .map(|k| {
                let y = m + k as f64 * h;
                0.5 * a * (y - m) * (y - m)
            })
            .collect();
        let approx = log_z(&e, beta).unwrap() + h.ln();
        let exact = 0.5 * (2.0 * std::f64::consts::PI / beta).ln() - 0.5 * f64::ln(a);
        assert!(
            (approx - exact).abs() <= 1e-9 * exact.abs().max(1.0),
            "beta {beta} a {a}: {approx} vs {exact}"
        );
        // A coarse grid is measurably off: the test can fail.
        let coarse: Vec<f64> = e.iter().step_by(60).copied().collect();
        let bad = log_z(&coarse, beta).unwrap() + (60.0 * h).ln();
        assert!(
            (bad - exact).abs() > 1e-3,
            "coarse grid should miss: {bad} vs {exact}"
        );
    }
}

// ---------- tables: joint, marginals, conditionals, Bayes ----------

fn random_table(r: &mut impl Rng, scale: f64) -> EnergyTable {
    let (nx, ny, nz) = (r.gen_range(1..=3), r.gen_range(1..=7), r.gen_range(1..=6));
    let e = Array3::from_shape_fn((nx, ny, nz), |_| r.gen_range(-scale..=scale));
    EnergyTable::new(e).unwrap()
}

#[test]
fn bayes_rule_and_normalization_hold_on_random_tables() {
    let mut r = rng(3);
    for trial in 0..200 {
        let scale = [1.0, 50.0, 1e4][trial % 3];
        let t = random_table(&mut r, scale);
        let beta = if trial < BETAS.len() * 3 {
            BETAS[trial % BETAS.len()]
        } else {
            random_beta(&mut r)
        };
        let (nx, ny, nz) = t.dim();
        for x in 0..nx {
            let ctx = format!("trial {trial} x {x} beta {beta} scale {scale}");
            let joint = t.joint(x, beta).unwrap();
            let py = t.marginal_y(x, beta).unwrap();
            let pz = t.marginal_z(x, beta).unwrap();
            let ygz = t.conditional_y_given_z(x, beta).unwrap();
            let zgy = t.conditional_z_given_y(x, beta).unwrap();
            assert_eq!(joint.dim(), (ny, nz));
            assert_eq!((ygz.dim(), zgy.dim()), ((ny, nz), (ny, nz)));
            assert_distribution(&joint.iter().copied().collect::<Vec<_>>(), 1e-12, &ctx);
            assert_distribution(&py.to_vec(), 1e-12, &ctx);
            assert_distribution(&pz.to_vec(), 1e-12, &ctx);
            for col in ygz.columns() {
                assert_distribution(&col.to_vec(), 1e-12, &ctx);
            }
            for row in zgy.rows() {
                assert_distribution(&row.to_vec(), 1e-12, &ctx);
            }
            // Bayes' rule, from the library's check and recomputed here.
            let v = t.bayes_violation(x, beta).unwrap();
            assert!(v <= 1e-12, "{ctx}: Bayes violated by {v}");
            for ((y, z), &pj) in joint.indexed_iter() {
                assert!((pj - ygz[[y, z]] * pz[z]).abs() <= 1e-12, "{ctx}");
                assert!((pj - zgy[[y, z]] * py[y]).abs() <= 1e-12, "{ctx}");
            }
            // Marginals of the joint equal the marginal functions.
            let sum_z = joint.sum_axis(Axis(1));
            let sum_y = joint.sum_axis(Axis(0));
            for (a, b) in sum_z.iter().zip(py.iter()) {
                assert!((a - b).abs() <= 1e-12, "{ctx}: P(y) {a} vs {b}");
            }
            for (a, b) in sum_y.iter().zip(pz.iter()) {
                assert!((a - b).abs() <= 1e-12, "{ctx}: P(z) {a} vs {b}");
            }
            // P(y|x) = exp(-beta F(x, y)) / Z(x): the marginal is the softargmax of F.
            let f = t.free_energy_y(x, beta).unwrap();
            assert!(f.iter().all(|v| v.is_finite()));
            if beta * scale <= 1e3 {
                let p_from_f = softargmax(&f.to_vec(), beta).unwrap();
                for (a, b) in p_from_f.iter().zip(py.iter()) {
                    assert!((a - b).abs() <= 1e-9, "{ctx}: {a} vs {b}");
                }
                // log Z(x) = log sum_y exp(-beta F(x, y)).
                let lz = t.log_z(x, beta).unwrap();
                let lz_f = log_z(&f.to_vec(), beta).unwrap();
                assert!((lz - lz_f).abs() <= 1e-9 * lz.abs().max(1.0), "{ctx}");
            }
            // The log joint agrees with the joint.
            let lj = t.log_joint(x, beta).unwrap();
            for (a, b) in lj.iter().zip(joint.iter()) {
                assert!((a.exp() - b).abs() <= 1e-15);
            }
        }
    }
}

#[test]
fn free_energy_per_y_is_minus_log_unnormalized_marginal_over_beta() {
    let mut r = rng(4);
    for &beta in &[1e-3, 0.1, 0.7, 2.0, 10.0] {
        let e = Array3::from_shape_fn((2, 5, 4), |_| r.gen_range(-5.0..=5.0));
        let t = EnergyTable::new(e.clone()).unwrap();
        for x in 0..2 {
            let f = t.free_energy_y(x, beta).unwrap();
            let mut z_total = 0.0;
            for y in 0..5 {
                // Naive sum: no overflow at these scales.
                let unnorm: f64 = (0..4).map(|z| (-beta * e[[x, y, z]]).exp()).sum();
                z_total += unnorm;
                let expect = -unnorm.ln() / beta;
                assert!(
                    (f[y] - expect).abs() <= 1e-12 * expect.abs().max(1.0),
                    "{} vs {expect}",
                    f[y]
                );
            }
            let lz = t.log_z(x, beta).unwrap();
            assert!((lz - z_total.ln()).abs() <= 1e-12 * lz.abs().max(1.0));
            // Naive joint and marginal, as a second oracle.
            let joint = t.joint(x, beta).unwrap();
            let py = t.marginal_y(x, beta).unwrap();
            for y in 0..5 {
                let unnorm: f64 = (0..4).map(|z| (-beta * e[[x, y, z]]).exp()).sum();
                assert!((py[y] - unnorm / z_total).abs() <= 1e-13);
                for z in 0..4 {
                    assert!(
                        (joint[[y, z]] - (-beta * e[[x, y, z]]).exp() / z_total).abs() <= 1e-13
                    );
                }
            }
        }
    }
}

/// `1 / (1 + exp(-beta d))` for `d = e_other - e_self`.
fn logistic(beta: f64, e_self: f64, e_other: f64) -> f64 {
    1.0 / (1.0 + (-beta * (e_other - e_self)).exp())
}

fn assert_rel(a: f64, b: f64, ctx: &str) {
    assert!(
        (a - b).abs() <= 1e-12 * b + 1e-300,
        "{ctx}: {a} vs {b} (rel {})",
        (a - b).abs() / b
    );
}

#[test]
fn conditionals_and_marginals_of_two_states_are_logistic_even_far_from_the_mode() {
    // Every conditional and marginal over two states has the closed form of the logistic,
    // also in slices whose energies sit 1e4 above the table's minimum at beta = 1e6
    // (where normalizing by the global minimum would lose ~1e-6 of relative accuracy).
    let mut r = rng(7);
    for trial in 0..200 {
        let beta = match BETAS.get(trial) {
            Some(&b) => b,
            None => random_beta(&mut r),
        };
        let scale = [1.0, 1e4][trial % 2];
        // E[y, z] = scale * z + gap / beta: column z = 1 sits `scale` above the table's
        // minimum, with O(1/beta) gaps inside each column; the transpose for rows.
        let gaps = Array3::from_shape_fn((1, 2, 2), |_| r.gen_range(-30.0..=30.0) / beta);
        let e = Array3::from_shape_fn((1, 2, 2), |(_, y, z)| scale * z as f64 + gaps[[0, y, z]]);
        let et = Array3::from_shape_fn((1, 2, 2), |(_, y, z)| scale * y as f64 + gaps[[0, z, y]]);
        let ygz = EnergyTable::new(e.clone())
            .unwrap()
            .conditional_y_given_z(0, beta)
            .unwrap();
        let zgy = EnergyTable::new(et.clone())
            .unwrap()
            .conditional_z_given_y(0, beta)
            .unwrap();
        let ctx = format!("trial {trial} beta {beta} scale {scale}");
        for k in 0..2 {
            for j in 0..2 {
                let expect = logistic(beta, e[[0, j, k]], e[[0, 1 - j, k]]);
                assert_rel(ygz[[j, k]], expect, &format!("{ctx} P(y={j}|z={k})"));
                let expect = logistic(beta, et[[0, k, j]], et[[0, k, 1 - j]]);
                assert_rel(zgy[[k, j]], expect, &format!("{ctx} P(z={j}|y={k})"));
            }
        }
        // Marginals of a table with one z (resp. one y) are two-state laws too.
        let col = Array3::from_shape_fn((1, 2, 1), |(_, y, _)| e[[0, y, 1]]);
        let py = EnergyTable::new(col).unwrap().marginal_y(0, beta).unwrap();
        let row = Array3::from_shape_fn((1, 1, 2), |(_, _, z)| e[[0, 1, z]]);
        let pz = EnergyTable::new(row).unwrap().marginal_z(0, beta).unwrap();
        for j in 0..2 {
            assert_rel(py[j], logistic(beta, e[[0, j, 1]], e[[0, 1 - j, 1]]), &ctx);
            assert_rel(pz[j], logistic(beta, e[[0, 1, j]], e[[0, 1, 1 - j]]), &ctx);
        }
    }
}

#[test]
fn bayes_rule_violation_detects_a_wrong_joint() {
    let e = Array3::from_shape_fn((1, 3, 2), |(_, y, z)| (y as f64 - 1.0) * (z as f64 + 0.5));
    let t = EnergyTable::new(e).unwrap();
    let mut joint = t.joint(0, 1.0).unwrap();
    let ygz = t.conditional_y_given_z(0, 1.0).unwrap();
    let zgy = t.conditional_z_given_y(0, 1.0).unwrap();
    let py = t.marginal_y(0, 1.0).unwrap();
    let pz = t.marginal_z(0, 1.0).unwrap();
    let ok =
        bayes_rule_violation(joint.view(), ygz.view(), zgy.view(), py.view(), pz.view()).unwrap();
    assert!(ok <= 1e-15);
    joint[[1, 1]] += 1e-6;
    let bad =
        bayes_rule_violation(joint.view(), ygz.view(), zgy.view(), py.view(), pz.view()).unwrap();
    assert!((bad - 1e-6).abs() < 1e-12, "{bad}");
    // The transposed conditional is not P(y|z): caught as a shape error.
    let err =
        bayes_rule_violation(joint.view(), ygz.t(), zgy.view(), py.view(), pz.view()).unwrap_err();
    assert!(err.to_string().contains("shape mismatch"), "{err}");
    let wrong_py = Array1::from(vec![0.5, 0.5]);
    assert!(
        bayes_rule_violation(
            joint.view(),
            ygz.view(),
            zgy.view(),
            wrong_py.view(),
            pz.view()
        )
        .is_err()
    );
}

// ---------- limits ----------

#[test]
fn large_beta_concentrates_on_the_argmin() {
    let mut r = rng(5);
    for _ in 0..100 {
        let n = r.gen_range(2..=50);
        let e = random_energies(&mut r, n, 1e4);
        let p = softargmax(&e, 1e6).unwrap();
        let (imin, _) =
            e.iter().enumerate().fold(
                (0, f64::INFINITY),
                |b, (i, &v)| if v < b.1 { (i, v) } else { b },
            );
        // Gaps are ~1e4/n >> 1/beta here.
        assert!(p[imin] > 0.999, "{}", p[imin]);
        let lim = argmin_limit(&e).unwrap();
        for (a, b) in p.iter().zip(&lim) {
            assert!((a - b).abs() < 1e-3);
        }
    }
    // A gap of 1e-5 at beta 1e6 is 10 units of beta * E: still > 0.999.
    let p = softargmax(&[0.0, 1e-5, 3.0], 1e6).unwrap();
    assert!(p[0] > 0.999, "{}", p[0]);
}

#[test]
fn ties_at_the_minimum_split_the_mass_equally() {
    for &beta in &[1e3, 1e6] {
        let e = [5.0, -2.0, 7.0, -2.0, -2.0, 1e4];
        let p = softargmax(&e, beta).unwrap();
        let lim = argmin_limit(&e).unwrap();
        assert_eq!(lim, vec![0.0, 1.0 / 3.0, 0.0, 1.0 / 3.0, 1.0 / 3.0, 0.0]);
        for (a, b) in p.iter().zip(&lim) {
            assert!((a - b).abs() <= 1e-15, "{p:?}");
        }
    }
    let p = softargmax(&[-1e4, -1e4], 1e6).unwrap();
    assert_eq!(p, vec![0.5, 0.5]);
}

#[test]
fn small_beta_gives_the_uniform_law() {
    let mut r = rng(6);
    for _ in 0..100 {
        let n = r.gen_range(1..=100);
        let e = random_energies(&mut r, n, 1.0);
        let p = softargmax(&e, 1e-3).unwrap();
        let u = uniform_limit(n).unwrap();
        for (a, b) in p.iter().zip(&u) {
            assert!((a - b).abs() <= 1e-3, "{a} vs {b}");
        }
    }
    // And far from uniform at beta = 1 with the same energies: the test can fail.
    let p = softargmax(&[-1.0, 1.0], 1.0).unwrap();
    assert!((p[0] - 0.5).abs() > 0.1);
}

#[test]
fn log_sum_exp_matches_the_naive_sum_and_handles_edges() {
    let xs = [0.1, -2.0, 3.5, 3.5];
    let naive: f64 = xs.iter().map(|x: &f64| x.exp()).sum::<f64>().ln();
    assert!((log_sum_exp(&xs) - naive).abs() <= 1e-14);
    assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    assert_eq!(
        log_sum_exp(&[f64::NEG_INFINITY, f64::NEG_INFINITY]),
        f64::NEG_INFINITY
    );
    assert_eq!(log_sum_exp(&[1e10, f64::NEG_INFINITY]), 1e10);
    assert!((log_sum_exp(&[1e10, 1e10]) - (1e10 + 2f64.ln())).abs() <= 2e-6);
}

// ---------- bad input ----------

fn err_line<T: std::fmt::Debug>(r: ebm::Result<T>) -> String {
    let msg = r.unwrap_err().to_string();
    assert!(!msg.contains('\n'), "not one line: {msg}");
    msg
}

#[test]
fn bad_beta_is_an_error_naming_the_value() {
    let e = [0.0, 1.0];
    let t = EnergyTable::new(Array3::zeros((1, 2, 2))).unwrap();
    let ed = ArrayD::zeros(IxDyn(&[2, 3]));
    for (beta, shown) in [
        (0.0, "0"),
        (-1.0, "-1"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        let msgs = [
            err_line(softargmax(&e, beta)),
            err_line(log_softargmax(&e, beta)),
            err_line(log_z(&e, beta)),
            err_line(free_energy(&e, beta)),
            err_line(softargmax_axis(ed.view(), 1, beta)),
            err_line(log_z_axis(ed.view(), 0, beta)),
            err_line(t.joint(0, beta)),
            err_line(t.marginal_y(0, beta)),
            err_line(t.conditional_z_given_y(0, beta)),
            err_line(t.free_energy_y(0, beta)),
            err_line(t.bayes_violation(0, beta)),
        ];
        for m in msgs {
            assert!(m.contains("beta") && m.contains(shown), "{m}");
        }
    }
}

#[test]
fn bad_energies_are_errors_naming_the_index() {
    let m = err_line(softargmax(&[], 1.0));
    assert!(m.contains("energies") && m.contains("empty"), "{m}");
    let m = err_line(log_z(&[0.0, 1.0, f64::NAN], 1.0));
    assert!(
        m.contains("energies") && m.contains("entry 2") && m.contains("NaN"),
        "{m}"
    );
    let m = err_line(free_energy(&[f64::NEG_INFINITY, 1.0], 1.0));
    assert!(m.contains("entry 0") && m.contains("-inf"), "{m}");
    let m = err_line(softargmax(&[f64::INFINITY, f64::INFINITY], 1.0));
    assert!(m.contains("+inf"), "{m}");
    let m = err_line(argmin_limit(&[1.0, f64::NAN]));
    assert!(m.contains("entry 1"), "{m}");
    assert!(argmin_limit(&[]).is_err());
    let m = err_line(uniform_limit(0));
    assert!(m.contains('n') && m.contains('0'), "{m}");
    // +inf means excluded: probability exactly 0, and it does not count as a minimizer.
    let p = softargmax(&[1.0, f64::INFINITY, 1.0], 1e6).unwrap();
    assert_eq!(p, vec![0.5, 0.0, 0.5]);
    assert_eq!(argmin_limit(&[f64::INFINITY, 2.0]).unwrap(), vec![0.0, 1.0]);

    // n-d tables: NaN named by its multi-index, empty axis, bad axis.
    let mut e = ArrayD::zeros(IxDyn(&[2, 3]));
    e[[1, 2]] = f64::NAN;
    let m = err_line(softargmax_axis(e.view(), 1, 1.0));
    assert!(m.contains("[1, 2]") && m.contains("NaN"), "{m}");
    let e = ArrayD::<f64>::zeros(IxDyn(&[2, 0]));
    assert!(err_line(log_z_axis(e.view(), 1, 1.0)).contains("empty"));
    let e = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
    let m = err_line(softargmax_axis(e.view(), 2, 1.0));
    assert!(m.contains("axis") && m.contains('2'), "{m}");
    let mut e = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
    e.index_axis_mut(Axis(0), 1).fill(f64::INFINITY);
    let m = err_line(softargmax_axis(e.view(), 1, 1.0));
    assert!(m.contains("[1]") && m.contains("+inf"), "{m}");
    // ... but along axis 0 every slice has a finite entry.
    assert!(softargmax_axis(e.view(), 0, 1.0).is_ok());

    // Energy tables: empty, non-finite named by index, x out of range.
    let m = err_line(EnergyTable::new(Array3::zeros((2, 0, 3))));
    assert!(m.contains("energy table") && m.contains("empty"), "{m}");
    let mut e = Array3::zeros((2, 3, 4));
    e[[1, 0, 3]] = f64::NAN;
    let m = err_line(EnergyTable::new(e.clone()));
    assert!(m.contains("E[1, 0, 3]") && m.contains("NaN"), "{m}");
    e[[1, 0, 3]] = f64::INFINITY;
    assert!(err_line(EnergyTable::new(e)).contains("E[1, 0, 3] = inf"));
    let t = EnergyTable::new(Array3::zeros((2, 3, 4))).unwrap();
    let m = err_line(t.marginal_z(2, 1.0));
    assert!(m.contains('x') && m.contains('2'), "{m}");
}
