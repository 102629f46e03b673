//! The captured Postfix 3.7.11 session as a fixture: every MTA frame must
//! decode (framing + command parser) to the expected command and re-encode to
//! the same bytes; every milter frame must be what our encoder produces.
mod common;

use bytes::{Bytes, BytesMut};
use common::{assert_bytes, read_transcript};
use sluice_proto::milter::{
    Command, Connect, Family, FrameCodec, MacroPacket, OptNeg, OptNegReply, Packet, Reply,
};
use tokio_util::codec::Decoder;

const FIXTURE: &str = include_str!("fixtures/postfix-3.7.11-session.txt");

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn expected_mta() -> Vec<Command> {
    let queue_id = |stage| Command::Macro(MacroPacket::new(stage, &[("i", "18D5EC2569")]));
    vec![
        Command::OptNeg(OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        }),
        Command::Macro(MacroPacket::new(
            b'C',
            &[
                ("j", "mx.lab.test"),
                ("{daemon_name}", "mx.lab.test"),
                ("{daemon_addr}", "127.0.0.1"),
                ("v", "Postfix 3.7.11"),
                ("_", "localhost [127.0.0.1]"),
            ],
        )),
        Command::Connect(Connect {
            hostname: b("localhost"),
            family: Family::Inet4,
            port: 55820,
            address: b("127.0.0.1"),
        }),
        Command::Macro(MacroPacket::new(b'H', &[])),
        Command::Helo(b("client.lab.test")),
        Command::Macro(MacroPacket::new(
            b'M',
            &[
                ("{mail_addr}", "sender@example.test"),
                ("{mail_host}", "[127.0.0.1]:2526"),
                ("{mail_mailer}", "smtp"),
            ],
        )),
        Command::Mail(vec![b("<sender@example.test>")]),
        Command::Macro(MacroPacket::new(
            b'R',
            &[
                ("{rcpt_addr}", "ok@example.test"),
                ("{rcpt_host}", "[127.0.0.1]:2526"),
                ("{rcpt_mailer}", "smtp"),
            ],
        )),
        Command::Rcpt(vec![b("<ok@example.test>")]),
        queue_id(b'T'),
        queue_id(b'L'),
        Command::Header {
            name: b("Date"),
            value: b("Sun, 22 Nov 2026 05:00:24 +0000"),
        },
        Command::Header {
            name: b("X-Lead"),
            value: b("  three spaces"),
        },
        queue_id(b'B'),
        Command::Body(b("line one\r\nline two\r\n\r\n\r\n")),
        queue_id(b'E'),
        Command::EndOfMessage(Bytes::new()),
        Command::Abort,
        Command::Abort,
        Command::Quit,
    ]
}

fn expected_milter() -> Vec<Reply> {
    let mut replies = vec![Reply::OptNeg(OptNegReply {
        version: 6,
        actions: 0x31,
        protocol: 0x340,
        macros: vec![],
    })];
    replies.extend(std::iter::repeat_n(Reply::Continue, 7));
    replies.push(Reply::AddHeader {
        name: b("X-Tiny-Milter"),
        value: b("seen"),
    });
    replies.push(Reply::ChangeHeader {
        index: 1,
        name: b("X-Drop-Me"),
        value: Bytes::new(),
    });
    replies.push(Reply::Continue);
    replies
}

#[test]
fn fixture_lengths_match_payloads() {
    for f in read_transcript(FIXTURE) {
        assert_eq!(f.len as usize, f.payload.len() + 1, "{f:?}");
    }
}

#[test]
fn mta_frames_decode_and_reencode() {
    let frames: Vec<_> = read_transcript(FIXTURE)
        .into_iter()
        .filter(|f| f.from_mta)
        .collect();
    // The whole MTA side as one byte stream, the way the milter reads it.
    let mut stream = BytesMut::new();
    for f in &frames {
        stream.extend_from_slice(&f.wire());
    }
    let mut codec = FrameCodec::default();
    let mut decoded = Vec::new();
    while let Some(packet) = codec.decode_eof(&mut stream).expect("frame") {
        decoded.push(Command::parse(&packet).expect("command"));
    }
    assert_eq!(decoded, expected_mta());
    for (cmd, frame) in decoded.iter().zip(&frames) {
        let wire = sluice_proto::milter::frame::encode_packet(&cmd.to_packet());
        assert_bytes(&wire, &frame.wire(), cmd.name());
    }
}

#[test]
fn milter_frames_are_what_we_encode() {
    let frames: Vec<_> = read_transcript(FIXTURE)
        .into_iter()
        .filter(|f| !f.from_mta)
        .collect();
    let replies = expected_milter();
    assert_eq!(frames.len(), replies.len());
    for (reply, frame) in replies.iter().zip(&frames) {
        let wire = sluice_proto::milter::frame::encode_packet(&reply.to_packet());
        assert_bytes(&wire, &frame.wire(), &format!("{reply:?}"));
        let packet = Packet::new(frame.code, frame.payload.clone());
        assert_eq!(&Reply::parse(&packet).expect("reply"), reply);
    }
}

#[test]
fn x_lead_keeps_two_of_three_spaces() {
    // Postfix stripped exactly one space without HDR_LEADSPC.
    let cmd = &expected_mta()[12];
    let Command::Header { value, .. } = cmd else {
        panic!("not a header: {cmd:?}")
    };
    assert!(value.starts_with(b"  t"));
}
