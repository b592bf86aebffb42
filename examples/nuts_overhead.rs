//! The cost of running NUTS through the `Energy` trait: nuts-rs called directly on T1
//! (a `CpuLogpFunc` written straight against slices) against `ebm::nuts::sample_nuts` on
//! `targets::t1()`, 1 chain, 1,000 warm-up + 1,000 draws, the same seed, settings and
//! initial point. Both compute the same floating-point log density and gradient, so the
//! draws must be identical (and the gradient counts, but for the one evaluation
//! `sample_nuts` spends checking its initial point) and the time ratio is the adapter's
//! overhead. Wall and thread-CPU seconds (the latter immune to other processes on a busy
//! machine), median of 7 runs each (interleaved, after one untimed run of each); one JSON line per implementation, then
//! the ratio.
//!
//! `cargo run --release --example nuts_overhead [seed]`

use ebm::nuts::{NutsConfig, chain_rng, sample_nuts};
use ndarray::Array2;
use nuts_rs::rand::RngExt;
use nuts_rs::{Chain, CpuLogpFunc, CpuMath, CpuMathError, HasDims, LogpError, Settings};
use std::cell::Cell;
use std::collections::HashMap;
use std::time::Instant;

#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl std::error::Error for Never {}

impl LogpError for Never {
    fn is_recoverable(&self) -> bool {
        false
    }
}

/// T1 on slices: `log p = -sum (y_j / s_j)^2 / 2`.
struct T1Direct<'a> {
    std: Vec<f64>,
    evals: &'a Cell<u64>,
}

impl HasDims for T1Direct<'_> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([("unconstrained_parameter".to_string(), self.std.len() as u64)])
    }
}

impl CpuLogpFunc for T1Direct<'_> {
    type LogpError = Never;
    type FlowParameters = ();
    type ExpandedVector = ();

    fn dim(&self) -> usize {
        self.std.len()
    }

    fn logp(&mut self, position: &[f64], grad: &mut [f64]) -> Result<f64, Never> {
        self.evals.set(self.evals.get() + 1);
        let mut logp = 0.0;
        for ((g, y), s) in grad.iter_mut().zip(position).zip(&self.std) {
            let u = y / s;
            *g = -u / s;
            logp -= 0.5 * u * u;
        }
        Ok(logp)
    }

    fn expand_vector<R: nuts_rs::rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        _array: &[f64],
    ) -> Result<(), CpuMathError> {
        Ok(())
    }
}

/// nuts-rs by hand, seeded and started as `sample_nuts` does for chain 0.
fn direct(cfg: &NutsConfig, std: &[f64]) -> (Array2<f64>, u64) {
    let evals = Cell::new(0);
    let mut rng = chain_rng(cfg.seed, 0);
    let init: Vec<f64> = std.iter().map(|_| rng.random_range(-2.0..=2.0)).collect();
    let math = CpuMath::new(T1Direct {
        std: std.to_vec(),
        evals: &evals,
    });
    let mut chain = cfg.settings().new_chain(0, math, &mut rng).unwrap();
    chain.set_position(&init).unwrap();
    for _ in 0..cfg.warmup {
        chain.draw().unwrap();
    }
    let mut draws = Array2::zeros((cfg.draws as usize, std.len()));
    for mut row in draws.rows_mut() {
        let (position, _) = chain.draw().unwrap();
        row.as_slice_mut().unwrap().copy_from_slice(&position);
    }
    (draws, evals.get())
}

/// This thread's time on a CPU, in seconds (Linux: `/proc/thread-self/schedstat`), so
/// that other processes on a busy machine do not count; `NaN` where unavailable.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns * 1e-9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let seed = std::env::args()
        .nth(1)
        .map_or(0, |s| s.parse().expect("seed: an integer"));
    let cfg = NutsConfig {
        warmup: 1000,
        draws: 1000,
        chains: 1,
        seed,
        ..Default::default()
    };
    let t1 = ebm::targets::t1();
    let (mut t_direct, mut t_ebm) = (vec![], vec![]);
    let (mut c_direct, mut c_ebm) = (vec![], vec![]);
    let (mut g_direct, mut g_ebm, mut same) = (0, 0, true);
    // One untimed run of each first (page faults, caches), then 7 timed, interleaved.
    direct(&cfg, &t1.std);
    sample_nuts(&t1, &cfg).unwrap();
    for _ in 0..7 {
        let (t, c) = (Instant::now(), cpu_seconds());
        let (d, g) = direct(&cfg, &t1.std);
        c_direct.push(cpu_seconds() - c);
        t_direct.push(t.elapsed().as_secs_f64());
        // One chain runs on the calling thread, so its CPU time is this thread's.
        let (t, c) = (Instant::now(), cpu_seconds());
        let trace = sample_nuts(&t1, &cfg).unwrap();
        c_ebm.push(cpu_seconds() - c);
        t_ebm.push(t.elapsed().as_secs_f64());
        same &= trace.draws.index_axis(ndarray::Axis(0), 0) == d;
        (g_direct, g_ebm) = (g, trace.grad_evals);
    }
    let (s_direct, s_ebm) = (median(t_direct.clone()), median(t_ebm.clone()));
    let (cs_direct, cs_ebm) = (median(c_direct), median(c_ebm));
    let line = |name: &str, grads: u64, secs: f64, cpu: f64, runs: &[f64]| {
        serde_json::json!({
            "impl": name, "target": "t1", "chains": 1, "warmup": cfg.warmup,
            "draws": cfg.draws, "seed": seed, "grad_evals": grads, "seconds": secs,
            "cpu_seconds": cpu, "runs": runs,
        })
    };
    println!(
        "{}",
        line("nuts-rs direct", g_direct, s_direct, cs_direct, &t_direct)
    );
    println!("{}", line("ebm sample_nuts", g_ebm, s_ebm, cs_ebm, &t_ebm));
    println!(
        "{}",
        serde_json::json!({
            "ratio": s_ebm / s_direct, "cpu_ratio": cs_ebm / cs_direct,
            "identical_draws": same,
        })
    );
}
