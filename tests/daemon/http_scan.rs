//! The scan listener (Rspamd's normal worker protocol) of a real `sluice
//! run`, over raw sockets: every request header, reply shapes, errors,
//! zstd both ways, chunked bodies, keep-alive, TLS, unix sockets, reload.
use crate::support::http as http_support;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use http_support::*;

#[test]
fn checkv2_fills_the_envelope_and_answers_in_rspamd_shape() {
    let mut s = Sluice::start(&[]);
    let headers = [
        ("From", "<alice@example.org>"),
        ("Rcpt", "bob@example.net, \"c,d\"@example.net"),
        ("rcpt", "<e@example.net>"),
        ("IP", "192.0.2.10"),
        ("Helo", "mail.example.org"),
        ("Hostname", "mail.example.org"),
        ("Queue-Id", "4ABC123"),
        ("User", "alice"),
        ("Deliver-To", "bob@example.net"),
        ("Settings-ID", "inbound"),
        ("Pass", "all"),
        ("Log-Tag", "tag77"),
        ("MTA-Name", "mx1.example.org"),
        ("Raw", "no"),
        ("Flags", "milter,body_block,frobnicate"),
    ];
    let r = post(s.http, "/checkv2", &headers, &gtube_message());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["action"], "reject");
    assert_eq!(j["is_skipped"], true);
    assert_eq!(j["messages"]["smtp_message"], "Gtube pattern");
    assert_eq!(j["message-id"], "gtube@example.org");
    assert_eq!(j["symbols"]["GTUBE"]["name"], "GTUBE");
    assert_eq!(j["thresholds"]["reject"], 15.0);
    assert_eq!(j["required_score"], 15.0);
    let line = s.wait_log("http scanned");
    for want in [
        "queue_id=\"4ABC123\"",
        "log_tag=\"tag77\"",
        "ip=192.0.2.10",
        "from=\"alice@example.org\"",
        "rcpts=3",
        "settings_id=\"inbound\"",
        "action=reject",
        "\"frobnicate\"",
    ] {
        assert!(line.contains(want), "{want} missing in {line}");
    }
}

#[test]
fn ping_errors_and_legacy_shapes() {
    let s = Sluice::start(&[]);
    let r = get(s.http, "/ping", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"pong\r\n"[..]));
    assert_eq!(r.header("content-type"), Some("text/plain"));

    let r = post(s.http, "/nonsense", &[], b"x");
    assert_eq!((r.status, r.reason.as_str()), (500, "invalid command"));
    assert_eq!(
        r.json(),
        serde_json::json!({"error": "invalid command", "error_domain": "protocol-error"})
    );

    for path in ["/check", "/symbols", "/SCAN", "/report_ifspam"] {
        let r = post(s.http, path, &[], &gtube_message());
        assert_eq!(r.status, 200, "{path}");
        let j = r.json();
        assert_eq!(j["default"]["action"], "reject", "{path}");
        assert_eq!(j["default"]["is_spam"], true);
        assert_eq!(j["default"]["GTUBE"]["name"], "GTUBE");
        assert!(j["default"]["GTUBE"].get("metric_score").is_none());
        assert!(j.get("symbols").is_none() && j.get("thresholds").is_none());
        assert!(j.get("rmilter").is_some() && j.get("milter").is_none());
    }

    let r = post(s.http, "/check", &[], &ham_message());
    assert_eq!(r.json()["default"]["is_spam"], false);

    // Folded header values follow the message's CRLF unless `Flags: milter`
    // (or the `Milter` header) says a milter bridge wants bare `\n`.
    let folded = |j: &serde_json::Value, key: &str| {
        j[key]["add_headers"]["X-Spamd-Result"]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("no X-Spamd-Result in {j}"))
            .to_string()
    };
    let no_ids = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: lunch\r\n\r\nhi\r\n";
    let crlf = post(s.http, "/checkv2", &[], no_ids).json();
    assert!(
        folded(&crlf, "milter").contains(";\r\n\tMISSING_"),
        "{crlf}"
    );
    let legacy = post(s.http, "/check", &[], no_ids).json();
    assert!(folded(&legacy, "rmilter").contains(";\r\n\tMISSING_"));
    for flag in [("Flags", "milter"), ("Milter", "yes")] {
        let milter = post(s.http, "/checkv2", &[flag], no_ids).json();
        let v = folded(&milter, "milter");
        assert!(v.contains(";\n\tMISSING_") && !v.contains('\r'), "{v:?}");
    }

    let r = post(s.http, "/checkv2", &[("File", "/etc/passwd")], b"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("not allowed"));
}

#[test]
fn skip_flag_query_parameters_and_skip_path() {
    let mut s = Sluice::start(&[]);
    let r = post(
        s.http,
        "/checkv2?Flags=skip&Queue-Id=QS%201",
        &[],
        &gtube_message(),
    );
    let j = r.json();
    assert_eq!(
        (j["is_skipped"].clone(), j["action"].clone()),
        (true.into(), "no action".into())
    );
    assert_eq!(j["score"], 0.0);
    assert!(j["symbols"].as_object().unwrap().is_empty());
    s.wait_log("queue_id=\"QS 1\"");
    let j = post(s.http, "/skip", &[], &gtube_message()).json();
    assert_eq!(j["is_skipped"], true);
    assert_eq!(j["action"], "no action");
}

