//! Grid negatives ([`ebm::contrastive::GridSampler`], `Negatives::Grid`) against exact
//! answers: the draws' mean and covariance equal a correlated Gaussian's closed-form
//! moments (plus the jitter's `h^2 / 12`) within a few standard errors, every negative
//! lies in the box, a short training run on 8 Gaussians beats the best single Gaussian,
//! and old configs without the grid fields still load.

use ebm::contrastive::{
    ContrastiveConfig, ContrastiveTrainer, GaussianEnergy, GridSampler, Negatives,
};
use ebm::energy::MlpSpec;
use ebm::mcmc::Rng;
use ebm::nn::ActivationKind;
use ndarray::{Array2, array};
use rand::SeedableRng;

/// Sample mean `[2]`, covariance `[2, 2]` (divided by `n`) and the standard errors of
/// each: `sd / sqrt(n)` for the means, `sd((x_i - m_i)(x_j - m_j)) / sqrt(n)` for the
/// covariance entries.
type Moments = ([f64; 2], [[f64; 2]; 2], [f64; 2], [[f64; 2]; 2]);

fn moments(x: &Array2<f64>) -> Moments {
    let n = x.nrows() as f64;
    let m = [0, 1].map(|i| x.column(i).sum() / n);
    let mut c = [[0.0; 2]; 2];
    let mut se_c = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            let prods: Vec<f64> = x
                .rows()
                .into_iter()
                .map(|r| (r[i] - m[i]) * (r[j] - m[j]))
                .collect();
            let mean = prods.iter().sum::<f64>() / n;
            let var = prods.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / n;
            c[i][j] = mean;
            se_c[i][j] = (var / n).sqrt();
        }
    }
    let se_m = [0, 1].map(|i| (c[i][i] / n).sqrt());
    (m, c, se_m, se_c)
}

#[test]
fn grid_draws_have_the_moments_of_a_correlated_gaussian() {
    // E(y) = 1/2 (y - mu)^T P (y - mu), P = L L^T non-diagonal; Sigma = P^-1.
    let e =
        GaussianEnergy::from_parts(&[0.7, -0.4], array![[1.6, 0.0], [-0.9, 1.1]].view()).unwrap();
    let p = e.precision();
    let det = p[[0, 0]] * p[[1, 1]] - p[[0, 1]] * p[[1, 0]];
    let sigma = [
        [p[[1, 1]] / det, -p[[0, 1]] / det],
        [-p[[1, 0]] / det, p[[0, 0]] / det],
    ];
    assert!(
        sigma[0][1].abs() > 0.2,
        "the test wants a correlated Gaussian"
    );
    let (lo, hi, n) = (-4.5, 4.5, 256);
    let s = GridSampler::new(&e, ([lo; 2], [hi; 2]), n).unwrap();
    // log Z of the grid density against the closed form log(2 pi) - 1/2 log det P.
    let log_z = (2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln();
    assert!((s.log_z - log_z).abs() < 1e-3, "{} vs {log_z}", s.log_z);

    let mut rng = Rng::seed_from_u64(11);
    let x = s.draw(200_000, &mut rng); // [200000, 2]
    let (m, c, se_m, se_c) = moments(&x);
    // The midpoint sum of a smooth, vanishing density is exact to far below the noise;
    // the uniform jitter in a cell of side h adds h^2 / 12 to each variance.
    let h = (hi - lo) / n as f64;
    let jitter = h * h / 12.0;
    for i in 0..2 {
        let tol = 5.0 * se_m[i] + 1e-4;
        assert!(
            (m[i] - e.mean()[i]).abs() < tol,
            "mean {i}: {} vs {} (tol {tol})",
            m[i],
            e.mean()[i]
        );
        for j in 0..2 {
            let want = sigma[i][j] + if i == j { jitter } else { 0.0 };
            let tol = 5.0 * se_c[i][j] + 1e-4;
            assert!(
                (c[i][j] - want).abs() < tol,
                "cov {i}{j}: {} vs {want} (tol {tol})",
                c[i][j]
            );
        }
    }
    // A coarse grid's jitter is visible and has the predicted size: on 16 cells
    // (h = 0.5625) the midpoint sum is still exact, the variances grow by h^2 / 12.
    let coarse = GridSampler::new(&e, ([lo; 2], [hi; 2]), 16).unwrap();
    let xc = coarse.draw(200_000, &mut rng);
    let (_, cc, _, se_cc) = moments(&xc);
    let hc = (hi - lo) / 16.0;
    for i in 0..2 {
        let want = sigma[i][i] + hc * hc / 12.0;
        assert!(
            (cc[i][i] - want).abs() < 5.0 * se_cc[i][i] + 2e-3,
            "coarse var {i}: {} vs {want}",
            cc[i][i]
        );
        assert!(
            cc[i][i] - sigma[i][i] > 5.0 * se_cc[i][i],
            "jitter not seen"
        );
    }
}

#[test]
fn every_grid_negative_lies_in_the_box() {
    // A Gaussian piled against a corner: its mass reaches the edges of the box.
    let e =
        GaussianEnergy::from_parts(&[2.4, -1.4], array![[0.8, 0.0], [0.0, 0.8]].view()).unwrap();
    let bounds = ([-1.5, -1.5], [2.5, 2.5]);
    let s = GridSampler::new(&e, bounds, 64).unwrap();
    let mut rng = Rng::seed_from_u64(3);
    let x = s.draw(50_000, &mut rng);
    for r in x.rows() {
        for i in 0..2 {
            assert!(
                r[i] >= bounds.0[i] && r[i] <= bounds.1[i],
                "{:?} outside the box",
                r.to_vec()
            );
        }
    }
    assert!(
        x.column(0).iter().any(|&v| v > 2.45),
        "no draw near the right edge"
    );
    assert!(
        x.column(1).iter().any(|&v| v < -1.45),
        "no draw near the bottom edge"
    );

    // The trainer's grid negatives (no MALA moves) stay in its noise box and, for a
    // nearly flat fresh network, fill it.
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![32, 32],
        activation: ActivationKind::Silu,
    };
    let cfg = ContrastiveConfig {
        negatives: Negatives::Grid,
        mcmc_steps: 0,
        grid_cells: 32,
        noise_lo: -1.5,
        noise_hi: 2.5,
        batch: 512,
        ..ContrastiveConfig::default()
    };
    let mut t = ContrastiveTrainer::new(spec, cfg, 7).unwrap();
    let data = Array2::from_shape_fn((512, 2), |(r, c)| {
        0.3 * ((r * 7 + c * 3) % 11) as f64 / 11.0
    });
    for _ in 0..5 {
        let m = t.step(data.view()).unwrap();
        assert_eq!(m.acceptance, 1.0);
        let neg = &t.last_negatives;
        assert_eq!(neg.dim(), (512, 2));
        assert!(neg.iter().all(|&v| (-1.5..=2.5).contains(&v)));
        for i in 0..2 {
            let c = neg.column(i);
            let (mn, mx) = c
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            assert!(
                mn < -1.0 && mx > 2.0,
                "axis {i}: [{mn}, {mx}] does not fill the box"
            );
        }
    }
}

