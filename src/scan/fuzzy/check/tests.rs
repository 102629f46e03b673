use std::time::Duration;

use serde_json::json;
use sluice_proto::fuzzy::{Command, Epoch, Reply};
use tokio::net::UdpSocket;

use super::*;
use crate::scan::fuzzy::keys::SHINGLES;

fn rule(port: u16, extra: serde_json::Value) -> FuzzyRule {
    let mut r = json!({
        "servers": format!("127.0.0.1:{port}"),
        "symbol": "FUZZY_UNKNOWN", "max_score": 20.0, "skip_unknown": true,
        "timeout": 0.2, "retransmits": 1,
        "fuzzy_map": {"FUZZY_DENIED": {"flag": 1, "max_score": 20.0},
                      "FUZZY_WHITE": {"flag": 3, "max_score": 2.0}}
    });
    if let (Some(m), serde_json::Value::Object(e)) = (r.as_object_mut(), extra) {
        m.extend(e);
    }
    FuzzySettings::from_section(Some(&json!({"rule": {"t": r}})))
        .unwrap()
        .rules
        .remove(0)
}

fn text_hash() -> FuzzyHash {
    FuzzyHash {
        digest: [7; 64],
        shingles: Some([1; SHINGLES]),
        kind: HashKind::Text,
    }
}

fn reply(flag: u32, value: i32, prob: f32) -> Reply {
    Reply {
        value,
        flag,
        tag: 1,
        prob,
        digest: [7; 64],
        ts: 0,
    }
}

#[test]
fn replies_score_as_rspamd_scores_them() {
    let r = rule(1, json!({}));
    let m = match_result(&r, &reply(1, 10, 1.0), &text_hash()).unwrap();
    assert_eq!(m.symbol, "FUZZY_DENIED");
    // 12 (FUZZY_DENIED's weight) x this gives Rspamd's 10.51 for value 10.
    assert!((m.score - (std::f64::consts::E * 10.0 / 20.0).tanh()).abs() < 1e-9);
    assert_eq!(m.option, "1:0707070707:1.00:txt");
    let weak = match_result(&r, &reply(1, 10, 0.81), &text_hash()).unwrap();
    assert!((weak.score - m.score * 0.9).abs() < 1e-6);
    // Not found, unknown flag under skip_unknown.
    assert!(match_result(&r, &reply(1, 10, 0.5), &text_hash()).is_none());
    assert!(match_result(&r, &reply(9, 10, 1.0), &text_hash()).is_none());
    let keep = rule(1, json!({"skip_unknown": false}));
    let u = match_result(&keep, &reply(9, 10, 1.0), &text_hash()).unwrap();
    assert_eq!(u.symbol, "FUZZY_UNKNOWN");
    assert_eq!(normalize(5, 0.0), 0.0);
}

#[test]
fn an_image_alone_weighs_less_beside_long_text() {
    let img = MatchResult {
        symbol: "FUZZY_DENIED".into(),
        score: 1.0,
        prob: 1.0,
        kind: ResultKind::Img,
        option: String::new(),
    };
    let long = TextFacts {
        has_text: true,
        long_text: true,
    };
    assert_eq!(
        score_results(std::slice::from_ref(&img), long)[0].multiplier,
        0.25
    );
    let txt = MatchResult {
        kind: ResultKind::Txt,
        prob: 0.9,
        ..img.clone()
    };
    let both = score_results(&[img, txt], long);
    assert_eq!(both[0].multiplier, 1.0);
    assert!((both[1].multiplier - 1.1).abs() < 1e-9);
}

/// A storage that answers every check with flag 1, value 10, and counts
/// what it received; `drop_first` datagrams are ignored (lost).
async fn fake_storage(drop_first: usize) -> (u16, tokio::task::JoinHandle<usize>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let h = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let mut seen = 0;
        while let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_millis(600), sock.recv_from(&mut buf)).await
        {
            seen += 1;
            if seen <= drop_first {
                continue;
            }
            let cmd = Command::decode(&buf[..n]).unwrap();
            let rep = Reply {
                value: 10,
                flag: 1,
                tag: cmd.tag,
                prob: 1.0,
                digest: cmd.digest,
                ts: 0,
            };
            sock.send_to(&rep.encode(Epoch::V11), from).await.unwrap();
        }
        seen
    });
    (port, h)
}

#[tokio::test]
async fn a_lost_datagram_is_sent_again_and_the_match_scored() {
    let (port, storage) = fake_storage(1).await;
    let checks = FuzzyChecks::new(FuzzySettings {
        rules: vec![rule(port, json!({}))],
    })
    .unwrap()
    .unwrap();
    let prepared = Prepared {
        per_rule: vec![vec![text_hash()]],
        facts: TextFacts::default(),
    };
    let hits = checks
        .check(prepared, Instant::now() + Duration::from_secs(2))
        .await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].symbol, "FUZZY_DENIED");
    assert_eq!(storage.await.unwrap(), 2, "one loss, one retransmit");
    let (_, q, m, f) = checks.counters()[0].snapshot();
    assert_eq!((q, m, f), (1, 1, 0));
}

#[tokio::test]
async fn a_silent_storage_ends_by_the_deadline_and_counts_a_failure() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let checks = FuzzyChecks::new(FuzzySettings {
        rules: vec![rule(port, json!({"timeout": 5.0, "retransmits": 3}))],
    })
    .unwrap()
    .unwrap();
    let prepared = Prepared {
        per_rule: vec![vec![text_hash()]],
        facts: TextFacts::default(),
    };
    let started = Instant::now();
    let hits = checks
        .check(prepared, started + Duration::from_millis(300))
        .await;
    assert!(hits.is_empty());
    // The deadline, not the rule's 5 s timeout, ended it.
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(checks.counters()[0].snapshot().3, 1);
    drop(sock);
}
