//! Shared state: greylisting ([`greylist`]), rate limits ([`ratelimit`]) and replies
//! ([`replies`]), Rspamd's modules of those names with their sections and defaults.
//!
//! Each keeps its records in a [`store::Store`]: Redis when one is configured for it
//! (the `redis` section, or the module's own `servers`), shared by every node on it;
//! otherwise the embedded store, a redb file under `$DBDIR` for one box.
//!
//! Around each scan: [`StateChecks::before`] reads and updates what the scan needs
//! (a rate limit's buckets, a greylisting's records, whether the message is a reply), in
//! parallel with the auth checks; [`StateChecks::after`] applies greylisting to the
//! verdict and remembers our users' messages. What no answer depends on (records renewed,
//! multipliers moved, messages remembered) is written in the background, in batches
//! ([`crate::redis::deferred`]). Every store call is bounded by the state
//! budget, within the scan's time; a failed call is logged, counted
//! ([`metrics`]) and the message goes on without that module (fail open).
pub mod dynamic;
pub mod error;
pub mod facts;
pub mod greylist;
pub mod metrics;
pub mod ratelimit;
pub mod replies;
pub mod section;
pub mod store;
pub mod symbol;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use error::{StateConfigError, StateError};
use facts::Facts;
use greylist::{Greylist, GreylistSettings, Keys, Seen};
use ratelimit::{Exceeded, Ratelimit, RatelimitSettings};
use replies::{Replies, RepliesSettings, Reply};
use section::Section;
use store::{Lazy, Store};
pub use symbol::{hash_key, StateSymbol};

use crate::message::Envelope;
use crate::redis::{Client, RedisConfig};
use crate::verdict::{Action, Symbol, Verdict};

/// The embedded store's file when `state.path` is not set.
pub const DEFAULT_PATH: &str = "/var/lib/sluice/state.redb";

/// The configured modules.
#[derive(Debug)]
pub struct StateChecks {
    greylist: Option<Greylist>,
    ratelimit: Option<Ratelimit>,
    replies: Option<Replies>,
    /// Bound of each phase's store calls.
    budget: Duration,
}

/// What [`StateChecks::before`] found, for the pipeline and for [`StateChecks::after`].
#[derive(Debug, Default)]
pub struct Before {
    limited: Option<Exceeded>,
    /// The rate limit buckets the message filled (their multipliers move after the scan).
    buckets: Vec<String>,
    grey: Option<(Keys, Seen)>,
    reply: Option<Reply>,
}

impl Before {
    /// The symbol to score with the scan's (a reply).
    pub fn symbols(&self) -> Vec<String> {
        self.reply.iter().map(|r| r.symbol.clone()).collect()
    }
}

