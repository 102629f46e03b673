//! The pre-HTTP protocols on the scan listener of a real `sluice run`:
//! `CHECK RSPAMC/1.3` as Exim sends it, `SYMBOLS SPAMC/1.2` as spamc sends
//! it, each answered in its text layout and closed; HTTP on the same
//! listener is unaffected.
use crate::support::http as http_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use http_support::*;

fn exchange(s: &Sluice, chunks: &[&[u8]], half_close: bool) -> String {
    let mut c = TcpStream::connect(s.http).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    for chunk in chunks {
        c.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    if half_close {
        c.shutdown(Shutdown::Write).unwrap();
    }
    let mut out = String::new();
    c.read_to_string(&mut out)
        .expect("the server closes after the reply");
    out
}

/// Exim's request, header for header (`spam.c`, `variant=rspamd`).
fn exim_request(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "CHECK RSPAMC/1.3\r\nContent-length: {}\r\nQueue-Id: 1aBcDe-000001-AB\r\n\
         From: <a@example.org>\r\nRecipient-Number: 1\r\nRcpt: <b@example.net>\r\n\
         Helo: mail.example.org\r\nIP: 192.0.2.1\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn exim_gets_rspamds_text_reply() {
    // Greylisting off: the ham below is mild enough to be greylisted, which would make
    // its verdict a soft reject rather than the protocol's plain answer compared here.
    let mut s = Sluice::start(&[("local.d/greylist.conf", "enabled = false;\n")]);
    let req = exim_request(&gtube_message());
    // The request line arrives in pieces: detection waits for all of it.
    let out = exchange(&s, &[&req[..3], &req[3..20], &req[20..]], false);
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(lines[0], "RSPAMD/1.3 0 EX_OK", "{out}");
    // What Exim's sscanf needs: "Metric: default; %7s %lf / %lf / %lf".
    let metric = lines[1].strip_prefix("Metric: default; ").expect(&out);
    let fields: Vec<&str> = metric.split(' ').collect();
    assert_eq!(fields[0], "True;");
    assert_eq!((fields[2], fields[4]), ("/", "/"), "{metric}");
    assert!(fields[1].parse::<f64>().is_ok() && fields[3].parse::<f64>().is_ok());
    assert_eq!(lines[2], "Action: reject");
    assert!(lines.contains(&"Symbol: GTUBE(0.00)"), "{out}");
    assert!(out.ends_with("Message-ID: gtube@example.org\r\n"), "{out}");
    s.wait_log("queue_id=\"1aBcDe-000001-AB\"");

    // The same verdict as /checkv2 with the same envelope.
    let out = exchange(&s, &[&exim_request(&ham_message())], false);
    let envelope = [
        ("From", "<a@example.org>"),
        ("Rcpt", "<b@example.net>"),
        ("Helo", "mail.example.org"),
        ("IP", "192.0.2.1"),
    ];
    let v2 = post(s.http, "/checkv2", &envelope, &ham_message()).json();
    assert!(
        out.starts_with("RSPAMD/1.3 0 EX_OK\r\nMetric: default; False; "),
        "{out}"
    );
    let action = format!("\r\nAction: {}\r\n", v2["action"].as_str().unwrap());
    assert!(out.contains(&action), "{out} vs {v2}");
    let metric = format!("False; {:.2} / 15.00 / 0.0", v2["score"].as_f64().unwrap());
    assert!(out.contains(&metric), "{out} vs {v2}");
}

#[test]
fn spamc_gets_spamds_reply_without_a_length() {
    let s = Sluice::start(&[]);
    let mut req = b"SYMBOLS SPAMC/1.2\r\nUser: nobody\r\n\r\n".to_vec();
    req.extend_from_slice(&gtube_message());
    let out = exchange(&s, &[&req], true);
    let (head, body) = out.split_once("\r\n\r\n").expect(&out);
    let head: Vec<&str> = head.split("\r\n").collect();
    assert_eq!(head[0], "SPAMD/1.1 0 EX_OK");
    assert_eq!(head[1], format!("Content-length: {}", body.len()));
    assert!(head[2].starts_with("Spam: True ; "), "{out}");
    assert!(body.split(',').any(|s| s.trim_end() == "GTUBE"), "{body}");
}

#[test]
fn errors_are_not_ok_and_http_still_works() {
    let s = Sluice::start(&[]);
    let out = exchange(
        &s,
        &[b"CHECK RSPAMC/1.3\r\nContent-length: x\r\n\r\n"],
        false,
    );
    assert!(out.starts_with("RSPAMD/1.3 1 EX_ERROR\r\n"), "{out}");
    assert!(out.contains("bad Content-length"), "{out}");
    let r = post(s.http, "/checkv2", &[], &gtube_message());
    assert_eq!(r.json()["action"], "reject");
    let stat = get(s.controller, "/stat", &[]).json();
    assert_eq!(stat["scanned"], 1, "{stat}");
}
