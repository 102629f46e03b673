//! Known answers in both directions for every command and reply, plus the
//! lenient and malformed cases real MTAs and milters produce.
mod common;

use bytes::Bytes;
use common::assert_bytes;
use sluice_proto::milter::{
    Command, CommandError, Connect, Family, MacroPacket, OptNeg, OptNegReply, Packet, Reply,
    ReplyError,
};

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

fn command_cases() -> Vec<(Command, u8, &'static [u8])> {
    vec![
        (
            Command::OptNeg(OptNeg {
                version: 6,
                actions: 0x1ff,
                protocol: 0x1f_ffff,
            }),
            b'O',
            b"\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff",
        ),
        (
            Command::Macro(MacroPacket::new(b'M', &[("i", "Q1")])),
            b'D',
            b"Mi\0Q1\0",
        ),
        (
            Command::Connect(Connect {
                hostname: b(b"[2001:db8::1]"),
                family: Family::Inet6,
                port: 25,
                address: b(b"2001:db8::1"),
            }),
            b'C',
            b"[2001:db8::1]\x006\x00\x192001:db8::1\0",
        ),
        (Command::Helo(b(b"client")), b'H', b"client\0"),
        (
            Command::Mail(vec![b(b"<a@b>"), b(b"SIZE=100"), b(b"BODY=8BITMIME")]),
            b'M',
            b"<a@b>\0SIZE=100\0BODY=8BITMIME\0",
        ),
        (Command::Rcpt(vec![b(b"<c@d>")]), b'R', b"<c@d>\0"),
        (Command::Data, b'T', b""),
        (
            Command::Header {
                name: b(b"X-Folded"),
                value: b(b"first part\n\tsecond part"),
            },
            b'L',
            b"X-Folded\0first part\n\tsecond part\0",
        ),
        (Command::EndOfHeaders, b'N', b""),
        (Command::Body(b(b"line\r\n")), b'B', b"line\r\n"),
        (Command::EndOfMessage(Bytes::new()), b'E', b""),
        (Command::Abort, b'A', b""),
        (Command::Quit, b'Q', b""),
        (Command::QuitNewConnection, b'K', b""),
        (Command::Unknown(b(b"XYZZY now")), b'U', b"XYZZY now\0"),
    ]
}

#[test]
fn every_command_both_directions() {
    for (cmd, code, payload) in command_cases() {
        let packet = cmd.to_packet();
        assert_eq!(packet.code, code, "{}", cmd.name());
        assert_bytes(&packet.payload, payload, cmd.name());
        let parsed = Command::parse(&Packet::new(code, payload))
            .unwrap_or_else(|e| panic!("{}: {e}", cmd.name()));
        assert_eq!(parsed, cmd);
    }
}

#[test]
fn command_names_are_mfdef_names() {
    let names: Vec<_> = command_cases().iter().map(|(c, _, _)| c.name()).collect();
    assert_eq!(
        names,
        [
            "SMFIC_OPTNEG",
            "SMFIC_MACRO",
            "SMFIC_CONNECT",
            "SMFIC_HELO",
            "SMFIC_MAIL",
            "SMFIC_RCPT",
            "SMFIC_DATA",
            "SMFIC_HEADER",
            "SMFIC_EOH",
            "SMFIC_BODY",
            "SMFIC_BODYEOB",
            "SMFIC_ABORT",
            "SMFIC_QUIT",
            "SMFIC_QUIT_NC",
            "SMFIC_UNKNOWN"
        ]
    );
}

