//! Limits that keep the milter serving under abuse: oversized replies
//! still carry the verdict, idle sessions give way to new ones at the
//! session cap, sessions that make no progress are ended, and SIGTERM
//! answers every connection already waiting.
use crate::support::daemon as common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{frame, optneg, Daemon};
use sluice_proto::milter::client::{Envelope, MtaClient};
use sluice_proto::milter::optneg::OptNeg;
use sluice_proto::milter::Reply;

const POSTFIX_OFFER: OptNeg = OptNeg {
    version: 6,
    actions: 0x1ff,
    protocol: 0x1f_ffff,
};

/// A rule that echoes every attachment name as an option, weighted to
/// reject on its own.
const ECHO_NAMES: &str = "rspamd_config.ATTACH_NAME = { score = 20.0, callback = function(task)\n\
  for _, p in ipairs(task:get_parts()) do\n\
    local f = p:get_filename()\n\
    if f then task:insert_result('ATTACH_NAME', 1.0, f) end\n\
  end\n\
end }\n";

fn with_attachment(name: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: files\r\n\
Date: Sun, 22 Nov 2026 05:00:24 +0000\r\nMessage-ID: <att@example.org>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n\
--BB\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--BB\r\n\
Content-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"{name}\"\r\n\r\nAAAA\r\n--BB--\r\n"
    )
    .into_bytes()
}

fn envelope() -> Envelope<'static> {
    Envelope {
        from: "alice@example.org",
        rcpts: &["bob@example.net"],
        queue_id: Some("4BIG"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_attachment_name_still_gets_its_reject() {
    let d = Daemon::start_with_files(&[("../rspamd.local.lua", ECHO_NAMES)]);
    let name = format!("{}.pdf", "n".repeat(1_100_000));
    let mut c = MtaClient::connect_tcp(d.addr).await.unwrap();
    c.negotiate(POSTFIX_OFFER).await.unwrap();
    let r = c
        .send_message(&envelope(), &with_attachment(&name))
        .await
        .expect("the verdict arrives, the session is not cut");
    let Reply::ReplyCode(text) = &r.terminal else {
        panic!("wanted the reject, got {:?}", r.terminal);
    };
    assert!(
        text.starts_with(b"554 5.7.1"),
        "{:?}",
        String::from_utf8_lossy(text)
    );
    let line = d.wait_log("scanned");
    assert!(line.contains("ATTACH_NAME"), "{line}");
    assert!(line.contains("action=\"reject\""), "{line}");
    // The session goes on: a second message on the same connection.
    let r = c
        .send_message(&envelope(), &with_attachment("a.pdf"))
        .await
        .unwrap();
    assert!(
        matches!(r.terminal, Reply::ReplyCode(_)),
        "{:?}",
        r.terminal
    );
    c.quit().await.unwrap();
}

/// Codes of the replies that end a message.
const TERMINALS: &[u8] = b"artydc";

/// Reads one frame: (code, payload).
fn read_frame(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf)?;
    Ok((buf[0], buf[1..].to_vec()))
}

/// Connects and negotiates like Postfix (every reply-less flag offered).
fn negotiated(d: &Daemon) -> TcpStream {
    let mut s = TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&optneg(6, 0x1ff, 0x1f_ffff)).unwrap();
    assert_eq!(read_frame(&mut s).unwrap().0, b'O');
    s
}

/// The envelope up to MAIL: the session is inside a transaction.
fn begin_message(s: &mut TcpStream) -> std::io::Result<()> {
    let mut out = frame(b'C', b"client.example\x004\x01\x02192.0.2.1\0");
    out.extend(frame(b'H', b"helo.example\0"));
    out.extend(frame(b'M', b"<a@example.org>\0"));
    s.write_all(&out)
}

/// The rest of a message after MAIL, and its terminal reply code.
fn finish_message(s: &mut TcpStream) -> std::io::Result<u8> {
    let mut out = frame(b'R', b"<b@example.net>\0");
    out.extend(frame(b'L', b"Subject\0 hello\0"));
    out.extend(frame(b'L', b"From\0 a@example.org\0"));
    out.extend(frame(b'N', b""));
    out.extend(frame(b'B', b"Hello there.\r\n"));
    out.extend(frame(b'E', b""));
    s.write_all(&out)?;
    loop {
        let (code, _) = read_frame(s)?;
        if TERMINALS.contains(&code) {
            return Ok(code);
        }
    }
}

