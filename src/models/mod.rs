//! Models built on the engine.

pub mod vae;
