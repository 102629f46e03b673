//! From, To and Reply-To heuristics: display names, encodings, free-mail
//! senders with replies steered elsewhere.
use serde::Deserialize;
use serde_json::Value;

use super::util::{addr_of, display_name, domain_of, registrable};
use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::message::MessageView;
use crate::scan::error::ScanConfigError;

static SYMBOLS: &[SymbolDef] = &[
    sym("FROM_NO_DN", "From has no display name"),
    sym("FROM_DN_EQ_ADDR", "From display name is the address itself"),
    sym(
        "FROM_EXCESS_BASE64",
        "From is base64-encoded though it is plain ASCII",
    ),
    sym(
        "FROM_EXCESS_QP",
        "From is QP-encoded though it is plain ASCII",
    ),
    sym("MULTIPLE_FROM", "More than one From header"),
    sym("FROM_INVALID", "From carries no valid address"),
    sym("TO_EQ_FROM", "To is the From address"),
    sym("TO_DN_ALL", "Every To address has a display name"),
    sym(
        "REPLYTO_DOM_NEQ_FROM_DOM",
        "Reply-To domain differs from the From domain",
    ),
    sym("REPLYTO_EQ_FROM", "Reply-To is the From address"),
    sym(
        "SPOOF_DISPLAY_NAME",
        "From display name shows an address of another domain",
    ),
    sym("FREEMAIL_FROM", "From is a free-mail address"),
    sym("FREEMAIL_REPLYTO", "Reply-To is a free-mail address"),
    sym(
        "FREEMAIL_REPLYTO_NEQ_FROM_DOM",
        "Replies go to a free-mail domain other than the sender's",
    ),
    sym("FROM_LOCAL_DIGITS", "From local part is mostly digits"),
    sym(
        "TO_MANY_RCPTS",
        "To and Cc name more than fifteen addresses",
    ),
];

/// Free-mail providers (registrable domains); `from_checks { freemail_domains = [...]; }`
/// replaces the list.
const FREEMAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "mail.com",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "web.de",
    "mail.ru",
    "yandex.ru",
    "yandex.com",
    "icloud.com",
    "me.com",
    "protonmail.com",
    "proton.me",
    "zoho.com",
    "rediffmail.com",
    "hotmail.co.uk",
    "excite.com",
    "lycos.com",
    "netscape.net",
    "juno.com",
    "earthlink.net",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
];

#[derive(Debug, Deserialize, Default)]
struct Settings {
    #[serde(default)]
    freemail_domains: Option<Vec<String>>,
}

/// The `from_checks` module.
#[derive(Debug)]
pub struct From {
    freemail: Vec<String>,
}

impl From {
    pub fn from_config(section: Option<&Value>) -> Result<From, ScanConfigError> {
        let s: Settings = match section {
            Some(v) => Settings::deserialize(v).map_err(|source| ScanConfigError::Shape {
                section: "from_checks".into(),
                source,
            })?,
            None => Settings::default(),
        };
        let freemail = s.freemail_domains.map_or_else(
            || FREEMAIL.iter().map(|d| d.to_string()).collect(),
            |v| v.into_iter().map(|d| d.to_ascii_lowercase()).collect(),
        );
        Ok(From { freemail })
    }

    fn is_free(&self, domain: &str) -> bool {
        let d = domain.to_ascii_lowercase();
        let reg = registrable(&d);
        self.freemail.iter().any(|f| *f == d || reg == f)
    }
}

impl Module for From {
    fn name(&self) -> &str {
        "from_checks"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, _env: &Envelope, out: &mut Vec<Hit>) {
        if view.headers_named("From").count() > 1 {
            out.push(Hit::new("MULTIPLE_FROM"));
        }
        let Some(h) = view.header("From") else {
            return;
        };
        let raw = String::from_utf8_lossy(h.raw).to_ascii_lowercase();
        if raw.contains("=?") && h.value.is_ascii() {
            if raw.contains("?b?") {
                out.push(Hit::new("FROM_EXCESS_BASE64"));
            } else if raw.contains("?q?") {
                out.push(Hit::new("FROM_EXCESS_QP"));
            }
        }
        let Some(from) = addr_of(&h.value) else {
            out.push(Hit::new("FROM_INVALID"));
            to_checks(view, "", out);
            return;
        };
        self.name_checks(&h.value, &from, out);
        let fd = domain_of(&from).unwrap_or("");
        if self.is_free(fd) {
            out.push(Hit::new("FREEMAIL_FROM").opt(fd));
        }
        let local = from.split('@').next().unwrap_or("");
        let digits = local.chars().filter(char::is_ascii_digit).count();
        if local.len() >= 6 && digits * 2 > local.len() {
            out.push(Hit::new("FROM_LOCAL_DIGITS"));
        }
        self.reply_to(view, &from, fd, out);
        to_checks(view, &from, out);
    }
}

impl From {
    fn name_checks(&self, value: &str, from: &str, out: &mut Vec<Hit>) {
        match display_name(value) {
            None => out.push(Hit::new("FROM_NO_DN")),
            Some(name) => {
                let name_lc = name.to_ascii_lowercase();
                if name_lc == from {
                    out.push(Hit::new("FROM_DN_EQ_ADDR"));
                } else if let Some(shown) = name_lc
                    .split_whitespace()
                    .find(|w| w.contains('@'))
                    .and_then(|w| {
                        domain_of(
                            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '.'),
                        )
                    })
                {
                    let fd = domain_of(from).unwrap_or("");
                    if registrable(shown) != registrable(fd) {
                        out.push(Hit::new("SPOOF_DISPLAY_NAME").opt(shown.to_string()));
                    }
                }
            }
        }
    }

    fn reply_to(&self, view: &MessageView, from: &str, fd: &str, out: &mut Vec<Hit>) {
        let Some(rt) = view.header("Reply-To").and_then(|r| addr_of(&r.value)) else {
            return;
        };
        if rt == from {
            out.push(Hit::new("REPLYTO_EQ_FROM"));
            return;
        }
        let rd = domain_of(&rt).unwrap_or("");
        if registrable(rd) == registrable(fd) {
            return;
        }
        out.push(Hit::new("REPLYTO_DOM_NEQ_FROM_DOM"));
        if self.is_free(rd) {
            out.push(Hit::new("FREEMAIL_REPLYTO").opt(rd));
            out.push(Hit::new("FREEMAIL_REPLYTO_NEQ_FROM_DOM"));
        }
    }
}

fn to_checks(view: &MessageView, from: &str, out: &mut Vec<Hit>) {
    let Some(to) = view.header("To") else {
        return;
    };
    let entries: Vec<&str> = to.value.split(',').filter(|e| e.contains('@')).collect();
    if !from.is_empty() && entries.len() == 1 && addr_of(entries[0]).as_deref() == Some(from) {
        out.push(Hit::new("TO_EQ_FROM"));
    }
    if !entries.is_empty() && entries.iter().all(|e| display_name(e).is_some()) {
        out.push(Hit::new("TO_DN_ALL"));
    }
    let cc = view
        .headers_named("Cc")
        .map(|h| h.value.matches('@').count())
        .sum::<usize>();
    if entries.len() + cc > 15 {
        out.push(Hit::new("TO_MANY_RCPTS").opt((entries.len() + cc).to_string()));
    }
}
