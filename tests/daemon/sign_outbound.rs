//! Outbound signing on a real `sluice run`: an authenticated milter session
//! gets its `DKIM-Signature` inserted at the top (only where the MTA granted
//! header changes), `/checkv2` returns it as Rspamd's `dkim-signature`, and
//! an independent verifier (dkimpy) accepts what was signed.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bytes::Bytes;
use sluice_proto::milter::client::{Envelope, MtaClient, Response};
use sluice_proto::milter::optneg::OptNeg;
use sluice_proto::milter::Reply;

use crate::support::http::{post, Sluice};

const MESSAGE: &str = "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n\
Subject: quarterly figures\r\nDate: Sun, 22 Nov 2026 05:00:24 +0000\r\n\
Message-ID: <20261122.77@example.org>\r\n\r\nHi Bob,\r\n\r\nthe figures are attached.\r\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Signs example.org mail with the 2048-bit test key.
fn start() -> Sluice {
    let conf = format!(
        "path = \"{}/tests/keys/$selector.key\";\nselector = \"rsa2048\";\n",
        root().display()
    );
    Sluice::start(&[("local.d/dkim_signing.conf", conf.as_str())])
}

/// The `p=` record of a test key, from its zone snippet.
fn record(stem: &str) -> String {
    let zone = std::fs::read_to_string(root().join(format!("tests/keys/{stem}.txt"))).unwrap();
    zone.split('"').skip(1).step_by(2).collect()
}

