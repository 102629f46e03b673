//! What the lists are asked about, taken from one message: the connection (client address,
//! HELO, reverse name, user), the Received hops, the URL hosts and addresses the text parts
//! mention, the hosts of links in PDF attachments, Reply-To, the From domain, and (after DKIM) the domains whose signatures verified.

use std::net::IpAddr;

use crate::message::{Envelope, MessageView};
use crate::scan::auth::dkim::{Outcome, Signature};
use crate::scan::modules::received::Hop;
use crate::scan::modules::util::{addr_of, domain_of, parse_ip};

/// One Received hop with an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedHop {
    pub ip: IpAddr,
    /// Rspamd's hop flags: `ssl`, `authenticated`.
    pub flags: Vec<&'static str>,
}

/// Everything a list check reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub client_ip: Option<IpAddr>,
    pub helo: Option<String>,
    /// The client's reverse name; `None` when the MTA did not know it.
    pub hostname: Option<String>,
    pub authenticated: bool,
    /// Received hops, newest first.
    pub received: Vec<ReceivedHop>,
    /// URL hosts in first-seen order, lower-cased.
    pub url_hosts: Vec<String>,
    /// Hosts of the links attachments hold (Rspamd's content URLs), likewise.
    pub content_hosts: Vec<String>,
    /// Addresses the text mentions, lower-cased.
    pub emails: Vec<String>,
    pub replyto: Option<String>,
    /// The From header's domain.
    pub from_domain: Option<String>,
    /// Domains of the DKIM signatures that verified.
    pub dkim: Vec<String>,
}

impl Facts {
    pub fn new(env: &Envelope, view: &MessageView<'_>) -> Facts {
        let received = view
            .headers_named("Received")
            .filter_map(|h| hop(&h.value))
            .collect();
        let addr = |name: &str| view.header(name).and_then(|h| addr_of(&h.value));
        Facts {
            client_ip: env.client_ip,
            helo: env.helo.clone().filter(|h| !h.is_empty()),
            hostname: env
                .client_name
                .clone()
                .filter(|h| !h.is_empty() && !h.eq_ignore_ascii_case("unknown")),
            authenticated: env.user.as_deref().is_some_and(|u| !u.is_empty()),
            received,
            url_hosts: view.found.hosts.clone(),
            content_hosts: view.found.content_hosts.clone(),
            emails: view.found.emails.clone(),
            replyto: addr("Reply-To"),
            from_domain: addr("From").and_then(|a| domain_of(&a).map(str::to_ascii_lowercase)),
            dkim: Vec::new(),
        }
    }
}

/// The facts of a raw message: parsed here, with the pipeline's parser settings. A scan reads
/// them from its own parse instead ([`Facts::new`]); this is for callers without one.
pub fn read(env: &Envelope, raw: &[u8]) -> Facts {
    let msg = crate::message::parser().parse(raw);
    Facts::new(env, &MessageView::new(raw, msg.as_ref()))
}

/// The domains of the signatures that verified (Rspamd's `DKIM_TRACE` entries with `+`).
pub fn dkim_domains(sigs: &[Signature]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in sigs
        .iter()
        .filter(|s| s.outcome == Outcome::Allow && !s.domain.is_empty())
    {
        if !out.contains(&s.domain) {
            out.push(s.domain.clone());
        }
    }
    out
}

fn hop(value: &str) -> Option<ReceivedHop> {
    let h = Hop::parse(value);
    let ip = parse_ip(h.ip.as_deref()?)?;
    let proto = h.proto.unwrap_or_default();
    let mut flags = Vec::new();
    // ESMTPS, ESMTPSA, UTF8SMTPS...: encrypted; ...A: authenticated.
    let bare = proto.strip_suffix('A').unwrap_or(&proto);
    if bare.ends_with("SMTPS") || bare.ends_with("LMTPS") {
        flags.push("ssl");
    }
    if proto.ends_with("SMTPA") || proto.ends_with("SMTPSA") || proto.ends_with("LMTPA") {
        flags.push("authenticated");
    }
    Some(ReceivedHop { ip, flags })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_keep_address_and_flags() {
        let h = hop("from a.test (a.test [192.0.2.7]) by mx.test with ESMTPSA id 1; Mon").unwrap();
        assert_eq!(h.ip.to_string(), "192.0.2.7");
        assert_eq!(h.flags, vec!["ssl", "authenticated"]);
        let h = hop("from b (unknown [2001:db8::2]) by mx with ESMTP; x").unwrap();
        assert!(h.flags.is_empty() && h.ip.is_ipv6());
        assert!(hop("by mx.test with LMTP id 5; Mon").is_none());
    }
}
