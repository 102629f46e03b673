//! Rspamd's `/checkv2` reply in both directions: a [`Verdict`] becomes the
//! reply the HTTP side sends ([`to_reply`]), and an upstream's reply becomes
//! a [`Verdict`] ([`parse`]), so the milter bridge answers a forwarded
//! message exactly as a local scan.
use std::collections::BTreeMap;
use std::time::Duration;

use sluice_proto::rspamd::checkv2::{CheckV2Reply, HeaderSpec, MilterBlock, SymbolResult};
use sluice_proto::rspamd::OneOrMany;

use super::{Action, AddHeader, MilterEdits, RemoveHeader, Symbol, Verdict};

/// The verdict as Rspamd's `/checkv2` reply.
pub fn to_reply(v: &Verdict) -> CheckV2Reply {
    let symbols = v
        .symbols
        .iter()
        .map(|s| {
            let r = SymbolResult {
                name: s.name.clone(),
                score: s.score,
                metric_score: s.metric_score,
                description: s.description.clone(),
                options: s.options.clone(),
            };
            (s.name.clone(), r)
        })
        .collect();
    let mut messages = BTreeMap::new();
    if let Some(m) = &v.smtp_message {
        messages.insert("smtp_message".to_string(), m.clone());
    }
    let has_links = !v.urls.is_empty() || !v.emails.is_empty();
    CheckV2Reply {
        is_skipped: v.is_skipped,
        score: if v.score.is_nan() { 0.0 } else { v.score },
        required_score: v.required_score,
        action: v.action.as_str().to_string(),
        thresholds: v
            .thresholds
            .iter()
            .map(|(a, t)| (a.as_str().to_string(), *t))
            .collect(),
        subject: v.subject.clone(),
        reject: None,
        passthrough_module: v.passthrough_module.clone(),
        symbols,
        messages,
        urls: has_links.then(|| v.urls.clone()),
        emails: has_links.then(|| v.emails.clone()),
        message_id: Some(v.message_id.clone().unwrap_or_else(|| "undef".to_string())),
        time_real: v.scan_time.as_secs_f64(),
        dkim_signature: OneOrMany::from_vec(v.dkim_signatures.clone()),
        milter: milter_block(&v.milter),
    }
}

fn milter_block(m: &MilterEdits) -> Option<MilterBlock> {
    if m.is_empty() {
        return None;
    }
    let mut add: BTreeMap<String, Vec<HeaderSpec>> = BTreeMap::new();
    for h in &m.add_headers {
        add.entry(h.name.clone())
            .or_default()
            .push(HeaderSpec::Ordered {
                value: h.value.clone(),
                order: h.order,
            });
    }
    let mut remove: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for r in &m.remove_headers {
        remove.entry(r.name.clone()).or_default().push(r.index);
    }
    Some(MilterBlock {
        add_headers: add
            .into_iter()
            .filter_map(|(k, v)| OneOrMany::from_vec(v).map(|v| (k, v)))
            .collect(),
        remove_headers: remove
            .into_iter()
            .filter_map(|(k, v)| OneOrMany::from_vec(v).map(|v| (k, v)))
            .collect(),
        change_from: m.change_from.clone(),
        add_rcpt: m.add_rcpt.clone(),
        del_rcpt: m.del_rcpt.clone(),
        reject: None,
        no_action: m.no_action.then_some(true),
        spam_header: m.spam_header.clone().map(serde_json::Value::String),
    })
}

/// Why a reply body could not become a verdict.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplyError {
    /// The scanner answered with Rspamd's `{"error": …}` shape.
    #[error("scanner error: {0}")]
    Scanner(String),
    #[error("reply is not checkv2 JSON: {0}")]
    Json(String),
    #[error("reply has an unknown action `{0}`")]
    Action(String),
}

/// Decodes a reply body (the JSON part, before any body block).
pub fn parse(body: &[u8]) -> Result<Verdict, ReplyError> {
    // One typed pass for the common case; the error shape is looked for only
    // when there is no action (a checkv2 reply always has one).
    let reply: CheckV2Reply =
        serde_json::from_slice(body).map_err(|e| ReplyError::Json(e.to_string()))?;
    if reply.action.is_empty() {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(body) {
            if let Some(err) = m.get("error") {
                let text = err.as_str().map_or_else(|| err.to_string(), str::to_string);
                return Err(ReplyError::Scanner(text));
            }
        }
    }
    to_verdict(reply)
}

