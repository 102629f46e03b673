//! Rspamd protocol types.
//!
//! Only data shapes live here: the `/checkv2` reply as Rspamd writes it, so
//! that our own verdicts and an upstream Rspamd's answers share one codec.
pub mod checkv2;

pub use checkv2::{CheckV2Reply, HeaderSpec, MilterBlock, OneOrMany, SymbolResult};
