//! Logging as an admin configures it: a JSON log file that follows
//! logrotate (rename, then SIGUSR1), and per-client milter debugging.
use crate::support::ops as ops_support;

use ops_support::{corpus, ham_message, OpsDaemon};
use serde_json::Value;
use sluice::bench::{bench_milter, BenchOptions};

const LOGGING: &str = r#"
type = "file";
filename = "$DIR/sluice.log";
format = "json";
debug_ip = ["127.0.0.1"];
"#;

async fn run_messages(d: &OpsDaemon, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let opts = BenchOptions {
        addr: format!("inet:{}", d.milter),
        concurrency: 1,
        count: n,
        dirs: vec![corpus(dir.path(), &ham_message(), 1)],
        messages_per_connection: n,
    };
    let report = bench_milter(&opts).await.unwrap();
    assert_eq!(report.messages, n as u64, "{report}");
    assert_eq!(report.protocol_errors, 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_file_is_reopened_after_rename() {
    let d = OpsDaemon::start(&[("logging.inc", LOGGING)], Some("sluice.log"));
    let path = d.log_path.clone();
    run_messages(&d, 1).await;
    d.wait_log("\"message\":\"scanned\"", 1);

    let rotated = d.dir.path().join("sluice.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    d.signal("USR1");
    d.wait_log("reopened log file", 1);
    run_messages(&d, 2).await;
    let fresh = d.wait_log("\"message\":\"scanned\"", 2);

    let old = std::fs::read_to_string(&rotated).unwrap();
    assert_eq!(old.matches("\"message\":\"scanned\"").count(), 1, "{old}");
    for line in old.lines().chain(fresh.lines()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
    }
    let scanned: Value = fresh
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["message"] == "scanned")
        .unwrap();
    assert_eq!(scanned["ip"], "127.0.0.1");
    // Which mild action the shipped rules give this message does not matter
    // here; the field must carry a real action name.
    let action = scanned["action"]
        .as_str()
        .unwrap_or_default()
        .trim_matches('"');
    assert!(
        sluice::verdict::Action::parse(action).is_some(),
        "{scanned}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_ip_logs_the_milter_exchange_for_that_client_only() {
    let d = OpsDaemon::start(&[("logging.inc", LOGGING)], Some("sluice.log"));
    run_messages(&d, 1).await;
    d.wait_log("\"message\":\"scanned\"", 1);
    // With every step up to the body reply-less, the first reply is the
    // verdict, traced just after the scan's log line.
    let log = d.wait_log("\"message\":\"milter reply", 1);
    let debug: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["target"] == "debug_ip")
        .collect();
    let said = |m: &str| debug.iter().any(|v| v["message"] == m);
    assert!(said("milter command SMFIC_CONNECT"), "{log}");
    assert!(said("milter command SMFIC_BODYEOB"), "{log}");
    assert!(debug.iter().all(|v| v["level"] == "DEBUG"), "{log}");
    assert!(
        debug
            .iter()
            .any(|v| v["message"].as_str().unwrap().starts_with("milter reply")),
        "{log}"
    );

    // The same client, no longer listed after a reload: nothing more.
    let quiet = LOGGING.replace("[\"127.0.0.1\"]", "[\"192.0.2.1\"]");
    let quiet = quiet.replace("$DIR", &d.dir.path().display().to_string());
    std::fs::write(d.local_d().join("logging.inc"), quiet).unwrap();
    d.signal("HUP");
    d.wait_log("configuration reloaded", 1);
    let before = d.log().matches("\"target\":\"debug_ip\"").count();
    run_messages(&d, 1).await;
    let log = d.wait_log("\"message\":\"scanned\"", 2);
    assert_eq!(
        log.matches("\"target\":\"debug_ip\"").count(),
        before,
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn level_follows_a_reload_and_a_bad_logging_section_is_refused() {
    let quiet = "type = \"file\";\nfilename = \"$DIR/sluice.log\";\nlevel = \"warning\";\n";
    let d = OpsDaemon::start(&[("logging.inc", quiet)], Some("sluice.log"));
    run_messages(&d, 1).await;
    let file = d.local_d().join("logging.inc");
    let dir = d.dir.path().display().to_string();
    std::fs::write(
        &file,
        quiet.replace("$DIR", &dir).replace("warning", "loud"),
    )
    .unwrap();
    d.signal("HUP");
    let log = d.wait_log("reload failed", 1);
    assert!(log.contains("logging.level = \"loud\""), "{log}");
    assert!(
        !log.contains("scanned"),
        "info lines at level warning: {log}"
    );

    std::fs::write(
        &file,
        quiet.replace("$DIR", &dir).replace("warning", "info"),
    )
    .unwrap();
    d.signal("HUP");
    d.wait_log("configuration reloaded", 1);
    run_messages(&d, 1).await;
    d.wait_log("scanned", 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_gets_one_datagram_per_line_with_the_mail_facility() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("log.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    syslog
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let conf = format!(
        "type = \"syslog\";\nsyslog_socket = \"{}\";\n",
        sock_path.display()
    );
    let d = std::thread::spawn(move || OpsDaemon::start(&[("logging.inc", &conf)], None));
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while !got
        .iter()
        .any(|l: &String| l.contains("milter listening on"))
    {
        let n = syslog.recv(&mut buf).expect("a syslog datagram");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let d = d.join().unwrap();
    let listening = got
        .iter()
        .find(|l| l.contains("milter listening on"))
        .unwrap();
    // mail.info = 2 * 8 + 6
    let tag = format!("<22>sluice[{}]: ", d.pid());
    assert!(listening.starts_with(&tag), "{listening}");
    assert!(!listening.ends_with('\n'), "{listening:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_lines_arrive_after_the_socket_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("log.sock");
    let bind = |path: &std::path::Path| {
        let s = std::os::unix::net::UnixDatagram::bind(path).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        s
    };
    let syslog = bind(&sock_path);
    let conf = format!(
        "type = \"syslog\";\nsyslog_socket = \"{}\";\n",
        sock_path.display()
    );
    let d = std::thread::spawn(move || OpsDaemon::start(&[("logging.inc", &conf)], None));
    let recv_until = |s: &std::os::unix::net::UnixDatagram, needle: &str| {
        let mut buf = [0u8; 2048];
        loop {
            let n = s
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no syslog line with {needle:?}: {e}"));
            let line = String::from_utf8_lossy(&buf[..n]).into_owned();
            if line.contains(needle) {
                return line;
            }
        }
    };
    recv_until(&syslog, "milter listening on");
    let d = d.join().unwrap();

    // rsyslog or journald restarts: the old socket goes, a new one is
    // made at the same path.
    drop(syslog);
    std::fs::remove_file(&sock_path).unwrap();
    let syslog = bind(&sock_path);
    // Past the pause after a failed reconnect, should a line have fallen
    // in the gap.
    std::thread::sleep(std::time::Duration::from_millis(400));
    run_messages(&d, 1).await;
    let scanned = recv_until(&syslog, "scanned");
    assert!(scanned.starts_with("<22>sluice["), "{scanned}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_systemd_stderr_lines_carry_journald_priorities() {
    // A key sluice does not read: a warning at start-up.
    let composite =
        "LOG_TEST { expression = \"R_SPF_ALLOW & R_DKIM_ALLOW\"; no_such_key_here = 1; }\n";
    let d = OpsDaemon::start_journald(&[("composites.conf", composite)]);
    run_messages(&d, 1).await;
    let log = d.wait_log("scanned", 1);
    let lines: Vec<&str> = log.lines().collect();
    let find = |needle: &str| {
        *lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {log}"))
    };
    assert!(find("milter listening on").starts_with("<6>"), "{log}");
    assert!(find("scanned").starts_with("<6>"), "{log}");
    assert!(find("no_such_key_here").starts_with("<4>"), "{log}");
    // journald stamps the time: the line starts with the level.
    assert!(
        find("scanned")[3..].trim_start().starts_with("INFO"),
        "{log}"
    );
    for line in &lines {
        assert!(
            line.starts_with('<'),
            "a line without its priority: {line:?}"
        );
    }
}

#[test]
fn unwritable_log_file_stops_startup_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.d");
    std::fs::create_dir_all(&local).unwrap();
    let missing = dir.path().join("no-such-dir").join("sluice.log");
    let conf = format!("type = \"file\";\nfilename = \"{}\";\n", missing.display());
    std::fs::write(local.join("logging.inc"), conf).unwrap();
    let out = std::process::Command::new(crate::support::sluice_bin())
        .args(["run", "--milter", "inet:127.0.0.1:0"])
        .args(["--http", "127.0.0.1:0", "--controller", "127.0.0.1:0"])
        .arg("--var")
        .arg(format!("LOCAL_CONFDIR={}", dir.path().display()))
        .env_remove("NOTIFY_SOCKET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("log file {}", missing.display())),
        "{err}"
    );
}
