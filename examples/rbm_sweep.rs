//! Where a block-Gibbs sweep of a 784-500 RBM on a batch of 100 spends its time:
//! the two products (with bias + sigmoid) and the two Bernoulli draws.
//! `cargo run --release --example rbm_sweep -- [threads]`
use ebm::models::rbm::Rbm;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn main() {
    let threads: usize = std::env::args().nth(1).map_or(1, |s| s.parse().unwrap());
    ebm::threads::set_threads(threads).unwrap();
    let rbm = Rbm::new(784, 500, 0.05, 0).unwrap();
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
    let v = Array2::from_shape_fn((100, 784), |_| {
        f32::from(u8::from(rng.r#gen::<f32>() < 0.2))
    });
    let n = 600;
    let (mut th, mut tv, mut tb) = (0.0, 0.0, 0.0);
    let mut vv = v.clone();
    for _ in 0..n {
        let t = Instant::now();
        let ph = rbm.hidden_probs(vv.view()).unwrap(); // [100, 500]
        th += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let h = ph.mapv(|p| f32::from(u8::from(rng.r#gen::<f32>() < p)));
        tb += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let pv = rbm.visible_probs(h.view()).unwrap(); // [100, 784]
        tv += t.elapsed().as_secs_f64();
        let t = Instant::now();
        vv = pv.mapv(|p| f32::from(u8::from(rng.r#gen::<f32>() < p)));
        tb += t.elapsed().as_secs_f64();
    }
    let gf = 2.0 * 100.0 * 784.0 * 500.0 * n as f64 / 1e9;
    println!(
        "per epoch-sweep (600 batches): hidden {:.3} s ({:.0} GFLOP/s), visible {:.3} s ({:.0} GFLOP/s), bernoulli {:.3} s",
        th,
        gf / th,
        tv,
        gf / tv,
        tb
    );
}
