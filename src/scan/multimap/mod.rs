//! Multimap: symbols from lists. Each rule takes values of one kind from
//! the message or envelope, looks them up in its map, and inserts its
//! symbol (with the matched value, or the map's value, as option) when one
//! is found; a `prefilter` rule with an `action` forces that action.
//!
//! Types: `ip` (client IP), `received` (IPs in Received headers), `from`,
//! `rcpt` (envelope by default, `extract_from = mime|both`), `header`,
//! `url` (hosts; `filter = full|tld`), `filename`, `content`
//! (`filter = full|headers|body|text`, regexp maps), `hostname` (client
//! name and its parent domains), `helo`, `user`, `selector` (selector-lite).
pub mod map;
pub mod selector;

use std::time::Duration;

use map::{Map, MapKind, MapSource};

use super::actions::{ActionDef, ActionSet};
use super::context::{addresses_in, ScanCtx};
use super::error::ScanConfigError;
use super::score::ScoreBoard;
use super::symbols::{Registry, RuleDefaults};
use crate::config::rules::multimap::MultimapRuleConfig;
use crate::config::rules::ScanConfig;
use crate::message::extract::host_of;
use selector::Selector;

/// What a rule looks up.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Ip,
    Received,
    From { smtp: bool, mime: bool },
    Rcpt { smtp: bool, mime: bool },
    Header(String),
    Url,
    Filename,
    Content(ContentPart),
    Hostname,
    Helo,
    User,
    Selector(Selector),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ContentPart {
    Full,
    Headers,
    Body,
    Text,
}

/// How an extracted value is reduced before lookup.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Filter {
    None,
    EmailAddr,
    EmailDomain,
    EmailUser,
    Tld,
    Full,
    /// URL host (the default for `url` rules).
    Host,
}

#[derive(Debug)]
struct Rule {
    name: String,
    symbol: usize,
    source: Source,
    filter: Filter,
    map: Map,
    prefilter: Option<(ActionDef, Option<String>)>,
}

/// The compiled multimap rules.
#[derive(Debug, Default)]
pub struct Multimap {
    rules: Vec<Rule>,
}

/// A prefilter rule that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct PreResult {
    pub rule: String,
    pub action: ActionDef,
    pub message: Option<String>,
}

impl Multimap {
    /// Every map file of the rules, once each, in rule order.
    pub fn files(&self) -> Vec<crate::verdict::MapFile> {
        let mut out: Vec<crate::verdict::MapFile> = Vec::new();
        for r in &self.rules {
            for s in r.map.sources() {
                let map::MapSource::File(path) = s else {
                    continue;
                };
                if out.iter().all(|f| f.path != *path) {
                    out.push(crate::verdict::MapFile {
                        description: format!("multimap rule {}", r.name),
                        path: path.clone(),
                    });
                }
            }
        }
        out
    }

