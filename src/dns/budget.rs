//! The per-message DNS budget: one deadline shared by every lookup made for one message, so a
//! slow or silent nameserver costs a message at most the budget, however many checks wait on it.

use std::time::Duration;

use tokio::time::Instant;

/// A deadline shared by all lookups of one message. Cheap to copy: hand one to every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    deadline: Instant,
}

impl Budget {
    /// A budget that runs out `allowance` from now.
    pub fn new(allowance: Duration) -> Self {
        Budget {
            deadline: Instant::now() + allowance,
        }
    }

    /// A budget that runs out at `deadline`.
    pub fn until(deadline: Instant) -> Self {
        Budget { deadline }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left; zero once the budget has run out.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn is_spent(&self) -> bool {
        self.remaining().is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_budget_is_spent_at_once() {
        assert!(Budget::new(Duration::ZERO).is_spent());
    }

    #[test]
    fn a_fresh_budget_has_time_left() {
        let b = Budget::new(Duration::from_secs(60));
        assert!(!b.is_spent());
        assert!(b.remaining() > Duration::from_secs(59));
    }
}
