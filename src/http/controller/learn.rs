//! `/learnspam` and `/learnham`: the body is learned into the Bayes store
//! the daemon opened at start, the same one its scans classify with, so a
//! learn shows in the next scan and in `/stat`.
//!
//! With the neural module on, the message is then scanned (a learn-only
//! scan: no greylisting or rate limit state, no autolearn) and its symbol
//! vector goes to every neural rule's training set of the learned class,
//! as Rspamd's `ANN-Train` request header does. Bayes comes first so that
//! a message learned before (Rspamd's 208, e.g. a folder learned again by
//! cron) adds no duplicate vector.
//!
//! The store does blocking I/O (a redb transaction, or a Redis round trip),
//! so the learn runs on tokio's blocking pool, never on the reactor.
//! Replies follow Rspamd's controller: `{"success":true}`, or its error
//! writer's `{"error":...}` with the statistics layer's status codes.
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::json;

use super::super::body;
use super::super::reply::{self, Domain, Reply};
use super::super::request::ScanHeaders;
use crate::http::shared::ScanContext;
use crate::message::Envelope;
use crate::stats::{Class, LearnOutcome, Stats, StatsError};
use crate::verdict::{AnnTrain, Placement, ScanOptions, ScanRequest};

/// The only classifier sluice has (Rspamd's `Classifier:` header names one).
const CLASSIFIER: &str = "bayes";

