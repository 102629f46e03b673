//! sluice milter -> forward -> tiny fake scanners: traffic spreads, moves off
//! a killed scanner and comes back after revival, every message is answered
//! exactly once, and a dead pool gets the configured failure reply.
use crate::support::forward as forward_support;

use std::collections::BTreeMap;
use std::time::Duration;

use forward_support::{scanned_by, send_many, FakeScanner, Sluice};
use sluice_proto::milter::Reply;

fn proxy_conf(scanners: &[&FakeScanner], extra: &str) -> String {
    let hosts: Vec<String> = scanners.iter().map(|s| s.hosts_element()).collect();
    format!(
        "upstream \"scan\" {{ default = yes; hosts = \"round-robin:{}\"; timeout = 5s; }}\n\
         max_retries = 3;\n{extra}",
        hosts.join(",")
    )
}

const FAST_HEALTH: &str = "upstream { max_errors = 2; error_time = 10s; revive_time = 1s; }\n";

/// Sends `per_conn` messages on each of `conns` parallel milter connections.
async fn burst(s: &Sluice, first: usize, conns: usize, per_conn: usize) -> Vec<Reply> {
    let mut tasks = Vec::new();
    for c in 0..conns {
        tasks.push(tokio::spawn(send_many(
            s.addr,
            first + c * per_conn,
            per_conn,
        )));
    }
    let mut out = Vec::new();
    for t in tasks {
        for r in t.await.unwrap() {
            let by = scanned_by(&r).expect("every verdict names its scanner");
            out.push((r.terminal.clone(), by));
        }
    }
    out.into_iter()
        .map(|(t, by)| {
            assert_eq!(t, Reply::Accept, "scanned by {by}");
            Reply::ReplyCode(by.into_bytes().into())
        })
        .collect()
}

