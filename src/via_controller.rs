//! `sluice learn` and `sluice stat` while `sluice run` holds the embedded
//! store (its file is locked by the daemon): the messages go to the
//! daemon's controller, `/learnspam` and `/learnham`, one request each, so
//! cron learning works without Redis. The daemon learns them into the store
//! its scans read, and the run shows the same progress bar and summary as a
//! local one. The figures come from its `/stat`.
//!
//! The controller's address and password come from the same configuration
//! the daemon reads (`worker "controller"`): its first TCP `bind_socket`
//! (a wildcard address is reached on loopback) and `enable_password`, else
//! `password`, since learning is a privileged call.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::{Config, ListenAddr};
use crate::stats::learn::{learn_each, Item, Summary};
use crate::stats::{Class, LearnOutcome, Learns, StoreStat};
use crate::status::{self, StatusError};

/// Why learning through the controller could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RemoteLearnError {
    #[error("the controller is turned off (worker \"controller\" enabled = false)")]
    NoController,
    #[error("the controller has no TCP bind_socket ({0}); learning through it needs one")]
    NoTcp(String),
    #[error("the controller listens with TLS; learn over plain HTTP is not offered")]
    Tls,
    #[error(transparent)]
    Http(#[from] StatusError),
    #[error("controller {addr}: /stat has no Bayes statistics: {reason}")]
    NoStat { addr: String, reason: String },
    #[error("controller {addr} refused to learn ({status}): {body}")]
    Refused {
        addr: String,
        status: u16,
        body: String,
    },
}

/// Where and how to reach the running daemon's controller.
#[derive(Debug, Clone)]
pub struct Controller {
    pub addr: String,
    password: Option<String>,
}

impl Controller {
    /// The controller `cfg` configures.
    pub fn from_config(cfg: &Config) -> Result<Controller, RemoteLearnError> {
        let c = &cfg.http.controller;
        if !c.enabled {
            return Err(RemoteLearnError::NoController);
        }
        if c.tls.is_some() {
            return Err(RemoteLearnError::Tls);
        }
        let tcp = c
            .bind_socket
            .iter()
            .find_map(|a| match a {
                ListenAddr::Tcp(sa) => Some(*sa),
                ListenAddr::Unix(_) => None,
            })
            .ok_or_else(|| RemoteLearnError::NoTcp(format!("{:?}", c.bind_socket)))?;
        let access = &cfg.http.access;
        Ok(Controller {
            addr: reachable(tcp).to_string(),
            password: access.enable_password.clone().or(access.password.clone()),
        })
    }

    /// Learns one message: its outcome; `None` when the daemon refused this
    /// message alone (too large, not mail: the run goes on); an error when
    /// no further message would be learned either (unreachable, password
    /// refused, store down).
    pub fn learn(&self, item: &Item) -> Result<Option<LearnOutcome>, RemoteLearnError> {
        let path = match item.class {
            Class::Spam => "/learnspam",
            Class::Ham => "/learnham",
        };
        let (status, body) = status::request(
            &self.addr,
            "POST",
            path,
            self.password.as_deref(),
            Some(item.raw.as_slice()),
        )?;
        match status {
            200 => Ok(Some(LearnOutcome::Learned)),
            208 => Ok(Some(LearnOutcome::AlreadyLearned)),
            400 | 413 | 415 => {
                tracing::warn!("{}: not learned ({status}): {body}", item.origin);
                Ok(None)
            }
            _ => Err(RemoteLearnError::Refused {
                addr: self.addr.clone(),
                status,
                body: body.chars().take(200).collect(),
            }),
        }
    }
}

impl Controller {
    /// The store's figures from the daemon's `/stat` (Rspamd's `statfiles`).
    pub fn stat(&self) -> Result<StoreStat, RemoteLearnError> {
        let body = status::get(&self.addr, "/stat", self.password.as_deref())?;
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| self.no_stat(e.to_string()))?;
        stat_of(&v).ok_or_else(|| self.no_stat(body.chars().take(200).collect()))
    }

    fn no_stat(&self, reason: String) -> RemoteLearnError {
        RemoteLearnError::NoStat {
            addr: self.addr.clone(),
            reason,
        }
    }
}

/// A [`StoreStat`] from `/stat`'s `statfiles` (one per class, each with the
/// whole store's tokens and size).
fn stat_of(v: &serde_json::Value) -> Option<StoreStat> {
    let files = v.get("statfiles")?.as_array()?;
    let find = |sym: &str| files.iter().find(|f| f["symbol"] == sym);
    let (spam, ham) = (find("BAYES_SPAM")?, find("BAYES_HAM")?);
    let n = |f: &serde_json::Value, k: &str| f[k].as_u64().unwrap_or(0);
    Some(StoreStat {
        backend: if spam["type"] == "redis" {
            "redis"
        } else {
            "embedded"
        },
        location: "the running daemon's store".into(),
        learns: Learns {
            spam: n(spam, "revision"),
            ham: n(ham, "revision"),
        },
        tokens: n(spam, "used"),
        size_bytes: n(spam, "size"),
        users: n(spam, "users"),
    })
}

/// A wildcard listen address is reached on loopback.
fn reachable(sa: SocketAddr) -> SocketAddr {
    let ip = match sa.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, sa.port())
}

/// Learns `items` through `ctl`, with the progress bar of a local run.
pub fn learn_items(
    ctl: &Controller,
    items: &[Item],
    progress: bool,
) -> Result<Summary, RemoteLearnError> {
    learn_each(items, progress, |item| ctl.learn(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_reached_on_loopback() {
        let r = |s: &str| reachable(s.parse().unwrap()).to_string();
        assert_eq!(r("0.0.0.0:11334"), "127.0.0.1:11334");
        assert_eq!(r("[::]:11334"), "[::1]:11334");
        assert_eq!(r("127.0.0.2:5"), "127.0.0.2:5");
    }

    #[test]
    fn stat_is_read_from_statfiles() {
        let v = serde_json::json!({"statfiles": [
            {"symbol": "BAYES_SPAM", "type": "embedded", "revision": 3, "used": 40, "size": 4096, "users": 0},
            {"symbol": "BAYES_HAM", "type": "embedded", "revision": 2, "used": 40, "size": 4096, "users": 0}
        ]});
        let s = stat_of(&v).unwrap();
        assert_eq!(s.learns, Learns { spam: 3, ham: 2 });
        assert_eq!((s.tokens, s.size_bytes, s.backend), (40, 4096, "embedded"));
        assert!(stat_of(&serde_json::json!({"uptime": 1})).is_none());
    }

    #[test]
    fn an_unreachable_controller_ends_the_run() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let ctl = Controller {
            addr,
            password: None,
        };
        let item = Item {
            origin: "m".into(),
            class: Class::Spam,
            raw: b"Subject: x\r\n\r\nbody\r\n".to_vec(),
        };
        let e = learn_items(&ctl, &[item], false).unwrap_err();
        assert!(matches!(e, RemoteLearnError::Http(_)), "{e}");
    }
}
