//! The real daemon, driven by the MTA-role client the way Postfix drives it:
//! verdicts become the right replies and header edits.
use crate::support::daemon as common;

use bytes::Bytes;
use common::{gtube, Daemon};
use sluice_proto::milter::client::{Envelope, MtaClient, Response};
use sluice_proto::milter::optneg::OptNeg;
use sluice_proto::milter::Reply;

const POSTFIX_OFFER: OptNeg = OptNeg {
    version: 6,
    actions: 0x1ff,
    protocol: 0x1f_ffff,
};

fn ham() -> Vec<u8> {
    b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: lunch tomorrow\r\n\
Date: Sun, 22 Nov 2026 05:00:24 +0000\r\nMessage-ID: <20261122.1234@example.org>\r\n\
X-Spam: Yes\r\nX-Spam-Status: Yes, score=99\r\n\r\nShall we meet at noon?\r\n"
        .to_vec()
}

fn with_body(body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: test\r\n\
Date: Sun, 22 Nov 2026 05:00:24 +0000\r\nMessage-ID: <gt@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn scan(d: &Daemon, raw: &[u8]) -> Response {
    let mut c = MtaClient::connect_tcp(d.addr).await.unwrap();
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let env = Envelope {
        from: "alice@example.org",
        rcpts: &["bob@example.net"],
        queue_id: Some("4ABC123"),
    };
    let r = c.send_message(&env, raw).await.unwrap();
    c.quit().await.unwrap();
    r
}

fn added(r: &Response, name: &str) -> Option<String> {
    r.modifications.iter().find_map(|m| match m {
        Reply::AddHeader { name: n, value } if n.eq_ignore_ascii_case(name.as_bytes()) => {
            Some(String::from_utf8_lossy(value).trim_start().to_string())
        }
        _ => None,
    })
}

fn reply_text(r: &Reply) -> String {
    match r {
        Reply::ReplyCode(t) => String::from_utf8_lossy(t).into_owned(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gtube_is_rejected_with_554() {
    let d = Daemon::start("");
    let r = scan(&d, &with_body(&gtube())).await;
    assert_eq!(reply_text(&r.terminal), "554 5.7.1 Gtube pattern");
    let line = d.wait_log("scanned");
    assert!(line.contains("qid=4ABC123"), "{line}");
    assert!(line.contains("GTUBE"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ham_is_accepted_tagged_and_spoofed_headers_removed() {
    let d = Daemon::start("");
    let r = scan(&d, &ham()).await;
    assert_eq!(r.terminal, Reply::Accept);
    let result = added(&r, "X-Spamd-Result").expect("X-Spamd-Result added");
    assert!(result.starts_with("default: False ["), "{result}");
    assert!(added(&r, "X-Spam").is_none(), "ham is not flagged");
    for name in ["X-Spam", "X-Spam-Status"] {
        assert!(
            r.modifications.contains(&Reply::ChangeHeader {
                index: 1,
                name: Bytes::from(name),
                value: Bytes::new()
            }),
            "{name} removed: {:?}",
            r.modifications
        );
    }
}

/// Rspamd's GTUBE variants map to the other actions (gtube_patterns = all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gtube_variants_reach_every_action() {
    let d = Daemon::start("");
    // Rspamd's variants differ from the standard pattern in the first letter.
    let variant = |first: &str| format!("{first}{}", &gtube()[1..]);
    let r = scan(&d, &with_body(&variant("Y"))).await;
    assert_eq!(r.terminal, Reply::Accept);
    assert_eq!(added(&r, "X-Spam").as_deref(), Some("Yes"));

    let r = scan(&d, &with_body(&variant("Z"))).await;
    assert_eq!(r.terminal, Reply::Accept);
    let subject = r.modifications.iter().find_map(|m| match m {
        Reply::ChangeHeader { name, value, .. } if &name[..] == b"Subject" => {
            Some(String::from_utf8_lossy(value).trim().to_string())
        }
        _ => None,
    });
    assert_eq!(subject.as_deref(), Some("*** SPAM *** test"));

    let r = scan(&d, &with_body(&variant("A"))).await;
    assert_eq!(r.terminal, Reply::Accept);
    assert!(added(&r, "X-Spam").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_messages_with_an_abort_between_on_one_connection() {
    let d = Daemon::start("");
    let mut c = MtaClient::connect_tcp(d.addr).await.unwrap();
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let env = Envelope {
        from: "alice@example.org",
        rcpts: &["bob@example.net"],
        queue_id: None,
    };
    let first = c.send_message(&env, &with_body(&gtube())).await.unwrap();
    assert!(reply_text(&first.terminal).starts_with("554 "));
    c.abort().await.unwrap();
    c.abort().await.unwrap();
    let second = c.send_message(&env, &ham()).await.unwrap();
    assert_eq!(second.terminal, Reply::Accept);
    c.abort().await.unwrap();
    c.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_listener_works() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("milter.sock");
    let mut child = std::process::Command::new(crate::support::sluice_bin())
        .args(["run", "--milter", &format!("unix:{}", sock.display())])
        .args(["--http", "127.0.0.1:0", "--controller", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The socket file appears once the listener is bound.
    for _ in 0..400 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let mut c = MtaClient::connect_unix(&sock).await.unwrap();
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let env = Envelope {
        from: "",
        rcpts: &["bob@example.net"],
        queue_id: None,
    };
    let r = c.send_message(&env, &with_body(&gtube())).await.unwrap();
    assert!(reply_text(&r.terminal).starts_with("554 5.7.1"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut d = Daemon::start("");
    assert!(d.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_a_broken_config_keeps_the_running_one() {
    let mut d = Daemon::start("timeout = 300s;\n");
    let gtube_msg = with_body(&gtube());
    assert!(reply_text(&scan(&d, &gtube_msg).await.terminal).starts_with("554 "));

    let conf = d.local_d().join("worker-proxy.inc");
    std::fs::write(&conf, "discard_on_reject = true;\n").unwrap();
    d.signal("HUP");
    d.wait_log("configuration reloaded");
    assert_eq!(scan(&d, &gtube_msg).await.terminal, Reply::Discard);

    std::fs::write(&conf, "discard_on_reject = {{{ broken\n").unwrap();
    d.signal("HUP");
    d.wait_log("reload failed");
    assert_eq!(scan(&d, &gtube_msg).await.terminal, Reply::Discard);

    d.signal("USR1");
    d.wait_log("SIGUSR1");
    assert!(d.is_running());
}
