//! `MtaClient` against a scripted milter on a tokio duplex stream.
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sluice_proto::milter::{
    action, protocol, ClientError, Command, Envelope, FrameCodec, MtaClient, OptNeg, OptNegReply,
    Reply,
};
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

/// Answers each command with the replies the script returns; logs commands.
fn milter<F>(stream: DuplexStream, mut script: F) -> JoinHandle<Vec<Command>>
where
    F: FnMut(&Command) -> Vec<Reply> + Send + 'static,
{
    tokio::spawn(async move {
        let mut framed = Framed::new(stream, FrameCodec::default());
        let mut log = Vec::new();
        while let Some(Ok(packet)) = framed.next().await {
            let cmd = Command::parse(&packet).expect("client sends valid commands");
            for reply in script(&cmd) {
                framed.send(reply.to_packet()).await.expect("send reply");
            }
            let quit = cmd == Command::Quit;
            log.push(cmd);
            if quit {
                break;
            }
        }
        log
    })
}

fn optneg(actions: u32, protocol: u32) -> Reply {
    Reply::OptNeg(OptNegReply {
        version: 6,
        actions,
        protocol,
        macros: vec![],
    })
}

/// A message with LF endings, a three-space header, a folded header, and a
/// body of `body_len` bytes.
fn message(body_len: usize) -> Vec<u8> {
    let mut raw = b"From: a@example.test\nX-Lead:   three\nX-Folded: one\n\ttwo\n\n".to_vec();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\n";
    while raw.len() < body_len {
        raw.extend_from_slice(line);
    }
    raw
}

const ENVELOPE: Envelope<'static> = Envelope {
    from: "a@example.test",
    rcpts: &["b@example.test", "<c@example.test>"],
    queue_id: Some("QID1"),
};

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("client must not wait for a reply that never comes")
}

