//! Framing alone: `length:u32 BE | code:1 | payload:length-1`.
//!
//! Kept apart from parsing so that a packet's size is known (and refused)
//! before any memory is reserved for it, and so that a malformed packet can be
//! dropped whole without losing sync with the stream.
use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Largest payload accepted by default. libmilter's own limit is 65535, but
/// Postfix reads replies of any size and indymilter accepts 1 MiB - 1; a
/// generous cap with a clean error is the safe middle.
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

/// Bytes of the length prefix.
const HEADER_LEN: usize = 4;

/// One milter packet: its one-byte code and the payload that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The SMFIC_* or SMFIR_* code (an ASCII character).
    pub code: u8,
    /// Everything after the code; `length - 1` bytes on the wire.
    pub payload: Bytes,
}

impl Packet {
    /// Builds a packet from a code and anything that can become `Bytes`.
    pub fn new(code: u8, payload: impl Into<Bytes>) -> Packet {
        Packet {
            code,
            payload: payload.into(),
        }
    }

    /// Size of this packet on the wire, length prefix included.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + 1 + self.payload.len()
    }
}

/// Splits a byte stream into [`Packet`]s and back.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_payload: usize,
}

impl FrameCodec {
    /// A codec refusing payloads larger than `max_payload` bytes.
    pub fn new(max_payload: usize) -> FrameCodec {
        FrameCodec { max_payload }
    }

    /// The configured payload cap.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Validates the length field; `Ok(payload_len)` when acceptable.
    fn check_len(&self, len: u32) -> Result<usize, FrameError> {
        let len = len as usize;
        if len == 0 {
            return Err(FrameError::ZeroLength);
        }
        let payload = len - 1;
        if payload > self.max_payload {
            return Err(FrameError::TooLarge {
                len: payload,
                max: self.max_payload,
            });
        }
        Ok(payload)
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(DEFAULT_MAX_PAYLOAD)
    }
}

/// Why a byte stream could not be cut into packets.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A length field of 0: there is not even a code byte. Postfix calls this
    /// "bad packet length" and so do we.
    #[error("milter packet with length 0")]
    ZeroLength,
    /// The announced payload exceeds the cap; nothing was allocated for it.
    #[error("milter packet payload of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    /// The stream ended in the middle of a packet.
    #[error("stream ended inside a milter packet: have {have} of {need} bytes")]
    Truncated { have: usize, need: usize },
    /// The transport failed.
    #[error("milter stream I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Decoder for FrameCodec {
    type Item = Packet;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, FrameError> {
        if src.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        // The cap is checked here, before `reserve`, so a hostile length
        // field cannot make us allocate.
        let payload_len = self.check_len(len)?;
        let frame_len = HEADER_LEN + 1 + payload_len;
        if src.len() < frame_len {
            src.reserve(frame_len - src.len());
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        let code = src.get_u8();
        let payload = src.split_to(payload_len).freeze();
        Ok(Some(Packet { code, payload }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, FrameError> {
        match self.decode(src)? {
            Some(packet) => Ok(Some(packet)),
            None if src.is_empty() => Ok(None),
            None => Err(truncated(src)),
        }
    }
}

/// Describes how much of an incomplete frame is buffered.
fn truncated(src: &BytesMut) -> FrameError {
    let need = if src.len() >= HEADER_LEN {
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        HEADER_LEN + len
    } else {
        HEADER_LEN
    };
    FrameError::Truncated {
        have: src.len(),
        need,
    }
}

impl Encoder<Packet> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, packet: Packet, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_into(&packet, self.max_payload, dst)
    }
}

impl Encoder<&Packet> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, packet: &Packet, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_into(packet, self.max_payload, dst)
    }
}

