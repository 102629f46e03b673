//! The daemon's Bayes store through outages, on a real `sluice run`:
//! Redis stopped (SIGSTOP) under milter load, Redis down at start, the
//! embedded file locked by another process at start. Mail keeps flowing
//! without Bayes, and Bayes comes back by itself.
//!
//! These run the debug build, whose scans with Bayes are many times slower
//! than a release build's: the hang's latency bound (the Redis timeout
//! plus 50 ms) is checked on the release build by `integration/redis.sh`;
//! here an outage may add no more than that bound to the latency seen
//! before it.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sluice::bench::{bench_milter, BenchOptions, BenchReport};
use sluice::message::Envelope;
use sluice::stats::store::redis::RedisStore;
use sluice::stats::store::{EmbeddedStore, Store};
use sluice::stats::{Class, Stats, StatsConfig};

use crate::support::daemon as common;
use crate::support::redis as redis_support;
use common::Daemon;
use redis_support::Redis;

/// Learned messages per class; the daemon's `min_learns` is below it.
const LEARNED: usize = 20;
/// The Redis timeout the daemon runs with, in seconds: above what a debug
/// build's lookups take on a loaded machine, so only the hang trips it.
const TIMEOUT: f64 = 1.0;
/// How long Redis stays stopped, as the acceptance says.
const HANG: Duration = Duration::from_secs(30);

