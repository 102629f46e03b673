//! The state modules' counters on `/metrics`: per module, the decisions taken and the
//! times the store failed and the module let the message through (fail open).
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The modules, in the order they are reported.
pub const MODULES: [&str; 3] = ["greylist", "ratelimit", "replies"];

/// One module's counters.
#[derive(Debug, Default)]
pub struct ModuleCounters {
    /// Store calls that failed (the message went on without the module).
    pub failures: AtomicU64,
    /// Messages the module held back (greylisted, rate limited) or marked (a reply).
    pub hits: AtomicU64,
    /// Messages the module looked at.
    pub checked: AtomicU64,
}

/// The process's counters, one set per module.
pub fn counters(module: &str) -> &'static ModuleCounters {
    static ALL: OnceLock<[ModuleCounters; 3]> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        crate::metrics::global().sections.register("state", render);
        Default::default()
    });
    let i = MODULES.iter().position(|m| *m == module).unwrap_or(0);
    &all[i]
}

fn render(out: &mut String) {
    let series = [
        ("checked", "Messages the state module looked at."),
        (
            "hits",
            "Messages greylisted, rate limited, or found to be replies.",
        ),
        (
            "failures",
            "Store calls that failed; the message went on without the module.",
        ),
    ];
    for (name, help) in series {
        let _ = writeln!(
            out,
            "# HELP sluice_state_{name} {help}\n# TYPE sluice_state_{name} counter"
        );
        for m in MODULES {
            let c = counters(m);
            let n = match name {
                "checked" => &c.checked,
                "hits" => &c.hits,
                _ => &c.failures,
            };
            let _ = writeln!(
                out,
                "sluice_state_{name}_total{{module=\"{m}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
    }
}

/// Counts a failure and logs it (throttled): the module fails open.
pub fn failed(module: &str, e: &super::error::StateError) {
    counters(module).failures.fetch_add(1, Ordering::Relaxed);
    crate::warn_throttled!("{module}: {e}; message passed without it");
}
