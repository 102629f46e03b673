//! `options.neighbours`: the other nodes of a cluster, which Rspamd's
//! WebUI queries alongside this one (`/neighbours`). Each entry is
//! `NAME { host = "host[:port]"; path = "/"; }`; the reply carries the
//! host and the URL Rspamd derives from it (`http://` and port 11334
//! added when absent).
use serde_json::{json, Map, Value};

/// Rspamd's controller port, added to hosts without one.
const DEFAULT_PORT: &str = "11334";

/// The neighbours as `/neighbours` lists them; entries without a `host`
/// string are skipped with a warning.
pub fn from_tree(tree: &Value, warnings: &mut Vec<String>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(list) = tree
        .get("options")
        .and_then(|o| o.get("neighbours"))
        .and_then(Value::as_object)
    else {
        return out;
    };
    for (name, entry) in list {
        let Some(host) = entry.get("host").and_then(Value::as_str) else {
            warnings.push(format!(
                "options.neighbours.{name}: missing host, neighbour ignored"
            ));
            continue;
        };
        let path = entry.get("path").and_then(Value::as_str).unwrap_or("/");
        out.insert(name.clone(), json!({"host": host, "url": url(host, path)}));
    }
    out
}

fn url(host: &str, path: &str) -> String {
    let mut url = String::new();
    if !host.contains("://") {
        url.push_str("http://");
    }
    url.push_str(host);
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.starts_with(|c: char| c.is_ascii_digit()));
    if !has_port {
        url.push(':');
        url.push_str(DEFAULT_PORT);
    }
    url.push_str(path);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_as_rspamd_builds_them() {
        let tree = json!({"options": {"neighbours": {
            "a": {"host": "node1.example.org"},
            "b": {"host": "https://node2.example.org:443", "path": "/rspamd/"},
            "c": {"port": 1},
        }}});
        let mut w = Vec::new();
        let n = from_tree(&tree, &mut w);
        assert_eq!(
            Value::Object(n),
            json!({
                "a": {"host": "node1.example.org", "url": "http://node1.example.org:11334/"},
                "b": {"host": "https://node2.example.org:443",
                      "url": "https://node2.example.org:443/rspamd/"},
            })
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(from_tree(&json!({}), &mut w).is_empty());
    }
}
