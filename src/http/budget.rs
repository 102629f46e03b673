//! One memory budget for the request bodies all HTTP listeners hold at
//! once: what arrived over the wire and what zstd inflated it to, until the
//! request is answered. Each request takes from it as bytes arrive (never
//! on the strength of a `Content-Length` alone, which costs an attacker
//! nothing to send), so a few stalled or inflating requests cannot hold
//! more than the budget, and a request that would go past it is refused
//! with a clear error instead of pushing the daemon out of memory.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The process's budget. Share it with `Arc`.
#[derive(Debug)]
pub struct BodyBudget {
    total: usize,
    used: AtomicUsize,
}

impl BodyBudget {
    pub fn new(total: usize) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            total,
            used: AtomicUsize::new(0),
        })
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes held right now by all requests.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// An empty share for one request.
    pub fn share(self: &Arc<Self>) -> Share {
        Share {
            budget: Arc::clone(self),
            bytes: 0,
        }
    }

    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&after| after <= self.total)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// What one request holds; given back when dropped.
#[derive(Debug)]
pub struct Share {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

/// The budget had no room left for a request's next bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted {
    pub budget: usize,
}

impl Share {
    /// Takes `n` more bytes, or fails leaving the share as it was.
    pub fn grow(&mut self, n: usize) -> Result<(), Exhausted> {
        if !self.budget.take(n) {
            return Err(Exhausted {
                budget: self.budget.total,
            });
        }
        self.bytes += n;
        Ok(())
    }

    /// Gives `n` bytes back (a buffer that was freed).
    pub fn shrink(&mut self, n: usize) {
        let n = n.min(self.bytes);
        self.bytes -= n;
        self.budget.give_back(n);
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_never_exceed_the_budget_and_return_on_drop() {
        let b = BodyBudget::new(100);
        let mut a = b.share();
        let mut c = b.share();
        a.grow(60).unwrap();
        assert_eq!(c.grow(41), Err(Exhausted { budget: 100 }));
        assert_eq!(c.bytes(), 0, "a refused grow takes nothing");
        c.grow(40).unwrap();
        assert_eq!(b.used(), 100);
        a.shrink(10);
        assert_eq!(b.used(), 90);
        drop(a);
        assert_eq!(b.used(), 40);
        drop(c);
        assert_eq!(b.used(), 0);
    }
}
