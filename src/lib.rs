//! # ebm: energy-based models and variational methods
//!
//! A toolkit built on the lecture "Energy-Based Models, Variational Methods" (LeCun).
//! Each lecture concept has a module of its own:
//!
//! | concept | module |
//! |---|---|
//! | energies `E(y)` over batches and their gradients; the MLP energy | [`energy`] |
//! | the Gibbs distribution `exp(-beta E) / Z`, log-sum-exp, free energy | [`gibbs`] |
//! | partition functions: quadrature, importance sampling, AIS | [`partition`] |
//! | free energies over a latent variable | [`free_energy`] |
//! | information content of a latent, KL | [`info`] |
//! | maximum likelihood as a contrastive method (negatives, replay buffer, grid) | [`contrastive`] |
//! | a contrastive EBM on a 2-D toy set, evaluated exactly; the canyon | [`toy_ebm`] |
//! | toy 2-D data sets (FFJORD's), closed-form densities | [`toy`] |
//! | exact evaluation of a 2-D energy model (log Z, NLL, KL by quadrature) | [`exact2d`] |
//! | MCMC kernels on batches of chains (MH, ULA, MALA, HMC), warm-up, tempering | [`mcmc`] |
//! | NUTS (through nuts-rs) | [`nuts`] |
//! | MCMC diagnostics: rank-normalized R-hat, bulk/tail ESS, MCSE | [`diagnostics`] |
//! | the sampler target suite T1-T5 | [`targets`] |
//! | a network as constraints `z_{k+1} = g_k(z_k, w_k)`; fprop / bprop | [`nn`] |
//! | backprop as Lagrangian optimization (states, multipliers, residuals) | [`nn::lagrangian`] |
//! | optimizers (SGD, Adam, AdamW), clipping, weight decay | [`nn::optim`] |
//! | checkpoints (safetensors + config, atomic, checked before building) | [`nn::checkpoint`] |
//! | the VAE (variational free energy), IWAE, RBM, conditional EBM | [`models`] |
//! | one training loop (`fit`), run folders, schedules | [`train`] |
//! | evaluations of trained models (IWAE bound, AIS, sampling summaries) | [`eval`] |
//! | data: MNIST (IDX), UCI digits (embedded) | [`data`] |
//! | figures (PNG or SVG; axes by `plotters`), HTML reports, progress bars, atomic files | [`figures`], [`chart`], [`plot`], [`report`], [`progress`], [`io`] |
//! | the memory budget of a command; the thread knob; errors | [`budget`], [`threads`], [`error`] |
//! | the benchmark workloads | [`bench`](mod@bench) |
//!
//! The crates the public API takes are re-exported, so a user's versions cannot
//! disagree with the library's: [`ndarray`] (arrays), [`rand`] (random generators).
//!
//! ## The engine in one screen
//!
//! ```
//! use ebm::nn::{init::Init, optim::OptimConfig, ActivationKind, Cost, Parallelism,
//!               Parameters, Reduction, Sequential, SquaredError};
//! use ndarray::Array2;
//! use rand::SeedableRng;
//!
//! let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0);
//! // z_0 = x -> Linear -> SiLU -> Linear = z_K, widths checked when built.
//! let mut net = Sequential::mlp(2, &[16], 1, ActivationKind::Silu, Init::PyTorchDefault, &mut rng);
//! let mut ws = net.workspace(64); // states and adjoints, made once
//! let mut opt = OptimConfig::adam(1e-2).build();
//! let x = Array2::from_shape_fn((64, 2), |(i, j)| (i as f32 / 32.0 - 1.0) * (j as f32 + 1.0));
//! let y = x.map_axis(ndarray::Axis(1), |r| r[0] * r[1]).insert_axis(ndarray::Axis(1)); // [64, 1]
//! let mut dc = Array2::zeros((64, 1));
//! let mut first = 0.0;
//! for step in 0..300 {
//!     let out = net.forward(x.view(), &mut ws, Parallelism::None); // fprop: [64, 1]
//!     let c = SquaredError(Reduction::Mean).cost_grad(out, y.view(), dc.view_mut());
//!     if step == 0 { first = c; }
//!     net.zero_grad();
//!     net.backward(dc.view(), &mut ws, true, Parallelism::None); // bprop: dC/dz_k, dC/dw_k
//!     opt.step(&mut net);
//! }
//! let out = net.forward(x.view(), &mut ws, Parallelism::None);
//! let last = SquaredError(Reduction::Mean).cost(out, y.view());
//! assert!(last < 0.2 * first, "{first} -> {last}");
//! let dc_dx = ws.grad(0); // the input gradient a sampler uses, [64, 2]
//! assert_eq!(dc_dx.dim(), (64, 2));
//! ```
//!
//! Conventions: the first axis of every array is the batch; f32 for training, f64 for
//! accumulated losses and likelihoods; units (`nats`, `bits`) are in names; every entry
//! point takes a seed.

pub mod bench;
pub mod budget;
pub mod chart;
pub mod contrastive;
pub mod data;
pub mod diagnostics;
pub mod energy;
pub mod error;
pub mod eval;
pub mod exact2d;
pub mod figures;
pub mod free_energy;
pub mod gibbs;
pub mod info;
pub mod io;
pub mod mcmc;
pub mod models;
pub mod nn;
pub mod nuts;
pub mod partition;
pub mod plot;
pub mod progress;
pub mod report;
pub mod targets;
pub mod threads;
pub mod toy;
pub mod toy_ebm;
pub mod train;

pub use error::{Error, Result};
pub use ndarray;
pub use rand;
