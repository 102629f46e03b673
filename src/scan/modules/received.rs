//! Received chain checks: how many hops, whether the first hop came from a
//! host that looks like a consumer connection, and illegal content.
use super::util::{looks_dynamic, parse_ip};
use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::message::MessageView;

static SYMBOLS: &[SymbolDef] = &[
    sym("RCVD_COUNT_ZERO", "Message has no Received header"),
    sym("ONCE_RECEIVED", "Message has exactly one Received header"),
    sym(
        "ONCE_RECEIVED_STRICT",
        "One Received header, from a dynamic-looking or unnamed host",
    ),
    sym("RCVD_COUNT_TWELVE", "Twelve or more Received headers"),
    sym("RDNS_NONE", "The first hop had no reverse DNS name"),
    sym("RCVD_HELO_USER", "The first hop greeted as \"user\""),
    sym(
        "RCVD_ILLEGAL_CHARS",
        "Received header with 8-bit or control characters",
    ),
    sym("RCVD_NO_TLS_LAST", "The last hop was not encrypted"),
    sym("RCVD_TLS_ALL", "Every hop was encrypted"),
    sym(
        "RCVD_VIA_SMTP_AUTH",
        "The message entered through an authenticated submission",
    ),
    sym(
        "RCVD_DYNAMIC_ORIGIN",
        "The first hop came from a dynamic-looking host name",
    ),
    sym(
        "PREVIOUSLY_DELIVERED",
        "Message carries a Delivered-To header already",
    ),
];

/// The `received` module.
#[derive(Debug)]
pub struct Received;

/// What one Received header says about the hop it records.
#[derive(Debug, Default, PartialEq)]
pub struct Hop {
    pub helo: Option<String>,
    /// Reverse DNS name the receiving MTA logged, `None` for `unknown`.
    pub rdns: Option<String>,
    pub ip: Option<String>,
    /// The `with` protocol, upper-cased (ESMTPS, ESMTPSA, LMTP...).
    pub proto: Option<String>,
}

impl Hop {
    /// Reads the common Postfix / Sendmail / Exim shapes:
    /// `from HELO (rdns [ip]) by HOST with PROTO id ...; date`.
    pub fn parse(value: &str) -> Hop {
        let mut hop = Hop::default();
        let v = value.split(';').next().unwrap_or("");
        let mut words = v.split_whitespace().peekable();
        while let Some(w) = words.next() {
            if hop.helo.is_none() && w.eq_ignore_ascii_case("from") {
                hop.helo = words.next().map(str::to_string);
            } else if w.eq_ignore_ascii_case("with") {
                hop.proto = words.next().map(|p| p.to_ascii_uppercase());
            }
        }
        if let (Some(a), Some(b)) = (v.find('('), v.find(')')) {
            if a < b {
                let comment = &v[a + 1..b];
                let mut parts = comment.split_whitespace();
                if let Some(first) = parts.next() {
                    if first.starts_with('[') {
                        hop.ip = Some(first.trim_matches(['[', ']']).to_string());
                    } else {
                        let name = first.trim_end_matches(['.', ',']);
                        if !name.eq_ignore_ascii_case("unknown") && parse_ip(name).is_none() {
                            hop.rdns = Some(name.to_ascii_lowercase());
                        }
                        hop.ip = comment.split(['[', ']']).nth(1).map(str::to_string);
                    }
                }
            }
        }
        hop
    }
}

impl Module for Received {
    fn name(&self) -> &str {
        "received"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, _env: &Envelope, out: &mut Vec<Hit>) {
        let rcvd: Vec<_> = view.headers_named("Received").collect();
        if view.header("Delivered-To").is_some() {
            out.push(Hit::new("PREVIOUSLY_DELIVERED"));
        }
        if rcvd.iter().any(|h| {
            h.raw
                .iter()
                .any(|&b| b >= 0x80 || (b < 0x20 && !b"\r\n\t".contains(&b)))
        }) {
            out.push(Hit::new("RCVD_ILLEGAL_CHARS"));
        }
        match rcvd.len() {
            0 => {
                out.push(Hit::new("RCVD_COUNT_ZERO"));
                return;
            }
            n if n >= 12 => out.push(Hit::new("RCVD_COUNT_TWELVE").opt(n.to_string())),
            _ => {}
        }
        let hops: Vec<Hop> = rcvd.iter().map(|h| Hop::parse(&h.value)).collect();
        let protos: Vec<&str> = hops.iter().filter_map(|h| h.proto.as_deref()).collect();
        if protos
            .iter()
            .any(|p| p.ends_with("SA") || p.ends_with("A") && p.starts_with("ESMTP"))
        {
            out.push(Hit::new("RCVD_VIA_SMTP_AUTH"));
        }
        if let Some(last) = protos.first() {
            if !last.contains("ESMTPS")
                && !last.contains("TLS")
                && *last != "LMTP"
                && *last != "LOCAL"
            {
                out.push(Hit::new("RCVD_NO_TLS_LAST"));
            }
        }
        if protos.len() == hops.len()
            && protos
                .iter()
                .all(|p| p.starts_with("ESMTPS") || p.contains("TLS"))
        {
            out.push(Hit::new("RCVD_TLS_ALL"));
        }
        // The hop furthest from us that names a sender host.
        let origin = hops
            .iter()
            .rev()
            .find(|h| h.helo.is_some() || h.ip.is_some());
        if let Some(o) = origin {
            origin_checks(o, hops.len(), out);
        }
    }
}

fn origin_checks(o: &Hop, count: usize, out: &mut Vec<Hit>) {
    let public_ip =
        o.ip.as_deref()
            .and_then(parse_ip)
            .is_some_and(|ip| !is_private(&ip));
    if o.rdns.is_none() && public_ip {
        out.push(Hit::new("RDNS_NONE"));
    }
    let dynamic = o.rdns.as_deref().is_some_and(looks_dynamic);
    if dynamic {
        out.push(Hit::new("RCVD_DYNAMIC_ORIGIN").opt(o.rdns.clone().unwrap_or_default()));
    }
    if o.helo
        .as_deref()
        .is_some_and(|h| h.eq_ignore_ascii_case("user"))
    {
        out.push(Hit::new("RCVD_HELO_USER"));
    }
    if count == 1 {
        out.push(Hit::new("ONCE_RECEIVED"));
        if dynamic || (o.rdns.is_none() && public_ip) {
            out.push(Hit::new("ONCE_RECEIVED_STRICT"));
        }
    }
}

fn is_private(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_postfix_hop() {
        let h = Hop::parse("from mail.example.org (mail.example.org [192.0.2.1]) by mx.example.net (Postfix) with ESMTPS id 1; Mon, 1 Jun 2026");
        assert_eq!(h.helo.as_deref(), Some("mail.example.org"));
        assert_eq!(h.rdns.as_deref(), Some("mail.example.org"));
        assert_eq!(h.ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(h.proto.as_deref(), Some("ESMTPS"));
        let u = Hop::parse("from user (unknown [198.51.100.7]) by mx with SMTP; x");
        assert_eq!(u.rdns, None);
        assert_eq!(u.ip.as_deref(), Some("198.51.100.7"));
    }
}
