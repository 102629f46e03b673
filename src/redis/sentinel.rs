//! The master, as Redis Sentinel reports it: `SENTINEL masters` on each sentinel in turn
//! until one answers, the masters filtered by `sentinel_masters_pattern`, those the
//! sentinels see as down left out, the first by name taken. The client asks again when its
//! connection fails (a failover) and every `sentinel_watch_time`. Its replicas (`SENTINEL
//! slaves`, those with their link to the master up) serve the reads. Sentinels that
//! require a password get `sentinel_username` and `sentinel_password`.
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo};
use regex::Regex;

use super::blocking::{Conn, Target};
use super::config::Server;
use super::error::RedisError;

/// How to log in to the sentinels (Rspamd's `sentinel_username`, `sentinel_password`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentinelAuth {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// The master's address, resolved before `deadline`.
pub async fn master(
    sentinels: &[Server],
    pattern: Option<&Regex>,
    auth: &SentinelAuth,
    deadline: Instant,
) -> Result<Server, RedisError> {
    topology(sentinels, pattern, auth, false, deadline)
        .await
        .map(|(m, _)| m)
}

/// The master and its replicas that are in sync (sorted), resolved before `deadline`.
pub async fn master_and_replicas(
    sentinels: &[Server],
    pattern: Option<&Regex>,
    auth: &SentinelAuth,
    deadline: Instant,
) -> Result<(Server, Vec<Server>), RedisError> {
    topology(sentinels, pattern, auth, true, deadline).await
}

async fn topology(
    sentinels: &[Server],
    pattern: Option<&Regex>,
    auth: &SentinelAuth,
    with_replicas: bool,
    deadline: Instant,
) -> Result<(Server, Vec<Server>), RedisError> {
    let mut reasons = Vec::new();
    for s in sentinels {
        let masters = match ask(s, auth, &["masters"], deadline).await {
            Ok(m) => m,
            Err(e) => {
                reasons.push(format!("{s}: {e}"));
                continue;
            }
        };
        let Some((name, m)) = pick(&masters, pattern) else {
            reasons.push(format!("{s}: no master up matches"));
            continue;
        };
        if !with_replicas {
            return Ok((m, Vec::new()));
        }
        match ask(s, auth, &["slaves", &name], deadline).await {
            Ok(list) => return Ok((m, in_sync(&list))),
            Err(e) => reasons.push(format!("{s}: replicas of {name}: {e}")),
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
    auth: &SentinelAuth,
    timeout: Duration,
) -> Result<Server, RedisError> {
    topology_blocking(sentinels, pattern, auth, false, timeout).map(|(m, _)| m)
}

/// Where a blocking caller reads from: the first replica in sync (sorted, as the
/// asynchronous client orders them), else the master.
pub fn reader_blocking(
    sentinels: &[Server],
    pattern: Option<&Regex>,
    auth: &SentinelAuth,
    timeout: Duration,
) -> Result<Server, RedisError> {
    let (m, replicas) = topology_blocking(sentinels, pattern, auth, true, timeout)?;
    Ok(replicas.into_iter().next().unwrap_or(m))
}

fn topology_blocking(
    sentinels: &[Server],
    pattern: Option<&Regex>,
    auth: &SentinelAuth,
    with_replicas: bool,
    timeout: Duration,
) -> Result<(Server, Vec<Server>), RedisError> {
    let mut reasons = Vec::new();
    for s in sentinels {
        let deadline = Instant::now() + timeout;
        let (name, m) = match ask_blocking(s, auth, &["masters"], deadline) {
            Ok(masters) => match pick(&masters, pattern) {
                Some(found) => found,
                None => {
                    reasons.push(format!("{s}: no master up matches"));
                    continue;
                }
            },
            Err(e) => {
                reasons.push(format!("{s}: {e}"));
                continue;
            }
        };
        if !with_replicas {
            return Ok((m, Vec::new()));
        }
        match ask_blocking(s, auth, &["slaves", &name], deadline) {
            Ok(list) => return Ok((m, in_sync(&list))),
            Err(e) => reasons.push(format!("{s}: replicas of {name}: {e}")),
        }
    }
    Err(RedisError::NoMaster {
        reason: reasons.join("; "),
    })
}

fn ask_blocking(
    s: &Server,
    auth: &SentinelAuth,
    args: &[&str],
    deadline: Instant,
) -> Result<Vec<Vec<String>>, String> {
    let target = Target::resolved(s, auth.username.clone(), auth.password.clone())?;
    let mut c = Conn::open(&target, deadline).map_err(|e| e.to_string())?;
    redis::cmd("SENTINEL")
        .arg(args)
        .query::<Vec<Vec<String>>>(&mut c)
        .map_err(|e| e.to_string())
}

/// One sentinel's answer to `SENTINEL <args>` (masters, or a master's replicas), each
/// entry as its flat field list.
async fn ask(
    s: &Server,
    auth: &SentinelAuth,
    args: &[&str],
    deadline: Instant,
) -> Result<Vec<Vec<String>>, String> {
    let addr = match s {
        Server::Tcp(h, p) => ConnectionAddr::Tcp(h.clone(), *p),
        Server::Unix(p) => ConnectionAddr::Unix(p.into()),
    };
    let info = ConnectionInfo {
        addr,
        redis: RedisConnectionInfo {
            username: auth.username.clone(),
            password: auth.password.clone(),
            ..Default::default()
        },
    };
    let client = redis::Client::open(info).map_err(|e| e.to_string())?;
    let at = tokio::time::Instant::from_std(deadline);
    let work = async {
        let mut c = client.get_multiplexed_tokio_connection().await?;
        redis::cmd("SENTINEL")
            .arg(args)
            .query_async::<Vec<Vec<String>>>(&mut c)
            .await
    };
    match tokio::time::timeout_at(at, work).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("no answer within the deadline".into()),
    }
}

/// A field of one entry's flat `key, value, ...` list.
fn field<'a>(fields: &'a [String], k: &str) -> Option<&'a str> {
    fields
        .chunks(2)
        .find(|kv| kv.first().map(String::as_str) == Some(k))
        .and_then(|kv| kv.get(1))
        .map(String::as_str)
}

