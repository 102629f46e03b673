//! Warnings for keys of the scan sections that sluice does not use, naming
//! the file and line, so an admin's Rspamd config never fails silently.
//! Rspamd keys that sluice ignores on purpose are reported the same way.
use std::collections::BTreeMap;

use serde_json::Value;

use super::ucl::Location;

const REGEXP: &[&str] = &[
    "re",
    "score",
    "weight",
    "description",
    "group",
    "enabled",
    "one_shot",
    "nshots",
];
const SYMBOL: &[&str] = &[
    "weight",
    "score",
    "description",
    "group",
    "one_shot",
    "one_param",
    "nshots",
    "flags",
];
const GROUP: &[&str] = &[
    "max_score",
    "min_score",
    "one_shot",
    "description",
    "symbols",
];
const COMPOSITE: &[&str] = &[
    "expression",
    "score",
    "weight",
    "description",
    "group",
    "policy",
    "enabled",
];
const FORCE_RULE: &[&str] = &[
    "expression",
    "action",
    "message",
    "require_action",
    "honor_action",
    "least",
    "enabled",
];
const MULTIMAP: &[&str] = &[
    "type",
    "map",
    "symbol",
    "score",
    "weight",
    "description",
    "group",
    "header",
    "filter",
    "extract_from",
    "selector",
    "regexp",
    "glob",
    "prefilter",
    "action",
    "message",
    "enabled",
];
/// `milter { upstream "NAME" { … } }` (forward mode), Rspamd's spellings included.
const UPSTREAM: &[&str] = &[
    "enabled",
    "disabled",
    "self_scan",
    "hosts",
    "hash_key",
    "name",
    "default",
    "timeout",
    "compression",
    "compress",
    "ssl",
    "ssl_ca",
    "keepalive",
    "keep_alive",
    "settings_id",
    "settings",
    "settings_id_by_mta",
    "extra_headers",
];
/// `milter { mirror "NAME" { … } }`.
const MIRROR: &[&str] = &[
    "hosts",
    "probability",
    "prob",
    "timeout",
    "compression",
    "compress",
    "ssl",
    "settings_id",
    "settings",
];
/// `classifier "bayes" { … }`: the keys `config::bayes` reads.
const BAYES: &[&str] = &[
    "enabled",
    "backend",
    "path",
    "servers",
    "write_servers",
    "read_servers",
    "prefix",
    "timeout",
    "expire",
    "common_hits",
    "min_learns",
    "min_token_hits",
    "min_prob_strength",
    "min_tokens",
    "per_user",
    "autolearn",
    "cache_tokens",
    "max_tokens",
];
const ACTION_OBJECT: &[&str] = &["score", "threshold", "flags", "milter"];
/// The content modules and the keys each reads; Rspamd's other keys of these
/// modules (read from its per-module files) are reported, not silently dropped.
const MODULES: &[(&str, &[&str])] = &[
    ("mime_types", &["enabled", "bad_extensions"]),
    ("phishing", &["enabled", "domains"]),
    ("mid", &["enabled"]),
    ("received", &["enabled"]),
    ("forged_recipients", &["enabled"]),
    ("chartable", &["enabled"]),
    (
        "hfilter",
        &[
            "enabled",
            "helo_enabled",
            "hostname_enabled",
            "from_enabled",
            "rcpt_enabled",
            "mid_enabled",
            "url_enabled",
            "check_local",
            "check_authed",
        ],
    ),
    ("html", &["enabled"]),
    ("subject", &["enabled"]),
    ("from_checks", &["enabled", "freemail_domains"]),
    ("spf", &["enabled", "check_local", "check_authed"]),
    ("dkim", &["enabled", "check_local", "check_authed"]),
    (
        "dmarc",
        &["enabled", "check_local", "check_authed", "actions"],
    ),
    (
        "whitelist",
        &["enabled", "rules", "check_local", "check_authed"],
    ),
    ("dkim_signing", SIGNING),
    ("arc", SIGNING),
];
/// The keys `sign/` reads from `dkim_signing` and `arc` (Redis and Vault
/// keys, `signing_table`, `use_http_headers`... are reported).
const SIGNING: &[&str] = &[
    "enabled",
    "selector",
    "path",
    "domain",
    "selector_map",
    "path_map",
    "sign_authenticated",
    "sign_local",
    "sign_inbound",
    "sign_networks",
    "use_domain",
    "use_domain_sign_local",
    "use_domain_sign_inbound",
    "use_domain_sign_networks",
    "use_esld",
    "allow_envfrom_empty",
    "allow_hdrfrom_mismatch",
    "allow_hdrfrom_mismatch_local",
    "allow_hdrfrom_mismatch_sign_networks",
    "allow_hdrfrom_multiple",
    "allow_username_mismatch",
    "try_fallback",
    "sign_headers",
];

