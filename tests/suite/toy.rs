//! Toy 2-D data sets and exact 2-D evaluation against independent oracles: the closed-form
//! densities integrate to 1 by a midpoint sum written here, their Monte Carlo mean
//! log-density matches the quadrature entropy within 4 standard errors, the true model has
//! KL 0 and `log Z` 0, a wrong model's KL matches a Monte Carlo estimate (8gaussians) and a
//! closed form (checkerboard), and the Gaussian baseline matches its ML identity.

use ebm::energy::{DiagonalGaussian, FnEnergy, GaussianMixture};
use ebm::exact2d::{DEFAULT_GRID, evaluate, gaussian_fit_nll};
use ebm::toy::ToyData;
use ndarray::{Array2, ArrayView2};
use std::f64::consts::PI;

fn log_density(d: &ToyData, x: ArrayView2<f64>) -> Vec<f64> {
    let mut out = vec![0.0; x.nrows()];
    d.log_density(x, &mut out).unwrap();
    out
}

/// `(sum p h^2, -sum p log p h^2)` by the midpoint rule on `n x n` cells over the set's box.
fn midpoint_mass_entropy(d: &ToyData, n: usize) -> (f64, f64) {
    let (lo, hi) = d.support_box();
    let h = [(hi[0] - lo[0]) / n as f64, (hi[1] - lo[1]) / n as f64];
    let (mut mass, mut ent) = (0.0, 0.0);
    for iy in 0..n {
        let y = lo[1] + (iy as f64 + 0.5) * h[1];
        let row = Array2::from_shape_fn((n, 2), |(ix, j)| {
            if j == 0 {
                lo[0] + (ix as f64 + 0.5) * h[0]
            } else {
                y
            }
        });
        for lp in log_density(d, row.view()) {
            if lp > f64::NEG_INFINITY {
                mass += lp.exp() * h[0] * h[1];
                ent -= lp * lp.exp() * h[0] * h[1];
            }
        }
    }
    (mass, ent)
}

fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

#[test]
fn generators_are_finite_seeded_and_in_their_box() {
    for d in ToyData::all() {
        let a = d.sample(5000, 11);
        assert_eq!(a.dim(), (5000, 2), "{d}");
        assert!(a.iter().all(|v| v.is_finite()), "{d}: non-finite point");
        assert_eq!(a, d.sample(5000, 11), "{d}: same seed, different points");
        let b = d.sample(5000, 12);
        assert!(
            a.iter().zip(&b).filter(|(x, y)| x != y).count() > 9000,
            "{d}: seeds agree"
        );
        // No point in the box's outer 5% frame (exact evaluation relies on it).
        let (lo, hi) = d.support_box();
        for r in a.rows() {
            for i in 0..2 {
                let w = 0.05 * (hi[i] - lo[i]);
                assert!(
                    r[i] > lo[i] + w && r[i] < hi[i] - w,
                    "{d}: point {:?} in the frame of its box",
                    r.to_vec()
                );
            }
        }
        // Roughly centred, spread of order 1 to 3 (FFJORD's sets are all of that size).
        let m = a.mean_axis(ndarray::Axis(0)).unwrap();
        let sd = a.std_axis(ndarray::Axis(0), 0.0);
        assert!(m.iter().all(|v| v.abs() < 0.6), "{d}: mean {m}");
        assert!(sd.iter().all(|v| (0.5..3.0).contains(v)), "{d}: sd {sd}");
    }
}

