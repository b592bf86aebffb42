//! The integration tests in one binary (one link of the library instead of one per
//! file): each module is one former test file, named after what it checks.
//! `tests/alloc.rs` stays apart because it installs a counting global allocator.
//! Run one module with `cargo test --release --test suite -- MODULE::`.

mod a_long_runs;
mod checkpoint;
mod cli;
mod cli_config;
mod cli_lock;
mod cli_rbm_resume;
mod cli_toy_resume;
mod cli_vae;
mod common;
mod conditional;
mod contrastive;
mod contrastive_grid;
mod contrastive_resume;
mod conv;
mod data;
mod diagnostics;
mod energy;
mod engine;
mod free_energy;
mod fuzz;
mod gibbs;
mod golden;
mod hostile;
mod image_ebm;
mod info;
mod iwae;
mod lagrangian;
mod mcmc;
mod nuts;
mod optim;
mod partition;
mod plot;
mod rbm;
mod readme;
mod report;
mod targets;
mod toy;
mod train;
mod vae;
