//! Greylisting (Rspamd's `greylist` module): mail whose action lies between `no action`
//! and `reject` is refused for a while with a temporary error; the same message coming
//! back after `timeout` passes, and keeps passing for `expire`.
//!
//! A message is known by two records, as in Rspamd: its body (the first `max_data_len`
//! bytes) and its envelope (sender, sorted recipients, the client's network under
//! `ipv4_mask` / `ipv6_mask`). Each holds when it was first seen. Before the scan both are
//! read ([`Greylist::check`]); after it, the verdict decides ([`Greylist::apply`]): a new
//! message gets both records and the soft reject, one within its timeout is refused
//! again, one past it passes and has its records renewed.
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::error::StateConfigError;
use super::metrics;
use super::section::Section;
use super::store::{now_ms, Store};
use super::symbol::{hash_key, StateSymbol};
use crate::message::Envelope;
use crate::verdict::Action;

/// The module's settings, Rspamd's defaults.
#[derive(Debug, Clone)]
pub struct GreylistSettings {
    pub timeout: Duration,
    pub expire: Duration,
    pub key_prefix: String,
    pub max_data_len: usize,
    pub message: String,
    pub symbol: String,
    pub action: Action,
    pub ipv4_mask: u8,
    pub ipv6_mask: u8,
    pub report_time: bool,
    pub greylist_min_score: Option<f64>,
    pub whitelisted_ip: Vec<IpNet>,
    /// Host names (and their registered domains) of clients never greylisted.
    pub whitelist_domains: Vec<String>,
}

impl GreylistSettings {
    pub fn from_section(s: &Section<'_>) -> Result<GreylistSettings, StateConfigError> {
        let action = s.string("action", "soft reject")?;
        let action = Action::parse(&action).ok_or_else(|| StateConfigError::Shape {
            key: "greylist.action".into(),
            expected: "an action name",
        })?;
        let mask = |key: &str, default: u8, max: u8| -> Result<u8, StateConfigError> {
            let n = s.number(key, f64::from(default))?;
            if (0.0..=f64::from(max)).contains(&n) {
                Ok(n as u8)
            } else {
                Err(StateConfigError::Shape {
                    key: format!("greylist.{key}"),
                    expected: "a mask length",
                })
            }
        };
        let min = s.opt_string("greylist_min_score")?;
        Ok(GreylistSettings {
            timeout: s.duration("timeout", Duration::from_secs(300))?,
            expire: s.duration("expire", Duration::from_secs(86_400))?,
            key_prefix: s.string("key_prefix", "rg")?,
            max_data_len: s.size("max_data_len", 10_240)?,
            message: s.string("message", "Try again later")?,
            symbol: s.string("symbol", "GREYLIST")?,
            action,
            ipv4_mask: mask("ipv4_mask", 19, 32)?,
            ipv6_mask: mask("ipv6_mask", 64, 128)?,
            report_time: s.boolean("report_time", false)?,
            greylist_min_score: min
                .map(|m| {
                    m.trim()
                        .parse::<f64>()
                        .map_err(|_| StateConfigError::Shape {
                            key: "greylist.greylist_min_score".into(),
                            expected: "a number",
                        })
                })
                .transpose()?,
            whitelisted_ip: s.networks("whitelisted_ip")?,
            whitelist_domains: s
                .list("whitelist_domains_url")?
                .into_iter()
                .map(|d| d.trim_start_matches('.').to_ascii_lowercase())
                .collect(),
        })
    }
}

/// The module: its settings and its store.
#[derive(Debug)]
pub struct Greylist {
    pub settings: GreylistSettings,
    pub store: Store,
    local: Vec<IpNet>,
}

