//! # ebm: energy-based models and variational methods
//!
//! A toolkit built on the lecture "Energy-Based Models, Variational Methods" (LeCun).
//! Each lecture concept has a module of its own:
//!
//! | concept | module |
//! |---|---|
//! | a network as constraints `z_{k+1} = g_k(z_k, w_k)`; fprop / bprop | [`nn`] |
//! | backprop as Lagrangian optimization (states, multipliers, residuals) | [`nn::lagrangian`] |
//! | optimizers (SGD, Adam, AdamW), clipping, weight decay | [`nn::optim`] |
//! | checkpoints (safetensors + config, atomic) | [`nn::checkpoint`] |
//! | the variational auto-encoder (variational free energy) | [`models::vae`] |
//! | data: MNIST (IDX), UCI digits (embedded) | [`data`] |
//!
//! Conventions: the first axis of every array is the batch; f32 for training, f64 for
//! accumulated losses and likelihoods; units (`nats`, `bits`) are in names; every entry
//! point takes a seed.

pub mod bench;
pub mod data;
pub mod error;
pub mod models;
pub mod nn;
pub mod threads;

pub use error::{Error, Result};