/// One warning per unused key: `file:line:col: section.key: not used by sluice`.
pub fn warnings(tree: &Value, positions: &BTreeMap<String, Location>) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |path: String, v: &Value, known: &[&str]| {
        let Some(m) = v.as_object() else { return };
        for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
            let key = format!("{path}.{k}");
            let at = positions
                .get(&key)
                .map_or_else(|| "(config)".to_string(), |l| l.to_string());
            out.push(format!("{at}: {key}: not used by sluice, ignored"));
        }
    };
    for (name, r) in entries(tree.get("regexp")) {
        check(format!("regexp.{name}"), r, REGEXP);
    }
    for (name, s) in entries(tree.get("symbols")) {
        check(format!("symbols.{name}"), s, SYMBOL);
    }
    for (name, g) in entries(tree.get("group")) {
        check(format!("group.{name}"), g, GROUP);
        for (s, v) in entries(g.get("symbols")) {
            check(format!("group.{name}.symbols.{s}"), v, SYMBOL);
        }
    }
    for (name, c) in entries(tree.get("composites")) {
        check(format!("composites.{name}"), c, COMPOSITE);
    }
    for (name, r) in entries(tree.get("force_actions").and_then(|f| f.get("rules"))) {
        check(format!("force_actions.rules.{name}"), r, FORCE_RULE);
    }
    for (name, r) in entries(tree.get("multimap")) {
        check(format!("multimap.{name}"), r, MULTIMAP);
    }
    if let Some(bayes) = tree.pointer("/classifier/bayes") {
        check("classifier.bayes".to_string(), bayes, BAYES);
    }
    let milter = tree.get("milter");
    for (name, u) in entries(milter.and_then(|m| m.get("upstream"))) {
        check(format!("milter.upstream.{name}"), u, UPSTREAM);
    }
    for (name, m) in entries(milter.and_then(|m| m.get("mirror"))) {
        check(format!("milter.mirror.{name}"), m, MIRROR);
    }
    for (name, a) in entries(tree.get("actions")) {
        check(format!("actions.{name}"), a, ACTION_OBJECT);
    }
    let wl_rules = tree.get("whitelist").and_then(|w| w.get("rules"));
    for (name, r) in entries(wl_rules) {
        check(
            format!("whitelist.rules.{name}"),
            r,
            super::rules::whitelist::RULE_KEYS,
        );
    }
    if let Some(rbl) = tree.get("rbl") {
        use super::rules::rbl::{CHECK_KINDS, MODULE_KEYS, RULE_KEYS};
        let rule_keys = [RULE_KEYS, CHECK_KINDS].concat();
        check("rbl".to_string(), rbl, MODULE_KEYS);
        for key in ["rbls", "rules"] {
            for (name, r) in entries(rbl.get(key)) {
                check(format!("rbl.{key}.{name}"), r, &rule_keys);
            }
        }
    }
    for (name, known) in MODULES {
        if let Some(section) = tree.get(*name) {
            check(name.to_string(), section, known);
        }
    }
    out
}

