//! Support shared by the test binaries: one launcher for `sluice run`, the
//! daemon views the tests drive it through, and the peers the daemon talks
//! to. Each binary uses a part of it.
// Each binary uses a part of it: what one leaves unused is not dead.
#![allow(dead_code, unused_imports)]
pub mod daemon;
pub mod forward;
pub mod http;
pub mod launcher;
pub mod ops;
pub mod redis;
