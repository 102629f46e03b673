//! The Redis layer and the Bayes store on a real three-master Redis Cluster
//! (`cluster = true;`).
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::redis::{Client, RedisConfig, Role};
use sluice::stats::store::redis::RedisStore;
use sluice::stats::store::{LearnRequest, Store};
use sluice::stats::{Class, LearnOutcome};

use crate::support::redis::Cluster;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(2)
}

fn client(cluster: &Cluster) -> Client {
    let tree = json!({"redis": {"servers": cluster.servers(), "cluster": true, "timeout": 1.0}});
    Client::new(RedisConfig::for_module(&tree, "greylist").unwrap().unwrap())
}

/// Keys per master, by `DBSIZE`.
fn spread(cluster: &Cluster) -> Vec<u64> {
    cluster
        .nodes
        .iter()
        .map(|n| n.cli(&["DBSIZE"]).parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_pipeline_over_many_slots_is_answered_in_order() {
    let cluster = Cluster::start();
    let c = client(&cluster);
    let mut p = redis::pipe();
    for i in 0..30 {
        p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    p.cmd("GET").arg("k7");
    p.cmd("MGET").arg("k1").arg("k2").arg("k29");
    p.cmd("INCR").arg("k3");
    let (seven, many, three): (i64, Vec<i64>, i64) =
        c.pipe(Role::Write, &p, deadline()).await.unwrap();
    assert_eq!((seven, many, three), (7, vec![1, 2, 29], 4));
    let per_node = spread(&cluster);
    assert_eq!(per_node.iter().sum::<u64>(), 30);
    assert!(
        per_node.iter().filter(|n| **n > 0).count() >= 2,
        "{per_node:?}"
    );
    // A reply error inside is the pipeline's error, as on one server.
    let mut bad = redis::pipe();
    bad.cmd("SET").arg("a").arg(1).ignore();
    bad.cmd("SET").arg("word").arg("x").ignore();
    bad.cmd("INCR").arg("word");
    assert!(c.pipe::<i64>(Role::Write, &bad, deadline()).await.is_err());
    // Commands over several slots run after the others (history's LLENs, then its DEL).
    let mut clear = redis::pipe();
    clear.cmd("EXISTS").arg("k1");
    clear.cmd("EXISTS").arg("k2");
    clear.cmd("DEL").arg("k1").arg("k2").ignore();
    let seen: (i64, i64) = c.pipe(Role::Write, &clear, deadline()).await.unwrap();
    assert_eq!(seen, (1, 1));
    assert_eq!(spread(&cluster).iter().sum::<u64>(), 30);
}

#[tokio::test]
async fn scripts_and_transactions_run_on_tagged_keys() {
    let cluster = Cluster::start();
    let c = client(&cluster);
    let cfg = c.config();
    let keys = vec![cfg.tag("RL", "RLa"), cfg.tag("RL", "RLb")];
    assert_eq!(keys[0], "{RL}RLa");
    let script = sluice::redis::client::Script::new(
        "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return 2",
    );
    let n: i64 = c
        .script(&script, &keys, &["v".to_string()], deadline())
        .await
        .unwrap();
    assert_eq!(n, 2);
    let mut get = redis::cmd("MGET");
    get.arg(&keys);
    let got: Vec<String> = c.query(Role::Read, &get, deadline()).await.unwrap();
    assert_eq!(got, ["v", "v"]);
    let mut multi = redis::pipe();
    multi.atomic();
    multi.cmd("APPEND").arg(&keys[0]).arg("x").ignore();
    multi.cmd("SET").arg(&keys[1]).arg("w").ignore();
    multi.cmd("GET").arg(&keys[1]);
    let (w,): (String,) = c.pipe(Role::Write, &multi, deadline()).await.unwrap();
    assert_eq!(w, "w");
    let mut get = redis::cmd("GET");
    get.arg(&keys[0]);
    let appended: String = c.query(Role::Read, &get, deadline()).await.unwrap();
    assert_eq!(appended, "vx");
}

#[test]
fn bayes_learns_and_classifies_on_the_master_of_its_slot() {
    let cluster = Cluster::start();
    let mut settings = cluster.nodes[0].settings(None);
    settings.cluster = Some(
        cluster
            .nodes
            .iter()
            .map(|n| sluice::redis::Server::Tcp("127.0.0.1".into(), n.port))
            .collect(),
    );
    let store = RedisStore::open(settings).unwrap();
    let tokens: Vec<u64> = (1..200).collect();
    let req = LearnRequest {
        user: 0,
        digest: 1,
        class: Class::Spam,
        tokens: &tokens,
    };
    assert_eq!(store.learn(&req).unwrap(), LearnOutcome::Learned);
    let (learns, counts) = store.lookup(0, &tokens).unwrap();
    assert_eq!(learns.spam, 1);
    assert!(counts.iter().all(|c| c.spam == 1));
    assert_eq!(store.stat().unwrap().learns.spam, 1);
    // Every key under the hash tag, all on the one master serving its slot.
    let holders: Vec<u64> = spread(&cluster).into_iter().filter(|n| *n > 0).collect();
    assert_eq!(holders.len(), 1, "{holders:?}");
    let slot = cluster.nodes[0].cli(&["CLUSTER", "KEYSLOT", "{TEST}:learns"]);
    let on_slot: u64 = cluster
        .nodes
        .iter()
        .map(|n| {
            n.cli(&["CLUSTER", "COUNTKEYSINSLOT", &slot])
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(on_slot, holders[0]);
}
