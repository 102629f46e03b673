//! The `Authentication-Results` header (RFC 8601) of the milter path, written from the auth
//! symbols of the verdict as Rspamd's `milter_headers` routine `authentication-results` writes
//! it, and the incoming ones that claim our authserv-id, which are removed (a sender could
//! otherwise forge our results).
//!
//! Settings: `milter_headers { routines { authentication-results { header; add_smtp_user;
//! authserv_id; } } }`. Rspamd has no `authserv_id` key (it takes the MTA's name, else the
//! host name); sluice reads one, with the same fallbacks.

use serde_json::Value;

use crate::config::value;
use crate::message::{Envelope, MessageView};
use crate::verdict::{AddHeader, RemoveHeader, Symbol, Verdict};

/// The routine's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsSettings {
    pub header: String,
    pub add_smtp_user: bool,
    pub authserv_id: Option<String>,
}

impl Default for ResultsSettings {
    fn default() -> Self {
        ResultsSettings {
            header: "Authentication-Results".into(),
            add_smtp_user: true,
            authserv_id: None,
        }
    }
}

impl ResultsSettings {
    /// From the `milter_headers` section, if any. Unreadable values keep the default (the
    /// section is Rspamd's and mostly unused here).
    pub fn from_section(milter_headers: Option<&Value>) -> ResultsSettings {
        let mut s = ResultsSettings::default();
        let Some(r) = milter_headers
            .and_then(|m| m.get("routines"))
            .and_then(|r| r.get("authentication-results"))
        else {
            return s;
        };
        if let Some(h) = r.get("header").and_then(|v| value::string(v).ok()) {
            s.header = h;
        }
        if let Some(b) = r.get("add_smtp_user").and_then(|v| value::boolean(v).ok()) {
            s.add_smtp_user = b;
        }
        s.authserv_id = r.get("authserv_id").and_then(|v| value::string(v).ok());
        s
    }

    /// The configured id, else the MTA's name, else this host's name.
    pub fn authserv_id(&self, env: &Envelope) -> String {
        self.authserv_id
            .clone()
            .or_else(|| env.mta_name.clone())
            .unwrap_or_else(|| host_name().to_string())
    }
}

/// This host's name, read once: a scan should not cost a file read, and a renamed host
/// keeps the id it started with until the daemon restarts.
fn host_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
}

/// Adds our header and removes the incoming ones claiming `authserv_id`.
pub fn apply(v: &mut Verdict, view: &MessageView<'_>, env: &Envelope, s: &ResultsSettings) {
    let id = s.authserv_id(env);
    let claimed: Vec<i32> = view
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(&s.header))
        .enumerate()
        .filter(|(_, h)| claims(&h.value, &id))
        .map(|(i, _)| i32::try_from(i + 1).unwrap_or(i32::MAX))
        .collect();
    // Last first: removing one does not move the ones above it.
    for index in claimed.into_iter().rev() {
        v.milter.remove_headers.push(RemoveHeader {
            name: s.header.clone(),
            index,
        });
    }
    v.milter.add_headers.push(AddHeader {
        name: s.header.clone(),
        value: header(&v.symbols, env, &id, s.add_smtp_user),
        order: 1,
    });
}

/// Whether an `Authentication-Results` value names `id` as its authserv-id (the first token,
/// before an optional version and the first `;`).
pub fn claims(value: &str, id: &str) -> bool {
    let head = value.split(';').next().unwrap_or("").trim();
    head.split_whitespace()
        .next()
        .is_some_and(|first| first.eq_ignore_ascii_case(id))
}

fn find<'a>(symbols: &'a [Symbol], name: &str) -> Option<&'a Symbol> {
    symbols.iter().find(|s| s.name == name)
}

