//! Runtime SIMD dispatch for the elementwise loops (activations, costs, optimizer
//! updates): the closure is compiled once per instruction set (AVX2+FMA, AVX-512 where
//! the CPU has them, else the baseline) by the `pulp` crate, and the best version
//! detected at startup runs. The loops themselves are plain Rust the compiler
//! vectorizes; no `unsafe` here.

use std::sync::LazyLock;

static ARCH: LazyLock<pulp::Arch> = LazyLock::new(pulp::Arch::new);

/// Run `f` compiled for the widest vector unit this CPU has.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    ARCH.dispatch(f)
}
