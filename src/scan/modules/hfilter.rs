//! Rspamd's hfilter checks that need no DNS: the shape of the HELO name, of
//! the client's reverse name and of the sender's domain, and bodies that are
//! little more than a link.
use super::util::{domain_of, is_fqdn, looks_dynamic, parse_ip};
use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::message::MessageView;

static SYMBOLS: &[SymbolDef] = &[
    sym("HFILTER_HELO_BAREIP", "HELO is a bare IP address"),
    sym(
        "HFILTER_HELO_BADIP",
        "HELO is a private or loopback address literal",
    ),
    sym(
        "HFILTER_HELO_NOT_FQDN",
        "HELO is not a fully qualified domain name",
    ),
    sym("HFILTER_HELO_5", "HELO looks like a dynamic host name"),
    sym(
        "HFILTER_HOSTNAME_UNKNOWN",
        "The client has no reverse DNS name",
    ),
    sym(
        "HFILTER_HOSTNAME_5",
        "The client's reverse name looks dynamic",
    ),
    sym(
        "HFILTER_FROMHOST_NOT_FQDN",
        "Envelope sender domain is not fully qualified",
    ),
    sym(
        "HFILTER_URL_ONLY",
        "The text is a link and almost nothing else",
    ),
    sym(
        "HFILTER_URL_ONELINE",
        "The text is one short line with a link",
    ),
];

/// The `hfilter` module.
#[derive(Debug)]
pub struct Hfilter;

impl Module for Hfilter {
    fn name(&self) -> &str {
        "hfilter"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, env: &Envelope, out: &mut Vec<Hit>) {
        if let Some(helo) = env.helo.as_deref().filter(|h| !h.is_empty()) {
            helo_checks(helo, out);
        }
        if env.client_ip.is_some_and(|ip| !ip.is_loopback()) {
            match env.client_name.as_deref() {
                None | Some("unknown") | Some("") => out.push(Hit::new("HFILTER_HOSTNAME_UNKNOWN")),
                Some(name) if looks_dynamic(name) => {
                    out.push(Hit::new("HFILTER_HOSTNAME_5").opt(name))
                }
                Some(_) => {}
            }
        }
        if let Some(d) = env.from.as_deref().and_then(domain_of) {
            if !is_fqdn(d) && parse_ip(d).is_none() {
                out.push(Hit::new("HFILTER_FROMHOST_NOT_FQDN").opt(d));
            }
        }
        url_checks(view, out);
    }
}

fn helo_checks(helo: &str, out: &mut Vec<Hit>) {
    if let Some(ip) = parse_ip(helo) {
        if !helo.starts_with('[') {
            out.push(Hit::new("HFILTER_HELO_BAREIP").opt(helo));
        }
        let bad = match ip {
            std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_unspecified(),
            std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified(),
        };
        if bad {
            out.push(Hit::new("HFILTER_HELO_BADIP").opt(helo));
        }
        return;
    }
    if !is_fqdn(helo) {
        out.push(Hit::new("HFILTER_HELO_NOT_FQDN").opt(helo));
    } else if looks_dynamic(helo) {
        out.push(Hit::new("HFILTER_HELO_5").opt(helo));
    }
}

/// Only short texts can be "just a link"; longer ones are not looked at.
const URL_ONLY_MAX_TEXT: usize = 1024;

fn url_checks(view: &MessageView, out: &mut Vec<Hit>) {
    if view.found.urls.is_empty() || view.text_parts.len() > 2 {
        return;
    }
    let Some(part) = view.text_parts.iter().find(|p| !p.text.trim().is_empty()) else {
        return;
    };
    let text = part.text.trim();
    if text.len() > URL_ONLY_MAX_TEXT {
        return;
    }
    let mut rest = text.to_string();
    for u in &view.found.urls {
        rest = rest.replace(u.as_str(), "");
    }
    let rest_len = rest.chars().filter(|c| c.is_alphanumeric()).count();
    if rest_len < 10 && rest_len < text.len() {
        out.push(Hit::new("HFILTER_URL_ONLY"));
    } else if !text.contains('\n') && text.len() < 200 && text.len() > rest.len() {
        out.push(Hit::new("HFILTER_URL_ONELINE"));
    }
}