#[test]
fn sample_moments_match_the_definitions() {
    let n = 20_000;
    // 8gaussians: E|x|^2 = R^2 + 2 s^2, R = 4/1.414, s = 0.5/1.414.
    let x = ToyData::EightGaussians.sample(n, 1);
    let r2: Vec<f64> = x
        .rows()
        .into_iter()
        .map(|r| r[0] * r[0] + r[1] * r[1])
        .collect();
    let (m, se) = mean_se(&r2);
    let truth = (4.0f64 / 1.414).powi(2) + 2.0 * (0.5f64 / 1.414).powi(2);
    assert!(
        (m - truth).abs() < 4.0 * se,
        "8gaussians E|x|^2 {m} ± {se} vs {truth}"
    );
    // rings: E|x| = mean radius 1.875.
    let x = ToyData::Rings.sample(n, 2);
    let r: Vec<f64> = x.rows().into_iter().map(|r| r[0].hypot(r[1])).collect();
    let (m, se) = mean_se(&r);
    assert!((m - 1.875).abs() < 4.0 * se, "rings E|x| {m} ± {se}");
    // checkerboard: every point on the support, E x^2 = 16/3 per axis.
    let x = ToyData::Checkerboard.sample(n, 3);
    assert!(
        log_density(&ToyData::Checkerboard, x.view())
            .iter()
            .all(|&v| v == (1.0f64 / 32.0).ln())
    );
    let x2: Vec<f64> = x.column(0).iter().map(|v| v * v).collect();
    let (m, se) = mean_se(&x2);
    assert!(
        (m - 16.0 / 3.0).abs() < 4.0 * se,
        "checkerboard E x^2 {m} ± {se}"
    );
}

#[test]
fn closed_form_densities_integrate_to_one_and_match_their_entropy() {
    let mut report = Vec::new();
    for d in [
        ToyData::EightGaussians,
        ToyData::Rings,
        ToyData::Checkerboard,
    ] {
        assert!(d.has_density());
        // 640 cells on the checkerboard's +-5.12 put cell edges on the squares' edges.
        let (mass, h) = midpoint_mass_entropy(&d, 640);
        assert!((mass - 1.0).abs() < 1e-3, "{d}: mass {mass}");
        let x = d.sample(20_000, 5);
        let (m, se) = mean_se(&log_density(&d, x.view()));
        assert!(
            (m + h).abs() <= 4.0 * se + 1e-9,
            "{d}: mean log p {m} ± {se} vs -H {}",
            -h
        );
        report.push(format!(
            "{d}: mass {mass:.8}, H {h:.5} nats, MC {:.5} ± {se:.5}",
            -m
        ));
    }
    // Independent closed forms. 8gaussians: H <= H(k) + H(x | k) = log 8 + log(2 pi e s^2),
    // the gap the overlap of neighbours 6.1 std apart (a few 1e-3). rings (9 std apart):
    // H = log 4 + 1/2 log(2 pi e s^2) + log 2 pi + mean_k E log r, with
    // E log r = log R - s^2 / (2 R^2) + O((s/R)^4). checkerboard: log 32.
    let s2 = (0.5f64 / 1.414).powi(2);
    let h8 = 8f64.ln() + (2.0 * PI * std::f64::consts::E * s2).ln();
    let h = midpoint_mass_entropy(&ToyData::EightGaussians, 640).1;
    assert!(h <= h8 && h > h8 - 0.01, "8gaussians: H {h} vs bound {h8}");
    let radii = [3.0f64, 2.25, 1.5, 0.75];
    let hr = 4f64.ln()
        + 0.5 * (2.0 * PI * std::f64::consts::E * 0.0064).ln()
        + (2.0 * PI).ln()
        + radii
            .iter()
            .map(|r| r.ln() - 0.0064 / (2.0 * r * r))
            .sum::<f64>()
            / 4.0;
    let h = midpoint_mass_entropy(&ToyData::Rings, 640).1;
    assert!((h - hr).abs() < 2e-4, "rings: H {h} vs {hr}");
    let h = midpoint_mass_entropy(&ToyData::Checkerboard, 640).1;
    assert!(
        (h - 32f64.ln()).abs() < 1e-9,
        "checkerboard: H {h} vs log 32"
    );
    eprintln!("{}", report.join("\n"));
}

fn eight_gaussians_energy() -> GaussianMixture {
    let means = (0..8)
        .map(|k| {
            let t = k as f64 * PI / 4.0;
            vec![4.0 / 1.414 * t.cos(), 4.0 / 1.414 * t.sin()]
        })
        .collect();
    GaussianMixture::new(vec![1.0; 8], means, vec![0.5 / 1.414; 8]).unwrap()
}

