//! One history row in the shape of Rspamd's `/history` version 2 (what
//! `history_redis` stores and the WebUI reads): the protocol reply's
//! verdict plus the envelope, the MIME sender and recipients and the
//! subject.
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use mail_parser::{HeaderName, MessageParser};

use serde::{Deserialize, Serialize};

use super::row_symbols::RowSymbols;

use crate::message::Envelope;
use crate::verdict::Verdict;

/// What Rspamd writes where it knows nothing.
const UNKNOWN: &str = "unknown";

/// Fields missing from a stored row (another version's, or Rspamd's) read as empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Row {
    #[serde(rename = "message-id")]
    pub message_id: String,
    pub ip: String,
    pub sender_smtp: String,
    pub sender_mime: String,
    pub rcpt_smtp: Vec<String>,
    pub rcpt_mime: Vec<String>,
    pub subject: String,
    pub user: String,
    pub action: String,
    pub score: f64,
    pub required_score: f64,
    pub is_skipped: bool,
    /// By name: `{name, score, metric_score, description?, options?}`.
    pub symbols: RowSymbols,
    pub size: usize,
    pub unix_time: u64,
    /// Seconds the scan took.
    pub time_real: f64,
}

impl Row {
    /// The row of one scanned message.
    pub fn new(env: &Envelope, message: &[u8], v: &Verdict) -> Row {
        let (sender_mime, rcpt_mime, subject) = mime_parts(message);
        Row {
            message_id: v.message_id.clone().unwrap_or_else(|| "undef".into()),
            ip: env
                .client_ip
                .map_or_else(|| UNKNOWN.into(), |ip| ip.to_string()),
            sender_smtp: env.from.clone().unwrap_or_default(),
            sender_mime,
            rcpt_smtp: env.rcpts.clone(),
            rcpt_mime,
            subject,
            user: env.user.clone().unwrap_or_else(|| UNKNOWN.into()),
            action: v.action.as_str().to_string(),
            score: v.score,
            required_score: v.required_score,
            is_skipped: v.is_skipped,
            symbols: RowSymbols::of(v),
            size: message.len(),
            unix_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            time_real: v.scan_time.as_secs_f64(),
        }
    }
}

/// A parser of the four headers a row shows, built once: the other headers are skipped,
/// not parsed (a row is made for every message, and parsing every `Received` and
/// `Date` again after the scan, with a parser built for each row, showed in profiles).
fn row_parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .header_address(HeaderName::From)
            .header_address(HeaderName::To)
            .header_address(HeaderName::Cc)
            .header_text(HeaderName::Subject)
            .default_header_ignore()
    })
}

/// The MIME From address, the To/Cc addresses and the decoded Subject,
/// read from the header only.
fn mime_parts(message: &[u8]) -> (String, Vec<String>, String) {
    let Some(m) = row_parser().parse_headers(message) else {
        return (String::new(), Vec::new(), UNKNOWN.into());
    };
    let first = |a: Option<&mail_parser::Address<'_>>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string()
    };
    let rcpts = [m.to(), m.cc()]
        .into_iter()
        .flatten()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .map(str::to_string)
        .collect();
    let subject = m.subject().unwrap_or(UNKNOWN).to_string();
    (first(m.from()), rcpts, subject)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Action, Symbol};

    #[test]
    fn row_carries_envelope_mime_and_symbols() {
        let env = Envelope {
            client_ip: Some("192.0.2.7".parse().unwrap()),
            from: Some("bounce@example.org".into()),
            rcpts: vec!["a@example.net".into()],
            ..Envelope::default()
        };
        let msg = b"From: Alice <alice@example.org>\r\nTo: a@example.net, b@example.net\r\n\
Cc: c@example.net\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n";
        let mut v = Verdict::empty(15.0);
        v.action = Action::AddHeader;
        v.score = 6.5;
        v.message_id = Some("x@y".into());
        v.symbols.push(Symbol {
            name: "SYM_A".into(),
            score: 6.5,
            metric_score: 6.5,
            description: Some("a symbol".into()),
            options: vec!["opt".into()],
        });
        let r = Row::new(&env, msg, &v);
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["message-id"], "x@y");
        assert_eq!(j["ip"], "192.0.2.7");
        assert_eq!(j["sender_smtp"], "bounce@example.org");
        assert_eq!(j["sender_mime"], "alice@example.org");
        assert_eq!(
            j["rcpt_mime"],
            serde_json::json!(["a@example.net", "b@example.net", "c@example.net"])
        );
        assert_eq!(j["subject"], "café");
        assert_eq!(j["action"], "add header");
        assert_eq!(j["user"], "unknown");
        assert_eq!(j["size"], msg.len());
        assert_eq!(j["symbols"]["SYM_A"]["score"], 6.5);
        assert_eq!(j["symbols"]["SYM_A"]["options"], serde_json::json!(["opt"]));
    }

    /// The row's parser skips every header but four: what it reads of those is what the
    /// full parser reads, whatever else the header holds.
    #[test]
    fn the_row_parser_reads_what_the_full_parser_reads() {
        let msg = b"Received: from a.example (a.example [192.0.2.1]) by b.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n\
Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nFrom: =?utf-8?q?Bob?= <bob@example.org>\r\n\
To: \"A, B\" <a@example.net>, undisclosed-recipients:;\r\nCc: Group: c@example.net, d@example.net;\r\n\
Content-Type: multipart/alternative; boundary=x\r\nSubject: =?iso-8859-1?q?caf=E9?= and more\r\n\r\n--x\r\n\r\nbody\r\n--x--\r\n";
        let full = MessageParser::new().parse_headers(&msg[..]).unwrap();
        let rcpts: Vec<String> = [full.to(), full.cc()]
            .into_iter()
            .flatten()
            .flat_map(|a| a.iter())
            .filter_map(|a| a.address())
            .map(str::to_string)
            .collect();
        let (from, to, subject) = mime_parts(msg);
        assert_eq!(from, "bob@example.org");
        assert_eq!(to, rcpts);
        assert_eq!(to, ["a@example.net", "c@example.net", "d@example.net"]);
        assert_eq!(subject, full.subject().unwrap());
        assert_eq!(subject, "caf\u{e9} and more");
    }
}
