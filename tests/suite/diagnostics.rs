//! MCMC diagnostics (`ebm::diagnostics`) against closed forms, constructed failure cases,
//! ArviZ's own numbers (tests/data/diagnostics_arviz.*, made by
//! bench/peers/diagnostics_arviz.py) and known values of the inverse normal CDF.

use ebm::Error;
use ebm::diagnostics::{
    SamplerStats, SummaryTable, ess_basic, ess_bulk, ess_quantile, ess_tail, inverse_normal_cdf,
    mcse_mean, mcse_sd, quantile, rank_normalized_rhat, split_rhat, summarize,
};
use ndarray::{Array2, Array3, ArrayView2, Axis, s};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// `chains` stationary AR(1) chains `x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t`, `x_0 ~ N(0, 1)`.
fn ar1(phi: f64, chains: usize, draws: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let scale = (1.0 - phi * phi).sqrt();
    let mut x = Array2::zeros((chains, draws)); // [chains, draws]
    for mut chain in x.outer_iter_mut() {
        let mut v: f64 = StandardNormal.sample(&mut rng);
        for slot in chain.iter_mut() {
            *slot = v;
            let e: f64 = StandardNormal.sample(&mut rng);
            v = phi * v + scale * e;
        }
    }
    x
}

/// iid `N(mean_c, sd_c^2)` draws, one (mean, sd) per chain.
fn iid(params: &[(f64, f64)], draws: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut x = Array2::zeros((params.len(), draws)); // [chains, draws]
    for (mut chain, &(m, sd)) in x.outer_iter_mut().zip(params) {
        for slot in chain.iter_mut() {
            let e: f64 = StandardNormal.sample(&mut rng);
            *slot = m + sd * e;
        }
    }
    x
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn ess_of_ar1_matches_closed_form() {
    let (chains, draws) = (4, 20_000);
    for (i, phi) in [0.0, 0.5, 0.9].into_iter().enumerate() {
        let x = ar1(phi, chains, draws, 100 + i as u64);
        let exact = (chains * draws) as f64 * (1.0 - phi) / (1.0 + phi);
        let basic = ess_basic(x.view()).unwrap();
        let bulk = ess_bulk(x.view()).unwrap();
        println!("phi {phi}: exact {exact:.0}, ess_basic {basic:.0}, ess_bulk {bulk:.0}");
        assert!(
            rel(basic, exact) < 0.10,
            "phi {phi}: ess_basic {basic} vs {exact}"
        );
        assert!(
            rel(bulk, exact) < 0.10,
            "phi {phi}: ess_bulk {bulk} vs {exact}"
        );
        // A Gaussian's maximal correlation is |rho|: indicators I(x <= q) decorrelate at least
        // as fast as x, so the tail ESS lies between the ESS of the mean and the draw count.
        let tail = ess_tail(x.view()).unwrap();
        let n = (chains * draws) as f64;
        println!("phi {phi}: ess_tail {tail:.0}");
        assert!(
            tail > 0.9 * exact && tail < 1.1 * n,
            "phi {phi}: ess_tail {tail}"
        );
    }
}

#[test]
fn rhat_near_one_for_mixed_chains() {
    let x = iid(&[(0.0, 1.0); 4], 1000, 1);
    let classic = split_rhat(x.view()).unwrap();
    let rank = rank_normalized_rhat(x.view()).unwrap();
    assert!(classic < 1.01 && classic > 0.99, "split R-hat {classic}");
    assert!(rank < 1.01 && rank > 0.99, "rank-normalized R-hat {rank}");
}

#[test]
fn rhat_large_for_chains_in_different_modes() {
    let x = iid(&[(-3.0, 1.0), (-3.0, 1.0), (3.0, 1.0), (3.0, 1.0)], 1000, 2);
    let classic = split_rhat(x.view()).unwrap();
    let rank = rank_normalized_rhat(x.view()).unwrap();
    assert!(classic > 1.5, "split R-hat {classic}");
    assert!(rank > 1.5, "rank-normalized R-hat {rank}");
    // A chain that drifts: its two halves disagree, which only splitting sees.
    let mut drift = iid(&[(0.0, 1.0); 4], 1000, 3);
    drift.slice_mut(s![0, 500..]).mapv_inplace(|v| v + 4.0);
    assert!(split_rhat(drift.view()).unwrap() > 1.1);
}

#[test]
fn folded_rhat_catches_unequal_scales() {
    // Equal means, scales 1 and 3: the classic R-hat is blind, the tail (folded) part is not.
    let x = iid(&[(0.0, 1.0), (0.0, 1.0), (0.0, 3.0), (0.0, 3.0)], 1000, 4);
    let classic = split_rhat(x.view()).unwrap();
    let rank = rank_normalized_rhat(x.view()).unwrap();
    assert!(classic < 1.01, "split R-hat {classic}");
    assert!(rank > 1.05, "rank-normalized R-hat {rank}");
}

/// The ArviZ data set: `name -> [4, 200]`, and ArviZ's numbers.
fn arviz_data() -> (Vec<(String, Array2<f64>)>, serde_json::Value) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    let csv = std::fs::read_to_string(format!("{dir}diagnostics_arviz.csv")).unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}diagnostics_arviz.json")).unwrap(),
    )
    .unwrap();
    let chains = json["chains"].as_u64().unwrap() as usize;
    let draws = json["draws"].as_u64().unwrap() as usize;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let names = &header[2..];
    let mut cols = vec![Array2::<f64>::zeros((chains, draws)); names.len()];
    let mut rows = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let (c, d): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        for (col, v) in cols.iter_mut().zip(&f[2..]) {
            col[[c, d]] = v.parse().unwrap();
        }
        rows += 1;
    }
    assert_eq!(rows, chains * draws);
    let mut out: Vec<(String, Array2<f64>)> =
        names.iter().map(|n| n.to_string()).zip(cols).collect();
    let odd = out[0].1.slice(s![.., ..draws - 1]).to_owned(); // [4, 199]
    out.push(("ar1_odd".into(), odd));
    (out, json)
}

