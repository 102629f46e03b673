//! Milter -> MTA replies (`SMFIR_*`): encoders for the milter role and a
//! parser for the MTA role ([`super::client`]).
use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::be_u32;

use super::frame::Packet;
use super::optneg::{action, OptNegReply};
use super::wire::{cstr, cstrs, field, put_cstr, run, Res};

pub use super::reply_code::{ReplyCodeError, MAX_LINES, MAX_LINE_LEN};

/// Largest `b` payload MTAs built on libmilter's buffer accept.
pub const MAX_BODY_CHUNK: usize = 65535;

/// `SMFIR_*` codes.
pub mod code {
    pub const ADDRCPT: u8 = b'+';
    pub const DELRCPT: u8 = b'-';
    pub const ADDRCPT_PAR: u8 = b'2';
    pub const SHUTDOWN: u8 = b'4';
    pub const ACCEPT: u8 = b'a';
    pub const REPLBODY: u8 = b'b';
    pub const CONTINUE: u8 = b'c';
    pub const DISCARD: u8 = b'd';
    pub const CHGFROM: u8 = b'e';
    pub const ADDHEADER: u8 = b'h';
    pub const INSHEADER: u8 = b'i';
    pub const CHGHEADER: u8 = b'm';
    pub const PROGRESS: u8 = b'p';
    pub const QUARANTINE: u8 = b'q';
    pub const REJECT: u8 = b'r';
    pub const SKIP: u8 = b's';
    pub const TEMPFAIL: u8 = b't';
    pub const REPLYCODE: u8 = b'y';
    pub const OPTNEG: u8 = b'O';
}

/// One packet from the milter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `a`: stop filtering this connection/message, accept.
    Accept,
    /// `c`: go on.
    Continue,
    /// `d`: silently drop the message.
    Discard,
    /// `r`: reject with the MTA's default text.
    Reject,
    /// `t`: tempfail with the MTA's default text.
    Tempfail,
    /// `s`: send no more events of this kind (needs SMFIP_SKIP).
    Skip,
    /// `p`: still working; resets the MTA's read timeout.
    Progress,
    /// `4`: 421 and disconnect (Postfix only).
    Shutdown,
    /// `y`: full SMTP reply text without the NUL; build with
    /// [`Reply::reply_code`].
    ReplyCode(Bytes),
    /// `q`: hold/quarantine with a reason.
    Quarantine(Bytes),
    /// `h`: append a header.
    AddHeader { name: Bytes, value: Bytes },
    /// `i`: insert at a 0-based position among all headers.
    InsertHeader {
        index: u32,
        name: Bytes,
        value: Bytes,
    },
    /// `m`: change the 1-based `index`th header called `name`; empty value
    /// deletes.
    ChangeHeader {
        index: u32,
        name: Bytes,
        value: Bytes,
    },
    /// `+`.
    AddRcpt(Bytes),
    /// `2`: `args` is one space-joined string, never an argv.
    AddRcptPar { rcpt: Bytes, args: Option<Bytes> },
    /// `-`: the recipient exactly as received.
    DelRcpt(Bytes),
    /// `e`.
    ChangeFrom { sender: Bytes, args: Option<Bytes> },
    /// `b`: at most [`MAX_BODY_CHUNK`] bytes; see [`Reply::replace_body`].
    ReplaceBody(Bytes),
    /// `O`: answer to the MTA's option negotiation.
    OptNeg(OptNegReply),
}

/// Why a packet is not a valid reply (MTA role).
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// A code no milter may send (including `f` and `l`).
    #[error("unknown milter reply code '{}' (0x{:02x})", .0.escape_ascii(), .0)]
    UnknownCode(u8),
    /// The payload lacks a field the layout requires.
    #[error("malformed milter reply '{}': {what}", code.escape_ascii())]
    Malformed { code: u8, what: &'static str },
}

impl Reply {
    /// Encodes the reply as the milter sends it.
    pub fn to_packet(&self) -> Packet {
        Packet::new(self.code(), self.payload())
    }