/// True when the daemon closed `s` (EOF or an error) within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// A daemon with `milter` settings `extra` and greylisting off: these sessions come from a
/// remote address, and the verdict checked is the plain accept of a session let through.
fn ungreylisted(extra: &str) -> Daemon {
    Daemon::start_with_files(&[
        ("worker-proxy.inc", extra),
        ("greylist.conf", "enabled = false;\n"),
    ])
}

#[test]
fn at_the_cap_a_new_connection_evicts_the_oldest_idle_session_never_one_in_a_message() {
    let d = ungreylisted("max_sessions = 3;\n");
    let mut in_message = negotiated(&d);
    begin_message(&mut in_message).unwrap();
    let mut oldest_idle = negotiated(&d);
    let mut idle = negotiated(&d);
    // Let the session see MAIL before the cap is reached.
    std::thread::sleep(Duration::from_millis(300));

    // At the cap: the new connection is served at once...
    let started = Instant::now();
    let mut fresh = negotiated(&d);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // ...in place of the oldest session outside a message.
    assert!(
        closed_within(&mut oldest_idle, Duration::from_secs(5)),
        "oldest idle evicted"
    );
    assert!(
        !closed_within(&mut idle, Duration::from_millis(300)),
        "younger idle kept"
    );
    // The session inside a message was passed over and still gets its verdict.
    assert_eq!(finish_message(&mut in_message).unwrap(), b'a');
    begin_message(&mut fresh).unwrap();
    assert_eq!(finish_message(&mut fresh).unwrap(), b'a');

    let line = d.wait_log("milter session cap reached");
    assert!(line.contains("evicted=1"), "{line}");
    let m = d.metrics();
    assert!(
        m.contains("sluice_milter_sessions_evicted_total 1\n"),
        "{m}"
    );
}

#[test]
fn at_the_cap_with_every_session_in_a_message_a_new_connection_is_closed_not_held() {
    let d = ungreylisted("max_sessions = 1;\n");
    let mut busy = negotiated(&d);
    begin_message(&mut busy).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut refused = TcpStream::connect(d.addr).unwrap();
    let _ = refused.write_all(&optneg(6, 0x1ff, 0x1f_ffff));
    assert!(
        closed_within(&mut refused, Duration::from_secs(5)),
        "closed at once"
    );
    assert_eq!(
        finish_message(&mut busy).unwrap(),
        b'a',
        "the busy one is untouched"
    );
    let m = d.metrics();
    assert!(
        m.contains("sluice_milter_sessions_refused_total 1\n"),
        "{m}"
    );
    // Once the message is done, a new connection takes its place.
    let mut next = negotiated(&d);
    begin_message(&mut next).unwrap();
    assert_eq!(finish_message(&mut next).unwrap(), b'a');
}

#[test]
fn a_connection_that_never_negotiates_is_closed_after_negotiate_timeout() {
    let d = Daemon::start("negotiate_timeout = 1s;\n");
    let mut s = TcpStream::connect(d.addr).unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(10)));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let line = d.wait_log("milter session ended");
    assert!(
        line.contains("kind=\"timeout\"") && line.contains("within 1s"),
        "{line}"
    );
}

/// Complete 5-byte packets (`A`, tolerated between messages) one byte per
/// second: every packet is in time, yet the session must end.
#[test]
fn a_one_byte_per_second_sender_is_closed_at_the_idle_lifetime() {
    let d = Daemon::start("idle_lifetime = 3s;\n");
    let mut s = negotiated(&d);
    let started = Instant::now();
    let abort = frame(b'A', b"");
    let mut closed = false;
    'send: for _ in 0..4 {
        for b in &abort {
            if s.write_all(&[*b]).is_err() {
                closed = true;
                break 'send;
            }
            if closed_within(&mut s, Duration::from_secs(1)) {
                closed = true;
                break 'send;
            }
        }
    }
    let took = started.elapsed();
    assert!(closed, "still open after {took:?}");
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(8),
        "{took:?}"
    );
    let line = d.wait_log("milter session ended");
    assert!(line.contains("session lifetime"), "{line}");
}

