//! `/history`, `/historyreset`, `/errors`, `/graph` and `/pie`: what the
//! WebUI's status, throughput and history tabs draw, in Rspamd 3.4's
//! shapes, read from [`crate::history`] and the scan counters.
use serde_json::{json, Value};

use super::super::query;
use super::super::reply::{self, Domain, Reply};
use crate::history::{self, graph};
use crate::metrics::Snapshot;
use crate::verdict::Action;

/// Rows returned when the request names no range (Rspamd's WebUI asks
/// for `from=0&to=1000`).
const DEFAULT_TO: usize = 1000;

/// `/history?from=N&to=M`: `{"version": 2, "rows": [...]}`, newest first.
pub async fn rows(q: Option<&str>) -> Reply {
    let num = |name, default| {
        query::get(q, name)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let (from, to) = (num("from", 0), num("to", DEFAULT_TO));
    match history::store().rows(from, to.max(from)).await {
        Ok(rows) => reply::json(&json!({"version": 2, "rows": rows}), false),
        Err(e) => reply::error(500, &e.to_string(), Domain::None),
    }
}

/// `/historyreset` (privileged): drops every row.
pub async fn reset() -> Reply {
    match history::store().reset().await {
        Ok(n) => {
            tracing::info!(rows = n, "controller: history reset");
            reply::json(&json!({"success": true}), false)
        }
        Err(e) => reply::error(500, &e.to_string(), Domain::None),
    }
}

/// `/errors` (privileged in Rspamd): the recent warnings and errors.
pub fn errors() -> Reply {
    reply::json(&history::errors::global().snapshot(), false)
}

/// `/graph?type=day|week|month|year` (or `hourly|daily|weekly|monthly`).
pub fn graph(q: Option<&str>) -> Reply {
    let Some(kind) = query::get(q, "type") else {
        return reply::error(400, "Absent graph type", Domain::None);
    };
    let Some(span) = graph::span(&kind) else {
        return reply::error(400, "Invalid graph type", Domain::None);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    reply::json(&graph::global().query(span, now), false)
}

/// `/pie`: messages per action class since start, Rspamd's labels and
/// colours.
pub fn pie(s: &Snapshot) -> Value {
    let n = |a: Action| s.by_action[a.rank()] as f64;
    let parts = [
        ("#66cc00", "Clean", n(Action::NoAction)),
        ("#cc9966", "Temporarily rejected", n(Action::SoftReject)),
        (
            "#FFD700",
            "Probable spam",
            n(Action::AddHeader) + n(Action::RewriteSubject),
        ),
        ("#436EEE", "Greylisted", n(Action::Greylist)),
        ("#FF0000", "Rejected", n(Action::Reject)),
    ];
    Value::Array(
        parts
            .iter()
            .map(|(color, label, v)| json!({"color": color, "label": label, "data": v, "value": v}))
            .collect(),
    )
}
