//! The legacy JSON reply of `/check`, `/symbols`, `/scan`, `/process`,
//! `/report`: everything scan-related nested in an object named `default`
//! (the old "metric"), symbols as direct members of it, an `is_spam` flag,
//! no `metric_score` and no `thresholds`, the milter block named `rmilter`.
use std::collections::BTreeMap;

use serde::Serialize;

use super::checkv2::{CheckV2Reply, MilterBlock};

/// Actions Rspamd flags as ham: everything else sets `is_spam`.
const HAM_ACTIONS: [&str; 2] = ["no action", "greylist"];

/// Rspamd's `is_spam`: any action but `no action` and `greylist`.
pub fn is_spam_action(action: &str) -> bool {
    !HAM_ACTIONS.contains(&action)
}

/// The whole legacy reply, built from the modern one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyReply {
    pub default: LegacyMetric,
    pub messages: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    #[serde(rename = "message-id", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    pub time_real: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmilter: Option<MilterBlock>,
}

/// The `default` object: verdict fields and the symbols side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyMetric {
    pub is_spam: bool,
    pub is_skipped: bool,
    pub score: f64,
    pub required_score: f64,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(flatten)]
    pub symbols: BTreeMap<String, LegacySymbol>,
}

/// A symbol in the legacy shape (no `metric_score`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacySymbol {
    pub name: String,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl From<CheckV2Reply> for LegacyReply {
    fn from(r: CheckV2Reply) -> LegacyReply {
        let symbols = r
            .symbols
            .into_iter()
            .map(|(k, s)| {
                let sym = LegacySymbol {
                    name: s.name,
                    score: s.score,
                    description: s.description,
                    options: s.options,
                };
                (k, sym)
            })
            .collect();
        LegacyReply {
            default: LegacyMetric {
                is_spam: is_spam_action(&r.action),
                is_skipped: r.is_skipped,
                score: r.score,
                required_score: r.required_score,
                action: r.action,
                subject: r.subject,
                symbols,
            },
            messages: r.messages,
            urls: r.urls,
            emails: r.emails,
            message_id: r.message_id,
            time_real: r.time_real,
            rmilter: r.milter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rspamd::SymbolResult;

    #[test]
    fn legacy_shape_nests_symbols_in_default() {
        let mut r = CheckV2Reply {
            score: 21.0,
            required_score: 15.0,
            action: "reject".into(),
            message_id: Some("m@x".into()),
            milter: Some(MilterBlock::default()),
            ..Default::default()
        };
        r.thresholds.insert("reject".into(), 15.0);
        r.symbols.insert(
            "TEST".into(),
            SymbolResult {
                name: "TEST".into(),
                score: 20.0,
                metric_score: 20.0,
                description: None,
                options: vec!["requested".into()],
            },
        );
        let j = serde_json::to_value(LegacyReply::from(r)).unwrap();
        assert_eq!(j["default"]["is_spam"], true);
        assert_eq!(j["default"]["action"], "reject");
        assert_eq!(j["default"]["TEST"]["options"][0], "requested");
        assert!(j["default"]["TEST"].get("metric_score").is_none());
        assert!(j.get("thresholds").is_none());
        assert!(j.get("symbols").is_none());
        assert_eq!(j["message-id"], "m@x");
        assert!(j.get("rmilter").is_some());
        assert!(j.get("milter").is_none());
    }

    #[test]
    fn ham_actions_are_not_spam() {
        for (action, spam) in [
            ("no action", false),
            ("greylist", false),
            ("add header", true),
        ] {
            let r = CheckV2Reply {
                action: action.into(),
                ..Default::default()
            };
            assert_eq!(LegacyReply::from(r).default.is_spam, spam, "{action}");
        }
    }
}
