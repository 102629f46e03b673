//! Hostile Lua rules in a real `sluice run` (tests/rules/hostile_lua/):
//! stack-overflow callbacks, loops behind pcall, xpcall and coroutines,
//! memory bombs. Loaded at start and by SIGHUP, each attack loses only its
//! own symbol within its budget, the daemon lives, a concurrent milter
//! session is held up by at most the hostile scan, and SIGTERM still exits
//! within the grace. A script whose top level never ends fails the load in
//! `run`, `configtest` and a reload.
use crate::support::http as http_support;

use std::process::Command;
use std::time::{Duration, Instant};

use http_support::*;
use sluice_proto::milter::client::{Envelope, MtaClient};
use sluice_proto::milter::optneg::OptNeg;

const ATTACKS: &str = include_str!("../rules/hostile_lua/attacks.lua");
const ENDLESS_TOP: &str = include_str!("../rules/hostile_lua/endless_top_level.lua");

/// `lua_limits.time`, the default.
const TIME_BUDGET: Duration = Duration::from_millis(200);

/// Slack for a loaded 2-core machine running the debug build.
const SLACK: Duration = Duration::from_secs(3);

const POSTFIX_OFFER: OptNeg = OptNeg {
    version: 6,
    actions: 0x1ff,
    protocol: 0x1f_ffff,
};

/// The attacking symbols the file registers.
fn attack_names() -> Vec<String> {
    let names: Vec<String> = ATTACKS
        .lines()
        .filter_map(|l| l.strip_prefix("rspamd_config."))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("ATTACK_"))
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    names
}

/// The longest one message with every attack may take: the callbacks of a
/// scan share one budget, and past it each gets a fiftieth of it; plus slack.
fn hostile_scan_bound() -> Duration {
    TIME_BUDGET + TIME_BUDGET / 50 * attack_names().len() as u32 + SLACK
}

/// Scans over HTTP; checks that every attack lost its symbol (and logged
/// why) while the well-behaved rules kept theirs. Returns the scan time.
fn scan_and_check(s: &mut Sluice, warned_before: usize) -> Duration {
    let start = Instant::now();
    let r = post(s.http, "/checkv2", &[], &ham_message());
    let took = start.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let symbols = j["symbols"].as_object().expect("symbols");
    assert!(symbols.contains_key("LUA_CONTROL"), "{j}");
    for name in attack_names() {
        assert!(!symbols.contains_key(&name), "{name} hit: {j}");
        assert!(
            failures_logged(s, &name, warned_before),
            "no failure logged for {name}"
        );
    }
    assert!(took < hostile_scan_bound(), "hostile scan took {took:?}");
    took
}