/// RFC 8601 value in Rspamd's wording: `id; dkim=...; dmarc=...; spf=...; arc=...`.
pub fn header(symbols: &[Symbol], env: &Envelope, id: &str, add_smtp_user: bool) -> String {
    let mut parts = vec![id.to_string()];
    dkim_parts(symbols, &mut parts);
    if let Some(p) = dmarc_part(symbols) {
        parts.push(p);
    }
    if let Some(p) = spf_part(symbols, env, id) {
        parts.push(p);
    }
    if let Some(p) = arc_part(symbols) {
        parts.push(p);
    }
    if let (Some(user), Some(from)) = (env.user.as_deref(), env.from.as_deref()) {
        let mut p = "auth=pass".to_string();
        if add_smtp_user {
            p.push_str(&format!(" smtp.auth={}", quote(user)));
        }
        p.push_str(&format!(" smtp.mailfrom={}", quote(bare(from))));
        parts.push(p);
    }
    if parts.len() == 1 {
        parts.push("none".into());
    }
    parts.join("; ")
}

fn dkim_parts(symbols: &[Symbol], parts: &mut Vec<String>) {
    let results = [
        ("R_DKIM_ALLOW", "pass"),
        ("R_DKIM_REJECT", "fail"),
        ("R_DKIM_TEMPFAIL", "temperror"),
        ("R_DKIM_PERMFAIL", "permerror"),
    ];
    let before = parts.len();
    for (symbol, result) in results {
        let Some(s) = find(symbols, symbol) else {
            continue;
        };
        for opt in &s.options {
            let (domain, selector) = opt.split_once(":s=").unwrap_or((opt.as_str(), ""));
            let mut p = format!("dkim={result} header.d={}", quote(domain));
            if !selector.is_empty() {
                p.push_str(&format!(" header.s={}", quote(selector)));
            }
            parts.push(p);
        }
    }
    if parts.len() == before && find(symbols, "R_DKIM_NA").is_some() {
        parts.push("dkim=none".into());
    }
}

fn dmarc_part(symbols: &[Symbol]) -> Option<String> {
    let keys = [
        ("DMARC_POLICY_ALLOW", "pass"),
        ("DMARC_POLICY_REJECT", "reject"),
        ("DMARC_POLICY_QUARANTINE", "quarantine"),
        ("DMARC_POLICY_SOFTFAIL", "softfail"),
        ("DMARC_NA", "none"),
        ("DMARC_BAD_POLICY", "permerror"),
        ("DMARC_DNSFAIL", "temperror"),
    ];
    let (s, key) = keys
        .iter()
        .find_map(|(name, key)| find(symbols, name).map(|s| (s, *key)))?;
    let opt = |i: usize| s.options.get(i).map_or("", String::as_str);
    Some(match key {
        "pass" => format!(
            "dmarc=pass (policy={}) header.from={}",
            quote(opt(1)),
            quote(opt(0))
        ),
        "none" => "dmarc=none".into(),
        _ => {
            let result = match key {
                "reject" | "quarantine" | "softfail" => "fail",
                other => other,
            };
            let mut p = format!("dmarc={result}");
            if let Some((dom, reason)) = opt(0).split_once(" : ") {
                p.push_str(&format!(
                    " reason={} header.from={}",
                    quote(reason),
                    quote(dom)
                ));
            }
            let policy = if key == "softfail" { "none" } else { key };
            p.push_str(&format!(" (policy={policy})"));
            p
        }
    })
}

fn spf_part(symbols: &[Symbol], env: &Envelope, id: &str) -> Option<String> {
    let keys = [
        ("R_SPF_ALLOW", "pass"),
        ("R_SPF_FAIL", "fail"),
        ("R_SPF_SOFTFAIL", "softfail"),
        ("R_SPF_NEUTRAL", "neutral"),
        ("R_SPF_DNSFAIL", "temperror"),
        ("R_SPF_PERMFAIL", "permerror"),
        ("R_SPF_NA", "none"),
    ];
    let key = keys
        .iter()
        .find_map(|(name, key)| find(symbols, name).map(|_| *key))?;
    let from = env.from.as_deref().map(bare).filter(|f| !f.is_empty());
    let (kind, sender) = match (from, env.helo.as_deref()) {
        (Some(f), _) => ("smtp.mailfrom", quote(f)),
        (None, Some(h)) => ("smtp.helo", quote(h)),
        (None, None) => return Some(format!("spf={key}")),
    };
    let ip = env
        .client_ip
        .map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let comment = match key {
        "pass" => format!("{id}: domain of {sender} designates {ip} as permitted sender"),
        "fail" => format!("{id}: domain of {sender} does not designate {ip} as permitted sender"),
        "neutral" | "softfail" => {
            format!("{id}: {ip} is neither permitted nor denied by domain of {sender}")
        }
        "permerror" => {
            format!("{id}: domain of {sender} uses mechanism not recognized by this client")
        }
        "temperror" => format!("{id}: error in processing during lookup of {sender}: DNS error"),
        _ => format!("{id}: domain of {sender} has no SPF policy when checking {ip}"),
    };
    Some(format!("spf={key} ({comment}) {kind}={sender}"))
}

