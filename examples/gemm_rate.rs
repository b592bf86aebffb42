//! GEMM throughput of this machine at the VAE's, the sampler's and the RBM's shapes,
//! through `ebm::nn::matmul` (the `gemm` crate on the arrays' strides), for 1 thread and
//! all threads. Expected on a 2-core x86-64 with AVX2: about 60-70 GFLOP/s on one thread
//! and 95-120 on two; with AVX-512 (Zen 5): about 210-235 and 290-440.
//!
//! Run: `cargo run --release --example gemm_rate`

use ebm::nn::matmul::matmul;
use gemm::Parallelism;
use ndarray::Array2;
use std::time::Instant;

fn rate(m: usize, k: usize, n: usize, trans_b: bool, par: Parallelism) -> f64 {
    let a = Array2::from_shape_fn((m, k), |(i, j)| ((i + j) % 7) as f32 * 0.1);
    let b = Array2::from_shape_fn(if trans_b { (n, k) } else { (k, n) }, |(i, j)| {
        ((i * 3 + j) % 5) as f32 * 0.1
    });
    let mut c = Array2::<f32>::zeros((m, n));
    let reps = (2e10 / (2.0 * (m * k * n) as f64)).ceil() as usize;
    let run = |c: &mut Array2<f32>| {
        let bv = if trans_b { b.t() } else { b.view() };
        matmul(a.view(), bv, c.view_mut(), false, par);
    };
    run(&mut c);
    let t = Instant::now();
    for _ in 0..reps {
        run(&mut c);
    }
    2.0 * (m * k * n * reps) as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    ebm::threads::in_pool(|| {
        for (m, k, n, t, what) in [
            (128, 784, 400, true, "encoder fprop  x W1^T"),
            (128, 400, 784, false, "decoder bprop  dY W4"),
            (400, 128, 784, false, "weight grad    dY^T X"),
            (256, 128, 128, true, "sampler tile   128x128"),
            (100, 784, 500, false, "rbm hidden     v W"),
            (100, 500, 784, true, "rbm visible    h W^T"),
            (100, 500, 784, false, "rbm visible    h Wt (copy)"),
            (784, 200, 500, false, "rbm gradient   [v0;vk]^T P"),
        ] {
            let one = rate(m, k, n, t, Parallelism::None);
            let all = rate(m, k, n, t, Parallelism::Rayon(threads));
            println!(
                "{what:<24} [{m}x{k}]x[{k}x{n}]: {one:6.1} GFLOP/s on 1 thread, {all:6.1} on {threads}"
            );
        }
    });
}
