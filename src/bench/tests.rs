//! End-to-end: `bench_milter` against a small in-process milter built on the
//! proto codec. The fake answers like a spam filter would (GTUBE -> 554,
//! spoofed X-Spam removed, a result header added) and can be told to drop
//! the connection, so the counting of verdicts, modifications, sessions and
//! errors is checked against known traffic.
use std::path::Path;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sluice_proto::milter::{
    action, protocol, Command, FrameCodec, OptNegReply, Reply, DEFAULT_MAX_PAYLOAD,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use super::{bench_milter, BenchError, BenchOptions};

async fn fake_milter() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("inet:{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    addr
}

/// One session. Header events are negotiated reply-less (NR_HDR), so the
/// client's handling of NR is exercised too.
async fn serve(stream: TcpStream) {
    let mut io = Framed::new(stream, FrameCodec::new(DEFAULT_MAX_PAYLOAD));
    let (mut body, mut spoofed) = (Vec::new(), false);
    while let Some(Ok(packet)) = io.next().await {
        let Ok(cmd) = Command::parse(&packet) else {
            return;
        };
        let replies = match cmd {
            Command::OptNeg(_) => vec![Reply::OptNeg(OptNegReply {
                version: 6,
                actions: action::ADD_HEADERS | action::CHANGE_HEADERS,
                protocol: protocol::NR_HDR,
                macros: vec![],
            })],
            Command::Macro(_) | Command::Quit | Command::QuitNewConnection => vec![],
            Command::Abort => {
                (body, spoofed) = (Vec::new(), false);
                vec![]
            }
            Command::Header { name, .. } => {
                spoofed |= name.eq_ignore_ascii_case(b"X-Spam");
                vec![]
            }
            Command::Body(chunk) => {
                body.extend_from_slice(&chunk);
                vec![Reply::Continue]
            }
            Command::EndOfMessage(_) => match verdict(&body, spoofed) {
                Some(r) => r,
                None => return, // "crash": drop the connection mid-message
            },
            _ => vec![Reply::Continue],
        };
        for r in replies {
            if io.send(r.to_packet()).await.is_err() {
                return;
            }
        }
    }
}

fn verdict(body: &[u8], spoofed: bool) -> Option<Vec<Reply>> {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if has(b"DROP") {
        return None;
    }
    if has(b"GTUBE") {
        return Some(vec![
            Reply::reply_code(554, "5.7.1", "Gtube pattern").unwrap()
        ]);
    }
    let mut out = Vec::new();
    if spoofed {
        out.push(Reply::ChangeHeader {
            index: 1,
            name: Bytes::from_static(b"X-Spam"),
            value: Bytes::new(),
        });
    }
    out.push(Reply::AddHeader {
        name: Bytes::from_static(b"X-Spamd-Result"),
        value: Bytes::from_static(b"default: False [0.00 / 15.00]"),
    });
    out.push(Reply::Accept);
    Some(out)
}

fn write(dir: &Path, name: &str, body: &str) {
    let text = format!("From: a@example.test\nSubject: {name}\n{body}");
    std::fs::write(dir.join(name), text).unwrap();
}

#[tokio::test]
async fn counts_verdicts_and_modifications() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1-clean.eml", "\nhello\n");
    write(dir.path(), "2-gtube.eml", "\nXJS*GTUBE*C.34X\n");
    write(dir.path(), "3-spoofed.eml", "X-Spam: Yes\n\nhello\n");
    let opts = BenchOptions {
        addr: fake_milter().await,
        concurrency: 3,
        count: 30,
        dirs: vec![dir.path().to_path_buf()],
        messages_per_connection: 4,
    };
    let r = bench_milter(&opts).await.unwrap();
    assert_eq!(
        (r.attempted, r.messages, r.protocol_errors),
        (30, 30, 0),
        "{r}"
    );
    assert_eq!(r.replies.get("accept"), Some(&20), "{r}");
    assert_eq!(r.replies.get("5xx"), Some(&10), "{r}");
    assert_eq!(r.modifications.get("add header"), Some(&20), "{r}");
    assert_eq!(r.modifications.get("delete header"), Some(&10), "{r}");
    assert!(r.sessions >= 8, "30 messages at 4 per connection: {r}");
    assert!(r.latency.max_ms >= r.latency.p50_ms && r.msgs_per_sec > 0.0);
}

#[tokio::test]
async fn a_dropped_connection_is_counted_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1-clean.eml", "\nhello\n");
    write(dir.path(), "2-drop.eml", "\nDROP\n");
    write(dir.path(), "3-clean.eml", "\nhello again\n");
    let opts = BenchOptions {
        addr: fake_milter().await,
        concurrency: 1,
        count: 0,
        dirs: vec![dir.path().to_path_buf()],
        messages_per_connection: 10,
    };
    let r = bench_milter(&opts).await.unwrap();
    assert_eq!(
        (r.attempted, r.messages, r.protocol_errors),
        (3, 2, 1),
        "{r}"
    );
    assert!(
        r.error_samples[0].contains("2-drop.eml"),
        "{:?}",
        r.error_samples
    );
    assert_eq!(r.sessions, 2, "a new connection after the drop: {r}");
}

#[tokio::test]
async fn an_unreachable_milter_is_an_error_not_a_report() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("inet:{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1.eml", "\nhello\n");
    let opts = BenchOptions {
        addr,
        dirs: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    assert!(matches!(
        bench_milter(&opts).await,
        Err(BenchError::Unreachable { .. })
    ));
}

#[tokio::test]
async fn zero_concurrency_is_refused() {
    let opts = BenchOptions {
        concurrency: 0,
        dirs: vec!["x".into()],
        ..Default::default()
    };
    assert!(matches!(
        bench_milter(&opts).await,
        Err(BenchError::BadOption {
            option: "concurrency",
            ..
        })
    ));
}