/// What the records said before the scan.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// Authenticated, local, or a whitelisted address: never greylisted.
    Exempt,
    /// No client address: a manual scan, not an MTA's; left as scanned (as Rspamd leaves
    /// `rspamc`'s).
    Manual,
    /// Neither record exists: a new message.
    New,
    /// A record is past its timeout: the message passes (`body` or `meta`).
    Passed(&'static str),
    /// Both records (or the only one) are within the timeout; Unix ms it ends.
    Waiting { until_ms: u64, by: &'static str },
    /// The store failed: the module lets the message through.
    Failed,
}

/// The keys of one message.
#[derive(Debug, Clone)]
pub struct Keys {
    pub body: String,
    pub meta: String,
}

impl Greylist {
    pub fn new(settings: GreylistSettings, store: Store, local: Vec<IpNet>) -> Greylist {
        Greylist {
            settings,
            store,
            local,
        }
    }

    /// Authenticated, local or whitelisted senders.
    fn exempt(&self, env: &Envelope, ip: IpAddr) -> bool {
        env.user.is_some()
            || self.local.iter().any(|n| n.contains(&ip))
            || self.settings.whitelisted_ip.iter().any(|n| n.contains(&ip))
    }

    pub fn keys(&self, env: &Envelope, raw: &[u8]) -> Keys {
        let s = &self.settings;
        let body = body_of(raw);
        let body = &body[..body.len().min(s.max_data_len)];
        let mut meta: Vec<Vec<u8>> = Vec::new();
        let from = env
            .from
            .as_deref()
            .filter(|f| !f.is_empty())
            .unwrap_or("<>");
        meta.push(from.as_bytes().to_vec());
        let mut rcpts: Vec<&str> = env.rcpts.iter().map(String::as_str).collect();
        rcpts.sort_unstable();
        meta.extend(rcpts.iter().map(|r| r.as_bytes().to_vec()));
        if let Some(ip) = env.client_ip {
            meta.push(masked(ip, s.ipv4_mask, s.ipv6_mask).into_bytes());
        }
        let meta_parts: Vec<&[u8]> = meta.iter().map(Vec::as_slice).collect();
        Keys {
            body: hash_key(&format!("{}b", s.key_prefix), &[body], 20),
            meta: hash_key(&format!("{}m", s.key_prefix), &meta_parts, 20),
        }
    }

    /// Reads the message's records (before the scan).
    pub async fn check(&self, env: &Envelope, keys: &Keys, deadline: Instant) -> Seen {
        let Some(ip) = env.client_ip else {
            return Seen::Manual;
        };
        if self.exempt(env, ip) {
            return Seen::Exempt;
        }
        metrics::counters("greylist")
            .checked
            .fetch_add(1, Ordering::Relaxed);
        let got = self
            .store
            .get(&[keys.body.clone(), keys.meta.clone()], deadline)
            .await;
        match got {
            Ok(v) => self.judge(
                v.first().cloned().flatten(),
                v.get(1).cloned().flatten(),
                now_ms(),
            ),
            Err(e) => {
                metrics::failed("greylist", &e);
                Seen::Failed
            }
        }
    }

    /// Rspamd's reading of the two records: the body decides when it passed; otherwise
    /// the envelope; both absent is a new message.
    fn judge(&self, body: Option<String>, meta: Option<String>, now: u64) -> Seen {
        let timeout = u64::try_from(self.settings.timeout.as_millis()).unwrap_or(u64::MAX);
        let at = |v: Option<String>| v.and_then(|t| t.trim().parse::<f64>().ok());
        let waiting = |t: f64| {
            let first = (t * 1000.0) as u64;
            (now < first.saturating_add(timeout)).then_some(now + timeout)
        };
        let (body, meta) = (at(body), at(meta));
        match (body, meta) {
            (None, None) => Seen::New,
            (Some(b), _) if waiting(b).is_none() => Seen::Passed("body"),
            (_, Some(m)) if waiting(m).is_none() => Seen::Passed("meta"),
            (Some(b), _) => Seen::Waiting {
                until_ms: waiting(b).unwrap_or(now),
                by: "body",
            },
            (None, Some(m)) => Seen::Waiting {
                until_ms: waiting(m).unwrap_or(now),
                by: "meta",
            },
        }
    }

    /// Decides on the scanned verdict (after the scan): the action to take instead, if
    /// any, the symbol to show, and the records to write.
    pub async fn apply(
        &self,
        env: &Envelope,
        keys: &Keys,
        seen: &Seen,
        action: &Action,
        score: f64,
        deadline: Instant,
    ) -> Decision {
        let s = &self.settings;
        let downgrade = || Decision {
            action: (*action == Action::Greylist).then_some((Action::NoAction, None)),
            symbol: None,
        };
        if *seen == Seen::Manual {
            return Decision::default();
        }
        if s.greylist_min_score.is_some_and(|min| score < min) || *seen == Seen::Exempt {
            return downgrade();
        }
        let seen = match seen {
            Seen::New | Seen::Waiting { .. } if self.domain_whitelisted(env) => {
                Seen::Passed("meta")
            }
            other => other.clone(),
        };
        if *action == Action::Reject || *action == Action::NoAction {
            return Decision::default();
        }
        let store_keys = [keys.body.clone(), keys.meta.clone()];
        match seen {
            Seen::Exempt => downgrade(),
            Seen::Manual => Decision::default(),
            Seen::Passed(by) => {
                // Renewed in the background: the next sight of the triplet is a later
                // message, and the records stand until then anyway.
                self.store.expire_later(&store_keys, s.expire, "greylist");
                Decision {
                    symbol: Some(StateSymbol::new(&s.symbol, &["pass", by])),
                    ..downgrade()
                }
            }
            Seen::New => {
                let now = now_ms();
                let first = format!("{}", now / 1000);
                let pairs = [
                    (keys.body.clone(), first.clone()),
                    (keys.meta.clone(), first),
                ];
                if let Err(e) = self.store.set(&pairs, s.expire, deadline).await {
                    metrics::failed("greylist", &e);
                    return self.failed();
                }
                let until = time_string(now + ms(s.timeout));
                self.greylisted(&["greylisted", &until, "new record"], &until)
            }
            Seen::Waiting { until_ms, by } => {
                let until = time_string(until_ms);
                self.greylisted(&[&until, by], &until)
            }
            Seen::Failed => self.failed(),
        }
    }

    fn failed(&self) -> Decision {
        Decision {
            action: None,
            symbol: Some(StateSymbol::new(
                &self.settings.symbol,
                &["greylisted", "redis fail"],
            )),
        }
    }

    fn greylisted(&self, options: &[&str], until: &str) -> Decision {
        let s = &self.settings;
        metrics::counters("greylist")
            .hits
            .fetch_add(1, Ordering::Relaxed);
        let message = if s.report_time {
            format!("{}: {until}", s.message)
        } else {
            s.message.clone()
        };
        Decision {
            action: Some((s.action.clone(), Some(message))),
            symbol: Some(StateSymbol::new(&s.symbol, options)),
        }
    }

    /// The client's verified host name, or its registered domain, is on the list.
    fn domain_whitelisted(&self, env: &Envelope) -> bool {
        let list = &self.settings.whitelist_domains;
        let Some(host) = env
            .client_name
            .as_deref()
            .filter(|h| !h.is_empty() && *h != "unknown")
        else {
            return false;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let domain = psl::domain_str(&host).unwrap_or(&host).to_string();
        list.iter().any(|d| *d == host || *d == domain)
    }
}

/// What the module asks of the verdict.
#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    /// The action to take instead, and its SMTP message.
    pub action: Option<(Action, Option<String>)>,
    pub symbol: Option<StateSymbol>,
}

/// The body: what follows the first empty line (all of it when there is none).
fn body_of(raw: &[u8]) -> &[u8] {
    memchr::memmem::find(raw, b"\r\n\r\n")
        .map(|i| &raw[i + 4..])
        .or_else(|| memchr::memmem::find(raw, b"\n\n").map(|i| &raw[i + 2..]))
        .unwrap_or(raw)
}

fn masked(ip: IpAddr, v4: u8, v6: u8) -> String {
    let bits = if ip.is_ipv4() { v4 } else { v6 };
    IpNet::new(ip, bits).map_or(ip.to_string(), |n| n.trunc().addr().to_string())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Unix ms as Rspamd prints times in the symbol's options (`2026-12-07 08:00:00 UTC`).
fn time_string(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::state::store::{Embedded, Lazy};

    fn module(extra: serde_json::Value) -> (Greylist, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let s = Section {
            name: "greylist",
            value: Some(&extra),
        };
        let settings = GreylistSettings::from_section(&s).unwrap();
        let store = Store::Embedded(Arc::new(Lazy::ready(
            Embedded::open(&dir.path().join("s.redb")).unwrap(),
        )));
        let local = crate::config::local_addrs::defaults();
        (Greylist::new(settings, store, local), dir)
    }

    fn env(ip: &str) -> Envelope {
        Envelope {
            client_ip: Some(ip.parse().unwrap()),
            from: Some("a@example.org".into()),
            rcpts: vec!["y@example.com".into(), "x@example.com".into()],
            ..Default::default()
        }
    }

    const MSG: &[u8] = b"Subject: hi\r\n\r\nbody text\r\n";

    #[test]
    fn defaults_are_rspamds() {
        let (g, _d) = module(json!({}));
        let s = &g.settings;
        assert_eq!(
            (s.timeout, s.expire),
            (Duration::from_secs(300), Duration::from_secs(86_400))
        );
        assert_eq!((s.ipv4_mask, s.ipv6_mask, s.max_data_len), (19, 64, 10_240));
        assert_eq!(
            (s.message.as_str(), &s.action),
            ("Try again later", &Action::SoftReject)
        );
    }

    #[test]
    fn keys_follow_the_triplet_and_the_network() {
        let (g, _d) = module(json!({}));
        let a = g.keys(&env("192.0.2.1"), MSG);
        // Same /19, recipients in another order: the same envelope.
        let mut e = env("192.0.31.200");
        e.rcpts.reverse();
        let b = g.keys(&e, MSG);
        assert_eq!(a.meta, b.meta);
        assert_eq!(a.body, b.body);
        assert!(a.body.starts_with("rgb") && a.meta.starts_with("rgm"));
        assert_ne!(g.keys(&env("192.0.32.1"), MSG).meta, a.meta);
        assert_ne!(
            g.keys(&env("192.0.2.1"), b"Subject: hi\r\n\r\nother").body,
            a.body
        );
    }

    #[tokio::test]
    async fn first_attempt_refused_retry_after_the_timeout_passes() {
        let (g, _d) = module(json!({"timeout": "1s"}));
        let e = env("192.0.2.1");
        let keys = g.keys(&e, MSG);
        let deadline = || Instant::now() + Duration::from_secs(1);
        let seen = g.check(&e, &keys, deadline()).await;
        assert_eq!(seen, Seen::New);
        let d = g
            .apply(&e, &keys, &seen, &Action::Greylist, 5.0, deadline())
            .await;
        assert_eq!(
            d.action,
            Some((Action::SoftReject, Some("Try again later".into())))
        );
        // Back within the timeout: refused again.
        let seen = g.check(&e, &keys, deadline()).await;
        assert!(matches!(seen, Seen::Waiting { by: "body", .. }), "{seen:?}");
        let d = g
            .apply(&e, &keys, &seen, &Action::Greylist, 5.0, deadline())
            .await;
        assert_eq!(d.action.unwrap().0, Action::SoftReject);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let seen = g.check(&e, &keys, deadline()).await;
        assert_eq!(seen, Seen::Passed("body"));
        let d = g
            .apply(&e, &keys, &seen, &Action::Greylist, 5.0, deadline())
            .await;
        assert_eq!(d.action, Some((Action::NoAction, None)));
        assert_eq!(d.symbol.unwrap().options, vec!["pass", "body"]);
    }

    #[tokio::test]
    async fn exempt_clean_and_rejected_mail_is_left_alone() {
        let (g, _d) = module(json!({"whitelisted_ip": "203.0.113.0/24",
                                    "whitelist_domains_url": ["example.net"]}));
        let deadline = Instant::now() + Duration::from_secs(1);
        for ip in ["127.0.0.1", "10.1.2.3", "203.0.113.9"] {
            let e = env(ip);
            let keys = g.keys(&e, MSG);
            let seen = g.check(&e, &keys, deadline).await;
            assert_eq!(seen, Seen::Exempt, "{ip}");
            let d = g
                .apply(&e, &keys, &seen, &Action::Greylist, 5.0, deadline)
                .await;
            assert_eq!(d.action, Some((Action::NoAction, None)), "{ip}");
        }
        let mut manual = env("192.0.2.1");
        manual.client_ip = None;
        let keys = g.keys(&manual, MSG);
        let seen = g.check(&manual, &keys, deadline).await;
        assert_eq!(seen, Seen::Manual);
        let d = g
            .apply(&manual, &keys, &seen, &Action::Greylist, 5.0, deadline)
            .await;
        assert_eq!(d, Decision::default(), "a manual scan keeps its action");
        let e = env("192.0.2.1");
        let keys = g.keys(&e, MSG);
        let seen = g.check(&e, &keys, deadline).await;
        for a in [Action::NoAction, Action::Reject] {
            assert_eq!(
                g.apply(&e, &keys, &seen, &a, 0.0, deadline).await,
                Decision::default()
            );
        }
        let mut named = e.clone();
        named.client_name = Some("mx1.out.example.net".into());
        let d = g
            .apply(&named, &keys, &seen, &Action::AddHeader, 7.0, deadline)
            .await;
        assert_eq!(
            d.action, None,
            "whitelisted domain passes, keeps its action"
        );
        // Still new: nothing was written for the rejected or clean ones.
        assert_eq!(g.check(&e, &keys, deadline).await, Seen::New);
    }

    #[test]
    fn times_print_as_utc() {
        assert_eq!(time_string(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(time_string(1_796_630_400_000), "2026-12-07 08:00:00 UTC");
    }
}