fn arc_part(symbols: &[Symbol]) -> Option<String> {
    let keys = [
        ("ARC_ALLOW", "pass"),
        ("ARC_REJECT", "fail"),
        ("ARC_INVALID", "fail"),
        ("ARC_DNSFAIL", "temperror"),
    ];
    keys.iter().find_map(|(name, key)| {
        let s = find(symbols, name)?;
        Some(match s.options.first() {
            Some(o) => format!("arc={key} ({})", quote(o)),
            None => format!("arc={key}"),
        })
    })
}

fn bare(addr: &str) -> &str {
    addr.trim().trim_start_matches('<').trim_end_matches('>')
}

/// A value as RFC 8601 allows it: a token as is, anything else quoted.
fn quote(v: &str) -> String {
    const SPECIALS: &[char] = &[
        '(', ')', '<', '>', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', ' ', '\t',
    ];
    // `@` and `.` may stand in a token of RFC 8601's grammar (a dot-atom or an address).
    if !v.is_empty() && !v.contains(SPECIALS) {
        return v.to_string();
    }
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, options: &[&str]) -> Symbol {
        Symbol {
            name: name.into(),
            score: 0.0,
            metric_score: 0.0,
            description: None,
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn env() -> Envelope {
        Envelope {
            client_ip: Some("192.0.2.1".parse().unwrap()),
            from: Some("<bounce@example.org>".into()),
            helo: Some("mx.example.org".into()),
            ..Envelope::default()
        }
    }

    #[test]
    fn each_check_gets_its_rspamd_style_element() {
        let symbols = [
            sym("R_DKIM_ALLOW", &["example.org:s=sel"]),
            sym("DMARC_POLICY_ALLOW", &["example.org", "reject"]),
            sym("R_SPF_ALLOW", &["example.org"]),
            sym("ARC_NA", &[]),
        ];
        let h = header(&symbols, &env(), "mx.test", true);
        assert_eq!(
            h,
            "mx.test; dkim=pass header.d=example.org header.s=sel; \
             dmarc=pass (policy=reject) header.from=example.org; \
             spf=pass (mx.test: domain of bounce@example.org designates 192.0.2.1 as \
             permitted sender) smtp.mailfrom=bounce@example.org"
        );
    }

    #[test]
    fn failures_name_their_reason_and_policy() {
        let symbols = [
            sym("R_DKIM_NA", &[]),
            sym(
                "DMARC_POLICY_QUARANTINE",
                &["example.org : No valid SPF, No valid DKIM", "quarantine"],
            ),
        ];
        let h = header(&symbols, &env(), "mx.test", true);
        assert_eq!(
            h,
            "mx.test; dkim=none; dmarc=fail reason=\"No valid SPF, No valid DKIM\" \
             header.from=example.org (policy=quarantine)"
        );
    }

    #[test]
    fn only_headers_with_our_authserv_id_are_ours() {
        assert!(claims("mx.test; spf=pass smtp.mailfrom=a@b", "mx.test"));
        assert!(claims(" MX.TEST 1; none", "mx.test"));
        assert!(!claims("other.test; spf=pass", "mx.test"));
        assert!(!claims("mx.test.evil; spf=pass", "mx.test"));
    }

    #[test]
    fn the_host_name_is_read_once_and_is_the_default_id() {
        let first = host_name();
        assert!(
            std::ptr::eq(first, host_name()),
            "one string for every call"
        );
        let on_disk = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(first, on_disk.trim());
        let s = ResultsSettings::default();
        assert_eq!(s.authserv_id(&Envelope::default()), first);
    }
}