/// Maps the typed reply; an unknown or missing action is an error, as in
/// Rspamd's bridge (which tempfails on it).
pub fn to_verdict(r: CheckV2Reply) -> Result<Verdict, ReplyError> {
    let mut action =
        Action::parse(&r.action).ok_or_else(|| ReplyError::Action(r.action.clone()))?;
    let enforce = r
        .reject
        .as_deref()
        .or(r.milter.as_ref().and_then(|m| m.reject.as_deref()));
    if action == Action::Reject {
        match enforce {
            Some("discard") => action = Action::Discard,
            Some("quarantine") => action = Action::Quarantine,
            _ => {}
        }
    }
    let mut v = Verdict::empty(r.required_score);
    v.action = action;
    v.score = r.score;
    v.symbols = symbols(&r);
    v.subject = r.subject.clone();
    v.smtp_message = r.messages.get("smtp_message").cloned();
    v.message_id = r.message_id.clone().filter(|m| m != "undef");
    v.urls = r.urls.clone().unwrap_or_default();
    v.emails = r.emails.clone().unwrap_or_default();
    v.is_skipped = r.is_skipped;
    v.passthrough_module = r.passthrough_module.clone();
    v.thresholds = thresholds(&r);
    v.scan_time = Duration::try_from_secs_f64(r.time_real).unwrap_or_default();
    v.milter = r.milter.as_ref().map(edits).unwrap_or_default();
    if let Some(sigs) = &r.dkim_signature {
        v.dkim_signatures = sigs.as_slice().iter().map(|s| milter_folding(s)).collect();
    }
    Ok(v)
}

