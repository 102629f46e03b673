//! The message as the MTA handed it over: envelope and connection data, then the
//! raw bytes (exact headers, then body). Filled by the milter session, by
//! `sluice scan` from a file, and by the HTTP server from request headers.
pub mod assemble;

use std::net::IpAddr;

pub use assemble::RawMessage;

/// Envelope and connection data of one message. Addresses are kept without
/// angle brackets; `from == Some("")` is the null sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub client_ip: Option<IpAddr>,
    /// The MTA's verified client name; `None` when unknown.
    pub client_name: Option<String>,
    pub helo: Option<String>,
    pub from: Option<String>,
    pub rcpts: Vec<String>,
    pub queue_id: Option<String>,
    /// SMTP AUTH user (`{auth_authen}`).
    pub user: Option<String>,
    /// The MTA's host name (`j` / `{daemon_name}`), Rspamd's `MTA-Name`.
    pub mta_name: Option<String>,
}