#[test]
fn matches_arviz() {
    let (data, json) = arviz_data();
    println!("reference: {}", json["versions"]);
    let mut worst = 0.0f64;
    for (name, x) in &data {
        let exp = &json["expected"][name.as_str()];
        let x = x.view();
        let ours: [(&str, f64); 13] = [
            ("rhat", rank_normalized_rhat(x).unwrap()),
            ("rhat_split", split_rhat(x).unwrap()),
            ("ess_bulk", ess_bulk(x).unwrap()),
            ("ess_tail", ess_tail(x).unwrap()),
            ("ess_mean", ess_basic(x).unwrap()),
            ("ess_q30", ess_quantile(x, 0.3).unwrap()),
            ("mcse_mean", mcse_mean(x).unwrap()),
            ("mcse_sd", mcse_sd(x).unwrap()),
            ("mean", x.mean().unwrap()),
            ("sd", x.std(1.0)),
            ("q05", quantile(x, 0.05).unwrap()),
            ("q50", quantile(x, 0.5).unwrap()),
            ("q95", quantile(x, 0.95).unwrap()),
        ];
        for (key, v) in ours {
            let want = exp[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}.{key} missing"));
            let r = rel(v, want);
            worst = worst.max(r);
            println!("{name:8} {key:10} ebm {v:<22} arviz {want:<22} rel {r:.1e}");
            assert!(r < 1e-6, "{name}.{key}: ebm {v} vs arviz {want}");
        }
    }
    println!("worst relative difference: {worst:.1e}");
}

#[test]
fn inverse_normal_cdf_known_values() {
    let z = inverse_normal_cdf(0.975);
    assert!(rel(z, 1.959963984540054) < 1e-15, "{z}");
    assert_eq!(inverse_normal_cdf(0.5), 0.0);
    assert!(rel(inverse_normal_cdf(0.8413447460685429), 1.0) < 1e-15);
    assert!(rel(inverse_normal_cdf(0.001), -3.090232306167813) < 1e-15);
    // scipy.stats.norm.ppf across all three branches of AS241 (central, r <= 5, r > 5).
    let (_, json) = arviz_data();
    for pair in json["norm_ppf"].as_array().unwrap() {
        let (p, want) = (pair[0].as_f64().unwrap(), pair[1].as_f64().unwrap());
        let z = inverse_normal_cdf(p);
        println!("p {p:e}: ebm {z} scipy {want} rel {:.1e}", rel(z, want));
        assert!(rel(z, want) < 1e-14, "p {p}: {z} vs scipy {want}");
    }
    // Symmetry, and the edges.
    for p in [1e-8, 0.01, 0.2, 0.4] {
        assert!(rel(-inverse_normal_cdf(p), inverse_normal_cdf(1.0 - p)) < 1e-9);
    }
    assert_eq!(inverse_normal_cdf(0.0), f64::NEG_INFINITY);
    assert_eq!(inverse_normal_cdf(1.0), f64::INFINITY);
    assert!(inverse_normal_cdf(1.5).is_nan() && inverse_normal_cdf(-0.1).is_nan());
    assert!(inverse_normal_cdf(f64::NAN).is_nan());
}