fn verifies(message: &[u8]) -> bool {
    let mut child = Command::new("/usr/bin/python3")
        .arg(root().join("tests/support/dkim_verify.py"))
        .arg("dkim")
        .arg(format!(
            "rsa2048._domainkey.example.org={}",
            record("rsa2048")
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3-dkim installed");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), message).unwrap();
    child.wait().unwrap().success()
}

async fn session(s: &Sluice, actions: u32, user: Option<&str>) -> Response {
    let mut c = MtaClient::connect_tcp(s.milter).await.unwrap();
    c.negotiate(OptNeg {
        version: 6,
        actions,
        protocol: 0x1f_ffff,
    })
    .await
    .unwrap();
    if let Some(u) = user {
        // Postfix sends {auth_authen} with the MAIL FROM macros.
        c.macros(b'M', &[("{auth_authen}", u)]).await.unwrap();
    }
    let env = Envelope {
        from: "alice@example.org",
        rcpts: &["bob@example.net"],
        queue_id: Some("5SIGN1"),
    };
    let r = c.send_message(&env, MESSAGE.as_bytes()).await.unwrap();
    c.quit().await.unwrap();
    r
}

fn inserted(r: &Response) -> Vec<(u32, String)> {
    r.modifications
        .iter()
        .filter_map(|m| match m {
            Reply::InsertHeader { index, name, value }
                if name == &Bytes::from_static(b"DKIM-Signature") =>
            {
                Some((
                    *index,
                    String::from_utf8_lossy(value).trim_start().to_string(),
                ))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_session_gets_a_signature_on_top() {
    let mut s = start();
    let r = session(&s, 0x1ff, Some("alice@example.org")).await;
    assert_eq!(r.terminal, Reply::Accept);
    let sigs = inserted(&r);
    assert_eq!(sigs.len(), 1, "{:?}", r.modifications);
    let (index, value) = &sigs[0];
    assert_eq!(*index, 0);
    assert!(
        value.contains("d=example.org") && value.contains("s=rsa2048"),
        "{value}"
    );
    // What the MTA delivers: the signature first, then the message.
    let delivered = format!(
        "DKIM-Signature: {}\r\n{MESSAGE}",
        value.replace('\n', "\r\n")
    );
    assert!(verifies(delivered.as_bytes()), "{delivered}");
    assert!(!verifies(delivered.replace("attached", "lost").as_bytes()));
    let line = s.wait_log("5SIGN1");
    assert!(line.contains("DKIM_SIGNED"), "{line}");
    // Rspamd's symbol, with its `domain:s=selector`, is in the X-Spamd-Result header too.
    let result = spamd_result(&r).expect("X-Spamd-Result added");
    assert!(
        result.contains("DKIM_SIGNED(0.00)[example.org:s=rsa2048]"),
        "{result}"
    );
}

/// The value of the `X-Spamd-Result` header the milter added or inserted.
fn spamd_result(r: &Response) -> Option<String> {
    r.modifications.iter().find_map(|m| match m {
        Reply::AddHeader { name, value } | Reply::InsertHeader { name, value, .. }
            if name == &Bytes::from_static(b"X-Spamd-Result") =>
        {
            Some(String::from_utf8_lossy(value).to_string())
        }
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_signature_without_header_changes_or_authentication() {
    let s = start();
    // The MTA granted no header additions: nothing is inserted, the mail passes.
    let r = session(&s, 0x40, Some("alice@example.org")).await;
    assert_eq!(r.terminal, Reply::Accept);
    assert!(inserted(&r).is_empty(), "{:?}", r.modifications);
    // Unauthenticated, from no local address: inbound mail is not signed.
    let r = session(&s, 0x1ff, None).await;
    assert!(inserted(&r).is_empty(), "{:?}", r.modifications);
    // A user of another domain may not sign for example.org.
    let r = session(&s, 0x1ff, Some("mallory@example.com")).await;
    assert!(inserted(&r).is_empty(), "{:?}", r.modifications);
}

#[test]
fn checkv2_returns_dkim_signature() {
    let s = start();
    let headers = [
        ("From", "alice@example.org"),
        ("Rcpt", "bob@example.net"),
        ("IP", "198.51.100.20"),
        ("User", "alice@example.org"),
    ];
    let r = post(s.http, "/checkv2", &headers, MESSAGE.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let sig = j["dkim-signature"]
        .as_str()
        .expect("dkim-signature string")
        .to_string();
    // No `Flags: milter`: folded with CRLF, as Rspamd does for other clients.
    assert!(
        sig.contains("\r\n\t") && sig.contains("d=example.org"),
        "{sig}"
    );
    assert!(verifies(
        format!("DKIM-Signature: {sig}\r\n{MESSAGE}").as_bytes()
    ));
    // DKIM_SIGNED in the reply's symbols and in its X-Spamd-Result, as Rspamd's reply has it.
    let signed = &j["symbols"]["DKIM_SIGNED"];
    assert_eq!(signed["options"][0], "example.org:s=rsa2048", "{j}");
    assert_eq!(signed["score"].as_f64(), Some(0.0), "{j}");
    let result = j["milter"]["add_headers"]["X-Spamd-Result"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(
        result.contains("DKIM_SIGNED(0.00)[example.org:s=rsa2048]"),
        "{j}"
    );
    // With `Flags: milter` the folds are bare LF.
    let mut milter = headers.to_vec();
    milter.push(("Flags", "milter"));
    let j = post(s.http, "/checkv2", &milter, MESSAGE.as_bytes()).json();
    let sig = j["dkim-signature"].as_str().unwrap();
    assert!(sig.contains("\n\t") && !sig.contains('\r'), "{sig}");
    // Without `User` and from a remote address: not signed.
    let j = post(s.http, "/checkv2", &headers[..3], MESSAGE.as_bytes()).json();
    assert!(j.get("dkim-signature").is_none(), "{j}");
    assert!(Path::new(&root().join("tests/keys/rsa2048.key")).exists());
}

/// sluice forward mode in front of a signing sluice scanner: the scanner's
/// `dkim-signature` crosses `/checkv2` and the front inserts it on top.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_mode_inserts_the_upstreams_signature() {
    let scanner = start();
    let proxy = format!(
        "upstream \"scan\" {{ default = yes; hosts = \"{}\"; timeout = 10s; }}\n",
        scanner.http
    );
    let front = Sluice::start(&[("local.d/worker-proxy.inc", proxy.as_str())]);
    let r = session(&front, 0x1ff, Some("alice@example.org")).await;
    assert_eq!(r.terminal, Reply::Accept);
    let sigs = inserted(&r);
    assert_eq!(sigs.len(), 1, "{:?}", r.modifications);
    assert_eq!(sigs[0].0, 0);
    let delivered = format!(
        "DKIM-Signature: {}\r\n{MESSAGE}",
        sigs[0].1.replace('\n', "\r\n")
    );
    assert!(verifies(delivered.as_bytes()), "{delivered}");
}
