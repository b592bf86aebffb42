//! Models built on the engine.

pub mod conditional;
pub mod rbm;
pub mod vae;