fn corpus(class: &str) -> Vec<PathBuf> {
    let dir = std::env::var_os("SLUICE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(class))
        .expect("corpus (set SLUICE_CORPUS)")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Learns the first [`LEARNED`] messages of each class into `store`.
fn seed(store: Box<dyn Store>) {
    let tree = serde_json::json!({"classifier": {"bayes": {}}});
    let cfg = StatsConfig::from_tree(&tree).unwrap().unwrap();
    let stats = Stats::with_store(cfg, store);
    for (class, dir) in [(Class::Spam, "spam"), (Class::Ham, "ham")] {
        for f in corpus(dir).iter().take(LEARNED) {
            stats
                .learn(class, &Envelope::default(), &std::fs::read(f).unwrap())
                .unwrap();
        }
    }
}

fn redis_conf(port: u16) -> String {
    format!(
        "backend = \"redis\"; servers = \"127.0.0.1:{port}\"; timeout = {TIMEOUT}; \
         min_learns = 10;\n"
    )
}

fn daemon(bayes: &str) -> Daemon {
    Daemon::start_with_files(&[("classifier-bayes.conf", bayes)])
}

/// An address from the daemon's "ROLE listening on ADDR" log line.
fn listener(d: &Daemon, role: &str) -> String {
    let line = d.wait_log(&format!("{role} listening on "));
    line.split(&format!("{role} listening on "))
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .map(|a| a.trim_start_matches("inet:").to_string())
        .expect("address")
}

/// POSTs `msg` to `path`: the whole reply, status line first.
fn post(addr: &str, path: &str, msg: &[u8]) -> String {
    let mut c = std::net::TcpStream::connect(addr).expect("listener");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
        msg.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(msg).unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

/// `/checkv2` of a learned spam message: its reply.
fn check(http: &str) -> String {
    let out = post(
        http,
        "/checkv2",
        &std::fs::read(&corpus("spam")[0]).unwrap(),
    );
    assert!(
        out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
        "{out}"
    );
    out
}

fn has_bayes(http: &str) -> bool {
    let r = check(http);
    r.contains("BAYES_SPAM") || r.contains("BAYES_HAM")
}

/// Polls until Bayes shows in a scan; returns how long it took.
fn wait_for_bayes(http: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while !has_bayes(http) {
        assert!(start.elapsed() < limit, "Bayes not back within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

/// A folder with a few messages of each class for the milter load.
fn load_corpus(dir: &Path) -> PathBuf {
    let out = dir.join("load");
    std::fs::create_dir_all(&out).unwrap();
    for class in ["spam", "ham"] {
        for f in corpus(class).iter().skip(LEARNED).take(32) {
            std::fs::copy(
                f,
                out.join(format!(
                    "{class}-{}",
                    f.file_name().unwrap().to_string_lossy()
                )),
            )
            .unwrap();
        }
    }
    out
}

/// One round of 16 concurrent milter connections, 10 messages each.
fn round(rt: &tokio::runtime::Runtime, addr: &str, dir: &Path) -> BenchReport {
    let opts = BenchOptions {
        addr: addr.to_string(),
        concurrency: 16,
        count: 160,
        dirs: vec![dir.to_path_buf()],
        messages_per_connection: 10,
    };
    rt.block_on(bench_milter(&opts)).expect("bench")
}

fn warn_lines(log: &[String]) -> Vec<String> {
    log.iter()
        .filter(|l| l.contains(" WARN "))
        .cloned()
        .collect()
}

#[test]
fn redis_stopped_under_milter_load_delays_no_answer_and_bayes_comes_back() {
    let redis = Redis::start();
    let mut s = redis.settings(None);
    s.prefix = "BAYES".into();
    seed(Box::new(RedisStore::open(s).unwrap()));
    let d = daemon(&redis_conf(redis.port));
    let http = listener(&d, "http");
    assert!(has_bayes(&http), "Bayes works before the outage");
    let tmp = tempfile::tempdir().unwrap();
    let load = load_corpus(tmp.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = d.addr.to_string();
    let before = round(&rt, &addr, &load);
    let logged = d.log().len();

    signal(redis.pid(), "STOP");
    let stopped = Instant::now();
    let mut rounds = Vec::new();
    while stopped.elapsed() < HANG {
        rounds.push(round(&rt, &addr, &load));
    }
    assert!(!has_bayes(&http), "no Bayes while Redis is stopped");
    signal(redis.pid(), "CONT");
    let hang = stopped.elapsed();
    let back = wait_for_bayes(&http, Duration::from_secs(2));
    let after = round(&rt, &addr, &load);

    let max = rounds.iter().map(|r| r.latency.max_ms).fold(0.0, f64::max);
    let p99 = rounds.iter().map(|r| r.latency.p99_ms).fold(0.0, f64::max);
    let messages: u64 = rounds.iter().map(|r| r.messages).sum();
    let tempfails: u64 = rounds
        .iter()
        .map(|r| r.replies.get("tempfail").copied().unwrap_or(0))
        .sum();
    let errors: u64 = rounds.iter().map(|r| r.protocol_errors).sum();
    let log = d.log();
    let warns = warn_lines(&log[logged..]);
    eprintln!(
        "before: p99 {:.1} ms max {:.1} ms; during {:.1} s of SIGSTOP: {messages} messages \
         in {} rounds, worst round p99 {p99:.1} ms, max {max:.1} ms, {tempfails} tempfails; \
         after: p99 {:.1} ms max {:.1} ms; Bayes back {back:?} after SIGCONT; {} WARN lines",
        before.latency.p99_ms,
        before.latency.max_ms,
        hang.as_secs_f64(),
        rounds.len(),
        after.latency.p99_ms,
        after.latency.max_ms,
        warns.len()
    );
    for w in &warns {
        eprintln!("  {w}");
    }
    assert_eq!(tempfails, 0);
    assert_eq!(
        errors,
        0,
        "{:?}",
        rounds.iter().map(|r| &r.error_samples).collect::<Vec<_>>()
    );
    assert_eq!(
        messages,
        160 * rounds.len() as u64,
        "every message answered"
    );
    let bound = before.latency.max_ms + TIMEOUT * 1000.0 + 50.0;
    assert!(
        max <= bound,
        "an answer took {max:.1} ms (bound {bound:.1} ms)"
    );
    assert!(warns.len() <= 10, "{} WARN lines: {warns:#?}", warns.len());
    let m = d.metrics();
    assert!(m.contains("sluice_bayes_store_up 1\n"), "{m}");
    assert!(m.contains("sluice_bayes_store_outages_total "), "{m}");
    assert!(!m.contains("sluice_bayes_store_outages_total 0\n"), "{m}");
}

#[test]
fn redis_down_at_start_is_used_once_it_is_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = daemon(&redis_conf(port));
    let http = listener(&d, "http");
    assert!(!has_bayes(&http), "nothing learned, nothing to score with");
    d.wait_log("unreachable at start");
    assert!(d.metrics().contains("sluice_bayes_store_up 0\n"));
    let status = Command::new(crate::support::sluice_bin())
        .args(["status", "--controller", &listener(&d, "controller")])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("bayes store: down"), "{status}");
    // Learning meanwhile: refused at once with the reason.
    let spam = std::fs::read(&corpus("spam")[0]).unwrap();
    let start = Instant::now();
    let r = post(&listener(&d, "controller"), "/learnspam", &spam);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(
        r.starts_with("HTTP/1.0 500") || r.starts_with("HTTP/1.1 500"),
        "{r}"
    );
    assert!(r.contains("unreachable"), "{r}");
    let redis = Redis::start_on(port);
    let mut s = redis.settings(None);
    s.prefix = "BAYES".into();
    seed(Box::new(RedisStore::open(s).unwrap()));
    let back = wait_for_bayes(&http, Duration::from_secs(5));
    eprintln!("Bayes in scans {back:?} after Redis was seeded");
    d.wait_log("answers again");
}

#[test]
fn an_embedded_store_locked_at_start_is_opened_once_released() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bayes.redb");
    let holder = EmbeddedStore::open(&path).unwrap();
    // Another process would hold the lock the same way: redb's flock.
    let d = daemon(&format!(
        "path = \"{}\"; min_learns = 10;\n",
        path.display()
    ));
    let http = listener(&d, "http");
    d.wait_log("in use by another sluice process");
    assert!(!has_bayes(&http));
    // Learns, then releases the lock as it is dropped.
    seed(Box::new(holder));
    let back = wait_for_bayes(&http, Duration::from_secs(5));
    eprintln!("Bayes in scans {back:?} after the lock was released");
    d.wait_log("statistics store open");
    let warns = warn_lines(&d.log());
    assert!(warns.len() <= 3, "{warns:#?}");
}
