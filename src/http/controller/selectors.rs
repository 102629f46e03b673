//! `/plugins/selectors/*`: Rspamd's selector plugin endpoints, for the
//! selector language sluice implements (multimap's selector-lite).
//! `check_selector?selector=S` answers `{"success": true}` when `S`
//! parses, `{"success": false}` otherwise; `list_extractors` and
//! `list_transforms` list what is implemented. `check_message` (a scan
//! with the selector's values) is not implemented.
use serde_json::{json, Map, Value};

use super::super::query;
use super::super::reply::{self, Domain, Reply};
use crate::scan::multimap::selector::Selector;

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

pub fn handle(cmd: &str, q: Option<&str>) -> Reply {
    match cmd.trim_start_matches("plugins/selectors/") {
        "check_selector" => match query::get(q, "selector").filter(|s| !s.is_empty()) {
            Some(s) => reply::json(&json!({"success": Selector::parse(&s).is_ok()}), false),
            None => reply::error(404, "missing selector", Domain::None),
        },
        "list_extractors" => reply::json(&described(&EXTRACTORS), false),
        "list_transforms" => reply::json(&described(&TRANSFORMS), false),
        "check_message" => reply::error(
            501,
            "check_message is not implemented: scan the message instead",
            Domain::None,
        ),
        _ => reply::error(404, "invalid command", Domain::None),
    }
}

fn described(list: &[(&str, &str)]) -> Value {
    let mut out = Map::new();
    for (name, description) in list {
        out.insert((*name).into(), json!({"description": description}));
    }
    Value::Object(out)
}
