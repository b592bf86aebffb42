//! Free energies (SPEC sections 4 and 6) against the closed forms of a linear decoder with
//! a quadratic cost, `E(y, z) = 1/2 |y - W z|^2`, prior `N(0, I)`:
//! `F_beta(y) = 1/(2 beta) log det M - beta/2 y^T W M^-1 W^T y + 1/2 |y|^2`, `M = I + beta W^T W`;
//! the posterior is `N(beta M^-1 W^T y, M^-1)`.

use ebm::energy::LatentEnergy;
use ebm::free_energy::{
    GaussianQ, Prior, by_importance, by_quadrature, minimize_variational, variational,
    zero_temperature,
};
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// `W` with orthogonal columns (so `W^T W` is diagonal and the posterior factorizes).
struct Linear {
    w: Array2<f64>, // [dim_y, dim_z]
}

impl LatentEnergy for Linear {
    fn dim_y(&self) -> usize {
        self.w.nrows()
    }
    fn dim_z(&self) -> usize {
        self.w.ncols()
    }
    fn energy(&self, y: ArrayView2<f64>, z: ArrayView2<f64>, out: &mut [f64]) {
        let r = &y - &z.dot(&self.w.t()); // [batch, dim_y]
        for (o, row) in out.iter_mut().zip(r.rows()) {
            *o = 0.5 * row.iter().map(|v| v * v).sum::<f64>();
        }
    }
    fn energy_grad_z(
        &self,
        y: ArrayView2<f64>,
        z: ArrayView2<f64>,
        out: &mut [f64],
        mut g: ArrayViewMut2<f64>,
    ) {
        let r = &y - &z.dot(&self.w.t());
        self.energy(y, z, out);
        g.assign(&(-r.dot(&self.w))); // dE/dz = -W^T (y - W z)
    }
}

fn model() -> (Linear, Vec<f64>) {
    // Columns (1, 1, 0) * 1.5 and (1, -1, 1) * 0.8: orthogonal.
    let w = Array2::from_shape_vec((3, 2), vec![1.5, 0.8, 1.5, -0.8, 0.0, 0.8]).unwrap();
    (Linear { w }, vec![0.7, -0.4, 1.1])
}

fn closed_form(l: &Linear, y: &[f64], beta: f64) -> (f64, Vec<f64>, Vec<f64>) {
    let mut f = 0.5 * y.iter().map(|v| v * v).sum::<f64>();
    let (mut mean, mut std) = (vec![], vec![]);
    for j in 0..l.dim_z() {
        let c: f64 = l.w.column(j).iter().map(|v| v * v).sum();
        let wy: f64 = l.w.column(j).iter().zip(y).map(|(a, b)| a * b).sum();
        let m = 1.0 + beta * c;
        f += m.ln() / (2.0 * beta) - 0.5 * beta * wy * wy / m;
        mean.push(beta * wy / m);
        std.push((1.0 / m).sqrt());
    }
    (f, mean, std)
}

#[test]
fn free_energy_matches_the_gaussian_integral() {
    let (l, y) = model();
    for beta in [0.5, 1.0, 3.0] {
        let (truth, _, _) = closed_form(&l, &y, beta);
        let q = by_quadrature(
            &l,
            &y,
            Prior::Gaussian { r: 1.0 },
            beta,
            &[-9.0, -9.0],
            &[9.0, 9.0],
            300,
        )
        .unwrap();
        assert!(
            (q.value - truth).abs() <= 4.0 * q.std_err + 1e-6,
            "quadrature beta {beta}: {} vs {truth}",
            q.value
        );
        let is = by_importance(
            &l,
            &y,
            Prior::Gaussian { r: 1.0 },
            beta,
            &[0.0, 0.0],
            &[1.5, 1.5],
            40_000,
            1,
        )
        .unwrap();
        assert!(
            (is.value - truth).abs() <= 4.0 * is.std_err,
            "IS beta {beta}: {} ± {} vs {truth}",
            is.value,
            is.std_err
        );
    }
}

#[test]
fn free_energy_tends_to_the_minimum_energy_as_beta_grows() {
    let (l, y) = model();
    let (e_min, z_star) = zero_temperature(&l, &y, &[0.0, 0.0], 0.1, 10_000, 1e-12).unwrap();
    // Least squares: the residual outside the column space of W.
    let (_, m_inf, _) = closed_form(&l, &y, 1e9);
    assert!(
        (z_star[0] - m_inf[0]).abs() < 1e-6 && (z_star[1] - m_inf[1]).abs() < 1e-6,
        "{z_star:?} vs {m_inf:?}"
    );
    let mut last_gap = f64::INFINITY;
    for beta in [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0] {
        let (f, _, _) = closed_form(&l, &y, beta);
        let gap = (f - e_min).abs();
        assert!(
            gap < last_gap,
            "beta {beta}: gap {gap} did not shrink from {last_gap}"
        );
        last_gap = gap;
        if beta <= 16.0 {
            let lim = 12.0 / beta.sqrt();
            let q = by_quadrature(
                &l,
                &y,
                Prior::Gaussian { r: 1.0 },
                beta,
                &[m_inf[0] - lim, m_inf[1] - lim],
                &[m_inf[0] + lim, m_inf[1] + lim],
                300,
            )
            .unwrap();
            assert!((q.value - f).abs() < 1e-5, "beta {beta}");
        }
    }
    assert!(last_gap < 0.01);
}

#[test]
fn jensen_bound_holds_and_is_tight_at_the_posterior() {
    let (l, y) = model();
    let beta = 1.0;
    let prior = Prior::Gaussian { r: 1.0 };
    let (f, mean, std) = closed_form(&l, &y, beta);
    // Random q: F <= F~_q.
    for (k, (m0, s0)) in [(0.0, 1.0), (1.0, 0.3), (-0.5, 2.0), (0.3, 0.5)]
        .iter()
        .enumerate()
    {
        let q = GaussianQ {
            mean: vec![*m0, -*m0],
            std: vec![*s0, *s0 * 1.3],
        };
        let fq = variational(&l, &y, &q, prior, beta, 20_000, k as u64).unwrap();
        assert!(
            fq.value + 4.0 * fq.std_err >= f,
            "q {k}: F~ {} ± {} < F {f}",
            fq.value,
            fq.std_err
        );
    }
    // The exact posterior: equality within the error.
    let q_star = GaussianQ {
        mean: mean.clone(),
        std: std.clone(),
    };
    let fq = variational(&l, &y, &q_star, prior, beta, 200_000, 9).unwrap();
    assert!(
        (fq.value - f).abs() <= 4.0 * fq.std_err,
        "F~(q*) {} ± {} vs F {f}",
        fq.value,
        fq.std_err
    );
    // Minimizing F~ over Gaussian q recovers the posterior (conjugate case).
    let q0 = GaussianQ {
        mean: vec![2.0, 2.0],
        std: vec![2.0, 0.2],
    };
    let q = minimize_variational(&l, &y, q0, prior, beta, 0.05, 3000, 4096, 3).unwrap();
    for j in 0..2 {
        assert!(
            (q.mean[j] - mean[j]).abs() < 0.02,
            "mean {j}: {} vs {}",
            q.mean[j],
            mean[j]
        );
        assert!(
            (q.std[j] / std[j] - 1.0).abs() < 0.03,
            "std {j}: {} vs {}",
            q.std[j],
            std[j]
        );
    }
}
