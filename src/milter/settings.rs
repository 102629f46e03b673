//! The knobs a milter session obeys. Built from the `milter` config section;
//! kept here so the session does not depend on the config layer.
use std::time::Duration;

/// What to do with a message larger than `max_message`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OversizeAction {
    /// Let it through unscanned (as spamc does for large mail).
    #[default]
    Accept,
    /// `452 4.3.4`: the sender may retry later (or elsewhere).
    Tempfail,
    /// `552 5.3.4`: permanently refused.
    Reject,
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Longest wait from connect to the end of option negotiation: an MTA
    /// negotiates as soon as it connects.
    pub negotiate_timeout: Duration,
    /// Longest wait for the next packet outside a message (before MAIL and
    /// between messages), when none has started to arrive.
    pub idle_timeout: Duration,
    /// Longest wait for the next packet inside a message. Longer than
    /// outside one: Postfix and Sendmail send the headers only once the
    /// SMTP client has sent the whole message, so a large message on a slow
    /// link is a long silence after DATA.
    pub message_timeout: Duration,
    /// Longest time a session may spend outside messages in one stretch
    /// (since connect, or since its last message ended), however it keeps
    /// sending: a session must make progress.
    pub idle_lifetime: Duration,
    /// Longest time one message may take from MAIL to its end.
    pub message_lifetime: Duration,
    /// Longest time one packet may take to arrive once it has started:
    /// bounds slow senders.
    pub command_timeout: Duration,
    /// Largest packet payload accepted; checked before allocation.
    pub max_packet: usize,
    pub max_message: usize,
    pub oversize_action: OversizeAction,
    /// Ask for a reply to every body chunk (no `SMFIP_NR_BODY`) so that an
    /// oversize message is answered at the chunk that crossed `max_message`.
    /// Off by default: that reply is a round trip per message (the MTA waits
    /// for it before end of message), paid by every message for the sake of
    /// the rare one larger than `max_message`, which is then answered at end
    /// of message instead.
    pub early_oversize: bool,
    /// Deadline for one scan; past it the message is answered by policy.
    pub scan_timeout: Duration,
    /// Accept (with a header) instead of tempfail when a scan fails.
    pub fail_open: bool,
    /// Interval of `p` keepalives while a scan runs.
    pub progress_interval: Duration,
    /// On shutdown: how long a message in flight may take before it is
    /// answered with tempfail.
    pub shutdown_grace: Duration,
    pub discard_on_reject: bool,
    pub quarantine_on_reject: bool,
    pub spam_header: String,
    pub reject_message: String,
    pub tempfail_message: String,
    pub quarantine_message: String,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            negotiate_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            message_timeout: Duration::from_secs(600),
            idle_lifetime: Duration::from_secs(600),
            message_lifetime: Duration::from_secs(3600),
            command_timeout: Duration::from_secs(30),
            max_packet: sluice_proto::milter::frame::DEFAULT_MAX_PAYLOAD,
            max_message: 50 << 20,
            oversize_action: OversizeAction::Accept,
            early_oversize: false,
            scan_timeout: Duration::from_secs(8),
            fail_open: false,
            progress_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            discard_on_reject: false,
            quarantine_on_reject: false,
            spam_header: "X-Spam".into(),
            reject_message: "Spam message rejected".into(),
            tempfail_message: "Try again later".into(),
            quarantine_message: "Spam message quarantined".into(),
        }
    }
}
