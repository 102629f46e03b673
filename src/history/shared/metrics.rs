//! The Redis history's counters on `/metrics`: rows written, and rows dropped (a full
//! queue, or Redis down or slow).
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

static WRITTEN: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

pub fn written(n: usize) {
    WRITTEN.fetch_add(n as u64, Ordering::Relaxed);
}

pub fn dropped(n: usize) {
    DROPPED.fetch_add(n as u64, Ordering::Relaxed);
}

/// Rows dropped so far (tests, and the log).
pub fn dropped_total() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Adds the section to `/metrics` (again on a restart of the store: it replaces itself).
pub fn register() {
    crate::metrics::global()
        .sections
        .register("history_redis", render);
}

fn render(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP sluice_history_rows_total History rows sent to Redis, and dropped (Redis \
         down or slow, or the writer behind).\n# TYPE sluice_history_rows_total counter"
    );
    for (outcome, n) in [("written", &WRITTEN), ("dropped", &DROPPED)] {
        let _ = writeln!(
            out,
            "sluice_history_rows_total{{outcome=\"{outcome}\"}} {}",
            n.load(Ordering::Relaxed)
        );
    }
}
