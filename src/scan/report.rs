//! The human-readable report of `sluice scan` (modelled on rspamc's
//! output); the `/checkv2` JSON reply is [`crate::verdict::checkv2`].
use std::fmt::Write;

use crate::verdict::Verdict;

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
    use crate::verdict::{Action, Symbol};

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
        v
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
