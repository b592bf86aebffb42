//! The tour's report (`ebm tour`): its four parts, the lecture's section titles, what
//! each part shows, and the numbers each part's run folder wrote, read back from their
//! CSV files (`1-gibbs/log_z.csv`, `2-toy-8gaussians/metrics.csv`, `3-vae/metrics.csv`,
//! `3-fuzzy-balls/fuzzy_balls.csv`, `4-lagrangian/residuals.csv`).

use super::{Number, Part};
use crate::Result;
use std::path::Path;

/// The last row of `dir/file` (a CSV with a header) as `column -> value`.
fn last_row(dir: &Path, file: &str) -> Result<Vec<(String, f64)>> {
    rows(dir, file).map(|mut r| r.pop().unwrap_or_default())
}

/// Every row of `dir/file` as `column -> value` (non-numbers are NaN).
fn rows(dir: &Path, file: &str) -> Result<Vec<Vec<(String, f64)>>> {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).map_err(|e| crate::Error::io(&p, e))?;
    let m = super::Metrics::parse(&text, &p)?;
    Ok(m.rows
        .iter()
        .map(|r| m.columns.iter().cloned().zip(r.iter().copied()).collect())
        .collect())
}

fn get(row: &[(String, f64)], col: &str) -> f64 {
    row.iter()
        .find(|(c, _)| c == col)
        .map_or(f64::NAN, |(_, v)| *v)
}

/// Part 1's numbers: log Z per beta, by importance sampling (with its standard error)
/// and by quadrature.
fn gibbs_numbers(out: &Path) -> Result<Vec<super::Number>> {
    let mut p1 = Vec::new();
    for r in &rows(&out.join("1-gibbs"), "log_z.csv")? {
        let b = get(r, "beta");
        p1.push(Number {
            se: Some(get(r, "log_z_importance_se")),
            ..Number::new(
                format!("log Z at beta {b}, importance sampling"),
                get(r, "log_z_importance"),
                "nats",
            )
        });
        p1.push(Number::new(
            format!("log Z at beta {b}, quadrature"),
            get(r, "log_z_quadrature"),
            "nats",
        ));
    }
    Ok(p1)
}

/// Part 3's numbers: the VAE's last test loss and KL, the fuzzy balls' mean sigmas.
fn latent_numbers(out: &Path) -> Result<Vec<super::Number>> {
    let vae = last_row(&out.join("3-vae"), "metrics.csv")?;
    let mut p3 = vec![
        Number::new(
            "VAE test loss <E>_q + KL per digit",
            get(&vae, "test_loss"),
            "nats",
        ),
        Number::new(
            "VAE test KL(q || p) per digit",
            get(&vae, "test_kl"),
            "nats",
        ),
    ];
    for r in &rows(&out.join("3-fuzzy-balls"), "fuzzy_balls.csv")? {
        let w = get(r, "kl_weight");
        p3.push(Number::new(
            format!("2-D codes, KL weight {w}: mean sigma of q(z|y)"),
            get(r, "mean_sigma"),
            "",
        ));
    }
    Ok(p3)
}

/// Part 4's numbers: the stationarity residual at and off the forward solution.
fn lagrangian_numbers(out: &Path) -> Result<Vec<super::Number>> {
    let lag = rows(&out.join("4-lagrangian"), "residuals.csv")?;
    Ok(lag
        .iter()
        .zip(["at the forward solution", "with z_2 moved off it by 0.05"])
        .map(|(r, what)| {
            super::Number::new(
                format!("stationarity residual dL/dlambda {what}"),
                get(r, "lambda_residual"),
                "",
            )
        })
        .collect())
}

/// The four parts of the tour's report, with the numbers each part wrote.
pub fn parts(out: &Path) -> Result<Vec<Part>> {
    let p1 = gibbs_numbers(out)?;
    let toy = last_row(&out.join("2-toy-8gaussians"), "metrics.csv")?;
    let p3 = latent_numbers(out)?;
    let p4 = lagrangian_numbers(out)?;
    Ok(vec![
        Part {
            title: "1. Energies to probabilities: P_beta(y) = exp(-beta E(y)) / Z_beta".into(),
            text: "The double-well energy turned into the Gibbs distribution at three inverse \
                   temperatures: log Z by quadrature (exact to rounding) and by importance \
                   sampling (with its standard error and effective sample size); the free \
                   energy F = -log Z / beta. Low beta spreads the mass over both wells, high \
                   beta concentrates it in the minima."
                .into(),
            numbers: p1,
            dirs: vec!["1-gibbs".into()],
        },
        Part {
            title: "2. Maximum likelihood as a contrastive method".into(),
            text: "An MLP energy on 8 Gaussians trained by maximum likelihood read as a \
                   contrastive method: push the energy of data down, of persistent Langevin \
                   samples up, with an energy-magnitude penalty. The test NLL, the KL from \
                   the data and log Z are exact (quadrature on a grid), not estimates."
                .into(),
            numbers: vec![
                Number::new("exact test NLL", get(&toy, "test_nll"), "nats"),
                Number::new("KL(p_data || p_model)", get(&toy, "kl"), "nats"),
                Number::new("log Z", get(&toy, "log_z"), "nats"),
                Number::new("updates", get(&toy, "step"), ""),
            ],
            dirs: vec!["2-toy-8gaussians".into()],
        },
        Part {
            title: "3. Latent variables: the VAE as variational free energy <E>_q + KL(q || p)"
                .into(),
            text: "The VAE on the embedded UCI digits: its loss is the variational free \
                   energy, the expected energy under the encoder's q(z|y) plus KL(q || p). \
                   Then 2-D codes with and without the KL term: without it the balls of \
                   q(z|y) shrink to points (mean sigma near 0) and drift apart; with it they \
                   stay fuzzy and packed near the prior."
                .into(),
            numbers: p3,
            dirs: vec!["3-vae".into(), "3-fuzzy-balls".into()],
        },
        Part {
            title: "4. Backprop as Lagrangian optimization".into(),
            text: "A small network as a chain of constraints z_k = f_k(z_(k-1), w_k): the \
                   multipliers lambda_k of the Lagrangian are the adjoints backprop computes \
                   (checked against finite differences), and all three stationarity \
                   conditions hold at the forward solution (residual 0) but not off it."
                .into(),
            numbers: p4,
            dirs: vec!["4-lagrangian".into()],
        },
    ])
}
