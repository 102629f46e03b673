//! Redis Cluster, sluice's extension (`cluster = true;`; Rspamd has no cluster support):
//! the `redis` crate's cluster connection, which learns the slot map from the seed nodes
//! and sends each command to the master owning its key's slot.
//!
//! A cluster refuses a pipeline whose keys lie in several slots. The state modules send
//! independent writes (a greylist's body and triplet records, a history list and the set
//! of lists) as one pipeline; here such a pipeline is cut into one pipeline per slot, sent
//! side by side, and the replies put back in the caller's order, so callers write one
//! pipeline whatever the deployment (the order holds within a slot; a command over
//! several slots runs after the rest). A transaction (`MULTI`) is never cut: its keys must
//! share a hash tag ([`super::RedisConfig::tag`]), as a script's must.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use redis::aio::ConnectionLike;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::blocking::{Conn, Target};
use super::config::{RedisConfig, Server};
use super::error::RedisError;

/// Retries of the crate's own (a moved slot, a node reconnecting); the caller's deadline
/// bounds them all.
const RETRIES: u32 = 2;

/// A connection to the whole cluster; clones share it.
#[derive(Clone)]
pub struct Cluster(ClusterConnection);

/// Connects to the seed nodes and reads the slot map, all before `deadline`.
pub async fn open(cfg: &RedisConfig, deadline: Instant) -> Result<Cluster, RedisError> {
    let seeds = cfg.describe();
    let failed = |reason: String| RedisError::Connect {
        server: seeds.clone(),
        reason,
    };
    let nodes = cfg
        .write
        .iter()
        .map(|s| super::client::connection_info(cfg, s))
        .collect::<Vec<_>>();
    let mut b = ClusterClient::builder(nodes)
        .connection_timeout(cfg.timeout)
        .response_timeout(cfg.timeout)
        .retries(RETRIES);
    if let Some(u) = &cfg.username {
        b = b.username(u.clone());
    }
    if let Some(p) = &cfg.password {
        b = b.password(p.clone());
    }
    let client = b.build().map_err(|e| failed(e.to_string()))?;
    let at = tokio::time::Instant::from_std(deadline);
    match tokio::time::timeout_at(at, client.get_async_connection()).await {
        Ok(Ok(c)) => Ok(Cluster(c)),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(RedisError::Timeout { server: seeds }),
    }
}

/// A pipeline's commands grouped by the slot (and node role) they go to; commands with
/// no single slot (no key, keys in several slots) each on their own.
#[derive(Debug, Default, PartialEq)]
struct Split {
    by_route: Vec<Vec<usize>>,
    alone: Vec<usize>,
}

impl Split {
    fn of<'a>(cmds: impl Iterator<Item = &'a Cmd>) -> Split {
        let mut index: HashMap<Route, usize> = HashMap::new();
        let mut split = Split::default();
        for (i, cmd) in cmds.enumerate() {
            match RoutingInfo::for_routable(cmd) {
                Some(RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route))) => {
                    let g = *index.entry(route).or_insert_with(|| {
                        split.by_route.push(Vec::new());
                        split.by_route.len() - 1
                    });
                    split.by_route[g].push(i);
                }
                _ => split.alone.push(i),
            }
        }
        split
    }

    /// Whether the pipeline can go as it is (one slot at most).
    fn is_whole(&self) -> bool {
        self.by_route.len() + self.alone.len() <= 1
    }
}

impl Cluster {
    /// Sends each group as a pipeline of its own, all at once, then each lone command
    /// (keys in several slots, or none) at once, and answers the replies in the
    /// pipeline's order. Commands on one slot keep their order; a lone command runs after
    /// all groups (a count, then a delete of what was counted).
    async fn split_pipeline(
        &self,
        pipe: &Pipeline,
        split: Split,
    ) -> redis::RedisResult<Vec<Value>> {
        let cmds: Vec<&Cmd> = pipe.cmd_iter().collect();
        let groups = split.by_route.into_iter().map(|group| {
            let mut sub = redis::pipe();
            for &i in &group {
                sub.add_command(cmds[i].clone());
            }
            let mut c = self.0.clone();
            async move {
                let replies = c.req_packed_commands(&sub, 0, group.len()).await?;
                Ok::<_, redis::RedisError>(group.into_iter().zip(replies).collect::<Vec<_>>())
            }
        });
        let mut out: Vec<Value> = vec![Value::Nil; cmds.len()];
        for (i, v) in try_join_all(groups).await?.into_iter().flatten() {
            out[i] = v;
        }
        let alone = split.alone.into_iter().map(|i| {
            let mut c = self.0.clone();
            let cmd = cmds[i];
            async move { Ok::<_, redis::RedisError>((i, c.req_packed_command(cmd).await?)) }
        });
        for (i, v) in try_join_all(alone).await? {
            out[i] = v;
        }
        Ok(out)
    }
}

