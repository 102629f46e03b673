//! The controller's history on a real redis-server, as two nodes (two hosts) see it.
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::history::shared::{codec, HistorySettings, RedisHistory};
use sluice::history::{HistoryStore, Row};
use sluice::redis::RedisConfig;

use crate::support::redis::Redis;

fn node(port: u16, section: serde_json::Value, host: &str) -> RedisHistory {
    let tree = json!({"history_redis": section,
                      "redis": {"servers": format!("127.0.0.1:{port}"), "timeout": 0.5}});
    let (settings, redis): (HistorySettings, RedisConfig) =
        HistorySettings::from_tree(&tree).unwrap().unwrap();
    RedisHistory::start(settings, redis, host)
}

fn row(id: &str, time: u64) -> Row {
    Row {
        message_id: id.into(),
        subject: format!("subject of {id}"),
        unix_time: time,
        ..Row::default()
    }
}

async fn ids(store: &RedisHistory, from: usize, to: usize) -> Vec<String> {
    store
        .rows(from, to)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.message_id)
        .collect()
}

/// Waits until `store` shows `n` rows (the writer sends them in the background).
async fn settle(store: &RedisHistory, n: usize) {
    let start = Instant::now();
    while store.rows(0, 1000).await.unwrap().len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "rows never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rows_pushed_on_one_node_are_read_on_the_other_newest_first() {
    let redis = Redis::start();
    let a = node(redis.port, json!({"nrows": 3}), "hosta");
    let b = node(redis.port, json!({"nrows": 3}), "hostb");
    for (i, id) in ["a1", "a2", "a3", "a4"].iter().enumerate() {
        a.push(row(id, 100 + 2 * i as u64));
    }
    b.push(row("b1", 103));
    settle(&a, 4).await;
    // Rspamd's list name, capped at nrows, zstd frames.
    assert_eq!(redis.cli(&["LLEN", "rs_historyhosta_zst"]), "3");
    assert_eq!(
        redis.cli(&["SMEMBERS", "rs_history_hosts"]).lines().count(),
        2
    );
    assert_eq!(ids(&b, 0, 100).await, ["a4", "a3", "b1", "a2"]);
    assert_eq!(ids(&a, 1, 3).await, ["a3", "b1"]);
    assert_eq!(a.reset().await.unwrap(), 4);
    assert!(ids(&b, 0, 100).await.is_empty());
    assert_eq!(redis.cli(&["EXISTS", "rs_historyhosta_zst"]), "0");
}

#[tokio::test]
async fn stored_rows_are_what_rspamd_reads_and_subjects_can_be_hidden() {
    let redis = Redis::start();
    let a = node(
        redis.port,
        json!({"compress": false, "subject_privacy": true, "expire": 600}),
        "hosta",
    );
    a.push(row("p1", 1));
    settle(&a, 1).await;
    let stored = redis.cli(&["LINDEX", "rs_historyhosta", "0"]);
    let j: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(j["message-id"], "p1");
    let subject = j["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("obf:") && subject.len() == 20,
        "{subject}"
    );
    let ttl: u64 = redis.cli(&["TTL", "rs_historyhosta"]).parse().unwrap();
    assert!(ttl > 500 && ttl <= 600, "{ttl}");
    // A compressed row Rspamd wrote under another host's list reads back too.
    let rspamd = codec::encode(&row("r1", 2), true);
    let path = std::env::temp_dir().join(format!("hist-{}.bin", redis.port));
    std::fs::write(&path, &rspamd).unwrap();
    let out = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "-x",
            "LPUSH",
            "rs_historyother_zst",
        ])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    let _ = std::fs::remove_file(&path);
    redis.cli(&["SADD", "rs_history_hosts", "rs_historyother_zst"]);
    assert_eq!(ids(&a, 0, 10).await, ["r1", "p1"]);
}

#[tokio::test]
async fn redis_down_drops_rows_and_reads_fail_in_time() {
    let redis = Redis::start();
    let port = redis.port;
    drop(redis);
    let a = node(port, json!({}), "hosta");
    let before = sluice::history::shared::metrics::dropped_total();
    a.push(row("lost", 1));
    let start = Instant::now();
    while sluice::history::shared::metrics::dropped_total() == before {
        assert!(start.elapsed() < Duration::from_secs(3), "no drop counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = Instant::now();
    assert!(a.rows(0, 10).await.is_err());
    assert!(start.elapsed() < Duration::from_secs(2));
}