impl StateChecks {
    /// Reads the `greylist`, `ratelimit` and `replies` sections; `None` when none is
    /// enabled. `scan_timeout` bounds the time the modules may take.
    pub fn from_tree(
        tree: &Value,
        scan_timeout: Duration,
    ) -> Result<Option<StateChecks>, StateConfigError> {
        let local = crate::config::local_addrs::read(tree.get("options"))
            .unwrap_or_else(|_| crate::config::local_addrs::defaults());
        let path = tree
            .pointer("/state/path")
            .and_then(Value::as_str)
            .map_or_else(|| PathBuf::from(DEFAULT_PATH), PathBuf::from);
        let embedded = Arc::new(Lazy::new(path));
        let mut budget = scan_timeout / 4;
        let mut store = |module: &'static str| -> Result<Store, StateConfigError> {
            Ok(match RedisConfig::for_module(tree, module)? {
                Some(cfg) => {
                    budget = budget.min(cfg.timeout);
                    tracing::info!("{module}: state in redis {}", cfg.describe());
                    // Shared with the other modules on that Redis: the calls of one
                    // message go out together.
                    let client = Client::shared(cfg);
                    Store::Redis(client)
                }
                None => Store::Embedded(Arc::clone(&embedded)),
            })
        };
        let section = |name: &'static str| Section {
            name,
            value: tree.get(name),
        };
        let grey = section("greylist");
        let greylist = if grey.value.is_some() && grey.enabled()? {
            let settings = GreylistSettings::from_section(&grey)?;
            Some(Greylist::new(settings, store("greylist")?, local.clone()))
        } else {
            None
        };
        let rl = section("ratelimit");
        let ratelimit = if rl.value.is_some() && rl.enabled()? {
            let settings = RatelimitSettings::from_section(&rl)?;
            for name in &settings.skipped {
                tracing::warn!("ratelimit: `{name}`: keywords other than ip, rip, from, bounce, user, to, digest, attachments and files are not supported (sluice has no asn module); limit ignored");
            }
            if settings.limits.is_empty() {
                None
            } else {
                Some(Ratelimit::new(settings, store("ratelimit")?, local.clone()))
            }
        } else {
            None
        };
        let rep = section("replies");
        let replies = if rep.value.is_some() && rep.enabled()? {
            let settings = RepliesSettings::from_section(&rep)?;
            Some(Replies::new(settings, store("replies")?, local))
        } else {
            None
        };
        if greylist.is_none() && ratelimit.is_none() && replies.is_none() {
            return Ok(None);
        }
        Ok(Some(StateChecks {
            greylist,
            ratelimit,
            replies,
            budget: budget.max(Duration::from_millis(1)),
        }))
    }

    /// The selectors of the rate limits, for the scan to evaluate on each message and
    /// hand to [`StateChecks::before_with`].
    pub fn selectors(&self) -> Vec<String> {
        self.ratelimit
            .as_ref()
            .map(|r| r.settings.selectors())
            .unwrap_or_default()
    }

    /// Checks each rate limit's selector with `parse` (the scan's selector parser).
    pub fn check_selectors(
        &self,
        parse: impl Fn(&str) -> Result<(), String>,
    ) -> Result<(), StateConfigError> {
        let Some(r) = &self.ratelimit else {
            return Ok(());
        };
        for l in &r.settings.limits {
            if let Some(sel) = &l.selector {
                parse(sel).map_err(|reason| StateConfigError::Selector {
                    key: format!("ratelimit.rates.{}.selector", l.name),
                    reason,
                })?;
            }
        }
        Ok(())
    }

    /// Before the scan: rate limits checked and filled, greylisting records read, the
    /// reply looked up, all at once and within the budget.
    pub async fn before(&self, env: &Envelope, raw: &[u8]) -> Before {
        self.before_with(env, raw, HashMap::new()).await
    }

    /// [`StateChecks::before`] with the values of [`StateChecks::selectors`] for this
    /// message.
    pub async fn before_with(
        &self,
        env: &Envelope,
        raw: &[u8],
        selected: HashMap<String, Vec<String>>,
    ) -> Before {
        let deadline = Instant::now() + self.budget;
        let limited = async {
            let Some(r) = &self.ratelimit else {
                return (None, Vec::new());
            };
            let facts = if r.settings.reads_parts() {
                Facts::from_message(raw, selected)
            } else {
                Facts {
                    selected,
                    ..Facts::default()
                }
            };
            bounded(deadline, "ratelimit", r.check_with(env, &facts, deadline))
                .await
                .unwrap_or_default()
        };
        let grey = async {
            let g = self.greylist.as_ref()?;
            let keys = g.keys(env, raw);
            let seen = bounded(deadline, "greylist", g.check(env, &keys, deadline))
                .await
                .unwrap_or(Seen::Failed);
            Some((keys, seen))
        };
        let reply = async {
            match &self.replies {
                Some(r) => bounded(deadline, "replies", r.check(env, raw, deadline))
                    .await
                    .flatten(),
                None => None,
            }
        };
        let ((limited, buckets), grey, reply) = tokio::join!(limited, grey, reply);
        Before {
            limited,
            buckets,
            grey,
            reply,
        }
    }

    /// After the scan: a rate limit's or a reply's forced action, greylisting on the
    /// scanned action, our users' messages remembered. True when the verdict changed (its
    /// `X-Spamd-Result` is then to be written again).
    pub async fn after(
        &self,
        env: &Envelope,
        raw: &[u8],
        before: &Before,
        v: &mut Verdict,
    ) -> bool {
        let deadline = Instant::now() + self.budget;
        let mut changed = false;
        if let Some(x) = &before.limited {
            if let Some(m) = &x.message {
                force(v, Action::SoftReject, Some(m.clone()), "ratelimit");
                changed = true;
            }
        }
        if let Some((a, m)) = before.reply.as_ref().and_then(|r| r.action.clone()) {
            if !changed {
                force(v, a, Some(m), "replies");
                changed = true;
            }
        }
        if let Some(r) = &self.replies {
            r.remember(env, raw);
        }
        if let (Some(r), false) = (&self.ratelimit, changed) {
            r.update(&before.buckets, v);
        }
        let decision = match (&self.greylist, &before.grey, changed) {
            (Some(g), Some((keys, seen)), false) => {
                bounded(
                    deadline,
                    "greylist",
                    g.apply(env, keys, seen, &v.action, v.score, deadline),
                )
                .await
            }
            _ => None,
        };
        if let Some(d) = decision {
            if let Some(s) = d.symbol {
                add_symbol(v, s);
                changed = true;
            }
            if let Some((a, m)) = d.action {
                let module = if a == Action::NoAction {
                    None
                } else {
                    Some("greylist")
                };
                match module {
                    Some(m_name) => force(v, a, m, m_name),
                    None => v.action = a,
                }
                changed = true;
            }
        }
        changed
    }
}

/// Runs `f` until `deadline`; past it, counts a failure for `module` and gives `None`.
async fn bounded<T>(
    deadline: Instant,
    module: &str,
    f: impl std::future::Future<Output = T>,
) -> Option<T> {
    match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), f).await {
        Ok(v) => Some(v),
        Err(_) => {
            metrics::failed(module, &StateError::Deadline);
            None
        }
    }
}

/// Rspamd's pre-result: the action, its message, and the module that set it.
fn force(v: &mut Verdict, action: Action, message: Option<String>, module: &str) {
    v.action = action;
    if message.is_some() {
        v.smtp_message = message;
    }
    v.passthrough_module = Some(module.to_string());
}

fn add_symbol(v: &mut Verdict, s: StateSymbol) {
    v.symbols.retain(|x| x.name != s.name);
    v.symbols.push(Symbol {
        name: s.name,
        score: 0.0,
        metric_score: 0.0,
        description: None,
        options: s.options,
    });
}
