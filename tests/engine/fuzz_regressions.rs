//! Replays what the fuzz targets (`fuzz/`) must survive through the same
//! entry points: every input that once crashed a target, kept under
//! `fuzz/regressions/TARGET/`, and the committed seeds under
//! `fuzz/seeds/TARGET/`. As under libFuzzer, a panic anywhere during a
//! replay aborts the process, even one the scan threads would catch and turn
//! into an error. The other tests of this binary keep the usual panic report.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use sluice::fuzzing;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for kind in ["regressions", "seeds"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        for entry in dir {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            out.push((path, data));
        }
    }
    out.sort();
    out
}

/// Replays in progress: while any runs, a panic on any thread aborts.
static REPLAYING: AtomicUsize = AtomicUsize::new(0);

/// Counts one replay for as long as it lives.
struct Replaying;

impl Replaying {
    fn start() -> Replaying {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let usual = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if REPLAYING.load(Ordering::SeqCst) > 0 {
                    eprintln!("{info}");
                    std::process::abort();
                }
                usual(info);
            }));
        });
        REPLAYING.fetch_add(1, Ordering::SeqCst);
        Replaying
    }
}

impl Drop for Replaying {
    fn drop(&mut self) {
        REPLAYING.fetch_sub(1, Ordering::SeqCst);
    }
}

fn replay(target: &str, mut entry: impl FnMut(&Path, &[u8])) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no inputs for {target}");
    let _replaying = Replaying::start();
    for (path, data) in inputs {
        eprintln!("{target}: {}", path.display());
        entry(&path, &data);
    }
}

#[test]
fn ucl() {
    replay("ucl", |_, d| fuzzing::ucl(d));
}

/// Every seed request is answered in its protocol; a found input need only
/// not crash.
#[test]
fn http() {
    replay("http", |path, d| {
        let replies = fuzzing::http(d);
        if path.components().any(|c| c.as_os_str() == "seeds") {
            let text = String::from_utf8_lossy(&replies);
            assert!(
                ["HTTP/1.", "RSPAMD/1.", "SPAMD/1."]
                    .iter()
                    .any(|p| text.starts_with(p)),
                "{}: {text}",
                path.display()
            );
        }
    });
}

#[test]
fn scan() {
    replay("scan", |_, d| fuzzing::scan(d));
}

#[test]
fn lua_task() {
    replay("lua_task", |_, d| fuzzing::lua_task(d));
}
