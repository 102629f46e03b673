//! Option negotiation policy: ask for exactly what sluice uses, never more
//! than the MTA offers (both Postfix and Sendmail drop a milter that asks for
//! more), and remember what was granted.
use bytes::Bytes;
use sluice_proto::milter::optneg::{action, protocol, stage, OptNeg, OptNegReply, VERSION};

/// Modifications sluice may send at end of message.
const WANTED_ACTIONS: u32 = action::ADD_HEADERS
    | action::CHANGE_HEADERS
    | action::QUARANTINE
    | action::CHANGE_FROM
    | action::ADD_RCPT
    | action::DEL_RCPT
    | action::SET_SYMLIST;

/// Events sluice never answers with anything but "continue": asking for
/// NR_* saves a round trip each. Body chunks are added unless the session
/// answers oversize messages early, at a body chunk; end of message is
/// always answered.
const WANTED_NO_REPLY: u32 = protocol::NR_CONN
    | protocol::NR_HELO
    | protocol::NR_MAIL
    | protocol::NR_RCPT
    | protocol::NR_DATA
    | protocol::NR_UNKN
    | protocol::NR_EOH
    | protocol::NR_HDR;

/// Events sluice does not need at all, plus the capabilities it uses:
/// byte-exact header values and skipping the rest of an unwanted body.
const WANTED_OTHER: u32 =
    protocol::NO_UNKNOWN | protocol::NO_DATA | protocol::HDR_LEADSPC | protocol::SKIP;

/// Macros per stage, requested when the MTA lets the milter choose. These
/// carry the queue id, the authenticated user and the MTA's name into the log
/// line and the scan.
const MACROS: [(u32, &str); 6] = [
    (
        stage::CONNECT,
        "j {daemon_name} {client_addr} {client_name} _ v",
    ),
    (stage::HELO, "{tls_version} {cipher}"),
    (stage::ENVFROM, "i {auth_type} {auth_authen} {mail_addr}"),
    (stage::ENVRCPT, "i {rcpt_addr} {rcpt_mailer}"),
    (stage::EOH, "i"),
    (stage::EOM, "i"),
];

/// What both sides agreed on for this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub version: u32,
    pub actions: u32,
    pub protocol: u32,
}

impl Negotiated {
    /// Whether the MTA will wait for a reply to an event governed by `nr_flag`.
    pub fn replies_to(&self, nr_flag: u32) -> bool {
        self.protocol & nr_flag == 0
    }

    /// Whether the MTA granted a modification action bit.
    pub fn grants(&self, action_bit: u32) -> bool {
        action_bit == 0 || self.actions & action_bit == action_bit
    }

    pub fn leading_space_kept(&self) -> bool {
        self.protocol & protocol::HDR_LEADSPC != 0
    }

    pub fn can_skip(&self) -> bool {
        self.protocol & protocol::SKIP != 0
    }
}

/// Builds the reply to the MTA's offer; `body_replies` keeps body chunks
/// answered (for early oversize answers).
pub fn negotiate(offer: &OptNeg, body_replies: bool) -> (Negotiated, OptNegReply) {
    let version = offer.version.min(VERSION);
    let actions = offer.actions & WANTED_ACTIONS;
    let body = if body_replies { 0 } else { protocol::NR_BODY };
    let protocol = offer.protocol & (WANTED_NO_REPLY | body | WANTED_OTHER);
    let macros = if actions & action::SET_SYMLIST != 0 {
        MACROS
            .iter()
            .map(|(stage, list)| (*stage, Bytes::from_static(list.as_bytes())))
            .collect()
    } else {
        Vec::new()
    };
    let agreed = Negotiated {
        version,
        actions,
        protocol,
    };
    let reply = OptNegReply {
        version,
        actions,
        protocol,
        macros,
    };
    (agreed, reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_only_for_what_postfix_offers_and_sluice_uses() {
        let offer = OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        };
        let (agreed, reply) = negotiate(&offer, false);
        assert_eq!(agreed.version, 6);
        assert_eq!(reply.actions & !offer.actions, 0);
        assert_eq!(reply.protocol & !offer.protocol, 0);
        assert!(agreed.leading_space_kept());
        assert!(!agreed.replies_to(protocol::NR_HDR));
        assert!(!agreed.replies_to(protocol::NR_BODY));
        assert_eq!(reply.macros.len(), MACROS.len());
        let (early, _) = negotiate(&offer, true);
        assert!(
            early.replies_to(protocol::NR_BODY),
            "early oversize answers"
        );
        assert!(!early.replies_to(protocol::NR_HDR));
    }

    #[test]
    fn an_old_mta_without_no_reply_flags_gets_replies() {
        let offer = OptNeg {
            version: 2,
            actions: 0x0f,
            protocol: 0x3f,
        };
        let (agreed, reply) = negotiate(&offer, false);
        assert_eq!(agreed.version, 2);
        assert!(agreed.replies_to(protocol::NR_BODY));
        assert!(agreed.replies_to(protocol::NR_HDR));
        assert!(agreed.replies_to(protocol::NR_CONN));
        assert!(!agreed.leading_space_kept());
        assert!(!agreed.grants(action::QUARANTINE));
        assert!(reply.macros.is_empty(), "no SETSYMLIST offered");
    }
}