#[test]
fn zero_mcmc_steps_only_with_grid_negatives_and_grid_needs_2d() {
    let spec = |d| MlpSpec {
        in_dim: d,
        hidden: vec![8],
        activation: ActivationKind::Silu,
    };
    for neg in [
        Negatives::Persistent,
        Negatives::ShortRun,
        Negatives::ContrastiveDivergence,
    ] {
        let cfg = ContrastiveConfig {
            negatives: neg,
            mcmc_steps: 0,
            ..ContrastiveConfig::default()
        };
        assert!(ContrastiveTrainer::new(spec(2), cfg, 0).is_err(), "{neg:?}");
    }
    let grid = ContrastiveConfig {
        negatives: Negatives::Grid,
        mcmc_steps: 0,
        ..ContrastiveConfig::default()
    };
    assert!(ContrastiveTrainer::new(spec(2), grid.clone(), 0).is_ok());
    let err = ContrastiveTrainer::new(spec(3), grid.clone(), 0)
        .err()
        .expect("3-D grid")
        .to_string();
    assert!(err.contains("2-D"), "{err}");
    for (cells, refresh) in [(4, 1), (64, 0)] {
        let cfg = ContrastiveConfig {
            grid_cells: cells,
            grid_refresh: refresh,
            ..grid.clone()
        };
        assert!(ContrastiveTrainer::new(spec(2), cfg, 0).is_err());
    }
    let err = Negatives::from_name("gird").unwrap_err().to_string();
    assert!(err.contains("grid") && err.contains("pcd"), "{err}");
    assert_eq!(Negatives::from_name("grid").unwrap(), Negatives::Grid);
}

#[test]
fn an_old_config_without_the_grid_fields_still_loads() {
    let mut v = serde_json::to_value(ContrastiveConfig::default()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("grid_cells").expect("serialized");
    o.remove("grid_refresh").expect("serialized");
    // Nor the kernel fields (issue 26): `adjusted` chooses MALA or ULA as before.
    o.remove("kernel").expect("serialized");
    o.remove("leapfrog").expect("serialized");
    let c: ContrastiveConfig = serde_json::from_value(v.clone()).unwrap();
    assert_eq!((c.grid_cells, c.grid_refresh), (128, 1));
    assert_eq!(c.negatives, Negatives::Persistent);
    assert_eq!(c.kernel_name(), ebm::mcmc::KernelName::Mala);
    assert_eq!(c.leapfrog, 5);
    v["adjusted"] = serde_json::json!(false);
    let c: ContrastiveConfig = serde_json::from_value(v).unwrap();
    assert_eq!(c.kernel_name(), ebm::mcmc::KernelName::Ula);
}

#[test]
fn a_short_grid_run_on_eight_gaussians_beats_the_best_single_gaussian() {
    use ebm::toy::ToyData;
    use ebm::toy_ebm::{ToyRunConfig, train};
    let data = ToyData::EightGaussians;
    let (lo, hi) = data.support_box();
    let spec = MlpSpec {
        in_dim: 2,
        hidden: vec![64, 64],
        activation: ActivationKind::Silu,
    };
    let cfg = ContrastiveConfig {
        negatives: Negatives::Grid,
        mcmc_steps: 0,
        grid_cells: 96,
        noise_lo: lo[0],
        noise_hi: hi[0],
        batch: 128,
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
