//! Golden engine tests as data: `tests/rules/engine/*.test`.
//!
//! A file starts with `config:` and a UCL configuration (the whole tree the
//! pipeline sees; `@MAPS@` is replaced by the folder of map files), then
//! cases separated by a line `=====`. A case is header lines (these keys
//! only), an optional blank line, and the message:
//! ```text
//! symbols: A B        exact set of symbols the message must get
//! absent: C           symbols it must not get (redundant with `symbols`,
//!                     but states the negative case being tested)
//! score: 3.5          total score (2 decimals)
//! action: add header  the verdict's action
//! option: A=x         symbol A carries option x (repeatable)
//! weight: A=0.5       symbol A scored 0.5 (repeatable)
//! message: text       the SMTP message
//! env: from=a@b rcpt=c@d ip=192.0.2.1 helo=h hostname=n user=u
//! ```
#![allow(dead_code)]
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sluice::message::Envelope;
use sluice::scan::Pipeline;
use sluice::verdict::Verdict;

/// Keys a case header may use.
const KEYS: [&str; 8] = [
    "symbols", "absent", "score", "action", "option", "weight", "message", "env",
];

pub struct Case {
    pub line: usize,
    pub header: Vec<(String, String)>,
    pub message: String,
}

pub fn engine_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rules/engine")
}

/// The config text and the cases of one file.
pub fn load(path: &Path) -> (String, Vec<Case>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut blocks = text.split("\n=====\n");
    let head = blocks.next().unwrap();
    let cfg = head
        .split_once("config:\n")
        .unwrap_or_else(|| panic!("{}: must start with `config:`", path.display()))
        .1
        .replace("@MAPS@", &engine_dir().join("maps").display().to_string());
    let mut line = head.lines().count() + 2;
    let mut cases = Vec::new();
    for block in blocks {
        let start = line;
        line += block.lines().count() + 1;
        let lines: Vec<&str> = block.lines().skip_while(|l| l.starts_with('#')).collect();
        // Header lines are the known keys; a blank line after them is optional.
        let n = lines
            .iter()
            .take_while(|l| {
                l.split_once(':')
                    .is_some_and(|(k, _)| KEYS.contains(&k.trim()))
            })
            .count();
        let header = lines[..n]
            .iter()
            .map(|l| {
                let (k, v) = l.split_once(':').expect("key: value");
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let rest = &lines[n..];
        let rest = rest.strip_prefix(&[""][..]).unwrap_or(rest);
        assert!(n > 0, "{}:{start}: case without header", path.display());
        let message = rest.join("\n");
        cases.push(Case {
            line: start,
            header,
            message: format!("{message}\n"),
        });
    }
    (cfg, cases)
}

pub fn pipeline(cfg: &str) -> Pipeline {
    let tree = sluice::config::ucl::parse_str(cfg).expect("test config parses");
    Pipeline::from_config(&tree).expect("test config compiles")
}

pub fn envelope(spec: &str) -> Envelope {
    let mut env = Envelope::default();
    for kv in spec.split_whitespace() {
        let (k, v) = kv.split_once('=').expect("env items are k=v");
        match k {
            "from" => env.from = Some(v.to_string()),
            "rcpt" => env.rcpts.push(v.to_string()),
            "ip" => env.client_ip = Some(v.parse().expect("ip")),
            "helo" => env.helo = Some(v.to_string()),
            "hostname" => env.client_name = Some(v.to_string()),
            "user" => env.user = Some(v.to_string()),
            other => panic!("unknown env item {other}"),
        }
    }
    env
}

/// Checks one case; returns the failures.
pub fn check(p: &Pipeline, case: &Case) -> Vec<String> {
    let env = case
        .header
        .iter()
        .find(|(k, _)| k == "env")
        .map(|(_, v)| envelope(v))
        .unwrap_or_default();
    let v = p.scan(&env, case.message.as_bytes());
    let mut fails = Vec::new();
    let names: BTreeSet<String> = v.symbols.iter().map(|s| s.name.clone()).collect();
    for (k, val) in &case.header {
        let ok = match k.as_str() {
            "symbols" => {
                let want: BTreeSet<String> = val.split_whitespace().map(str::to_string).collect();
                want == names
            }
            "absent" => val.split_whitespace().all(|s| !names.contains(s)),
            "score" => format!("{:.2}", v.score) == format!("{:.2}", val.parse::<f64>().unwrap()),
            "action" => v.action.as_str() == val,
            "message" => v.smtp_message.as_deref() == Some(val.as_str()),
            "option" => has_option(&v, val),
            "weight" => has_weight(&v, val),
            "env" => true,
            other => panic!("line {}: unknown header `{other}`", case.line),
        };
        if !ok {
            fails.push(format!(
                "line {}: `{k}: {val}` failed; got symbols {:?}, score {:.2}, action {}, message {:?}",
                case.line,
                v.symbols
                    .iter()
                    .map(|s| format!("{}({:.2}){:?}", s.name, s.score, s.options))
                    .collect::<Vec<_>>(),
                v.score,
                v.action,
                v.smtp_message
            ));
        }
    }
    fails
}

fn has_option(v: &Verdict, spec: &str) -> bool {
    let (sym, opt) = spec.split_once('=').expect("option: SYM=opt");
    v.symbols
        .iter()
        .any(|s| s.name == sym && s.options.iter().any(|o| o == opt))
}

fn has_weight(v: &Verdict, spec: &str) -> bool {
    let (sym, w) = spec.split_once('=').expect("weight: SYM=n");
    let w: f64 = w.parse().unwrap();
    v.symbols
        .iter()
        .any(|s| s.name == sym && (s.score - w).abs() < 0.005)
}

/// Runs every case of a file, CRLF and LF, and panics with all failures.
pub fn run_file(name: &str) -> usize {
    let path = engine_dir().join(name);
    let (cfg, cases) = load(&path);
    let p = pipeline(&cfg);
    let mut fails = Vec::new();
    for case in &cases {
        fails.extend(check(&p, case));
        let crlf = Case {
            line: case.line,
            header: case.header.clone(),
            message: case.message.replace('\n', "\r\n"),
        };
        fails.extend(check(&p, &crlf).into_iter().map(|f| format!("{f} (CRLF)")));
    }
    assert!(fails.is_empty(), "{name}:\n{}", fails.join("\n"));
    cases.len()
}
