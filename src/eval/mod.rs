//! Evaluations of trained models, as the command line prints them: each computes its
//! numbers in a struct and formats them (`Display`) and, where it has one, writes its
//! picture.
//!
//! | evaluation | module |
//! |---|---|
//! | zero-temperature latent inference of a VAE against its free energies | [`latent`] |
//! | a saved VAE: test loss and the importance-weighted NLL estimate | [`vae`] |
//! | an MCMC run: the sampler's draws, their summary table and files | [`sampling`] |
//! | backprop's multipliers and stationarity residuals on a small digits network | [`lagrangian`] |
//! | `log Z_beta` of a built-in energy by quadrature and importance sampling | [`partition`] |
//! | an image EBM: inpainting and denoising of test images by SGLD | [`image_ebm`] |

pub mod image_ebm;
pub mod lagrangian;
pub mod latent;
pub mod partition;
pub mod sampling;
pub mod vae;
