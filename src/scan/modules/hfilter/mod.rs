//! Rspamd's hfilter checks that need no DNS: the shape of the HELO name,
//! of the client's reverse name, of the sender's and the Message-ID's
//! domains, bounces, and bodies that are little more than a link. The
//! checks that resolve names live with the other DNS lookups.
//!
//! As in Rspamd, the link checks run on every message; the rest skip
//! local and authenticated mail unless `check_local` / `check_authed`
//! say otherwise. Of the HELO and reverse-name classes only the heavier
//! one is reported (`HFILTER_HELO_n` on a tie).
mod hosts;
mod links;
mod settings;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use settings::Settings;

use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::message::MessageView;
use crate::scan::error::ScanConfigError;

static SYMBOLS: &[SymbolDef] = &[
    sym("HFILTER_HELO_BAREIP", "HELO is a bare IP address"),
    sym(
        "HFILTER_HELO_BADIP",
        "HELO is a private, loopback or documentation address",
    ),
    sym(
        "HFILTER_HELO_1",
        "HELO looks like an access network (very low)",
    ),
    sym("HFILTER_HELO_2", "HELO looks like an access network (low)"),
    sym(
        "HFILTER_HELO_3",
        "HELO looks like an access network (medium)",
    ),
    sym("HFILTER_HELO_4", "HELO looks like an access network (hard)"),
    sym(
        "HFILTER_HELO_5",
        "HELO looks like an access network or no server name (very hard)",
    ),
    sym(
        "HFILTER_HELO_NOT_FQDN",
        "HELO is not a fully qualified domain name",
    ),
    sym(
        "HFILTER_HOSTNAME_1",
        "Client name looks like an access network (very low)",
    ),
    sym(
        "HFILTER_HOSTNAME_2",
        "Client name looks like an access network (low)",
    ),
    sym(
        "HFILTER_HOSTNAME_3",
        "Client name looks like an access network (medium)",
    ),
    sym(
        "HFILTER_HOSTNAME_4",
        "Client name looks like an access network (hard)",
    ),
    sym(
        "HFILTER_HOSTNAME_5",
        "Client name looks like an access network (very hard)",
    ),
    sym(
        "HFILTER_HOSTNAME_UNKNOWN",
        "The client has no reverse DNS name",
    ),
    sym(
        "HFILTER_FROMHOST_NOT_FQDN",
        "Envelope sender domain is not fully qualified",
    ),
    sym("HFILTER_FROM_BOUNCE", "Bounce message (no envelope sender)"),
    sym(
        "HFILTER_RCPT_BOUNCEMOREONE",
        "Bounce message to more than one recipient",
    ),
    sym(
        "HFILTER_URL_ONLY",
        "The text is a link and almost nothing else",
    ),
    sym(
        "HFILTER_URL_ONELINE",
        "The text is one line that is mostly a link",
    ),
    // Last: as in Rspamd, it exists only while its check is on.
    sym(
        "HFILTER_MID_NOT_FQDN",
        "Message-ID host is not fully qualified",
    ),
];

/// The HELO `rspamc` sends for local scans; Rspamd does not judge it.
const RSPAMC_HELO: &str = "rspamc.local";

/// Names of the HELO and reverse-name classes, by weight.
const HELO_CLASS: [&str; 5] = [
    "HFILTER_HELO_1",
    "HFILTER_HELO_2",
    "HFILTER_HELO_3",
    "HFILTER_HELO_4",
    "HFILTER_HELO_5",
];
const HOSTNAME_CLASS: [&str; 5] = [
    "HFILTER_HOSTNAME_1",
    "HFILTER_HOSTNAME_2",
    "HFILTER_HOSTNAME_3",
    "HFILTER_HOSTNAME_4",
    "HFILTER_HOSTNAME_5",
];

/// The `hfilter` module.
#[derive(Debug, Default)]
pub struct Hfilter {
    settings: Settings,
}

impl Hfilter {
    /// Builds the module from its section and the global `options`.
    pub fn from_config(
        section: Option<&Value>,
        options: Option<&Value>,
    ) -> Result<Hfilter, ScanConfigError> {
        Ok(Hfilter {
            settings: Settings::from_config(section, options)?,
        })
    }

    /// Local or authenticated mail, which only the link checks look at.
    fn exempt(&self, env: &Envelope) -> bool {
        let s = &self.settings;
        (!s.check_authed && env.user.as_deref().is_some_and(|u| !u.is_empty()))
            || (!s.check_local && env.client_ip.is_some_and(|ip| s.is_local(ip)))
    }
}

impl Module for Hfilter {
    fn name(&self) -> &str {
        "hfilter"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        if self.settings.mid {
            SYMBOLS
        } else {
            &SYMBOLS[..SYMBOLS.len() - 1]
        }
    }

