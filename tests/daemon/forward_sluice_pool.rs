//! sluice milter -> forward -> three real sluice scanner processes (their
//! HTTP listeners, the shipped rules): traffic spreads over all three; one
//! is SIGKILLed mid-run and every message is still answered exactly once,
//! by the live ones; restarted on its address it gets traffic back; with
//! every scanner dead each message gets the configured failure reply.
use crate::support::forward as forward_support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use forward_support::{send_many, Sluice};
use sluice_proto::milter::client::Response;
use sluice_proto::milter::Reply;

/// A loopback port nothing listens on right now.
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn scanner(addr: SocketAddr) -> Sluice {
    let s = Sluice::start_with_http(&[], &addr.to_string());
    s.wait_log(&format!("http listening on inet:{addr}"));
    s
}

fn front(scanners: &[SocketAddr]) -> Sluice {
    let hosts: Vec<String> = scanners.iter().map(|a| a.to_string()).collect();
    let proxy = format!(
        "upstream \"scan\" {{ default = yes; hosts = \"round-robin:{}\"; timeout = 5s; }}\n\
         max_retries = 3;\n",
        hosts.join(",")
    );
    let health = "upstream { max_errors = 2; error_time = 10s; revive_time = 1s; }\n";
    Sluice::start_with_files(&[("worker-proxy.inc", &proxy), ("options.inc", health)])
}

/// `conns` parallel connections of `per_conn` messages, queue ids from `first`.
async fn burst(s: &Sluice, first: usize, conns: usize, per_conn: usize) -> Vec<Response> {
    let tasks: Vec<_> = (0..conns)
        .map(|c| tokio::spawn(send_many(s.addr, first + c * per_conn, per_conn)))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.extend(t.await.unwrap());
    }
    out
}

/// A scanner's verdict reached the MTA (not the front's failure reply).
fn assert_scanned(rs: &[Response]) {
    for r in rs {
        if let Reply::ReplyCode(text) = &r.terminal {
            assert!(
                !text.starts_with(b"451"),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }
}

/// Front log lines with queue id in `qids`: upstream -> messages, and
/// asserts that no queue id was logged twice. The log reaches the test
/// through a reader thread, so it waits until every id has arrived.
fn answered_by(front: &Sluice, qids: std::ops::Range<usize>) -> BTreeMap<String, usize> {
    let start = std::time::Instant::now();
    loop {
        let (seen, by) = tally_log(front, &qids);
        if seen == qids.len() || start.elapsed() > Duration::from_secs(10) {
            assert_eq!(seen, qids.len(), "every message logged once: {by:?}");
            return by;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (distinct queue ids seen, upstream -> messages) over the front's log.
fn tally_log(front: &Sluice, qids: &std::ops::Range<usize>) -> (usize, BTreeMap<String, usize>) {
    let lines = front.log();
    let mut seen = BTreeSet::new();
    let mut by = BTreeMap::new();
    for l in lines.iter().filter(|l| l.contains(" scanned ")) {
        let Some(qid) = field(l, "qid=").and_then(|q| q[1..].parse::<usize>().ok()) else {
            continue;
        };
        if !qids.contains(&qid) {
            continue;
        }
        assert!(seen.insert(qid), "Q{qid} answered twice");
        *by.entry(field(l, "upstream=").unwrap_or("-").to_string())
            .or_insert(0) += 1;
    }
    (seen.len(), by)
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|w| w.strip_prefix(key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_scanners_one_killed_mid_run_and_revived() {
    let addrs = [free_addr(), free_addr(), free_addr()];
    let (a, mut b, c) = (scanner(addrs[0]), scanner(addrs[1]), scanner(addrs[2]));
    let f = front(&addrs);
    let key = |i: usize| addrs[i].to_string();

    let rs = burst(&f, 0, 1, 30).await;
    assert_eq!(rs.len(), 30);
    assert_scanned(&rs);
    let before = answered_by(&f, 0..30);
    for i in 0..3 {
        assert_eq!(before.get(&key(i)), Some(&10), "{before:?}");
    }

    // Killed while messages flow: the rest of the run goes to the live two.
    let run = tokio::spawn({
        let addr = f.addr;
        async move {
            let mut out = Vec::new();
            for c in 0..3 {
                out.push(tokio::spawn(send_many(addr, 100 + c * 40, 40)));
            }
            let mut all = Vec::new();
            for t in out {
                all.extend(t.await.unwrap());
            }
            all
        }
    });
    f.wait_lines(&format!("upstream={}", key(1)), 13);
    b.kill();
    let during = run.await.unwrap();
    assert_eq!(during.len(), 120, "every message answered");
    assert_scanned(&during);
    let mid = answered_by(&f, 100..220);
    assert!(mid.get(&key(0)).copied().unwrap_or(0) > 0, "{mid:?}");
    assert!(mid.get(&key(2)).copied().unwrap_or(0) > 0, "{mid:?}");

    let rs = burst(&f, 300, 3, 10).await;
    assert_scanned(&rs);
    let dead = answered_by(&f, 300..330);
    assert_eq!(
        dead.get(&key(1)),
        None,
        "a dead scanner gets nothing: {dead:?}"
    );

    let b = scanner(addrs[1]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let rs = burst(&f, 400, 3, 10).await;
    assert_scanned(&rs);
    let after = answered_by(&f, 400..430);
    assert!(
        after.get(&key(1)).copied().unwrap_or(0) >= 5,
        "revived scanner is back: {after:?}"
    );

    // Every scanner dead: each message gets the configured failure reply.
    for mut s in [a, b, c] {
        s.kill();
    }
    for r in send_many(f.addr, 500, 5).await {
        let Reply::ReplyCode(text) = &r.terminal else {
            panic!("expected 451, got {:?}", r.terminal);
        };
        let text = String::from_utf8_lossy(text);
        assert!(text.starts_with("451 4.7.1 "), "{text}");
    }
}
