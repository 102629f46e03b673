//! A small load generator for Rspamd's HTTP protocol: replays message files
//! as `POST /checkv2` at a fixed concurrency and reports throughput and
//! latency. Keeps connections alive when the server does (sluice), and
//! reconnects when the server closes after each reply (Rspamd).
//!
//! `cargo run --release --example http_load -- [--envelope] [--spread N] ADDR CONCURRENCY COUNT DIR...`
//!
//! `--envelope` sends each message with the SMTP envelope `sluice bench milter` gives it:
//! client 127.0.0.1, HELO client.bench.test, the sender from `Return-Path` (else `From`),
//! the recipient from `Delivered-To` (else `To`), as Rspamd's `IP`, `Helo`, `From` and
//! `Rcpt` headers, so that checks of the envelope (SPF, DMARC) see the same on both protocols.
//!
//! `--spread N` (with `--envelope`) gives the message at position `i` of the list a client
//! address of the documentation networks and the recipient `rcpt<i mod N>@bench.test`
//! instead: the state modules (greylisting, rate limits) then see many clients and N
//! mailboxes, as on a real site, rather than one local client (which they skip) and the
//! few recipients of a corpus (whose buckets would fill). The same file gets the same
//! envelope in every run.
//!
//! The report counts the actions of the replies (`"actions":{"no action":N,...}`).
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

type Conn = BufReader<TcpStream>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let with_envelope = args.first().is_some_and(|a| a == "--envelope");
    if with_envelope {
        args.remove(0);
    }
    let mut spread = None;
    if with_envelope && args.first().is_some_and(|a| a == "--spread") && args.len() > 1 {
        let n: usize = args[1].parse()?;
        spread = Some(n.max(1));
        args.drain(..2);
    }
    if args.len() < 4 {
        return Err(
            "usage: http_load [--envelope] [--spread N] ADDR CONCURRENCY COUNT DIR...".into(),
        );
    }
    let addr = args[0].clone();
    let concurrency: usize = args[1].parse()?;
    let count: usize = args[2].parse()?;
    let envelope = match (with_envelope, spread) {
        (false, _) => Envelope::None,
        (true, None) => Envelope::Headers,
        (true, Some(n)) => Envelope::Spread(n),
    };
    let messages = Arc::new(load(&args[3..], envelope)?);
    if messages.is_empty() {
        return Err("no message files".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(run(addr, concurrency, count, messages))?;
    println!("{report}");
    Ok(())
}

/// A message and the request headers it is sent with.
struct Request {
    headers: String,
    body: Vec<u8>,
}

/// The envelope headers sent with each message.
#[derive(Clone, Copy)]
enum Envelope {
    None,
    /// `--envelope`: from the message's own headers.
    Headers,
    /// `--envelope --spread N`.
    Spread(usize),
}

fn load(dirs: &[String], envelope: Envelope) -> std::io::Result<Vec<Request>> {
    let mut out = Vec::new();
    for d in dirs {
        let mut files: Vec<_> = std::fs::read_dir(Path::new(d))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let body = std::fs::read(f)?;
            let headers = match envelope {
                Envelope::None => String::new(),
                Envelope::Headers => envelope_headers(&body, None),
                Envelope::Spread(n) => envelope_headers(&body, Some((out.len(), n))),
            };
            out.push(Request { headers, body });
        }
    }
    Ok(out)
}

/// Per-worker results.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    connections: usize,
    actions: BTreeMap<String, usize>,
}