fn tally(replies: &[Reply]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in replies {
        if let Reply::ReplyCode(b) = r {
            *m.entry(String::from_utf8_lossy(b).into_owned())
                .or_insert(0) += 1;
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_and_the_envelope_reaches_the_scanner() {
    let a = FakeScanner::start("A", "no action", 1.0).await;
    let b = FakeScanner::start("B", "no action", 1.0).await;
    let c = FakeScanner::start("C", "no action", 1.0).await;
    let s = Sluice::start_with_files(&[("worker-proxy.inc", &proxy_conf(&[&a, &b, &c], ""))]);
    let replies = burst(&s, 0, 1, 30).await;
    assert_eq!(
        tally(&replies),
        BTreeMap::from([("A".into(), 10), ("B".into(), 10), ("C".into(), 10)])
    );
    // /metrics counts each upstream's requests and calls it alive.
    let metrics = s.metrics();
    for scanner in [&a, &b, &c] {
        let host = format!("group=\"scan\",host=\"{}\"", scanner.addr);
        for want in [
            format!("sluice_upstream_requests_total{{{host},result=\"ok\"}} 10\n"),
            format!("sluice_upstream_requests_total{{{host},result=\"error\"}} 0\n"),
            format!("sluice_upstream_alive{{{host}}} 1\n"),
        ] {
            assert!(metrics.contains(&want), "{want} missing from {metrics}");
        }
    }
    // The one log line per message names the scanner that answered.
    for scanner in [&a, &b, &c] {
        let line = s.wait_log(&format!("upstream={}", scanner.addr));
        assert!(line.contains("scanned"), "{line}");
    }
    let seen = a.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.headers["flags"], vec!["milter"]);
    assert_eq!(seen.headers["from"], vec!["<alice@example.org>"]);
    assert_eq!(seen.headers["rcpt"], vec!["<bob@example.net>"]);
    assert!(seen.headers["queue-id"][0].starts_with('Q'));
    let body = String::from_utf8_lossy(&seen.body);
    assert!(
        body.starts_with("From: Alice <alice@example.org>\r\n"),
        "{body}"
    );
    assert!(body.contains("\r\n\r\nHello "), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_scanner_loses_traffic_and_gets_it_back() {
    let a = FakeScanner::start("A", "no action", 1.0).await;
    let mut b = FakeScanner::start("B", "no action", 1.0).await;
    let c = FakeScanner::start("C", "no action", 1.0).await;
    let s = Sluice::start_with_files(&[
        ("worker-proxy.inc", &proxy_conf(&[&a, &b, &c], "")),
        ("options.inc", FAST_HEALTH),
    ]);
    let before = tally(&burst(&s, 0, 3, 10).await);
    assert_eq!(before.values().sum::<usize>(), 30);
    assert!(before.get("B").copied().unwrap_or(0) > 0, "{before:?}");

    // Killed with pooled keep-alive connections open: nothing may be lost.
    b.kill();
    let b_hits = b.hits();
    let during = tally(&burst(&s, 100, 3, 20).await);
    assert_eq!(during.values().sum::<usize>(), 60, "{during:?}");
    assert_eq!(during.get("B"), None, "{during:?}");
    assert_eq!(b.hits(), b_hits);

    b.restart().await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let after = tally(&burst(&s, 200, 3, 10).await);
    assert_eq!(after.values().sum::<usize>(), 30);
    assert!(
        after.get("B").copied().unwrap_or(0) >= 5,
        "B is back: {after:?}"
    );
    // Each message was scanned exactly once.
    assert_eq!(a.hits() + b.hits() + c.hits(), 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_pool_tempfails_with_a_reason() {
    let mut a = FakeScanner::start("A", "no action", 1.0).await;
    let mut b = FakeScanner::start("B", "no action", 1.0).await;
    let s = Sluice::start_with_files(&[("worker-proxy.inc", &proxy_conf(&[&a, &b], ""))]);
    a.kill();
    b.kill();
    let rs = send_many(s.addr, 0, 5).await;
    for r in &rs {
        let Reply::ReplyCode(text) = &r.terminal else {
            panic!("expected a reply code, got {:?}", r.terminal);
        };
        let text = String::from_utf8_lossy(text);
        assert!(text.starts_with("451 4.7.1 "), "{text}");
        assert!(text.contains("upstream scan failed"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_pool_under_fail_open_accepts_with_a_header() {
    let mut a = FakeScanner::start("A", "no action", 1.0).await;
    let s = Sluice::start_with_files(&[(
        "worker-proxy.inc",
        &proxy_conf(&[&a], "fail_open = true;\n"),
    )]);
    a.kill();
    for r in send_many(s.addr, 0, 3).await {
        assert_eq!(r.terminal, Reply::Accept);
        assert!(r.modifications.iter().any(|m| matches!(m,
            Reply::AddHeader { name, .. } if name.as_ref() == b"X-Spam-Status")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdict_actions_come_from_the_upstream() {
    let a = FakeScanner::start("A", "reject", 20.0).await;
    let s = Sluice::start_with_files(&[("worker-proxy.inc", &proxy_conf(&[&a], ""))]);
    let r = &send_many(s.addr, 0, 1).await[0];
    let Reply::ReplyCode(text) = &r.terminal else {
        panic!("{:?}", r.terminal);
    };
    assert!(
        text.starts_with(b"554 5.7.1 "),
        "{}",
        String::from_utf8_lossy(text)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_sends_zstd_bodies() {
    let a = FakeScanner::start("A", "no action", 0.0).await;
    let conf = format!(
        "upstream \"scan\" {{ default = yes; hosts = \"{}\"; compression = yes; }}\n",
        a.hosts_element()
    );
    let s = Sluice::start_with_files(&[("worker-proxy.inc", &conf)]);
    let r = &send_many(s.addr, 7, 1).await[0];
    assert_eq!(r.terminal, Reply::Accept);
    let seen = a.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.headers["compression"], vec!["zstd"]);
    let plain = zstd::decode_all(&seen.body[..]).unwrap();
    assert!(String::from_utf8_lossy(&plain).contains("Hello 7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_deadline_covers_every_retry() {
    // Two scanners that accept connections and never answer.
    let mut hosts = Vec::new();
    let mut held = Vec::new();
    for _ in 0..2 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        hosts.push(format!("127.0.0.1:{}", l.local_addr().unwrap().port()));
        held.push(tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                conns.push(s);
            }
        }));
    }
    let conf = format!(
        "upstream \"scan\" {{ default = yes; hosts = \"{}\"; timeout = 1s; }}\nmax_retries = 5;\n",
        hosts.join(",")
    );
    let s = Sluice::start_with_files(&[("worker-proxy.inc", &conf)]);
    let start = std::time::Instant::now();
    let r = &send_many(s.addr, 0, 1).await[0];
    let took = start.elapsed();
    let Reply::ReplyCode(text) = &r.terminal else {
        panic!("{:?}", r.terminal);
    };
    let text = String::from_utf8_lossy(text);
    assert!(
        text.starts_with("451 4.7.1") && text.contains("deadline"),
        "{text}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "one 1 s deadline, not retries x timeout: {took:?}"
    );
    for h in held {
        h.abort();
    }
}