fn header_values(log: &[Command]) -> Vec<(Bytes, Bytes)> {
    log.iter()
        .filter_map(|c| match c {
            Command::Header { name, value } => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

fn body_chunks(log: &[Command]) -> Vec<Bytes> {
    log.iter()
        .filter_map(|c| match c {
            Command::Body(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn full_message_with_large_body_and_eom_modifications() {
    let (mta, srv) = tokio::io::duplex(1 << 16);
    let server = milter(srv, |cmd| match cmd {
        Command::OptNeg(_) => vec![optneg(action::ADD_HEADERS, 0)],
        Command::Macro(_) | Command::Abort | Command::Quit => vec![],
        Command::EndOfMessage(_) => vec![
            Reply::Progress,
            Reply::AddHeader {
                name: Bytes::from_static(b"X-Spam"),
                value: Bytes::from_static(b"yes"),
            },
            Reply::Progress,
            Reply::Accept,
        ],
        _ => vec![Reply::Continue],
    });
    let mut client = MtaClient::new(mta);
    client.negotiate(OptNeg::postfix()).await.unwrap();
    let raw = message(150 * 1024);
    let response = within(client.send_message(&ENVELOPE, &raw)).await.unwrap();
    assert_eq!(response.terminal, Reply::Accept);
    assert_eq!(response.progress, 2);
    assert_eq!(response.modifications.len(), 1);
    client.abort().await.unwrap();
    client.quit().await.unwrap();
    let log = server.await.unwrap();

    let codes: String = log
        .iter()
        .filter(|c| {
            !matches!(
                c,
                Command::Header { .. } | Command::Body(_) | Command::Macro(_)
            )
        })
        .map(|c| c.code() as char)
        .collect();
    assert_eq!(codes, "OMRRTNEAQ");
    assert!(log.contains(&Command::Mail(vec![Bytes::from_static(
        b"<a@example.test>"
    )])));
    assert!(log.contains(&Command::Rcpt(vec![Bytes::from_static(
        b"<c@example.test>"
    )])));
    assert_eq!(
        header_values(&log),
        vec![
            (
                Bytes::from_static(b"From"),
                Bytes::from_static(b"a@example.test")
            ),
            (
                Bytes::from_static(b"X-Lead"),
                Bytes::from_static(b"  three")
            ),
            (
                Bytes::from_static(b"X-Folded"),
                Bytes::from_static(b"one\n\ttwo")
            ),
        ]
    );
    let chunks = body_chunks(&log);
    let sizes: Vec<usize> = chunks.iter().map(Bytes::len).collect();
    assert!(sizes.len() >= 3, "{sizes:?}");
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&s| s == 65535),
        "{sizes:?}"
    );
    let body: Vec<u8> = chunks.concat();
    let start = raw.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let want = String::from_utf8(raw[start..].to_vec())
        .unwrap()
        .replace('\n', "\r\n");
    assert_eq!(
        body,
        want.as_bytes(),
        "body arrives with CRLF, unchanged otherwise"
    );
    // Macro `i` precedes T, each L, N, each B and E: 1 + 3 + 1 + chunks + 1.
    let macros = log
        .iter()
        .filter(|c| matches!(c, Command::Macro(_)))
        .count();
    assert_eq!(macros, 6 + chunks.len());
}

#[tokio::test]
async fn no_flags_suppress_and_nr_flags_silence() {
    let (mta, srv) = tokio::io::duplex(1 << 16);
    let flags = protocol::NO_DATA
        | protocol::NO_EOH
        | protocol::NR_HDR
        | protocol::NR_BODY
        | protocol::NR_RCPT
        | protocol::HDR_LEADSPC;
    let server = milter(srv, move |cmd| match cmd {
        Command::OptNeg(_) => vec![optneg(0, flags)],
        // A reply here would desynchronise the session, so the script
        // refuses to answer anything the client must not wait for.
        Command::Macro(_)
        | Command::Header { .. }
        | Command::Body(_)
        | Command::Rcpt(_)
        | Command::Quit => vec![],
        Command::Data | Command::EndOfHeaders => panic!("suppressed by NO_* flags"),
        Command::EndOfMessage(_) => vec![Reply::reply_code(550, "5.7.1", "no").unwrap()],
        _ => vec![Reply::Continue],
    });
    let mut client = MtaClient::new(mta);
    client.negotiate(OptNeg::postfix()).await.unwrap();
    let raw = message(70_000);
    let response = within(client.send_message(&ENVELOPE, &raw)).await.unwrap();
    assert_eq!(
        response.terminal,
        Reply::ReplyCode(Bytes::from_static(b"550 5.7.1 no"))
    );
    client.quit().await.unwrap();
    let log = server.await.unwrap();
    assert!(!log
        .iter()
        .any(|c| matches!(c, Command::Data | Command::EndOfHeaders)));
    // HDR_LEADSPC: the value arrives byte-exact after the colon.
    assert_eq!(header_values(&log)[1].1, Bytes::from_static(b"   three"));
    assert_eq!(body_chunks(&log).len(), 2);
    assert_eq!(client_none_checks().await, (true, true));
}

/// `command` returns None without a reply for D/A and NR events.
async fn client_none_checks() -> (bool, bool) {
    let (mta, srv) = tokio::io::duplex(1024);
    let _server = milter(srv, |cmd| match cmd {
        Command::OptNeg(_) => vec![optneg(0, protocol::NR_HELO | protocol::NO_CONNECT)],
        _ => vec![],
    });
    let mut client = MtaClient::new(mta);
    client.negotiate(OptNeg::postfix()).await.unwrap();
    let helo = within(client.command(Command::Helo(Bytes::from_static(b"x"))))
        .await
        .unwrap();
    let abort = within(client.command(Command::Abort)).await.unwrap();
    (helo.is_none(), abort.is_none())
}

#[tokio::test]
async fn stops_at_first_non_continue() {
    let (mta, srv) = tokio::io::duplex(1 << 16);
    let server = milter(srv, |cmd| match cmd {
        Command::OptNeg(_) => vec![optneg(0, 0)],
        Command::Rcpt(_) => vec![Reply::Progress, Reply::Reject],
        Command::Macro(_) | Command::Abort | Command::Quit => vec![],
        _ => vec![Reply::Continue],
    });
    let mut client = MtaClient::new(mta);
    client.negotiate(OptNeg::postfix()).await.unwrap();
    let response = within(client.send_message(&ENVELOPE, &message(10)))
        .await
        .unwrap();
    assert_eq!((response.terminal, response.progress), (Reply::Reject, 1));
    client.quit().await.unwrap();
    let log = server.await.unwrap();
    let codes: String = log.iter().map(|c| c.code() as char).collect();
    assert_eq!(codes, "OMRQ");
}

#[tokio::test]
async fn skip_stops_body_chunks() {
    let (mta, srv) = tokio::io::duplex(1 << 16);
    let server = milter(srv, |cmd| match cmd {
        Command::OptNeg(_) => vec![optneg(0, protocol::SKIP)],
        Command::Body(_) => vec![Reply::Skip],
        Command::Macro(_) | Command::Quit => vec![],
        Command::EndOfMessage(_) => vec![Reply::Continue],
        _ => vec![Reply::Continue],
    });
    let mut client = MtaClient::new(mta);
    client.negotiate(OptNeg::postfix()).await.unwrap();
    let response = within(client.send_message(&ENVELOPE, &message(200_000)))
        .await
        .unwrap();
    assert_eq!(response.terminal, Reply::Continue);
    client.quit().await.unwrap();
    let log = server.await.unwrap();
    assert_eq!(body_chunks(&log).len(), 1);
    assert!(matches!(log[log.len() - 2], Command::EndOfMessage(_)));
}

#[tokio::test]
async fn ungranted_or_misplaced_modifications_are_errors() {
    let add = Reply::AddHeader {
        name: Bytes::from_static(b"X"),
        value: Bytes::from_static(b"y"),
    };
    let (mta, srv) = tokio::io::duplex(1 << 16);
    let a = add.clone();
    let _server = milter(srv, move |cmd| match cmd {
        Command::OptNeg(_) => vec![optneg(action::QUARANTINE, 0)],
        Command::Helo(_) => vec![a.clone(), Reply::Continue],
        Command::EndOfMessage(_) => vec![a.clone(), Reply::Continue],
        Command::Macro(_) => vec![],
        _ => vec![Reply::Continue],
    });
    let mut client = MtaClient::new(mta);
    client.negotiate(OptNeg::postfix()).await.unwrap();
    let err = client
        .command(Command::Helo(Bytes::from_static(b"x")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Unexpected { reply: b'h', why, .. } if why.contains("outside EOM")),
        "{err}"
    );
    // The HELO's own `c` is still queued; drain it to stay in sync.
    assert_eq!(client.read_reply().await.unwrap(), Reply::Continue);
    let err = client
        .command(Command::EndOfMessage(Bytes::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Unexpected { reply: b'h', why, .. } if why.contains("not granted")),
        "{err}"
    );
}

#[tokio::test]
async fn negotiation_is_checked_and_eof_is_closed() {
    let (mta, srv) = tokio::io::duplex(1024);
    let _server = milter(srv, |_| vec![optneg(action::ALL, 0)]);
    let mut client = MtaClient::new(mta);
    let offer = OptNeg {
        version: 6,
        actions: action::ADD_HEADERS,
        protocol: protocol::ALL,
    };
    let err = client.negotiate(offer).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Unexpected { reply: b'O', .. }),
        "{err}"
    );

    let (mta, srv) = tokio::io::duplex(1024);
    drop(srv);
    let mut client = MtaClient::new(mta);
    let err = client.negotiate(OptNeg::postfix()).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Closed | ClientError::Frame(_)),
        "{err}"
    );
}