/// The address of an entry the sentinels do not flag down.
fn up(fields: &[String]) -> Option<Server> {
    let flags = field(fields, "flags").unwrap_or("");
    if flags
        .split(',')
        .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"))
    {
        return None;
    }
    let port = field(fields, "port")?.parse().ok()?;
    Some(Server::Tcp(field(fields, "ip")?.to_string(), port))
}

/// The first master by name that matches and is not flagged down, with its name.
fn pick(masters: &[Vec<String>], pattern: Option<&Regex>) -> Option<(String, Server)> {
    let mut ok: Vec<(&str, Server)> = masters
        .iter()
        .filter_map(|fields| {
            let name = field(fields, "name")?;
            if pattern.is_some_and(|p| !p.is_match(name)) {
                return None;
            }
            Some((name, up(fields)?))
        })
        .collect();
    ok.sort_by(|a, b| a.0.cmp(b.0));
    ok.into_iter().next().map(|(n, s)| (n.to_string(), s))
}

/// The replicas that are up with their link to the master up (as Rspamd reads them).
fn in_sync(replicas: &[Vec<String>]) -> Vec<Server> {
    let mut out: Vec<Server> = replicas
        .iter()
        .filter(|f| field(f, "master-link-status") == Some("ok"))
        .filter_map(|f| up(f))
        .collect();
    out.sort_by_key(ToString::to_string);
    out
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
        let server = |p| Server::Tcp("127.0.0.1".into(), p);
        assert_eq!(pick(&all, None), Some(("beta".into(), server(2))));
        let z = Regex::new("^ze").unwrap();
        assert_eq!(pick(&all, Some(&z)), Some(("zeta".into(), server(3))));
        let none = Regex::new("^alpha$").unwrap();
        assert_eq!(pick(&all, Some(&none)), None);
    }

    #[test]
    fn replicas_in_sync_only() {
        let mut ok = m("r1", 7, "slave");
        ok.extend(["master-link-status".to_string(), "ok".to_string()]);
        let mut lagging = m("r2", 8, "slave");
        lagging.extend(["master-link-status".to_string(), "err".to_string()]);
        let mut down = m("r3", 9, "slave,s_down");
        down.extend(["master-link-status".to_string(), "ok".to_string()]);
        assert_eq!(
            in_sync(&[lagging, ok, down]),
            vec![Server::Tcp("127.0.0.1".into(), 7)]
        );
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
            &SentinelAuth::default(),
            start + std::time::Duration::from_millis(500),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, RedisError::NoMaster { .. }), "{e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
