//! Errors of the DNS layer. A lookup's error keeps apart exactly what SPF, DKIM and DMARC must
//! tell apart: the name does not exist (NXDOMAIN), it exists without records of the type asked
//! (no data), the server failed (SERVFAIL and other error codes: a temporary error), or no
//! answer came in time (the server's timeout or the message's budget).

use hickory_resolver::proto::op::ResponseCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name does not exist: a permanent, cacheable answer.
    #[error("{name}: no such domain (NXDOMAIN)")]
    NxDomain { name: String },
    /// The name exists but has no record of the type asked.
    #[error("{name}: no {rtype} record")]
    NoData { name: String, rtype: &'static str },
    /// The server answered SERVFAIL (or another error code, kept in `code`): try again later.
    #[error("{name}: server failure ({code})")]
    ServFail { name: String, code: ResponseCode },
    /// No answer in time: every try of every nameserver timed out, or the message's budget ran
    /// out while the lookup waited.
    #[error("{name}: timed out")]
    Timeout { name: String },
    /// The name is not a valid domain name; nothing was sent.
    #[error("bad domain name {name:?}: {reason}")]
    BadName { name: String, reason: String },
    /// Anything else: no nameserver reachable, a malformed answer, an I/O error.
    #[error("{name}: lookup failed: {reason}")]
    Failed { name: String, reason: String },
}

impl DnsError {
    /// Whether a check should report a temporary DNS failure (as opposed to a definite
    /// "no such name" or "no such record").
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            DnsError::ServFail { .. } | DnsError::Timeout { .. } | DnsError::Failed { .. }
        )
    }
}
