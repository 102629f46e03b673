//! Message-ID checks: syntax, and what its right-hand side says about the
//! software or host that wrote it.
use super::util::{addr_of, domain_of, is_fqdn, parse_ip, registrable};
use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::message::MessageView;

static SYMBOLS: &[SymbolDef] = &[
    sym(
        "INVALID_MSGID",
        "Message-ID is not of the form <left@right>",
    ),
    sym(
        "MID_MISSING_BRACKETS",
        "Message-ID lacks its angle brackets",
    ),
    sym(
        "MID_RHS_NOT_FQDN",
        "Message-ID right-hand side is not a fully qualified domain",
    ),
    sym(
        "MID_RHS_IP_LITERAL",
        "Message-ID right-hand side is an IP literal",
    ),
    sym(
        "MID_BARE_IP",
        "Message-ID right-hand side is a bare IP address",
    ),
    sym("MID_RHS_WWW", "Message-ID right-hand side starts with www."),
    sym("MID_CONTAINS_FROM", "Message-ID contains the From address"),
    sym("MID_CONTAINS_TO", "Message-ID contains the To address"),
    sym(
        "MID_RHS_MATCH_FROM",
        "Message-ID right-hand side matches the From domain",
    ),
];

/// The `mid` module.
#[derive(Debug)]
pub struct Mid;

impl Module for Mid {
    fn name(&self) -> &str {
        "mid"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, _env: &Envelope, out: &mut Vec<Hit>) {
        let Some(h) = view.header("Message-ID") else {
            return;
        };
        let raw = String::from_utf8_lossy(h.raw);
        let raw = raw.trim();
        if raw.is_empty() {
            return;
        }
        if !(raw.starts_with('<') && raw.ends_with('>')) {
            out.push(Hit::new("MID_MISSING_BRACKETS"));
        }
        let id = raw.trim_start_matches('<').trim_end_matches('>').trim();
        let Some((left, right)) = id.rsplit_once('@') else {
            out.push(Hit::new("INVALID_MSGID"));
            return;
        };
        if left.is_empty() || right.is_empty() || id.contains(char::is_whitespace) {
            out.push(Hit::new("INVALID_MSGID"));
            return;
        }
        check_rhs(right, out);
        let lower = id.to_ascii_lowercase();
        let from = view.header("From").and_then(|f| addr_of(&f.value));
        if let Some(from) = &from {
            if left.to_ascii_lowercase().contains(from.as_str()) {
                out.push(Hit::new("MID_CONTAINS_FROM"));
            }
            if let Some(fd) = domain_of(from) {
                if registrable(&right.to_ascii_lowercase()) == registrable(fd) {
                    out.push(Hit::new("MID_RHS_MATCH_FROM"));
                }
            }
        }
        let to = view.header("To").and_then(|t| addr_of(&t.value));
        if let Some(to) = to.filter(|t| Some(t) != from.as_ref()) {
            if lower.contains(to.as_str()) {
                out.push(Hit::new("MID_CONTAINS_TO"));
            }
        }
    }
}

fn check_rhs(right: &str, out: &mut Vec<Hit>) {
    let r = right.to_ascii_lowercase();
    if r.starts_with('[') {
        out.push(Hit::new("MID_RHS_IP_LITERAL"));
    } else if parse_ip(&r).is_some() {
        out.push(Hit::new("MID_BARE_IP"));
    } else if !is_fqdn(&r) {
        out.push(Hit::new("MID_RHS_NOT_FQDN"));
    }
    if r.starts_with("www.") {
        out.push(Hit::new("MID_RHS_WWW"));
    }
}