fn entries(v: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.is_object())
}

#[cfg(test)]
mod tests {
    use super::super::ucl::{parse_text, DiskSource, Vars};
    use super::*;

    #[test]
    fn unknown_keys_name_file_and_line() {
        let text = "regexp {\n  R { re = \"/x/P\"; score = 1; condition = \"lua\"; }\n}\ncomposites {\n  C { expression = \"R\";\n      polcy = \"leave\"; }\n}\n";
        let doc = parse_text(&DiskSource, Vars::default(), "local.d/test.conf", text).unwrap();
        let w = warnings(&doc.value, &doc.positions);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("local.d/test.conf:2:"), "{}", w[0]);
        assert!(w[0].contains("regexp.R.condition"), "{}", w[0]);
        assert!(w[1].starts_with("local.d/test.conf:6:"), "{}", w[1]);
        assert!(w[1].contains("composites.C.polcy"), "{}", w[1]);
    }

    #[test]
    fn rbl_keys_rspamd_does_not_have_are_named() {
        let text = "rbl {\n  default_unknown = true;\n  rbls {\n    l { rbl = \"x.test\"; checks = [\"from\"]; symbol_prefix = \"X\"; }\n  }\n}\n";
        let doc = parse_text(&DiskSource, Vars::default(), "local.d/rbl.conf", text).unwrap();
        let w = warnings(&doc.value, &doc.positions);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("local.d/rbl.conf:4:"), "{}", w[0]);
        assert!(w[0].contains("rbl.rbls.l.symbol_prefix"), "{}", w[0]);
    }

    #[test]
    fn upstream_keys_sluice_does_not_read_are_named() {
        let text = "milter {\n  upstream \"scan\" {\n    hosts = \"127.0.0.1\";\n    key = \"k\";\n  }\n  mirror \"m\" {\n    hosts = \"127.0.0.1\";\n    probability = 0.5;\n  }\n}\n";
        let doc = parse_text(
            &DiskSource,
            Vars::default(),
            "local.d/worker-proxy.inc",
            text,
        )
        .unwrap();
        let w = warnings(&doc.value, &doc.positions);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("local.d/worker-proxy.inc:4:"), "{}", w[0]);
        assert!(
            w[0].contains("milter.upstream.scan.key: not used"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn bayes_keys_sluice_does_not_read_are_named() {
        let text = "classifier \"bayes\" {\n  min_learns = 10;\n  new_schema = true;\n}\n";
        let doc = parse_text(&DiskSource, Vars::default(), "local.d/statistic.conf", text).unwrap();
        let w = warnings(&doc.value, &doc.positions);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("local.d/statistic.conf:3:"), "{}", w[0]);
        assert!(
            w[0].contains("classifier.bayes.new_schema: not used"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn module_keys_sluice_does_not_read_are_named() {
        let text = "phishing {\n  domains = [\"a.example\"];\n  openphish_enabled = true;\n}\n";
        let doc = parse_text(&DiskSource, Vars::default(), "local.d/phishing.conf", text).unwrap();
        let w = warnings(&doc.value, &doc.positions);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("local.d/phishing.conf:3:"), "{}", w[0]);
        assert!(
            w[0].contains("phishing.openphish_enabled: not used"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn signing_keys_sluice_does_not_read_are_named() {
        let text = "dkim_signing {\n  selector = \"s1\";\n  use_redis = true;\n}\n\
                    arc {\n  sign_inbound = true;\n  key_prefix = \"ARC\";\n}\n";
        let doc = parse_text(&DiskSource, Vars::default(), "local.d/x.conf", text).unwrap();
        let w = warnings(&doc.value, &doc.positions);
        assert_eq!(w.len(), 2, "{w:?}");
        let names: Vec<&str> = w.iter().filter_map(|l| l.split(": ").nth(1)).collect();
        assert_eq!(names, ["dkim_signing.use_redis", "arc.key_prefix"], "{w:?}");
    }
}
