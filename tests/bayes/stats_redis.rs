//! The Redis store against a real redis-server started on a free loopback
//! port (no persistence), and against a server that never answers.
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use sluice::message::Envelope;
use sluice::stats::store::redis::{RedisSettings, RedisStore};
use sluice::stats::store::{LearnRequest, Store};
use sluice::stats::{Class, LearnOutcome, Learns, StoreError};

use crate::support::redis as redis_support;
use redis_support::Redis;

fn req(digest: u128, class: Class, tokens: &[u64]) -> LearnRequest<'_> {
    LearnRequest {
        user: 0,
        digest,
        class,
        tokens,
    }
}

#[test]
fn learn_lookup_move_and_stat() {
    let redis = Redis::start();
    let store = RedisStore::open(redis.settings(None)).unwrap();
    assert_eq!(
        store.learn(&req(1, Class::Spam, &[10, 20])).unwrap(),
        LearnOutcome::Learned
    );
    assert_eq!(
        store.learn(&req(2, Class::Spam, &[10])).unwrap(),
        LearnOutcome::Learned
    );
    assert_eq!(
        store.learn(&req(3, Class::Ham, &[20])).unwrap(),
        LearnOutcome::Learned
    );
    assert_eq!(
        store.learn(&req(1, Class::Spam, &[10, 20])).unwrap(),
        LearnOutcome::AlreadyLearned
    );
    let (learns, counts) = store.lookup(0, &[10, 20, 30]).unwrap();
    assert_eq!((learns.spam, learns.ham), (2, 1));
    assert_eq!((counts[0].spam, counts[0].ham), (2, 0));
    assert_eq!((counts[1].spam, counts[1].ham), (1, 1));
    assert_eq!((counts[2].spam, counts[2].ham), (0, 0));
    // Move message 1 to ham.
    assert_eq!(
        store.learn(&req(1, Class::Ham, &[10, 20])).unwrap(),
        LearnOutcome::Moved { from: Class::Spam }
    );
    let (learns, counts) = store.lookup(0, &[10, 20]).unwrap();
    assert_eq!((learns.spam, learns.ham), (1, 2));
    assert_eq!((counts[0].spam, counts[0].ham), (1, 1));
    assert_eq!((counts[1].spam, counts[1].ham), (0, 2));
    let st = store.stat().unwrap();
    assert_eq!(st.backend, "redis");
    assert_eq!((st.learns.spam, st.learns.ham), (1, 2));
    assert_eq!(st.tokens, 2);
    assert!(st.size_bytes > 0);
    // Keys carry the prefix.
    assert_eq!(redis.cli(&["HGET", "TEST:learns", "H"]), "2");
}

/// A scan's lookup is one script call whatever the number of tokens, and it survives a
/// server that forgot the script (a restart, `SCRIPT FLUSH`).
#[test]
fn a_lookup_is_one_command_and_survives_a_flushed_script_cache() {
    let redis = Redis::start();
    let store = RedisStore::open(redis.settings(None)).unwrap();
    store.learn(&req(1, Class::Spam, &[10, 20])).unwrap();
    store.learn(&req(2, Class::Ham, &[20, 30])).unwrap();
    let tokens: Vec<u64> = (1000..1500).chain([10, 20, 30]).collect();
    let _ = store.lookup(0, &tokens).unwrap();
    redis.cli(&["CONFIG", "RESETSTAT"]);
    let (learns, counts) = store.lookup(0, &tokens).unwrap();
    let stats = redis.cli(&["INFO", "commandstats"]);
    // The client's one EVALSHA, and the HMGETs the script ran (commandstats counts both).
    let mut calls: Vec<&str> = stats
        .lines()
        .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_config"))
        .map(|l| l.split(",usec=").next().unwrap_or(l))
        .collect();
    calls.sort_unstable();
    assert_eq!(
        calls,
        ["cmdstat_evalsha:calls=1", "cmdstat_hmget:calls=504"],
        "{stats}"
    );
    assert_eq!((learns.spam, learns.ham), (1, 1));
    assert_eq!(counts.len(), tokens.len());
    let last: Vec<(u64, u64)> = counts[500..].iter().map(|c| (c.spam, c.ham)).collect();
    assert_eq!(last, vec![(1, 0), (1, 1), (0, 1)]);
    assert!(counts[..500].iter().all(|c| c.spam == 0 && c.ham == 0));
    redis.cli(&["SCRIPT", "FLUSH"]);
    let (_, again) = store.lookup(0, &[20]).unwrap();
    assert_eq!((again[0].spam, again[0].ham), (1, 1));
}

#[test]
fn learned_totals_are_read_cheaply_and_follow_this_nodes_learns() {
    let redis = Redis::start();
    let store = RedisStore::open(redis.settings(None)).unwrap();
    assert_eq!(store.learns(0).unwrap(), Learns::default());
    store.learn(&req(1, Class::Spam, &[10])).unwrap();
    // A learn through this store is seen at once, not after the TTL.
    assert_eq!(store.learns(0).unwrap(), Learns { spam: 1, ham: 0 });
    // Another node's learn shows after the short TTL.
    redis.cli(&["HINCRBY", "TEST:learns", "H", "5"]);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(store.learns(0).unwrap(), Learns { spam: 1, ham: 5 });
}

