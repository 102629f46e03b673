//! Property-based round trips: Command and Reply `to_packet -> parse` is the
//! identity, framing survives arbitrary read boundaries, and no input makes a
//! parser panic. `Bytes`' Debug output escapes non-printable bytes, so a
//! failing case prints readable evidence.
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sluice_proto::milter::{
    escape, Command, Connect, Family, FrameCodec, MacroPacket, OptNeg, OptNegReply, Packet, Reply,
    ReplyCodeError,
};
use tokio_util::codec::{Decoder, Encoder};

/// A C string's content: any bytes but NUL.
fn text() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(1u8..=255, 0..24).prop_map(Bytes::from)
}

fn raw() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn connect() -> impl Strategy<Value = Connect> {
    let family = prop_oneof![
        Just(Family::Inet4),
        Just(Family::Inet6),
        Just(Family::Unix),
        Just(Family::Unknown)
    ];
    (text(), family, any::<u16>(), text())
        .prop_filter("IPv6: prefix is stripped on purpose", |(_, f, _, a)| {
            *f != Family::Inet6 || !a.to_ascii_lowercase().starts_with(b"ipv6:")
        })
        .prop_map(|(hostname, family, port, address)| match family {
            Family::Unknown => Connect {
                hostname,
                family,
                port: 0,
                address: Bytes::new(),
            },
            _ => Connect {
                hostname,
                family,
                port,
                address,
            },
        })
}

fn command() -> impl Strategy<Value = Command> {
    let nonzero = 1u32..=u32::MAX;
    prop_oneof![
        (any::<u32>(), nonzero.clone(), nonzero).prop_map(|(version, actions, protocol)| {
            Command::OptNeg(OptNeg {
                version,
                actions,
                protocol,
            })
        }),
        (any::<u8>(), prop::collection::vec((text(), text()), 0..5))
            .prop_map(|(stage, pairs)| Command::Macro(MacroPacket { stage, pairs })),
        connect().prop_map(Command::Connect),
        text().prop_map(Command::Helo),
        prop::collection::vec(text(), 1..4).prop_map(Command::Mail),
        prop::collection::vec(text(), 1..4).prop_map(Command::Rcpt),
        Just(Command::Data),
        (text(), text()).prop_map(|(name, value)| Command::Header { name, value }),
        Just(Command::EndOfHeaders),
        raw().prop_map(Command::Body),
        raw().prop_map(Command::EndOfMessage),
        Just(Command::Abort),
        Just(Command::Quit),
        Just(Command::QuitNewConnection),
        text().prop_map(Command::Unknown),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    let simple = prop_oneof![
        Just(Reply::Accept),
        Just(Reply::Continue),
        Just(Reply::Discard),
        Just(Reply::Reject),
        Just(Reply::Tempfail),
        Just(Reply::Skip),
        Just(Reply::Progress),
        Just(Reply::Shutdown),
    ];
    let indexed =
        (any::<u32>(), text(), text(), any::<bool>()).prop_map(|(index, name, value, ins)| {
            if ins {
                Reply::InsertHeader { index, name, value }
            } else {
                Reply::ChangeHeader { index, name, value }
            }
        });
    let optneg = (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec((any::<u32>(), text()), 0..4),
    )
        .prop_map(|(version, actions, protocol, macros)| {
            Reply::OptNeg(OptNegReply {
                version,
                actions,
                protocol,
                macros,
            })
        });
    prop_oneof![
        simple,
        text().prop_map(Reply::ReplyCode),
        text().prop_map(Reply::Quarantine),
        (text(), text()).prop_map(|(name, value)| Reply::AddHeader { name, value }),
        indexed,
        text().prop_map(Reply::AddRcpt),
        (text(), prop::option::of(text()))
            .prop_map(|(rcpt, args)| Reply::AddRcptPar { rcpt, args }),
        text().prop_map(Reply::DelRcpt),
        (text(), prop::option::of(text()))
            .prop_map(|(sender, args)| Reply::ChangeFrom { sender, args }),
        raw().prop_map(Reply::ReplaceBody),
        optneg,
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    (any::<u8>(), raw()).prop_map(|(code, payload)| Packet::new(code, payload))
}

proptest! {
    #[test]
    fn command_round_trip(cmd in command()) {
        let packet = cmd.to_packet();
        let parsed = Command::parse(&packet);
        prop_assert!(parsed.is_ok(), "{:?} failed on payload {}", parsed, escape(&packet.payload));
        prop_assert_eq!(parsed.unwrap(), cmd, "payload {}", escape(&packet.payload));
    }

    #[test]
    fn reply_round_trip(reply in reply()) {
        let packet = reply.to_packet();
        let parsed = Reply::parse(&packet);
        prop_assert!(parsed.is_ok(), "{:?} failed on payload {}", parsed, escape(&packet.payload));
        prop_assert_eq!(parsed.unwrap(), reply, "payload {}", escape(&packet.payload));
    }

    #[test]
    fn frames_survive_any_read_boundaries(
        packets in prop::collection::vec(packet(), 0..8),
        cuts in prop::collection::vec(1usize..40, 1..20),
    ) {
        let mut codec = FrameCodec::default();
        let mut wire = BytesMut::new();
        for p in &packets {
            codec.encode(p.clone(), &mut wire).unwrap();
        }
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut rest = &wire[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*cut).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(p) = codec.decode(&mut buf).unwrap() {
                out.push(p);
            }
        }
        prop_assert!(codec.decode_eof(&mut buf).unwrap().is_none());
        prop_assert_eq!(out, packets, "wire {}", escape(&wire));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..128), code in any::<u8>()) {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut codec = FrameCodec::new(64);
        while let Ok(Some(p)) = codec.decode_eof(&mut buf) {
            let _ = Command::parse(&p);
            let _ = Reply::parse(&p);
        }
        let p = Packet::new(code, bytes);
        let _ = Command::parse(&p);
        let _ = Reply::parse(&p);
    }

    #[test]
    fn reply_code_output_passes_strict_postfix_check(
        code in 400u16..600,
        text in "[ -~\r\n%\u{0}]{0,200}",
    ) {
        let status = format!("{}.7.1", code / 100);
        let out = match Reply::reply_code(code, &status, &text) {
            Ok(Reply::ReplyCode(out)) => out,
            Ok(other) => panic!("reply_code built {other:?}"),
            Err(e) => {
                let lines = text.strip_suffix('\n').unwrap_or(&text).split('\n').count();
                prop_assert_eq!(e, ReplyCodeError::TooManyLines(lines));
                prop_assert!(lines > 32);
                return Ok(());
            }
        };
        prop_assert!(!out.contains(&0));
        let s = String::from_utf8(out.to_vec()).unwrap();
        prop_assert!(!s.ends_with("\r\n"));
        let lines: Vec<&str> = s.split("\r\n").collect();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            let head = format!("{code}{sep}{status}");
            prop_assert!(line.starts_with(&head), "line {:?}", line);
            prop_assert!(!line.contains('\r') && !line.contains('\n'));
            let body = &line[head.len()..];
            prop_assert_eq!(body.matches('%').count() % 2, 0, "lone % in {:?}", line);
        }
    }
}

#[test]
fn empty_macro_packet_round_trips_as_stage_zero() {
    let cmd = Command::Macro(MacroPacket::default());
    assert_eq!(Command::parse(&cmd.to_packet()).unwrap(), cmd);
}