    /// The SMFIR code byte.
    pub fn code(&self) -> u8 {
        match self {
            Reply::Accept => code::ACCEPT,
            Reply::Continue => code::CONTINUE,
            Reply::Discard => code::DISCARD,
            Reply::Reject => code::REJECT,
            Reply::Tempfail => code::TEMPFAIL,
            Reply::Skip => code::SKIP,
            Reply::Progress => code::PROGRESS,
            Reply::Shutdown => code::SHUTDOWN,
            Reply::ReplyCode(_) => code::REPLYCODE,
            Reply::Quarantine(_) => code::QUARANTINE,
            Reply::AddHeader { .. } => code::ADDHEADER,
            Reply::InsertHeader { .. } => code::INSHEADER,
            Reply::ChangeHeader { .. } => code::CHGHEADER,
            Reply::AddRcpt(_) => code::ADDRCPT,
            Reply::AddRcptPar { .. } => code::ADDRCPT_PAR,
            Reply::DelRcpt(_) => code::DELRCPT,
            Reply::ChangeFrom { .. } => code::CHGFROM,
            Reply::ReplaceBody(_) => code::REPLBODY,
            Reply::OptNeg(_) => code::OPTNEG,
        }
    }

    fn payload(&self) -> Bytes {
        match self {
            Reply::Accept
            | Reply::Continue
            | Reply::Discard
            | Reply::Reject
            | Reply::Tempfail
            | Reply::Skip
            | Reply::Progress
            | Reply::Shutdown => Bytes::new(),
            Reply::ReplyCode(s) | Reply::Quarantine(s) => cstrs([s]),
            Reply::AddRcpt(s) | Reply::DelRcpt(s) => cstrs([s]),
            Reply::AddHeader { name, value } => cstrs([name, value]),
            Reply::InsertHeader { index, name, value }
            | Reply::ChangeHeader { index, name, value } => indexed(*index, name, value),
            Reply::AddRcptPar { rcpt: a, args } | Reply::ChangeFrom { sender: a, args } => {
                cstrs(std::iter::once(a).chain(args))
            }
            Reply::ReplaceBody(b) => b.clone(),
            Reply::OptNeg(o) => o.encode(),
        }
    }

    /// Decodes a packet received from a milter (MTA role).
    pub fn parse(packet: &Packet) -> Result<Reply, ReplyError> {
        let p = &packet.payload;
        let malformed = |what| ReplyError::Malformed {
            code: packet.code,
            what,
        };
        let one = |what| run(p, field(what, cstr)).map(|s| p.slice_ref(s));
        let reply = match packet.code {
            code::ACCEPT => Reply::Accept,
            code::CONTINUE => Reply::Continue,
            code::DISCARD => Reply::Discard,
            code::REJECT => Reply::Reject,
            code::TEMPFAIL => Reply::Tempfail,
            code::SKIP => Reply::Skip,
            code::PROGRESS => Reply::Progress,
            code::SHUTDOWN => Reply::Shutdown,
            code::REPLYCODE => Reply::ReplyCode(one("reply text NUL").map_err(malformed)?),
            code::QUARANTINE => Reply::Quarantine(one("quarantine reason NUL").map_err(malformed)?),
            code::ADDRCPT => Reply::AddRcpt(one("recipient NUL").map_err(malformed)?),
            code::DELRCPT => Reply::DelRcpt(one("recipient NUL").map_err(malformed)?),
            code::ADDHEADER => {
                let (name, value) = run(p, name_value).map_err(malformed)?;
                Reply::AddHeader {
                    name: p.slice_ref(name),
                    value: p.slice_ref(value),
                }
            }
            code::INSHEADER | code::CHGHEADER => {
                indexed_reply(packet.code, p).map_err(malformed)?
            }
            code::ADDRCPT_PAR | code::CHGFROM => with_args(packet.code, p).map_err(malformed)?,
            code::REPLBODY => Reply::ReplaceBody(p.clone()),
            code::OPTNEG => Reply::OptNeg(OptNegReply::parse(p).map_err(|m| malformed(m.0))?),
            other => return Err(ReplyError::UnknownCode(other)),
        };
        Ok(reply)
    }

