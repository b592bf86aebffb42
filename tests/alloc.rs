//! "No allocation in a steady-state step": a counting global allocator watches
//! training steps of the VAE, energy-gradient passes of a sampler and a conv energy's
//! training pass after warm-up.
//!
//! The engine's own buffers are made once. The `gemm` crate still allocates per call:
//! a packing buffer (4 KiB or more) for some products and small bookkeeping vectors,
//! at most one of each per product. The allocator hands those same blocks back every
//! step, so they cost no page faults: the oracle is (1) at most one large allocation
//! per matrix product, (2) the same count every step (nothing grows), and (3) no new
//! page of memory touched over many steady-state steps (minor page faults, Linux).

use ebm::data::digits::Digits;
use ebm::models::vae::{Vae, VaeConfig};
use ebm::nn::optim::OptimConfig;
use ebm::nn::{
    Activation, ActivationKind, AvgPool2d, Conv2d, ConvGeom, Linear, Module, Parallelism,
    Sequential, init::Init,
};
use ndarray::{Array2, s};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus as Rng64;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

struct Counting;
static ON: AtomicBool = AtomicBool::new(false);
static SMALL: AtomicUsize = AtomicUsize::new(0);
static LARGE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator with the caller's layout and
// pointer unchanged; the counters are atomics and allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Relaxed) {
            if l.size() >= 4096 {
                LARGE.fetch_add(1, Relaxed);
            } else {
                SMALL.fetch_add(1, Relaxed);
            }
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if ON.load(Relaxed) {
            if n >= 4096 {
                LARGE.fetch_add(1, Relaxed);
            } else {
                SMALL.fetch_add(1, Relaxed);
            }
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn counted(f: impl FnOnce()) -> (usize, usize) {
    SMALL.store(0, Relaxed);
    LARGE.store(0, Relaxed);
    ON.store(true, Relaxed);
    f();
    ON.store(false, Relaxed);
    (LARGE.load(Relaxed), SMALL.load(Relaxed))
}

#[test]
fn steady_state_steps_allocate_no_buffers() {
    ebm::threads::set_threads(1).unwrap();
    // VAE training step.
    let x = Digits::embedded().images.slice(s![..128, ..]).to_owned();
    let cfg = VaeConfig {
        input_dim: 64,
        ..VaeConfig::pytorch_mnist()
    };
    let mut rng = Rng64::seed_from_u64(0);
    let mut vae = Vae::new(cfg, &mut rng).unwrap();
    let mut opt = OptimConfig::adam(1e-3).build();
    for _ in 0..3 {
        vae.train_step(x.view(), &mut rng, opt.as_mut()).unwrap();
    }
    // 4 Linear layers and 2 heads: at most 3 products each, 17 in all (the first layer
    // has no input gradient).
    let products = 17;
    let (large, small) = counted(|| {
        vae.train_step(x.view(), &mut rng, opt.as_mut()).unwrap();
    });
    assert!(
        large <= products,
        "VAE step allocated {large} buffers of 4 KiB or more"
    );
    assert!(
        small <= 4 * products,
        "VAE step made {small} small allocations"
    );
    let faults0 = minor_faults();
    for _ in 0..20 {
        let again = counted(|| {
            vae.train_step(x.view(), &mut rng, opt.as_mut()).unwrap();
        });
        assert_eq!(again, (large, small), "allocations changed between steps");
    }
    if let (Some(a), Some(b)) = (faults0, minor_faults()) {
        assert!(
            b - a < 16,
            "{} minor page faults in 20 steady-state VAE steps",
            b - a
        );
    }

    // Sampler pass: energy and input gradient of 4,096 chains.
    let e = Sequential::mlp(
        2,
        &[128, 128],
        1,
        ActivationKind::Silu,
        Init::PyTorchDefault,
        &mut rng,
    );
    let y = Array2::<f32>::from_elem((4096, 2), 0.3);
    let mut g = Array2::<f32>::zeros((4096, 2));
    let mut en = vec![0.0f32; 4096];
    let mut pool = Vec::new();
    e.energy_and_grad(y.view(), &mut en, g.view_mut(), &mut pool, 256);
    let faults0 = minor_faults();
    let (large, small) =
        counted(|| e.energy_and_grad(y.view(), &mut en, g.view_mut(), &mut pool, 256));
    // 16 tiles, 5 products each (fprop and input gradient of the 128x128 layer go
    // through gemm; the thin layers do not).
    assert!(
        large <= 16 * 2,
        "sampler pass allocated {large} buffers of 4 KiB or more"
    );
    assert!(
        small <= 16 * 2 * 4 + 16,
        "sampler pass made {small} small allocations"
    );
    for _ in 0..20 {
        e.energy_and_grad(y.view(), &mut en, g.view_mut(), &mut pool, 256);
    }
    if let (Some(a), Some(b)) = (faults0, minor_faults()) {
        assert!(
            b - a < 16,
            "{} minor page faults in 21 sampler passes",
            b - a
        );
    }

    // A conv energy's training pass (forward, input and weight gradients) on a batch of
    // 16 images 1x12x12: the im2col scratch is per thread and kept between calls.
    let g1 = ConvGeom::new("c1", (1, 12, 12), 8, (3, 3), 1, 1).unwrap();
    let g2 = ConvGeom::new("c2", (8, 6, 6), 8, (3, 3), 2, 1).unwrap();
    let layers: Vec<Box<dyn Module>> = vec![
        Box::new(Conv2d::new(g1, Init::PyTorchDefault, &mut rng)),
        Box::new(Activation(ActivationKind::LeakyRelu { slope: 0.2 })),
        Box::new(AvgPool2d::new("pool", (8, 12, 12), 2).unwrap()),
        Box::new(Conv2d::new(g2, Init::PyTorchDefault, &mut rng)),
        Box::new(Activation(ActivationKind::LeakyRelu { slope: 0.2 })),
        Box::new(Linear::new(8 * 3 * 3, 1, Init::PyTorchDefault, &mut rng)),
    ];
    let mut net = Sequential::new(144, layers).unwrap();
    let x = Array2::<f32>::from_shape_fn((16, 144), |(i, j)| ((i * 7 + j) % 13) as f32 / 13.0);
    let ones = Array2::<f32>::ones((16, 1));
    let mut ws = net.workspace(16);
    let mut pass = |net: &mut Sequential| {
        net.forward(x.view(), &mut ws, Parallelism::None);
        net.backward(ones.view(), &mut ws, true, Parallelism::None);
    };
    for _ in 0..2 {
        pass(&mut net);
    }
    let (large, small) = counted(|| pass(&mut net));
    // 2 conv layers x 16 images x 3 products, the thin linear head without gemm.
    let products = 2 * 16 * 3;
    assert!(
        large <= products,
        "conv pass allocated {large} buffers of 4 KiB or more"
    );
    assert!(
        small <= 4 * products,
        "conv pass made {small} small allocations"
    );
    let faults0 = minor_faults();
    for _ in 0..20 {
        assert_eq!(counted(|| pass(&mut net)), (large, small), "conv pass grew");
    }
    if let (Some(a), Some(b)) = (faults0, minor_faults()) {
        assert!(b - a < 16, "{} minor page faults in 20 conv passes", b - a);
    }
}

/// Minor page faults of this process so far (field 10 of /proc/self/stat).
fn minor_faults() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    rest.split_whitespace().nth(7)?.parse().ok()
}