#[test]
fn zstd_requests_and_replies() {
    let s = Sluice::start(&[]);
    let msg = gtube_message();
    let plain = post(s.http, "/checkv2", &[], &msg);
    assert!(plain.header("compression").is_none());
    let z = zstd::bulk::compress(&msg, 3).unwrap();
    for header in ["Compression", "Content-Encoding"] {
        let r = post(s.http, "/checkv2", &[(header, "zstd")], &z);
        assert_eq!(r.status, 200, "{header}: {}", r.text());
        assert_eq!(r.header("compression"), Some("zstd"));
        assert_eq!(r.header("content-encoding"), Some("zstd"));
        let body = zstd::bulk::decompress(&r.body, 1 << 20).unwrap();
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(j["action"], "reject", "{header}");
        assert_eq!(j["message-id"], "gtube@example.org");
    }
    for header in [("Accept-Encoding", "gzip, zstd"), ("Flags", "zstd")] {
        let r = post(s.http, "/checkv2", &[header], &msg);
        assert_eq!(r.header("compression"), Some("zstd"), "{header:?}");
        let body = zstd::bulk::decompress(&r.body, 1 << 20).unwrap();
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(j["action"], "reject");
    }
    let r = post(s.http, "/checkv2", &[("Compression", "gzip")], &msg);
    assert_eq!(
        (r.status, r.reason.as_str()),
        (503, "Invalid compression method")
    );
    assert_eq!(r.json()["error_domain"], "task-error");
    let r = post(s.http, "/checkv2", &[("Compression", "zstd")], &msg);
    assert_eq!(r.status, 503);
    assert!(r.reason.starts_with("Decompression error"), "{}", r.reason);
}

#[test]
fn chunked_bodies_size_limit_and_http10() {
    let s = Sluice::start(&[("local.d/options.inc", "max_message = 2k;\n")]);
    let msg = gtube_message();
    let mut chunked = Vec::new();
    for part in msg.chunks(17) {
        chunked.extend(format!("{:x}\r\n", part.len()).into_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let raw = request(
        "POST",
        "/checkv2",
        &[("Transfer-Encoding", "chunked")],
        &chunked,
    );
    let r = send(s.http, &raw);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["action"], "reject");

    let big = [ham_message(), vec![b'x'; 3000]].concat();
    let r = post(s.http, "/checkv2", &[], &big);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.json()["error"].as_str().unwrap().contains("too large"),
        "{}",
        r.text()
    );
    // A small zstd frame that inflates past the limit is refused too.
    let bomb = zstd::bulk::compress(&vec![b'a'; 100_000], 3).unwrap();
    let r = post(s.http, "/checkv2", &[("Compression", "zstd")], &bomb);
    assert_eq!(r.status, 413);

    // HTTP/1.0 without Content-Length: an empty message, then close.
    let mut c = TcpStream::connect(s.http).unwrap();
    c.write_all(b"POST /checkv2 HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut BufReader::new(c));
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(
        (j["score"].clone(), j["action"].clone()),
        (0.0.into(), "no action".into())
    );
    assert!(j.get("message-id").is_none(), "{j}");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let s = Sluice::start(&[]);
    let c = TcpStream::connect(s.http).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    w.write_all(&request("POST", "/checkv2", &[], &gtube_message()))
        .unwrap();
    let first = read_response(&mut r);
    assert_ne!(first.header("connection"), Some("close"));
    w.write_all(&request("GET", "/ping", &[], b"")).unwrap();
    let second = read_response(&mut r);
    // Two pipelined requests in one write: both answered, in order.
    let mut both = request("POST", "/checkv2", &[], &ham_message());
    both.extend(request("POST", "/check", &[], &gtube_message()));
    w.write_all(&both).unwrap();
    let third = read_response(&mut r);
    let fourth = read_response(&mut r);
    assert_eq!(first.json()["action"], "reject");
    assert_eq!(second.body, b"pong\r\n");
    assert_eq!(third.json()["action"], "no action");
    assert_eq!(fourth.json()["default"]["action"], "reject");
}

#[test]
fn reload_applies_to_kept_alive_connections() {
    let mut s = Sluice::start(&[("local.d/actions.conf", "reject = 15;\n")]);
    let c = TcpStream::connect(s.http).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::new(c);
    w.write_all(&request("POST", "/checkv2", &[], &ham_message()))
        .unwrap();
    assert_eq!(read_response(&mut r).json()["required_score"], 15.0);
    std::fs::write(s.path("local.d/actions.conf"), "reject = 42;\n").unwrap();
    s.hup();
    s.wait_log("configuration reloaded");
    w.write_all(&request("POST", "/checkv2", &[], &ham_message()))
        .unwrap();
    assert_eq!(read_response(&mut r).json()["required_score"], 42.0);
}

#[test]
fn verdict_equals_sluice_scan_json() {
    let s = Sluice::start(&[]);
    for rel in ["spam/00001.eml", "ham/00001.eml", "mime/00001.eml"] {
        let path = corpus(rel);
        let Ok(msg) = std::fs::read(&path) else {
            panic!("corpus file {} missing", path.display());
        };
        // As a milter bridge asks, so header folding is `\n\t` as in `sluice scan`.
        let http = post(s.http, "/checkv2", &[("Flags", "milter")], &msg).json();
        let out = std::process::Command::new(crate::support::sluice_bin())
            .args(["scan", "--json"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in [
            "action",
            "score",
            "symbols",
            "message-id",
            "milter",
            "urls",
            "emails",
        ] {
            assert_eq!(http[key], cli[key], "{rel}: {key}");
        }
    }
}

#[test]
fn unix_socket_listener() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("scan.sock");
    let _s = Sluice::start_with(&[], &["--http".into(), format!("unix:{}", sock.display())]);
    let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    c.write_all(&request("POST", "/checkv2", &[], &gtube_message()))
        .unwrap();
    let r = read_response(&mut BufReader::new(c));
    assert_eq!(r.json()["action"], "reject");
}
