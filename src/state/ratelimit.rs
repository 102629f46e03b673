//! Rate limits (Rspamd's `ratelimit` module): leaky buckets keyed by parts of the
//! envelope (`to`, `to_ip`, `to_ip_from`, `bounce_to`, `bounce_to_ip`, `user`, ...), of
//! the message (`digest`, `attachments`, `files`, see [`super::facts`]) or by a selector
//! (`selector = "from:domain"`, each value a bucket); a message that would overflow a
//! bucket gets a soft reject with Rspamd's message (`Ratelimit "to" exceeded`).
//!
//! Each bucket holds a level that leaks at `rate` messages a second and may not pass
//! `burst`. Unlike Rspamd (a check before the scan, an update after it), one script per
//! message checks every bucket of the message and, when none is full, adds the message
//! (its recipient count) to all of them: one round trip, and two nodes cannot both take
//! the last place. The buckets' records are Rspamd's hash fields `l` (last leak, ms), `b`
//! (level) and the dynamic multipliers `dr` and `db` ([`super::dynamic`]), which the
//! verdict moves after the scan (a second script, only for spam and ham).
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde_json::Value;

use super::dynamic::{self, Dynamic, Stored};
use super::error::StateConfigError;
use super::facts::Facts;
use super::metrics;
use super::section::Section;
use super::store::{now_ms, Records, Store};
use super::symbol::hash_key;
use crate::config::value;
use crate::message::Envelope;
use crate::redis::client::Script;
use crate::verdict::Verdict;

/// Checks every bucket of a message, then fills them all unless one is full.
/// KEYS: the buckets. ARGV[1]: now (ms); ARGV[2]: expire (s); then per bucket: leak rate
/// (messages per ms), burst, increment. Returns 0, or the 1-based index of the full bucket.
/// The rate and burst are scaled by the bucket's dynamic multipliers (`dr`, `db`).
const SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local levels = {}
for i, key in ipairs(KEYS) do
  local base = 2 + (i - 1) * 3
  local rate, burst, incr = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local f = redis.call('HMGET', key, 'b', 'l', 'dr', 'db')
  local level = tonumber(f[1] or '0') or 0
  local last = tonumber(f[2] or ARGV[1]) or now
  local dr = (tonumber(f[3] or '10000') or 10000) / 10000
  local db = (tonumber(f[4] or '10000') or 10000) / 10000
  if dr == 0 then dr = 0.0001 end
  if db == 0 then db = 0.0001 end
  if level > 0 and now > last then
    level = level - (now - last) * rate * dr
    if level < 0 then level = 0 end
  end
  if level > 0 and level + incr > burst * db then
    return i
  end
  levels[i] = level
end
for i, key in ipairs(KEYS) do
  local incr = tonumber(ARGV[2 + (i - 1) * 3 + 3])
  redis.call('HSET', key, 'l', ARGV[1], 'b', tostring(levels[i] + incr))
  redis.call('EXPIRE', key, ARGV[2])
end
return 0
";

fn script() -> &'static Script {
    static S: OnceLock<Script> = OnceLock::new();
    S.get_or_init(|| Script::new(SCRIPT))
}

/// One bucket: `burst` messages, leaking `rate` a second.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub burst: f64,
    pub rate: f64,
    pub skip_recipients: bool,
    pub message: Option<String>,
    pub skip_soft_reject: bool,
}

/// A configured limit: its name (which names its keywords, unless it has a selector) and
/// buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub name: String,
    pub keywords: Vec<Keyword>,
    /// Rspamd's `selector`: the bucket keys are its values (keywords are then unused).
    pub selector: Option<String>,
    pub buckets: Vec<Bucket>,
}

/// The parts of the envelope a limit's name is made of (`to_ip_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Ip,
    Rip,
    From,
    Bounce,
    User,
    To,
    Digest,
    Attachments,
    Files,
}

