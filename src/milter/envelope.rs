//! Connection- and message-scoped session data, kept in separate structs so
//! that an abort (`A`) resets exactly the message part and nothing leaks from
//! one message, or one `K`-separated SMTP session, into the next.
use std::net::IpAddr;

use bytes::Bytes;
use sluice_proto::milter::{Connect, MacroPacket};

use crate::message::{Envelope, RawMessage};

/// Macro values by name (braces stripped), per stage group. A stage group
/// holds a handful of macros, and Postfix sends ~30 macro packets per
/// message: a short list searched linearly beats hashing every name, and a
/// macro sent again reuses its value's allocation.
#[derive(Debug, Default, Clone)]
pub struct Macros {
    connection: MacroList,
    message: MacroList,
}

/// `(name, value)` pairs, names unique.
#[derive(Debug, Default, Clone)]
struct MacroList(Vec<(String, String)>);

impl MacroList {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, key: &str, value: &[u8]) {
        let value = String::from_utf8_lossy(value);
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => {
                v.clear();
                v.push_str(&value);
            }
            None => self.0.push((key.to_string(), value.into_owned())),
        }
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Stage bytes whose macros live as long as the connection.
fn is_connection_stage(stage: u8) -> bool {
    matches!(stage, b'C' | b'H')
}

/// `{name}` -> `name`: the MTA sends long macro names braced, and lookups
/// may use either form.
fn unbrace(name: &str) -> &str {
    name.trim_start_matches('{').trim_end_matches('}')
}

impl Macros {
    /// Stores a `D` packet. Empty values are dropped: an empty
    /// `{auth_authen}` must not make the message look authenticated.
    pub fn store(&mut self, packet: &MacroPacket) {
        let map = if is_connection_stage(packet.stage) {
            &mut self.connection
        } else {
            &mut self.message
        };
        for (name, value) in &packet.pairs {
            if value.is_empty() {
                continue;
            }
            map.set(unbrace(&String::from_utf8_lossy(name)), value);
        }
    }

    /// Looks a macro up by name, with or without braces.
    pub fn get(&self, name: &str) -> Option<&str> {
        let key = unbrace(name);
        self.message.get(key).or_else(|| self.connection.get(key))
    }

    pub fn clear_message(&mut self) {
        self.message.clear();
    }

    pub fn clear_all(&mut self) {
        self.connection.clear();
        self.message.clear();
    }
}

/// What is known about the SMTP client for the whole connection.
#[derive(Debug, Default, Clone)]
pub struct ConnectionData {
    pub client_ip: Option<IpAddr>,
    pub client_name: Option<String>,
    pub helo: Option<String>,
}

impl ConnectionData {
    pub fn from_connect(c: &Connect) -> ConnectionData {
        let name = String::from_utf8_lossy(&c.hostname).into_owned();
        // Postfix and Sendmail send "[address]" when the name is unknown.
        let client_name =
            (!name.is_empty() && !name.starts_with('[') && name != "unknown").then_some(name);
        ConnectionData {
            client_ip: c.ip(),
            client_name,
            helo: None,
        }
    }
}

/// One message in progress.
#[derive(Debug)]
pub struct Transaction {
    pub from: Option<String>,
    pub rcpts: Vec<String>,
    /// Header names in order, to compute `m` indices at end of message.
    pub header_names: HeaderNames,
    pub raw: RawMessage,
    /// Set once a terminal reply was sent before end of message.
    pub answered: bool,
    /// Set when the body was skipped because the message is too large.
    pub skipped: bool,
}

impl Transaction {
    pub fn new(max_message: usize) -> Transaction {
        Transaction {
            from: None,
            rcpts: Vec::new(),
            header_names: HeaderNames::default(),
            raw: RawMessage::new(max_message),
            answered: false,
            skipped: false,
        }
    }

    /// How many headers named `name` (case-insensitive) the MTA showed us.
    pub fn header_count(&self, name: &str) -> usize {
        self.header_names
            .iter()
            .filter(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            .count()
    }
}

/// Header names in arrival order, copied into one buffer.
///
/// Why copies: a name is a slice of the session's read buffer, and keeping
/// the slices would pin each read buffer until end of message, so the
/// next read had to allocate a fresh one (a large share of the forward
/// path's CPU, see `docs/performance.md`); copied, the read buffer is
/// reused in place.
#[derive(Debug, Default)]
pub struct HeaderNames {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl HeaderNames {
    pub fn push(&mut self, name: &[u8]) {
        self.bytes.extend_from_slice(name);
        self.ends.push(self.bytes.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(s, &e)| &self.bytes[s..e])
    }
}

/// An SMTP address as the MTA sent it, without angle brackets. Postfix's
/// `non_smtpd_milters` sends bare addresses, `smtpd_milters` bracketed ones.
pub fn bare_address(arg: Option<&Bytes>) -> String {
    let s = arg
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let t = s.trim();
    let t = t.strip_prefix('<').unwrap_or(t);
    let t = t.strip_suffix('>').unwrap_or(t);
    t.to_string()
}

/// The scan's view of the message: connection data, transaction, macros.
pub fn envelope(conn: &ConnectionData, tx: &Transaction, macros: &Macros) -> Envelope {
    let client_ip = conn
        .client_ip
        .or_else(|| macros.get("client_addr").and_then(|a| a.parse().ok()));
    Envelope {
        client_ip,
        client_name: conn
            .client_name
            .clone()
            .or_else(|| macros.get("client_name").map(str::to_string))
            .filter(|n| n != "unknown"),
        helo: conn.helo.clone(),
        from: tx.from.clone(),
        rcpts: tx.rcpts.clone(),
        queue_id: macros.get("i").map(str::to_string),
        user: macros.get("auth_authen").map(str::to_string),
        mta_name: macros
            .get("daemon_name")
            .or_else(|| macros.get("j"))
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_keep_order_and_count_case_insensitively() {
        let mut tx = Transaction::new(1024);
        assert!(tx.header_names.is_empty());
        for name in [&b"Received"[..], b"X-Spam", b"", b"received"] {
            tx.header_names.push(name);
        }
        let names: Vec<&[u8]> = tx.header_names.iter().collect();
        assert_eq!(names, vec![&b"Received"[..], b"X-Spam", b"", b"received"]);
        assert_eq!(tx.header_names.len(), 4);
        assert_eq!(tx.header_count("RECEIVED"), 2);
        assert_eq!(tx.header_count("x-spam"), 1);
        assert_eq!(tx.header_count("Subject"), 0);
    }

    #[test]
    fn addresses_lose_their_brackets() {
        assert_eq!(bare_address(Some(&Bytes::from_static(b"<a@b>"))), "a@b");
        assert_eq!(bare_address(Some(&Bytes::from_static(b"a@b"))), "a@b");
        assert_eq!(bare_address(Some(&Bytes::from_static(b"<>"))), "");
        assert_eq!(bare_address(None), "");
    }

    #[test]
    fn macros_accept_both_spellings_and_drop_empty_values() {
        let mut m = Macros::default();
        m.store(&MacroPacket {
            stage: b'M',
            pairs: vec![
                (Bytes::from_static(b"i"), Bytes::from_static(b"ABC")),
                (Bytes::from_static(b"{auth_authen}"), Bytes::new()),
            ],
        });
        assert_eq!(m.get("i"), Some("ABC"));
        assert_eq!(m.get("{i}"), Some("ABC"));
        assert_eq!(m.get("auth_authen"), None);
        m.clear_message();
        assert_eq!(m.get("i"), None);
    }
}
