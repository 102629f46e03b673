//! Option negotiation (`O`), both directions, and the SMFIF/SMFIP/SMFIM
//! constant tables from libmilter's `mfapi.h` / `mfdef.h`.
use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::be_u32;
use nom::sequence::tuple;

use super::wire::{cstr, field, put_cstr, Missing, Res};

/// Milter protocol version spoken by Postfix >= 2.6 and sendmail >= 8.14.
pub const VERSION: u32 = 6;

/// `SMFIF_*`: modifications the milter may make (granted by the MTA).
pub mod action {
    /// `h` and `i`.
    pub const ADD_HEADERS: u32 = 0x01;
    /// `b`.
    pub const CHANGE_BODY: u32 = 0x02;
    /// `+`.
    pub const ADD_RCPT: u32 = 0x04;
    /// `-`.
    pub const DEL_RCPT: u32 = 0x08;
    /// `m`.
    pub const CHANGE_HEADERS: u32 = 0x10;
    /// `q`.
    pub const QUARANTINE: u32 = 0x20;
    /// `e`.
    pub const CHANGE_FROM: u32 = 0x40;
    /// `2`.
    pub const ADD_RCPT_PAR: u32 = 0x80;
    /// Macro lists inside the `O` reply.
    pub const SET_SYMLIST: u32 = 0x100;
    /// What protocol version 1 MTAs allowed; libmilter's meaning of 0.
    pub const V1: u32 = 0x0F;
    /// Everything (`SMFI_CURR_ACTS`), what Postfix and sendmail offer.
    pub const ALL: u32 = 0x1FF;
}

/// `SMFIP_*`: events to suppress (`NO_*`), events not to answer (`NR_*`),
/// and capabilities.
pub mod protocol {
    pub const NO_CONNECT: u32 = 0x1;
    pub const NO_HELO: u32 = 0x2;
    pub const NO_MAIL: u32 = 0x4;
    pub const NO_RCPT: u32 = 0x8;
    pub const NO_BODY: u32 = 0x10;
    pub const NO_HDRS: u32 = 0x20;
    pub const NO_EOH: u32 = 0x40;
    /// No reply to `L` (alias `SMFIP_NOHREPL`).
    pub const NR_HDR: u32 = 0x80;
    pub const NO_UNKNOWN: u32 = 0x100;
    pub const NO_DATA: u32 = 0x200;
    /// The MTA understands the `s` reply.
    pub const SKIP: u32 = 0x400;
    /// Also send recipients the MTA itself rejected.
    pub const RCPT_REJ: u32 = 0x800;
    pub const NR_CONN: u32 = 0x1000;
    pub const NR_HELO: u32 = 0x2000;
    pub const NR_MAIL: u32 = 0x4000;
    pub const NR_RCPT: u32 = 0x8000;
    pub const NR_DATA: u32 = 0x10000;
    pub const NR_UNKN: u32 = 0x20000;
    pub const NR_EOH: u32 = 0x40000;
    pub const NR_BODY: u32 = 0x80000;
    /// Header values travel with their leading whitespace untouched.
    pub const HDR_LEADSPC: u32 = 0x100000;
    /// libmilter's meaning of 0 (`SMFI_V1_PROT`).
    pub const V1: u32 = 0x3F;
    /// Everything a v6 MTA can do (`SMFI_CURR_PROT`).
    pub const ALL: u32 = 0x1F_FFFF;
}

/// `SMFIM_*`: macro stages, used only inside the `O` reply. EOM is 5 and EOH
/// is 6 on the wire (libmilter's internal order differs).
pub mod stage {
    pub const CONNECT: u32 = 0;
    pub const HELO: u32 = 1;
    pub const ENVFROM: u32 = 2;
    pub const ENVRCPT: u32 = 3;
    pub const DATA: u32 = 4;
    pub const EOM: u32 = 5;
    pub const EOH: u32 = 6;
}

/// The MTA's offer: `version:u32 actions:u32 protocol:u32` (12 bytes; more
/// are tolerated and ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptNeg {
    pub version: u32,
    pub actions: u32,
    pub protocol: u32,
}

impl OptNeg {
    /// What Postfix 3.x and sendmail 8.14+ offer: v6, everything.
    pub fn postfix() -> OptNeg {
        OptNeg {
            version: VERSION,
            actions: action::ALL,
            protocol: protocol::ALL,
        }
    }