async fn run(
    addr: String,
    concurrency: usize,
    count: usize,
    messages: Arc<Vec<Request>>,
) -> Result<String, Box<dyn std::error::Error>> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (addr, next, messages) = (addr.clone(), next.clone(), messages.clone());
            tokio::spawn(async move { worker(&addr, &next, count, &messages).await })
        })
        .collect();
    let mut all = Tally::default();
    for w in workers {
        let t = w.await?;
        all.latencies.extend(t.latencies);
        all.errors += t.errors;
        all.connections += t.connections;
        for (a, n) in t.actions {
            *all.actions.entry(a).or_default() += n;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.latencies.sort();
    let pct = |p: f64| {
        let l = &all.latencies;
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let actions: Vec<String> = all
        .actions
        .iter()
        .map(|(a, n)| format!("\"{a}\":{n}"))
        .collect();
    Ok(format!(
        "{{\"concurrency\":{concurrency},\"requests\":{},\"errors\":{},\"connections\":{},\
         \"seconds\":{elapsed:.3},\"rps\":{:.1},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\
         \"actions\":{{{}}}}}",
        all.latencies.len(),
        all.errors,
        all.connections,
        all.latencies.len() as f64 / elapsed,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        actions.join(","),
    ))
}

async fn worker(addr: &str, next: &AtomicUsize, count: usize, messages: &[Request]) -> Tally {
    let mut t = Tally::default();
    let mut conn: Option<Conn> = None;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count {
            return t;
        }
        let msg = &messages[i % messages.len()];
        let began = Instant::now();
        // A kept-alive connection the server closed meanwhile: retry once on a new one.
        let mut outcome = Err(std::io::Error::other("not sent"));
        for _ in 0..2 {
            if conn.is_none() {
                match TcpStream::connect(addr).await {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        conn = Some(BufReader::new(s));
                        t.connections += 1;
                    }
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            let c = conn.as_mut().expect("connected above");
            outcome = exchange(c, msg).await;
            if outcome.is_ok() {
                break;
            }
            conn = None;
        }
        match outcome {
            Ok((keep, action)) => {
                t.latencies.push(began.elapsed());
                *t.actions.entry(action).or_default() += 1;
                if !keep {
                    conn = None;
                }
            }
            Err(_) => t.errors += 1,
        }
    }
}

/// One request and its reply: whether the connection stays open, and the reply's action.
async fn exchange(c: &mut Conn, msg: &Request) -> std::io::Result<(bool, String)> {
    let head = format!(
        "POST /checkv2 HTTP/1.1\r\nHost: 127.0.0.1\r\n{}Content-Length: {}\r\n\r\n",
        msg.headers,
        msg.body.len()
    );
    c.get_mut().write_all(head.as_bytes()).await?;
    c.get_mut().write_all(&msg.body).await?;
    let mut line = String::new();
    if c.read_line(&mut line).await? == 0 {
        return Err(std::io::Error::other("closed before the reply"));
    }
    if !line.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!("status: {}", line.trim())));
    }
    let (mut len, mut keep) = (0usize, true);
    loop {
        line.clear();
        c.read_line(&mut line).await?;
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        if k.eq_ignore_ascii_case("content-length") {
            len = v.trim().parse().map_err(std::io::Error::other)?;
        } else if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
            keep = false;
        }
    }
    let mut body = vec![0; len];
    c.read_exact(&mut body).await?;
    Ok((keep, action(&body)))
}

/// The `action` of a `/checkv2` reply, `?` when it has none.
fn action(body: &[u8]) -> String {
    const KEY: &[u8] = b"\"action\":";
    body.windows(KEY.len())
        .position(|w| w == KEY)
        .and_then(|at| {
            let rest = String::from_utf8_lossy(&body[at + KEY.len()..]).into_owned();
            let rest = rest.trim_start().strip_prefix('"')?.to_string();
            rest.split('"').next().map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

/// `IP`, `Helo`, `From` and `Rcpt` request headers, as `sluice bench milter` would send the
/// message (its fixed client, its fallback addresses); with `spread` (the message's
/// position, N), a client and a recipient of its own (`--spread`).
fn envelope_headers(raw: &[u8], spread: Option<(usize, usize)>) -> String {
    let from = header_address(raw, &["return-path", "from"]).unwrap_or("bench@bench.test".into());
    let (ip, rcpt) = match spread {
        Some((i, n)) => (spread_ip(i), format!("rcpt{}@bench.test", i % n)),
        None => (
            "127.0.0.1".to_string(),
            header_address(raw, &["delivered-to", "to"]).unwrap_or("postmaster@bench.test".into()),
        ),
    };
    format!("IP: {ip}\r\nHelo: client.bench.test\r\nFrom: {from}\r\nRcpt: {rcpt}\r\n")
}

/// The `i`th client address: the three IPv4 documentation networks in turn, which no
/// scanner counts as local and none routes.
fn spread_ip(i: usize) -> String {
    const NETS: [&str; 3] = ["192.0.2", "198.51.100", "203.0.113"];
    format!("{}.{}", NETS[i % 3], (i / 3) % 254 + 1)
}

/// The address in the first of `names` present in the header (`<a@b>`, else a word with `@`).
fn header_address(raw: &[u8], names: &[&str]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines().take_while(|l| !l.is_empty()) {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
            _ => lines.push(line.to_string()),
        }
    }
    names.iter().find_map(|name| {
        lines.iter().find_map(|line| {
            let (n, value) = line.split_once(':')?;
            if !n.trim().eq_ignore_ascii_case(name) {
                return None;
            }
            let addr = match (value.find('<'), value.find('>')) {
                (Some(a), Some(b)) if a < b => &value[a + 1..b],
                _ => value.split_whitespace().find(|w| w.contains('@'))?,
            };
            addr.contains('@').then(|| addr.trim().to_string())
        })
    })
}