/// Whether more than `before` failure lines name `name`. The log is written
/// by its own thread, so a line may land just after the reply: wait a while.
fn failures_logged(s: &Sluice, name: &str, before: usize) -> bool {
    let needle = format!("lua symbol {name} ");
    let start = Instant::now();
    loop {
        let lines = s
            .log()
            .iter()
            .filter(|l| l.contains(&needle) && l.contains("failed"))
            .count();
        if lines > before {
            return true;
        }
        if start.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects a milter session and times the option negotiation; then sends
/// the message and times the verdict.
async fn milter_session(s: std::net::SocketAddr) -> (Duration, Duration) {
    let start = Instant::now();
    let mut c = MtaClient::connect_tcp(s).await.unwrap();
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let negotiated = start.elapsed();
    let env = Envelope {
        from: "alice@example.org",
        rcpts: &["bob@example.net"],
        queue_id: Some("4ABC123"),
    };
    let start = Instant::now();
    c.send_message(&env, &ham_message()).await.unwrap();
    let answered = start.elapsed();
    c.quit().await.unwrap();
    (negotiated, answered)
}

/// Two milter sessions: the second connects while the first is being
/// scanned. Returns (second's negotiation time, first's verdict time).
fn concurrent_milter(s: &Sluice) -> (Duration, Duration) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = s.milter;
    rt.block_on(async move {
        let first = tokio::spawn(milter_session(addr));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = tokio::spawn(milter_session(addr));
        let (_, first_answer) = first.await.unwrap();
        let (second_neg, _) = second.await.unwrap();
        (second_neg, first_answer)
    })
}

#[test]
fn hostile_rules_lose_only_their_symbols() {
    let mut s = Sluice::start(&[("rspamd.local.lua", ATTACKS)]);
    let first = scan_and_check(&mut s, 0);

    let (negotiated, answered) = concurrent_milter(&s);
    eprintln!(
        "hostile scan over HTTP {first:?}; milter verdict {answered:?}; \
         a concurrent session negotiated after {negotiated:?}"
    );
    assert!(answered < hostile_scan_bound(), "{answered:?}");
    assert!(negotiated < hostile_scan_bound(), "{negotiated:?}");

    // Loaded again by SIGHUP (a changed file, so the rules are rebuilt).
    std::fs::write(
        s.path("rspamd.local.lua"),
        format!("{ATTACKS}\n-- reloaded\n"),
    )
    .unwrap();
    s.hup();
    s.wait_log("configuration reloaded");
    let again = scan_and_check(&mut s, 1);
    eprintln!("after SIGHUP: hostile scan over HTTP {again:?}");

    // SIGTERM while a milter session is in a hostile scan.
    let addr = s.milter;
    let busy = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut c = MtaClient::connect_tcp(addr).await.unwrap();
            c.negotiate(POSTFIX_OFFER).await.unwrap();
            let env = Envelope {
                from: "alice@example.org",
                rcpts: &["bob@example.net"],
                queue_id: None,
            };
            // The answer may be the verdict or a shutdown tempfail.
            let _ = c.send_message(&env, &ham_message()).await;
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    s.signal("TERM");
    // shutdown_grace is 30 s by default; a hostile scan must not use it up.
    let status = s.wait_exit(hostile_scan_bound() + SLACK);
    let took = start.elapsed();
    eprintln!("SIGTERM during a hostile scan: exit after {took:?}");
    let status = status.unwrap_or_else(|| panic!("no exit after SIGTERM; {:#?}", s.log()));
    assert!(status.success(), "{status}");
    busy.join().unwrap();
}

/// `sluice configtest` and `sluice run` on a config whose Lua top level
/// never ends: both return, non-zero, naming the script.
#[test]
fn endless_top_level_fails_start_and_configtest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rspamd.local.lua"), ENDLESS_TOP).unwrap();
    let var = format!("LOCAL_CONFDIR={}", dir.path().display());
    let dbdir = format!("DBDIR={}", dir.path().display());
    for args in [
        vec!["configtest", "--var", &var, "--var", &dbdir],
        vec![
            "run",
            "--var",
            &var,
            "--var",
            &dbdir,
            "--milter",
            "inet:127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--controller",
            "127.0.0.1:0",
        ],
    ] {
        let start = Instant::now();
        let out = Command::new(crate::support::sluice_bin())
            .args(&args)
            .output()
            .unwrap();
        let took = start.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("sluice {} on an endless top level: {took:?}", args[0]);
        assert!(!out.status.success(), "{}: {err}", args[0]);
        assert!(err.contains("rspamd.local.lua"), "{err}");
        assert!(err.contains("budget"), "{err}");
        // Loading the shipped config alone takes seconds in a debug build.
        assert!(took < Duration::from_secs(60), "{took:?}");
    }
}

/// A reload whose Lua top level never ends keeps the running rules.
#[test]
fn endless_top_level_on_reload_keeps_the_running_rules() {
    let control = "rspamd_config.LUA_CONTROL = function() return true end\n";
    let mut s = Sluice::start(&[("rspamd.local.lua", control)]);
    std::fs::write(s.path("rspamd.local.lua"), ENDLESS_TOP).unwrap();
    s.hup();
    let line = s.wait_log("reload failed");
    assert!(line.contains("budget"), "{line}");
    let r = post(s.http, "/checkv2", &[], &ham_message());
    assert_eq!(r.status, 200);
    assert!(r.json()["symbols"].get("LUA_CONTROL").is_some());
    // The reactor and signals still work after the refused reload.
    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(30)).expect("exit");
    assert!(status.success(), "{status}");
}
