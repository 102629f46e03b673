//! Recent errors and warnings for the controller's `/errors`, in Rspamd's
//! row shape (`ts`, `type`, `pid`, `module`, `id`, `message`): a log layer
//! keeps the last ones in memory, newest last as Rspamd lists them.
use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Entries kept at most.
pub const CAPACITY: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorRow {
    /// Unix time with fractions.
    pub ts: f64,
    /// `error` or `warning`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub pid: u32,
    pub module: String,
    pub id: String,
    pub message: String,
}

/// A bounded list of entries.
#[derive(Debug, Default)]
pub struct Ring(Mutex<VecDeque<ErrorRow>>);

impl Ring {
    /// Keeps one entry, dropping the oldest past [`CAPACITY`].
    pub fn push(&self, row: ErrorRow) {
        let mut ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == CAPACITY {
            ring.pop_front();
        }
        ring.push_back(row);
    }

    /// The kept entries, oldest first.
    pub fn snapshot(&self) -> Vec<ErrorRow> {
        let ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().cloned().collect()
    }
}

/// The daemon's entries.
pub fn global() -> &'static Ring {
    static RING: OnceLock<Ring> = OnceLock::new();
    RING.get_or_init(Ring::default)
}

/// The log layer that feeds the ring with every warning and error logged.
pub struct Capture;

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let kind = match *meta.level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            _ => return,
        };
        let mut text = Text::default();
        event.record(&mut text);
        global().push(ErrorRow {
            ts: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            kind,
            pid: std::process::id(),
            module: meta.target().to_string(),
            id: String::new(),
            message: text.finish(),
        });
    }
}

/// The event's message, then its other fields as `key=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_string()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn warnings_and_errors_are_kept_with_their_fields() {
        let subscriber = tracing_subscriber::registry().with(Capture);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not kept");
            tracing::warn!(qid = "Q1", "upstream slow");
            tracing::error!("store down");
        });
        let rows = global().snapshot();
        let mine: Vec<_> = rows
            .iter()
            .filter(|r| r.message.contains("upstream slow") || r.message.contains("store down"))
            .collect();
        assert_eq!(mine.len(), 2, "{rows:?}");
        assert_eq!(mine[0].kind, "warning");
        assert_eq!(mine[0].message, "upstream slow qid=Q1");
        assert_eq!(mine[1].kind, "error");
        assert!(!rows.iter().any(|r| r.message.contains("not kept")));
    }

    #[test]
    fn bounded_oldest_dropped() {
        let ring = Ring::default();
        for i in 0..CAPACITY + 5 {
            ring.push(ErrorRow {
                ts: 0.0,
                kind: "error",
                pid: 1,
                module: "t".into(),
                id: String::new(),
                message: format!("bounded {i}"),
            });
        }
        let rows = ring.snapshot();
        assert_eq!(rows.len(), CAPACITY);
        assert!(!rows.iter().any(|r| r.message == "bounded 0"));
        assert!(rows
            .iter()
            .any(|r| r.message == format!("bounded {}", CAPACITY + 4)));
    }
}
