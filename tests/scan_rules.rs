//! Golden tests of the shipped rules (`tests/rules/*.test`): each case gives
//! the exact set of symbols a message must produce.
#[path = "rules/common.rs"]
mod common;

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
            let got: BTreeSet<String> = v.symbols.iter().map(|s| s.name.clone()).collect();
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
    // Every shipped rule has a positive case (negatives: every case lacking it).
    let tree = common::shipped_tree();
    for sym in tree["regexp"].as_object().unwrap().keys() {
        assert!(
            seen_positive.contains(sym),
            "no positive golden case for {sym}"
        );
    }
}
