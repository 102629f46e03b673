//! `sluice configtest` builds what `run` builds: a bad setting found by any
//! section's reader stops both, with the same message naming the file and
//! line that set it.
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a failing start may take (a debug build compiles the rules slowly).
const DEADLINE: Duration = Duration::from_secs(120);

/// Writes `files` (relative path, text) under a fresh `LOCAL_CONFDIR`.
fn confdir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Runs `sluice ARGS` against `dir`, killed past [`DEADLINE`]; exit code
/// (`None` when it had to be killed) and stderr.
fn sluice(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(crate::support::sluice_bin())
        .args(args)
        .arg("--var")
        .arg(format!("LOCAL_CONFDIR={}", dir.display()))
        .arg("--var")
        .arg(format!("DBDIR={}", dir.display()))
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (code, err)
}

const RUN: &[&str] = &[
    "run",
    "--milter",
    "inet:127.0.0.1:0",
    "--http",
    "127.0.0.1:0",
    "--controller",
    "127.0.0.1:0",
];

/// `file` holding `text` fails configtest and run alike, with `file:line:`
/// in front of a message that contains `want`.
fn fails_both(file: &str, text: &str, line: u32, want: &str) {
    let dir = confdir(&[(file, text)]);
    let at = format!("{}:{line}:", dir.path().join(file).display());
    let mut messages = Vec::new();
    for args in [&["configtest"][..], RUN] {
        let (code, err) = sluice(args, dir.path());
        assert_eq!(code, Some(1), "{args:?} with {file}: {err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("sluice: "))
            .unwrap_or_else(|| panic!("{args:?} with {file}: no error line in {err}"));
        assert!(line.starts_with(&format!("sluice: {at}")), "{line}");
        assert!(line.contains(want), "{line}");
        messages.push(line.to_string());
    }
    assert_eq!(messages[0], messages[1], "configtest and run disagree");
}

#[test]
fn bad_dns_nameserver() {
    fails_both(
        "local.d/options.inc",
        "dns {\n  nameserver = [\"dns.example\"];\n}\n",
        2,
        "options.dns.nameserver",
    );
}

#[test]
fn bogus_logging_type() {
    fails_both(
        "local.d/logging.inc",
        "type = \"bogus\";\n",
        1,
        "logging.type = \"bogus\"",
    );
}

#[test]
fn upstream_with_a_bad_port() {
    fails_both(
        "local.d/worker-proxy.inc",
        "upstream \"local\" {\n  default = yes;\n  hosts = \"127.0.0.1:notaport\";\n}\n",
        3,
        "milter.upstream.local.hosts: `127.0.0.1:notaport`: bad port",
    );
}

#[test]
fn redis_bayes_without_servers() {
    fails_both(
        "local.d/classifier-bayes.conf",
        "backend = \"redis\";\n",
        1,
        "classifier.bayes.backend: \"redis\" needs a server",
    );
}

#[test]
fn ratelimit_selector_that_does_not_parse() {
    fails_both(
        "local.d/ratelimit.conf",
        "rates {\n  c = { selector = \"nosuch\"; bucket = { burst = 1; rate = 1; } }\n}\n",
        2,
        "ratelimit.rates.c.selector: bad selector: selector extractor `nosuch` is not supported",
    );
}

#[test]
fn history_redis_rows_not_a_number() {
    fails_both(
        "local.d/history_redis.conf",
        "nrows = \"many\";\n",
        1,
        "history_redis.nrows: expected a size",
    );
}

#[test]
fn controller_bind_socket_without_a_port() {
    fails_both(
        "local.d/worker-controller.inc",
        "bind_socket = \"nonsense\";\n",
        1,
        "worker.controller.bind_socket: `nonsense`: missing port",
    );
}

#[test]
fn redis_servers_from_the_redis_section_pass() {
    let dir = confdir(&[
        ("local.d/classifier-bayes.conf", "backend = \"redis\";\n"),
        ("local.d/redis.conf", "servers = \"127.0.0.1:6379\";\n"),
    ]);
    let (code, err) = sluice(&["configtest"], dir.path());
    assert_eq!(code, Some(0), "{err}");
}

/// `sluice scan --json` of `message` with `dir` as `LOCAL_CONFDIR`: the
/// symbols that fired, with their scores.
fn scan_symbols(dir: &Path, message: &str) -> serde_json::Map<String, serde_json::Value> {
    let eml = dir.join("message.eml");
    std::fs::write(&eml, message).unwrap();
    let out = Command::new(crate::support::sluice_bin())
        .args(["scan", "--json"])
        .arg("--var")
        .arg(format!("LOCAL_CONFDIR={}", dir.display()))
        .arg("--var")
        .arg(format!("DBDIR={}", dir.display()))
        .arg(&eml)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    reply["symbols"].as_object().unwrap().clone()
}

const ATTACHMENT: &str = "From: a@example.org\r\nTo: b@example.net\r\nSubject: report\r\n\
Message-ID: <att@example.org>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nSee the attached report.\r\n\
--b\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"report.foo\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--b--\r\n";

#[test]
fn rspamd_mime_types_file_adds_a_bad_extension() {
    let plain = confdir(&[]);
    assert!(!scan_symbols(plain.path(), ATTACHMENT).contains_key("MIME_BAD_EXTENSION"));
    // Rspamd's shape: a table of extension to weight multiplier.
    let dir = confdir(&[(
        "local.d/mime_types.conf",
        "bad_extensions {\n  foo = 4;\n}\n",
    )]);
    let syms = scan_symbols(dir.path(), ATTACHMENT);
    let hit = syms.get("MIME_BAD_EXTENSION").expect("MIME_BAD_EXTENSION");
    assert_eq!(hit["options"], serde_json::json!(["foo"]), "{hit}");
    let with_one = confdir(&[("local.d/mime_types.conf", "bad_extensions { foo = 1; }\n")]);
    let one = scan_symbols(with_one.path(), ATTACHMENT)["MIME_BAD_EXTENSION"]["score"]
        .as_f64()
        .unwrap();
    let four = hit["score"].as_f64().unwrap();
    assert!(one > 0.0 && (four - 4.0 * one).abs() < 1e-6, "{one} {four}");
}

const PHISH: &str = "From: a@example.org\r\nTo: b@example.net\r\nSubject: account\r\n\
Message-ID: <phish@example.org>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\
MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>Please log in: \
<a href=\"http://login.evil.example/x\">www.paypal.com</a></p></body></html>\r\n";

#[test]
fn rspamd_phishing_file_limits_the_watched_domains() {
    let plain = confdir(&[]);
    assert!(scan_symbols(plain.path(), PHISH).contains_key("PHISHING"));
    let other = confdir(&[("local.d/phishing.conf", "domains = [\"bank.example\"];\n")]);
    assert!(!scan_symbols(other.path(), PHISH).contains_key("PHISHING"));
    let map = confdir(&[("phish.map", "# watched\npaypal.com\n")]);
    let conf = format!(
        "domains = \"{}\";\n",
        map.path().join("phish.map").display()
    );
    std::fs::create_dir_all(map.path().join("local.d")).unwrap();
    std::fs::write(map.path().join("local.d/phishing.conf"), conf).unwrap();
    assert!(scan_symbols(map.path(), PHISH).contains_key("PHISHING"));
}

#[test]
fn file_of_a_module_sluice_lacks_is_named_in_a_warning() {
    let dir = confdir(&[("local.d/clickhouse.conf", "server = \"127.0.0.1:8123\";\n")]);
    let want = format!(
        "{}: not used: sluice has no `clickhouse` module",
        dir.path().join("local.d/clickhouse.conf").display()
    );
    let (code, err) = sluice(&["configtest"], dir.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(&format!("warning: {want}")), "{err}");
    // At start the same warning is logged, then the daemon serves; SIGTERM ends it.
    let mut child = Command::new(crate::support::sluice_bin())
        .args(RUN)
        .arg("--var")
        .arg(format!("LOCAL_CONFDIR={}", dir.path().display()))
        .arg("--var")
        .arg(format!("DBDIR={}", dir.path().display()))
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut seen = String::new();
    while let Some(left) = DEADLINE.checked_sub(start.elapsed()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(&want) {
            break;
        }
    }
    let _ = child.kill();
    child.wait().unwrap();
    assert!(seen.contains(&want), "{seen}");
}

#[test]
fn bad_regexp_rule_names_its_file_and_line() {
    let dir = confdir(&[(
        "local.d/regexp.conf",
        "# mine\nMY_RULE {\n  re = \"Subject=/(unclosed/\";\n  score = 1;\n}\n",
    )]);
    let (code, err) = sluice(&["configtest"], dir.path());
    assert_eq!(code, Some(1), "{err}");
    let at = format!("{}:2:", dir.path().join("local.d/regexp.conf").display());
    assert!(err.contains(&format!("sluice: {at}")), "{err}");
    assert!(err.contains("regexp rule `MY_RULE`"), "{err}");
}

/// A listen address another process holds stops `run` with a message that names the
/// listener, the address and port, and both ways to choose another.
#[test]
fn a_taken_port_names_the_listener_and_how_to_move_it() {
    let dir = confdir(&[]);
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let milter = format!("inet:127.0.0.1:{port}");
    let controller = format!("127.0.0.1:{port}");
    let cases: [(&[&str], &[&str]); 2] = [
        (
            &[
                "--milter",
                &milter,
                "--http",
                "127.0.0.1:0",
                "--controller",
                "127.0.0.1:0",
            ],
            &[
                "the milter listener",
                "local.d/worker-proxy.inc",
                "--milter ADDR",
            ],
        ),
        (
            &[
                "--milter",
                "inet:127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--controller",
                &controller,
            ],
            &[
                "the controller listener",
                "local.d/worker-controller.inc",
                "--controller ADDR",
            ],
        ),
    ];
    for (listen, wants) in cases {
        let args: Vec<&str> = std::iter::once("run")
            .chain(listen.iter().copied())
            .collect();
        let (code, err) = sluice(&args, dir.path());
        assert_eq!(code, Some(1), "{listen:?}: {err}");
        for want in wants
            .iter()
            .chain(&[&format!(":{port}")[..], "already in use"])
        {
            assert!(
                err.contains(want),
                "{listen:?}: {want:?} missing from: {err}"
            );
        }
    }
    drop(holder);
}
