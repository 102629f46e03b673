//! The pre-HTTP protocols: Rspamd's legacy rspamc protocol (`CHECK
//! RSPAMC/1.3`, what Exim's `spamd_address = ... variant=rspamd` sends) and
//! its SpamAssassin spamd emulation (`SYMBOLS SPAMC/1.2`). A request line
//! with one of these protocol tokens starts a legacy session: headers as in
//! HTTP, then the body; the reply is plain text and the server closes.
//!
//! Rspamd's modern server always prints `False` in the `Metric:` and
//! `Spam:` lines; the flag is printed truthfully here (Exim's parser reads
//! either, and spamc's exit code depends on it).
use std::fmt::Write;

use super::checkv2::CheckV2Reply;
use super::legacy::is_spam_action;

/// Which legacy protocol a session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `RSPAMC/1.x`; replies `RSPAMD/1.3`.
    Rspamc,
    /// `SPAMC/1.x`; replies `SPAMD/1.1`.
    Spamc,
}

/// A legacy request line: `CHECK RSPAMC/1.3`, `SYMBOLS SPAMC/1.2`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub dialect: Dialect,
    /// The command, upper case (`CHECK`, `SYMBOLS`, `REPORT`, `PROCESS`).
    pub command: String,
}

/// Recognises a legacy request line (without its line ending); `None` for
/// HTTP and anything else.
pub fn parse_request_line(line: &[u8]) -> Option<RequestLine> {
    let text = std::str::from_utf8(line)
        .ok()?
        .trim_end_matches(['\r', '\n']);
    let mut words = text.split_ascii_whitespace();
    let command = words.next()?;
    let proto = words.next_back()?;
    let (name, version) = proto.split_once('/')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let dialect = if name.eq_ignore_ascii_case("RSPAMC") {
        Dialect::Rspamc
    } else if name.eq_ignore_ascii_case("SPAMC") {
        Dialect::Spamc
    } else {
        return None;
    };
    Some(RequestLine {
        dialect,
        command: command.trim_start_matches('/').to_ascii_uppercase(),
    })
}

/// The legacy rspamc reply, byte for byte in Rspamd's layout:
/// `RSPAMD/1.3 0 EX_OK`, `Metric:`, `Action:`, `Subject:` (rewrite subject
/// only), one `Symbol:` per symbol, `Message-ID:`.
pub fn rspamc_reply(r: &CheckV2Reply) -> String {
    let mut out = String::from("RSPAMD/1.3 0 EX_OK\r\n");
    let _ = write!(
        out,
        "Metric: default; {}; {:.2} / {:.2} / 0.0\r\nAction: {}\r\n",
        flag(r),
        r.score,
        r.required_score,
        r.action
    );
    if let Some(s) = &r.subject {
        let _ = write!(out, "Subject: {s}\r\n");
    }
    for (name, s) in &r.symbols {
        let _ = write!(out, "Symbol: {name}({:.2})\r\n", s.score);
    }
    if let Some(id) = &r.message_id {
        let _ = write!(out, "Message-ID: {id}\r\n");
    }
    out
}

/// The spamd emulation's reply: status line, `Content-length` of the body,
/// `Spam: <flag> ; score / required`, blank line, the symbol names.
pub fn spamc_reply(r: &CheckV2Reply) -> String {
    let names: Vec<&str> = r.symbols.keys().map(String::as_str).collect();
    let body = format!("{}\r\n", names.join(","));
    format!(
        "SPAMD/1.1 0 EX_OK\r\nContent-length: {}\r\nSpam: {} ; {:.2} / {:.2}\r\n\r\n{body}",
        body.len(),
        flag(r),
        r.score,
        r.required_score
    )
}

/// A failure: a status line the clients' parsers reject, so they defer the
/// message rather than take it for clean.
pub fn error_reply(dialect: Dialect, message: &str) -> String {
    let clean: String = message.chars().filter(|c| !c.is_control()).collect();
    match dialect {
        Dialect::Rspamc => format!("RSPAMD/1.3 1 EX_ERROR\r\nError: {clean}\r\n"),
        Dialect::Spamc => format!("SPAMD/1.1 76 Bad header line: {clean}\r\n"),
    }
}

fn flag(r: &CheckV2Reply) -> &'static str {
    if is_spam_action(&r.action) {
        "True"
    } else {
        "False"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rspamd::SymbolResult;

    fn reply() -> CheckV2Reply {
        let mut r = CheckV2Reply {
            score: 21.0,
            required_score: 15.0,
            action: "reject".into(),
            message_id: Some("20260101.1234@example.org".into()),
            ..Default::default()
        };
        for (name, score) in [("TEST_SCORE", 20.0), ("DATE_IN_PAST", 1.0)] {
            r.symbols.insert(
                name.into(),
                SymbolResult {
                    name: name.into(),
                    score,
                    metric_score: score,
                    description: None,
                    options: vec![],
                },
            );
        }
        r
    }

    #[test]
    fn request_lines() {
        let l = parse_request_line(b"CHECK RSPAMC/1.3\r\n").unwrap();
        assert_eq!((l.dialect, l.command.as_str()), (Dialect::Rspamc, "CHECK"));
        let l = parse_request_line(b"symbols SPAMC/1.2").unwrap();
        assert_eq!((l.dialect, l.command.as_str()), (Dialect::Spamc, "SYMBOLS"));
        assert!(parse_request_line(b"POST /checkv2 HTTP/1.1\r\n").is_none());
        assert!(parse_request_line(b"CHECK RSPAMC/x").is_none());
        assert!(parse_request_line(b"CHECK").is_none());
    }

    #[test]
    fn rspamc_layout_is_what_exim_parses() {
        let text = rspamc_reply(&reply());
        assert_eq!(
            text,
            "RSPAMD/1.3 0 EX_OK\r\nMetric: default; True; 21.00 / 15.00 / 0.0\r\n\
             Action: reject\r\nSymbol: DATE_IN_PAST(1.00)\r\nSymbol: TEST_SCORE(20.00)\r\n\
             Message-ID: 20260101.1234@example.org\r\n"
        );
    }

    #[test]
    fn spamc_counts_its_body() {
        let mut r = reply();
        r.action = "no action".into();
        r.score = 1.0;
        let text = spamc_reply(&r);
        assert_eq!(
            text,
            "SPAMD/1.1 0 EX_OK\r\nContent-length: 25\r\nSpam: False ; 1.00 / 15.00\r\n\r\n\
             DATE_IN_PAST,TEST_SCORE\r\n"
        );
        let e = error_reply(Dialect::Rspamc, "bad\nthing");
        assert!(!e.starts_with("RSPAMD/1.3 0 EX_OK"), "{e}");
        assert!(e.ends_with("Error: badthing\r\n"));
    }
}
