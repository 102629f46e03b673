//! The history on Redis, shared by every node on it (Rspamd's `history_redis`).
//!
//! Each host writes its rows to its own capped list, named as Rspamd 3.4 names it
//! (`key_prefix` + host name + `_zst`), so Rspamd's controller on the same host reads
//! them too; the names of the lists are kept in a set (`key_prefix` + `_hosts`), and
//! `/history` reads every list in it, newest first, so any node shows the scans of all.
//!
//! A scan never waits for Redis: [`RedisHistory::push`] queues the row, and one writer
//! task sends what is queued in one round trip (`LPUSH`, `LTRIM`, `SADD`, `EXPIRE`),
//! each bounded by the Redis `timeout`. A full queue or a failed write drops the rows,
//! with a log line and a count on `/metrics` (`sluice_history_rows_total`).
pub mod codec;
pub mod metrics;
pub mod settings;

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::{BoxFuture, FutureExt};
use tokio::sync::mpsc;

use super::{HistoryError, HistoryStore, Row};
use crate::redis::{Client, RedisConfig, Role};
pub use settings::{HistoryConfigError, HistorySettings};

/// Rows waiting for the writer; past this a row is dropped rather than held.
const QUEUE: usize = 1024;
/// Rows sent in one round trip at most.
const BATCH: usize = 64;

pub struct RedisHistory {
    client: Client,
    settings: Arc<HistorySettings>,
    /// This host's list.
    key: String,
    queue: mpsc::Sender<Row>,
}

impl RedisHistory {
    /// Starts the writer on the current runtime; it ends when the store is dropped.
    pub fn start(settings: HistorySettings, redis: RedisConfig, host: &str) -> RedisHistory {
        metrics::register();
        let client = Client::new(redis);
        let settings = Arc::new(settings);
        let key = settings.list_key(host);
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(
            client.clone(),
            Arc::clone(&settings),
            key.clone(),
            rx,
        ));
        RedisHistory {
            client,
            settings,
            key,
            queue,
        }
    }

    /// This host's list.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.client.config().timeout
    }

    /// Every host's list, this one's first.
    async fn lists(&self, deadline: Instant) -> Result<Vec<String>, HistoryError> {
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(self.settings.hosts_key());
        let mut members: Vec<String> = self
            .client
            .query(Role::Read, &cmd, deadline)
            .await
            .map_err(unavailable)?;
        members.retain(|k| *k != self.key);
        members.sort();
        members.insert(0, self.key.clone());
        Ok(members)
    }

    async fn read(&self, from: usize, to: usize) -> Result<Vec<Row>, HistoryError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let deadline = self.deadline();
        let lists = self.lists(deadline).await?;
        let mut p = redis::pipe();
        for key in &lists {
            // Each list is newest first: its first `to` rows cover any merge up to `to`.
            p.cmd("LRANGE").arg(key).arg(0).arg(to - 1);
        }
        let stored: Vec<Vec<Vec<u8>>> = self
            .client
            .pipe(Role::Read, &p, deadline)
            .await
            .map_err(unavailable)?;
        let mut rows: Vec<Row> = stored
            .iter()
            .flatten()
            .filter_map(|b| codec::decode(b))
            .collect();
        // Stable: rows of one list in the same second keep their order.
        rows.sort_by_key(|r| std::cmp::Reverse(r.unix_time));
        Ok(rows.into_iter().skip(from).take(to - from).collect())
    }

    async fn clear(&self) -> Result<usize, HistoryError> {
        let deadline = self.deadline();
        let lists = self.lists(deadline).await?;
        let mut p = redis::pipe();
        for key in &lists {
            p.cmd("LLEN").arg(key);
        }
        p.cmd("DEL")
            .arg(&lists)
            .arg(self.settings.hosts_key())
            .ignore();
        let lens: Vec<usize> = self
            .client
            .pipe(Role::Write, &p, deadline)
            .await
            .map_err(unavailable)?;
        Ok(lens.iter().sum())
    }
}

impl HistoryStore for RedisHistory {
    fn push(&self, row: Row) {
        if self.queue.try_send(row).is_err() {
            metrics::dropped(1);
            crate::warn_throttled!("history: the Redis writer is behind; a row was dropped");
        }
    }

    fn rows(&self, from: usize, to: usize) -> BoxFuture<'_, Result<Vec<Row>, HistoryError>> {
        self.read(from, to).boxed()
    }

    fn reset(&self) -> BoxFuture<'_, Result<usize, HistoryError>> {
        self.clear().boxed()
    }
}

fn unavailable(e: crate::redis::RedisError) -> HistoryError {
    HistoryError::Unavailable(e.to_string())
}

/// Sends queued rows until every sender is gone.
async fn write_loop(
    client: Client,
    settings: Arc<HistorySettings>,
    key: String,
    mut rx: mpsc::Receiver<Row>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let n = batch.len();
        let p = pipeline(&settings, &key, batch.drain(..));
        let deadline = Instant::now() + client.config().timeout;
        match client.pipe::<()>(Role::Write, &p, deadline).await {
            Ok(()) => metrics::written(n),
            Err(e) => {
                metrics::dropped(n);
                crate::warn_throttled!("history: {e}; {n} row(s) dropped");
            }
        }
    }
}

/// One round trip: the rows pushed (oldest first, so the newest ends up at the head),
/// the list trimmed to `nrows`, registered among the hosts' lists, and its lifetime set.
fn pipeline(
    settings: &HistorySettings,
    key: &str,
    rows: impl Iterator<Item = Row>,
) -> redis::Pipeline {
    let mut p = redis::pipe();
    let values: Vec<Vec<u8>> = rows
        .map(|mut row| {
            if let Some(privacy) = &settings.privacy {
                row.subject = privacy.apply(&row.subject);
            }
            codec::encode(&row, settings.compress)
        })
        .collect();
    p.cmd("LPUSH").arg(key).arg(values).ignore();
    p.cmd("LTRIM")
        .arg(key)
        .arg(0)
        .arg(settings.nrows.saturating_sub(1))
        .ignore();
    p.cmd("SADD").arg(settings.hosts_key()).arg(key).ignore();
    if let Some(expire) = settings.expire {
        let secs = expire.as_secs().max(1);
        p.cmd("EXPIRE").arg(key).arg(secs).ignore();
        p.cmd("EXPIRE").arg(settings.hosts_key()).arg(secs).ignore();
    }
    p
}

/// This host's name, as Rspamd's `get_hostname` gives it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
