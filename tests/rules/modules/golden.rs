//! Golden cases as data for the content modules and the wider rule set
//! (`tests/rules/modules/*.test`). A case is a header of `must:`,
//! `must-not:` and optional `env:` lines (comments start with `#`), a blank
//! line, then the message; cases are separated by a line of `=====`.
#![allow(dead_code)]
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sluice::message::Envelope;

pub struct Case {
    pub file: String,
    pub line: usize,
    pub must: BTreeSet<String>,
    pub must_not: BTreeSet<String>,
    pub env: Envelope,
    pub message: String,
}

/// Every `.test` file of the modules folder, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("golden folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    v.sort();
    v
}

pub fn parse(file: &str, text: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut line = 1;
    for block in text.split("\n=====\n") {
        let start = line;
        line += block.lines().count() + 1;
        let (head, message) = block
            .split_once("\n\n")
            .unwrap_or_else(|| panic!("{file}:{start}: a blank line ends the case header"));
        let mut case = Case {
            file: file.to_string(),
            line: start,
            must: BTreeSet::new(),
            must_not: BTreeSet::new(),
            env: Envelope::default(),
            message: format!("{message}\n"),
        };
        for l in head.lines().filter(|l| !l.starts_with('#')) {
            if let Some(v) = l.strip_prefix("must-not:") {
                case.must_not = words(v);
            } else if let Some(v) = l.strip_prefix("must:") {
                case.must = words(v);
            } else if let Some(v) = l.strip_prefix("env:") {
                case.env = envelope(v);
            } else {
                panic!("{file}:{start}: unknown case header line `{l}`");
            }
        }
        out.push(case);
    }
    out
}

fn words(v: &str) -> BTreeSet<String> {
    v.split_whitespace().map(str::to_string).collect()
}

/// `helo=H ip=A name=N from=S rcpt=R1,R2`
fn envelope(v: &str) -> Envelope {
    let mut env = Envelope::default();
    for kv in v.split_whitespace() {
        let (k, val) = kv.split_once('=').expect("env entries are key=value");
        match k {
            "helo" => env.helo = Some(val.into()),
            "ip" => env.client_ip = Some(val.parse().expect("env ip")),
            "name" => env.client_name = Some(val.into()),
            "from" => env.from = Some(val.into()),
            "rcpt" => env.rcpts = val.split(',').map(str::to_string).collect(),
            other => panic!("unknown env key {other}"),
        }
    }
    env
}
