//! Verdict -> milter replies at end of message, the way Rspamd's proxy does it
//! (header removals, additions, envelope edits, then one terminal reply), but
//! dropping any modification the MTA did not grant in negotiation: a packet
//! the MTA did not allow makes Postfix fail the whole message.
use bytes::Bytes;
use sluice_proto::milter::Reply;

use super::envelope::Transaction;
use super::negotiate::Negotiated;
use super::settings::SessionSettings;
use crate::verdict::{Action, Verdict};

/// The replies for one verdict, in sending order; the last one is terminal.
#[derive(Debug, Default)]
pub struct Replies {
    pub packets: Vec<Reply>,
    /// Modifications left out because the MTA did not grant them.
    pub dropped: usize,
}

impl Replies {
    fn push(&mut self, agreed: &Negotiated, reply: Reply) {
        if agreed.grants(reply.required_action()) {
            self.packets.push(reply);
        } else {
            self.dropped += 1;
        }
    }
}

/// Builds the end-of-message replies for `verdict`.
pub fn respond(
    verdict: &Verdict,
    tx: &Transaction,
    agreed: &Negotiated,
    settings: &SessionSettings,
) -> Replies {
    let mut out = Replies::default();
    let edits = &verdict.milter;
    let mut removed: Vec<String> = Vec::new();
    for rm in &edits.remove_headers {
        remove_header(&mut out, agreed, tx, &rm.name, rm.index);
        if rm.index == 0 {
            removed.push(rm.name.to_ascii_lowercase());
        }
    }
    for add in &edits.add_headers {
        let value = header_value(agreed, &add.value);
        let name = Bytes::from(add.name.clone());
        let reply = if add.order >= 0 {
            Reply::InsertHeader {
                index: add.order as u32,
                name,
                value,
            }
        } else {
            Reply::AddHeader { name, value }
        };
        out.push(agreed, reply);
    }
    // At the very top, in order, as Rspamd's bridge inserts `dkim-signature`.
    for (i, sig) in verdict.dkim_signatures.iter().enumerate() {
        let reply = Reply::InsertHeader {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            name: Bytes::from_static(b"DKIM-Signature"),
            value: header_value(agreed, sig),
        };
        out.push(agreed, reply);
    }
    if let Some(from) = &edits.change_from {
        out.push(
            agreed,
            Reply::ChangeFrom {
                sender: bracketed(from),
                args: None,
            },
        );
    }
    for rcpt in &edits.add_rcpt {
        out.push(agreed, Reply::AddRcpt(bracketed(rcpt)));
    }
    for rcpt in &edits.del_rcpt {
        out.push(agreed, Reply::DelRcpt(bracketed(rcpt)));
    }
    if edits.no_action {
        add(&mut out, agreed, "X-Rspamd-Action", verdict.action.as_str());
        out.packets.push(Reply::Accept);
        return out;
    }
    enforce(&mut out, verdict, tx, agreed, settings, &removed);
    out
}

/// Appends the action's own edits and the terminal reply.
fn enforce(
    out: &mut Replies,
    verdict: &Verdict,
    tx: &Transaction,
    agreed: &Negotiated,
    settings: &SessionSettings,
    removed: &[String],
) {
    match verdict.action {
        Action::NoAction | Action::Greylist => out.packets.push(Reply::Accept),
        Action::AddHeader => {
            let name = settings.spam_header.as_str();
            if !removed.contains(&name.to_ascii_lowercase()) {
                remove_header(out, agreed, tx, name, 0);
            }
            let value = edits_spam_value(verdict);
            add(out, agreed, name, &value);
            out.packets.push(Reply::Accept);
        }
        Action::RewriteSubject => {
            if let Some(subject) = &verdict.subject {
                out.push(
                    agreed,
                    Reply::ChangeHeader {
                        index: 1,
                        name: Bytes::from_static(b"Subject"),
                        value: header_value(agreed, subject),
                    },
                );
            }
            out.packets.push(Reply::Accept);
        }
        Action::SoftReject => {
            let text = message_or(verdict, &settings.tempfail_message);
            out.packets.push(smtp_reply(451, "4.7.1", &text));
        }
        Action::Reject if settings.discard_on_reject => out.packets.push(Reply::Discard),
        Action::Reject if settings.quarantine_on_reject => {
            quarantine(out, agreed, &settings.quarantine_message)
        }
        Action::Reject => {
            let text = message_or(verdict, &settings.reject_message);
            out.packets.push(smtp_reply(554, "5.7.1", &text));
        }
        Action::Discard => out.packets.push(Reply::Discard),
        Action::Quarantine => {
            let text = message_or(verdict, &settings.quarantine_message);
            quarantine(out, agreed, &text)
        }
    }
}

