//! `sluice bench milter`: replay a corpus through any milter, with N
//! concurrent connections, and report throughput, latency and verdicts.
//!
//! Each worker opens a session, sends up to `messages_per_connection`
//! messages on it (as Postfix reuses a milter connection for one SMTP
//! session's messages), closes it with Q and opens the next. A session that
//! breaks is counted as a protocol error and its message as lost; the worker
//! goes on with a new connection, so one bad message cannot stall the run.
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sluice_proto::milter::MtaClient;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use super::addr::MilterAddr;
use super::corpus;
use super::session::{self, Jobs};
use super::tally::Tally;
use super::{BenchError, BenchReport};

/// What to replay, where, and how hard.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `inet:HOST:PORT`, `HOST:PORT` or `unix:/path` (loopback only).
    pub addr: String,
    /// Concurrent milter connections.
    pub concurrency: usize,
    /// Messages to send; 0 = every file once.
    pub count: usize,
    /// Directories (or single files) holding one message per file.
    pub dirs: Vec<PathBuf>,
    /// Messages per milter connection before Q and a fresh connection.
    pub messages_per_connection: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            addr: "inet:127.0.0.1:11332".into(),
            concurrency: 8,
            count: 0,
            dirs: Vec::new(),
            messages_per_connection: 10,
        }
    }
}

/// Runs the benchmark. Fails only if nothing can be measured (bad options,
/// unreadable corpus, milter unreachable); per-message trouble is counted.
pub async fn bench_milter(opts: &BenchOptions) -> Result<BenchReport, BenchError> {
    bench_milter_with_progress(opts, false).await
}

/// [`bench_milter`] with a progress bar of the messages sent (on a terminal only).
pub async fn bench_milter_with_progress(
    opts: &BenchOptions,
    progress: bool,
) -> Result<BenchReport, BenchError> {
    check(opts)?;
    let addr = MilterAddr::parse(&opts.addr)?;
    let messages = corpus::load(&opts.dirs)?;
    probe(&addr).await?;
    let total = if opts.count == 0 {
        messages.len()
    } else {
        opts.count
    };
    let jobs = Jobs {
        corpus: &messages,
        total,
        next: AtomicUsize::new(0),
    };
    let started = Instant::now();
    let workers = (0..opts.concurrency).map(|_| worker(&addr, &jobs, opts.messages_per_connection));
    let bar = crate::progress::bar(total as u64, progress);
    // The bar follows the messages handed out; the ticker never ends, so the workers' end wins.
    let ticker = async {
        loop {
            bar.set_position(jobs.next.load(Ordering::Relaxed).min(total) as u64);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };
    let tallies = tokio::select! {
        t = futures_util::future::join_all(workers) => t,
        _ = ticker => unreachable!("the progress ticker never ends"),
    };
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let mut all = Tally::default();
    for t in tallies {
        all.merge(t);
    }
    Ok(BenchReport::new(
        addr.to_string(),
        opts.concurrency,
        total as u64,
        all,
        elapsed,
    ))
}

fn check(opts: &BenchOptions) -> Result<(), BenchError> {
    let bad = |option, reason: &str| BenchError::BadOption {
        option,
        reason: reason.into(),
    };
    if opts.concurrency == 0 {
        return Err(bad("concurrency", "must be at least 1"));
    }
    if opts.messages_per_connection == 0 {
        return Err(bad("messages_per_connection", "must be at least 1"));
    }
    if opts.dirs.is_empty() {
        return Err(bad("dirs", "give at least one directory of messages"));
    }
    Ok(())
}

/// One session before the clock starts: a wrong address or a dead milter is
/// a clear error instead of a report full of failures.
async fn probe(addr: &MilterAddr) -> Result<(), BenchError> {
    let unreachable = |reason: String| BenchError::Unreachable {
        addr: addr.to_string(),
        reason,
    };
    match connect(addr)
        .await
        .map_err(|e| unreachable(e.to_string()))?
    {
        Client::Tcp(mut c) => {
            session::open(&mut c)
                .await
                .map_err(|e| unreachable(e.error))?;
            let _ = c.quit().await;
        }
        Client::Unix(mut c) => {
            session::open(&mut c)
                .await
                .map_err(|e| unreachable(e.error))?;
            let _ = c.quit().await;
        }
    }
    Ok(())
}

enum Client {
    Tcp(MtaClient<TcpStream>),
    Unix(MtaClient<UnixStream>),
}

async fn connect(addr: &MilterAddr) -> std::io::Result<Client> {
    Ok(match addr {
        MilterAddr::Tcp(sa) => Client::Tcp(MtaClient::connect_tcp(*sa).await?),
        MilterAddr::Unix(path) => Client::Unix(MtaClient::connect_unix(path).await?),
    })
}

/// One concurrent lane: sessions one after another until the jobs run out.
async fn worker(addr: &MilterAddr, jobs: &Jobs<'_>, per_conn: usize) -> Tally {
    let mut tally = Tally::default();
    while !jobs.done() {
        match connect(addr).await {
            Ok(Client::Tcp(c)) => cycle(c, jobs, per_conn, &mut tally).await,
            Ok(Client::Unix(c)) => cycle(c, jobs, per_conn, &mut tally).await,
            Err(e) => lose_one(jobs, &mut tally, format!("connect: {e}")),
        }
    }
    tally
}

/// A failure before any message was in flight still costs the next message,
/// so that a dead milter ends the run instead of spinning forever.
fn lose_one(jobs: &Jobs<'_>, tally: &mut Tally, error: String) {
    tally.error(error);
    let _ = jobs.claim();
}

async fn cycle<S>(mut client: MtaClient<S>, jobs: &Jobs<'_>, per_conn: usize, tally: &mut Tally)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tally.sessions += 1;
    if let Err(e) = session::open(&mut client).await {
        return lose_one(jobs, tally, e.error);
    }
    match session::run_messages(&mut client, jobs, per_conn, tally).await {
        Ok(_) => {
            // Postfix ends a session with a second A, then Q.
            let _ = client.abort().await;
            let _ = client.quit().await;
        }
        Err(e) if e.in_flight => tally.error(e.error),
        Err(e) => tally.error(format!("after a verdict: {}", e.error)),
    }
}
