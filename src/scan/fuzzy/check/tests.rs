use std::time::Duration;

use serde_json::json;
use sluice_proto::fuzzy::{Command, Epoch, Extension, Reply};
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
        score_results(std::slice::from_ref(&img), long, None)[0].multiplier,
        0.25
    );
    let txt = MatchResult {
        kind: ResultKind::Txt,
        prob: 0.9,
        ..img.clone()
    };
    let both = score_results(&[img, txt], long, None);
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
        ..Default::default()
    })
    .unwrap()
    .unwrap();
    let prepared = Prepared {
        per_rule: vec![vec![text_hash()]],
        facts: TextFacts::default(),
        source: Source::default(),
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
        ..Default::default()
    })
    .unwrap()
    .unwrap();
    let prepared = Prepared {
        per_rule: vec![vec![text_hash()]],
        facts: TextFacts::default(),
        source: Source::default(),
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

/// A storage that answers every command with `value` (a status or a
/// weight, flag 1, probability 1) and hands over the commands it got.
async fn answering_storage(value: i32) -> (u16, tokio::sync::mpsc::UnboundedReceiver<Command>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await
        {
            let cmd = Command::decode(&buf[..n]).unwrap();
            let rep = Reply {
                value,
                flag: 1,
                tag: cmd.tag,
                prob: if value == 403 { 0.0 } else { 1.0 },
                digest: cmd.digest,
                ts: 0,
            };
            let _ = tx.send(cmd);
            sock.send_to(&rep.encode(Epoch::V11), from).await.unwrap();
        }
    });
    (port, rx)
}

fn prepared_from(source: Source) -> Prepared {
    Prepared {
        per_rule: vec![vec![text_hash()]],
        facts: TextFacts::default(),
        source,
    }
}

#[tokio::test]
async fn a_refused_check_inserts_fuzzy_blocked_without_weight() {
    let (port, _got) = answering_storage(403).await;
    let checks = FuzzyChecks::new(FuzzySettings {
        rules: vec![rule(port, json!({}))],
        ..Default::default()
    })
    .unwrap()
    .unwrap();
    let hits = checks
        .check(
            prepared_from(Source::default()),
            Instant::now() + Duration::from_secs(2),
        )
        .await;
    assert_eq!(
        hits,
        vec![FuzzyHit {
            symbol: "FUZZY_BLOCKED".into(),
            multiplier: 0.0,
            option: "t".into(),
        }]
    );
}

#[tokio::test]
async fn checks_tell_the_sender_unless_no_share() {
    let source = Source {
        domain: Some("example.com".into()),
        ip: Some("192.0.2.1".parse().unwrap()),
    };
    for (no_share, want) in [
        (
            false,
            vec![
                Extension::SourceDomain(b"example.com".to_vec()),
                Extension::SourceIp4([192, 0, 2, 1]),
            ],
        ),
        (true, vec![]),
    ] {
        let (port, mut got) = answering_storage(10).await;
        let checks = FuzzyChecks::new(FuzzySettings {
            rules: vec![rule(port, json!({ "no_share": no_share }))],
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        let hits = checks
            .check(
                prepared_from(source.clone()),
                Instant::now() + Duration::from_secs(2),
            )
            .await;
        assert_eq!(hits.len(), 1, "no_share={no_share}: {hits:?}");
        assert_eq!(
            got.recv().await.unwrap().extensions,
            want,
            "no_share={no_share}"
        );
    }
}

#[test]
fn a_long_domain_keeps_its_last_bytes_and_v6_is_sent_as_such() {
    let long = format!("{}.example.com", "a".repeat(80));
    let s = Source {
        domain: Some(long.clone()),
        ip: Some("2001:db8::1".parse().unwrap()),
    };
    let ext = s.extensions();
    assert_eq!(
        ext[0],
        Extension::SourceDomain(long.as_bytes()[long.len() - 64..].to_vec())
    );
    assert!(matches!(ext[1], Extension::SourceIp6(_)));
}

#[test]
fn the_source_is_the_from_header_domain_and_the_client() {
    let raw = bytes::Bytes::from_static(
        b"From: \"Sales\" <offers@Mail.Example.NET>\r\nTo: a@b.org\r\nSubject: x\r\n\r\nbody\r\n",
    );
    let parsed = crate::message::parsed::Parsed::parse(&crate::message::parser(), raw);
    let ip = Some("198.51.100.7".parse().unwrap());
    let s = Source::of(parsed.view(), ip);
    assert_eq!(s.domain.as_deref(), Some("Mail.Example.NET"));
    assert_eq!(s.ip, ip);
}

#[test]
fn weight_threshold_drops_weak_hits() {
    let r = rule(1, json!({"weight_threshold": 0.8}));
    assert_eq!(r.weight_threshold, Some(0.8));
    let strong = match_result(&r, &reply(1, 40, 1.0), &text_hash()).unwrap();
    let weak = match_result(&r, &reply(1, 2, 1.0), &text_hash()).unwrap();
    assert!(strong.score > 0.8 && weak.score < 0.8);
    let hits = score_results(
        &[strong, weak.clone()],
        TextFacts::default(),
        r.weight_threshold,
    );
    assert_eq!(hits.len(), 1);
    assert!(hits[0].multiplier > 0.8);
    // Without the option both count.
    assert_eq!(score_results(&[weak], TextFacts::default(), None).len(), 1);
}

#[test]
fn skip_hashes_ignores_a_listed_digest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("skip.map");
    std::fs::write(
        &file,
        format!("# skipped\n{}\n", data_encoding::HEXLOWER.encode(&[7; 64])),
    )
    .unwrap();
    let r = rule(1, json!({"skip_hashes": file.display().to_string()}));
    assert!(match_result(&r, &reply(1, 10, 1.0), &text_hash()).is_none());
    let other = FuzzyHash {
        digest: [8; 64],
        ..text_hash()
    };
    assert!(match_result(&r, &reply(1, 10, 1.0), &other).is_some());
}
