//! Wire formats for sluice, and nothing else: no I/O policy, no scanning.
//!
//! # Layout
//! - [`milter`]: the Sendmail milter protocol (version 6) in both roles. The
//!   milter role decodes MTA commands and encodes replies; the MTA role
//!   ([`milter::client`]) encodes commands and decodes replies, the way
//!   Postfix's `milter8.c` drives a milter. Framing ([`milter::frame`]) is kept
//!   apart from parsing ([`milter::command`], [`milter::reply`]) so that a
//!   packet's size is checked before any memory is reserved, and a malformed
//!   packet can be dropped whole.
//! - [`rspamd`]: Rspamd's HTTP protocol types (the `/checkv2` reply).
//! - [`fuzzy`]: Rspamd's fuzzy storage protocol (UDP commands, replies and
//!   their encrypted envelope).
pub mod fuzzy;
pub mod milter;
pub mod rspamd;
