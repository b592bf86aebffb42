//! The one parallelism knob: `--threads N` sets the rayon pool that runs the parallel
//! loops and the number of threads the `gemm` crate may use for a matrix product.

use std::sync::atomic::{AtomicUsize, Ordering};

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Most threads per core that [`set_threads`] accepts: more only adds switching.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The cores this process may use (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Set the number of threads for parallel loops and GEMM (0 = all cores).
///
/// More than [`MAX_THREADS_PER_CORE`] threads per core is refused (thousands of
/// threads on two cores ran 500x slower). The rayon global pool can be built once per
/// process; a second call with another count keeps the pool and only changes the GEMM
/// setting, and says so in its result.
pub fn set_threads(n: usize) -> crate::Result<()> {
    let cores = cores();
    let max = MAX_THREADS_PER_CORE * cores;
    if n > max {
        return Err(crate::Error::invalid(
            "--threads",
            format!(
                "{n} is more than {max} ({MAX_THREADS_PER_CORE} per core on {cores} cores); 0 means all cores"
            ),
        ));
    }
    let n = if n == 0 { cores } else { n };
    THREADS.store(n, Ordering::Relaxed);
    match rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
    {
        Ok(()) => Ok(()),
        // A pool that could not start (threads refused by the system) is an error here,
        // not a panic at the first parallel loop.
        Err(e) if !e.to_string().contains("already") => Err(crate::Error::invalid(
            "--threads",
            format!("cannot start {n} threads: {e}"),
        )),
        Err(_) if rayon::current_num_threads() == n => Ok(()),
        Err(_) => Err(crate::Error::invalid(
            "--threads",
            format!(
                "the thread pool already runs {} threads; cannot change it to {n} in this process",
                rayon::current_num_threads()
            ),
        )),
    }
}

/// The number of threads in use: what [`set_threads`] set, else rayon's pool size.
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => rayon::current_num_threads(),
        n => n,
    }
}

/// The GEMM parallelism matching [`threads`].
pub fn gemm_parallelism() -> gemm::Parallelism {
    match threads() {
        1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// Run `f` on a worker of the thread pool, so that the parallel loops and GEMMs it
/// starts share the work with the calling thread instead of handing it over to the
/// pool and waiting (one context switch fewer per parallel region; measured 10-15%
/// on the VAE epoch).
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}
