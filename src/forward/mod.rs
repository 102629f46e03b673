//! Forward mode: the milter path hands each message to a pool of upstream
//! scanners (real Rspamd or other sluice nodes) over Rspamd's `/checkv2`
//! protocol instead of scanning in-process, the way Rspamd's proxy worker
//! does, with its configuration keys, but with one end-to-end deadline per
//! message and an explicit failure verdict.
//!
//! - [`ForwardSettings`]: Rspamd's `upstream`/`mirror` blocks, typed and
//!   read once into the [`Config`](crate::config::Config) (`config/forward.rs`).
//! - [`health`] / [`pool`]: rotations and the dead/alive state machine.
//! - [`client`]: HTTP/1.1 with keep-alive pooling, rustls, zstd.
//! - [`request`]: envelope to request headers (the reply becomes a verdict
//!   in [`crate::verdict::checkv2`]).
//! - [`upstreams`]: a group's endpoints and pool, one attempt at a time.
//! - [`scanner`]: [`ForwardScanner`], a [`crate::verdict::Scanner`].
//! - [`mirror`]: shadow copies and their verdict diff.
//! - [`size`]: requests the upstreams refuse for size (scanned in-process).
pub mod client;
pub mod health;
pub mod mirror;
pub mod pool;
pub mod request;
pub mod scanner;
pub mod size;
pub mod upstreams;

pub use crate::config::forward::{
    ForwardConfigError, ForwardSettings, HealthSettings, MirrorGroup, UpstreamGroup,
};
pub use crate::config::hosts::{HostList, HostSpec, Rotation};
pub use scanner::{ForwardBuildError, ForwardScanner, ForwardStats};
