//! The `rbl` section (Rspamd's `local.d/rbl.conf`) as typed rules.
//!
//! Every key of Rspamd's rule schema is read; the module-wide `default_*` keys fill a rule's
//! unset switches unless the rule says `ignore_defaults` (then an unset switch is off, as in
//! Rspamd). Keys whose feature needs Rspamd's Lua (`selector`, `process_script`,
//! `url_compose_map`, `require_symbols`) are accepted and have no effect; a rule whose only
//! checks are such is kept and looks nothing up.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map as JsonMap, Value};

use super::codes::{Codes, Pattern};
use super::query::{Hash, HashFormat};
use crate::config::rules::rbl::CHECK_KINDS;
use crate::config::value;
use crate::scan::error::ScanConfigError;
use crate::scan::multimap::map::{Map, MapKind, MapSource};

/// Which facts of a message a rule looks up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks {
    pub from: bool,
    pub received: bool,
    pub helo: bool,
    pub rdns: bool,
    pub emails: bool,
    pub replyto: bool,
    pub urls: bool,
    pub content_urls: bool,
    pub images: bool,
    pub dkim: bool,
}

/// Which Received hops a `received` check takes (Rspamd's `received_*` keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceivedFilter {
    pub flags: Vec<String>,
    pub nflags: Vec<String>,
    pub min_pos: Option<i64>,
    pub max_pos: Option<i64>,
}

/// One list.
#[derive(Debug)]
pub struct Rule {
    /// The key under `rbls`.
    pub name: String,
    /// The rule's own symbol (`symbol`, else the key upper-cased).
    pub symbol: String,
    /// The zone queried (`rbl`).
    pub zone: String,
    pub checks: Checks,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Report an answer no return code names under `symbol`.
    pub unknown: bool,
    pub dkim_domainonly: bool,
    pub dkim_match_from: bool,
    pub emails_domainonly: bool,
    pub emails_delimiter: Option<String>,
    pub exclude_private_ips: bool,
    pub exclude_users: bool,
    pub exclude_local: bool,
    /// Numeric URLs are not looked up.
    pub no_ip: bool,
    pub url_full_hostname: bool,
    pub is_whitelist: bool,
    pub ignore_whitelist: bool,
    pub whitelist_exception: Vec<String>,
    pub hash: Option<Hash>,
    pub hash_format: HashFormat,
    pub hash_len: Option<usize>,
    pub codes: Codes,
    /// `symbols_prefixes`: check label (`from`, `received`, ...) to symbol prefix.
    pub prefixes: BTreeMap<String, String>,
    pub received: ReceivedFilter,
    /// At most this many URLs or addresses a message (`requests_limit`).
    pub requests_limit: usize,
    pub whitelist: Option<Map>,
    pub disable_monitoring: bool,
}

/// The whole module.
#[derive(Debug, Default)]
pub struct RblSettings {
    pub rules: Vec<Rule>,
    /// `local_exclude_ip_map`: client addresses no rule with `exclude_local` looks up.
    pub local_exclude: Option<Map>,
}

/// Rspamd's `dns.max_requests`, the default `requests_limit`.
const DEFAULT_REQUESTS_LIMIT: usize = 64;

/// Rspamd 3.4's built-in `default_*` values.
const DEFAULTS: &[(&str, bool)] = &[
    ("enabled", true),
    ("ipv4", true),
    ("ipv6", true),
    ("unknown", false),
    ("dkim_domainonly", true),
    ("emails_domainonly", false),
    ("exclude_private_ips", true),
    ("exclude_users", false),
    ("exclude_local", true),
    ("no_ip", false),
    ("dkim_match_from", false),
    ("selector_flatten", true),
];

fn bad(list: &str, key: &str, want: &str) -> ScanConfigError {
    ScanConfigError::Rbl {
        list: list.to_string(),
        reason: format!("`{key}` must be {want}"),
    }
}

