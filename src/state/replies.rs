//! Replies (Rspamd's `replies` module): the Message-ID of mail our own users send
//! (authenticated, or from a local network) is remembered for `expire`, with a hash of the
//! address a reply goes to; a message whose `In-Reply-To` names one of them, sent to that
//! address, gets `REPLY` (weight -4 by default), and `action` when one is configured.
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use mail_parser::{Address, HeaderName, Message, MessageParser};
use serde_json::Value;

use super::error::StateConfigError;
use super::metrics;
use super::section::Section;
use super::store::Store;
use super::symbol::hash_key;
use crate::message::Envelope;
use crate::verdict::Action;

/// Rspamd's default weight of the symbol.
pub const DEFAULT_SCORE: f64 = -4.0;

/// The symbol's name and weight, read from the section for the pipeline's registry.
pub fn symbol(section: Option<&Value>) -> (String, f64) {
    let name = section
        .and_then(|s| s.get("symbol"))
        .and_then(Value::as_str)
        .unwrap_or("REPLY")
        .to_string();
    let score = section
        .and_then(|s| s.get("score"))
        .and_then(|v| crate::config::value::string(v).ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(DEFAULT_SCORE);
    (name, score)
}

#[derive(Debug, Clone)]
pub struct RepliesSettings {
    pub expire: Duration,
    pub key_prefix: String,
    pub message: String,
    pub symbol: String,
    pub action: Option<Action>,
    pub use_auth: bool,
    pub use_local: bool,
    pub min_message_id: usize,
}

impl RepliesSettings {
    pub fn from_section(s: &Section<'_>) -> Result<RepliesSettings, StateConfigError> {
        let action = s
            .opt_string("action")?
            .map(|a| {
                Action::parse(&a).ok_or(StateConfigError::Shape {
                    key: "replies.action".into(),
                    expected: "an action name",
                })
            })
            .transpose()?;
        Ok(RepliesSettings {
            expire: s.duration("expire", Duration::from_secs(86_400))?,
            key_prefix: s.string("key_prefix", "rr")?,
            message: s.string("message", "Message is reply to one we originated")?,
            symbol: s.string("symbol", "REPLY")?,
            action,
            use_auth: s.boolean("use_auth", true)?,
            use_local: s.boolean("use_local", true)?,
            min_message_id: s.size("min_message_id", 2)?,
        })
    }
}

#[derive(Debug)]
pub struct Replies {
    pub settings: RepliesSettings,
    pub store: Store,
    local: Vec<IpNet>,
}

/// A reply to one of ours.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub symbol: String,
    /// The action to force, with its message (`action` set, sender not ours).
    pub action: Option<(Action, String)>,
}

impl Replies {
    pub fn new(settings: RepliesSettings, store: Store, local: Vec<IpNet>) -> Replies {
        Replies {
            settings,
            store,
            local,
        }
    }

    fn ours(&self, env: &Envelope) -> bool {
        let s = &self.settings;
        (s.use_auth && env.user.is_some())
            || (s.use_local
                && env
                    .client_ip
                    .is_some_and(|ip| self.local.iter().any(|n| n.contains(&ip))))
    }

    /// Whether the message replies to one of ours (before the scan).
    pub async fn check(&self, env: &Envelope, raw: &[u8], deadline: Instant) -> Option<Reply> {
        let msg = MessageParser::new().parse_headers(raw)?;
        let irt = msg.header_raw(HeaderName::InReplyTo)?.trim();
        if irt.is_empty() {
            return None;
        }
        metrics::counters("replies")
            .checked
            .fetch_add(1, Ordering::Relaxed);
        let key = hash_key(&self.settings.key_prefix, &[irt.as_bytes()], 20);
        let stored = match self.store.get(&[key], deadline).await {
            Ok(mut v) => v.pop().flatten()?,
            Err(e) => {
                metrics::failed("replies", &e);
                return None;
            }
        };
        let to_us = [msg.to(), msg.cc()]
            .into_iter()
            .flatten()
            .flat_map(addresses)
            .any(|a| address_hash(&a) == stored);
        if !to_us {
            return None;
        }
        metrics::counters("replies")
            .hits
            .fetch_add(1, Ordering::Relaxed);
        let s = &self.settings;
        Some(Reply {
            symbol: s.symbol.clone(),
            action: s
                .action
                .clone()
                .filter(|_| !self.ours(env))
                .map(|a| (a, s.message.clone())),
        })
    }

