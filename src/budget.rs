//! The memory budget: what a command will hold, estimated with checked arithmetic from
//! its settings (flags, configs, a checkpoint's stored config) before anything is
//! allocated, and refused with a one-line error above what the machine can give.
//!
//! `limit = min(MemAvailable (/proc/meminfo), the soft address-space limit (ulimit -v),
//! EBM_MEMORY_LIMIT)`; where none is known, 16 TiB (the estimate still catches sizes
//! that overflow). `EBM_MEMORY_LIMIT` takes bytes, or a number with a suffix `K`, `M`,
//! `G` or `T` (powers of 1024).

use crate::{Error, Result};

/// Bytes of `count` values of `size` bytes, `None` on overflow.
pub fn bytes(count: Option<u64>, size: u64) -> Option<u64> {
    count?.checked_mul(size)
}

/// The product of `dims`, `None` on overflow.
pub fn product(dims: &[usize]) -> Option<u64> {
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
}

/// The sum of `parts`, `None` if any is `None` or the sum overflows.
pub fn sum(parts: &[Option<u64>]) -> Option<u64> {
    parts.iter().try_fold(0u64, |acc, p| acc.checked_add((*p)?))
}

/// Parameters of a chain of dense layers of widths `dims` (`d_i d_{i+1} + d_{i+1}`
/// each), `None` on overflow.
pub fn dense_params(dims: &[usize]) -> Option<u64> {
    dims.windows(2).try_fold(0u64, |acc, w| {
        let layer = (w[0] as u64)
            .checked_mul(w[1] as u64)?
            .checked_add(w[1] as u64)?;
        acc.checked_add(layer)
    })
}

/// Bytes this process may still allocate (see the module doc).
pub fn limit() -> u64 {
    let mut limit = 16u64 << 40;
    if let Some(a) = mem_available() {
        limit = limit.min(a);
    }
    if let Some(a) = address_space_limit() {
        limit = limit.min(a);
    }
    if let Some(v) = std::env::var("EBM_MEMORY_LIMIT")
        .ok()
        .and_then(|s| parse_size(&s))
    {
        limit = limit.min(v);
    }
    limit
}

/// Refuse `what` (the flag or config key that sets the size) when `bytes` is unknown
/// (an overflow) or above [`limit`]; the error names it, the estimate and the limit.
pub fn check(what: &str, bytes: Option<u64>, detail: &str) -> Result<()> {
    let limit = limit();
    match bytes {
        None => Err(Error::invalid(
            what,
            format!("{detail}: the size overflows 64-bit arithmetic"),
        )),
        Some(b) if b > limit => Err(Error::invalid(
            what,
            format!(
                "{detail} needs about {}, more than the {} this process can allocate (free memory, ulimit -v or EBM_MEMORY_LIMIT)",
                human(b),
                human(limit)
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// `1.5 GiB`, `300.0 MiB`, `12 B`.
pub fn human(b: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// `123`, `64K`, `1.5G`, `2T` (powers of 1024; a trailing `B` or `iB` is allowed).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix('B'))
        .unwrap_or(s);
    let (num, mul) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
        'T' | 't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0 && v * (mul as f64) < u64::MAX as f64)
        .then_some((v * mul as f64) as u64)
}

fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// The soft `ulimit -v` minus what the process already maps.
fn address_space_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    let soft: u64 = line
        .trim_start_matches("Max address space")
        .split_whitespace()
        .next()?
        .parse()
        .ok()?; // "unlimited" does not parse: no limit
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let vm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmSize:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    Some(soft.saturating_sub(vm_kb.saturating_mul(1024)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("1.5G"), Some(3 << 29));
        assert_eq!(parse_size("2TiB"), Some(2 << 40));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1G"), None);
    }

    #[test]
    fn dense_params_count_weights_and_biases_and_catch_overflow() {
        // 784-400-20: 784*400 + 400 + 400*20 + 20.
        assert_eq!(dense_params(&[784, 400, 20]), Some(322_020));
        assert_eq!(dense_params(&[1 << 40, 1 << 40]), None);
        assert_eq!(product(&[1 << 32, 1 << 32]), None);
        assert_eq!(sum(&[Some(1), None]), None);
    }

    #[test]
    fn an_estimate_above_the_limit_or_overflowing_is_refused_naming_the_key() {
        let e = check("hidden", Some(u64::MAX), "the model").unwrap_err();
        assert!(e.to_string().contains("hidden"), "{e}");
        assert!(e.to_string().contains("more than"), "{e}");
        let e = check("latent", None, "the model").unwrap_err();
        assert!(e.to_string().contains("overflows"), "{e}");
        check("hidden", Some(1024), "the model").unwrap();
    }
}