impl RblSettings {
    /// The rules of an `rbl` section; none when the section is absent or `enabled = false`.
    pub fn from_section(section: Option<&Value>) -> Result<RblSettings, ScanConfigError> {
        let Some(section) = section.filter(|s| s.is_object()) else {
            return Ok(RblSettings::default());
        };
        let module_bad = |key: &str, want: &str| bad("", key, want);
        if let Some(v) = section.get("enabled") {
            if !value::boolean(v).map_err(|w| module_bad("enabled", w))? {
                return Ok(RblSettings::default());
            }
        }
        let mut defaults = BTreeMap::new();
        for &(key, builtin) in DEFAULTS {
            let set = section.get(format!("default_{key}"));
            let v = match set {
                Some(v) => value::boolean(v).map_err(|w| module_bad(key, w))?,
                None => builtin,
            };
            defaults.insert(key, v);
        }
        let local_exclude = match section.get("local_exclude_ip_map") {
            Some(v) => {
                Some(map(v, MapKind::Cidr).map_err(|w| module_bad("local_exclude_ip_map", &w))?)
            }
            None => None,
        };
        let mut rules = Vec::new();
        // Rspamd merges `rules` into `rbls` (an old name of the same section).
        for key in ["rbls", "rules"] {
            let Some(lists) = section.get(key).and_then(Value::as_object) else {
                continue;
            };
            for (name, body) in lists {
                if let Some(rule) = Rule::parse(name, body, &defaults)? {
                    rules.retain(|r: &Rule| r.name != *name);
                    rules.push(rule);
                }
            }
        }
        Ok(RblSettings {
            rules,
            local_exclude,
        })
    }

    /// Every symbol a rule can report, with whether its list looks up URLs or names
    /// (Rspamd's `surbl` group) rather than addresses (`rbl`).
    pub fn symbols(&self) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        for r in &self.rules {
            let group = r.group();
            for s in r.symbol_names() {
                if !out.iter().any(|(n, _)| *n == s) {
                    out.push((s, group));
                }
            }
        }
        out
    }
}

/// A map value: one string or a list, each a file (`/path`, `file://`) or an inline entry.
fn map(v: &Value, kind: MapKind) -> Result<Map, String> {
    let items = value::strings(v).map_err(|w| w.to_string())?;
    let sources = items
        .iter()
        .map(|s| MapSource::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let (m, remarks) = Map::load(kind, sources, Duration::from_secs(60));
    for r in remarks {
        tracing::warn!("rbl map: {r}");
    }
    Ok(m)
}

struct Reader<'a> {
    name: &'a str,
    body: &'a JsonMap<String, Value>,
    defaults: Option<&'a BTreeMap<&'static str, bool>>,
}

impl Reader<'_> {
    fn flag(&self, key: &str) -> Result<bool, ScanConfigError> {
        match self.body.get(key) {
            Some(v) => value::boolean(v).map_err(|w| bad(self.name, key, w)),
            None => Ok(self
                .defaults
                .and_then(|d| d.get(key).copied())
                .unwrap_or(false)),
        }
    }

    fn opt_flag(&self, key: &str) -> Result<Option<bool>, ScanConfigError> {
        self.body
            .get(key)
            .map(|v| value::boolean(v).map_err(|w| bad(self.name, key, w)))
            .transpose()
    }

    fn string(&self, key: &str) -> Result<Option<String>, ScanConfigError> {
        self.body
            .get(key)
            .map(|v| value::string(v).map_err(|w| bad(self.name, key, w)))
            .transpose()
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, ScanConfigError> {
        match self.body.get(key) {
            Some(v) => value::strings(v).map_err(|w| bad(self.name, key, w)),
            None => Ok(Vec::new()),
        }
    }

    fn number(&self, key: &str) -> Result<Option<i64>, ScanConfigError> {
        let Some(v) = self.body.get(key) else {
            return Ok(None);
        };
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        n.map(|n| Some(n as i64))
            .ok_or_else(|| bad(self.name, key, "a number"))
    }
}

