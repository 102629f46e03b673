//! hfilter's DNS half: whether the HELO name, the envelope sender's domain and the
//! Message-ID's domain resolve (Rspamd's `HFILTER_*_NORES_A_OR_MX`, `*_NORESOLVE_MX`,
//! `HFILTER_HELO_IP_A`). The non-DNS hfilter symbols are the content module's
//! ([`crate::scan::modules::hfilter`]); these run in the auth phase, on the shared resolver.
//!
//! As in Rspamd: a name with neither A nor AAAA records is looked up as a mail domain; no MX
//! gives `NORES_A_OR_MX`, an MX whose exchanger has neither A nor AAAA gives
//! `NORESOLVE_MX`; a HELO name without addresses also gives `HELO_IP_A`. Unlike Rspamd, a
//! lookup that failed (timeout, server failure) says nothing, so a slow resolver never scores.
//! Rspamd skips the HELO lookups when its HELO regexes already weighed the name; here an
//! address literal or a dynamic-looking name is skipped.

use std::net::IpAddr;

use futures_util::future::join_all;
use serde_json::Value;

use super::hit::Hit;
use super::symbols::SymbolDef;
use crate::config::value;
use crate::dns::{Budget, DnsError, Resolver};
use crate::message::Envelope;
use crate::scan::error::ScanConfigError;
use crate::scan::modules::util::{is_fqdn, looks_dynamic, parse_ip};

/// The symbols with Rspamd 3.4's weights (`scores.d/hfilter_group.conf`).
pub const SYMBOLS: &[SymbolDef] = &[
    (
        "HFILTER_HELO_NORESOLVE_MX",
        "hfilter",
        0.2,
        "MX of the HELO name does not resolve",
        false,
    ),
    (
        "HFILTER_HELO_NORES_A_OR_MX",
        "hfilter",
        0.3,
        "HELO name has no A, AAAA or MX",
        false,
    ),
    (
        "HFILTER_HELO_IP_A",
        "hfilter",
        1.0,
        "HELO name has no address",
        false,
    ),
    (
        "HFILTER_FROMHOST_NORESOLVE_MX",
        "hfilter",
        0.5,
        "MX of the sender domain does not resolve",
        false,
    ),
    (
        "HFILTER_FROMHOST_NORES_A_OR_MX",
        "hfilter",
        1.5,
        "Sender domain has no A, AAAA or MX",
        false,
    ),
    (
        "HFILTER_MID_NORESOLVE_MX",
        "hfilter",
        0.5,
        "MX of the Message-ID domain does not resolve",
        false,
    ),
    (
        "HFILTER_MID_NORES_A_OR_MX",
        "hfilter",
        0.5,
        "Message-ID domain has no A, AAAA or MX",
        false,
    ),
];

/// Which hosts are checked (the `hfilter` section's `helo_enabled`, `from_enabled`,
/// `mid_enabled`, with the values Rspamd ships; `check_local`, `check_authed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostChecks {
    pub helo: bool,
    pub from: bool,
    pub mid: bool,
    pub check_local: bool,
    pub check_authed: bool,
}

impl HostChecks {
    /// `None` when the module or all three checks are off.
    pub fn from_section(section: Option<&Value>) -> Result<Option<HostChecks>, ScanConfigError> {
        let flag = |key: &str, default: bool| -> Result<bool, ScanConfigError> {
            match section.and_then(|s| s.get(key)) {
                Some(v) => value::boolean(v).map_err(|w| ScanConfigError::Auth {
                    section: "hfilter".into(),
                    reason: format!("`{key}` must be {w}"),
                }),
                None => Ok(default),
            }
        };
        let c = HostChecks {
            helo: flag("helo_enabled", true)?,
            from: flag("from_enabled", true)?,
            mid: flag("mid_enabled", false)?,
            check_local: flag("check_local", false)?,
            check_authed: flag("check_authed", false)?,
        };
        let on = flag("enabled", true)? && (c.helo || c.from || c.mid);
        Ok(on.then_some(c))
    }

