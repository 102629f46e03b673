//! Golden cases of the content modules and the wider shipped rule set:
//! every case's `must` symbols fire, its `must-not` symbols do not, with LF
//! and CRLF line ends; and every module symbol has a positive case.
use crate::common;
use crate::golden;

use std::collections::BTreeSet;

use sluice::config::rules::ScanConfig;
use sluice::scan::modules::ModuleSet;
use sluice::scan::rules::RuleSet;
use sluice::scan::symbols::Registry;
use sluice::scan::ScanConfigError;

fn all_cases() -> Vec<golden::Case> {
    let dir = common::repo_file("tests/rules/modules");
    golden::files(&dir)
        .iter()
        .flat_map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            golden::parse(&name, &std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

#[test]
fn module_golden_cases() {
    let pipeline = common::shipped_pipeline();
    let cases = all_cases();
    assert!(cases.len() >= 30, "golden cases present: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        for crlf in [false, true] {
            let msg = if crlf {
                case.message.replace('\n', "\r\n")
            } else {
                case.message.clone()
            };
            let v = pipeline.scan(&case.env, msg.as_bytes());
            let got: BTreeSet<&str> = v.symbols.iter().map(|s| s.name.as_str()).collect();
            let missing: Vec<_> = case
                .must
                .iter()
                .filter(|s| !got.contains(s.as_str()))
                .collect();
            let unwanted: Vec<_> = case
                .must_not
                .iter()
                .filter(|s| got.contains(s.as_str()))
                .collect();
            if !missing.is_empty() || !unwanted.is_empty() {
                failures.push(format!(
                    "{}:{} (crlf={crlf}): missing {missing:?}, unwanted {unwanted:?}; got {got:?}",
                    case.file, case.line
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The modules `tree` configures.
fn modules(
    tree: &serde_json::Value,
    registry: &mut Registry,
) -> Result<ModuleSet, ScanConfigError> {
    ModuleSet::from_config(&ScanConfig::from_tree(tree)?, registry)
}

#[test]
fn every_module_symbol_has_a_positive_case() {
    let tree = common::shipped_tree();
    let cfg = ScanConfig::from_tree(&tree).unwrap();
    let mut registry = Registry::new(&cfg);
    RuleSet::compile(&cfg, &mut registry).unwrap();
    let modules = modules(&tree, &mut registry).unwrap();
    assert_eq!(modules.names().len(), 10, "all modules enabled by default");
    let positive: BTreeSet<String> = all_cases().into_iter().flat_map(|c| c.must).collect();
    let missing: Vec<&str> = modules
        .symbol_names()
        .into_iter()
        .filter(|s| !positive.contains(*s))
        .collect();
    assert!(
        missing.is_empty(),
        "module symbols without a positive case: {missing:?}"
    );
}

#[test]
fn a_module_can_be_disabled_and_bad_settings_are_typed_errors() {
    let mut tree = common::shipped_tree();
    tree["phishing"] = serde_json::json!({ "enabled": false });
    let cfg = ScanConfig::from_tree(&tree).unwrap();
    let mut registry = Registry::new(&cfg);
    RuleSet::compile(&cfg, &mut registry).unwrap();
    let set = modules(&tree, &mut registry).unwrap();
    assert!(!set.names().contains(&"phishing"));
    assert!(set.names().contains(&"mid"));
    // As in Rspamd, a module without a config section does not run.
    tree.as_object_mut().unwrap().remove("mid");
    let set = modules(&tree, &mut registry).unwrap();
    assert!(!set.names().contains(&"mid"));

    tree["mime_types"] = serde_json::json!({ "bad_extensions": "exe" });
    let err = modules(&tree, &mut registry).unwrap_err();
    assert!(err.to_string().contains("mime_types"), "{err}");
    tree["mime_types"] = serde_json::json!({ "enabled": 3 });
    let err = modules(&tree, &mut registry).unwrap_err();
    assert!(err.to_string().contains("mime_types.enabled"), "{err}");
}