impl Rule {
    /// `None` for a rule that is switched off (`enabled = false`, `disabled = true`).
    fn parse(
        name: &str,
        body: &Value,
        defaults: &BTreeMap<&'static str, bool>,
    ) -> Result<Option<Rule>, ScanConfigError> {
        let Some(obj) = body.as_object() else {
            return Err(bad(name, "(rule)", "a section"));
        };
        let mut r = Reader {
            name,
            body: obj,
            defaults: None,
        };
        let ignore_defaults = r
            .opt_flag("ignore_defaults")?
            .or(r.opt_flag("ignore_default")?);
        if !ignore_defaults.unwrap_or(false) {
            r.defaults = Some(defaults);
        }
        if r.opt_flag("disabled")? == Some(true) || r.opt_flag("enabled")? == Some(false) {
            return Ok(None);
        }
        let zone = r
            .string("rbl")?
            .ok_or_else(|| bad(name, "rbl", "the zone to query"))?
            .trim_matches('.')
            .to_ascii_lowercase();
        let symbol = r.string("symbol")?.unwrap_or_else(|| name.to_uppercase());
        let codes = codes(&r)?;
        let (hash, hash_format, hash_len) = hashing(&r)?;
        let ignore_whitelist = r
            .opt_flag("ignore_whitelist")?
            .or(r.opt_flag("ignore_whitelists")?)
            .unwrap_or(false);
        Ok(Some(Rule {
            name: name.to_string(),
            symbol,
            zone,
            checks: checks(&r)?,
            ipv4: r.flag("ipv4")?,
            ipv6: r.flag("ipv6")?,
            unknown: r.flag("unknown")?,
            dkim_domainonly: r.flag("dkim_domainonly")?,
            dkim_match_from: r.flag("dkim_match_from")?,
            emails_domainonly: r.flag("emails_domainonly")?,
            emails_delimiter: r.string("emails_delimiter")?,
            exclude_private_ips: r.flag("exclude_private_ips")?,
            exclude_users: r.flag("exclude_users")?,
            exclude_local: r.flag("exclude_local")?,
            no_ip: r.flag("no_ip")?,
            url_full_hostname: r.flag("url_full_hostname")?,
            is_whitelist: r.flag("is_whitelist")?,
            ignore_whitelist,
            whitelist_exception: r.strings("whitelist_exception")?,
            hash,
            hash_format,
            hash_len,
            codes,
            prefixes: prefixes(&r)?,
            received: ReceivedFilter {
                flags: r.strings("received_flags")?,
                nflags: r.strings("received_nflags")?,
                min_pos: r.number("received_min_pos")?,
                max_pos: r.number("received_max_pos")?,
            },
            requests_limit: r
                .number("requests_limit")?
                .map_or(DEFAULT_REQUESTS_LIMIT, |n| n.max(0) as usize),
            whitelist: whitelist(&r)?,
            disable_monitoring: r.flag("disable_monitoring")?,
        }))
    }

    /// `rbl` for address lists, `surbl` for lists of names and URLs (Rspamd's groups).
    pub fn group(&self) -> &'static str {
        let c = self.checks;
        if c.urls || c.content_urls || c.emails || c.dkim || c.replyto {
            "surbl"
        } else {
            "rbl"
        }
    }

    /// The symbol a return code (or the rule itself) is reported as for one check label.
    pub fn symbol_for(&self, base: &str, label: &str) -> String {
        match self.prefixes.get(label) {
            Some(p) => format!("{p}_{base}"),
            None => base.to_string(),
        }
    }

    /// Every symbol this rule can report.
    pub fn symbol_names(&self) -> Vec<String> {
        let mut bases = vec![self.symbol.clone()];
        bases.extend(self.codes.symbols().map(str::to_string));
        if self.prefixes.is_empty() {
            return bases;
        }
        let mut out = Vec::new();
        for p in self.prefixes.values() {
            out.extend(bases.iter().map(|b| format!("{p}_{b}")));
        }
        out
    }

    /// Whether a hit on `symbol` whitelists its element for the other lists.
    pub fn whitelists_with(&self, symbol: &str) -> bool {
        self.is_whitelist && !self.whitelist_exception.iter().any(|e| e == symbol)
    }
}

