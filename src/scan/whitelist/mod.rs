//! The whitelist module (Rspamd's `whitelist`): domains whitelisted only when their SPF, DKIM
//! or DMARC validates, and blacklisted (the rule's `inverse_symbol`) when it does not.
//!
//! It reads what the auth phase found (`R_SPF_ALLOW`, `DKIM_TRACE`, `DMARC_POLICY_ALLOW`) and
//! runs in the pipeline right after those hits are scored, so data flows one way: the phase
//! does not know the whitelist. It runs only when the phase ran (the checks need a
//! nameserver), so a list never blacklists mail whose checks did not run.
//!
//! A rule's `domains` is an inline list (`"example.org"`, `["example.org", 2.0]`) or map
//! sources (files; multimap's loader, reloaded on change; an absent file is an empty map).
//! A map line is `domain [value]`, the value `wl:N`, `bl:N`, `both:N` or `N` (the
//! multiplier, 1 by default); `strict` makes every map entry `both`.
pub mod decide;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use super::auth::dmarc::org_domain;
use super::auth::AuthOutcome;
use super::context::{addresses_in, ScanCtx};
use super::multimap::map::{Map, MapKind, MapSource};
use super::score::ScoreBoard;
use super::symbols::{Registry, RuleDefaults};
use crate::config::rules::whitelist::WhitelistRuleConfig;
use crate::config::rules::ScanConfig;
use decide::{Decision, Entry, Evidence, How, RuleKind};

/// Where a rule's domains come from.
#[derive(Debug)]
enum List {
    Inline(HashMap<String, f64>),
    Map(Map),
}

#[derive(Debug)]
struct Rule {
    symbol: usize,
    inverse: Option<usize>,
    kind: RuleKind,
    strict: bool,
    list: List,
}

/// The compiled rules.
#[derive(Debug, Default)]
pub struct Whitelist {
    rules: Vec<Rule>,
    check_local: bool,
    check_authed: bool,
}

impl Whitelist {
    /// Compiles the `whitelist` section; returns remarks (skipped sources, bad lines).
    pub fn compile(
        cfg: &ScanConfig,
        reg: &mut Registry,
        interval: Duration,
    ) -> (Whitelist, Vec<String>) {
        let mut warnings = Vec::new();
        let Some(section) = cfg.whitelist.as_ref().filter(|w| w.enabled) else {
            return (Whitelist::default(), warnings);
        };
        let mut rules = Vec::new();
        for (name, r) in &section.rules {
            if r.domains.is_empty() {
                warnings.push(format!(
                    "whitelist.rules.{name}: no `domains`, rule skipped"
                ));
                continue;
            }
            let list = list(name, r, interval, &mut warnings);
            let group = r.group.as_deref().or(Some("whitelist"));
            let defaults = |score: Option<f64>| RuleDefaults {
                score: Some(score.unwrap_or(0.0)),
                description: r.description.as_deref(),
                group,
                one_shot: false,
                nshots: None,
            };
            let symbol = reg.define(cfg, name, defaults(r.score));
            let inverse = r
                .inverse_symbol
                .as_deref()
                .map(|inv| reg.define(cfg, inv, defaults(r.score.map(|s| -s))));
            rules.push(Rule {
                symbol,
                inverse,
                kind: RuleKind {
                    valid_spf: r.valid_spf,
                    valid_dkim: r.valid_dkim,
                    valid_dmarc: r.valid_dmarc,
                    blacklist: r.blacklist,
                    has_inverse: inverse.is_some(),
                    inverse_multiplier: r.inverse_multiplier,
                },
                strict: r.strict,
                list,
            });
        }
        let wl = Whitelist {
            rules,
            check_local: section.check_local,
            check_authed: section.check_authed,
        };
        (wl, warnings)
    }

