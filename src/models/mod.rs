//! Models built on the engine.

pub mod conditional;
pub mod image_ebm;
pub mod iwae;
pub mod latent_inference;
pub mod rbm;
pub mod vae;