/// Writes one frame; refuses what our own decoder (or the peer) would refuse.
fn encode_into(packet: &Packet, max: usize, dst: &mut BytesMut) -> Result<(), FrameError> {
    let payload_len = packet.payload.len();
    if payload_len > max || payload_len >= u32::MAX as usize {
        return Err(FrameError::TooLarge {
            len: payload_len,
            max,
        });
    }
    dst.reserve(packet.wire_len());
    dst.put_u32(payload_len as u32 + 1);
    dst.put_u8(packet.code);
    dst.put_slice(&packet.payload);
    Ok(())
}

/// Encodes one packet into a fresh buffer (no size cap): handy for tests,
/// benches and writing a packet without a codec at hand.
pub fn encode_packet(packet: &Packet) -> BytesMut {
    let mut dst = BytesMut::with_capacity(packet.wire_len());
    // The only error is an over-sized payload, impossible with usize::MAX
    // except for payloads >= 4 GiB which cannot be framed at all.
    let _ = encode_into(packet, u32::MAX as usize - 1, &mut dst);
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut FrameCodec, bytes: &[u8]) -> Result<Vec<Packet>, FrameError> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(p) = codec.decode_eof(&mut buf)? {
            out.push(p);
        }
        Ok(out)
    }

    #[test]
    fn decodes_back_to_back_packets() {
        let bytes = b"\x00\x00\x00\x01c\x00\x00\x00\x03Dab";
        let packets = decode_all(&mut FrameCodec::default(), bytes).unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::new(b'c', Bytes::new()),
                Packet::new(b'D', &b"ab"[..])
            ]
        );
    }

    #[test]
    fn waits_for_more_bytes_then_completes() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x03H"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"x\0");
        let p = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(p, Packet::new(b'H', &b"x\0"[..]));
        assert!(buf.is_empty());
    }

    #[test]
    fn zero_length_is_an_error() {
        let err = FrameCodec::default()
            .decode(&mut BytesMut::from(&b"\0\0\0\0"[..]))
            .unwrap_err();
        assert!(matches!(err, FrameError::ZeroLength), "{err:?}");
    }

    #[test]
    fn oversize_is_refused_before_allocation() {
        let mut codec = FrameCodec::new(16);
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xffB"[..]);
        let cap_before = buf.capacity();
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len, max: 16 } if len == u32::MAX as usize - 1),
            "{err:?}"
        );
        assert_eq!(buf.capacity(), cap_before, "no memory reserved");
    }

    #[test]
    fn payload_exactly_at_cap_is_accepted() {
        let mut codec = FrameCodec::new(3);
        let packets = decode_all(&mut codec, b"\0\0\0\x04Babc").unwrap();
        assert_eq!(packets[0].payload, &b"abc"[..]);
        let err = decode_all(&mut codec, b"\0\0\0\x05Babcd").unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len: 4, max: 3 }));
    }

    #[test]
    fn eof_mid_frame_is_truncated() {
        let err = decode_all(&mut FrameCodec::default(), b"\0\0\0\x05Bab").unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { have: 7, need: 9 }),
            "{err:?}"
        );
        let err = decode_all(&mut FrameCodec::default(), b"\0\0").unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { have: 2, need: 4 }),
            "{err:?}"
        );
    }

    #[test]
    fn clean_eof_is_none() {
        assert!(decode_all(&mut FrameCodec::default(), b"")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn encodes_length_including_code() {
        let mut dst = BytesMut::new();
        FrameCodec::default()
            .encode(Packet::new(b'H', &b"x\0"[..]), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"\0\0\0\x03Hx\0");
        assert_eq!(
            &encode_packet(&Packet::new(b'c', Bytes::new()))[..],
            b"\0\0\0\x01c"
        );
    }

    #[test]
    fn encoder_refuses_over_cap() {
        let mut dst = BytesMut::new();
        let err = FrameCodec::new(2)
            .encode(Packet::new(b'b', &b"abc"[..]), &mut dst)
            .unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len: 3, max: 2 }));
        assert!(dst.is_empty());
    }
}
