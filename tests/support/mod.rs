//! Support shared by the test binaries: one launcher for `sluice run`, the
//! daemon views the tests drive it through, and the peers the daemon talks
//! to. Each binary uses a part of it.
// Each binary uses a part of it: what one leaves unused is not dead.
#![allow(dead_code, unused_imports)]
pub mod daemon;
pub mod forward;
pub mod http;
pub mod launcher;
pub mod nsd;
pub mod ops;
pub mod redis;

/// The `sluice` binary the tests run: `SLUICE_TEST_BIN` when set (the test
/// command points it at the release build it has just made, so that each of
/// the many daemon starts does not compile the rules in a debug build), else
/// the debug build cargo made for these tests.
pub fn sluice_bin() -> std::path::PathBuf {
    match std::env::var_os("SLUICE_TEST_BIN") {
        Some(path) if !path.is_empty() => path.into(),
        _ => env!("CARGO_BIN_EXE_sluice").into(),
    }
}
