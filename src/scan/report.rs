//! Renderings of a verdict for clients: the `/checkv2` JSON reply and the
//! human-readable report of `sluice scan` (modelled on rspamc's output).
use std::collections::BTreeMap;
use std::fmt::Write;

use sluice_proto::rspamd::{CheckV2Reply, HeaderSpec, MilterBlock, OneOrMany, SymbolResult};

use crate::verdict::{MilterEdits, Verdict};

/// The verdict as Rspamd's `/checkv2` reply.
pub fn checkv2_reply(v: &Verdict) -> CheckV2Reply {
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
        dkim_signature: None,
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

/// A report like `rspamc symbols FILE` prints.
pub fn text_report(v: &Verdict, file: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Results for file: {file} ({:.3} seconds)",
        v.scan_time.as_secs_f64()
    );
    let _ = writeln!(out, "[Metric: default]");
    let _ = writeln!(out, "Action: {}", v.action);
    let spam = !matches!(
        v.action,
        crate::verdict::Action::NoAction | crate::verdict::Action::Greylist
    );
    let _ = writeln!(out, "Spam: {spam}");
    let _ = writeln!(out, "Score: {:.2} / {:.2}", v.score, v.required_score);
    for s in &v.symbols {
        let _ = write!(out, "Symbol: {} ({:.2})", s.name, s.score);
        if !s.options.is_empty() {
            let _ = write!(out, "[{}]", s.options.join(", "));
        }
        out.push('\n');
    }
    if let Some(m) = &v.smtp_message {
        let _ = writeln!(out, "Message - smtp_message: {m}");
    }
    if let Some(s) = &v.subject {
        let _ = writeln!(out, "Subject: {s}");
    }
    let _ = writeln!(
        out,
        "Message-ID: {}",
        v.message_id.as_deref().unwrap_or("undef")
    );
    if !v.urls.is_empty() {
        let _ = writeln!(out, "Urls: [\"{}\"]", v.urls.join("\", \""));
    }
    if !v.emails.is_empty() {
        let _ = writeln!(out, "Emails: [\"{}\"]", v.emails.join("\", \""));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Action, AddHeader, RemoveHeader, Symbol};

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
        let r = checkv2_reply(&sample());
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
        let j = serde_json::to_value(checkv2_reply(&v)).unwrap();
        assert!(j.get("milter").is_none());
        assert!(j.get("urls").is_none());
        assert_eq!(j["messages"]["smtp_message"], "Gtube pattern");
    }

    #[test]
    fn text_report_lists_everything() {
        let t = text_report(&sample(), "m.eml");
        assert!(t.starts_with("Results for file: m.eml ("));
        assert!(t.contains("Action: add header\nSpam: true\nScore: 7.50 / 15.00\n"));
        assert!(t.contains("Symbol: MISSING_MID (2.50)\n"));
        assert!(t.contains("Urls: [\"example.com\"]"));
    }
}