fn checks(r: &Reader<'_>) -> Result<Checks, ScanConfigError> {
    let mut c = Checks::default();
    let excluded = r.strings("exclude_checks")?;
    let listed = r.strings("checks")?;
    let mut on = |kind: &str| -> Result<(), ScanConfigError> {
        match kind {
            "from" => c.from = true,
            "received" => c.received = true,
            "helo" => c.helo = true,
            "rdns" => c.rdns = true,
            "emails" => c.emails = true,
            "replyto" => c.replyto = true,
            "urls" | "numeric_urls" => c.urls = true,
            "content_urls" => c.content_urls = true,
            "images" => c.images = true,
            "dkim" => c.dkim = true,
            "selector" => {}
            _ => {
                return Err(bad(
                    r.name,
                    "checks",
                    &format!("a list of {}", CHECK_KINDS.join(", ")),
                ))
            }
        }
        Ok(())
    };
    for kind in listed.iter().filter(|k| !excluded.contains(k)) {
        on(kind)?;
    }
    // The old form: each check as a boolean key of its own.
    for kind in CHECK_KINDS {
        if r.opt_flag(kind).ok().flatten() == Some(true) && !excluded.iter().any(|e| e == kind) {
            on(kind)?;
        }
    }
    Ok(c)
}

fn codes(r: &Reader<'_>) -> Result<Codes, ScanConfigError> {
    let table = |key: &str| r.body.get(key).and_then(Value::as_object);
    let returncodes = table("returncodes").or(table("return_codes"));
    let returnbits = table("returnbits").or(table("return_bits"));
    if let Some(bits) = returnbits {
        let mut out = Vec::new();
        for (symbol, v) in bits {
            let list: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            let mut masks = Vec::new();
            for x in list {
                let n = match x {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                let n = n
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad(r.name, "returnbits", "numbers"))?;
                masks.push(n);
            }
            out.push((symbol.to_uppercase(), masks));
        }
        return Ok(Codes::Bits(out));
    }
    if let Some(codes) = returncodes {
        let mut out = Vec::new();
        for (symbol, v) in codes {
            let patterns = value::strings(v).map_err(|w| bad(r.name, "returncodes", w))?;
            let compiled = patterns
                .iter()
                .map(|p| Pattern::new(p).map_err(|e| bad(r.name, "returncodes", &e)))
                .collect::<Result<Vec<_>, _>>()?;
            out.push((symbol.to_uppercase(), compiled));
        }
        return Ok(Codes::Patterns(out));
    }
    Ok(Codes::Any)
}

fn hashing(r: &Reader<'_>) -> Result<(Option<Hash>, HashFormat, Option<usize>), ScanConfigError> {
    let hash = match r.string("hash")? {
        Some(h) => Some(Hash::parse(&h).ok_or_else(|| {
            bad(
                r.name,
                "hash",
                "one of md5, sha1, sha256, sha384, sha512, blake2",
            )
        })?),
        None => None,
    };
    let format = match r.string("hash_format")?.as_deref() {
        None | Some("hex") => HashFormat::Hex,
        Some("base32") => HashFormat::Base32,
        Some("base64") => HashFormat::Base64,
        Some(_) => return Err(bad(r.name, "hash_format", "hex, base32 or base64")),
    };
    let len = r.number("hash_len")?.map(|n| n.max(0) as usize);
    Ok((hash, format, len))
}

fn prefixes(r: &Reader<'_>) -> Result<BTreeMap<String, String>, ScanConfigError> {
    let Some(v) = r.body.get("symbols_prefixes") else {
        return Ok(BTreeMap::new());
    };
    let Some(obj) = v.as_object() else {
        return Err(bad(
            r.name,
            "symbols_prefixes",
            "a section of label = prefix",
        ));
    };
    obj.iter()
        .map(|(k, v)| {
            let p = value::string(v).map_err(|w| bad(r.name, "symbols_prefixes", w))?;
            Ok((k.clone(), p))
        })
        .collect()
}

