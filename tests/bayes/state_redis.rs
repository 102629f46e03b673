//! The shared-state modules on a real redis-server, as two nodes (two clients) see it.
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::message::Envelope;
use sluice::redis::{Client, RedisConfig};
use sluice::state::greylist::{Greylist, GreylistSettings, Seen};
use sluice::state::ratelimit::{Ratelimit, RatelimitSettings};
use sluice::state::section::Section;
use sluice::state::store::Store;
use sluice::verdict::Action;

use crate::support::redis::Redis;

fn store(port: u16) -> Store {
    let tree = json!({"redis": {"servers": format!("127.0.0.1:{port}"), "timeout": 0.5}});
    let cfg = RedisConfig::for_module(&tree, "ratelimit")
        .unwrap()
        .unwrap();
    Store::Redis(Client::new(cfg))
}

fn ratelimit(port: u16, rates: serde_json::Value) -> Ratelimit {
    let v = json!({ "rates": rates });
    let s = Section {
        name: "ratelimit",
        value: Some(&v),
    };
    let settings = RatelimitSettings::from_section(&s).unwrap();
    Ratelimit::new(settings, store(port), Vec::new())
}

fn env(user: &str) -> Envelope {
    Envelope {
        client_ip: Some("192.0.2.1".parse().unwrap()),
        from: Some("a@example.org".into()),
        rcpts: vec!["x@example.com".into()],
        user: Some(user.into()),
        ..Default::default()
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(2)
}

#[tokio::test]
async fn a_concurrent_burst_on_two_nodes_gets_the_excess_refused() {
    let redis = Redis::start();
    let a = Arc::new(ratelimit(redis.port, json!({"user": "3 / 1h"})));
    let b = Arc::new(ratelimit(redis.port, json!({"user": "3 / 1h"})));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let node = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        tasks.push(tokio::spawn(async move {
            node.check(&env("bob"), deadline()).await
        }));
    }
    let mut refused = 0;
    for t in tasks {
        if let Some(x) = t.await.unwrap() {
            assert_eq!(x.message.as_deref(), Some("Ratelimit \"user\" exceeded"));
            refused += 1;
        }
    }
    assert_eq!(refused, 7);
    // Filled through both, it holds on either; another user has a bucket of its own.
    assert!(a.check(&env("bob"), deadline()).await.is_some());
    assert!(b.check(&env("carol"), deadline()).await.is_none());
    let keys = redis.cli(&["--scan", "--pattern", "RL*"]);
    assert_eq!(keys.lines().count(), 2, "{keys}");
}

#[tokio::test]
async fn greylisted_on_one_node_passes_on_the_other_after_the_timeout() {
    let redis = Redis::start();
    let v = json!({"timeout": "1s"});
    let node = || {
        let s = Section {
            name: "greylist",
            value: Some(&v),
        };
        Greylist::new(
            GreylistSettings::from_section(&s).unwrap(),
            store(redis.port),
            Vec::new(),
        )
    };
    let (a, b) = (node(), node());
    let mut e = env("x");
    e.user = None;
    let raw = b"Subject: t\r\n\r\nbody\r\n";
    let keys = a.keys(&e, raw);
    let seen = a.check(&e, &keys, deadline()).await;
    assert_eq!(seen, Seen::New);
    let d = a
        .apply(&e, &keys, &seen, &Action::Greylist, 5.0, deadline())
        .await;
    assert_eq!(d.action.unwrap().0, Action::SoftReject);
    let seen = b.check(&e, &keys, deadline()).await;
    assert!(matches!(seen, Seen::Waiting { .. }), "{seen:?}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let seen = b.check(&e, &keys, deadline()).await;
    assert_eq!(seen, Seen::Passed("body"));
    let d = b
        .apply(&e, &keys, &seen, &Action::Greylist, 5.0, deadline())
        .await;
    assert_eq!(d.action, Some((Action::NoAction, None)));
    // The renewal is written in the background, within moments.
    sluice::redis::deferred::settle(Duration::from_secs(2)).await;
    let ttl: i64 = redis.cli(&["TTL", &keys.meta]).trim().parse().unwrap();
    assert!(ttl > 80_000, "expire renewed to a day: {ttl}");
}

#[tokio::test]
async fn with_redis_gone_the_modules_fail_open_at_once() {
    let redis = Redis::start();
    let port = redis.port;
    let r = ratelimit(port, json!({"user": "1 / 1h"}));
    assert!(r.check(&env("dave"), deadline()).await.is_none());
    assert!(r.check(&env("dave"), deadline()).await.is_some());
    drop(redis);
    let before = sluice::state::metrics::counters("ratelimit")
        .failures
        .load(std::sync::atomic::Ordering::Relaxed);
    let start = Instant::now();
    for _ in 0..20 {
        assert!(r.check(&env("dave"), deadline()).await.is_none());
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let after = sluice::state::metrics::counters("ratelimit")
        .failures
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(after >= before + 20, "{before} -> {after}");
}

/// Writes no answer waits for (renewals, multipliers, remembered messages): those queued
/// together go out in one call (one pipeline), a script among them included; a command
/// the server refuses is told to its own caller only; with Redis gone every one is told.
#[tokio::test]
async fn background_writes_go_out_together_and_failures_reach_their_callers() {
    use sluice::redis::client::Script;
    use sluice::redis::deferred::{settle, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let redis = Redis::start();
    let Store::Redis(client) = store(redis.port) else {
        unreachable!()
    };
    let failed = Arc::new(AtomicUsize::new(0));
    let tell = |f: &Arc<AtomicUsize>| {
        let f = Arc::clone(f);
        move |_| {
            f.fetch_add(1, Ordering::Relaxed);
        }
    };
    for i in 0..40 {
        let mut cmd = redis::cmd("PSETEX");
        cmd.arg(format!("k{i}")).arg(60_000).arg(i);
        client.later(Write::new(vec![cmd], tell(&failed)));
    }
    let set = Script::new("return redis.call('SET', KEYS[1], ARGV[1])");
    client.later(Write::script(
        &set,
        &["scripted".into()],
        &["yes".into()],
        tell(&failed),
    ));
    let bad = Arc::new(AtomicUsize::new(0));
    let mut incr = redis::cmd("INCR");
    incr.arg("k1");
    let mut not_a_number = redis::cmd("PSETEX");
    not_a_number.arg("k1").arg(60_000).arg("x");
    client.later(Write::new(vec![not_a_number, incr], tell(&bad)));
    settle(Duration::from_secs(2)).await;
    assert_eq!(
        client.counters().calls.load(Ordering::Relaxed),
        1,
        "one pipeline"
    );
    assert_eq!(redis.cli(&["GET", "k39"]), "39");
    assert_eq!(redis.cli(&["GET", "scripted"]), "yes");
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert_eq!(
        bad.load(Ordering::Relaxed),
        1,
        "the refused INCR told its caller"
    );
    drop(redis);
    for _ in 0..3 {
        client.later(Write::new(vec![redis::cmd("PING")], tell(&failed)));
    }
    settle(Duration::from_secs(3)).await;
    assert_eq!(failed.load(Ordering::Relaxed), 3);
}
