//! Scans run on the calling thread, for the milter's session threads.
//!
//! Why: handing a scan to the pool ([`super::workers`]) and its verdict back
//! costs two thread wakeups per message (a futex for the scan thread, an
//! eventfd for the reactor) with their context switches: on the paired
//! corpus replay (`bench/compare-rspamd.sh`) scanning in place took clearly
//! less CPU per message (`docs/performance.md`).
//!
//! Only requests whose caller says so ([`Placement::Inline`]: the server
//! hands it to the sessions of threads that serve milter sessions on their
//! own runtime) are scanned here; there one scan holds up the thread's other
//! sessions while it runs, so only messages up to [`INLINE_MAX`] are scanned
//! inline: larger ones, whose scans can take long, go to the pool, where the
//! scan deadline and `p` keepalives apply.
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::workers::PoolError;
use crate::verdict::Placement;

/// Largest message scanned inline. Every message of the corpus is below
/// it, and a message of this size scans in a few milliseconds
/// (`docs/performance.md`).
pub const INLINE_MAX: usize = 512 << 10;

/// Whether a message of `len` bytes is scanned on the calling thread.
pub fn applies(placement: Placement, len: usize) -> bool {
    placement == Placement::Inline && len <= INLINE_MAX
}

/// Runs `f` here; a panic becomes [`PoolError::Panicked`] as on the pool.
pub fn run<T>(f: impl FnOnce() -> T) -> Result<T, PoolError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| PoolError::Panicked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inline_requests_and_only_small_messages() {
        assert!(!applies(Placement::Pool, 10));
        let inline = |len| applies(Placement::Inline, len);
        assert_eq!(
            (inline(10), inline(INLINE_MAX), inline(INLINE_MAX + 1)),
            (true, true, false)
        );
    }

    #[test]
    fn a_panic_is_an_error_not_an_unwind() {
        assert_eq!(run(|| 7), Ok(7));
        let r: Result<(), _> = run(|| panic!("rule bug"));
        assert_eq!(r, Err(PoolError::Panicked));
    }
}