fn reply_cases() -> Vec<(Reply, u8, &'static [u8])> {
    vec![
        (Reply::Accept, b'a', b""),
        (Reply::Continue, b'c', b""),
        (Reply::Discard, b'd', b""),
        (Reply::Reject, b'r', b""),
        (Reply::Tempfail, b't', b""),
        (Reply::Skip, b's', b""),
        (Reply::Progress, b'p', b""),
        (Reply::Shutdown, b'4', b""),
        (
            Reply::ReplyCode(b(b"550-5.7.0 first line\r\n550 5.7.0 second line")),
            b'y',
            b"550-5.7.0 first line\r\n550 5.7.0 second line\0",
        ),
        (Reply::Quarantine(b(b"spam")), b'q', b"spam\0"),
        (
            Reply::AddHeader {
                name: b(b"X-Tiny-Milter"),
                value: b(b"seen"),
            },
            b'h',
            b"X-Tiny-Milter\0seen\0",
        ),
        (
            Reply::InsertHeader {
                index: 0,
                name: b(b"X-Inserted-At-0"),
                value: b(b"zero"),
            },
            b'i',
            b"\0\0\0\0X-Inserted-At-0\0zero\0",
        ),
        (
            Reply::ChangeHeader {
                index: 1,
                name: b(b"X-Drop-Me"),
                value: Bytes::new(),
            },
            b'm',
            b"\0\0\0\x01X-Drop-Me\0\0",
        ),
        (Reply::AddRcpt(b(b"<x@y>")), b'+', b"<x@y>\0"),
        (
            Reply::AddRcptPar {
                rcpt: b(b"<x@y>"),
                args: Some(b(b"NOTIFY=NEVER ORCPT=rfc822;x@y")),
            },
            b'2',
            b"<x@y>\0NOTIFY=NEVER ORCPT=rfc822;x@y\0",
        ),
        (
            Reply::AddRcptPar {
                rcpt: b(b"<x@y>"),
                args: None,
            },
            b'2',
            b"<x@y>\0",
        ),
        (
            Reply::DelRcpt(b(b"<ok@example.test>")),
            b'-',
            b"<ok@example.test>\0",
        ),
        (
            Reply::ChangeFrom {
                sender: b(b"<>"),
                args: Some(b(b"RET=HDRS")),
            },
            b'e',
            b"<>\0RET=HDRS\0",
        ),
        (Reply::ReplaceBody(b(b"new\r\n")), b'b', b"new\r\n"),
        (
            Reply::OptNeg(OptNegReply {
                version: 6,
                actions: 0x31,
                protocol: 0x340,
                macros: vec![],
            }),
            b'O',
            b"\0\0\0\x06\0\0\0\x31\0\0\x03\x40",
        ),
    ]
}

#[test]
fn every_reply_both_directions() {
    for (reply, code, payload) in reply_cases() {
        let what = format!("{reply:?}");
        let packet = reply.to_packet();
        assert_eq!(packet.code, code, "{what}");
        assert_bytes(&packet.payload, payload, &what);
        assert_eq!(
            Reply::parse(&Packet::new(code, payload)).expect(&what),
            reply
        );
    }
}

fn cmd_err(code: u8, payload: &'static [u8]) -> CommandError {
    Command::parse(&Packet::new(code, payload)).expect_err("must fail")
}

#[test]
fn malformed_commands_name_the_field() {
    let cases: &[(u8, &[u8], &str)] = &[
        (b'O', b"\0\0\0\x06\0\0", "optneg actions"),
        (b'C', b"host", "connect hostname NUL"),
        (b'C', b"host\x004", "connect port"),
        (b'H', b"client", "HELO name NUL"),
        (b'M', b"<a@b>", "argv not NUL-terminated"),
        (b'M', b"", "argv is empty"),
        (b'R', b"<a@b>\0SIZE", "argv not NUL-terminated"),
        (b'L', b"Subject", "header name NUL"),
        (b'L', b"Subject\0hi", "header value NUL"),
        (b'U', b"XYZZY", "unknown command NUL"),
    ];
    for &(code, payload, want) in cases {
        match cmd_err(code, payload) {
            CommandError::Malformed { code: c, what } => {
                assert_eq!((c, what), (code, want), "{}", payload.escape_ascii())
            }
            other => panic!("expected Malformed for {}: {other:?}", code as char),
        }
    }
}

