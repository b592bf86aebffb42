//! Information content of a latent (in progress).
