//! Why a milter session was ended early, in a few fixed kinds: the log line
//! keeps the details, `/metrics` counts sessions by kind so an admin can
//! tell a slow MTA (timeouts) from a broken peer (protocol) at a glance.
//! The kinds are the metrics' labels, so they live here; the milter side
//! sorts its failures into them.

/// The kind of failure that ended a milter session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// Idle or slow-sender timeout.
    Timeout,
    /// The MTA closed the connection inside a message.
    Closed,
    /// A frame that could not be read (bad length, over the size cap).
    Frame,
    /// A well-framed packet that breaks the protocol (unknown or
    /// malformed command, command out of order).
    Protocol,
    /// Writing a reply failed.
    Io,
}

impl FailReason {
    /// Every kind, in the order `/metrics` lists them.
    pub const ALL: [FailReason; 5] = [
        FailReason::Timeout,
        FailReason::Closed,
        FailReason::Frame,
        FailReason::Protocol,
        FailReason::Io,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Timeout => "timeout",
            FailReason::Closed => "closed",
            FailReason::Frame => "frame",
            FailReason::Protocol => "protocol",
            FailReason::Io => "io",
        }
    }

    /// Position in [`FailReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}
