//! `sluice configdump`: the merged tree printed in UCL style, the syntax admins edit, so a
//! section can be copied from the dump into a `local.d` file as is.

use std::fmt::Write as _;

use serde_json::Value;

/// The tree as UCL text: `key = value;`, `key { … }`, `key [ … ]`, four-space indents.
pub fn to_ucl(tree: &Value) -> String {
    let mut out = String::new();
    if let Value::Object(map) = tree {
        for (k, v) in map {
            entry(&mut out, 0, k, v);
        }
    } else {
        value(&mut out, 0, tree);
        out.push('\n');
    }
    out
}

fn entry(out: &mut String, depth: usize, key: &str, v: &Value) {
    indent(out, depth);
    out.push_str(&quote_key(key));
    match v {
        Value::Object(_) | Value::Array(_) => out.push(' '),
        _ => out.push_str(" = "),
    }
    value(out, depth, v);
    if !matches!(v, Value::Object(_) | Value::Array(_)) {
        out.push(';');
    }
    out.push('\n');
}

fn value(out: &mut String, depth: usize, v: &Value) {
    match v {
        Value::Object(map) => {
            out.push_str("{\n");
            for (k, v) in map {
                entry(out, depth + 1, k, v);
            }
            indent(out, depth);
            out.push('}');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for item in items {
                indent(out, depth + 1);
                value(out, depth + 1, item);
                out.push_str(",\n");
            }
            indent(out, depth);
            out.push(']');
        }
        // serde_json's string form is a valid UCL double-quoted string.
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// Bare keys stay bare; anything else is quoted so it parses back to the same key.
fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        && !key.starts_with('-');
    if bare {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("    ");
    }
}
