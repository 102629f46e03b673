//! The auth checks in a running daemon: `options.dns` from the admin's `local.d/options.inc`,
//! an HTTP scan whose `IP`, `From` and `Helo` headers feed SPF, and DNS counters on
//! `/metrics` (a bad `options.dns` key is in `config_check.rs`). The nameserver is a loopback
//! socket that never answers: nothing leaves the machine.

use std::net::UdpSocket;

use crate::support::http::{get, post, Sluice};

const MESSAGE: &[u8] = b"From: <alice@example.org>\r\nTo: <bob@example.net>\r\n\
Subject: hello\r\nMessage-ID: <auth-dns@example.org>\r\n\r\nHello.\r\n";

#[test]
fn http_headers_feed_the_checks_and_metrics_count_their_lookups() {
    // Bound and never read: every query to it goes unanswered.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let options = format!(
        "dns {{ nameserver = [\"127.0.0.1:{port}\"]; timeout = 200ms; retransmits = 0; \
         message_budget = 1s; }}\n"
    );
    let files = [
        ("local.d/options.inc", options.as_str()),
        ("local.d/spf.conf", "check_local = false;\n"),
    ];
    let s = Sluice::start(&files);
    assert!(
        !s.log().iter().any(|l| l.contains("spf.conf: not used")),
        "{:?}",
        s.log()
    );
    let headers = [
        ("IP", "192.0.2.10"),
        ("From", "<alice@example.org>"),
        ("Helo", "mail.example.org"),
    ];
    let r = post(s.http, "/checkv2", &headers, MESSAGE);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    for symbol in ["R_SPF_DNSFAIL", "R_DKIM_NA", "ARC_NA", "DMARC_DNSFAIL"] {
        assert!(j["symbols"][symbol].is_object(), "{symbol}: {j}");
    }
    // A local client: no check runs, no symbol.
    let local = [("IP", "127.0.0.1"), ("From", "<alice@example.org>")];
    let j = post(s.http, "/checkv2", &local, MESSAGE).json();
    assert!(j["symbols"]["R_SPF_DNSFAIL"].is_null(), "{j}");
    assert!(j["symbols"]["R_DKIM_NA"].is_null(), "{j}");
    let metrics = get(s.controller, "/metrics", &[]).text();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    assert!(value("sluice_dns_queries_total") >= 1, "{metrics}");
    assert!(
        value("sluice_dns_failures_total{kind=\"timeout\"}") >= 1,
        "{metrics}"
    );
    assert!(value("sluice_dns_latency_seconds_count") >= 1, "{metrics}");
}