    /// Inserts each rule's symbol on what the auth phase found (nothing when it did not run).
    pub fn run(&self, ctx: &ScanCtx<'_>, auth: &AuthOutcome, board: &mut ScoreBoard<'_>) {
        if self.rules.is_empty() || auth.hits.is_empty() {
            return;
        }
        let ev = self.evidence(ctx, auth);
        for rule in &self.rules {
            let lookup = |dom: &str| rule.lookup(dom);
            let Some(d) = decide::decide(rule.kind, &ev, lookup, org_domain) else {
                continue;
            };
            insert(rule, d, board);
        }
    }

    fn evidence(&self, ctx: &ScanCtx<'_>, auth: &AuthOutcome) -> Evidence {
        let has = |s: &str| auth.hits.iter().any(|h| h.symbol == s);
        let dkim = auth
            .hits
            .iter()
            .filter(|h| h.symbol == "DKIM_TRACE")
            .flat_map(|h| &h.options)
            .filter_map(|o| {
                let (dom, res) = o.rsplit_once(':')?;
                Some((dom.to_ascii_lowercase(), res.chars().next()?))
            })
            .collect();
        let env = ctx.env;
        let spf_domain = smtp_domain(env.from.as_deref())
            .or_else(|| env.helo.as_deref().map(|h| h.trim().to_ascii_lowercase()))
            .filter(|d| !d.is_empty());
        let from_domain = ctx
            .view
            .headers_named("From")
            .flat_map(|h| addresses_in(&h.value))
            .next()
            .and_then(|a| smtp_domain(Some(&a)));
        let authed = env.user.as_deref().is_some_and(|u| !u.is_empty());
        let local = env.client_ip.is_some_and(is_local);
        Evidence {
            spf_allow: has("R_SPF_ALLOW"),
            dmarc_allow: has("DMARC_POLICY_ALLOW"),
            dkim,
            spf_domain,
            from_domain,
            exempt: (authed && !self.check_authed) || (local && !self.check_local),
        }
    }
}

fn insert(rule: &Rule, d: Decision, board: &mut ScoreBoard<'_>) {
    let symbol = match (d.inverse, rule.inverse) {
        (true, Some(inv)) => inv,
        _ => rule.symbol,
    };
    let mut opts = d.options.iter().map(String::as_str);
    board.insert(symbol, d.multiplier, opts.next());
    for o in opts {
        board.push_option(symbol, o);
    }
}

impl Rule {
    fn lookup(&self, dom: &str) -> Option<Entry> {
        let default = if self.kind.blacklist {
            How::Black
        } else {
            How::White
        };
        match &self.list {
            List::Inline(domains) => domains.get(dom).map(|&m| (default, m)),
            List::Map(map) => {
                let value = map.current().lookup(dom)?;
                let (how, mult) = entry(value.as_deref().unwrap_or(""), default);
                Some((if self.strict { How::Both } else { how }, mult))
            }
        }
    }
}

/// A map value: `wl:N`, `bl:N`, `both:N`, `N` or nothing (Rspamd's `parse_val`).
fn entry(value: &str, default: How) -> Entry {
    let number = |s: &str| s.trim().parse().unwrap_or(1.0);
    if let Some(m) = value.strip_prefix("bl:") {
        (How::Black, number(m))
    } else if let Some(m) = value.strip_prefix("wl:") {
        (How::White, number(m))
    } else if let Some(m) = value.strip_prefix("both:") {
        (How::Both, number(m))
    } else {
        (default, number(value))
    }
}