/// By |score| descending, then name: the order the local pipeline uses.
fn symbols(r: &CheckV2Reply) -> Vec<Symbol> {
    let mut out: Vec<Symbol> = r
        .symbols
        .iter()
        .map(|(key, s)| Symbol {
            name: if s.name.is_empty() {
                key.clone()
            } else {
                s.name.clone()
            },
            score: s.score,
            metric_score: s.metric_score,
            description: s.description.clone(),
            options: s.options.clone(),
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .abs()
            .total_cmp(&a.score.abs())
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

fn thresholds(r: &CheckV2Reply) -> Vec<(Action, f64)> {
    let mut out: Vec<(Action, f64)> = r
        .thresholds
        .iter()
        .filter_map(|(name, &t)| Action::parse(name).map(|a| (a, t)))
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

fn edits(m: &MilterBlock) -> MilterEdits {
    let mut e = MilterEdits::default();
    for (name, specs) in &m.add_headers {
        for spec in specs.as_slice() {
            let (value, order) = match spec {
                HeaderSpec::Ordered { value, order } => (value.as_str(), *order),
                HeaderSpec::Plain(value) => (value.as_str(), -1),
            };
            e.add_headers.push(AddHeader {
                name: name.clone(),
                value: milter_folding(value),
                order,
            });
        }
    }
    for (name, idx) in &m.remove_headers {
        for &index in idx.as_slice() {
            e.remove_headers.push(RemoveHeader {
                name: name.clone(),
                index,
            });
        }
    }
    e.change_from = m.change_from.clone();
    e.add_rcpt = m.add_rcpt.clone();
    e.del_rcpt = m.del_rcpt.clone();
    e.no_action = m.no_action.unwrap_or(false);
    e.spam_header = m.spam_header.as_ref().and_then(spam_header_value);
    e
}

/// `"Yes"` or `{"X-Spam": "Yes"}`: the value either way.
fn spam_header_value(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(m) => m.values().find_map(|v| v.as_str().map(str::to_string)),
        _ => None,
    }
}

/// Header values go to the MTA folded with bare `\n`, whatever the scanner
/// used (a non-milter upstream folds with `\r\n`).
fn milter_folding(v: &str) -> String {
    v.replace("\r\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Verdict {
        let mut v = Verdict::empty(15.0);
        v.action = Action::AddHeader;
        v.score = 7.5;
        v.symbols = vec![Symbol {
            name: "MISSING_MID".into(),
            score: 2.5,
            metric_score: 2.5,
            description: Some("Message id is missing".into()),
            options: vec![],
        }];
        v.urls = vec!["example.com".into()];
        v.milter.add_headers.push(AddHeader {
            name: "X-Spamd-Result".into(),
            value: "x".into(),
            order: -1,
        });
        v.milter.remove_headers.push(RemoveHeader {
            name: "X-Spam".into(),
            index: 0,
        });
        v.thresholds = vec![(Action::AddHeader, 6.0), (Action::Reject, 15.0)];
        v
    }

    #[test]
    fn checkv2_reply_has_rspamd_shape() {
        let r = to_reply(&sample());
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["action"], "add header");
        assert_eq!(j["message-id"], "undef");
        assert_eq!(j["symbols"]["MISSING_MID"]["metric_score"], 2.5);
        assert_eq!(j["urls"][0], "example.com");
        assert_eq!(j["emails"], serde_json::json!([]));
        assert_eq!(j["thresholds"]["add header"], 6.0);
        assert_eq!(j["milter"]["remove_headers"]["X-Spam"], 0);
        assert_eq!(j["milter"]["add_headers"]["X-Spamd-Result"]["order"], -1);
        assert_eq!(j["messages"], serde_json::json!({}));
    }

    #[test]
    fn gtube_like_verdict_has_no_milter_block_and_a_message() {
        let mut v = Verdict::empty(15.0);
        v.action = Action::Reject;
        v.smtp_message = Some("Gtube pattern".into());
        let j = serde_json::to_value(to_reply(&v)).unwrap();
        assert!(j.get("milter").is_none());
        assert!(j.get("urls").is_none());
        assert_eq!(j["messages"]["smtp_message"], "Gtube pattern");
    }

    #[test]
    fn a_verdict_survives_the_round_trip() {
        let mut v = sample();
        v.action = Action::Quarantine;
        v.symbols = vec![
            Symbol {
                name: "TEST_SCORE".into(),
                score: 7.0,
                metric_score: 1.0,
                description: None,
                options: vec!["requested".into(), "twice".into()],
            },
            v.symbols[0].clone(),
            Symbol {
                name: "R_SPF_NA".into(),
                score: -1.0,
                metric_score: 0.0,
                description: None,
                options: vec![],
            },
        ];
        v.subject = Some("*** SPAM *** hi".into());
        v.smtp_message = Some("Go away".into());
        v.message_id = Some("abc@example.com".into());
        v.emails = vec!["a@example.com".into()];
        v.is_skipped = true;
        v.passthrough_module = Some("multimap".into());
        v.scan_time = Duration::from_millis(250);
        v.milter.add_headers.push(AddHeader {
            name: "X-Spamd-Result".into(),
            value: "default: False;\n\tTEST_SCORE(7.00)".into(),
            order: 0,
        });
        v.milter.add_headers.insert(
            0,
            AddHeader {
                name: "Authentication-Results".into(),
                value: "vm; none".into(),
                order: 1,
            },
        );
        v.milter.remove_headers.push(RemoveHeader {
            name: "X-Spam".into(),
            index: -1,
        });
        v.milter.change_from = Some("<b@example.com>".into());
        v.milter.add_rcpt = vec!["c@example.com".into()];
        v.milter.del_rcpt = vec!["d@example.com".into()];
        v.milter.spam_header = Some("Yes".into());
        v.milter.no_action = true;
        v.dkim_signatures = vec!["v=1; a=rsa-sha256; d=example.com;\n\tb=AAAA".into()];
        let body = serde_json::to_vec(&to_reply(&v)).unwrap();
        assert_eq!(parse(&body).unwrap(), v);
    }

    #[test]
    fn dkim_signatures_are_rspamds_top_level_field() {
        let mut v = Verdict::empty(15.0);
        v.dkim_signatures = vec!["v=1; d=a.example;\n\tb=A".into()];
        let j = serde_json::to_value(to_reply(&v)).unwrap();
        assert_eq!(j["dkim-signature"], "v=1; d=a.example;\n\tb=A");
        assert!(j.get("milter").is_none());
        v.dkim_signatures.push("v=1; d=b.example; b=B".into());
        let j = serde_json::to_value(to_reply(&v)).unwrap();
        assert_eq!(j["dkim-signature"][1], "v=1; d=b.example; b=B");
        // An upstream folding with CRLF: the verdict keeps milter folding.
        let body = br#"{"action":"no action","dkim-signature":"v=1; d=c.example;\r\n\tb=C"}"#;
        let got = parse(body).unwrap();
        assert_eq!(
            got.dkim_signatures,
            vec!["v=1; d=c.example;\n\tb=C".to_string()]
        );
        assert!(got.milter.add_headers.is_empty());
    }

    /// Captured from Rspamd 3.4 behind `Flags: milter` (trimmed).
    const RSPAMD_34: &str = r#"{"is_skipped":false,"score":8.5,"required_score":15.0,
      "action":"add header","symbols":{
        "TEST_SCORE":{"name":"TEST_SCORE","score":7.0,"metric_score":1.0,"options":["requested"]},
        "MISSING_MID":{"name":"MISSING_MID","score":2.5,"metric_score":2.5,"description":"Message id is missing"},
        "R_SPF_NA":{"name":"R_SPF_NA","score":-1.0,"metric_score":0.0},
        "RCPT_COUNT_ONE":{"name":"RCPT_COUNT_ONE","score":0.0,"metric_score":0.0,"options":["1"]}},
      "messages":{},"message-id":"undef","time_real":0.25,"milter":{
        "add_headers":{"X-Spamd-Result":{"value":"default: False [8.50 / 15.00];\n\tTEST_SCORE(7.00)","order":-1},
                       "Authentication-Results":{"value":"vm;\r\n\tnone","order":1}},
        "remove_headers":{"X-Spam":0,"X-Spamd-Result":[1,-1]}}}"#;

    #[test]
    fn rspamd_reply_becomes_a_verdict() {
        let v = parse(RSPAMD_34.as_bytes()).unwrap();
        assert_eq!(v.action, Action::AddHeader);
        assert_eq!(v.score, 8.5);
        assert_eq!(v.required_score, 15.0);
        let names: Vec<&str> = v.symbols.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["TEST_SCORE", "MISSING_MID", "R_SPF_NA", "RCPT_COUNT_ONE"]
        );
        assert_eq!(v.message_id, None, "undef means none");
        assert_eq!(v.scan_time, Duration::from_millis(250));
        let ar = v
            .milter
            .add_headers
            .iter()
            .find(|h| h.name == "Authentication-Results")
            .unwrap();
        assert_eq!((ar.value.as_str(), ar.order), ("vm;\n\tnone", 1));
        assert_eq!(v.milter.remove_headers.len(), 3);
        assert!(v.milter.remove_headers.contains(&RemoveHeader {
            name: "X-Spamd-Result".into(),
            index: -1
        }));
    }

    #[test]
    fn custom_enforcement_and_messages_carry_over() {
        let j = r#"{"action":"reject","score":20,"required_score":15,"reject":"discard",
                    "messages":{"smtp_message":"Go away"},"dkim-signature":["a=1","b=2"],
                    "thresholds":{"reject":15.0,"greylist":4.0,"add header":6.0},
                    "milter":{"spam_header":{"X-Spam":"Maybe"},"change_from":"<b@x>","no_action":true}}"#;
        let v = parse(j.as_bytes()).unwrap();
        assert_eq!(v.action, Action::Discard);
        assert_eq!(v.smtp_message.as_deref(), Some("Go away"));
        assert_eq!(
            v.thresholds,
            vec![
                (Action::Greylist, 4.0),
                (Action::AddHeader, 6.0),
                (Action::Reject, 15.0)
            ]
        );
        assert_eq!(v.milter.spam_header.as_deref(), Some("Maybe"));
        assert_eq!(v.milter.change_from.as_deref(), Some("<b@x>"));
        assert!(v.milter.no_action);
        // Signatures stay signatures (the milter inserts them on top, in order).
        assert_eq!(
            v.dkim_signatures,
            vec!["a=1".to_string(), "b=2".to_string()]
        );
        assert!(v.milter.add_headers.is_empty());
    }

    #[test]
    fn errors_and_garbage_are_typed() {
        assert_eq!(
            parse(br#"{"error":"invalid command","error_domain":"protocol-error"}"#),
            Err(ReplyError::Scanner("invalid command".into()))
        );
        assert!(matches!(parse(b"<html>"), Err(ReplyError::Json(_))));
        assert_eq!(
            parse(br#"{"action":"explode"}"#),
            Err(ReplyError::Action("explode".into()))
        );
        assert_eq!(
            parse(br#"{"score":1}"#),
            Err(ReplyError::Action(String::new()))
        );
    }
}