    /// The symbols for one message.
    pub async fn run(
        &self,
        resolver: &Resolver,
        env: &Envelope,
        message_id: Option<&str>,
        local: bool,
        budget: Budget,
    ) -> Vec<Hit> {
        if (!self.check_authed && env.user.as_deref().is_some_and(|u| !u.is_empty()))
            || (!self.check_local && local)
        {
            return Vec::new();
        }
        let mut hosts: Vec<(String, Kind, Option<IpAddr>)> = Vec::new();
        if self.helo {
            if let (Some(helo), Some(ip)) = (env.helo.as_deref(), env.client_ip) {
                let helo = helo.trim_matches(['[', ']']).to_ascii_lowercase();
                if helo != "rspamc.local" && parse_ip(&helo).is_none() && !looks_dynamic(&helo) {
                    hosts.push((helo, Kind::Helo, Some(ip)));
                }
            }
        }
        if self.from {
            if let Some((_, d)) = env.from.as_deref().and_then(|f| f.rsplit_once('@')) {
                hosts.push((
                    d.trim_end_matches('>').to_ascii_lowercase(),
                    Kind::FromHost,
                    None,
                ));
            }
        }
        if self.mid {
            if let Some((_, d)) = message_id.and_then(|m| m.split_once('@')) {
                if !d.contains("local") {
                    hosts.push((
                        d.trim_end_matches('>').to_ascii_lowercase(),
                        Kind::Mid,
                        None,
                    ));
                }
            }
        }
        let checks = hosts
            .iter()
            .filter(|(h, _, _)| is_fqdn(h))
            .map(|(h, kind, ip)| check_host(resolver, h, *kind, *ip, budget));
        join_all(checks).await.into_iter().flatten().collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Helo,
    FromHost,
    Mid,
}

impl Kind {
    fn symbols(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Kind::Helo => (
                "HFILTER_HELO_NORES_A_OR_MX",
                "HFILTER_HELO_NORESOLVE_MX",
                Some("HFILTER_HELO_IP_A"),
            ),
            Kind::FromHost => (
                "HFILTER_FROMHOST_NORES_A_OR_MX",
                "HFILTER_FROMHOST_NORESOLVE_MX",
                None,
            ),
            Kind::Mid => (
                "HFILTER_MID_NORES_A_OR_MX",
                "HFILTER_MID_NORESOLVE_MX",
                None,
            ),
        }
    }
}

/// Whether a name has an address: `Some(true)`, `Some(false)` (definitely none), `None`
/// (a lookup failed: nothing can be said).
async fn has_address(resolver: &Resolver, name: &str, budget: Budget) -> Option<bool> {
    let (a, aaaa) = tokio::join!(resolver.a(name, &budget), resolver.aaaa(name, &budget));
    match (a, aaaa) {
        (Ok(_), _) | (_, Ok(_)) => Some(true),
        (Err(x), Err(y)) if x.is_temporary() || y.is_temporary() => None,
        _ => Some(false),
    }
}

async fn check_host(
    resolver: &Resolver,
    host: &str,
    kind: Kind,
    ip: Option<IpAddr>,
    budget: Budget,
) -> Vec<Hit> {
    let (nores, noresolve_mx, ip_a) = kind.symbols();
    if has_address(resolver, host, budget).await != Some(false) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let (Some(sym), Some(_)) = (ip_a, ip) {
        out.push(Hit::with(sym, host));
    }
    let mxs = match resolver.mx(host, &budget).await {
        Ok(mxs) => mxs,
        Err(DnsError::NxDomain { .. } | DnsError::NoData { .. }) => {
            out.push(Hit::with(nores, host));
            return out;
        }
        Err(_) => return out,
    };
    let exchangers = mxs.iter().map(|mx| async move {
        (
            mx.exchange.clone(),
            has_address(resolver, &mx.exchange, budget).await,
        )
    });
    for (name, found) in join_all(exchangers).await {
        if found == Some(false) {
            match out.iter_mut().find(|h| h.symbol == noresolve_mx) {
                Some(h) => h.options.push(name),
                None => out.push(Hit::with(noresolve_mx, name)),
            }
        }
    }
    out
}

/// The Message-ID header's value without angle brackets, read from the raw header block.
pub fn message_id(raw: &[u8]) -> Option<String> {
    let end = memchr::memmem::find(raw, b"\r\n\r\n")
        .or_else(|| memchr::memmem::find(raw, b"\n\n"))
        .unwrap_or(raw.len());
    let headers = String::from_utf8_lossy(&raw[..end]);
    let mut lines = headers.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        let mut v = value.trim().to_string();
        while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
            v.push_str(next.trim());
            lines.next();
        }
        let id = v
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        return (!id.is_empty()).then(|| id.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn switches_follow_rspamds_shipped_values() {
        let c = HostChecks::from_section(None).unwrap().unwrap();
        assert!(c.helo && c.from && !c.mid && !c.check_local);
        let off = HostChecks::from_section(Some(&json!({"enabled": false}))).unwrap();
        assert!(off.is_none());
        let e = HostChecks::from_section(Some(&json!({"mid_enabled": "x"}))).unwrap_err();
        assert!(e.to_string().contains("mid_enabled"), "{e}");
    }

    #[test]
    fn message_id_from_the_header_block() {
        let raw =
            b"From: a@b\r\nMessage-Id:\r\n <abc@mail.example.org>\r\n\r\nMessage-ID: <no@body>\r\n";
        assert_eq!(message_id(raw).as_deref(), Some("abc@mail.example.org"));
        assert_eq!(message_id(b"From: a@b\r\n\r\nbody"), None);
    }
}