fn edits_spam_value(verdict: &Verdict) -> String {
    verdict
        .milter
        .spam_header
        .clone()
        .unwrap_or_else(|| "Yes".to_string())
}

fn message_or(verdict: &Verdict, default: &str) -> String {
    verdict
        .smtp_message
        .clone()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Quarantine is not a final verdict: it must be followed by accept. Without
/// the QUARANTINE grant the message is held back with a tempfail instead of
/// being delivered as if clean.
fn quarantine(out: &mut Replies, agreed: &Negotiated, reason: &str) {
    let before = out.packets.len();
    out.push(agreed, Reply::Quarantine(Bytes::from(reason.to_string())));
    if out.packets.len() > before {
        out.packets.push(Reply::Accept);
    } else {
        out.packets.push(smtp_reply(451, "4.7.1", reason));
    }
}

/// An SMTP reply packet; falls back to the bare code when the text cannot be
/// made valid (the MTA then uses its own default text of the same class).
pub fn smtp_reply(code: u16, status: &str, text: &str) -> Reply {
    match Reply::reply_code(code, status, text) {
        Ok(reply) => reply,
        Err(_) if code >= 500 => Reply::Reject,
        Err(_) => Reply::Tempfail,
    }
}

/// Adds one header (`h`).
fn add(out: &mut Replies, agreed: &Negotiated, name: &str, value: &str) {
    out.push(
        agreed,
        Reply::AddHeader {
            name: Bytes::from(name.to_string()),
            value: header_value(agreed, value),
        },
    );
}

/// Removes instances of a header with Rspamd's index semantics (`0` all,
/// `N > 0` the N-th, `N < 0` from the end), deleting from the highest index
/// down so that Postfix's shifting and Sendmail's stable indices agree.
fn remove_header(out: &mut Replies, agreed: &Negotiated, tx: &Transaction, name: &str, index: i32) {
    let count = tx.header_count(name) as i64;
    let targets: Vec<i64> = match index {
        0 => (1..=count).rev().collect(),
        n if n > 0 && i64::from(n) <= count => vec![i64::from(n)],
        n if n < 0 && count + i64::from(n) + 1 >= 1 => vec![count + i64::from(n) + 1],
        _ => Vec::new(),
    };
    for i in targets {
        out.push(
            agreed,
            Reply::ChangeHeader {
                index: i as u32,
                name: Bytes::from(name.to_string()),
                value: Bytes::new(),
            },
        );
    }
}

/// Longest header value sent to the MTA, in bytes: well below Postfix's
/// default `header_size_limit` (100 KiB for name and value), so the header
/// is kept whole, and far below the largest milter packet, so the reply
/// that carries it (and the verdict after it) always goes out.
pub const MAX_HEADER_VALUE: usize = 64 * 1024;

/// With `HDR_LEADSPC` the MTA writes the value exactly as given, so the
/// space after the colon is ours to add; without it the MTA adds one.
/// Values over [`MAX_HEADER_VALUE`] are cut (see [`bounded_header`]).
fn header_value(agreed: &Negotiated, value: &str) -> Bytes {
    let value = bounded_header(value);
    if agreed.leading_space_kept() && !value.starts_with([' ', '\t']) {
        Bytes::from(format!(" {value}"))
    } else {
        Bytes::from(value.to_string())
    }
}

/// `value` cut to [`MAX_HEADER_VALUE`] bytes: at the last fold that fits
/// (so every line kept is whole), else at a character boundary, and marked
/// with `...`.
pub fn bounded_header(value: &str) -> std::borrow::Cow<'_, str> {
    if value.len() <= MAX_HEADER_VALUE {
        return value.into();
    }
    let room = MAX_HEADER_VALUE - "\n\t...".len();
    let mut end = room;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let cut = match value[..end].rfind("\n\t") {
        Some(fold) if fold > 0 => format!("{}\n\t...", &value[..fold]),
        _ => format!("{}...", &value[..end]),
    };
    cut.into()
}

fn bracketed(addr: &str) -> Bytes {
    if addr.starts_with('<') {
        Bytes::from(addr.to_string())
    } else {
        Bytes::from(format!("<{addr}>"))
    }
}

#[cfg(test)]
mod tests;
