//! Writes that no answer waits for: a greylisting record's lifetime renewed, a rate
//! limit's multipliers moved after the verdict, a user's message remembered for replies.
//!
//! A scan queues them ([`super::Client::later`]) and goes on; one writer task per client
//! gathers what arrives within [`WINDOW`] and sends it all in one pipeline, so that a
//! round trip to Redis carries the writes of many messages instead of one per message.
//! A write thus lands a few milliseconds after its verdict, which nothing reads that
//! soon (the next sight of the same triplet, bucket or reply is another message).
//!
//! A write that fails, or finds the queue full, is reported to its caller's `failed`
//! (the state modules count it, as a failed call of theirs) and the scans go on.
//! [`settle`] waits, with a bound, until everything queued has been sent: the daemon
//! calls it after the drain so a stop loses no write.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Weak;
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis::{Cmd, Value};
use tokio::sync::mpsc;

use super::client::{Inner, Script};
use super::{Client, RedisError, Role};

/// How long the writer gathers writes after the first before sending them.
pub const WINDOW: Duration = Duration::from_millis(10);
/// Writes waiting at most; past this a write is refused (and counted by its caller).
const QUEUE: usize = 8192;
/// Writes sent in one pipeline at most.
const BATCH: usize = 512;

/// Writes queued or being sent, over every client (for [`settle`]).
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// What to tell the caller of a write that failed.
pub type OnFailure = Box<dyn FnOnce(RedisError) + Send + Sync>;

/// One caller's write: its commands, sent together, and the scripts they call by SHA-1.
pub struct Write {
    pub cmds: Vec<Cmd>,
    pub scripts: Vec<Script>,
    pub failed: OnFailure,
}

/// The sending side a client keeps.
pub(super) type Queue = mpsc::Sender<Write>;

/// Starts the writer of the client behind `inner` on the current runtime; it ends when
/// the client is dropped, after sending what was queued.
pub(super) fn start(inner: Weak<Inner>) -> Queue {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(write_loop(inner, rx));
    tx
}

/// Queues `w` on `queue`; a full or closed queue fails it at once.
pub(super) fn push(queue: &Queue, w: Write, server: impl FnOnce() -> String) {
    PENDING.fetch_add(1, Ordering::AcqRel);
    if let Err(e) = queue.try_send(w) {
        PENDING.fetch_sub(1, Ordering::AcqRel);
        let w = match e {
            mpsc::error::TrySendError::Full(w) | mpsc::error::TrySendError::Closed(w) => w,
        };
        (w.failed)(RedisError::Backlog { server: server() });
    }
}

/// Waits until every queued write has been sent (or failed), at most `bound`.
pub async fn settle(bound: Duration) {
    let end = Instant::now() + bound;
    while PENDING.load(Ordering::Acquire) > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn write_loop(inner: Weak<Inner>, mut rx: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        // Held for the window: the client (and so the queue) outlives what it queued.
        let client = inner.upgrade().map(|inner| Client { inner });
        tokio::time::sleep(WINDOW).await;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let n = batch.len();
        match &client {
            Some(c) => send(c, std::mem::take(&mut batch)).await,
            None => {
                for w in batch.drain(..) {
                    (w.failed)(RedisError::Backlog {
                        server: "closed client".into(),
                    });
                }
            }
        }
        PENDING.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Sends `batch`: one pipeline, or under a cluster each write apart (a pipeline goes to
/// one node, and the writes of different messages live in different slots).
async fn send(client: &Client, batch: Vec<Write>) {
    let deadline = Instant::now() + client.config().timeout;
    let server = client.config().describe();
    if client.is_cluster() {
        let server = &server;
        let sends = batch.into_iter().map(|w| async move {
            let outcome = run(client, std::slice::from_ref(&w), deadline).await;
            report(server, vec![w], outcome);
        });
        futures_util::future::join_all(sends).await;
        return;
    }
    let outcome = run(client, &batch, deadline).await;
    report(&server, batch, outcome);
}

/// One pipeline of `writes`, each script loaded first (a server that restarted or
/// failed over does not know it, and EVALSHA would fail): the replies of the writes'
/// own commands, in order.
async fn run(
    client: &Client,
    writes: &[Write],
    deadline: Instant,
) -> Result<Vec<Value>, RedisError> {
    let mut p = redis::pipe();
    let mut loaded: Vec<&str> = Vec::new();
    for s in writes.iter().flat_map(|w| &w.scripts) {
        if !loaded.contains(&s.sha1()) {
            loaded.push(s.sha1());
            p.cmd("SCRIPT").arg("LOAD").arg(s.code());
        }
    }
    let skip = loaded.len();
    for c in writes.iter().flat_map(|w| &w.cmds) {
        p.add_command(c.clone());
    }
    let n = p.cmd_iter().count();
    let p = &p;
    let mut values = client
        .run(Role::Write, deadline, |mut c| async move {
            c.req_packed_commands(p, 0, n).await
        })
        .await?;
    Ok(values.split_off(skip.min(values.len())))
}

/// Tells each write that failed: all of them when the pipeline did, else those with an
/// error among their replies.
fn report(server: &str, writes: Vec<Write>, outcome: Result<Vec<Value>, RedisError>) {
    let values = match outcome {
        Ok(v) => v,
        Err(e) => {
            for w in writes {
                (w.failed)(e.clone());
            }
            return;
        }
    };
    let mut replies = values.into_iter();
    for w in writes {
        let mine: Vec<Value> = replies.by_ref().take(w.cmds.len()).collect();
        let error = mine.iter().find_map(|v| match v {
            Value::ServerError(e) => Some(format!("{e:?}")),
            _ => None,
        });
        if let Some(reason) = error {
            (w.failed)(RedisError::Command {
                server: server.to_string(),
                reason,
            });
        }
    }
}

impl Write {
    /// A write of `cmds` that reports its failure to `failed`.
    pub fn new(cmds: Vec<Cmd>, failed: impl FnOnce(RedisError) + Send + Sync + 'static) -> Write {
        Write {
            cmds,
            scripts: Vec::new(),
            failed: Box::new(failed),
        }
    }

    /// A write that runs `script` on `keys` and `args` (by SHA-1; the writer loads it).
    pub fn script(
        script: &Script,
        keys: &[String],
        args: &[String],
        failed: impl FnOnce(RedisError) + Send + Sync + 'static,
    ) -> Write {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.sha1()).arg(keys.len()).arg(keys).arg(args);
        Write {
            cmds: vec![cmd],
            scripts: vec![script.clone()],
            failed: Box::new(failed),
        }
    }
}
