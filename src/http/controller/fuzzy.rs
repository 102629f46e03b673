//! `/fuzzyadd` and `/fuzzydel`: the body's fuzzy hashes written to (or
//! deleted from) the storages of every writable fuzzy_check rule whose
//! `fuzzy_map` has the flag, as `rspamc fuzzy_add -f FLAG -w WEIGHT` and
//! `fuzzy_del` ask. The flag comes from the `Flag` header (or the `Symbol`
//! header naming a `fuzzy_map` symbol), the weight from `Weight` (default
//! 1). Replies are Rspamd's: `{"success":true,"hashes":[...]}` or its
//! error with the same status.
use hyper::body::Incoming;
use hyper::Request;
use serde_json::json;

use super::super::body;
use super::super::reply::{self, Domain, Reply};
use crate::verdict::fuzzy::current;

/// Answers one `/fuzzyadd` (`add`) or `/fuzzydel`.
pub async fn handle(req: Request<Incoming>, add: bool, limits: &body::BodyLimits) -> Reply {
    let Some(checks) = current() else {
        return reply::error(500, "fuzzy_check module has no rules", Domain::None);
    };
    let (parts, body) = req.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
    };
    let weight = header("Weight")
        .and_then(|w| w.parse::<f64>().ok())
        .map_or(1, |w| w as i32);
    let flag = header("Flag")
        .and_then(|f| f.parse::<u32>().ok())
        .filter(|f| *f != 0)
        .or_else(|| header("Symbol").and_then(|s| checks.flag_of_symbol(&s)));
    let Some(flag) = flag else {
        return reply::error(404, "Unknown or missing flag", Domain::None);
    };
    let compressed = ["compression", "content-encoding"].iter().any(|h| {
        parts
            .headers
            .get(*h)
            .is_some_and(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"zstd"))
    });
    let raw = match body::read(body, limits, compressed).await {
        Ok(b) if !b.bytes.is_empty() => b.bytes,
        Ok(_) => return reply::error(400, "Empty body is not permitted", Domain::None),
        Err(e) => return reply::error(e.status(), &e.to_string(), Domain::None),
    };
    match checks.learn(raw, add, flag, weight).await {
        Ok(hashes) => {
            tracing::info!(
                flag,
                weight,
                add,
                hashes = hashes.len(),
                "fuzzy learn by the controller"
            );
            reply::json(&json!({"success": true, "hashes": hashes}), false)
        }
        Err(e) => {
            tracing::info!(flag, add, "fuzzy learn by the controller: {}", e.message);
            reply::error(e.status, &e.message, Domain::None)
        }
    }
}
