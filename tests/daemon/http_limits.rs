//! The HTTP listener's limits on the real daemon: a head of many `Rcpt`
//! lines is taken up to `max_header_size` and 2048 lines and refused past
//! either, a stalled body is cut off after `body_timeout`, the connection
//! cap closes the oldest idle connection for a new one and refuses when all
//! are busy, and the body budget refuses what would go past it, zstd output
//! included.
use crate::support::http as http_support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use http_support::{post, read_response, request, send, Sluice};

/// `n` recipients with addresses of `len` bytes each.
fn rcpts(n: usize, len: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let local = format!("user{i:05}-{}", "x".repeat(len));
            format!("<{}@example.org>", &local[..len - 12])
        })
        .collect()
}

fn scan_request(rcpts: &[String], body: &[u8]) -> Vec<u8> {
    let headers: Vec<(&str, &str)> = rcpts.iter().map(|r| ("Rcpt", r.as_str())).collect();
    request("POST", "/checkv2", &headers, body)
}

#[test]
fn thousand_recipients_pass_and_the_head_budget_holds() {
    let limits = "max_header_size = 64kb;\n";
    let mut s = Sluice::start(&[("local.d/worker-normal.inc", limits)]);
    let msg = http_support::ham_message();
    // 1000 recipients of 48 bytes: 55 KiB of head, 1000 header lines.
    let ok = send(s.http, &scan_request(&rcpts(1000, 48), &msg));
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.json()["action"].is_string(), "{}", ok.text());
    s.wait_log("rcpts=1000");
    // Past the budget: refused with 431, as hyper answers an oversize head.
    let over = send(s.http, &scan_request(&rcpts(1500, 48), &msg));
    assert_eq!(over.status, 431);
}

#[test]
fn lines_past_the_line_table_are_refused_within_the_byte_budget() {
    let s = Sluice::start(&[]);
    let msg = http_support::ham_message();
    // Twice Postfix's recipient limit of short addresses: taken.
    let ok = send(s.http, &scan_request(&rcpts(2000, 22), &msg));
    assert_eq!(ok.status, 200, "{}", ok.text());
    // More lines than the table holds, a fraction of the byte budget: 431.
    let over = send(s.http, &scan_request(&rcpts(2100, 22), &msg));
    assert_eq!(over.status, 431);
}

#[test]
fn default_head_budget_takes_postfix_worth_of_long_addresses() {
    let s = Sluice::start(&[]);
    // Postfix's default recipient limit, each address near the longest.
    let many = rcpts(1000, 250);
    let r = send(s.http, &scan_request(&many, &http_support::ham_message()));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A request that sends its head and part of its body, then nothing.
fn stall(addr: std::net::SocketAddr, declared: usize, sent: usize) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    let head = format!("POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n");
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&vec![b'a'; sent]).unwrap();
    c
}

#[test]
fn a_stalled_body_is_cut_off() {
    let limits = "body_timeout = 1s;\n";
    let s = Sluice::start(&[("local.d/worker-normal.inc", limits)]);
    let started = Instant::now();
    let c = stall(s.http, 100_000, 1000);
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let r = read_response(&mut BufReader::new(c));
    assert_eq!(r.status, 408, "{}", r.text());
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
}

/// Opens a connection and completes one `/ping` on it (kept alive).
fn idle(addr: std::net::SocketAddr) -> TcpStream {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let r = read_response(&mut BufReader::new(c.try_clone().unwrap()));
    assert_eq!(r.status, 200);
    c
}

/// Whether the server closed `c` (EOF) within a few seconds.
fn closed(c: &mut TcpStream) -> bool {
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 16];
    match c.read(&mut b) {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn the_cap_closes_the_oldest_idle_then_refuses_when_all_are_busy() {
    let limits = "max_connections = 3;\nbody_timeout = 30s;\n";
    let s = Sluice::start(&[("local.d/worker-normal.inc", limits)]);
    // The oldest is still sending its head (slowly, say): idle too.
    let mut first = TcpStream::connect(s.http).unwrap();
    first
        .write_all(b"POST /checkv2 HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut second = idle(s.http);
    let _third = idle(s.http);
    // A fourth: served, and the first (oldest, idle) is closed for it at
    // once, long before its header_timeout (60 s).
    let fourth = idle(s.http);
    assert!(closed(&mut first), "the oldest idle connection was closed");
    // A fifth: the next oldest, idle after its request, goes.
    let fifth = idle(s.http);
    assert!(closed(&mut second), "then the next oldest");
    drop((fourth, fifth, _third));
    // Three requests in progress (stalled bodies): a new one is refused.
    let busy: Vec<TcpStream> = (0..3).map(|_| stall(s.http, 100_000, 10)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let r = post(s.http, "/checkv2", &[], b"x");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("Too many connections"), "{}", r.text());
    drop(busy);
}

#[test]
fn the_body_budget_refuses_what_would_exceed_it() {
    // Each request holds its body and as much again for its scan; a zstd
    // one also its decoder (8.25 MiB) while it inflates.
    let options = "max_message = 4mb;\nhttp_body_budget = 20mb;\n";
    let s = Sluice::start(&[("local.d/options.inc", options)]);
    // 15 MiB held by five stalled bodies: 3 MiB (6 with its scan) do not fit.
    let held: Vec<TcpStream> = (0..5).map(|_| stall(s.http, 3_500_000, 3 << 20)).collect();
    std::thread::sleep(Duration::from_secs(1));
    let r = post(s.http, "/checkv2", &[], &vec![b'a'; 3 << 20]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("budget"), "{}", r.text());
    // Nor does a zstd body's decoder.
    let zstd = [("Compression", "zstd")];
    let small = zstd::bulk::compress(&vec![b'a'; 1 << 20], 19).unwrap();
    let r = post(s.http, "/checkv2", &zstd, &small);
    assert_eq!(r.status, 503, "{}", r.text());
    // Once the stalled bodies are gone, both pass, and a bomb that
    // inflates past max_message is stopped at it.
    drop(held);
    std::thread::sleep(Duration::from_secs(1));
    let r = post(s.http, "/checkv2", &[], &vec![b'a'; 3 << 20]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(s.http, "/checkv2", &zstd, &small);
    assert_eq!(r.status, 200, "{}", r.text());
    let bomb = zstd::bulk::compress(&vec![b'a'; 8 << 20], 19).unwrap();
    let r = post(s.http, "/checkv2", &zstd, &bomb);
    assert_eq!(r.status, 413, "{}", r.text());
}
