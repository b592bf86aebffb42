//! Learning-rate schedules, once for every model: `lr_t = lr * f(t / T)` over the `T`
//! rounds (epochs, or updates) of a run.
//!
//! | name | `lr_t` (round `t` of `T`, 1-based) | used by |
//! |---|---|---|
//! | `constant` | `lr` | default |
//! | `cosine` | `lr (0.1 + 0.9 (1 + cos(pi (t-1)/(T-1))) / 2)`: down to `lr / 10` | VAE (IWAE recipe) |
//! | `iwae` | `lr 10^(-i/7)` in pass `i`, pass `i` lasting `3^i` epochs (Burda et al. 2016) | VAE |
//! | `linear` | `lr + (t-1)/(T-1) (lr_final - lr)` | RBM |
//! | `steps` | `lr gamma^(number of fractions f <= (t-1)/T)` | toy EBM (x0.1 at 50% and 75%) |
//! | `exponential` | `lr gamma^(t-1)` | classifier (`--lr-decay`) |

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A learning-rate schedule over the rounds of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    Constant,
    /// Cosine decay to a tenth of the base rate.
    Cosine,
    /// Burda et al.'s passes of `3^i` epochs at `10^(-i/7)`.
    Iwae,
    /// Linear from the base rate to `final_lr`.
    Linear {
        final_lr: f32,
    },
    /// Multiplied by `gamma` at each fraction of the run in `at`.
    Steps {
        at: Vec<f64>,
        gamma: f32,
    },
    /// Multiplied by `gamma` every round.
    Exponential {
        gamma: f32,
    },
}

impl Schedule {
    /// The schedule named `name` (`constant`, `cosine`, `iwae`), as the CLI's
    /// `--schedule` takes it.
    pub fn from_name(name: &str) -> Result<Schedule> {
        match name {
            "constant" => Ok(Schedule::Constant),
            "cosine" => Ok(Schedule::Cosine),
            "iwae" => Ok(Schedule::Iwae),
            o => Err(Error::invalid(
                "--schedule",
                format!("`{o}` is not one of constant, iwae, cosine"),
            )),
        }
    }

    /// The learning rate of round `t` (1-based) of `total`, from base rate `lr`.
    pub fn lr(&self, lr: f32, t: usize, total: usize) -> f32 {
        let t = t.max(1);
        match self {
            Schedule::Constant => lr,
            Schedule::Cosine => {
                let x = (t - 1) as f32 / (total.max(2) - 1) as f32;
                lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f32::consts::PI * x.min(1.0)).cos()))
            }
            Schedule::Iwae => {
                // Pass i covers epochs (3^0 + ... + 3^(i-1)) + 1 ..= 3^0 + ... + 3^i.
                let (mut i, mut end) = (0i32, 1usize);
                while t > end {
                    i += 1;
                    end = end.saturating_add(3usize.saturating_pow(i as u32));
                }
                lr * 10f32.powf(-(i as f32) / 7.0)
            }
            Schedule::Linear { final_lr } => {
                let x = if total > 1 {
                    ((t - 1).min(total - 1)) as f32 / (total - 1) as f32
                } else {
                    0.0
                };
                lr + x * (final_lr - lr)
            }
            Schedule::Steps { at, gamma } => {
                let frac = (t - 1) as f64 / total.max(1) as f64;
                let n = at.iter().filter(|&&f| frac >= f).count();
                lr * gamma.powi(n as i32)
            }
            Schedule::Exponential { gamma } => lr * gamma.powi((t - 1) as i32),
        }
    }
}
