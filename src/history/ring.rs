//! The in-memory history: the last N rows, oldest dropped first.
use std::collections::VecDeque;
use std::sync::Mutex;

use futures_util::future::{self, BoxFuture, FutureExt};

use super::{HistoryError, HistoryStore, Row};

pub struct Ring {
    rows: Mutex<VecDeque<Row>>,
    capacity: usize,
}

impl Ring {
    pub fn new(capacity: usize) -> Ring {
        Ring {
            rows: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Row>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl HistoryStore for Ring {
    fn push(&self, row: Row) {
        let mut rows = self.lock();
        if rows.len() == self.capacity {
            rows.pop_back();
        }
        rows.push_front(row);
    }

    fn rows(&self, from: usize, to: usize) -> BoxFuture<'_, Result<Vec<Row>, HistoryError>> {
        let rows = self.lock();
        let out = rows
            .iter()
            .skip(from)
            .take(to.saturating_sub(from))
            .cloned()
            .collect();
        future::ready(Ok(out)).boxed()
    }

    fn reset(&self) -> BoxFuture<'_, Result<usize, HistoryError>> {
        let mut rows = self.lock();
        let n = rows.len();
        rows.clear();
        future::ready(Ok(n)).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn row(id: &str) -> Row {
        Row {
            message_id: id.into(),
            ..Row::default()
        }
    }

    fn ids(r: &Ring, from: usize, to: usize) -> Vec<String> {
        r.rows(from, to)
            .now_or_never()
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|r| r.message_id)
            .collect()
    }

    #[test]
    fn newest_first_and_bounded() {
        let r = Ring::new(3);
        for id in ["a", "b", "c", "d"] {
            r.push(row(id));
        }
        assert_eq!(ids(&r, 0, 100), ["d", "c", "b"]);
        assert_eq!(ids(&r, 1, 2), ["c"]);
        assert_eq!(ids(&r, 5, 2), Vec::<String>::new());
        assert_eq!(r.reset().now_or_never().unwrap().unwrap(), 3);
        assert!(ids(&r, 0, 100).is_empty());
    }
}
