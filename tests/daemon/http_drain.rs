//! SIGTERM while HTTP clients keep sending scans: every request that
//! reached the daemon is answered, none is reset or closed unanswered
//! (requests in flight, and connections still in the listen backlog when
//! it closes), and the daemon exits 0.
use crate::support::http as http_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_support::{request, Sluice};

#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    /// Reset, or closed before the answer: the failures.
    lost: AtomicUsize,
    /// Connects refused once the listener closed: the client stops.
    refused: AtomicUsize,
}

/// One scan per connection, as a client closing after each answer does.
fn client(addr: SocketAddr, stop: &AtomicBool, tally: &Tally, scan: &[u8]) {
    while !stop.load(Ordering::Relaxed) {
        let mut c = match TcpStream::connect(addr) {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                tally.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => panic!("connect: {e}"),
        };
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut reply = Vec::new();
        let outcome = c.write_all(scan).and_then(|()| c.read_to_end(&mut reply));
        match outcome {
            Ok(_) if reply.starts_with(b"HTTP/1.1 200") => {
                tally.answered.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                eprintln!("lost: {other:?}, {} bytes of reply", reply.len());
                tally.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[test]
fn sigterm_under_sixteen_http_clients_loses_no_request_and_exits_zero() {
    let mut s = Sluice::start(&[]);
    let scan = request(
        "POST",
        "/checkv2",
        &[("Connection", "close")],
        &http_support::ham_message(),
    );
    let scan = Arc::new(scan);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (stop, tally, scan, addr) = (stop.clone(), tally.clone(), scan.clone(), s.http);
            std::thread::spawn(move || client(addr, &stop, &tally, &scan))
        })
        .collect();
    let started = Instant::now();
    while tally.answered.load(Ordering::Relaxed) < 200
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(40)).expect("exits");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (answered, lost, refused) = (
        tally.answered.load(Ordering::Relaxed),
        tally.lost.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
    );
    eprintln!("answered={answered} lost={lost} refused={refused}");
    assert!(status.success(), "{status}");
    assert!(answered >= 200, "{answered}");
    assert_eq!(lost, 0, "requests reset or closed unanswered");
    assert!(
        s.log()
            .iter()
            .any(|l| l.contains("all HTTP connections finished")),
        "{:?}",
        s.log()
    );
}