/// IP networks for lists that check addresses, names otherwise (as Rspamd picks the kind).
fn whitelist(r: &Reader<'_>) -> Result<Option<Map>, ScanConfigError> {
    let Some(v) = r.body.get("whitelist") else {
        return Ok(None);
    };
    let checks = checks(r)?;
    let kind = if checks.from || checks.received {
        MapKind::Cidr
    } else {
        MapKind::Plain
    };
    map(v, kind)
        .map(Some)
        .map_err(|e| bad(r.name, "whitelist", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(rule: Value) -> Rule {
        let s = RblSettings::from_section(Some(&json!({"rbls": {"test": rule}}))).unwrap();
        s.rules.into_iter().next().unwrap()
    }

    #[test]
    fn defaults_fill_unset_switches_unless_ignored() {
        let r = one(json!({"rbl": "bl.test.", "checks": ["from"]}));
        assert_eq!(r.zone, "bl.test");
        assert_eq!(r.symbol, "TEST");
        assert!(r.ipv4 && r.ipv6 && r.exclude_local && r.exclude_private_ips && !r.unknown);
        assert!(r.checks.from && !r.checks.received);
        assert_eq!(r.group(), "rbl");
        let r = one(json!({"rbl": "bl.test", "checks": ["urls"], "ignore_defaults": true}));
        assert!(!r.ipv4 && !r.exclude_local && !r.dkim_domainonly);
        assert_eq!(r.group(), "surbl");
    }

    #[test]
    fn module_defaults_and_switches() {
        let s = RblSettings::from_section(Some(&json!({
            "default_unknown": true,
            "rbls": {
                "a": {"rbl": "a.test", "checks": ["from"]},
                "b": {"rbl": "b.test", "enabled": false},
                "c": {"rbl": "c.test", "disabled": true},
            }
        })))
        .unwrap();
        assert_eq!(s.rules.len(), 1);
        assert!(s.rules[0].unknown);
        let off = RblSettings::from_section(Some(&json!({
            "enabled": false, "rbls": {"a": {"rbl": "a.test"}}
        })))
        .unwrap();
        assert!(off.rules.is_empty());
    }

    #[test]
    fn prefixes_name_every_symbol() {
        let r = one(json!({
            "rbl": "zen.test", "symbol": "SPAMHAUS", "checks": ["received", "from"],
            "symbols_prefixes": {"received": "RECEIVED", "from": "RBL"},
            "returncodes": {"spamhaus_sbl": "127.0.0.2"},
        }));
        let names = r.symbol_names();
        assert!(names.contains(&"RBL_SPAMHAUS_SBL".to_string()), "{names:?}");
        assert!(
            names.contains(&"RECEIVED_SPAMHAUS".to_string()),
            "{names:?}"
        );
        assert_eq!(r.symbol_for("SPAMHAUS_SBL", "from"), "RBL_SPAMHAUS_SBL");
        assert_eq!(r.symbol_for("SPAMHAUS_SBL", "helo"), "SPAMHAUS_SBL");
    }

    #[test]
    fn bad_values_name_the_rule_and_key() {
        for (rule, key) in [
            (json!({"checks": ["from"]}), "rbl"),
            (json!({"rbl": "x.test", "checks": ["nonsense"]}), "checks"),
            (json!({"rbl": "x.test", "hash": "crc32"}), "hash"),
            (
                json!({"rbl": "x.test", "returnbits": {"A": "x"}}),
                "returnbits",
            ),
            (
                json!({"rbl": "x.test", "returncodes": {"A": "127.0.0.[2"}}),
                "returncodes",
            ),
            (json!({"rbl": "x.test", "ipv4": "perhaps"}), "ipv4"),
        ] {
            let e = RblSettings::from_section(Some(&json!({"rbls": {"broken": rule}})))
                .unwrap_err()
                .to_string();
            assert!(e.contains("broken") && e.contains(key), "{e}");
        }
    }
}
