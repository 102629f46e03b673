//! Which names one message asks each list about, as Rspamd's rbl module decides it: a rule
//! is skipped for authenticated or local senders where it says so; its checks add requests
//! (a rule that checks HELO asks nothing when there is none, as in Rspamd); a request is
//! dropped when the rule's `whitelist` map or another list's whitelisting answer covers it.
//! Pure: the resolving is [`super::RblChecks`]' job.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::facts::Facts;
use super::query::{hashed, reversed, valid};
use super::settings::{RblSettings, Rule};
use crate::message::domain::ascii_name;

/// The kinds of check, by Rspamd's label (the second part of a symbol's option).
pub const FROM: &str = "from";
pub const RECEIVED: &str = "received";
pub const HELO: &str = "helo";
pub const RDNS: &str = "rdns";
pub const EMAIL: &str = "email";
pub const REPLYTO: &str = "replyto";
pub const URL: &str = "url";
pub const DKIM: &str = "dkim";

/// One rule's request for one element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub rule: usize,
    /// The element as reported in options (the address, name or plain e-mail address).
    pub orig: String,
    /// The check labels that asked for it.
    pub labels: Vec<&'static str>,
}

/// The names to ask, each with the uses waiting on it (deduplicated across rules).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub names: Vec<(String, Vec<Use>)>,
}

/// Elements a whitelisting list vouched for, with the label it vouched under.
pub type Whitelisted = HashSet<(String, &'static str)>;

/// Which part of the work a stage does: whitelisting lists first, without DKIM (whose
/// verdict is not known yet), then the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    White,
    Rest,
}

impl Stage {
    fn takes(self, rule: &Rule, label: &str) -> bool {
        match self {
            Stage::White => rule.is_whitelist && label != DKIM,
            Stage::Rest => !rule.is_whitelist || label == DKIM,
        }
    }
}

/// Whether an address is one Rspamd's `is_local` counts (loopback, private, link-local).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The registrable domain (Public Suffix List), or the name itself.
pub fn registrable(host: &str) -> String {
    crate::message::domain::registrable(host).to_string()
}

struct Builder<'a> {
    settings: &'a RblSettings,
    whitelisted: &'a Whitelisted,
    stage: Stage,
    plan: Plan,
    index: HashMap<String, usize>,
    /// (rule, element) already asked, so a second label joins the first request.
    seen: HashMap<(usize, String), (usize, usize)>,
}

