//! fuzzy_check on a real `sluice run`, against a small storage in the test
//! speaking Rspamd's fuzzy protocol (the wire types of `sluice-proto`):
//! `/fuzzyadd` writes the message's hashes, the next scan finds them with
//! the flag's symbol and Rspamd's score, an unrelated message does not,
//! `/fuzzydel` removes them, and with the storage gone the scan is still
//! answered, without fuzzy symbols, and `/metrics` counts the failure.
//! (Rspamd's own storage and hashes: `integration/fuzzy_check.sh`.)
use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_proto::fuzzy::{Command, Op, Reply};

use crate::support::http as http_support;
use http_support::*;

/// Stored digests and shingles: digest -> (flag, value).
type Stored = Arc<Mutex<HashMap<[u8; 64], (u8, i32)>>>;

/// A storage on a loopback UDP port, answering until `stop` is set.
fn storage() -> (u16, Stored, Arc<AtomicBool>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let stored: Stored = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (db, halt) = (Arc::clone(&stored), Arc::clone(&stop));
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !halt.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Ok(cmd) = Command::decode(&buf[..n]) else {
                continue;
            };
            let mut db = db.lock().unwrap();
            let mut rep = Reply::status(0, cmd.tag);
            match cmd.op {
                Op::Write => {
                    db.insert(cmd.digest, (cmd.flag, cmd.value));
                }
                Op::Del => {
                    db.remove(&cmd.digest);
                }
                Op::Check => {
                    if let Some(&(flag, value)) = db.get(&cmd.digest) {
                        rep = Reply {
                            value,
                            flag: u32::from(flag),
                            tag: cmd.tag,
                            prob: 1.0,
                            digest: cmd.digest,
                            ts: 0,
                        };
                    }
                }
                _ => {}
            }
            let _ = sock.send_to(&rep.encode(cmd.epoch()), from);
        }
    });
    (port, stored, stop)
}

fn rule(port: u16) -> String {
    format!(
        "rule \"local\" {{\n  servers = \"127.0.0.1:{port}\";\n  algorithm = \"mumhash\";\n  \
         read_only = no;\n  skip_unknown = yes;\n  max_score = 20.0;\n  timeout = 0.3s;\n  \
         retransmits = 1;\n  fuzzy_map {{ FUZZY_DENIED {{ flag = 1; max_score = 20.0; }} }}\n}}\n"
    )
}

fn text(seed: usize) -> Vec<u8> {
    let words: String = (0..100)
        .map(|i| format!("word{} ", (i * 7 + seed * 31) % 53))
        .collect();
    format!(
        "From: a@example.org\r\nTo: b@example.net\r\nSubject: offer {seed}\r\n\
         Message-ID: <f{seed}@example.org>\r\n\r\n{words}\r\n"
    )
    .into_bytes()
}

fn fuzzy_score(s: &Sluice, msg: &[u8]) -> Option<f64> {
    let r = post(s.http, "/checkv2", &[], msg);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["symbols"]["FUZZY_DENIED"]["score"].as_f64()
}

#[test]
fn learned_hashes_are_found_deleted_and_an_outage_is_counted() {
    let (port, stored, stop) = storage();
    let conf = rule(port);
    let s = Sluice::start(&[("local.d/fuzzy_check.conf", conf.as_str())]);
    let (a, b) = (text(1), text(2));
    assert_eq!(fuzzy_score(&s, &a), None);
    let r = post(
        s.controller,
        "/fuzzyadd",
        &[("Flag", "1"), ("Weight", "10")],
        &a,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["success"], true);
    assert_eq!(r.json()["hashes"].as_array().unwrap().len(), 1);
    assert_eq!(stored.lock().unwrap().len(), 1);
    // FUZZY_DENIED's weight (12) times tanh(e * 10 / 20): Rspamd's 10.51.
    let want = 12.0 * (std::f64::consts::E * 10.0 / 20.0).tanh();
    let got = fuzzy_score(&s, &a).expect("FUZZY_DENIED after the add");
    assert!((got - want).abs() < 0.01, "{got} vs {want}");
    assert_eq!(fuzzy_score(&s, &b), None);
    // A flag no rule maps is refused as Rspamd refuses it.
    let r = post(s.controller, "/fuzzyadd", &[("Flag", "7")], &a);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = post(s.controller, "/fuzzydel", &[("Flag", "1")], &a);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(fuzzy_score(&s, &a), None);

    // The storage goes away: answered without the symbol, counted.
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(fuzzy_score(&s, &a), None);
    assert!(started.elapsed() < Duration::from_secs(5));
    let metrics = get(s.controller, "/metrics", &[]).text();
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sluice_fuzzy_failures_total{rule=\"local\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no failure counter in {metrics}"));
    assert!(failures >= 1, "{failures}");
}