    fn check(&self, view: &MessageView, env: &Envelope, out: &mut Vec<Hit>) {
        let s = &self.settings;
        if s.url {
            links::check(&view.text_parts, out);
        }
        if self.exempt(env) {
            return;
        }
        // Brackets removed, as the HELO is judged and reported without them.
        let helo: Option<String> = env
            .helo
            .as_deref()
            .filter(|h| s.helo && !h.is_empty())
            .map(|h| h.replace(['[', ']'], ""));
        let judged_helo = helo.as_deref().filter(|h| *h != RSPAMC_HELO);
        let helo_weight = judged_helo.map_or(0, |h| helo_checks(h, env, out));
        let host_weight = if s.hostname {
            hostname_weight(env, out)
        } else {
            0
        };
        if helo_weight > 0 && helo_weight >= host_weight {
            out.push(
                Hit::new(HELO_CLASS[usize::from(helo_weight) - 1]).opt(judged_helo.unwrap_or("")),
            );
        } else if host_weight > helo_weight {
            let name = env.client_name.as_deref().unwrap_or("");
            out.push(Hit::new(HOSTNAME_CLASS[usize::from(host_weight) - 1]).opt(name));
        }
        let bounce = s.from && sender_checks(sender(view, env), judged_helo, out);
        if s.rcpt && bounce {
            let count = recipient_count(view, env);
            if count > 1 {
                out.push(Hit::new("HFILTER_RCPT_BOUNCEMOREONE").opt(count.to_string()));
            }
        }
        if s.mid {
            mid_check(view, out);
        }
    }
}

/// The address-literal checks, then the weight of the HELO's class (0
/// when it is an address or in none); a HELO in no class is checked for
/// being fully qualified when the client address is known.
fn helo_checks(helo: &str, env: &Envelope, out: &mut Vec<Hit>) -> u8 {
    // Rspamd reports the matched list entry's value ("1") as well.
    if hosts::is_bad_ip(helo) {
        out.push(Hit::new("HFILTER_HELO_BADIP").opt(helo).opt("1"));
        return 0;
    }
    if hosts::is_bare_ip(helo) {
        out.push(Hit::new("HFILTER_HELO_BAREIP").opt(helo).opt("1"));
        return 0;
    }
    let weight = hosts::helo_weight(helo).max(hosts::access_weight(helo));
    if weight == 0 && env.client_ip.is_some() {
        let lower = helo.to_ascii_lowercase();
        if !hosts::is_fqdn(&lower) {
            out.push(Hit::new("HFILTER_HELO_NOT_FQDN").opt(lower));
        }
    }
    weight
}

/// The weight of the reverse name's class; a client without one gets
/// `HFILTER_HOSTNAME_UNKNOWN`.
///
/// Rspamd also says "unknown" when a request names no client at all (an
/// offline scan, an HTTP request without `IP`); sluice only judges a
/// client it knows the address of.
fn hostname_weight(env: &Envelope, out: &mut Vec<Hit>) -> u8 {
    match env.client_name.as_deref() {
        Some(name) if !name.is_empty() => hosts::access_weight(name),
        _ => {
            if env.client_ip.is_some() {
                out.push(Hit::new("HFILTER_HOSTNAME_UNKNOWN"));
            }
            0
        }
    }
}

/// The envelope sender; for a request that names none, the address of
/// the first Return-Path header, which Rspamd takes as the sender then.
fn sender<'a>(view: &'a MessageView, env: &'a Envelope) -> Option<&'a str> {
    env.from.as_deref().or_else(|| {
        let v = view.header("Return-Path")?.value.trim();
        Some(v.trim_start_matches('<').trim_end_matches('>').trim())
    })
}

/// The envelope sender's domain; whether the message is a bounce: no
/// sender at all (Rspamd needs the HELO to say so), or `postmaster@`.
fn sender_checks(from: Option<&str>, helo: Option<&str>, out: &mut Vec<Hit>) -> bool {
    let Some(from) = from else {
        if let Some(h) = helo {
            out.push(Hit::new("HFILTER_FROM_BOUNCE").opt(h));
            return true;
        }
        return false;
    };
    let mut parts = from.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let domain = domain.to_ascii_lowercase();
    if !hosts::is_fqdn(&domain) {
        out.push(Hit::new("HFILTER_FROMHOST_NOT_FQDN").opt(domain));
    }
    local == "postmaster"
}

/// The envelope recipients, or, without them, the addresses of the To,
/// Cc and Bcc headers (Rspamd's "any" recipients).
fn recipient_count(view: &MessageView, env: &Envelope) -> usize {
    if !env.rcpts.is_empty() {
        return env.rcpts.len();
    }
    ["To", "Cc", "Bcc"]
        .iter()
        .flat_map(|name| view.headers_named(name))
        .map(|h| h.value.matches('@').count())
        .sum()
}

/// The Message-ID's host, unless it mentions `local`.
fn mid_check(view: &MessageView, out: &mut Vec<Hit>) {
    let Some(id) = view.message_id() else {
        return;
    };
    let mut parts = id.split('@');
    let (Some(_), Some(host), None) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if host.contains("local") {
        return;
    }
    let host = host.to_ascii_lowercase();
    if !hosts::is_fqdn(&host) {
        out.push(Hit::new("HFILTER_MID_NOT_FQDN").opt(host));
    }
}