#[test]
fn unknown_command_code() {
    assert!(matches!(
        cmd_err(b'Z', b""),
        CommandError::UnknownCode(b'Z')
    ));
    assert!(matches!(cmd_err(0x01, b""), CommandError::UnknownCode(1)));
    let msg = cmd_err(b'Z', b"").to_string();
    assert!(msg.contains("'Z'") && msg.contains("0x5a"), "{msg}");
}

#[test]
fn lenient_commands() {
    let parse = |code, payload: &'static [u8]| Command::parse(&Packet::new(code, payload)).unwrap();
    // Empty D and unknown stage.
    assert_eq!(parse(b'D', b""), Command::Macro(MacroPacket::default()));
    let Command::Macro(m) = parse(b'D', b"Ui\0x\0") else {
        panic!("not a macro")
    };
    assert_eq!(m.stage, b'U');
    // Empty header value.
    assert_eq!(
        parse(b'L', b"X-Empty\0\0"),
        Command::Header {
            name: b(b"X-Empty"),
            value: Bytes::new()
        }
    );
    // 'U' family without port.
    let Command::Connect(c) = parse(b'C', b"unknown\0U") else {
        panic!("not connect")
    };
    assert_eq!((c.family, c.port), (Family::Unknown, 0));
    // sendmail's IPv6: prefix.
    let Command::Connect(c) = parse(b'C', b"h\x006\0\x19IPv6:2001:db8::1\0") else {
        panic!("not connect")
    };
    assert_eq!(c.ip(), Some("2001:db8::1".parse().unwrap()));
    // E with data is a final body chunk.
    assert_eq!(
        parse(b'E', b"tail\r\n"),
        Command::EndOfMessage(b(b"tail\r\n"))
    );
    // Extra optneg bytes are ignored.
    assert_eq!(
        parse(b'O', b"\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff\0\0\0\0"),
        Command::OptNeg(OptNeg::postfix())
    );
    // Postfix non-SMTP mail: bare address, port 0.
    assert_eq!(
        parse(b'M', b"sender@example.test\0"),
        Command::Mail(vec![b(b"sender@example.test")])
    );
}

#[test]
fn parsing_is_zero_copy() {
    let packet = Packet::new(b'L', &b"Subject\0hello\0"[..]);
    let Command::Header { value, .. } = Command::parse(&packet).unwrap() else {
        panic!("not a header")
    };
    let base = packet.payload.as_ptr() as usize;
    assert_eq!(value.as_ptr() as usize, base + 8);
}

#[test]
fn malformed_replies() {
    let err = |code, payload: &'static [u8]| Reply::parse(&Packet::new(code, payload)).unwrap_err();
    assert!(matches!(err(b'f', b""), ReplyError::UnknownCode(b'f')));
    assert!(matches!(err(b'l', b""), ReplyError::UnknownCode(b'l')));
    let cases: &[(u8, &[u8], &str)] = &[
        (b'y', b"550 5.7.1 no", "reply text NUL"),
        (b'h', b"X-A\0v", "header value NUL"),
        (b'm', b"\0\0\0", "header index"),
        (b'i', b"\0\0\0\x01X", "header name NUL"),
        (
            b'2',
            b"<a>\0x\0y\0",
            "more than two strings (address, args)",
        ),
        (b'e', b"<a>", "argv not NUL-terminated"),
        (b'O', b"\0\0\0\x06", "optneg actions"),
        (
            b'O',
            b"\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x05i",
            "symlist names NUL",
        ),
    ];
    for &(code, payload, want) in cases {
        match err(code, payload) {
            ReplyError::Malformed { code: c, what } => {
                assert_eq!((c, what), (code, want), "{}", payload.escape_ascii())
            }
            other => panic!("expected Malformed for {}: {other:?}", code as char),
        }
    }
}
