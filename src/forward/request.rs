//! The `/checkv2` request headers for one message: what Rspamd's milter
//! bridge sends (rspamd-proxy.md §4.2), so an upstream Rspamd sees the same
//! task it would see behind its own proxy.
use hyper::header::{HeaderName, HeaderValue};

use crate::message::Envelope;

/// Per-group choices that shape the headers.
#[derive(Debug, Clone, Default)]
pub struct HeaderPolicy<'a> {
    /// Forced `Settings-ID`.
    pub settings_id: Option<&'a str>,
    /// `Settings-ID` by the MTA's name, when no forced one.
    pub settings_id_by_mta: Option<&'a std::collections::BTreeMap<String, String>>,
    pub extra: Option<&'a std::collections::BTreeMap<String, String>>,
    pub compressed: bool,
}

/// The header list, in order. Values that cannot travel in an HTTP header
/// (control characters from a hostile MTA peer) are dropped, not sent mangled.
pub fn headers(env: &Envelope, policy: &HeaderPolicy<'_>) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(12 + env.rcpts.len());
    let mut push = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.push((HeaderName::from_static(name), v));
        }
    };
    push("flags", "milter");
    if let Some(from) = &env.from {
        push("from", &format!("<{from}>"));
    }
    for rcpt in &env.rcpts {
        push("rcpt", &format!("<{rcpt}>"));
    }
    if let Some(ip) = env.client_ip {
        push("ip", &ip.to_string());
    }
    opt(&mut push, "hostname", env.client_name.as_deref());
    opt(&mut push, "helo", env.helo.as_deref());
    opt(&mut push, "queue-id", env.queue_id.as_deref());
    opt(&mut push, "log-tag", env.queue_id.as_deref());
    opt(&mut push, "user", env.user.as_deref());
    opt(&mut push, "mta-name", env.mta_name.as_deref());
    let by_mta = env
        .mta_name
        .as_deref()
        .and_then(|m| policy.settings_id_by_mta.and_then(|map| map.get(m)));
    opt(
        &mut push,
        "settings-id",
        policy.settings_id.or(by_mta.map(String::as_str)),
    );
    if policy.compressed {
        push("compression", "zstd");
    }
    push("user-agent", concat!("sluice/", env!("CARGO_PKG_VERSION")));
    if let Some(extra) = policy.extra {
        for (name, value) in extra {
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                continue;
            };
            out.retain(|(existing, _)| *existing != n);
            out.push((n, v));
        }
    }
    out
}

fn opt(push: &mut impl FnMut(&'static str, &str), name: &'static str, v: Option<&str>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        push(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn get<'a>(h: &'a [(HeaderName, HeaderValue)], name: &str) -> Vec<&'a str> {
        h.iter()
            .filter(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.to_str().unwrap())
            .collect()
    }

    fn envelope() -> Envelope {
        Envelope {
            client_ip: Some("192.0.2.7".parse().unwrap()),
            client_name: Some("mx.example.net".into()),
            helo: Some("mx.example.net".into()),
            from: Some("alice@example.net".into()),
            rcpts: vec!["bob@example.org".into(), "carol@example.org".into()],
            queue_id: Some("4ABC123".into()),
            user: None,
            mta_name: Some("postfix/submission".into()),
        }
    }

    #[test]
    fn envelope_maps_to_rspamd_headers() {
        let h = headers(&envelope(), &HeaderPolicy::default());
        assert_eq!(get(&h, "flags"), vec!["milter"]);
        assert_eq!(get(&h, "from"), vec!["<alice@example.net>"]);
        assert_eq!(
            get(&h, "rcpt"),
            vec!["<bob@example.org>", "<carol@example.org>"]
        );
        assert_eq!(get(&h, "ip"), vec!["192.0.2.7"]);
        assert_eq!(get(&h, "queue-id"), vec!["4ABC123"]);
        assert_eq!(get(&h, "mta-name"), vec!["postfix/submission"]);
        assert!(get(&h, "user").is_empty(), "no AUTH, no User header");
        assert!(get(&h, "settings-id").is_empty());
        assert!(get(&h, "compression").is_empty());
    }

    #[test]
    fn null_sender_and_settings_id_from_mta_name() {
        let mut env = envelope();
        env.from = Some(String::new());
        let map: BTreeMap<String, String> =
            [("postfix/submission".to_string(), "outbound".to_string())].into();
        let extra: BTreeMap<String, String> =
            [("Flags".to_string(), "milter,pass_all".to_string())].into();
        let policy = HeaderPolicy {
            settings_id_by_mta: Some(&map),
            extra: Some(&extra),
            compressed: true,
            ..HeaderPolicy::default()
        };
        let h = headers(&env, &policy);
        assert_eq!(get(&h, "from"), vec!["<>"]);
        assert_eq!(get(&h, "settings-id"), vec!["outbound"]);
        assert_eq!(get(&h, "compression"), vec!["zstd"]);
        assert_eq!(get(&h, "flags"), vec!["milter,pass_all"], "extra replaces");
        let forced = HeaderPolicy {
            settings_id: Some("forced"),
            settings_id_by_mta: Some(&map),
            ..HeaderPolicy::default()
        };
        assert_eq!(get(&headers(&env, &forced), "settings-id"), vec!["forced"]);
    }

    #[test]
    fn control_characters_never_reach_the_wire() {
        let mut env = envelope();
        env.helo = Some("evil\r\nX-Injected: 1".into());
        let h = headers(&env, &HeaderPolicy::default());
        assert!(get(&h, "helo").is_empty());
        assert!(get(&h, "x-injected").is_empty());
    }
}
