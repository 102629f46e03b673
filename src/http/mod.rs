//! Rspamd's HTTP protocol: the scan listener (Rspamd's normal worker:
//! `/checkv2`, the legacy `/check` family, `/ping`, `/metrics`) and the
//! controller ([`controller`]), over hyper's HTTP/1.1 with optional rustls.
//!
//! Unlike Rspamd, connections are kept alive (HTTP/1.1 default; HTTP/1.0
//! clients and `Connection: close` get the connection closed after the
//! reply). Every request takes the [`ScanContext`] current at that moment
//! from a `watch` channel the daemon replaces it in on reload (with the
//! milter's), so a SIGHUP reload applies to kept-alive connections from
//! their next request on. A reload opens and
//! closes listeners whose address changed (see `daemon::listeners`); a new
//! listener reads its TLS files when it opens. Passwords, `max_message`
//! and the connection and body limits ([`crate::config::http::Limits`]) are read at
//! start only.
//!
//! The controller also serves a web UI ([`ui`]): `static_dir`'s files, or
//! the dashboard compiled into the binary.
//!
//! The scan listener also speaks the pre-HTTP `RSPAMC/1.x` and `SPAMC`
//! protocols ([`legacy`]), told apart by the connection's first line.
//!
//! Not implemented: HTTPCrypt, msgpack replies (clients fall back to JSON), zstd
//! dictionaries, `/checkv3`; `Settings` / `Settings-ID` apply to in-process
//! scans only (forward mode does not pass them upstream yet).
pub mod body;
pub mod budget;
pub mod conns;
pub mod controller;
pub mod legacy;
pub mod prefixed;
pub mod query;
pub mod reply;
pub mod request;
pub mod scan;
pub mod tls;
pub mod ui;

mod listen;
mod route;
pub mod shared;

pub use crate::config::http::{HttpConfigError, HttpSettings};
#[doc(hidden)]
pub use listen::serve_stream;
pub use listen::{bind, planned, spawn, HttpError, HttpListener, Planned};
pub use route::{command, handle_scan};
pub use shared::{Peer, Role, RoleState, ScanContext, Shared};
