//! Warm-up adaptation: the step size by dual averaging (Hoffman and Gelman 2014,
//! algorithm 5) and a diagonal mass matrix from windowed variance estimates (Stan).
//!
//! Dual averaging, with `H_t = delta - alpha_t` the gap to the target acceptance:
//! `Hbar_t = (1 - 1/(t + t0)) Hbar_{t-1} + H_t / (t + t0)`,
//! `log eps_t = mu - sqrt(t) / gamma Hbar_t`,
//! `log epsbar_t = t^{-kappa} log eps_t + (1 - t^{-kappa}) log epsbar_{t-1}`,
//! with `mu = log(10 eps_0)`, `gamma = 0.05`, `t0 = 10`, `kappa = 0.75`; after warm-up
//! the kernel runs at `epsbar`.
//!
//! Mass matrix: `M^{-1} = n/(n + 5) var + 1e-3 * 5/(n + 5)` from the draws of a slow
//! window (Stan's regularization), windows of 25, 50, 100, ... iterations between an
//! initial fast buffer of 75 and a final one of 50.

/// Step-size adaptation by dual averaging.
#[derive(Clone, Debug)]
pub struct DualAveraging {
    mu: f64,
    target: f64,
    h_bar: f64,
    log_eps: f64,
    log_eps_bar: f64,
    t: f64,
}

impl DualAveraging {
    const GAMMA: f64 = 0.05;
    const T0: f64 = 10.0;
    const KAPPA: f64 = 0.75;

    /// Starts at `eps0`, aiming for mean acceptance `target`.
    pub fn new(eps0: f64, target: f64) -> Self {
        DualAveraging {
            mu: (10.0 * eps0).ln(),
            target,
            h_bar: 0.0,
            log_eps: eps0.ln(),
            log_eps_bar: 0.0,
            t: 0.0,
        }
    }

    /// Feed the acceptance of the last transition.
    pub fn update(&mut self, accept: f64) {
        let accept = if accept.is_finite() {
            accept.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.t += 1.0;
        let w = 1.0 / (self.t + Self::T0);
        self.h_bar = (1.0 - w) * self.h_bar + w * (self.target - accept);
        self.log_eps = self.mu - self.t.sqrt() / Self::GAMMA * self.h_bar;
        let k = self.t.powf(-Self::KAPPA);
        self.log_eps_bar = k * self.log_eps + (1.0 - k) * self.log_eps_bar;
    }

    /// The step for the next warm-up transition.
    pub fn current(&self) -> f64 {
        self.log_eps.exp()
    }

    /// The averaged step used after warm-up.
    pub fn final_step(&self) -> f64 {
        if self.t == 0.0 {
            self.log_eps.exp()
        } else {
            self.log_eps_bar.exp()
        }
    }
}

/// Running mean and variance per coordinate (Welford), pooled over chains.
#[derive(Clone, Debug)]
pub struct WelfordVariance {
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl WelfordVariance {
    pub fn new(dim: usize) -> Self {
        WelfordVariance {
            n: 0.0,
            mean: vec![0.0; dim],
            m2: vec![0.0; dim],
        }
    }

    pub fn push(&mut self, x: &[f64]) {
        self.n += 1.0;
        for ((m, s), &v) in self.mean.iter_mut().zip(&mut self.m2).zip(x) {
            let delta = v - *m;
            *m += delta / self.n;
            *s += delta * (v - *m);
        }
    }

    pub fn count(&self) -> usize {
        self.n as usize
    }

    /// Sample variance per coordinate.
    pub fn variance(&self) -> Vec<f64> {
        let n = (self.n - 1.0).max(1.0);
        self.m2.iter().map(|s| s / n).collect()
    }

    /// Stan's shrunk estimate `n/(n + 5) var + 1e-3 * 5/(n + 5)`.
    pub fn regularized_variance(&self) -> Vec<f64> {
        let n = self.n;
        self.variance()
            .into_iter()
            .map(|v| (n / (n + 5.0)) * v + 1e-3 * (5.0 / (n + 5.0)))
            .collect()
    }
}

/// Stan's warm-up windows: a fast initial buffer, doubling slow windows (where the
/// mass matrix is estimated), a fast final buffer.
#[derive(Clone, Debug)]
pub struct WarmupSchedule {
    /// First iteration of the slow phase.
    pub slow_start: usize,
    /// One past the last slow iteration.
    pub slow_end: usize,
    /// The last iteration of each slow window.
    pub window_ends: Vec<usize>,
}

impl WarmupSchedule {
    pub fn stan(warmup: usize) -> Self {
        let (mut init, mut term, mut base) = (75usize, 50usize, 25usize);
        if warmup < 20 {
            return WarmupSchedule {
                slow_start: warmup,
                slow_end: warmup,
                window_ends: vec![],
            };
        }
        if init + term + base > warmup {
            init = warmup * 15 / 100;
            term = warmup / 10;
            base = warmup - init - term;
        }
        let slow_end = warmup - term;
        let mut ends = Vec::new();
        let (mut start, mut size) = (init, base);
        while start < slow_end {
            let mut end = start + size;
            // A window whose successor would not fit takes the rest of the slow phase.
            if end + 2 * size > slow_end {
                end = slow_end;
            }
            ends.push(end - 1);
            start = end;
            size *= 2;
        }
        WarmupSchedule {
            slow_start: init,
            slow_end,
            window_ends: ends,
        }
    }

    pub fn in_slow_window(&self, t: usize) -> bool {
        t >= self.slow_start && t < self.slow_end
    }

    pub fn ends_slow_window(&self, t: usize) -> bool {
        self.window_ends.contains(&t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stan_windows_for_1000_iterations() {
        // Stan: 75 fast, then 25, 50, 100, 200, 500 (the last one stretched), 50 fast.
        let s = WarmupSchedule::stan(1000);
        assert_eq!(s.slow_start, 75);
        assert_eq!(s.slow_end, 950);
        assert_eq!(s.window_ends, vec![99, 149, 249, 449, 949]);
    }

    #[test]
    fn dual_averaging_settles_where_acceptance_meets_the_target() {
        // A fake kernel whose acceptance is exp(-eps): the fixed point is eps = -ln 0.8.
        let mut da = DualAveraging::new(1.0, 0.8);
        for _ in 0..2000 {
            let a = (-da.current()).exp();
            da.update(a);
        }
        assert!(
            (da.final_step() - (-0.8f64.ln())).abs() < 0.01,
            "{}",
            da.final_step()
        );
    }
}