impl Keyword {
    fn parse(s: &str) -> Option<Keyword> {
        Some(match s {
            "ip" => Keyword::Ip,
            "rip" => Keyword::Rip,
            "from" => Keyword::From,
            "bounce" => Keyword::Bounce,
            "user" => Keyword::User,
            "to" => Keyword::To,
            "digest" => Keyword::Digest,
            "attachments" => Keyword::Attachments,
            "files" => Keyword::Files,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct RatelimitSettings {
    pub limits: Vec<Limit>,
    pub bounce_senders: Vec<String>,
    pub whitelisted_rcpts: Vec<String>,
    pub whitelisted_ip: Vec<IpNet>,
    pub whitelisted_user: Vec<String>,
    pub prefix: String,
    pub expire: Duration,
    /// Limits skipped: a keyword sluice does not know (for the start log).
    pub skipped: Vec<String>,
    pub dynamic: Dynamic,
}

impl RatelimitSettings {
    pub fn from_section(s: &Section<'_>) -> Result<RatelimitSettings, StateConfigError> {
        let mut limits = Vec::new();
        let mut skipped = Vec::new();
        if let Some(Value::Object(rates)) = s.value.and_then(|v| v.get("rates")) {
            for (name, spec) in rates {
                let key = format!("ratelimit.rates.{name}");
                let selector = match spec.get("selector") {
                    Some(v) => Some(value::string(v).map_err(|e| StateConfigError::Shape {
                        key: format!("{key}.selector"),
                        expected: e,
                    })?),
                    None => None,
                };
                let keywords: Option<Vec<Keyword>> = match selector {
                    Some(_) => Some(Vec::new()),
                    None => name.split('_').map(Keyword::parse).collect(),
                };
                let Some(keywords) = keywords else {
                    skipped.push(name.clone());
                    continue;
                };
                let buckets = match spec.get("bucket") {
                    Some(Value::Array(list)) => list
                        .iter()
                        .map(|b| bucket(b, &key))
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(b) => vec![bucket(b, &key)?],
                    None => vec![bucket(spec, &key)?],
                };
                limits.push(Limit {
                    name: name.clone(),
                    keywords,
                    selector,
                    buckets,
                });
            }
        }
        let default_list = |key: &str, default: &[&str]| -> Result<Vec<String>, StateConfigError> {
            let l = s.list(key)?;
            Ok(if s.value.and_then(|v| v.get(key)).is_some() {
                l
            } else {
                default.iter().map(ToString::to_string).collect()
            })
        };
        Ok(RatelimitSettings {
            limits,
            bounce_senders: default_list(
                "bounce_senders",
                &[
                    "postmaster",
                    "mailer-daemon",
                    "",
                    "null",
                    "fetchmail-daemon",
                    "mdaemon",
                ],
            )?,
            whitelisted_rcpts: default_list("whitelisted_rcpts", &["postmaster", "mailer-daemon"])?
                .into_iter()
                .map(|r| r.to_ascii_lowercase())
                .collect(),
            whitelisted_ip: s.networks("whitelisted_ip")?,
            whitelisted_user: s.list("whitelisted_user")?,
            prefix: s.string("prefix", "RL")?,
            expire: s.duration("expire", Duration::from_secs(2 * 86_400))?,
            skipped,
            dynamic: Dynamic::from_section(s)?,
        })
    }

    /// The selectors of the limits, for the scan to evaluate.
    pub fn selectors(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .limits
            .iter()
            .filter_map(|l| l.selector.clone())
            .collect();
        out.dedup();
        out
    }

    /// Whether a limit reads the message's MIME parts (`digest`, `attachments`, `files`).
    pub fn reads_parts(&self) -> bool {
        self.limits.iter().any(|l| {
            l.keywords
                .iter()
                .any(|k| matches!(k, Keyword::Digest | Keyword::Attachments | Keyword::Files))
        })
    }
}

/// A bucket: Rspamd's `{ burst = N; rate = "N / time" | N; }`, or the old `"N / time"`
/// string (burst N, leaking N per that time).
fn bucket(v: &Value, key: &str) -> Result<Bucket, StateConfigError> {
    let shape = |expected| StateConfigError::Shape {
        key: key.to_string(),
        expected,
    };
    if let Value::String(s) = v {
        let (n, per) = parse_rate(s).ok_or(shape("a rate such as \"100 / 1m\""))?;
        return Ok(Bucket {
            burst: n,
            rate: n / per,
            skip_recipients: false,
            message: None,
            skip_soft_reject: false,
        });
    }
    let burst = v
        .get("burst")
        .and_then(|b| value::size(b).ok())
        .ok_or(shape("a bucket with `burst` and `rate`"))? as f64;
    let rate = match v.get("rate") {
        Some(Value::String(s)) => parse_rate(s).map(|(n, per)| n / per),
        Some(r) => r.as_f64(),
        None => None,
    }
    .filter(|r| *r > 0.0)
    .ok_or(shape("a bucket with `burst` and `rate`"))?;
    Ok(Bucket {
        burst,
        rate,
        skip_recipients: v
            .get("skip_recipients")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        message: v.get("message").and_then(Value::as_str).map(str::to_string),
        skip_soft_reject: v
            .get("skip_soft_reject")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// `"100 / 1m"` -> (100, 60): a count (k/m/g suffixes) per a time (s/m/h/d suffixes).
pub fn parse_rate(s: &str) -> Option<(f64, f64)> {
    let (n, t) = s.split_once('/')?;
    let (n, t) = (n.trim(), t.trim());
    let scaled = |text: &str, suffixes: &[(char, f64)]| -> Option<f64> {
        let last = text.chars().last()?;
        let (num, mult) = match suffixes.iter().find(|(c, _)| *c == last) {
            Some((_, m)) => (&text[..text.len() - 1], *m),
            None => (text, 1.0),
        };
        num.parse::<f64>().ok().map(|v| v * mult)
    };
    let count = scaled(n, &[('k', 1e3), ('m', 1e6), ('g', 1e9)])?;
    let per = scaled(
        t,
        &[('s', 1.0), ('m', 60.0), ('h', 3600.0), ('d', 86_400.0)],
    )?;
    (count > 0.0 && per > 0.0).then_some((count, per))
}

/// The module.
#[derive(Debug)]
pub struct Ratelimit {
    pub settings: RatelimitSettings,
    pub store: Store,
    local: Vec<IpNet>,
}

/// A full bucket: the limit's name and the SMTP message.
#[derive(Debug, Clone, PartialEq)]
pub struct Exceeded {
    pub limit: String,
    /// `None`: the bucket only counts (`skip_soft_reject`).
    pub message: Option<String>,
}

/// One bucket of one message.
struct Prefix {
    key: String,
    limit: usize,
    bucket: usize,
}

impl Ratelimit {
    pub fn new(settings: RatelimitSettings, store: Store, local: Vec<IpNet>) -> Ratelimit {
        Ratelimit {
            settings,
            store,
            local,
        }
    }

    fn whitelisted(&self, env: &Envelope) -> bool {
        let s = &self.settings;
        let ip = env
            .client_ip
            .is_some_and(|ip| s.whitelisted_ip.iter().any(|n| n.contains(&ip)));
        let rcpt = env.rcpts.iter().any(|r| {
            let r = r.to_ascii_lowercase();
            let user = r.split('@').next().unwrap_or("").to_string();
            s.whitelisted_rcpts.contains(&r) || s.whitelisted_rcpts.contains(&user)
        });
        let user = env
            .user
            .as_ref()
            .is_some_and(|u| s.whitelisted_user.contains(u));
        ip || rcpt || user
    }

    /// The value of one keyword for this message; `None` leaves the limit out.
    fn keyword(&self, k: Keyword, env: &Envelope, facts: &Facts) -> Option<String> {
        match k {
            Keyword::Ip => env.client_ip.map(|ip| ip.to_string()),
            Keyword::Rip => env
                .client_ip
                .filter(|ip| !self.local.iter().any(|n| n.contains(ip)))
                .map(|ip| ip.to_string()),
            Keyword::From => env.from.as_ref().map(|f| f.to_ascii_lowercase()),
            Keyword::Bounce => {
                let from = env.from.as_deref().unwrap_or("");
                let user = from.rsplit_once('@').map_or(from, |(u, _)| u);
                let bounce = user.is_empty()
                    || self
                        .settings
                        .bounce_senders
                        .iter()
                        .any(|b| b.eq_ignore_ascii_case(user));
                bounce.then(|| "_".to_string())
            }
            Keyword::User => env.user.clone(),
            Keyword::To => env.rcpts.first().map(|r| r.to_ascii_lowercase()),
            Keyword::Digest => facts.digest.clone(),
            Keyword::Attachments => facts.attachments.clone(),
            Keyword::Files => facts.files.clone(),
        }
    }

    fn prefixes(&self, env: &Envelope, facts: &Facts) -> Vec<Prefix> {
        let mut out = Vec::new();
        for (li, limit) in self.settings.limits.iter().enumerate() {
            if let Some(sel) = &limit.selector {
                self.selector_prefixes(li, sel, facts, &mut out);
                continue;
            }
            let values: Option<Vec<String>> = limit
                .keywords
                .iter()
                .map(|k| self.keyword(*k, env, facts))
                .collect();
            let Some(values) = values else {
                continue;
            };
            for (bi, b) in limit.buckets.iter().enumerate() {
                let id = format!("{}:{}", (100_000.0 / b.burst).round(), values.join(":"));
                out.push(Prefix {
                    key: self.bucket_key(id.as_bytes()),
                    limit: li,
                    bucket: bi,
                });
            }
        }
        out
    }

    /// Rspamd's bucket key. Under a Redis Cluster the prefix is also the hash tag: one
    /// script checks and fills all of a message's buckets, so they share a slot (and
    /// the rate limits live on one master).
    fn bucket_key(&self, id: &[u8]) -> String {
        let prefix = &self.settings.prefix;
        self.store.tag(prefix, hash_key(prefix, &[id], 24))
    }

    /// A selector's buckets: one per value, keyed by the value alone (as Rspamd keys them).
    fn selector_prefixes(&self, li: usize, sel: &str, facts: &Facts, out: &mut Vec<Prefix>) {
        let Some(values) = facts.selected.get(sel) else {
            return;
        };
        let limit = &self.settings.limits[li];
        for v in values.iter().filter(|v| !v.is_empty()) {
            for bi in 0..limit.buckets.len() {
                out.push(Prefix {
                    key: self.bucket_key(v.as_bytes()),
                    limit: li,
                    bucket: bi,
                });
            }
        }
    }

    /// Checks and fills the message's buckets (before the scan). `None`: within every
    /// limit (or none applies); a store failure lets the message through.
    pub async fn check(&self, env: &Envelope, deadline: Instant) -> Option<Exceeded> {
        self.check_with(env, &Facts::default(), deadline).await.0
    }

    /// [`Ratelimit::check`] with the message's facts, also giving the buckets filled (for
    /// [`Ratelimit::update`] after the scan; none when the message was refused).
    pub async fn check_with(
        &self,
        env: &Envelope,
        facts: &Facts,
        deadline: Instant,
    ) -> (Option<Exceeded>, Vec<String>) {
        if self.whitelisted(env) {
            return (None, Vec::new());
        }
        let prefixes = self.prefixes(env, facts);
        if prefixes.is_empty() {
            return (None, Vec::new());
        }
        metrics::counters("ratelimit")
            .checked
            .fetch_add(1, Ordering::Relaxed);
        let nrcpt = env.rcpts.len().max(1) as f64;
        let now = now_ms();
        let expire = self.settings.expire.as_secs().max(1);
        let mut args = vec![now.to_string(), expire.to_string()];
        let mut params = Vec::with_capacity(prefixes.len());
        for p in &prefixes {
            let b = &self.settings.limits[p.limit].buckets[p.bucket];
            let incr = if b.skip_recipients { 1.0 } else { nrcpt };
            params.push((b.rate / 1000.0, b.burst, incr));
            args.extend([
                (b.rate / 1000.0).to_string(),
                b.burst.to_string(),
                incr.to_string(),
            ]);
        }
        let keys: Vec<String> = prefixes.iter().map(|p| p.key.clone()).collect();
        let ttl = Duration::from_secs(expire);
        let local = |r: &mut dyn Records| fill(r, &keys, &params, now, ttl);
        let full: i64 = match self
            .store
            .atomic(script(), &keys, &args, local, deadline)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                metrics::failed("ratelimit", &e);
                return (None, Vec::new());
            }
        };
        let Some(p) = usize::try_from(full)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| prefixes.get(i))
        else {
            return (None, keys);
        };
        metrics::counters("ratelimit")
            .hits
            .fetch_add(1, Ordering::Relaxed);
        let limit = &self.settings.limits[p.limit];
        let b = &limit.buckets[p.bucket];
        tracing::info!(
            "ratelimit \"{}\" exceeded ({} / {}/s); key {}",
            limit.name,
            b.burst,
            b.rate,
            p.key
        );
        let exceeded = Exceeded {
            limit: limit.name.clone(),
            message: (!b.skip_soft_reject).then(|| {
                b.message
                    .clone()
                    .unwrap_or_else(|| format!("Ratelimit \"{}\" exceeded", limit.name))
            }),
        };
        (Some(exceeded), Vec::new())
    }

    /// After the scan: the dynamic multipliers of the message's buckets moved by its
    /// verdict (spam narrows, ham widens; other verdicts leave them). Written in the
    /// background ([`Store::atomic_later`]); a failure is counted and changes nothing else.
    pub fn update(&self, keys: &[String], v: &Verdict) {
        let d = &self.settings.dynamic;
        if keys.is_empty() || !d.enabled() {
            return;
        }
        let Some(f) = d.factors(v) else {
            return;
        };
        let ttl = self.settings.expire;
        let local = |r: &mut dyn Records| d.adjust(r, keys, f, ttl);
        self.store
            .atomic_later(dynamic::script(), keys, &d.args(f), local, "ratelimit");
    }
}

/// The script's work on the embedded store: the same leak, check and fill.
fn fill(
    r: &mut dyn Records,
    keys: &[String],
    params: &[(f64, f64, f64)],
    now: u64,
    ttl: Duration,
) -> i64 {
    let mut buckets = Vec::with_capacity(keys.len());
    for (i, (key, (rate, burst, incr))) in keys.iter().zip(params).enumerate() {
        let mut b = r
            .read(key)
            .as_deref()
            .and_then(Stored::parse)
            .unwrap_or(Stored {
                last: now,
                level: 0.0,
                dr: dynamic::UNIT,
                db: dynamic::UNIT,
            });
        if b.level > 0.0 && now > b.last {
            b.level = (b.level - (now - b.last) as f64 * rate * Stored::mult(b.dr)).max(0.0);
        }
        if b.level > 0.0 && b.level + incr > burst * Stored::mult(b.db) {
            return i64::try_from(i + 1).unwrap_or(i64::MAX);
        }
        buckets.push(b);
    }
    for ((key, (_, _, incr)), mut b) in keys.iter().zip(params).zip(buckets) {
        b.last = now;
        b.level += incr;
        r.write(key, &b.to_string(), ttl);
    }
    0
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::state::store::{Embedded, Lazy};

    fn module(section: serde_json::Value) -> (Ratelimit, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let s = Section {
            name: "ratelimit",
            value: Some(&section),
        };
        let settings = RatelimitSettings::from_section(&s).unwrap();
        let store = Store::Embedded(Arc::new(Lazy::ready(
            Embedded::open(&dir.path().join("s.redb")).unwrap(),
        )));
        (
            Ratelimit::new(settings, store, crate::config::local_addrs::defaults()),
            dir,
        )
    }

    fn env(rcpt: &str) -> Envelope {
        Envelope {
            client_ip: Some("192.0.2.1".parse().unwrap()),
            from: Some("a@example.org".into()),
            rcpts: vec![rcpt.into()],
            ..Default::default()
        }
    }

    #[test]
    fn rates_and_buckets_parse_as_rspamd_does() {
        assert_eq!(parse_rate("100 / 1s"), Some((100.0, 1.0)));
        assert_eq!(parse_rate("1/1m"), Some((1.0, 60.0)));
        assert_eq!(parse_rate("2k / 1h"), Some((2000.0, 3600.0)));
        assert_eq!(parse_rate("1 / 0s"), None);
        assert_eq!(parse_rate("many"), None);
        let (r, _d) = module(json!({"rates": {
            "to": "100 / 1s",
            "to_ip": {"bucket": {"burst": 10, "rate": "1 / 1m"}},
            "user": {"bucket": [{"burst": 5, "rate": 0.5}, {"burst": 50, "rate": "1 / 1h"}]},
            "custom": {"selector": "from", "bucket": {"burst": 1, "rate": 1}},
            "to_asn": "1 / 1s"
        }}));
        let s = &r.settings;
        assert_eq!(s.limits.len(), 4);
        let to = s.limits.iter().find(|l| l.name == "to").unwrap();
        assert_eq!((to.buckets[0].burst, to.buckets[0].rate), (100.0, 100.0));
        let to_ip = s.limits.iter().find(|l| l.name == "to_ip").unwrap();
        assert_eq!(to_ip.keywords, vec![Keyword::To, Keyword::Ip]);
        assert!((to_ip.buckets[0].rate - 1.0 / 60.0).abs() < 1e-12);
        assert_eq!(
            s.limits
                .iter()
                .find(|l| l.name == "user")
                .unwrap()
                .buckets
                .len(),
            2
        );
        assert_eq!(s.skipped, vec!["to_asn"]);
        assert_eq!(s.selectors(), vec!["from"]);
        assert!(!s.reads_parts());
        assert_eq!(s.whitelisted_rcpts, vec!["postmaster", "mailer-daemon"]);
        let bad = json!({"rates": {"to": {"bucket": {"burst": 1}}}});
        assert!(RatelimitSettings::from_section(&Section {
            name: "ratelimit",
            value: Some(&bad)
        })
        .is_err());
    }

    #[tokio::test]
    async fn a_burst_over_the_limit_refuses_the_excess_only() {
        let (r, _d) = module(json!({"rates": {"to": "5 / 1h"}}));
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut refused = 0;
        for _ in 0..8 {
            if let Some(x) = r.check(&env("x@example.com"), deadline).await {
                assert_eq!(x.message.as_deref(), Some("Ratelimit \"to\" exceeded"));
                refused += 1;
            }
        }
        assert_eq!(refused, 3);
        // Another recipient has its own bucket; a whitelisted one is not counted.
        assert!(r.check(&env("y@example.com"), deadline).await.is_none());
        for _ in 0..10 {
            assert!(r
                .check(&env("postmaster@example.com"), deadline)
                .await
                .is_none());
        }
    }

    #[tokio::test]
    async fn the_bucket_leaks() {
        let (r, _d) = module(json!({"rates": {"to": {"bucket": {"burst": 2, "rate": "10 / 1s"}}}}));
        let deadline = || Instant::now() + Duration::from_secs(1);
        assert!(r.check(&env("x@example.com"), deadline()).await.is_none());
        assert!(r.check(&env("x@example.com"), deadline()).await.is_none());
        assert!(r.check(&env("x@example.com"), deadline()).await.is_some());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(r.check(&env("x@example.com"), deadline()).await.is_none());
    }

    fn facts(selected: &[(&str, &[&str])]) -> Facts {
        Facts {
            selected: selected
                .iter()
                .map(|(e, v)| (e.to_string(), v.iter().map(ToString::to_string).collect()))
                .collect(),
            ..Facts::default()
        }
    }

    #[tokio::test]
    async fn a_selector_bucket_per_value() {
        let (r, _d) = module(json!({"rates": {"by_domain": {
            "selector": "from:domain", "bucket": {"burst": 2, "rate": "1 / 1h"}}}}));
        let deadline = Instant::now() + Duration::from_secs(1);
        let a = facts(&[("from:domain", &["a.example"])]);
        let b = facts(&[("from:domain", &["b.example"])]);
        let e = env("x@example.com");
        assert!(r.check_with(&e, &a, deadline).await.0.is_none());
        assert!(r.check_with(&e, &a, deadline).await.0.is_none());
        let x = r.check_with(&e, &a, deadline).await.0.unwrap();
        assert_eq!(
            x.message.as_deref(),
            Some("Ratelimit \"by_domain\" exceeded")
        );
        assert!(r.check_with(&e, &b, deadline).await.0.is_none());
        // No value: the limit does not apply.
        for _ in 0..5 {
            assert!(r.check_with(&e, &facts(&[]), deadline).await.0.is_none());
        }
    }

    #[tokio::test]
    async fn digest_attachments_and_files_keywords() {
        let (r, _d) = module(json!({"rates": {"files": "1 / 1h", "digest": "2 / 1h"}}));
        let deadline = Instant::now() + Duration::from_secs(1);
        let msg = b"Subject: f\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: application/zip; name=x.zip\r\n\r\nZIP\r\n--b--\r\n";
        let with_file = Facts::from_message(msg, Default::default());
        let e = env("x@example.com");
        assert!(r.check_with(&e, &with_file, deadline).await.0.is_none());
        let x = r.check_with(&e, &with_file, deadline).await.0.unwrap();
        assert_eq!(x.limit, "files");
        // Without files only the digest limit applies, for its own message.
        let plain = Facts::from_message(b"Subject: p\r\n\r\nbody\r\n", Default::default());
        assert!(r.check_with(&e, &plain, deadline).await.0.is_none());
        assert!(r.check_with(&e, &plain, deadline).await.0.is_none());
        assert_eq!(
            r.check_with(&e, &plain, deadline).await.0.unwrap().limit,
            "digest"
        );
    }

    fn scored(action: crate::verdict::Action, score: f64, n: usize) -> Verdict {
        let mut v = Verdict::empty(15.0);
        v.action = action;
        v.score = score;
        for i in 0..n {
            v.symbols.push(crate::verdict::Symbol {
                name: format!("S{i}"),
                score: score / n as f64,
                metric_score: score / n as f64,
                description: None,
                options: Vec::new(),
            });
        }
        v
    }

    /// Spam narrows a bucket: a sender whose mail is rejected as spam gets fewer places
    /// than the burst; ham leaves room for more.
    #[tokio::test]
    async fn spam_narrows_and_ham_widens_the_bucket() {
        let section = json!({"rates": {"from": {"bucket": {"burst": 10, "rate": "1 / 1h"}}},
                             "spam_factor_burst": 0.5, "ham_factor_burst": 1.5});
        let deadline = || Instant::now() + Duration::from_secs(1);
        let (r, _d) = module(section.clone());
        let spam = scored(crate::verdict::Action::Reject, 30.0, 3);
        let mut passed = 0;
        for _ in 0..10 {
            let (x, keys) = r
                .check_with(&env("x@example.com"), &Facts::default(), deadline())
                .await;
            if x.is_none() {
                passed += 1;
                r.update(&keys, &spam);
            }
        }
        assert!(passed < 10, "spam kept every place: {passed}");
        let (r, _d) = module(section);
        let ham = scored(crate::verdict::Action::NoAction, -5.0, 5);
        let mut passed = 0;
        for _ in 0..14 {
            let (x, keys) = r
                .check_with(&env("x@example.com"), &Facts::default(), deadline())
                .await;
            if x.is_none() {
                passed += 1;
                r.update(&keys, &ham);
            }
        }
        assert!(passed > 10, "ham got no more than the burst: {passed}");
    }
}
