//! Mirrors get their share of traffic, never change the verdict, and the
//! per-message diff shows when the mirror's rules differ.
use crate::support::forward as forward_support;

use forward_support::{scanned_by, send_many, FakeScanner, Sluice};
use sluice_proto::milter::Reply;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_takes_its_share_and_logs_the_difference() {
    let primary = FakeScanner::start("P", "no action", 1.0).await;
    let shadow = FakeScanner::start("M", "reject", 20.0).await;
    let conf = format!(
        "upstream \"scan\" {{ default = yes; hosts = \"{}\"; }}\n\
         mirror \"shadow\" {{ hosts = \"{}\"; probability = 0.5; }}\n",
        primary.hosts_element(),
        shadow.hosts_element()
    );
    let s = Sluice::start_with_files(&[("worker-proxy.inc", &conf)]);
    let rs = send_many(s.addr, 0, 200).await;
    for r in &rs {
        assert_eq!(r.terminal, Reply::Accept, "mirror never decides");
        assert_eq!(scanned_by(r).as_deref(), Some("P"));
    }
    assert_eq!(primary.hits(), 200);
    let lines = s.wait_lines("mirror shadow [", shadow.hits());
    let copies = shadow.hits();
    assert!(
        (60..=140).contains(&copies),
        "share of 0.5 gave {copies}/200"
    );
    assert_eq!(lines.len(), copies);
    assert!(
        lines[0].contains("action=no action->reject score=1.00->20.00 +SCANNER_M -SCANNER_P"),
        "{}",
        lines[0]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("(disagreements: {copies})"))),
        "counter reaches {copies}: {:?}",
        lines.last()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agreeing_mirror_logs_same() {
    let primary = FakeScanner::start("X", "no action", 1.0).await;
    let shadow = FakeScanner::start("X", "no action", 1.0).await;
    let conf = format!(
        "upstream \"scan\" {{ default = yes; hosts = \"{}\"; }}\n\
         mirror \"twin\" {{ hosts = \"{}\"; }}\n",
        primary.hosts_element(),
        shadow.hosts_element()
    );
    let s = Sluice::start_with_files(&[("worker-proxy.inc", &conf)]);
    send_many(s.addr, 0, 10).await;
    let lines = s.wait_lines("mirror twin [", 10);
    assert!(
        lines
            .iter()
            .all(|l| l.contains(": same (disagreements: 0)")),
        "{lines:?}"
    );
    assert_eq!(shadow.hits(), 10);
}
