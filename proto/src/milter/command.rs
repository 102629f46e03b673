//! MTA -> milter commands (`SMFIC_*`): one parser per code, its packet layout
//! written above it, and the encoder for the MTA role.
//!
//! Parsing is zero-copy: every `Bytes` in a [`Command`] is a slice of the
//! packet's payload.
use bytes::Bytes;

use super::frame::Packet;
use super::macros::MacroPacket;
use super::optneg::OptNeg;
use super::wire::{argv, cstr, cstrs, field, run, Res};

pub use super::connect::{Connect, Family};

/// `SMFIC_*` codes.
pub mod code {
    pub const ABORT: u8 = b'A';
    pub const BODY: u8 = b'B';
    pub const CONNECT: u8 = b'C';
    pub const MACRO: u8 = b'D';
    pub const BODYEOB: u8 = b'E';
    pub const HELO: u8 = b'H';
    pub const QUIT_NC: u8 = b'K';
    pub const HEADER: u8 = b'L';
    pub const MAIL: u8 = b'M';
    pub const EOH: u8 = b'N';
    pub const OPTNEG: u8 = b'O';
    pub const QUIT: u8 = b'Q';
    pub const RCPT: u8 = b'R';
    pub const DATA: u8 = b'T';
    pub const UNKNOWN: u8 = b'U';
}

/// One command from the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `O` SMFIC_OPTNEG.
    OptNeg(OptNeg),
    /// `D` SMFIC_MACRO; never answered.
    Macro(MacroPacket),
    /// `C` SMFIC_CONNECT.
    Connect(Connect),
    /// `H` SMFIC_HELO: the HELO/EHLO argument.
    Helo(Bytes),
    /// `M` SMFIC_MAIL: `[address, esmtp args..]` exactly as sent.
    Mail(Vec<Bytes>),
    /// `R` SMFIC_RCPT: `[address, esmtp args..]` exactly as sent.
    Rcpt(Vec<Bytes>),
    /// `T` SMFIC_DATA.
    Data,
    /// `L` SMFIC_HEADER: one header field; folds joined by bare LF.
    Header { name: Bytes, value: Bytes },
    /// `N` SMFIC_EOH.
    EndOfHeaders,
    /// `B` SMFIC_BODY: raw body bytes, CRLF line endings.
    Body(Bytes),
    /// `E` SMFIC_BODYEOB: payload = optional final body chunk.
    EndOfMessage(Bytes),
    /// `A` SMFIC_ABORT: per-message reset; never answered.
    Abort,
    /// `Q` SMFIC_QUIT; never answered.
    Quit,
    /// `K` SMFIC_QUIT_NC: new SMTP session on this socket; never answered.
    QuitNewConnection,
    /// `U` SMFIC_UNKNOWN: the unrecognised SMTP command line.
    Unknown(Bytes),
}

/// Why a packet is not a valid command.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A code no MTA sends.
    #[error("unknown milter command code '{}' (0x{:02x})", .0.escape_ascii(), .0)]
    UnknownCode(u8),
    /// The payload lacks a field the layout requires.
    #[error("malformed milter command '{}': {what}", code.escape_ascii())]
    Malformed { code: u8, what: &'static str },
}

impl Command {
    /// Decodes a packet received from the MTA.
    pub fn parse(packet: &Packet) -> Result<Command, CommandError> {
        let p = &packet.payload;
        let malformed = |what| CommandError::Malformed {
            code: packet.code,
            what,
        };
        let cmd = match packet.code {
            code::OPTNEG => Command::OptNeg(run(p, OptNeg::parse).map_err(malformed)?),
            code::MACRO => Command::Macro(MacroPacket::parse(p)),
            code::CONNECT => Command::Connect(Connect::parse(p).map_err(malformed)?),
            code::HELO => Command::Helo(p.slice_ref(run(p, helo).map_err(malformed)?)),
            code::MAIL => Command::Mail(args(p).map_err(malformed)?),
            code::RCPT => Command::Rcpt(args(p).map_err(malformed)?),
            code::DATA => Command::Data,
            code::HEADER => {
                let (name, value) = run(p, header).map_err(malformed)?;
                Command::Header {
                    name: p.slice_ref(name),
                    value: p.slice_ref(value),
                }
            }
            code::EOH => Command::EndOfHeaders,
            code::BODY => Command::Body(p.clone()),
            code::BODYEOB => Command::EndOfMessage(p.clone()),
            code::ABORT => Command::Abort,
            code::QUIT => Command::Quit,
            code::QUIT_NC => Command::QuitNewConnection,
            code::UNKNOWN => Command::Unknown(p.slice_ref(run(p, unknown).map_err(malformed)?)),
            other => return Err(CommandError::UnknownCode(other)),
        };
        Ok(cmd)
    }