#[test]
fn the_true_model_has_kl_zero_and_nll_the_entropy() {
    let d = ToyData::EightGaussians;
    let test = d.sample(20_000, 9);
    let r = evaluate(
        &eight_gaussians_energy(),
        1.0,
        &d,
        test.view(),
        DEFAULT_GRID,
    )
    .unwrap();
    let (kl, h) = (r.kl.unwrap(), r.data_entropy.unwrap());
    eprintln!("8gaussians true model: {r:?}");
    assert!(r.box_holds_mass && r.frame_mass < 1e-6, "{r:?}");
    assert!(kl.abs() < 1e-3 && r.log_z.abs() < 1e-3, "{r:?}");
    assert!(r.mass_outside.unwrap() < 2e-3, "{r:?}");
    let nll: Vec<f64> = log_density(&d, test.view()).iter().map(|v| -v).collect();
    let (m, se) = mean_se(&nll);
    assert!(
        (r.test_nll - m).abs() < 1e-6,
        "NLL {} vs -mean log p {m}",
        r.test_nll
    );
    assert!(
        (r.test_nll - h).abs() < 4.0 * se,
        "NLL {} vs H {h} ± {se}",
        r.test_nll
    );

    // Rings and the checkerboard, their own closed forms wrapped as energies.
    for d in [ToyData::Rings, ToyData::Checkerboard] {
        let e = FnEnergy::new(2, move |y: &[f64]| {
            let mut out = [0.0];
            let x = ArrayView2::from_shape((1, 2), y).unwrap();
            d.log_density(x, &mut out).unwrap();
            -out[0]
        });
        let test = d.sample(2000, 10);
        let r = evaluate(&e, 1.0, &d, test.view(), DEFAULT_GRID).unwrap();
        eprintln!("{d} true model: {r:?}");
        assert!(r.box_holds_mass, "{d}: {r:?}");
        assert!(
            r.kl.unwrap().abs() < 1e-3 && r.log_z.abs() < 1e-3,
            "{d}: {r:?}"
        );
        assert!(r.mass_outside.unwrap() < 2e-3, "{d}: {r:?}");
    }
}

#[test]
fn a_wrong_model_has_the_independent_kl() {
    // 8gaussians against N(0, 1.2^2 I): KL by quadrature vs the Monte Carlo mean of
    // log p_data - log q over data samples, with q's exact log Z.
    let d = ToyData::EightGaussians;
    let q = DiagonalGaussian::new(vec![0.0; 2], vec![1.2; 2]).unwrap();
    let test = d.sample(1000, 1);
    let r = evaluate(&q, 1.0, &d, test.view(), DEFAULT_GRID).unwrap();
    let x = d.sample(50_000, 2);
    let lp = log_density(&d, x.view());
    let log_q = |v: ndarray::ArrayView1<f64>| {
        -(v[0] * v[0] + v[1] * v[1]) / (2.0 * 1.44) - (2.0 * PI * 1.44).ln()
    };
    let diff: Vec<f64> = x
        .rows()
        .into_iter()
        .zip(&lp)
        .map(|(v, l)| l - log_q(v))
        .collect();
    let (mc, se) = mean_se(&diff);
    let kl = r.kl.unwrap();
    eprintln!("8gaussians vs N(0, 1.44 I): KL {kl:.5}, MC {mc:.5} ± {se:.5}; {r:?}");
    assert!(r.box_holds_mass && kl > 0.5, "{r:?}");
    assert!((kl - mc).abs() < 4.0 * se, "KL {kl} vs MC {mc} ± {se}");
    // The test NLL is the Gaussian's own NLL (log Z_box = log Z within 1e-4).
    let nll = test.rows().into_iter().map(|v| -log_q(v)).sum::<f64>() / 1000.0;
    assert!((r.test_nll - nll).abs() < 1e-4, "{} vs {nll}", r.test_nll);

    // checkerboard against N(0, s^2 I), s = 1.25: E x^2 = 16/3 per axis under the data, so
    // KL = -log 32 + log(2 pi s^2) + 16 / (3 s^2) exactly (less the box's missing ~1e-4).
    let d = ToyData::Checkerboard;
    let s2: f64 = 1.25 * 1.25;
    let q = DiagonalGaussian::new(vec![0.0; 2], vec![1.25; 2]).unwrap();
    let r = evaluate(&q, 1.0, &d, test.view(), DEFAULT_GRID).unwrap();
    let truth = -(32f64.ln()) + (2.0 * PI * s2).ln() + 16.0 / (3.0 * s2);
    let kl = r.kl.unwrap();
    eprintln!("checkerboard vs N(0, 1.5625 I): KL {kl:.6} vs {truth:.6}; {r:?}");
    assert!(r.box_holds_mass && kl > 0.5, "{r:?}");
    assert!((kl - truth).abs() < 3e-4, "KL {kl} vs {truth}");
    // Off the support: x -> -x maps the squares onto the others of [-4, 4]^2, so the
    // Gaussian's mass on them is half its mass on [-4, 4]^2: (1 - 2 Phi(-3.2))^2 / 2,
    // over its mass on the box, 1 - 8.4e-5.
    let on = 1.0 - r.mass_outside.unwrap();
    assert!((on - 0.49867).abs() < 1e-4, "on the support {on}; {r:?}");

    // A model too broad for the box is flagged, not an error.
    let wide = DiagonalGaussian::new(vec![0.0; 2], vec![3.0; 2]).unwrap();
    let r = evaluate(&wide, 1.0, &ToyData::Rings, test.view(), 128).unwrap();
    assert!(!r.box_holds_mass && r.frame_mass > 1e-3, "{r:?}");
}

