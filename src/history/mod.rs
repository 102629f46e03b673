//! What the controller reports about past scans: the history of recent
//! messages with their symbols (Rspamd's `/history`), recent errors
//! (`/errors`) and messages per action over time (`/graph`).
//!
//! Every scan that is counted (milter and HTTP alike) is recorded here
//! through [`record`]. The history lives behind [`HistoryStore`], so a
//! shared backend (Redis, as Rspamd's `history_redis`) can replace the
//! in-memory ring with [`set_store`] without touching the recorders or the
//! controller; [`shared`] is that backend.
pub mod errors;
pub mod graph;
pub mod ring;
pub mod row;
pub mod row_symbols;
pub mod shared;

use std::sync::{Arc, OnceLock, RwLock};

use futures_util::future::BoxFuture;

pub use self::row::Row;

/// Rows the in-memory ring keeps (Rspamd's `history_rows` default).
pub const DEFAULT_ROWS: usize = 200;

/// Why a history backend could not answer.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history backend unavailable: {0}")]
    Unavailable(String),
}

/// Where history rows are kept.
pub trait HistoryStore: Send + Sync {
    /// Adds a row; must not block (a remote backend queues it).
    fn push(&self, row: Row);
    /// Rows `from..to`, newest first.
    fn rows(&self, from: usize, to: usize) -> BoxFuture<'_, Result<Vec<Row>, HistoryError>>;
    /// Drops every row; returns how many there were.
    fn reset(&self) -> BoxFuture<'_, Result<usize, HistoryError>>;
}

fn slot() -> &'static RwLock<Arc<dyn HistoryStore>> {
    static STORE: OnceLock<RwLock<Arc<dyn HistoryStore>>> = OnceLock::new();
    STORE.get_or_init(|| RwLock::new(Arc::new(ring::Ring::new(DEFAULT_ROWS))))
}

/// The history of the moment.
pub fn store() -> Arc<dyn HistoryStore> {
    slot().read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Replaces the history backend (rows of the old one are not moved).
pub fn set_store(store: Arc<dyn HistoryStore>) {
    *slot().write().unwrap_or_else(|p| p.into_inner()) = store;
}

/// Records one counted scan: its history row and its point on the graph.
pub fn record(row: Row) {
    graph::global().record(&row.action, row.unix_time);
    store().push(row);
}
