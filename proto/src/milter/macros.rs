//! `D` (SMFIC_MACRO): the macro values the MTA sends before an event.
//!
//! Parsing is deliberately lenient, because real MTAs send packets a strict
//! reader would refuse: Postfix sends `D` with no pairs at all (and libmilter
//! even copes with a completely empty payload), stage bytes libmilter does
//! not know (`L`, `B`, `U`), and empty values. None of that is an error.
use bytes::{BufMut, Bytes, BytesMut};

use super::wire::put_cstr;

/// One `D` packet: the command code the macros belong to, and its pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MacroPacket {
    /// The command code (`b'C'`, `b'H'`, ... `b'L'`, `b'B'`), not an SMFIM
    /// number. 0 when the payload was empty.
    pub stage: u8,
    /// `(name, value)` as sent: `j`, `{daemon_name}`, ...
    pub pairs: Vec<(Bytes, Bytes)>,
}

impl MacroPacket {
    /// Builds a packet from string pairs (MTA role, tests).
    pub fn new(stage: u8, pairs: &[(&str, &str)]) -> MacroPacket {
        let pairs = pairs
            .iter()
            .map(|(n, v)| {
                (
                    Bytes::copy_from_slice(n.as_bytes()),
                    Bytes::copy_from_slice(v.as_bytes()),
                )
            })
            .collect();
        MacroPacket { stage, pairs }
    }

    /// The first value of macro `name`; `i` also finds `{i}` and vice versa,
    /// as libmilter's `smfi_getsymval` does.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        let want = unbrace(name.as_bytes());
        self.pairs
            .iter()
            .find(|(n, _)| unbrace(n) == want)
            .map(|(_, v)| v)
    }

    /// ```text
    /// stage:1  { name NUL value NUL }*
    /// ```
    /// Empty payload: stage 0, no pairs. A trailing name without a value is
    /// dropped; a final value missing its NUL is kept.
    pub fn parse(payload: &Bytes) -> MacroPacket {
        let Some((&stage, rest)) = payload.split_first() else {
            return MacroPacket::default();
        };
        let rest = rest.strip_suffix(&[0]).unwrap_or(rest);
        let mut parts = rest.split(|&b| b == 0);
        let mut pairs = Vec::new();
        if rest.is_empty() {
            return MacroPacket { stage, pairs };
        }
        while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
            pairs.push((payload.slice_ref(name), payload.slice_ref(value)));
        }
        MacroPacket { stage, pairs }
    }

    /// Inverse of [`MacroPacket::parse`].
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_u8(self.stage);
        for (name, value) in &self.pairs {
            put_cstr(&mut buf, name);
            put_cstr(&mut buf, value);
        }
        buf.freeze()
    }
}

/// `{name}` -> `name`; anything else unchanged.
fn unbrace(name: &[u8]) -> &[u8] {
    name.strip_prefix(b"{")
        .and_then(|n| n.strip_suffix(b"}"))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &'static [u8]) -> MacroPacket {
        MacroPacket::parse(&Bytes::from_static(bytes))
    }

    #[test]
    fn postfix_connect_macros() {
        let m = parse(b"Cj\0mx.lab.test\0{daemon_addr}\x00127.0.0.1\0_\0localhost [127.0.0.1]\0");
        assert_eq!(m.stage, b'C');
        assert_eq!(m.pairs.len(), 3);
        assert_eq!(m.get("j").unwrap(), &b"mx.lab.test"[..]);
        assert_eq!(m.get("{j}").unwrap(), &b"mx.lab.test"[..]);
        assert_eq!(m.get("daemon_addr").unwrap(), &b"127.0.0.1"[..]);
        assert_eq!(m.get("_").unwrap(), &b"localhost [127.0.0.1]"[..]);
        assert_eq!(m.get("i"), None);
    }

    #[test]
    fn brace_lookup_both_ways() {
        let m = parse(b"T{i}\0Q1\0");
        assert_eq!(m.get("i").unwrap(), &b"Q1"[..]);
        assert_eq!(m.get("{i}").unwrap(), &b"Q1"[..]);
    }

    #[test]
    fn lenient_shapes() {
        assert_eq!(parse(b""), MacroPacket::default());
        assert_eq!(
            parse(b"H"),
            MacroPacket {
                stage: b'H',
                pairs: vec![]
            }
        );
        let unknown_stage = parse(b"Zi\0x\0");
        assert_eq!(unknown_stage.stage, b'Z');
        assert_eq!(unknown_stage.get("i").unwrap(), &b"x"[..]);
        let empty_value = parse(b"Ei\0\0");
        assert_eq!(empty_value.get("i").unwrap(), &b""[..]);
        let odd = parse(b"Mi\0q\0dangling\0");
        assert_eq!(odd.pairs.len(), 1);
        let no_final_nul = parse(b"Mi\0q");
        assert_eq!(no_final_nul.get("i").unwrap(), &b"q"[..]);
    }

    #[test]
    fn encode_round_trip() {
        let m = MacroPacket::new(b'R', &[("{rcpt_addr}", "a@b"), ("i", "")]);
        let bytes = m.encode();
        assert_eq!(&bytes[..], b"R{rcpt_addr}\0a@b\0i\0\0");
        assert_eq!(MacroPacket::parse(&bytes), m);
    }
}