#[test]
fn the_gaussian_baseline_meets_its_identities() {
    let d = ToyData::Moons;
    let train = d.sample(4000, 1);
    // On its own training set the ML Gaussian's NLL is d/2 (1 + log 2 pi) + 1/2 log det S.
    let m = train.mean_axis(ndarray::Axis(0)).unwrap();
    let r = &train - &m;
    let s = r.t().dot(&r) / 4000.0;
    let det = s[[0, 0]] * s[[1, 1]] - s[[0, 1]] * s[[1, 0]];
    let nll = gaussian_fit_nll(train.view(), train.view()).unwrap();
    let truth = (1.0 + (2.0 * PI).ln()) + 0.5 * det.ln();
    assert!((nll - truth).abs() < 1e-10, "{nll} vs {truth}");
    // Held out it is a little worse, and far worse than the data entropy of 8gaussians.
    let test = d.sample(4000, 2);
    let held = gaussian_fit_nll(train.view(), test.view()).unwrap();
    assert!(held > nll - 0.05 && held < nll + 0.1, "{held} vs {nll}");
    let g8 = ToyData::EightGaussians;
    let nll8 = gaussian_fit_nll(g8.sample(4000, 1).view(), g8.sample(4000, 2).view()).unwrap();
    assert!(nll8 > 2.838 + 0.5, "8gaussians Gaussian fit {nll8}");
    assert!(gaussian_fit_nll(train.view(), Array2::zeros((3, 3)).view()).is_err());
}

#[test]
fn names_round_trip_and_unknown_names_list_the_known_ones() {
    for d in ToyData::all() {
        assert_eq!(ToyData::from_name(d.name()).unwrap(), d);
    }
    assert_eq!(ToyData::all().len(), 7);
    let msg = ToyData::from_name("spiral").unwrap_err().to_string();
    for name in [
        "8gaussians",
        "rings",
        "moons",
        "pinwheel",
        "swissroll",
        "checkerboard",
        "2spirals",
    ] {
        assert!(msg.contains(name), "{msg}");
    }
    assert!(msg.contains("spiral"), "{msg}");
    let mut out = [0.0];
    assert!(
        ToyData::Moons
            .log_density(Array2::zeros((1, 2)).view(), &mut out)
            .is_err()
    );
    assert!(!ToyData::Pinwheel.has_density());
}
