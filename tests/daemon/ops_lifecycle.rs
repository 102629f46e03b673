//! The daemon's life under an admin and a supervisor: reloads under load,
//! an invalid reload, SIGTERM with messages in flight, sd_notify states,
//! the PID file, metrics after a known run, and `sluice status`.
use crate::support::ops as ops_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ops_support::{corpus, gtube_message, ham_message, reply_text, send, OpsDaemon};
use sluice::bench::{bench_milter, BenchOptions, BenchReport};
use sluice_proto::milter::client::{Envelope, MtaClient};
use sluice_proto::milter::{Command, Reply};

fn bench_opts(d: &OpsDaemon, dirs: Vec<std::path::PathBuf>, count: usize) -> BenchOptions {
    BenchOptions {
        addr: format!("inet:{}", d.milter),
        concurrency: 4,
        count,
        dirs,
        messages_per_connection: 5,
    }
}

fn corpus_dir(d: &OpsDaemon) -> Vec<std::path::PathBuf> {
    let c = corpus(d.dir.path(), &ham_message(), 3);
    std::fs::write(c.join("spam.eml"), gtube_message()).unwrap();
    vec![c]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_reloads_under_load_lose_nothing() {
    let d = Arc::new(OpsDaemon::start(&[], None));
    let dirs = corpus_dir(&d);
    let done = Arc::new(AtomicBool::new(false));
    let load = {
        let (opts, done) = (bench_opts(&d, dirs, 40), done.clone());
        tokio::spawn(async move {
            let mut runs: Vec<BenchReport> = Vec::new();
            while !done.load(Ordering::SeqCst) || runs.is_empty() {
                runs.push(bench_milter(&opts).await.unwrap());
            }
            runs
        })
    };
    // Reload only once the load is flowing.
    d.wait_log("scanned", 1);
    let signaller = d.clone();
    tokio::task::spawn_blocking(move || {
        for _ in 0..10 {
            signaller.signal("HUP");
            assert!(signaller.next_notify().starts_with("RELOADING=1"));
            assert!(signaller.next_notify().starts_with("READY=1"));
        }
    })
    .await
    .unwrap();
    done.store(true, Ordering::SeqCst);
    let runs = load.await.unwrap();
    let messages: u64 = runs.iter().map(|r| r.messages).sum();
    for r in &runs {
        assert_eq!(r.protocol_errors, 0, "{r}");
        assert_eq!(r.messages, r.attempted, "{r}");
    }
    assert!(messages >= 40, "{messages}");
    let log = d.wait_log("configuration reloaded", 10);
    assert!(!log.contains("milter session ended"), "{log}");
    assert!(!log.contains("reload failed"), "{log}");
}

/// A rule that scores the ham message's subject into reject.
const MARK: &str = "OPS_MARK { re = 'Subject=/lunch/i'; score = 20.0; }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_reload_keeps_the_running_configuration() {
    let d = OpsDaemon::start(&[("regexp.conf", MARK)], None);
    let r = send(&d.milter, &ham_message()).await;
    assert!(
        reply_text(&r.terminal).starts_with("554"),
        "{:?}",
        r.terminal
    );

    let rules = d.local_d().join("regexp.conf");
    std::fs::write(&rules, "# no local rules\n").unwrap();
    d.signal("HUP");
    d.wait_log("configuration reloaded", 1);
    let r = send(&d.milter, &ham_message()).await;
    assert_eq!(r.terminal, Reply::Accept);

    // The rule back, but in a file that does not parse: nothing changes.
    std::fs::write(&rules, format!("{MARK}BROKEN {{ re = ")).unwrap();
    d.signal("HUP");
    let log = d.wait_log("reload failed, keeping the running configuration", 1);
    assert!(
        log.contains("regexp.conf"),
        "the reason names the file: {log}"
    );
    let r = send(&d.milter, &ham_message()).await;
    assert_eq!(r.terminal, Reply::Accept);

    // /metrics tells the reloads apart: one good, one failed, the last bad.
    let ctl = d.controller.clone();
    let text = tokio::task::spawn_blocking(move || sluice::status::get(&ctl, "/metrics", None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        metric(&text, "sluice_config_reloads_total{result=\"ok\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "sluice_config_reloads_total{result=\"error\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "sluice_config_last_reload_success"),
        0.0,
        "{text}"
    );
    assert!(
        metric(&text, "sluice_config_last_reload_timestamp_seconds") > 1.7e9,
        "{text}"
    );
}

/// Opens a session and starts a message (MAIL FROM), as Postfix does
/// before the body is there.
async fn begin_message(addr: &str) -> MtaClient<tokio::net::TcpStream> {
    let mut c = MtaClient::connect_tcp(addr.parse().unwrap()).await.unwrap();
    c.negotiate(ops_support::POSTFIX_OFFER).await.unwrap();
    let r = c
        .command(Command::Mail(vec!["<a@example.org>".into()]))
        .await;
    // Continue, or nothing at all when MAIL was negotiated reply-less.
    assert!(
        matches!(r, Ok(None)) || matches!(r, Ok(Some(ref x)) if x.terminal == Reply::Continue),
        "{r:?}"
    );
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_every_message_in_flight_and_exits_zero() {
    let mut d = OpsDaemon::start(&[], None);
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(begin_message(&d.milter).await);
    }
    let pid_file = d.pid_file();
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        d.pid().to_string()
    );
    d.signal("TERM");
    assert!(d.next_notify().starts_with("STOPPING=1"));
    d.wait_log("SIGTERM: draining", 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let env = Envelope {
        from: "a@example.org",
        rcpts: &["b@example.net"],
        queue_id: Some("4TERM"),
    };
    for (i, mut c) in clients.into_iter().enumerate() {
        let (raw, spam) = if i % 2 == 0 {
            (gtube_message(), true)
        } else {
            (ham_message(), false)
        };
        let r = c.send_message(&env, &raw).await.unwrap();
        match (&r.terminal, spam) {
            (Reply::ReplyCode(t), true) => assert!(t.starts_with(b"554"), "{r:?}"),
            (Reply::Accept, false) => {}
            other => panic!("message {i}: {other:?}"),
        }
    }
    let status = d.wait_exit();
    assert!(status.success(), "{status}; log: {}", d.log());
    assert!(
        d.log().contains("all milter sessions finished"),
        "{}",
        d.log()
    );
    assert!(!pid_file.exists(), "PID file left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_still_in_flight_after_the_grace_gets_tempfail() {
    let mut d = OpsDaemon::start(&[("worker-proxy.inc", "shutdown_grace = 1s;\n")], None);
    let mut stalled = begin_message(&d.milter).await;
    let started = std::time::Instant::now();
    d.signal("TERM");
    d.wait_log("SIGTERM: draining", 1);
    // The MTA sends nothing more; the daemon must answer, not just close.
    let reply = tokio::time::timeout(Duration::from_secs(10), stalled.read_reply())
        .await
        .expect("an answer within the grace and its margin")
        .expect("a reply, not a closed connection");
    assert_eq!(reply, Reply::Tempfail);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered before the grace"
    );
    let status = d.wait_exit();
    assert!(status.success(), "{status}; log: {}", d.log());
    assert!(
        d.log()
            .contains("shutdown grace over: message in flight answered with tempfail"),
        "{}",
        d.log()
    );
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_status_follow_a_known_run() {
    let d = OpsDaemon::start(&[], None);
    let ctl = d.controller.clone();
    let get = |path: &'static str| {
        let ctl = ctl.clone();
        move || sluice::status::get(&ctl, path, None).unwrap()
    };
    let before = tokio::task::spawn_blocking(get("/metrics")).await.unwrap();
    let dirs = corpus_dir(&d);
    // 3 ham + 1 GTUBE, twice: 8 messages over 2 sessions (5 + 3), plus
    // the connection bench opens first to probe the address.
    let opts = BenchOptions {
        concurrency: 1,
        ..bench_opts(&d, dirs, 8)
    };
    let report = bench_milter(&opts).await.unwrap();
    assert_eq!(
        (report.messages, report.protocol_errors),
        (8, 0),
        "{report}"
    );
    let after = tokio::task::spawn_blocking(get("/metrics")).await.unwrap();
    let delta = |name: &str| metric(&after, name) - metric(&before, name);
    // The 6 ham messages land in the mild actions (which one depends on the
    // shipped rules and the bench's envelope); each is counted exactly once.
    let mild: f64 = ["no action", "greylist", "add header"]
        .iter()
        .map(|a| delta(&format!("sluice_scanned_total{{action=\"{a}\"}}")))
        .sum();
    assert_eq!(mild, 6.0, "{after}");
    assert_eq!(
        delta("sluice_scanned_total{action=\"reject\"}"),
        2.0,
        "{after}"
    );
    assert_eq!(delta("sluice_scan_seconds_count"), 8.0, "{after}");
    assert_eq!(delta("sluice_milter_sessions_total"), 3.0, "{after}");
    for reason in ["timeout", "closed", "frame", "protocol", "io"] {
        let failed = format!("sluice_milter_sessions_failed_total{{reason=\"{reason}\"}}");
        assert!(after.contains(&failed), "{failed} missing: {after}");
        assert_eq!(delta(&failed), 0.0, "{after}");
    }
    // The first regexp rules ran for at least every ham message (the
    // GTUBE ones end before the rules).
    let most = after
        .lines()
        .filter_map(|l| l.strip_prefix("sluice_rule_evaluations_total{"))
        .filter_map(|l| l.split_once("} "))
        .map(|(labels, _)| delta(&format!("sluice_rule_evaluations_total{{{labels}}}")))
        .fold(0.0, f64::max);
    assert!(most >= 6.0, "{after}");

    let out = std::process::Command::new(crate::support::sluice_bin())
        .args(["status", "--controller", &d.controller])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("scanned: 8 (spam 2, ham 6)"), "{text}");
    assert!(text.contains("milter sessions: 3"), "{text}");
}

#[test]
fn status_against_nothing_fails_with_the_reason() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let out = std::process::Command::new(crate::support::sluice_bin())
        .args(["status", "--controller", &addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr) && err.contains("refused"), "{err}");
}
