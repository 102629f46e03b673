//! Mail to many recipients in forward mode, with real sluice scanners as
//! upstreams: 1,000 recipients (one `Rcpt` line each) reach the scanner and
//! its verdict reaches the MTA; a scanner whose head budget is too small
//! for them refuses once (431), and the front scans the message in-process
//! instead of tempfailing it on every retry, with one WARN naming the
//! upstream.
use crate::support::forward as forward_support;

use std::net::SocketAddr;

use forward_support::{message, Sluice, POSTFIX_OFFER};
use sluice_proto::milter::client::{Envelope, MtaClient, Response};
use sluice_proto::milter::Reply;

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn scanner(addr: SocketAddr, normal: &str) -> Sluice {
    let s = Sluice::start_with_http(&[("worker-normal.inc", normal)], &addr.to_string());
    s.wait_log(&format!("http listening on inet:{addr}"));
    s
}

fn front(scanner: SocketAddr) -> Sluice {
    let proxy = format!(
        "upstream \"scan\" {{ default = yes; hosts = \"{scanner}\"; timeout = 20s; }}\n\
         max_retries = 3;\n"
    );
    Sluice::start_with_files(&[("worker-proxy.inc", &proxy)])
}

async fn send_to_many(addr: SocketAddr, qid: &str, n: usize) -> Response {
    let rcpts: Vec<String> = (0..n).map(|i| format!("user{i:04}@example.net")).collect();
    let refs: Vec<&str> = rcpts.iter().map(String::as_str).collect();
    let mut c = MtaClient::connect_tcp(addr).await.unwrap();
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let env = Envelope {
        from: "alice@example.org",
        rcpts: &refs,
        queue_id: Some(qid),
    };
    let r = c.send_message(&env, &message(1)).await.unwrap();
    c.quit().await.unwrap();
    r
}

fn assert_not_tempfailed(r: &Response) {
    if let Reply::ReplyCode(text) = &r.terminal {
        assert!(!text.starts_with(b"4"), "{}", String::from_utf8_lossy(text));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_recipients_through_a_sluice_scanner() {
    let addr = free_addr();
    let _scanner = scanner(addr, "");
    let f = front(addr);
    let r = send_to_many(f.addr, "QMANY", 1000).await;
    assert_not_tempfailed(&r);
    let line = f.wait_log("qid=QMANY");
    assert!(line.contains(&format!("upstream={addr}")), "{line}");
    assert!(
        line.contains("user0999@example.net"),
        "every recipient went"
    );
    assert!(f.log().iter().all(|l| !l.contains("refuses this message")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_refusal_is_scanned_in_process_not_retried() {
    let addr = free_addr();
    let small = scanner(addr, "max_header_size = 16kb;\n");
    let f = front(addr);
    let r = send_to_many(f.addr, "QBIG", 1000).await;
    assert_not_tempfailed(&r);
    let warn = f.wait_log("refuses this message for size");
    assert!(
        warn.contains(&addr.to_string()),
        "names the upstream: {warn}"
    );
    assert!(warn.contains("431"), "says why: {warn}");
    assert!(warn.contains("scanned in-process"), "{warn}");
    let line = f.wait_log("qid=QBIG");
    assert!(!line.contains(&format!("upstream={addr}")), "{line}");
    let refusals = f
        .log()
        .iter()
        .filter(|l| l.contains("refuses this"))
        .count();
    assert_eq!(refusals, 1, "one attempt, one line");
    // The scanner saw a single request (no retries), and stays in rotation.
    assert!(small.log().iter().all(|l| !l.contains("http scanned")));
    let r = send_to_many(f.addr, "QFEW", 3).await;
    assert_not_tempfailed(&r);
    let line = f.wait_log("qid=QFEW");
    assert!(line.contains(&format!("upstream={addr}")), "{line}");
}
