//! `C` (SMFIC_CONNECT): who connected to the MTA.
use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_u16, be_u8};

use super::wire::{cstr, field, put_cstr, run, Res};

/// The address family byte (`SMFIA_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `'4'`.
    Inet4,
    /// `'6'`.
    Inet6,
    /// `'L'`: Unix socket / local; address is the socket path.
    Unix,
    /// `'U'`: unknown; port and address are absent on the wire.
    Unknown,
}

impl Family {
    /// The wire byte.
    pub fn byte(self) -> u8 {
        match self {
            Family::Inet4 => b'4',
            Family::Inet6 => b'6',
            Family::Unix => b'L',
            Family::Unknown => b'U',
        }
    }

    fn from_byte(b: u8) -> Option<Family> {
        match b {
            b'4' => Some(Family::Inet4),
            b'6' => Some(Family::Inet6),
            b'L' => Some(Family::Unix),
            b'U' => Some(Family::Unknown),
            _ => None,
        }
    }
}

/// The connect event. For [`Family::Unknown`] `port` is 0 and `address`
/// empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Verified client name, or `[ADDRESS]` when unknown.
    pub hostname: Bytes,
    pub family: Family,
    /// Client port, host order (0 for local and non-SMTP mail).
    pub port: u16,
    /// Textual address; sendmail's `IPv6:` prefix already stripped.
    pub address: Bytes,
}

impl Connect {
    /// The client IP, if the family is inet and the address text parses.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.family {
            Family::Inet4 | Family::Inet6 => std::str::from_utf8(&self.address).ok()?.parse().ok(),
            Family::Unix | Family::Unknown => None,
        }
    }

    /// ```text
    /// hostname NUL  family:1  [ port:u16 BE  address NUL ]   (bracket absent for 'U')
    /// ```
    pub(crate) fn parse(payload: &Bytes) -> Result<Connect, &'static str> {
        let (hostname, family, port, address) = run(payload, connect)?;
        let address = strip_ipv6_prefix(family, address);
        Ok(Connect {
            hostname: payload.slice_ref(hostname),
            family,
            port,
            address: payload.slice_ref(address),
        })
    }

    pub(crate) fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.hostname.len() + self.address.len() + 5);
        put_cstr(&mut buf, &self.hostname);
        buf.put_u8(self.family.byte());
        if self.family != Family::Unknown {
            buf.put_u16(self.port);
            put_cstr(&mut buf, &self.address);
        }
        buf.freeze()
    }
}

type Fields<'a> = (&'a [u8], Family, u16, &'a [u8]);

fn connect(input: &[u8]) -> Res<'_, Fields<'_>> {
    let (rest, hostname) = field("connect hostname NUL", cstr)(input)?;
    let (rest, family) = field("connect family", be_u8)(rest)?;
    let Some(family) = Family::from_byte(family) else {
        let bad = super::wire::Missing("connect family not one of 4 6 L U");
        return Err(nom::Err::Error(bad));
    };
    if family == Family::Unknown {
        // sendmail and Postfix omit port and address entirely.
        return Ok((rest, (hostname, family, 0, &[])));
    }
    let (rest, port) = field("connect port", be_u16)(rest)?;
    let (rest, address) = field("connect address NUL", cstr)(rest)?;
    Ok((rest, (hostname, family, port, address)))
}

/// sendmail writes IPv6 peers as `IPv6:2001:db8::1`; libmilter strips it.
/// A repeated prefix is stripped too, so that parsing is idempotent.
fn strip_ipv6_prefix(family: Family, mut address: &[u8]) -> &[u8] {
    const PREFIX: &[u8] = b"IPv6:";
    if family != Family::Inet6 {
        return address;
    }
    while address.len() >= PREFIX.len() && address[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        address = &address[PREFIX.len()..];
    }
    address
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &'static [u8]) -> Result<Connect, &'static str> {
        Connect::parse(&Bytes::from_static(bytes))
    }

    #[test]
    fn inet4() {
        let c = parse(b"localhost\x004\xda\x0c127.0.0.1\0").unwrap();
        assert_eq!(c.port, 55820);
        assert_eq!(c.ip(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(&c.encode()[..], b"localhost\x004\xda\x0c127.0.0.1\0");
    }

    #[test]
    fn sendmail_ipv6_prefix_is_stripped() {
        let c = parse(b"[::1]\x006\x00\x19IPv6:::1\0").unwrap();
        assert_eq!(&c.address[..], b"::1");
        assert_eq!(c.ip(), Some("::1".parse().unwrap()));
        // A doubled prefix must not survive one parse and be stripped by
        // the next: parse -> encode -> parse must be stable (roundtrip fuzz).
        let c = parse(b"h\x006\0\x19IPv6:ipv6:::1\0").unwrap();
        assert_eq!(&c.address[..], b"::1");
    }

    #[test]
    fn unknown_family_has_no_port() {
        let c = parse(b"host\0U").unwrap();
        assert_eq!((c.family, c.port, c.address.len()), (Family::Unknown, 0, 0));
        assert_eq!(c.ip(), None);
        assert_eq!(&c.encode()[..], b"host\0U");
    }

    #[test]
    fn malformed_fields_are_named() {
        assert_eq!(parse(b"host"), Err("connect hostname NUL"));
        assert_eq!(parse(b"host\0"), Err("connect family"));
        assert_eq!(parse(b"host\0X"), Err("connect family not one of 4 6 L U"));
        assert_eq!(parse(b"host\x004\x01"), Err("connect port"));
        assert_eq!(parse(b"host\x004\x01\x02127"), Err("connect address NUL"));
    }

    #[test]
    fn unix_socket_path() {
        let c = parse(b"localhost\0L\0\0/run/x.sock\0").unwrap();
        assert_eq!(c.family, Family::Unix);
        assert_eq!(&c.address[..], b"/run/x.sock");
        assert_eq!(c.ip(), None);
    }
}