    /// Whether this reply ends the MTA's wait (`a c d r t y s 4` and `O`);
    /// `p`, `q` and modifications are intermediate.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Reply::Accept
                | Reply::Continue
                | Reply::Discard
                | Reply::Reject
                | Reply::Tempfail
                | Reply::ReplyCode(_)
                | Reply::Skip
                | Reply::Shutdown
                | Reply::OptNeg(_)
        )
    }

    /// The SMFIF action bit the MTA must have granted, 0 if none.
    pub fn required_action(&self) -> u32 {
        match self {
            Reply::AddHeader { .. } | Reply::InsertHeader { .. } => action::ADD_HEADERS,
            Reply::ChangeHeader { .. } => action::CHANGE_HEADERS,
            Reply::AddRcpt(_) => action::ADD_RCPT,
            Reply::AddRcptPar { .. } => action::ADD_RCPT_PAR,
            Reply::DelRcpt(_) => action::DEL_RCPT,
            Reply::ChangeFrom { .. } => action::CHANGE_FROM,
            Reply::ReplaceBody(_) => action::CHANGE_BODY,
            Reply::Quarantine(_) => action::QUARANTINE,
            _ => 0,
        }
    }

    /// Splits a replacement body into `b` packets of at most
    /// [`MAX_BODY_CHUNK`] bytes (zero-copy). An empty body still yields one
    /// empty `b`, which replaces the body with nothing.
    pub fn replace_body(body: Bytes) -> Vec<Reply> {
        if body.is_empty() {
            return vec![Reply::ReplaceBody(body)];
        }
        (0..body.len())
            .step_by(MAX_BODY_CHUNK)
            .map(|at| Reply::ReplaceBody(body.slice(at..body.len().min(at + MAX_BODY_CHUNK))))
            .collect()
    }
}

/// `index:u32 BE  name NUL  value NUL`
fn indexed(index: u32, name: &[u8], value: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(6 + name.len() + value.len());
    buf.put_u32(index);
    put_cstr(&mut buf, name);
    put_cstr(&mut buf, value);
    buf.freeze()
}

/// ```text
/// name NUL value NUL
/// ```
fn name_value(input: &[u8]) -> Res<'_, (&[u8], &[u8])> {
    let (rest, name) = field("header name NUL", cstr)(input)?;
    let (rest, value) = field("header value NUL", cstr)(rest)?;
    Ok((rest, (name, value)))
}

/// ```text
/// index:u32 BE  name NUL  value NUL        ('i' and 'm')
/// ```
fn indexed_reply(code: u8, p: &Bytes) -> Result<Reply, &'static str> {
    let (index, (name, value)) = run(p, |i| {
        let (rest, index) = field("header index", be_u32)(i)?;
        let (rest, nv) = name_value(rest)?;
        Ok((rest, (index, nv)))
    })?;
    let (name, value) = (p.slice_ref(name), p.slice_ref(value));
    Ok(if code == code::INSHEADER {
        Reply::InsertHeader { index, name, value }
    } else {
        Reply::ChangeHeader { index, name, value }
    })
}

/// ```text
/// address NUL [ esmtp-args NUL ]           ('2' and 'e'; never more strings)
/// ```
fn with_args(code: u8, p: &Bytes) -> Result<Reply, &'static str> {
    let parts = super::wire::argv(p).map_err(|m| m.0)?;
    let (addr, args) = match parts.as_slice() {
        [addr] => (*addr, None),
        [addr, args] => (*addr, Some(p.slice_ref(args))),
        _ => return Err("more than two strings (address, args)"),
    };
    let addr = p.slice_ref(addr);
    Ok(if code == code::ADDRCPT_PAR {
        Reply::AddRcptPar { rcpt: addr, args }
    } else {
        Reply::ChangeFrom { sender: addr, args }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_body_chunks_at_limit() {
        let body = Bytes::from(vec![b'x'; MAX_BODY_CHUNK * 2 + 10]);
        let chunks = Reply::replace_body(body);
        let sizes: Vec<usize> = chunks
            .iter()
            .map(|r| match r {
                Reply::ReplaceBody(b) => b.len(),
                _ => unreachable!("only b packets"),
            })
            .collect();
        assert_eq!(sizes, vec![MAX_BODY_CHUNK, MAX_BODY_CHUNK, 10]);
        assert_eq!(Reply::replace_body(Bytes::new()).len(), 1);
    }

    #[test]
    fn required_actions() {
        let h = Reply::AddHeader {
            name: Bytes::from_static(b"X"),
            value: Bytes::new(),
        };
        assert_eq!(h.required_action(), action::ADD_HEADERS);
        assert_eq!(
            Reply::Quarantine(Bytes::new()).required_action(),
            action::QUARANTINE
        );
        assert_eq!(Reply::Accept.required_action(), 0);
        assert!(!h.is_terminal());
        assert!(!Reply::Progress.is_terminal());
        assert!(Reply::Shutdown.is_terminal());
    }
}
