//! The message as data: the envelope and connection data, the raw bytes as
//! the MTA handed them over (exact headers, then body), and the parsed
//! [`MessageView`] the rules read ([`view`], with its [`extract`]ed URLs and
//! addresses, HTML as text ([`html_text`]), tags ([`markup`]), MIME parts
//! ([`parts`]), the links of PDF attachments ([`pdf`]), the [`url_host`] of
//! a URL and the registrable [`domain`] of a host), kept with its bytes when
//! one parse serves a scan across an await ([`parsed`]). Filled by the milter
//! session, by `sluice scan` from a file and by the HTTP server from request
//! headers. Nothing here scores.
pub mod assemble;
pub mod domain;
pub mod extract;
pub mod html_text;
pub mod markup;
pub mod parsed;
pub mod parts;
pub mod pdf;
pub mod url_host;
pub mod view;

use std::net::IpAddr;

pub use assemble::RawMessage;
pub use parsed::Parsed;
pub use parts::PartInfo;
pub use view::{MessageView, TextPart};

/// The parser every scan reads messages with (the pipeline, and the DNS lists' facts):
/// MIME, address and date headers parsed; Message-ID and Subject kept; every other header
/// only delimited (see the pipeline's parser notes).
pub fn parser() -> mail_parser::MessageParser {
    use mail_parser::HeaderName;
    mail_parser::MessageParser::new()
        .with_mime_headers()
        .with_address_headers()
        .with_date_headers()
        .header_id(HeaderName::MessageId)
        .header_text(HeaderName::Subject)
        .default_header_ignore()
}

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
