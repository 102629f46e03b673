//! The storage's counters on `/metrics` (`sluice_fuzzy_storage_*`): the
//! requests it decoded, plain and encrypted; what they asked (checks and
//! the hits among them, adds, deletes); expiries renewed by hits; and the
//! datagrams and commands that went wrong, by kind.
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::server::{Counters, Storage};

/// Shows `storage`'s counters on `/metrics` while it runs (a storage
/// started later replaces it).
pub fn register(storage: &Arc<Storage>) {
    let weak: Weak<Storage> = Arc::downgrade(storage);
    crate::metrics::global()
        .sections
        .register("fuzzy_storage", move |out| {
            if let Some(s) = weak.upgrade() {
                render(out, &s.counters);
            }
        });
}

/// A counter family with one label: name, help, label, values.
type Labelled<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, u64)>);

/// Prometheus text for `c`.
pub fn render(out: &mut String, c: &Counters) {
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let labelled: [Labelled<'_>; 2] = [
        (
            "requests",
            "Commands decoded, by how they came.",
            "wire",
            vec![("plain", n(&c.plain)), ("encrypted", n(&c.encrypted))],
        ),
        (
            "errors",
            "Datagrams dropped as not commands (invalid), repeated encrypted datagrams, \
             commands refused (403) and commands the backend failed (500).",
            "kind",
            vec![
                ("invalid", n(&c.invalid)),
                ("repeated", n(&c.repeated)),
                ("refused", n(&c.refused)),
                ("backend", n(&c.backend_errors)),
            ],
        ),
    ];
    for (name, help, label, values) in labelled {
        let _ = writeln!(
            out,
            "# HELP sluice_fuzzy_storage_{name} {help}\n# TYPE sluice_fuzzy_storage_{name} counter"
        );
        for (v, count) in values {
            let _ = writeln!(
                out,
                "sluice_fuzzy_storage_{name}_total{{{label}=\"{v}\"}} {count}"
            );
        }
    }
    let plain = [
        ("checks", "Check commands answered.", n(&c.checked)),
        ("hits", "Checks that found a stored hash.", n(&c.matched)),
        ("adds", "Hashes added.", n(&c.added)),
        ("deletes", "Hashes deleted.", n(&c.deleted)),
        (
            "refreshes",
            "Expiries renewed because a check found the hash.",
            n(&c.refreshed),
        ),
    ];
    for (name, help, count) in plain {
        let _ = writeln!(
            out,
            "# HELP sluice_fuzzy_storage_{name} {help}\n# TYPE sluice_fuzzy_storage_{name} counter\nsluice_fuzzy_storage_{name}_total {count}"
        );
    }
}
