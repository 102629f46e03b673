//! Rspamd protocol types.
//!
//! Only data shapes live here: the `/checkv2` reply as Rspamd writes it, so
//! that our own verdicts and an upstream Rspamd's answers share one codec;
//! the legacy `/check` shape; the pre-HTTP `RSPAMC`/`SPAMC` text replies;
//! request header names and value syntaxes; and the controller's read-only
//! replies.
pub mod checkv2;
pub mod controller;
pub mod legacy;
pub mod request;
pub mod spamc;

pub use checkv2::{CheckV2Reply, HeaderSpec, MilterBlock, OneOrMany, SymbolResult};
pub use legacy::LegacyReply;
