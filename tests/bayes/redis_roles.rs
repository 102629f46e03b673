//! The Redis layer's roles on real redis-servers: reads to `read_servers` (falling back
//! to the write servers), writes to `write_servers`.
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::redis::{Client, RedisConfig, Role};

use crate::support::redis::Redis;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(2)
}

#[tokio::test]
async fn reads_go_to_read_servers_and_fall_back_to_the_writer() {
    let writer = Redis::start();
    let reader = Redis::start();
    let tree = json!({"redis": {
        "write_servers": format!("127.0.0.1:{}", writer.port),
        "read_servers": format!("127.0.0.1:{}", reader.port),
        "timeout": 0.5}});
    let c = Client::new(RedisConfig::for_module(&tree, "greylist").unwrap().unwrap());
    let mut set = redis::cmd("SET");
    set.arg("k").arg("written");
    c.query::<()>(Role::Write, &set, deadline()).await.unwrap();
    assert_eq!(writer.cli(&["GET", "k"]), "written");
    reader.cli(&["SET", "k", "on the reader"]);
    let mut get = redis::cmd("GET");
    get.arg("k");
    let read: String = c.query(Role::Read, &get, deadline()).await.unwrap();
    assert_eq!(read, "on the reader");
    // The reader gone: after its failure's pause, reads come from the writer.
    drop(reader);
    let start = Instant::now();
    let read = loop {
        match c.query::<String>(Role::Read, &get, deadline()).await {
            Ok(v) => break v,
            Err(_) => {
                assert!(start.elapsed() < Duration::from_secs(5), "no fallback");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(read, "written");
}
