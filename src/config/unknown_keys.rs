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
    ("hfilter", &["enabled"]),
    ("html", &["enabled"]),
    ("subject", &["enabled"]),
    ("from_checks", &["enabled", "freemail_domains"]),
    ("spf", &["enabled", "check_local", "check_authed"]),
    ("dkim", &["enabled", "check_local", "check_authed"]),
    (
        "dmarc",
        &["enabled", "check_local", "check_authed", "actions"],
    ),
    ("arc", &["enabled"]),
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
    for (name, a) in entries(tree.get("actions")) {
        check(format!("actions.{name}"), a, ACTION_OBJECT);
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
}