/// A rule's domains: an inline list when every entry is a domain (or `[domain, multiplier]`),
/// else map sources, as Rspamd tells them apart.
fn list(name: &str, r: &WhitelistRuleConfig, interval: Duration, warn: &mut Vec<String>) -> List {
    let is_source = |v: &Value| {
        v.as_str().is_some_and(|s| {
            [
                "http://",
                "https://",
                "ftp://",
                "file://",
                "fallback+",
                ".",
                "/",
            ]
            .iter()
            .any(|p| s.starts_with(p))
        })
    };
    if !r.domains.iter().any(is_source) {
        let inline = r.domains.iter().filter_map(|v| match v {
            Value::String(d) => Some((d.to_ascii_lowercase(), 1.0)),
            Value::Array(pair) => {
                let dom = pair.first()?.as_str()?.to_ascii_lowercase();
                Some((dom, pair.get(1).and_then(Value::as_f64).unwrap_or(1.0)))
            }
            _ => None,
        });
        return List::Inline(inline.collect());
    }
    let mut sources = Vec::new();
    for s in r.domains.iter().filter_map(Value::as_str) {
        match MapSource::parse(s.strip_prefix("fallback+").unwrap_or(s)) {
            Ok(src) => sources.push(src),
            Err(e) => warn.push(format!("whitelist.rules.{name}: {e}, skipped")),
        }
    }
    let (map, remarks) = Map::load(MapKind::Plain, sources.clone(), interval);
    // Absent files are the shipped default (maps the admin may create): not worth a warning.
    let absent = |w: &String| {
        sources.iter().any(|s| match s {
            MapSource::File(p) => !p.exists() && w.contains(&*p.to_string_lossy()),
            MapSource::Inline(_) => false,
        })
    };
    let remarks = remarks.into_iter().filter(|w| !absent(w));
    warn.extend(remarks.map(|w| format!("whitelist.rules.{name}: {w}")));
    List::Map(map)
}

fn smtp_domain(addr: Option<&str>) -> Option<String> {
    let a = addr?.trim().trim_start_matches('<').trim_end_matches('>');
    let (_, dom) = a.rsplit_once('@')?;
    let dom = dom.trim_end_matches('.').to_ascii_lowercase();
    (!dom.is_empty()).then_some(dom)
}

/// Rspamd's `is_local` for an address: loopback, and IPv6 link- and site-local.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xffc0) == 0xfe80 || (first & 0xffc0) == 0xfec0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_values_read_as_rspamd_reads_them() {
        assert_eq!(entry("", How::White), (How::White, 1.0));
        assert_eq!(entry("bl:2.5", How::White), (How::Black, 2.5));
        assert_eq!(entry("wl:", How::Black), (How::White, 1.0));
        assert_eq!(entry("both:3", How::White), (How::Both, 3.0));
        assert_eq!(entry("0.5", How::Black), (How::Black, 0.5));
    }

    #[test]
    fn inline_lists_and_map_sources_are_told_apart() {
        let rule = |domains: Value| WhitelistRuleConfig {
            domains: domains.as_array().unwrap().clone(),
            ..Default::default()
        };
        let mut warn = Vec::new();
        let inline = list(
            "R",
            &rule(serde_json::json!(["A.test", ["b.test", 2.0]])),
            Duration::from_secs(5),
            &mut warn,
        );
        let List::Inline(domains) = inline else {
            panic!("an inline list")
        };
        assert_eq!(domains.get("a.test"), Some(&1.0));
        assert_eq!(domains.get("b.test"), Some(&2.0));
        let mapped = list(
            "R",
            &rule(serde_json::json!([
                "/nonexistent/wl.map",
                "https://maps.example.org/x",
            ])),
            Duration::from_secs(5),
            &mut warn,
        );
        assert!(matches!(mapped, List::Map(_)));
        // The network source is reported; the absent file is not.
        assert_eq!(warn.len(), 1, "{warn:?}");
        assert!(warn[0].contains("network maps"), "{warn:?}");
    }

    #[test]
    fn local_addresses_are_loopback_and_v6_link_or_site_local() {
        assert!(is_local("127.0.0.2".parse().unwrap()));
        assert!(is_local("fe80::1".parse().unwrap()));
        assert!(!is_local("192.0.2.1".parse().unwrap()));
        assert!(!is_local("2001:db8::1".parse().unwrap()));
    }
}
