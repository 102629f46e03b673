//! The HTTP listener under attack, on the real daemon with the shipped
//! limits: 20 zstd bombs (a few KiB that inflate to ~49 MB each), 20
//! connections that stall mid-body after sending ~49 MB, and 2,000 idle
//! keep-alive connections, added one after the other and all held at once.
//! Throughout, the daemon's RSS stays under 400 MB and a normal message
//! through the milter is answered in under a second. The figures measured
//! are printed (`cargo test --test http_hostile -- --nocapture`).
use crate::support::http as http_support;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_support::{read_response, Sluice};
use sluice_proto::milter::client::{Envelope, MtaClient};
use sluice_proto::milter::optneg::OptNeg;
use sluice_proto::milter::Reply;

const RSS_LIMIT_MB: u64 = 400;
const ANSWER_LIMIT: Duration = Duration::from_secs(1);
const BODY: usize = 49_000_000;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Samples the daemon's RSS every 50 ms and keeps the peak.
struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let (peak, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kb(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssWatch {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn peak_mb(&self) -> u64 {
        self.peak.load(Ordering::Relaxed) / 1024
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One normal message through the milter: the time to its final answer.
async fn milter_answer(addr: SocketAddr, n: usize) -> Duration {
    let offer = OptNeg {
        version: 6,
        actions: 0x1ff,
        protocol: 0x1f_ffff,
    };
    let msg = format!(
        "From: a@example.org\r\nTo: b@example.net\r\nSubject: lunch {n}\r\n\
         Message-ID: <{n}@example.org>\r\n\r\nSee you at noon.\r\n"
    );
    let started = Instant::now();
    let mut c = MtaClient::connect_tcp(addr).await.unwrap();
    c.negotiate(offer).await.unwrap();
    let qid = format!("H{n}");
    let env = Envelope {
        from: "a@example.org",
        rcpts: &["b@example.net"],
        queue_id: Some(&qid),
    };
    let r = c.send_message(&env, msg.as_bytes()).await.unwrap();
    let took = started.elapsed();
    if let Reply::ReplyCode(text) = &r.terminal {
        assert!(!text.starts_with(b"4"), "{}", String::from_utf8_lossy(text));
    }
    let _ = c.quit().await;
    took
}

/// The slowest of three milter answers, asserted under the limit.
async fn assert_milter_answers(s: &Sluice, phase: &str, base: usize) -> Duration {
    let mut worst = Duration::ZERO;
    for i in 0..3 {
        worst = worst.max(milter_answer(s.milter, base + i).await);
    }
    eprintln!("{phase}: slowest milter answer {worst:?}");
    assert!(
        worst < ANSWER_LIMIT,
        "{phase}: milter answer took {worst:?}"
    );
    worst
}

/// A zstd request of a few KiB that inflates to ~49 MB of text lines; the
/// connection is held until the daemon answers.
fn bomb(addr: SocketAddr, packed: Arc<Vec<u8>>) -> std::thread::JoinHandle<Option<u16>> {
    std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).ok()?;
        let head = format!(
            "POST /checkv2 HTTP/1.1\r\nHost: x\r\nCompression: zstd\r\nContent-Length: {}\r\n\r\n",
            packed.len()
        );
        c.write_all(head.as_bytes()).ok()?;
        c.write_all(&packed).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(300))).ok()?;
        Some(read_response(&mut BufReader::new(c)).status)
    })
}

/// Sends a head declaring more than it sends, ~49 MB of body, then stalls;
/// returns the connection (or `None` if the daemon cut it off early).
fn stalled(addr: SocketAddr) -> std::thread::JoinHandle<Option<TcpStream>> {
    std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).ok()?;
        c.set_write_timeout(Some(Duration::from_secs(10))).ok()?;
        let head = format!(
            "POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            BODY + 1_000_000
        );
        c.write_all(head.as_bytes()).ok()?;
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..BODY / chunk.len() {
            if c.write_all(&chunk).is_err() {
                return Some(c);
            }
        }
        Some(c)
    })
}

/// A connection that completed one `/ping` and stays open, idle.
fn keep_alive(addr: SocketAddr) -> Option<TcpStream> {
    let mut c = TcpStream::connect(addr).ok()?;
    c.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    c.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let r = read_response(&mut BufReader::new(c.try_clone().ok()?));
    (r.status == 200).then_some(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_attacks_leave_memory_bounded_and_the_milter_answering() {
    // 2,000 client sockets here, as many accepted ones in the daemon.
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let s = Sluice::start(&[]);
    let pid = s.pid();
    let watch = RssWatch::start(pid);
    assert_milter_answers(&s, "idle", 0).await;
    eprintln!("idle: RSS {} MB, {} fds", rss_kb(pid) / 1024, open_fds(pid));

    let lines = "a".repeat(76) + "\r\n";
    let text = format!("Subject: bomb\r\n\r\n{}", lines.repeat(BODY / lines.len()));
    let packed = Arc::new(zstd::bulk::compress(text.as_bytes(), 3).unwrap());
    drop(text);
    eprintln!("bomb: {} bytes inflating to {BODY}", packed.len());
    let bombs: Vec<_> = (0..20).map(|_| bomb(s.http, packed.clone())).collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_milter_answers(&s, "20 zstd bombs", 10).await;
    eprintln!("bombs: RSS peak {} MB", watch.peak_mb());

    let stalls: Vec<_> = (0..20).map(|_| stalled(s.http)).collect();
    let stalls: Vec<TcpStream> = stalls
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    assert_milter_answers(&s, "+ 20 stalled bodies", 20).await;
    eprintln!(
        "stalled ({} held): RSS peak {} MB",
        stalls.len(),
        watch.peak_mb()
    );

    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        if let Some(c) = keep_alive(s.http) {
            idle.push(c);
        }
    }
    assert_eq!(idle.len(), 2000, "every keep-alive connection was served");
    let fds = open_fds(pid);
    let worst = assert_milter_answers(&s, "+ 2000 idle keep-alive", 30).await;
    let peak = watch.peak_mb();
    eprintln!("all held: RSS peak {peak} MB, daemon fds {fds}, slowest milter answer {worst:?}");
    assert!(peak < RSS_LIMIT_MB, "RSS peaked at {peak} MB");
    assert!(fds < 1024 + 128 + 1024 + 256, "fds {fds} within the caps");

    let statuses: Vec<Option<u16>> = bombs.into_iter().map(|b| b.join().unwrap()).collect();
    eprintln!("bomb answers: {statuses:?}");
    // Each got an explicit answer: a verdict, the scan deadline's 500, or
    // the budget's 503.
    assert!(
        statuses.iter().all(|s| matches!(s, Some(200 | 500 | 503))),
        "{statuses:?}"
    );
    drop((stalls, idle));
}
