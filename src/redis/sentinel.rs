//! The master, as Redis Sentinel reports it: `SENTINEL masters` on each sentinel in turn
//! until one answers, the masters filtered by `sentinel_masters_pattern`, those the
//! sentinels see as down left out, the first by name taken. The client asks again when its
//! connection fails (a failover) and every `sentinel_watch_time`.
use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo};
use regex::Regex;

use super::blocking::{Addr, Conn, Target};
use super::config::Server;
use super::error::RedisError;

/// The master's address, resolved before `deadline`.
pub async fn master(
    sentinels: &[Server],
    pattern: Option<&Regex>,
    deadline: Instant,
) -> Result<Server, RedisError> {
    let mut reasons = Vec::new();
    for s in sentinels {
        match ask(s, deadline).await {
            Ok(masters) => match pick(&masters, pattern) {
                Some(m) => return Ok(m),
                None => reasons.push(format!("{s}: no master up matches")),
            },
            Err(e) => reasons.push(format!("{s}: {e}")),
        }
    }
    Err(RedisError::NoMaster {
        reason: reasons.join("; "),
    })
}

/// [`master`] for a caller on a thread of its own (the Bayes store), each sentinel given
/// `timeout`.
pub fn master_blocking(
    sentinels: &[Server],
    pattern: Option<&Regex>,
    timeout: Duration,
) -> Result<Server, RedisError> {
    let mut reasons = Vec::new();
    for s in sentinels {
        let asked = ask_blocking(s, Instant::now() + timeout);
        match asked {
            Ok(masters) => match pick(&masters, pattern) {
                Some(m) => return Ok(m),
                None => reasons.push(format!("{s}: no master up matches")),
            },
            Err(e) => reasons.push(format!("{s}: {e}")),
        }
    }
    Err(RedisError::NoMaster {
        reason: reasons.join("; "),
    })
}

fn ask_blocking(s: &Server, deadline: Instant) -> Result<Vec<Vec<String>>, String> {
    let addr = match s {
        Server::Tcp(h, p) => Addr::Tcp(
            (h.as_str(), *p)
                .to_socket_addrs()
                .map_err(|e| format!("resolving {h}: {e}"))?
                .collect(),
        ),
        Server::Unix(p) => Addr::Unix(p.into()),
    };
    let target = Target {
        addr,
        db: 0,
        username: None,
        password: None,
    };
    let mut c = Conn::open(&target, deadline).map_err(|e| e.to_string())?;
    redis::cmd("SENTINEL")
        .arg("masters")
        .query::<Vec<Vec<String>>>(&mut c)
        .map_err(|e| e.to_string())
}

/// One sentinel's `SENTINEL masters`, each master as its flat field list.
async fn ask(s: &Server, deadline: Instant) -> Result<Vec<Vec<String>>, String> {
    let addr = match s {
        Server::Tcp(h, p) => ConnectionAddr::Tcp(h.clone(), *p),
        Server::Unix(p) => ConnectionAddr::Unix(p.into()),
    };
    let info = ConnectionInfo {
        addr,
        redis: RedisConnectionInfo::default(),
    };
    let client = redis::Client::open(info).map_err(|e| e.to_string())?;
    let at = tokio::time::Instant::from_std(deadline);
    let work = async {
        let mut c = client.get_multiplexed_tokio_connection().await?;
        redis::cmd("SENTINEL")
            .arg("masters")
            .query_async::<Vec<Vec<String>>>(&mut c)
            .await
    };
    match tokio::time::timeout_at(at, work).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("no answer within the deadline".into()),
    }
}

/// The first master by name that matches and is not flagged down.
fn pick(masters: &[Vec<String>], pattern: Option<&Regex>) -> Option<Server> {
    let mut up: Vec<(&str, Server)> = masters
        .iter()
        .filter_map(|fields| {
            let get = |k: &str| {
                fields
                    .chunks(2)
                    .find(|kv| kv.first().map(String::as_str) == Some(k))
                    .and_then(|kv| kv.get(1))
                    .map(String::as_str)
            };
            let name = get("name")?;
            if pattern.is_some_and(|p| !p.is_match(name)) {
                return None;
            }
            let flags = get("flags").unwrap_or("");
            if flags
                .split(',')
                .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"))
            {
                return None;
            }
            let port = get("port")?.parse().ok()?;
            Some((name, Server::Tcp(get("ip")?.to_string(), port)))
        })
        .collect();
    up.sort_by(|a, b| a.0.cmp(b.0));
    up.into_iter().next().map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, port: u16, flags: &str) -> Vec<String> {
        [
            "name",
            name,
            "ip",
            "127.0.0.1",
            "port",
            &port.to_string(),
            "flags",
            flags,
        ]
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    #[test]
    fn picks_a_matching_master_that_is_up() {
        let all = vec![
            m("zeta", 3, "master"),
            m("alpha", 1, "master,s_down,o_down"),
            m("beta", 2, "master"),
        ];
        assert_eq!(pick(&all, None), Some(Server::Tcp("127.0.0.1".into(), 2)));
        let z = Regex::new("^ze").unwrap();
        assert_eq!(
            pick(&all, Some(&z)),
            Some(Server::Tcp("127.0.0.1".into(), 3))
        );
        let none = Regex::new("^alpha$").unwrap();
        assert_eq!(pick(&all, Some(&none)), None);
    }

    #[tokio::test]
    async fn no_sentinel_answering_is_an_error_in_time() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let start = Instant::now();
        let e = master(
            &[Server::Tcp("127.0.0.1".into(), port)],
            None,
            start + std::time::Duration::from_millis(500),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, RedisError::NoMaster { .. }), "{e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