impl ConnectionLike for Cluster {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipe: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        // A transaction (offset past the `MULTI` replies) goes whole.
        if offset != 0 {
            return self.0.req_packed_commands(pipe, offset, count);
        }
        let split = Split::of(pipe.cmd_iter());
        if split.is_whole() {
            return self.0.req_packed_commands(pipe, offset, count);
        }
        Box::pin(async move { self.split_pipeline(pipe, split).await })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// The master serving `key`'s slot, as the first seed node that answers `CLUSTER SLOTS`
/// tells it, each seed given `timeout`; for a caller on a thread of its own (the Bayes
/// store, whose keys share one hash tag and so one slot).
pub fn master_of_blocking(
    seeds: &[Server],
    key: &[u8],
    login: (Option<String>, Option<String>),
    timeout: Duration,
) -> Result<Server, RedisError> {
    let slot = i64::from(redis::cluster_routing::get_slot(key));
    let mut reasons = Vec::new();
    for seed in seeds {
        match slots_blocking(seed, &login, Instant::now() + timeout) {
            Ok(ranges) => match master_of(&ranges, slot, seed) {
                Some(m) => return Ok(m),
                None => reasons.push(format!("{seed}: slot {slot} is not served")),
            },
            Err(e) => reasons.push(format!("{seed}: {e}")),
        }
    }
    Err(RedisError::NoMaster {
        reason: reasons.join("; "),
    })
}

fn slots_blocking(
    seed: &Server,
    login: &(Option<String>, Option<String>),
    deadline: Instant,
) -> Result<Vec<Value>, String> {
    let target = Target::resolved(seed, login.0.clone(), login.1.clone())?;
    let mut c = Conn::open(&target, deadline).map_err(|e| e.to_string())?;
    redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query::<Vec<Value>>(&mut c)
        .map_err(|e| e.to_string())
}

/// In `CLUSTER SLOTS`' answer (`[start, end, [ip, port, ...], replicas...]` per range),
/// the master of `slot`; an empty ip means the node asked.
fn master_of(ranges: &[Value], slot: i64, asked: &Server) -> Option<Server> {
    ranges.iter().find_map(|r| {
        let Value::Array(r) = r else { return None };
        let int = |v: Option<&Value>| match v {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        };
        let (start, end) = (int(r.first())?, int(r.get(1))?);
        if !(start..=end).contains(&slot) {
            return None;
        }
        let Some(Value::Array(node)) = r.get(2) else {
            return None;
        };
        let ip = match node.first()? {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::SimpleString(s) => s.clone(),
            _ => return None,
        };
        let port = u16::try_from(int(node.get(1))?).ok()?;
        match (ip.is_empty(), asked) {
            (true, Server::Tcp(h, _)) => Some(Server::Tcp(h.clone(), port)),
            _ => Some(Server::Tcp(ip, port)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_of_a_slot_from_cluster_slots() {
        let node = |ip: &str, port| {
            Value::Array(vec![
                Value::BulkString(ip.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let range = |a, b, master| Value::Array(vec![Value::Int(a), Value::Int(b), master]);
        let ranges = vec![
            range(0, 5460, node("127.0.0.1", 7000)),
            range(5461, 10922, node("", 7001)),
            range(10923, 16383, node("127.0.0.1", 7002)),
        ];
        let asked = Server::Tcp("localhost".into(), 7000);
        let tcp = |h: &str, p| Some(Server::Tcp(h.into(), p));
        assert_eq!(master_of(&ranges, 0, &asked), tcp("127.0.0.1", 7000));
        assert_eq!(master_of(&ranges, 6000, &asked), tcp("localhost", 7001));
        assert_eq!(master_of(&ranges, 16383, &asked), tcp("127.0.0.1", 7002));
        assert_eq!(master_of(&ranges[..1], 9000, &asked), None);
    }

    #[test]
    fn a_pipeline_is_cut_where_slots_differ() {
        let mut p = redis::pipe();
        p.cmd("PSETEX").arg("rgbabc").arg(10).arg("x");
        p.cmd("PSETEX").arg("rgmdef").arg(10).arg("x");
        p.cmd("PEXPIRE").arg("rgbabc").arg(10);
        p.cmd("PING");
        let s = Split::of(p.cmd_iter());
        assert_eq!(s.by_route.len(), 2, "{s:?}");
        assert!(s.by_route.contains(&vec![0, 2]));
        assert!(s.by_route.contains(&vec![1]));
        assert_eq!(s.alone, vec![3]);
        assert!(!s.is_whole());
    }

    #[test]
    fn keys_sharing_a_hash_tag_go_whole() {
        let mut p = redis::pipe();
        p.cmd("LPUSH").arg("{h}rs_history_a_zst").arg("row");
        p.cmd("LTRIM").arg("{h}rs_history_a_zst").arg(0).arg(10);
        p.cmd("SADD").arg("{h}rs_history_hosts").arg("x");
        assert!(Split::of(p.cmd_iter()).is_whole());
    }
}