/// What the 16 senders saw.
#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    /// Connection reset or broken pipe: the acceptance says zero.
    resets: AtomicUsize,
    /// Closed (EOF) after the message was sent, without an answer.
    unanswered: AtomicUsize,
    /// Connects refused once the listener closed: the sender stops.
    refused: AtomicUsize,
}

/// One message per connection, as Postfix does for one SMTP session.
fn sender(addr: std::net::SocketAddr, stop: &AtomicBool, tally: &Tally) {
    for _ in 0..100_000 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut s) = TcpStream::connect(addr) else {
            tally.refused.fetch_add(1, Ordering::Relaxed);
            return;
        };
        s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
        let exchange = (|| {
            s.write_all(&optneg(6, 0x1ff, 0x1f_ffff))?;
            read_frame(&mut s)?;
            begin_message(&mut s)?;
            let code = finish_message(&mut s)?;
            s.write_all(&frame(b'Q', b""))?;
            Ok::<u8, std::io::Error>(code)
        })();
        match exchange {
            Ok(_) => tally.answered.fetch_add(1, Ordering::Relaxed),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                tally.unanswered.fetch_add(1, Ordering::Relaxed)
            }
            Err(e) => {
                eprintln!("sender: {e}");
                tally.resets.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

#[test]
fn sigterm_under_sixteen_senders_resets_nothing_and_exits_zero() {
    let mut d = Daemon::start("");
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let senders: Vec<_> = (0..16)
        .map(|_| {
            let (stop, tally, addr) = (stop.clone(), tally.clone(), d.addr);
            std::thread::spawn(move || sender(addr, &stop, &tally))
        })
        .collect();
    // Under load for a moment, then SIGTERM while connections keep coming.
    let started = Instant::now();
    while tally.answered.load(Ordering::Relaxed) < 200
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = d.terminate();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let (answered, resets, unanswered, refused) = (
        tally.answered.load(Ordering::Relaxed),
        tally.resets.load(Ordering::Relaxed),
        tally.unanswered.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
    );
    eprintln!("answered={answered} resets={resets} unanswered={unanswered} refused={refused}");
    assert_eq!(status.code(), Some(0));
    assert!(answered >= 200, "{answered}");
    assert_eq!(resets, 0, "connections reset");
    assert_eq!(unanswered, 0, "messages sent but never answered");
}

/// In forward mode sessions run on the daemon's reactor instead of the
/// session threads; the one table evicts there too.
#[test]
fn eviction_works_for_sessions_of_forward_mode() {
    let d = Daemon::start(
        "max_sessions = 2;\nupstream \"scan\" { default = yes; hosts = \"127.0.0.1:9\"; }\n",
    );
    d.wait_log("forward mode: scanning on upstream");
    let mut oldest = negotiated(&d);
    let mut younger = negotiated(&d);
    let _fresh = negotiated(&d);
    assert!(
        closed_within(&mut oldest, Duration::from_secs(5)),
        "oldest evicted"
    );
    assert!(
        !closed_within(&mut younger, Duration::from_millis(300)),
        "younger kept"
    );
}

#[test]
fn the_oversize_log_line_gives_the_size_seen() {
    let d = Daemon::start("max_message = 1k;\n");
    let mut s = negotiated(&d);
    begin_message(&mut s).unwrap();
    let mut out = frame(b'R', b"<b@example.net>\0");
    out.extend(frame(b'L', b"Subject\0 big\0"));
    out.extend(frame(b'N', b""));
    out.extend(frame(b'B', &[b'x'; 3000]));
    out.extend(frame(b'E', b""));
    s.write_all(&out).unwrap();
    while !TERMINALS.contains(&read_frame(&mut s).unwrap().0) {}
    let line = d.wait_log("message over max_message");
    let size: usize = line
        .split("size=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in {line}"));
    assert!(size > 3000, "{line}");
}
