//! `/plugins/selectors/*`: Rspamd's selector plugin endpoints, for the
//! selector language sluice implements (multimap's selector-lite).
//! `check_selector?selector=S` answers `{"success": true}` when `S`
//! parses, `{"success": false}` otherwise; `list_extractors` and
//! `list_transforms` list what is implemented. `check_message?selector=S`
//! (a `POST` of a message) answers `{"success": true, "data": [values]}`:
//! what `S` selects from that message, which has no envelope.
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;
use serde_json::{json, Map, Value};

use super::super::body::{self, BodyLimits};
use super::super::query;
use super::super::reply::{self, Domain, Reply};
use crate::verdict::RuleBook;

const EXTRACTORS: [(&str, &str); 10] = [
    ("ip", "Get source IP address"),
    ("helo", "Get helo value"),
    ("hostname", "Get hostname from the MTA"),
    ("user", "Get authenticated user name"),
    ("queueid", "Get queue ID"),
    ("from", "Get MAIL FROM or (with 'mime') From addresses"),
    ("rcpts", "Get RCPT TO or (with 'mime') To and Cc addresses"),
    (
        "header",
        "Get header with the name that is expected as an argument",
    ),
    ("subject", "Get subject"),
    ("messageid", "Get message ID"),
];

const TRANSFORMS: [(&str, &str); 4] = [
    ("addr", "Address part of an address (method)"),
    ("domain", "Domain part of an address (method)"),
    ("user", "User part of an address (method)"),
    ("lower", "Returns the lowercased value"),
];

pub fn handle(cmd: &str, q: Option<&str>, rules: Option<&dyn RuleBook>) -> Reply {
    match cmd.trim_start_matches("plugins/selectors/") {
        "check_selector" => match query::get(q, "selector").filter(|s| !s.is_empty()) {
            Some(s) => {
                let ok = rules.is_some_and(|r| r.check_selector(&s).is_ok());
                reply::json(&json!({"success": ok}), false)
            }
            None => reply::error(404, "missing selector", Domain::None),
        },
        "list_extractors" => reply::json(&described(&EXTRACTORS), false),
        "list_transforms" => reply::json(&described(&TRANSFORMS), false),
        _ => reply::error(404, "invalid command", Domain::None),
    }
}

/// `check_message`: the selector's values on the posted message, which is
/// parsed off the runtime's threads.
pub async fn check_message(
    req: Request<Incoming>,
    q: Option<&str>,
    rules: Option<Arc<dyn RuleBook>>,
    limits: &BodyLimits,
) -> Reply {
    let Some(selector) = query::get(q, "selector").filter(|s| !s.is_empty()) else {
        return reply::error(404, "missing selector", Domain::None);
    };
    let Some(rules) = rules else {
        return reply::error(404, "no local rules: scanning is forwarded", Domain::None);
    };
    let body = match body::read(req.into_body(), limits, false).await {
        Ok(b) => b,
        Err(e) => return reply::error(e.status(), &e.to_string(), Domain::None),
    };
    if body.bytes.is_empty() {
        return reply::error(400, "no message in the request body", Domain::None);
    }
    let selected = tokio::task::spawn_blocking(move || rules.select(&selector, &body.bytes)).await;
    match selected {
        Ok(Ok(values)) => reply::json(&json!({"success": true, "data": values}), false),
        Ok(Err(why)) => reply::error(400, &why, Domain::None),
        Err(e) => reply::error(500, &e.to_string(), Domain::None),
    }
}

fn described(list: &[(&str, &str)]) -> Value {
    let mut out = Map::new();
    for (name, description) in list {
        out.insert((*name).into(), json!({"description": description}));
    }
    Value::Object(out)
}