#[test]
fn rare_tokens_expire_and_common_ones_persist() {
    let redis = Redis::start();
    let store = RedisStore::open(redis.settings(Some(1000))).unwrap();
    store.learn(&req(1, Class::Spam, &[7, 8])).unwrap();
    let ttl: i64 = redis
        .cli(&["TTL", &format!("TEST:t:{:016x}", 7u64)])
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 1000, "rare token has a TTL: {ttl}");
    store.learn(&req(2, Class::Spam, &[7])).unwrap();
    let ttl: i64 = redis
        .cli(&["TTL", &format!("TEST:t:{:016x}", 7u64)])
        .parse()
        .unwrap();
    assert_eq!(ttl, -1, "token learned common_hits times no longer expires");
    let ttl: i64 = redis
        .cli(&["TTL", &format!("TEST:t:{:016x}", 8u64)])
        .parse()
        .unwrap();
    assert!(ttl > 0);
}

#[test]
fn whole_messages_through_stats_with_pooled_connections() {
    let redis = Redis::start();
    let store = RedisStore::open(redis.settings(None)).unwrap();
    let cfg =
        sluice::stats::StatsConfig::from_tree(&serde_json::json!({"classifier": {"bayes": {}}}))
            .unwrap()
            .unwrap();
    let stats = sluice::stats::Stats::with_store(cfg, Box::new(store));
    let raw = b"From: a@shop.example\r\nSubject: cheap pills now\r\nMessage-ID: <x1@shop.example>\r\n\r\nbuy cheap pills now from our online shop today\r\n";
    for _ in 0..50 {
        stats.learn(Class::Spam, &Envelope::default(), raw).unwrap();
    }
    let st = stats.stat().unwrap();
    assert_eq!(st.learns.spam, 1, "same Message-ID learned once");
    // 50 learns + stat over a pool: far fewer connections than requests.
    let clients: u64 = redis
        .cli(&["INFO", "stats"])
        .lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(clients <= 4, "{clients} connections for 52 requests");
}

#[test]
fn a_silent_server_times_out_quickly() {
    // Accepts connections, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut settings = RedisSettings {
        cluster: None,
        read_server: None,
        server: format!("127.0.0.1:{port}"),
        prefix: "X".into(),
        timeout: Duration::from_millis(150),
        expire: None,
        common_hits: 10,
        sentinel: None,
    };
    let start = Instant::now();
    let e = RedisStore::open(settings.clone()).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(e, StoreError::RedisTimeout { .. }), "{e}");
    drop(listener);
    settings.server = "not a url::".into();
    assert!(RedisStore::open(settings).is_err());
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

/// Polls `f` until it holds, for at most `limit`; returns the time taken.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

#[test]
fn a_hung_server_costs_one_timeout_then_requests_are_refused_until_it_answers() {
    let redis = Redis::start();
    let mut settings = redis.settings(None);
    settings.timeout = Duration::from_millis(200);
    let store = RedisStore::open(settings).unwrap();
    store.learn(&req(1, Class::Spam, &[10])).unwrap();
    signal(redis.pid(), "STOP");
    // The pooled connection hangs: one request waits out the timeout.
    let start = Instant::now();
    let e = store.lookup(0, &[10]).unwrap_err();
    let first = start.elapsed();
    assert!(matches!(e, StoreError::RedisTimeout { .. }), "{e}");
    assert!(first < Duration::from_millis(400), "{first:?}");
    assert!(store.is_down());
    // Then nothing waits: requests are refused without touching Redis.
    let start = Instant::now();
    for _ in 0..1000 {
        let e = store.lookup(0, &[10]).unwrap_err();
        assert!(e.is_unavailable(), "{e}");
    }
    let refused = start.elapsed();
    assert!(refused < Duration::from_millis(200), "{refused:?}");
    // The probe keeps failing while the server is stopped.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(store.is_down());
    signal(redis.pid(), "CONT");
    let back = wait_until(Duration::from_secs(2), || store.lookup(0, &[10]).is_ok());
    let (learns, counts) = store.lookup(0, &[10]).unwrap();
    assert_eq!((learns.spam, counts[0].spam), (1, 1));
    eprintln!("first failure {first:?}, 1000 refusals {refused:?}, back {back:?} after SIGCONT");
}

#[test]
fn a_server_down_at_start_is_used_once_it_answers() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = RedisSettings {
        cluster: None,
        read_server: None,
        server: format!("127.0.0.1:{port}"),
        prefix: "TEST".into(),
        timeout: Duration::from_millis(200),
        expire: None,
        common_hits: 2,
        sentinel: None,
    };
    assert!(RedisStore::open(settings.clone()).is_err(), "strict open");
    let store = RedisStore::open_or_reconnect(settings).unwrap();
    assert!(store.is_down());
    let e = store.learn(&req(1, Class::Ham, &[5])).unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    let redis = Redis::start_on(port);
    wait_until(Duration::from_secs(3), || !store.is_down());
    store.learn(&req(1, Class::Ham, &[5])).unwrap();
    assert_eq!(redis.cli(&["HGET", "TEST:learns", "H"]), "1");
}