#[test]
fn summary_of_iid_normal_draws() {
    let (chains, draws, dim) = (4, 1000, 3);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let x = Array3::from_shape_simple_fn((chains, draws, dim), || StandardNormal.sample(&mut rng)); // [chains, draws, dim]
    let names: Vec<String> = vec!["theta[0]".into(), "theta[1]".into(), "log_sigma".into()];
    let rows = summarize(x.view(), &names).unwrap();
    assert_eq!(rows.len(), dim);
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row.name, names[k]);
        assert!(row.mean.abs() < 4.0 * row.mcse_mean, "{row:?}");
        assert!((row.sd - 1.0).abs() < 4.0 * row.mcse_sd, "{row:?}");
        assert!(row.q05 < row.q50 && row.q50 < row.q95);
        assert!((row.q95 - 1.645).abs() < 0.15 && (row.q05 + 1.645).abs() < 0.15);
        assert!(row.rhat < 1.01 && row.ess_bulk > 3000.0 && row.ess_tail > 2000.0);
        // The fields are the public functions on the same [chains, draws] slice.
        let xk = x.index_axis(Axis(2), k);
        assert_eq!(row.ess_bulk, ess_bulk(xk).unwrap());
        assert_eq!(row.rhat, rank_normalized_rhat(xk).unwrap());
    }
    let table = SummaryTable::new(rows.clone());
    let text = table.to_string();
    println!("{text}");
    for name in &names {
        assert!(text.contains(name.as_str()), "{name} missing from\n{text}");
    }
    assert!(text.lines().next().unwrap().contains("ess_bulk"));
    assert_eq!(text.lines().count(), 1 + dim);
    // Every line has the same width (right-aligned columns).
    let widths: Vec<usize> = text.lines().map(|l| l.chars().count()).collect();
    assert!(widths.iter().all(|&w| w == widths[0]), "{widths:?}");
    assert!(!text.contains("sampler"));
    let stats = SamplerStats {
        acceptance: 0.8125,
        divergences: 3,
        grad_evals: 123_456,
    };
    let text = SummaryTable::new(rows).with_stats(stats).to_string();
    let footer = text.lines().last().unwrap();
    assert!(
        footer.contains("0.812") && footer.contains("3 divergences") && footer.contains("123456"),
        "{footer}"
    );
}

#[test]
fn constant_draws() {
    let x = Array2::from_elem((2, 10), 1.5);
    assert_eq!(ess_basic(x.view()).unwrap(), 20.0);
    assert_eq!(ess_bulk(x.view()).unwrap(), 20.0);
    assert!(split_rhat(x.view()).unwrap().is_nan());
    assert!(rank_normalized_rhat(x.view()).unwrap().is_nan());
}

fn is_invalid<T: std::fmt::Debug>(r: ebm::Result<T>) -> bool {
    matches!(r, Err(Error::Invalid { .. }))
}

#[test]
fn bad_input_is_an_error() {
    let short = Array2::<f64>::zeros((4, 3));
    let none = Array2::<f64>::zeros((0, 100));
    let mut nan = ar1(0.5, 2, 50, 6);
    nan[[1, 7]] = f64::NAN;
    let mut inf = ar1(0.5, 2, 50, 7);
    inf[[0, 0]] = f64::INFINITY;
    type F = fn(ArrayView2<f64>) -> ebm::Result<f64>;
    let fs: [(&str, F); 8] = [
        ("split_rhat", split_rhat),
        ("rank_normalized_rhat", rank_normalized_rhat),
        ("ess_basic", ess_basic),
        ("ess_bulk", ess_bulk),
        ("ess_tail", ess_tail),
        ("mcse_mean", mcse_mean),
        ("mcse_sd", mcse_sd),
        ("quantile", |x| quantile(x, 0.5)),
    ];
    for (name, f) in fs {
        for (what, x) in [
            ("3 draws", &short),
            ("0 chains", &none),
            ("NaN", &nan),
            ("inf", &inf),
        ] {
            assert!(is_invalid(f(x.view())), "{name} accepted {what}");
        }
    }
    let err = ess_bulk(nan.view()).unwrap_err().to_string();
    assert!(err.contains("chain 1, draw 7"), "{err}");
    let ok = ar1(0.5, 1, 4, 8); // the minimum: one chain of 4 draws
    assert!(ess_bulk(ok.view()).unwrap().is_finite());
    assert!(split_rhat(ok.view()).unwrap().is_finite());
    assert!(is_invalid(ess_quantile(ok.view(), 1.5)));
    assert!(is_invalid(quantile(ok.view(), -0.1)));
    let x3 = Array3::<f64>::zeros((2, 10, 2));
    assert!(matches!(
        summarize(x3.view(), &["a".into()]),
        Err(Error::Shape { .. })
    ));
    let mut x3 = Array3::<f64>::ones((2, 10, 2));
    x3[[0, 1, 1]] = f64::NAN;
    let err = summarize(x3.view(), &["a".into(), "b".into()]).unwrap_err();
    assert!(err.to_string().contains("of b"), "{err}");
}