    /// ```text
    /// version:u32 BE  actions:u32 BE  protocol:u32 BE  [ignored...]
    /// ```
    /// Zero actions/protocol mean the v1 defaults, as in libmilter.
    pub(crate) fn parse(input: &[u8]) -> Res<'_, OptNeg> {
        let (rest, (version, actions, protocol)) = tuple((
            field("optneg version", be_u32),
            field("optneg actions", be_u32),
            field("optneg protocol", be_u32),
        ))(input)?;
        let actions = if actions == 0 { action::V1 } else { actions };
        let protocol = if protocol == 0 {
            protocol::V1
        } else {
            protocol
        };
        Ok((
            rest,
            OptNeg {
                version,
                actions,
                protocol,
            },
        ))
    }

    pub(crate) fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(12);
        buf.put_u32(self.version);
        buf.put_u32(self.actions);
        buf.put_u32(self.protocol);
        buf.freeze()
    }
}

/// The milter's answer: `version actions protocol { stage:u32 names NUL }*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptNegReply {
    pub version: u32,
    pub actions: u32,
    pub protocol: u32,
    /// `(SMFIM stage, "space separated macro names")`; needs
    /// [`action::SET_SYMLIST`].
    pub macros: Vec<(u32, Bytes)>,
}

impl OptNegReply {
    /// ```text
    /// version:u32 BE  actions:u32 BE  protocol:u32 BE  { stage:u32 BE  names NUL }*
    /// ```
    /// Macro lists are zero-copy slices of `payload`.
    pub(crate) fn parse(payload: &Bytes) -> Result<OptNegReply, Missing> {
        let (mut rest, (version, actions, protocol)) = tuple((
            field("optneg version", be_u32),
            field("optneg actions", be_u32),
            field("optneg protocol", be_u32),
        ))(&payload[..])
        .map_err(unwrap_missing)?;
        let mut macros = Vec::new();
        while !rest.is_empty() {
            let (next, pair) = tuple((
                field("symlist stage", be_u32),
                field("symlist names NUL", cstr),
            ))(rest)
            .map_err(unwrap_missing)?;
            macros.push((pair.0, payload.slice_ref(pair.1)));
            rest = next;
        }
        Ok(OptNegReply {
            version,
            actions,
            protocol,
            macros,
        })
    }

    pub(crate) fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(12);
        buf.put_u32(self.version);
        buf.put_u32(self.actions);
        buf.put_u32(self.protocol);
        for (stage, names) in &self.macros {
            buf.put_u32(*stage);
            put_cstr(&mut buf, names);
        }
        buf.freeze()
    }
}

fn unwrap_missing(e: nom::Err<Missing>) -> Missing {
    match e {
        nom::Err::Error(m) | nom::Err::Failure(m) => m,
        nom::Err::Incomplete(_) => Missing("incomplete optneg"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_masks_mean_v1_defaults() {
        let (_, o) = OptNeg::parse(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((o.version, o.actions, o.protocol), (2, 0x0F, 0x3F));
    }

    #[test]
    fn extra_bytes_are_ignored_short_is_error() {
        let mut bytes = OptNeg::postfix().encode().to_vec();
        bytes.extend_from_slice(b"junk");
        assert_eq!(OptNeg::parse(&bytes).unwrap().1, OptNeg::postfix());
        let err = OptNeg::parse(&bytes[..11]).unwrap_err();
        assert_eq!(err, nom::Err::Error(Missing("optneg protocol")));
    }

    #[test]
    fn reply_symlist_round_trip() {
        let reply = OptNegReply {
            version: 6,
            actions: action::ADD_HEADERS | action::SET_SYMLIST,
            protocol: protocol::NR_CONN,
            macros: vec![(stage::EOM, Bytes::from_static(b"i {msg_id}"))],
        };
        let bytes = reply.encode();
        assert_eq!(
            &bytes[..],
            b"\0\0\0\x06\0\0\x01\x01\0\0\x10\0\0\0\0\x05i {msg_id}\0"
        );
        assert_eq!(OptNegReply::parse(&bytes), Ok(reply));
        assert_eq!(
            OptNegReply::parse(&bytes.slice(..bytes.len() - 1)),
            Err(Missing("symlist names NUL"))
        );
    }
}
