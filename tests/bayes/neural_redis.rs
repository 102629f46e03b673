//! The neural module on a real redis-server, as two nodes see it: vectors
//! from both fill one training set, one node trains, and the other loads
//! the same network.
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice::message::Envelope;
use sluice::redis::{Client, RedisConfig};
use sluice::scan::neural::AnnStore;
use sluice::scan::Pipeline;
use sluice::state::store::Store;
use sluice::verdict::Verdict;

use crate::support::redis::Redis;

fn tree(port: u16) -> Value {
    json!({
        "redis": {"servers": format!("127.0.0.1:{port}"), "timeout": 2},
        "regexp": {
            "T_PILLS": {"re": "Subject=/cheap pills/i", "score": 8.0},
            "T_NOTES": {"re": "Subject=/meeting notes/i", "score": -2.0},
        },
        "symbols": {"NEURAL_SPAM": {"weight": 3.0}, "NEURAL_HAM": {"weight": -3.0}},
        "neural": {"rules": {"r": {
            "watch_interval": 0.2,
            "train": {"max_trains": 4, "spam_score": 5, "ham_score": -1,
                      "max_iterations": 200, "learning_rate": 0.05}
        }}}
    })
}

fn node(port: u16) -> Pipeline {
    let tree = tree(port);
    let cfg = RedisConfig::for_module(&tree, "neural").unwrap().unwrap();
    let store = AnnStore {
        store: Store::Redis(Client::new(cfg)),
        timeout: Duration::from_secs(2),
    };
    Pipeline::from_config(&tree).unwrap().with_neural(store)
}

fn scan(p: &Pipeline, subject: &str, n: usize) -> Verdict {
    let raw = format!(
        "From: a@example.com\r\nTo: b@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <{n}@example.com>\r\n\r\nHello {n}\r\n"
    );
    p.scan_outcome(&Envelope::default(), raw.as_bytes(), Default::default())
        .learned_by(None)
}

fn has(v: &Verdict, name: &str) -> bool {
    v.symbols.iter().any(|s| s.name == name)
}

#[test]
fn two_nodes_fill_one_set_and_apply_the_same_network() {
    let redis = Redis::start();
    let (a, b) = (node(redis.port), node(redis.port));
    // Spam reaches node a, ham node b.
    for k in 1..=4 {
        scan(&a, "cheap pills", k);
        scan(&b, "meeting notes", 100 + k);
        std::thread::sleep(Duration::from_millis(50));
    }
    let until = Instant::now() + Duration::from_secs(60);
    let version = |p: &Pipeline| p.neural().unwrap().version(0);
    while version(&a) == 0 || version(&b) == 0 {
        assert!(
            Instant::now() < until,
            "versions {} {}",
            version(&a),
            version(&b)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(version(&a), 1);
    assert_eq!(version(&b), 1);
    // The network and the emptied sets are in Redis.
    let keys = redis.cli(&["--scan", "--pattern", "rn_r_*"]);
    let ann = first_ann(&keys);
    assert!(redis.cli(&["GET", &ann]).starts_with("sluice-ann 1 "));
    assert_eq!(redis.cli(&["GET", &format!("{ann}_spam")]), "0");
    assert_eq!(redis.cli(&["GET", &format!("{ann}_ham")]), "0");
    for p in [&a, &b] {
        assert!(has(&scan(p, "cheap pills", 50), "NEURAL_SPAM"));
        assert!(has(&scan(p, "meeting notes", 150), "NEURAL_HAM"));
    }
}

/// The network's key among the module's keys (`rn_PREFIX_DIGEST`).
fn first_ann(keys: &str) -> String {
    keys.lines()
        .find(|k| k.matches('_').count() == 2)
        .unwrap_or_else(|| panic!("no network key in {keys}"))
        .to_string()
}