/// Why a learn request got no `{"success":true}`.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("Bayes statistics are not configured")]
    NoClassifier,
    #[error("Unknown classifier {0}")]
    UnknownClassifier(String),
    #[error("Empty body is not permitted")]
    EmptyBody,
    #[error("{0}")]
    Request(String, u16),
    #[error("<{msgid}> has been already learned as {class}, ignore it")]
    AlreadyLearned { msgid: String, class: &'static str },
    #[error("learn failed: {0}")]
    Store(#[from] StatsError),
    #[error("learn task failed: {0}")]
    Task(String),
    #[error("neural learn: {0}")]
    Neural(String),
}

impl LearnError {
    /// Rspamd's status for it (see the protocol notes, learning).
    pub fn status(&self) -> u16 {
        match self {
            LearnError::NoClassifier | LearnError::UnknownClassifier(_) => 404,
            LearnError::EmptyBody => 400,
            LearnError::Request(_, status) => *status,
            LearnError::AlreadyLearned { .. } => 208,
            LearnError::Store(_) | LearnError::Task(_) | LearnError::Neural(_) => 500,
        }
    }
}

/// What one learn did.
#[derive(Debug)]
pub struct Learned {
    /// The Bayes store's outcome (`None`: no Bayes statistics).
    pub bayes: Option<LearnOutcome>,
    /// Whether the message was scanned for the neural training sets.
    pub neural: bool,
}

/// Where a learn goes: the Bayes store, and the scanner whose neural
/// module takes the message's vector.
pub struct Learners {
    pub stats: Option<Arc<Stats>>,
    pub ctx: Arc<ScanContext>,
}

impl Learners {
    fn neural(&self) -> bool {
        self.ctx.scanner.rules().is_some_and(|r| r.learns_neural())
    }
}

/// Answers one learn request.
pub async fn handle(
    req: Request<Incoming>,
    class: Class,
    to: Learners,
    limits: &body::BodyLimits,
) -> Reply {
    match learn(req, class, to, limits).await {
        Ok(outcome) => {
            tracing::info!(class = class.as_str(), ?outcome, "http learned");
            reply::json(&json!({"success": true}), false)
        }
        Err(e) => {
            tracing::info!(
                class = class.as_str(),
                status = e.status(),
                "http learn: {e}"
            );
            reply::error(e.status(), &e.to_string(), Domain::None)
        }
    }
}

async fn learn(
    req: Request<Incoming>,
    class: Class,
    to: Learners,
    limits: &body::BodyLimits,
) -> Result<Learned, LearnError> {
    let neural = to.neural();
    if to.stats.is_none() && !neural {
        return Err(LearnError::NoClassifier);
    }
    let (parts, body) = req.into_parts();
    if let Some(c) = parts.headers.get("classifier") {
        let name = String::from_utf8_lossy(c.as_bytes()).trim().to_string();
        if !name.eq_ignore_ascii_case(CLASSIFIER) {
            return Err(LearnError::UnknownClassifier(name));
        }
    }
    let headers = ScanHeaders::parse(&parts.headers, parts.uri.query())
        .map_err(|e| LearnError::Request(e.to_string(), e.status()))?;
    let body::Body {
        bytes: message,
        share,
    } = body::read(body, limits, headers.compressed)
        .await
        .map_err(|e| LearnError::Request(e.to_string(), e.status()))?;
    if message.is_empty() {
        return Err(LearnError::EmptyBody);
    }
    let env = headers.envelope;
    let bayes = match to.stats {
        Some(stats) => {
            let (env, message) = (env.clone(), message.clone());
            let learned = tokio::task::spawn_blocking(move || {
                let _held = share;
                learn_blocking(&stats, class, &env, &message)
            })
            .await
            .map_err(|e| LearnError::Task(e.to_string()))?;
            Some(learned?)
        }
        None => None,
    };
    if neural {
        if let Err(e) = learn_neural(&to.ctx, class, env, message).await {
            // The Bayes learn stands; the vector is lost, as a full
            // training queue loses one.
            if bayes.is_none() {
                return Err(e);
            }
            tracing::warn!(class = class.as_str(), "http learn: {e}");
        }
    }
    Ok(Learned { bayes, neural })
}

/// Scans the message so that its vector goes to the neural training sets
/// of `class` (the scan hands it to the module's training thread).
async fn learn_neural(
    ctx: &ScanContext,
    class: Class,
    envelope: Envelope,
    message: Bytes,
) -> Result<(), LearnError> {
    let req = Arc::new(ScanRequest {
        envelope,
        message,
        options: ScanOptions {
            ann_train: Some(match class {
                Class::Spam => AnnTrain::Spam,
                Class::Ham => AnnTrain::Ham,
            }),
            learn_only: true,
            ..ScanOptions::default()
        },
        placement: Placement::Pool,
    });
    match tokio::time::timeout(ctx.scan_timeout, ctx.scanner.scan(req)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(LearnError::Neural(e.to_string())),
        Err(_) => Err(LearnError::Neural(format!(
            "scan timed out after {:?}",
            ctx.scan_timeout
        ))),
    }
}

/// The learn itself; a message already learned as `class` is Rspamd's 208.
fn learn_blocking(
    stats: &Stats,
    class: Class,
    env: &Envelope,
    message: &Bytes,
) -> Result<LearnOutcome, LearnError> {
    match stats.learn(class, env, message)? {
        LearnOutcome::AlreadyLearned => Err(LearnError::AlreadyLearned {
            msgid: message_id(message).unwrap_or_else(|| "undef".into()),
            class: class.as_str(),
        }),
        done => Ok(done),
    }
}

/// The Message-ID for the 208 text, as Rspamd names the message.
fn message_id(raw: &[u8]) -> Option<String> {
    let msg = mail_parser::MessageParser::new().parse_headers(raw)?;
    msg.message_id().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_rspamd() {
        assert_eq!(LearnError::NoClassifier.status(), 404);
        assert_eq!(LearnError::EmptyBody.status(), 400);
        let e = LearnError::AlreadyLearned {
            msgid: "a@b".into(),
            class: "spam",
        };
        assert_eq!(e.status(), 208);
        assert_eq!(
            e.to_string(),
            "<a@b> has been already learned as spam, ignore it"
        );
    }

    #[test]
    fn message_id_is_read_from_the_header_block() {
        let raw = b"Subject: x\r\nMessage-ID: <m1@example.org>\r\n\r\nbody\r\n";
        assert_eq!(message_id(raw).as_deref(), Some("m1@example.org"));
        assert_eq!(message_id(b"Subject: x\r\n\r\nbody"), None);
    }
}