    /// Encodes the command as the MTA sends it.
    pub fn to_packet(&self) -> Packet {
        let payload = match self {
            Command::OptNeg(o) => o.encode(),
            Command::Macro(m) => m.encode(),
            Command::Connect(c) => c.encode(),
            Command::Helo(s) | Command::Unknown(s) => cstrs([s]),
            Command::Mail(a) | Command::Rcpt(a) => cstrs(a),
            Command::Header { name, value } => cstrs([name, value]),
            Command::Body(b) | Command::EndOfMessage(b) => b.clone(),
            Command::Data
            | Command::EndOfHeaders
            | Command::Abort
            | Command::Quit
            | Command::QuitNewConnection => Bytes::new(),
        };
        Packet::new(self.code(), payload)
    }

    /// The SMFIC code byte.
    pub fn code(&self) -> u8 {
        match self {
            Command::OptNeg(_) => code::OPTNEG,
            Command::Macro(_) => code::MACRO,
            Command::Connect(_) => code::CONNECT,
            Command::Helo(_) => code::HELO,
            Command::Mail(_) => code::MAIL,
            Command::Rcpt(_) => code::RCPT,
            Command::Data => code::DATA,
            Command::Header { .. } => code::HEADER,
            Command::EndOfHeaders => code::EOH,
            Command::Body(_) => code::BODY,
            Command::EndOfMessage(_) => code::BODYEOB,
            Command::Abort => code::ABORT,
            Command::Quit => code::QUIT,
            Command::QuitNewConnection => code::QUIT_NC,
            Command::Unknown(_) => code::UNKNOWN,
        }
    }

    /// The mfdef.h name, for logs (matches what Postfix logs).
    pub fn name(&self) -> &'static str {
        code_name(self.code())
    }
}

/// The mfdef.h name of a command code, `"SMFIC_?"` if unknown.
pub fn code_name(code: u8) -> &'static str {
    match code {
        code::ABORT => "SMFIC_ABORT",
        code::BODY => "SMFIC_BODY",
        code::CONNECT => "SMFIC_CONNECT",
        code::MACRO => "SMFIC_MACRO",
        code::BODYEOB => "SMFIC_BODYEOB",
        code::HELO => "SMFIC_HELO",
        code::QUIT_NC => "SMFIC_QUIT_NC",
        code::HEADER => "SMFIC_HEADER",
        code::MAIL => "SMFIC_MAIL",
        code::EOH => "SMFIC_EOH",
        code::OPTNEG => "SMFIC_OPTNEG",
        code::QUIT => "SMFIC_QUIT",
        code::RCPT => "SMFIC_RCPT",
        code::DATA => "SMFIC_DATA",
        code::UNKNOWN => "SMFIC_UNKNOWN",
        _ => "SMFIC_?",
    }
}

/// ```text
/// helo-name NUL
/// ```
fn helo(input: &[u8]) -> Res<'_, &[u8]> {
    field("HELO name NUL", cstr)(input)
}

/// ```text
/// address NUL { esmtp-param NUL }*
/// ```
/// Used by `M` and `R`.
fn args(payload: &Bytes) -> Result<Vec<Bytes>, &'static str> {
    let parts = argv(payload).map_err(|m| m.0)?;
    Ok(parts.into_iter().map(|s| payload.slice_ref(s)).collect())
}

/// ```text
/// name NUL value NUL
/// ```
fn header(input: &[u8]) -> Res<'_, (&[u8], &[u8])> {
    let (rest, name) = field("header name NUL", cstr)(input)?;
    let (rest, value) = field("header value NUL", cstr)(rest)?;
    Ok((rest, (name, value)))
}

/// ```text
/// smtp-command-line NUL
/// ```
fn unknown(input: &[u8]) -> Res<'_, &[u8]> {
    field("unknown command NUL", cstr)(input)
}