/// `read_servers`: classification reads from the replica, learning writes to the master;
/// the replica gone, reads fall back to the master.
#[test]
fn classify_reads_the_replica_and_learning_writes_the_master() {
    let master = Redis::start();
    // The replica's first sync at once, not after the default 5 s wait for others.
    master.cli(&["CONFIG", "SET", "repl-diskless-sync-delay", "0"]);
    let replica = Redis::start_with(&["--replicaof", "127.0.0.1", &master.port.to_string()]);
    let mut settings = master.settings(None);
    settings.read_server = Some(format!("127.0.0.1:{}", replica.port));
    let store = RedisStore::open(settings).unwrap();
    store.learn(&req(1, Class::Spam, &[10, 20])).unwrap();
    assert_eq!(master.cli(&["HGET", "TEST:learns", "S"]), "1");
    wait_until(Duration::from_secs(10), || {
        replica.cli(&["HGET", "TEST:learns", "S"]) == "1"
    });
    for r in [&master, &replica] {
        r.cli(&["CONFIG", "RESETSTAT"]);
    }
    let (learns, counts) = store.lookup(0, &[10, 30]).unwrap();
    assert_eq!(learns.spam, 1);
    assert_eq!((counts[0].spam, counts[1].spam), (1, 0));
    let evalsha = |r: &Redis| {
        r.cli(&["INFO", "commandstats"])
            .contains("cmdstat_evalsha:")
    };
    assert!(evalsha(&replica), "the lookup ran on the replica");
    assert!(!evalsha(&master), "no lookup on the master");
    store.learn(&req(2, Class::Ham, &[10])).unwrap();
    assert_eq!(master.cli(&["HGET", "TEST:learns", "H"]), "1");
    drop(replica);
    // One failed read marks the replica down; the next go to the master.
    let _ = store.lookup(0, &[10]);
    let (_, counts) = store.lookup(0, &[10]).unwrap();
    assert_eq!((counts[0].spam, counts[0].ham), (1, 1));
}

/// The lookup made before the scan (with the state modules' calls) gives the scan's own
/// answer, goes out on the client the state modules share for that server, and after
/// an outage leaves the store down (probed) so that the next ones fall back at once.
#[tokio::test]
async fn a_lookup_ahead_answers_as_the_scan_and_rides_the_shared_client() {
    use sluice::message::{parser, Parsed};
    use sluice::redis::{Client, RedisConfig, Server};
    let redis = Redis::start();
    let store = RedisStore::open(redis.settings(None)).unwrap();
    let cfg = sluice::stats::StatsConfig::from_tree(
        &serde_json::json!({"classifier": {"bayes": {"min_learns": 2}}}),
    )
    .unwrap()
    .unwrap();
    let stats = sluice::stats::Stats::with_store(cfg, Box::new(store));
    let env = Envelope::default();
    for i in 0..3 {
        let spam = format!("Message-ID: <s{i}@x>\r\nSubject: cheap pills\r\n\r\nbuy cheap pills now from our online shop today {i}\r\n");
        let ham = format!("Message-ID: <h{i}@x>\r\nSubject: minutes\r\n\r\nthe meeting minutes are attached for review by friday {i}\r\n");
        stats.learn(Class::Spam, &env, spam.as_bytes()).unwrap();
        stats.learn(Class::Ham, &env, ham.as_bytes()).unwrap();
    }
    // The state modules' client for the same server (another timeout: still the same).
    let server = Server::Tcp("127.0.0.1".into(), redis.port);
    let state = Client::shared(RedisConfig::single(
        server,
        None,
        0,
        (None, None),
        Duration::from_secs(3),
    ));
    let raw =
        b"Message-ID: <q@x>\r\nSubject: cheap pills\r\n\r\nbuy cheap pills now from our shop\r\n";
    let parsed = Parsed::parse(&parser(), bytes::Bytes::from_static(raw));
    let own = stats.classify(&env, parsed.view()).expect("decided");
    assert!(own.is_spam, "{own:?}");
    let calls = state
        .counters()
        .calls
        .load(std::sync::atomic::Ordering::Relaxed);
    let ahead = stats
        .ahead(&env, parsed.view())
        .expect("a Redis store looks up ahead");
    let ahead = ahead.await;
    assert_eq!(stats.classify_ahead(&ahead), Some(own));
    let after = state
        .counters()
        .calls
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after, calls + 1, "the lookup went out on the shared client");
    drop(redis);
    let failed = stats
        .ahead(&env, parsed.view())
        .expect("not down yet")
        .await;
    assert_eq!(stats.classify_ahead(&failed), None);
    assert!(!stats.looks_up_ahead());
    assert!(
        stats.ahead(&env, parsed.view()).is_none(),
        "down after the outage: the scan's own lookup refuses at once"
    );
}
