//! Golden tests of the shipped regexp rules (`tests/rules/shipped.test`):
//! each case gives the exact set of regexp-rule symbols a message must
//! produce. Content-module symbols are checked by `scan_modules_golden.rs`,
//! and that every rule fires somewhere by `scan_modules_coverage.rs`.
use crate::common;

use std::collections::BTreeSet;

use sluice::message::Envelope;

struct Case {
    line: usize,
    expected: BTreeSet<String>,
    message: String,
}

fn cases(text: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut line = 1;
    for block in text.split("\n=====\n") {
        let start = line;
        line += block.lines().count() + 1;
        let body: String = block
            .lines()
            .skip_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let (head, message) = body
            .split_once("\n\n")
            .expect("a blank line ends the case header");
        let expected = head
            .strip_prefix("symbols:")
            .unwrap_or_else(|| panic!("case at line {start} must start with `symbols:`"))
            .split_whitespace()
            .map(str::to_string)
            .collect();
        out.push(Case {
            line: start,
            expected,
            message: format!("{message}\n"),
        });
    }
    out
}

#[test]
fn shipped_rules_golden_cases() {
    let path = common::repo_file("tests/rules/shipped.test");
    let text = std::fs::read_to_string(&path).unwrap();
    let pipeline = common::shipped_pipeline();
    let tree = common::shipped_tree();
    let regexp_rules: BTreeSet<&str> = tree["regexp"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let cases = cases(&text);
    assert!(cases.len() >= 10, "golden file has its cases");
    let mut failures = Vec::new();
    let mut seen_positive = BTreeSet::new();
    for case in &cases {
        for crlf in [false, true] {
            let msg = if crlf {
                case.message.replace('\n', "\r\n")
            } else {
                case.message.clone()
            };
            let v = pipeline.scan(&Envelope::default(), msg.as_bytes());
            let got: BTreeSet<String> = v
                .symbols
                .iter()
                .map(|s| s.name.clone())
                .filter(|n| regexp_rules.contains(n.as_str()) || n == "GTUBE")
                .collect();
            if got != case.expected {
                failures.push(format!(
                    "line {} (crlf={crlf}): expected {:?}, got {:?}",
                    case.line, case.expected, got
                ));
            }
        }
        seen_positive.extend(case.expected.iter().cloned());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(seen_positive.len() >= 10, "the cases exercise many rules");
}