    pub fn compile(
        cfg: &ScanConfig,
        reg: &mut Registry,
        actions: &ActionSet,
        interval: Duration,
    ) -> Result<(Multimap, Vec<String>), ScanConfigError> {
        let mut rules = Vec::new();
        let mut warnings = Vec::new();
        for (name, r) in cfg.multimap.iter().filter(|(_, r)| r.enabled) {
            let bad = |reason: String| ScanConfigError::Multimap {
                name: name.clone(),
                reason,
            };
            let source = source(r).map_err(bad)?;
            let filter = filter(r).map_err(bad)?;
            let kind = map_kind(r, &source);
            let sources = r
                .map
                .iter()
                .map(|m| MapSource::parse(m))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            if sources.is_empty() {
                return Err(bad("no `map` given".into()));
            }
            let (map, remarks) = Map::load(kind, sources, interval);
            warnings.extend(remarks.into_iter().map(|w| format!("multimap.{name}: {w}")));
            let prefilter = match (&r.action, r.prefilter) {
                (Some(a), _) => {
                    let def = actions
                        .find(a)
                        .cloned()
                        .ok_or_else(|| bad(format!("unknown action `{a}`")))?;
                    Some((def, r.message.clone()))
                }
                (None, _) => None,
            };
            let sym_name = r.symbol.clone().unwrap_or_else(|| name.clone());
            let symbol = reg.define(
                cfg,
                &sym_name,
                RuleDefaults {
                    score: r.score,
                    description: r.description.as_deref(),
                    group: r.group.as_deref(),
                    one_shot: false,
                    nshots: None,
                },
            );
            rules.push(Rule {
                name: name.clone(),
                symbol,
                source,
                filter,
                map,
                prefilter,
            });
        }
        Ok((Multimap { rules }, warnings))
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Runs every rule; inserts symbols. Returns the first prefilter hit.
    pub fn run(&self, ctx: &ScanCtx<'_>, board: &mut ScoreBoard<'_>) -> Option<PreResult> {
        let mut pre = None;
        for rule in &self.rules {
            let matcher = rule.map.current();
            if matcher.is_empty() {
                continue;
            }
            let mut hit = false;
            for value in values(ctx, &rule.source) {
                let Some(key) = apply_filter(&value, rule.filter) else {
                    continue;
                };
                let candidates = if rule.source == Source::Hostname {
                    parent_domains(&key)
                } else {
                    vec![key.clone()]
                };
                for k in candidates {
                    if let Some(v) = matcher.lookup(&k) {
                        let opt = v.unwrap_or_else(|| option_text(&k));
                        board.insert(rule.symbol, 1.0, Some(&opt));
                        hit = true;
                        break;
                    }
                }
            }
            if hit && pre.is_none() {
                if let Some((action, message)) = &rule.prefilter {
                    pre = Some(PreResult {
                        rule: rule.name.clone(),
                        action: action.clone(),
                        message: message.clone(),
                    });
                }
            }
        }
        pre
    }
}

/// Options are short: long content matches are cut.
fn option_text(k: &str) -> String {
    k.chars().take(64).collect()
}

fn source(r: &MultimapRuleConfig) -> Result<Source, String> {
    let (smtp, mime) = match r.extract_from.as_deref().unwrap_or("smtp") {
        "smtp" | "default" => (true, false),
        "mime" => (false, true),
        "both" => (true, true),
        other => return Err(format!("unknown extract_from `{other}`")),
    };
    Ok(match r.kind.as_str() {
        "ip" => Source::Ip,
        "received" => Source::Received,
        "from" => Source::From { smtp, mime },
        "rcpt" => Source::Rcpt { smtp, mime },
        "header" => Source::Header(
            r.header
                .clone()
                .ok_or("type `header` needs `header = \"Name\"`")?,
        ),
        "url" => Source::Url,
        "filename" => Source::Filename,
        "content" => Source::Content(match r.filter.as_deref().unwrap_or("full") {
            "full" => ContentPart::Full,
            "headers" => ContentPart::Headers,
            "body" => ContentPart::Body,
            "text" | "rawtext" | "oneline" => ContentPart::Text,
            other => return Err(format!("unknown content filter `{other}`")),
        }),
        "hostname" => Source::Hostname,
        "helo" => Source::Helo,
        "user" => Source::User,
        "selector" => Source::Selector(Selector::parse(
            r.selector
                .as_deref()
                .ok_or("type `selector` needs `selector = \"…\"`")?,
        )?),
        other => return Err(format!("type `{other}` is not supported")),
    })
}

fn filter(r: &MultimapRuleConfig) -> Result<Filter, String> {
    if r.kind == "content" {
        return Ok(Filter::None);
    }
    Ok(match r.filter.as_deref() {
        None if r.kind == "url" => Filter::Host,
        None => Filter::None,
        Some("email" | "email:addr") => Filter::EmailAddr,
        Some("email:domain" | "email:domain:tld") => Filter::EmailDomain,
        Some("email:user") => Filter::EmailUser,
        Some("tld") => Filter::Tld,
        Some("full") => Filter::Full,
        Some(other) => return Err(format!("unknown filter `{other}`")),
    })
}

fn map_kind(r: &MultimapRuleConfig, s: &Source) -> MapKind {
    if r.regexp || matches!(s, Source::Content(_)) {
        MapKind::Regexp
    } else if r.glob {
        MapKind::Glob
    } else if matches!(s, Source::Ip | Source::Received) {
        MapKind::Cidr
    } else {
        MapKind::Plain
    }
}

fn values(ctx: &ScanCtx<'_>, s: &Source) -> Vec<String> {
    let env = ctx.env;
    let view = ctx.view;
    match s {
        Source::Ip => env.client_ip.iter().map(|ip| ip.to_string()).collect(),
        Source::Received => view
            .headers_named("Received")
            .flat_map(|h| bracketed_ips(&h.value))
            .collect(),
        Source::From { smtp, mime } => {
            let mut v: Vec<String> = Vec::new();
            if *smtp {
                v.extend(
                    env.from
                        .iter()
                        .filter(|f| !f.is_empty())
                        .map(|f| f.to_ascii_lowercase()),
                );
            }
            if *mime {
                v.extend(ctx.header_addresses("From"));
            }
            v
        }
        Source::Rcpt { smtp, mime } => {
            let mut v: Vec<String> = Vec::new();
            if *smtp {
                v.extend(env.rcpts.iter().map(|r| r.to_ascii_lowercase()));
            }
            if *mime {
                v.extend(ctx.header_addresses("To"));
                v.extend(ctx.header_addresses("Cc"));
            }
            v
        }
        Source::Header(name) => view
            .headers_named(name)
            .map(|h| h.value.trim().to_string())
            .collect(),
        Source::Url => view.found.urls.clone(),
        Source::Filename => ctx.filenames().map(str::to_string).collect(),
        Source::Content(part) => vec![content(ctx, *part)],
        Source::Hostname => env
            .client_name
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        Source::Helo => env.helo.iter().cloned().collect(),
        Source::User => env.user.iter().cloned().collect(),
        Source::Selector(sel) => sel.values(ctx),
    }
}

fn content(ctx: &ScanCtx<'_>, part: ContentPart) -> String {
    let view = ctx.view;
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match part {
        ContentPart::Full => lossy(view.raw),
        ContentPart::Headers => lossy(view.header_block),
        ContentPart::Body => lossy(view.raw.get(view.header_block.len()..).unwrap_or_default()),
        ContentPart::Text => view
            .text_parts
            .iter()
            .map(|p| p.text.as_ref())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn apply_filter(v: &str, f: Filter) -> Option<String> {
    let addr = || {
        addresses_in(v)
            .into_iter()
            .next()
            .or_else(|| v.contains('@').then(|| v.to_ascii_lowercase()))
    };
    match f {
        Filter::None => Some(v.to_string()),
        Filter::EmailAddr => addr(),
        Filter::EmailDomain => addr().and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_string())),
        Filter::EmailUser => addr().and_then(|a| a.rsplit_once('@').map(|(u, _)| u.to_string())),
        Filter::Tld => {
            let host = host_of(v).unwrap_or_else(|| v.to_ascii_lowercase());
            let labels: Vec<&str> = host.rsplit('.').take(2).collect();
            Some(labels.into_iter().rev().collect::<Vec<_>>().join("."))
        }
        Filter::Full => Some(v.to_string()),
        Filter::Host => host_of(v),
    }
}

/// `a.b.example.com` -> itself, `b.example.com`, `example.com`.
fn parent_domains(host: &str) -> Vec<String> {
    let mut out = vec![host.to_string()];
    let mut rest = host;
    while let Some((_, tail)) = rest.split_once('.') {
        if !tail.contains('.') {
            break;
        }
        out.push(tail.to_string());
        rest = tail;
    }
    out
}

/// IPs written `[192.0.2.1]` or `[IPv6:2001:db8::1]` in a Received value.
fn bracketed_ips(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(a) = rest.find('[') {
        let after = &rest[a + 1..];
        let Some(b) = after.find(']') else { break };
        let inner = after[..b]
            .trim_start_matches("IPv6:")
            .trim_start_matches("ipv6:");
        if inner.parse::<std::net::IpAddr>().is_ok() {
            out.push(inner.to_string());
        }
        rest = &after[b + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            parent_domains("a.b.example.com"),
            ["a.b.example.com", "b.example.com", "example.com"]
        );
        assert_eq!(
            bracketed_ips("from x ([192.0.2.1]) by y ([IPv6:2001:db8::1]) [not]"),
            ["192.0.2.1", "2001:db8::1"]
        );
        assert_eq!(
            apply_filter("Bob <Bob@Example.ORG>", Filter::EmailDomain).as_deref(),
            Some("example.org")
        );
        assert_eq!(
            apply_filter("http://www.shop.example.co/x", Filter::Tld).as_deref(),
            Some("example.co")
        );
    }
}