    /// Remembers a message of ours (after the scan).
    /// Written in the background ([`Store::set_later`]): a reply comes later.
    pub fn remember(&self, env: &Envelope, raw: &[u8]) {
        if !self.ours(env) {
            return;
        }
        let Some(msg) = MessageParser::new().parse_headers(raw) else {
            return;
        };
        let Some(id) = msg.header_raw(HeaderName::MessageId).map(str::trim) else {
            return;
        };
        if id.len() <= self.settings.min_message_id {
            return;
        }
        let Some(sender) = reply_sender(&msg) else {
            return;
        };
        let key = hash_key(&self.settings.key_prefix, &[id.as_bytes()], 20);
        let pair = [(key, address_hash(&sender))];
        self.store.set_later(&pair, self.settings.expire, "replies");
    }
}

/// Where a reply to `msg` goes: `Reply-To`, else `From`.
fn reply_sender(msg: &Message<'_>) -> Option<String> {
    msg.reply_to()
        .or_else(|| msg.from())
        .and_then(|a| addresses(a).next())
}

fn addresses<'a>(a: &'a Address<'_>) -> impl Iterator<Item = String> + 'a {
    a.iter()
        .filter_map(|x| x.address())
        .map(str::to_ascii_lowercase)
}

fn address_hash(addr: &str) -> String {
    hash_key("", &[addr.to_ascii_lowercase().as_bytes()], 8)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::state::store::{Embedded, Lazy};

    fn module(section: serde_json::Value) -> (Replies, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let s = Section {
            name: "replies",
            value: Some(&section),
        };
        let store = Store::Embedded(Arc::new(Lazy::ready(
            Embedded::open(&dir.path().join("s.redb")).unwrap(),
        )));
        let settings = RepliesSettings::from_section(&s).unwrap();
        (
            Replies::new(settings, store, crate::config::local_addrs::defaults()),
            dir,
        )
    }

    #[tokio::test]
    async fn a_reply_to_mail_a_user_sent_is_marked() {
        let (r, _d) = module(json!({"action": "no action"}));
        let deadline = Instant::now() + Duration::from_secs(1);
        let sent = b"From: Us <Me@Example.com>\r\nTo: them@example.org\r\nMessage-ID: <abc@example.com>\r\n\r\nhi\r\n";
        let user = Envelope {
            user: Some("me".into()),
            client_ip: Some("192.0.2.7".parse().unwrap()),
            ..Default::default()
        };
        let outside = Envelope {
            client_ip: Some("198.51.100.1".parse().unwrap()),
            ..Default::default()
        };
        // Sent by someone outside: not remembered.
        r.remember(&outside, sent);
        let reply = b"From: them@example.org\r\nTo: me@example.com\r\nIn-Reply-To: <abc@example.com>\r\n\r\nre\r\n";
        assert_eq!(r.check(&outside, reply, deadline).await, None);
        r.remember(&user, sent);
        let hit = r.check(&outside, reply, deadline).await.unwrap();
        assert_eq!(hit.symbol, "REPLY");
        assert_eq!(hit.action.unwrap().0, Action::NoAction);
        // To someone else, or not a reply: nothing.
        let other = b"To: else@example.com\r\nIn-Reply-To: <abc@example.com>\r\n\r\nre\r\n";
        assert_eq!(r.check(&outside, other, deadline).await, None);
        assert_eq!(
            r.check(&outside, b"To: me@example.com\r\n\r\nx", deadline)
                .await,
            None
        );
        assert_eq!(
            symbol(Some(&json!({"score": "-2.5"}))),
            ("REPLY".into(), -2.5)
        );
        assert_eq!(symbol(None), ("REPLY".into(), DEFAULT_SCORE));
    }
}
