//! Health of the Bayes store for `/metrics`: whether scans can use it now,
//! and how often it became unusable (a Redis outage, an embedded file
//! locked by another process).
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

const UNCONFIGURED: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// The daemon's one store; nothing is rendered while Bayes is off.
#[derive(Debug, Default)]
pub struct StoreHealth {
    state: AtomicU8,
    outages: AtomicU64,
}

/// A copy for one report; `up` is `None` while Bayes is not configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreSnapshot {
    pub up: Option<bool>,
    pub outages: u64,
}

impl StoreHealth {
    pub fn up(&self) {
        self.state.store(UP, Ordering::Relaxed);
    }

    /// Counts an outage when the store was not down already.
    pub fn down(&self) {
        if self.state.swap(DOWN, Ordering::Relaxed) != DOWN {
            self.outages.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> StoreSnapshot {
        StoreSnapshot {
            up: match self.state.load(Ordering::Relaxed) {
                UNCONFIGURED => None,
                s => Some(s == UP),
            },
            outages: self.outages.load(Ordering::Relaxed),
        }
    }
}

pub fn render(out: &mut String, s: &StoreSnapshot) {
    let Some(up) = s.up else {
        return;
    };
    let _ = writeln!(
        out,
        "# HELP sluice_bayes_store_up 1 if scans can use the Bayes store now, 0 while it is unreachable or locked.\n\
         # TYPE sluice_bayes_store_up gauge\nsluice_bayes_store_up {}",
        u8::from(up)
    );
    let _ = writeln!(
        out,
        "# HELP sluice_bayes_store_outages Times the Bayes store became unusable.\n\
         # TYPE sluice_bayes_store_outages counter\nsluice_bayes_store_outages_total {}",
        s.outages
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_counted_once_each_and_rendered_only_when_configured() {
        let h = StoreHealth::default();
        let mut out = String::new();
        render(&mut out, &h.snapshot());
        assert_eq!(out, "");
        h.up();
        h.down();
        h.down();
        h.up();
        h.down();
        assert_eq!(
            h.snapshot(),
            StoreSnapshot {
                up: Some(false),
                outages: 2
            }
        );
        render(&mut out, &h.snapshot());
        assert!(out.contains("sluice_bayes_store_up 0\n"), "{out}");
        assert!(
            out.contains("sluice_bayes_store_outages_total 2\n"),
            "{out}"
        );
    }
}