impl Plan {
    pub fn build(
        settings: &RblSettings,
        facts: &Facts,
        whitelisted: &Whitelisted,
        stage: Stage,
    ) -> Plan {
        let mut b = Builder {
            settings,
            whitelisted,
            stage,
            plan: Plan::default(),
            index: HashMap::new(),
            seen: HashMap::new(),
        };
        for (i, rule) in settings.rules.iter().enumerate() {
            b.rule(i, rule, facts);
        }
        b.plan
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl Builder<'_> {
    fn rule(&mut self, i: usize, rule: &Rule, f: &Facts) {
        if rule.exclude_users && f.authenticated {
            return;
        }
        if (rule.exclude_local || rule.exclude_private_ips) && self.local_client(f) {
            return;
        }
        let c = rule.checks;
        if c.helo {
            let Some(helo) = &f.helo else { return };
            self.name(i, rule, helo, HELO);
        }
        if c.dkim {
            self.dkim(i, rule, f);
        }
        if c.emails {
            for e in f.emails.iter().take(rule.requests_limit) {
                self.email(i, rule, e, EMAIL);
            }
        }
        if c.replyto {
            if let Some(r) = &f.replyto {
                self.email(i, rule, r, REPLYTO);
            }
        }
        if c.urls || c.content_urls {
            self.urls(i, rule, f);
        }
        if c.from {
            if let Some(ip) = f.client_ip {
                self.ip(i, rule, ip, FROM);
            }
        }
        if c.received {
            self.received(i, rule, f);
        }
        if c.rdns {
            if let Some(h) = &f.hostname {
                self.name(i, rule, h, RDNS);
            }
        }
    }

    fn local_client(&self, f: &Facts) -> bool {
        let Some(ip) = f.client_ip else { return false };
        is_private(ip)
            || self
                .settings
                .local_exclude
                .as_ref()
                .is_some_and(|m| m.current().lookup(&ip.to_string()).is_some())
    }

    fn dkim(&mut self, i: usize, rule: &Rule, f: &Facts) {
        let tld = |d: &str| {
            if rule.url_full_hostname {
                d.to_string()
            } else {
                registrable(d)
            }
        };
        if rule.dkim_match_from {
            let Some(from) = f.from_domain.as_deref().map(tld) else {
                return;
            };
            for d in &f.dkim {
                // Rspamd compares the signing domain as it is when `dkim_domainonly` is set,
                // its registrable domain otherwise.
                let d = if rule.dkim_domainonly {
                    d.clone()
                } else {
                    tld(d)
                };
                if d == from {
                    self.name(i, rule, &d, DKIM);
                }
            }
            return;
        }
        for d in &f.dkim {
            let d = if rule.dkim_domainonly {
                tld(d)
            } else {
                d.clone()
            };
            self.name(i, rule, &d, DKIM);
        }
    }

    /// The URL hosts a rule reads: with `urls` every URL of the text (and the content URLs
    /// too with `content_urls`); with `content_urls` alone only the content URLs, as Rspamd's
    /// URL filter picks them.
    fn urls(&mut self, i: usize, rule: &Rule, f: &Facts) {
        let mut seen = HashSet::new();
        let mut n = 0;
        let text = f.url_hosts.iter().filter(|_| rule.checks.urls);
        let content = f.content_hosts.iter().filter(|_| rule.checks.content_urls);
        for host in text.chain(content) {
            if n >= rule.requests_limit {
                break;
            }
            let host = host.trim_matches(['[', ']']);
            let (element, ip) = match host.parse::<IpAddr>() {
                Ok(_) if rule.no_ip => continue,
                // A numeric URL is asked as its reversed address, reported as such.
                Ok(ip) => (reversed(ip), true),
                Err(_) if rule.url_full_hostname => (host.to_string(), false),
                Err(_) => (registrable(host), false),
            };
            if !seen.insert(element.clone()) {
                continue;
            }
            n += 1;
            let _ = ip;
            self.name(i, rule, &element, URL);
        }
    }

    fn received(&mut self, i: usize, rule: &Rule, f: &Facts) {
        let total = f.received.len() as i64;
        for (n, hop) in f.received.iter().enumerate() {
            let pos = n as i64 + 1;
            if !self.ip_allowed(rule, hop.ip) || !position_ok(rule, pos, total) {
                continue;
            }
            let flt = &rule.received;
            if !flt.flags.iter().all(|fl| hop.flags.contains(&fl.as_str()))
                || flt.nflags.iter().any(|fl| hop.flags.contains(&fl.as_str()))
            {
                continue;
            }
            self.ip(i, rule, hop.ip, RECEIVED);
        }
    }

    fn ip_allowed(&self, rule: &Rule, ip: IpAddr) -> bool {
        let family = if ip.is_ipv4() { rule.ipv4 } else { rule.ipv6 };
        family && !(rule.exclude_private_ips && is_private(ip))
    }

    fn email(&mut self, i: usize, rule: &Rule, addr: &str, label: &'static str) {
        let Some((user, domain)) = addr.rsplit_once('@') else {
            return;
        };
        let (user, domain) = unaliased(&user.to_lowercase(), &domain.to_lowercase());
        if user.is_empty() || domain.is_empty() {
            return;
        }
        if rule.emails_domainonly {
            let d = if rule.url_full_hostname {
                domain
            } else {
                registrable(&domain)
            };
            self.name(i, rule, &d, label);
            return;
        }
        if self.whitelisted_elt(rule, &domain, label) {
            return;
        }
        let delim = match &rule.emails_delimiter {
            Some(d) => d.as_str(),
            None if rule.hash.is_some() => "@",
            None => ".",
        };
        self.name(i, rule, &format!("{user}{delim}{domain}"), label);
    }

    fn ip(&mut self, i: usize, rule: &Rule, ip: IpAddr, label: &'static str) {
        if label == FROM && !(if ip.is_ipv4() { rule.ipv4 } else { rule.ipv6 }) {
            return;
        }
        let orig = ip.to_string();
        if self.whitelisted_elt(rule, &orig, label) {
            return;
        }
        let name = format!("{}.{}", reversed(ip), rule.zone);
        self.add(i, orig, name, label);
    }

    fn name(&mut self, i: usize, rule: &Rule, element: &str, label: &'static str) {
        let element = element.trim_end_matches('.').to_lowercase();
        if element.is_empty() || self.whitelisted_elt(rule, &element, label) {
            return;
        }
        let asked = match rule.hash {
            Some(h) => hashed(&element, h, rule.hash_format, rule.hash_len),
            // An internationalized name is asked in punycode, as Rspamd's resolver does.
            None => match ascii_name(&element) {
                Some(ascii) => ascii.into_owned(),
                None => return,
            },
        };
        let name = format!("{asked}.{}", rule.zone);
        self.add(i, element, name, label);
    }

    /// Whether the rule's map or a whitelisting list's answer covers `element`.
    fn whitelisted_elt(&self, rule: &Rule, element: &str, label: &'static str) -> bool {
        if rule.ignore_whitelist {
            return false;
        }
        if let Some(m) = &rule.whitelist {
            if m.current().lookup(element).is_some() {
                return true;
            }
        }
        self.whitelisted.contains(&(element.to_string(), label))
    }

    fn add(&mut self, rule: usize, orig: String, name: String, label: &'static str) {
        if !self.stage.takes(&self.settings.rules[rule], label) {
            return;
        }
        if let Some(&(n, u)) = self.seen.get(&(rule, orig.clone())) {
            let labels = &mut self.plan.names[n].1[u].labels;
            if !labels.contains(&label) {
                labels.push(label);
            }
            return;
        }
        if !valid(&name) {
            tracing::debug!(name, "rbl: not a valid name, not asked");
            return;
        }
        let n = *self.index.entry(name.clone()).or_insert_with(|| {
            self.plan.names.push((name, Vec::new()));
            self.plan.names.len() - 1
        });
        let uses = &mut self.plan.names[n].1;
        uses.push(Use {
            rule,
            orig: orig.clone(),
            labels: vec![label],
        });
        self.seen.insert((rule, orig), (n, uses.len() - 1));
    }
}

/// Rspamd's `received_min_pos` / `received_max_pos` (1 is the newest hop; negative counts
/// from the oldest).
fn position_ok(rule: &Rule, pos: i64, total: i64) -> bool {
    if let Some(min) = rule.received.min_pos {
        let ok = match min {
            -1 => pos == total,
            m if m < 0 => pos > total - m.abs(),
            m => pos >= m,
        };
        if !ok {
            return false;
        }
    }
    if let Some(max) = rule.received.max_pos {
        if max < -1 && total - max.abs() >= pos {
            return false;
        }
        if max > 0 && pos > max {
            return false;
        }
    }
    true
}

/// An address without its `+tag`, and Gmail's dots (Rspamd's alias removal).
fn unaliased(user: &str, domain: &str) -> (String, String) {
    let user = user.split('+').next().unwrap_or(user);
    let domain = if domain == "googlemail.com" {
        "gmail.com"
    } else {
        domain
    };
    let user = if domain == "gmail.com" {
        user.replace('.', "")
    } else {
        user.to_string()
    };
    (user, domain.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::facts::ReceivedHop;
    use super::*;
    use serde_json::{json, Value};

    fn settings(rbls: Value) -> RblSettings {
        RblSettings::from_section(Some(&json!({ "rbls": rbls }))).unwrap()
    }

    fn names(s: &RblSettings, f: &Facts) -> Vec<String> {
        Plan::build(s, f, &Whitelisted::new(), Stage::Rest)
            .names
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    fn facts() -> Facts {
        Facts {
            client_ip: Some("192.0.2.5".parse().unwrap()),
            helo: Some("mail.example.net".into()),
            hostname: Some("host.example.net".into()),
            received: vec![
                ReceivedHop {
                    ip: "192.0.2.5".parse().unwrap(),
                    flags: vec!["ssl"],
                },
                ReceivedHop {
                    ip: "10.0.0.1".parse().unwrap(),
                    flags: vec![],
                },
                ReceivedHop {
                    ip: "198.51.100.9".parse().unwrap(),
                    flags: vec![],
                },
            ],
            url_hosts: vec![
                "www.shop.example.co.uk".into(),
                "a.shop.example.co.uk".into(),
                "203.0.113.4".into(),
            ],
            emails: vec!["John.Doe+news@googlemail.com".into()],
            replyto: Some("x@reply.example.org".into()),
            from_domain: Some("mail.sender.example".into()),
            dkim: vec!["mail.sender.example".into(), "other.example".into()],
            ..Facts::default()
        }
    }

    #[test]
    fn from_and_received_ask_reversed_addresses() {
        let s = settings(json!({"ip": {"rbl": "bl.test", "checks": ["from", "received"]}}));
        let got = names(&s, &facts());
        // The client and the first hop are one address: asked once, with both labels.
        assert_eq!(got, vec!["5.2.0.192.bl.test", "9.100.51.198.bl.test"]);
        let plan = Plan::build(&s, &facts(), &Whitelisted::new(), Stage::Rest);
        assert_eq!(plan.names[0].1[0].labels, vec![FROM, RECEIVED]);
    }

    #[test]
    fn received_positions_and_flags() {
        let s = settings(json!({"ip": {"rbl": "bl.test", "checks": ["received"],
            "received_min_pos": -1, "exclude_private_ips": false}}));
        assert_eq!(names(&s, &facts()), vec!["9.100.51.198.bl.test"]);
        let s = settings(json!({"ip": {"rbl": "bl.test", "checks": ["received"],
            "received_max_pos": 2, "exclude_private_ips": false}}));
        assert_eq!(
            names(&s, &facts()),
            vec!["5.2.0.192.bl.test", "1.0.0.10.bl.test"]
        );
        let s = settings(json!({"ip": {"rbl": "bl.test", "checks": ["received"],
            "received_flags": ["ssl"]}}));
        assert_eq!(names(&s, &facts()), vec!["5.2.0.192.bl.test"]);
        let s = settings(json!({"ip": {"rbl": "bl.test", "checks": ["received"],
            "received_nflags": ["ssl"]}}));
        assert_eq!(names(&s, &facts()), vec!["9.100.51.198.bl.test"]);
    }

    #[test]
    fn local_and_authenticated_senders_are_skipped_where_asked() {
        let s =
            settings(json!({"ip": {"rbl": "bl.test", "checks": ["from"], "exclude_users": true}}));
        let mut f = facts();
        f.client_ip = Some("10.1.1.1".parse().unwrap());
        assert!(names(&s, &f).is_empty(), "a private client");
        let mut f = facts();
        f.authenticated = true;
        assert!(names(&s, &f).is_empty(), "an authenticated sender");
    }

    #[test]
    fn urls_by_registrable_domain_and_numeric() {
        let s = settings(
            json!({"u": {"rbl": "uri.test", "checks": ["urls"], "ignore_defaults": true}}),
        );
        assert_eq!(
            names(&s, &facts()),
            vec!["example.co.uk.uri.test", "4.113.0.203.uri.test"]
        );
        let s = settings(json!({"u": {"rbl": "uri.test", "checks": ["urls"], "no_ip": true}}));
        assert_eq!(names(&s, &facts()), vec!["example.co.uk.uri.test"]);
        let s = settings(
            json!({"u": {"rbl": "uri.test", "checks": ["urls"], "no_ip": true,
            "url_full_hostname": true, "requests_limit": 1}}),
        );
        assert_eq!(names(&s, &facts()), vec!["www.shop.example.co.uk.uri.test"]);
    }

    #[test]
    fn content_urls_alone_or_with_the_text_urls() {
        let mut f = facts();
        f.content_hosts = vec![
            "www.pdf-link.example.net".into(),
            "a.shop.example.co.uk".into(),
        ];
        let only = settings(
            json!({"c": {"rbl": "c.test", "urls": false, "content_urls": true,
            "ignore_defaults": true}}),
        );
        assert_eq!(
            names(&only, &f),
            vec!["example.net.c.test", "example.co.uk.c.test"]
        );
        let both = settings(
            json!({"c": {"rbl": "c.test", "checks": ["urls", "content_urls"],
            "no_ip": true}}),
        );
        assert_eq!(
            names(&both, &f),
            vec!["example.co.uk.c.test", "example.net.c.test"]
        );
        let text = settings(json!({"c": {"rbl": "c.test", "checks": ["urls"], "no_ip": true}}));
        assert_eq!(names(&text, &f), vec!["example.co.uk.c.test"]);
        assert!(
            names(&only, &facts()).is_empty(),
            "no attachment links, no query"
        );
    }

    #[test]
    fn url_hosts_ipv6_and_internationalized() {
        let s = settings(
            json!({"u": {"rbl": "uri.test", "checks": ["urls"], "ignore_defaults": true}}),
        );
        let mut f = facts();
        f.url_hosts = vec![
            "2001:db8::1".into(),
            "www.bücher.example".into(),
            "a.github.io".into(),
            "b.github.io".into(),
        ];
        let got = names(&s, &f);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(
            got[0].starts_with("1.0.0.0.0.0.0.0.") && got[0].ends_with(".8.b.d.0.1.0.0.2.uri.test")
        );
        assert_eq!(
            &got[1..],
            [
                "xn--bcher-kva.example.uri.test",
                "a.github.io.uri.test",
                "b.github.io.uri.test"
            ]
        );
    }

    #[test]
    fn emails_plain_domain_only_and_hashed() {
        let s = settings(json!({"e": {"rbl": "e.test", "checks": ["emails", "replyto"]}}));
        assert_eq!(
            names(&s, &facts()),
            vec!["johndoe.gmail.com.e.test", "x.reply.example.org.e.test"]
        );
        let s = settings(
            json!({"e": {"rbl": "e.test", "checks": ["replyto"], "emails_domainonly": true}}),
        );
        assert_eq!(names(&s, &facts()), vec!["example.org.e.test"]);
        let s = settings(json!({"e": {"rbl": "e.test", "checks": ["replyto"], "hash": "md5"}}));
        let want = format!(
            "{}.e.test",
            hashed(
                "x@reply.example.org",
                super::super::query::Hash::Md5,
                Default::default(),
                None
            )
        );
        assert_eq!(names(&s, &facts()), vec![want]);
    }

    #[test]
    fn helo_rdns_and_dkim() {
        let s = settings(json!({"n": {"rbl": "n.test", "checks": ["helo", "rdns", "dkim"]}}));
        assert_eq!(
            names(&s, &facts()),
            vec![
                "mail.example.net.n.test",
                "sender.example.n.test",
                "other.example.n.test",
                "host.example.net.n.test"
            ]
        );
        // No HELO: a rule checking HELO asks nothing at all, as in Rspamd.
        let mut f = facts();
        f.helo = None;
        assert!(names(&s, &f).is_empty());
        // dkim_match_from: the signing domain as it is (dkim_domainonly, the default) against
        // the From domain's registrable one, as Rspamd compares them.
        let s =
            settings(json!({"n": {"rbl": "n.test", "checks": ["dkim"], "dkim_match_from": true}}));
        assert!(names(&s, &facts()).is_empty());
        let mut f = facts();
        f.dkim = vec!["sender.example".into(), "other.example".into()];
        assert_eq!(names(&s, &f), vec!["sender.example.n.test"]);
    }

    #[test]
    fn one_name_for_two_rules_and_whitelisting() {
        let s = settings(json!({
            "a": {"rbl": "bl.test", "checks": ["from"]},
            "b": {"rbl": "bl.test", "checks": ["from"], "symbol": "B"},
            "c": {"rbl": "other.test", "checks": ["from"], "whitelist": ["192.0.2.0/24"]},
        }));
        let plan = Plan::build(&s, &facts(), &Whitelisted::new(), Stage::Rest);
        assert_eq!(plan.names.len(), 1);
        assert_eq!(plan.names[0].1.len(), 2, "both rules wait on one query");
        let mut white = Whitelisted::new();
        white.insert(("192.0.2.5".to_string(), FROM));
        assert!(Plan::build(&s, &facts(), &white, Stage::Rest).is_empty());
    }

    #[test]
    fn whitelisting_lists_go_first() {
        let s = settings(json!({
            "w": {"rbl": "wl.test", "checks": ["from"], "is_whitelist": true},
            "b": {"rbl": "bl.test", "checks": ["from"]},
        }));
        let w: Vec<_> = Plan::build(&s, &facts(), &Whitelisted::new(), Stage::White).names;
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].0, "5.2.0.192.wl.test");
        assert_eq!(names(&s, &facts()), vec!["5.2.0.192.bl.test"]);
    }
}
