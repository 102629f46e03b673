//! The `/checkv2` reply body (JSON).
//!
//! Field names and optionality follow what Rspamd 3.4 writes and what later
//! versions add (`thresholds`, `passthrough_module`). Every field defaults
//! when absent so that replies from older or newer servers still decode;
//! absent-in-Rspamd fields are skipped on output so our replies look the same
//! to strict clients.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole reply. Action names keep Rspamd's spaces (`"add header"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckV2Reply {
    #[serde(default)]
    pub is_skipped: bool,
    #[serde(default)]
    pub score: f64,
    #[serde(default)]
    pub required_score: f64,
    #[serde(default)]
    pub action: String,
    /// Only actions with a numeric threshold (3.5+; absent on 3.4).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, f64>,
    /// The complete new Subject, only for `rewrite subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Custom milter enforcement of a reject (`discard` / `quarantine`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough_module: Option<String>,
    #[serde(default)]
    pub symbols: BTreeMap<String, SymbolResult>,
    /// `smtp_message` and module-specific texts; `{}` when none.
    #[serde(default)]
    pub messages: BTreeMap<String, String>,
    /// Host names of non-mailto URLs; present only if the message had any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Addresses found in text; present together with `urls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    /// Message-ID without `<>`, `"undef"` when the message has none.
    #[serde(
        rename = "message-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    #[serde(default)]
    pub time_real: f64,
    #[serde(
        rename = "dkim-signature",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dkim_signature: Option<OneOrMany<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milter: Option<MilterBlock>,
}

/// One entry of `symbols`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SymbolResult {
    pub name: String,
    #[serde(default)]
    pub score: f64,
    /// Configured weight (checkv2/v3 only).
    #[serde(default)]
    pub metric_score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// Rspamd writes a single value as itself and several as an array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// All values in order, whichever form was used.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }

    /// The compact form Rspamd writes: one value bare, several as an array.
    pub fn from_vec(mut v: Vec<T>) -> Option<OneOrMany<T>> {
        match v.len() {
            0 => None,
            1 => v.pop().map(OneOrMany::One),
            _ => Some(OneOrMany::Many(v)),
        }
    }
}

/// A header to add, in the "compat" object form. Legacy writers send a
/// plain string, which decodes as [`HeaderSpec::Plain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeaderSpec {
    Ordered {
        value: String,
        #[serde(default = "append_order")]
        order: i32,
    },
    Plain(String),
}

fn append_order() -> i32 {
    -1
}

/// The `milter` block: header and envelope edits for a milter bridge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MilterBlock {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add_headers: BTreeMap<String, OneOrMany<HeaderSpec>>,
    /// `0` every instance, `N > 0` the N-th, `N < 0` the N-th from the end.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remove_headers: BTreeMap<String, OneOrMany<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_from: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_rcpt: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub del_rcpt: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_action: Option<bool>,
    /// A string value for the configured spam header, or `{name: value}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spam_header: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 3.4 reply from the protocol reference (§4.9), trimmed to valid JSON.
    const SAMPLE: &str = r#"{
 "is_skipped": false, "score": 8.0, "required_score": 15.0, "action": "add header",
 "symbols": {
   "TEST_SCORE":   {"name":"TEST_SCORE","score":7.0,"metric_score":1.0,"options":["requested"]},
   "DATE_IN_PAST": {"name":"DATE_IN_PAST","score":1.0,"metric_score":1.0,
                    "description":"Message date is in past","options":["7795"]},
   "RCPT_COUNT_ONE": {"name":"RCPT_COUNT_ONE","score":0.0,"metric_score":0.0,
                      "description":"One recipient","options":["1"]}
 },
 "messages": {}, "urls": ["www.example.com"], "emails": [],
 "message-id": "20260101.1234@example.org", "time_real": 0.075773,
 "milter": {
   "add_headers": {
     "X-Rspamd-Action":   {"order":-1,"value":"add header"},
     "Authentication-Results": {"order":1,"value":"vm;\r\n\tnone"},
     "X-Spamd-Result":    {"order":-1,"value":"default: False [8.00 / 15.00];\r\n\tTEST_SCORE(7.00)[requested]"}
   },
   "remove_headers": {"X-Spam":0,"X-Rspamd-Action":0,"X-Spamd-Result":0},
   "change_from": "<bounce@example.org>",
   "add_rcpt": ["<archive@example.org>"]
 }
}"#;

    #[test]
    fn sample_reply_decodes_with_its_fields() {
        let r: CheckV2Reply = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(r.action, "add header");
        assert_eq!(r.score, 8.0);
        assert_eq!(r.symbols["DATE_IN_PAST"].options, vec!["7795"]);
        assert_eq!(r.message_id.as_deref(), Some("20260101.1234@example.org"));
        let m = r.milter.as_ref().unwrap();
        assert_eq!(
            m.add_headers["Authentication-Results"],
            OneOrMany::One(HeaderSpec::Ordered {
                value: "vm;\r\n\tnone".into(),
                order: 1
            })
        );
        assert_eq!(m.remove_headers["X-Spam"], OneOrMany::One(0));
        assert_eq!(m.add_rcpt, vec!["<archive@example.org>"]);
    }

    #[test]
    fn sample_reply_round_trips() {
        let r: CheckV2Reply = serde_json::from_str(SAMPLE).unwrap();
        let text = serde_json::to_string(&r).unwrap();
        let back: CheckV2Reply = serde_json::from_str(&text).unwrap();
        assert_eq!(r, back);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v.get("message-id").is_some());
        assert!(v.get("subject").is_none(), "absent fields stay absent");
    }

    #[test]
    fn legacy_and_array_forms_decode() {
        let j = r#"{"action":"reject","milter":{"add_headers":{"X-A":"plain","X-B":[{"value":"1"},{"value":"2","order":0}]},
                    "remove_headers":{"Received":[1,-1]}}}"#;
        let r: CheckV2Reply = serde_json::from_str(j).unwrap();
        let m = r.milter.unwrap();
        assert_eq!(
            m.add_headers["X-A"],
            OneOrMany::One(HeaderSpec::Plain("plain".into()))
        );
        assert_eq!(m.add_headers["X-B"].as_slice().len(), 2);
        assert_eq!(
            m.add_headers["X-B"].as_slice()[0],
            HeaderSpec::Ordered {
                value: "1".into(),
                order: -1
            }
        );
        assert_eq!(m.remove_headers["Received"].as_slice(), &[1, -1]);
    }

    #[test]
    fn one_or_many_from_vec_is_compact() {
        assert_eq!(OneOrMany::<i32>::from_vec(vec![]), None);
        assert_eq!(OneOrMany::from_vec(vec![3]), Some(OneOrMany::One(3)));
        assert_eq!(
            OneOrMany::from_vec(vec![1, 2]),
            Some(OneOrMany::Many(vec![1, 2]))
        );
    }
}
