//! Codec throughput: decoding + parsing one realistic Postfix session, and
//! encoding the reply set a scanner sends at end-of-message.
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice_proto::milter::split::{body_chunks, split_message};
use sluice_proto::milter::{Command, Connect, Family, FrameCodec, MacroPacket, OptNeg, Reply};
use tokio_util::codec::{Decoder, Encoder};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A message with typical headers and a ~40 KB body.
fn raw_message() -> Vec<u8> {
    let mut raw = String::new();
    for i in 0..4 {
        raw.push_str(&format!(
            "Received: from relay{i}.example.test (relay{i}.example.test [192.0.2.{i}])\n\tby mx.example.test with ESMTPS id ABC{i}\n\tfor <rcpt@example.test>; Sun, 22 Nov 2026 05:00:24 +0000\n"
        ));
    }
    raw.push_str("From: Sender <sender@example.test>\nTo: rcpt@example.test\nSubject: quarterly report\nDate: Sun, 22 Nov 2026 05:00:24 +0000\nMessage-ID: <1234@example.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nDKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=sel;\n\tbh=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=;\n\tb=0123456789abcdefghijklmnopqrstuvwxyz\n\n");
    while raw.len() < 40_000 {
        raw.push_str("The quick brown fox jumps over the lazy dog, again and again.\n");
    }
    raw.into_bytes()
}

/// The MTA side of one session, as Postfix would send it.
fn session_commands() -> Vec<Command> {
    let qid = |stage| Command::Macro(MacroPacket::new(stage, &[("i", "18D5EC2569")]));
    let mut cmds = vec![
        Command::OptNeg(OptNeg::postfix()),
        Command::Macro(MacroPacket::new(
            b'C',
            &[
                ("j", "mx.example.test"),
                ("{daemon_name}", "mx.example.test"),
                ("v", "Postfix 3.7.11"),
            ],
        )),
        Command::Connect(Connect {
            hostname: b("relay.example.test"),
            family: Family::Inet4,
            port: 55820,
            address: b("192.0.2.1"),
        }),
        Command::Macro(MacroPacket::new(b'H', &[])),
        Command::Helo(b("relay.example.test")),
        Command::Macro(MacroPacket::new(
            b'M',
            &[("{mail_addr}", "sender@example.test")],
        )),
        Command::Mail(vec![b("<sender@example.test>"), b("SIZE=40000")]),
        Command::Macro(MacroPacket::new(
            b'R',
            &[("{rcpt_addr}", "rcpt@example.test")],
        )),
        Command::Rcpt(vec![b("<rcpt@example.test>")]),
        qid(b'T'),
        Command::Data,
    ];
    let split = split_message(&raw_message(), false);
    for (name, value) in split.headers {
        cmds.push(qid(b'L'));
        cmds.push(Command::Header { name, value });
    }
    cmds.push(qid(b'N'));
    cmds.push(Command::EndOfHeaders);
    for chunk in body_chunks(&split.body) {
        cmds.push(qid(b'B'));
        cmds.push(Command::Body(chunk));
    }
    cmds.extend([
        qid(b'E'),
        Command::EndOfMessage(Bytes::new()),
        Command::Abort,
        Command::Quit,
    ]);
    cmds
}

fn encode_all(packets: impl IntoIterator<Item = sluice_proto::milter::Packet>) -> BytesMut {
    let mut codec = FrameCodec::default();
    let mut wire = BytesMut::new();
    for p in packets {
        codec.encode(p, &mut wire).expect("under cap");
    }
    wire
}

fn decode_session(c: &mut Criterion) {
    let wire = encode_all(session_commands().iter().map(Command::to_packet)).freeze();
    let mut group = c.benchmark_group("milter");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("decode+parse postfix session", |bench| {
        bench.iter(|| {
            let mut codec = FrameCodec::default();
            let mut buf = BytesMut::from(&wire[..]);
            let mut n = 0;
            while let Some(packet) = codec.decode(&mut buf).expect("valid frames") {
                Command::parse(&packet).expect("valid command");
                n += 1;
            }
            n
        })
    });
    group.finish();
}

fn eom_replies() -> Vec<Reply> {
    let symbols = "default: False [3.20 / 15.00];\n\tR_DKIM_ALLOW(-0.20)[example.test:s=sel];\n\tMIME_GOOD(-0.10)[text/plain];\n\tBAYES_SPAM(5.10)[99.5%]";
    vec![
        Reply::Progress,
        Reply::ChangeHeader {
            index: 1,
            name: b("X-Spam"),
            value: Bytes::new(),
        },
        Reply::AddHeader {
            name: b("X-Spamd-Result"),
            value: b(symbols),
        },
        Reply::AddHeader {
            name: b("X-Spam-Status"),
            value: b("No, score=3.20"),
        },
        Reply::InsertHeader {
            index: 0,
            name: b("Authentication-Results"),
            value: b("mx.example.test; dkim=pass header.d=example.test"),
        },
        Reply::reply_code(
            554,
            "5.7.1",
            "Spam message rejected\nsee https://example.test/why",
        )
        .expect("valid"),
    ]
}

fn encode_eom(c: &mut Criterion) {
    let replies = eom_replies();
    c.bench_function("milter/encode EOM reply set", |bench| {
        bench.iter(|| encode_all(replies.iter().map(Reply::to_packet)).len())
    });
}

criterion_group!(benches, decode_session, encode_eom);
criterion_main!(benches);
