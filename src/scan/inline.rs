//! Scans run on the calling thread, for the milter's session threads.
//!
//! Why: handing a scan to the pool ([`super::workers`]) and its verdict back
//! costs two thread wakeups per message (a futex for the scan thread, an
//! eventfd for the reactor) with their context switches: on the paired
//! corpus replay (`bench/compare-rspamd.sh`) scanning in place took clearly
//! less CPU per message (`docs/performance.md`).
//!
//! Only threads that serve milter sessions on their own runtime opt in
//! ([`allow_here`]); there one scan holds up the thread's other sessions
//! while it runs, so only messages up to [`INLINE_MAX`] are scanned inline:
//! larger ones, whose scans can take long, go to the pool, where the scan
//! deadline and `p` keepalives apply.
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::workers::PoolError;

/// Largest message scanned inline. Every message of the corpus is below
/// it, and a message of this size scans in a few milliseconds
/// (`docs/performance.md`).
pub const INLINE_MAX: usize = 512 << 10;

thread_local! {
    static ALLOWED: Cell<bool> = const { Cell::new(false) };
}

/// Lets scans on this thread run inline from now on.
pub fn allow_here() {
    ALLOWED.with(|a| a.set(true));
}

/// Whether a message of `len` bytes is scanned on this very thread.
pub fn applies(len: usize) -> bool {
    len <= INLINE_MAX && ALLOWED.with(Cell::get)
}

/// Runs `f` here; a panic becomes [`PoolError::Panicked`] as on the pool.
pub fn run<T>(f: impl FnOnce() -> T) -> Result<T, PoolError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| PoolError::Panicked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_threads_that_opt_in_and_only_small_messages() {
        let elsewhere = std::thread::spawn(|| applies(10)).join().unwrap();
        assert!(!elsewhere);
        let here = std::thread::spawn(|| {
            allow_here();
            (applies(10), applies(INLINE_MAX), applies(INLINE_MAX + 1))
        })
        .join()
        .unwrap();
        assert_eq!(here, (true, true, false));
    }

    #[test]
    fn a_panic_is_an_error_not_an_unwind() {
        assert_eq!(run(|| 7), Ok(7));
        let r: Result<(), _> = run(|| panic!("rule bug"));
        assert_eq!(r, Err(PoolError::Panicked));
    }
}
