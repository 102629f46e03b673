//! The local syslog socket: one RFC 3164 datagram per event, the way
//! `syslog(3)` writes it, sent without ever blocking the caller (a scan
//! logs its verdict), and reconnected when the daemon behind the socket
//! (rsyslog, journald) restarted and created the socket anew.
//!
//! Lines that cannot be sent (the socket is gone, or its queue is full)
//! are counted, and the first line that gets through is followed by a
//! warning saying how many were lost.
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::Level;

use crate::config::logging::SyslogFacility;

/// How long a socket that could not be reached is left alone before the
/// next attempt: one `connect` per interval at most while syslogd is down.
const RETRY: Duration = Duration::from_millis(250);

pub struct SyslogSocket {
    path: PathBuf,
    facility: SyslogFacility,
    state: Mutex<State>,
}

struct State {
    /// `None` after a failed reconnect, until the next attempt.
    sock: Option<UnixDatagram>,
    retry_at: Instant,
    /// Lines dropped since the last one that got through.
    lost: u64,
}

impl SyslogSocket {
    /// Connects now: a socket missing at start is a configuration error.
    pub fn connect(path: &Path, facility: SyslogFacility) -> io::Result<SyslogSocket> {
        Ok(SyslogSocket {
            path: path.to_path_buf(),
            facility,
            state: Mutex::new(State {
                sock: Some(connect(path)?),
                retry_at: Instant::now(),
                lost: 0,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one event; never waits for the receiver.
    pub fn send(&self, level: Level, line: &[u8]) {
        let datagram = syslog_datagram(self.facility, level, line);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !self.deliver(&mut st, &datagram) {
            st.lost += 1;
            return;
        }
        if st.lost > 0 {
            let note = format!(
                "{} log lines lost while the syslog socket {} was unavailable or full",
                st.lost,
                self.path.display()
            );
            let note = syslog_datagram(self.facility, Level::WARN, note.as_bytes());
            if self.deliver(&mut st, &note) {
                st.lost = 0;
            }
        }
    }

    /// One datagram out, reconnecting once if the peer is gone.
    fn deliver(&self, st: &mut State, datagram: &[u8]) -> bool {
        if st.sock.is_none() {
            if Instant::now() < st.retry_at {
                return false;
            }
            self.reconnect(st);
        }
        let Some(sock) = &st.sock else {
            return false;
        };
        match sock.send(datagram) {
            Ok(_) => true,
            // The receiver is behind: drop rather than hold up a scan.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            // ECONNREFUSED, ENOTCONN, ENOENT: the socket was closed or
            // replaced; the path may hold a new one.
            Err(_) => {
                self.reconnect(st);
                st.sock.as_ref().is_some_and(|s| s.send(datagram).is_ok())
            }
        }
    }

    fn reconnect(&self, st: &mut State) {
        st.sock = connect(&self.path).ok();
        if st.sock.is_none() {
            st.retry_at = Instant::now() + RETRY;
        }
    }
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    sock.connect(path)?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// The syslog severity of a tracing level (RFC 5424 numbers, which
/// journald's stream prefixes use too).
pub fn severity(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// `<PRI>sluice[PID]: message`: the receiving syslogd adds the timestamp
/// and host, as it does for `syslog(3)` callers.
pub fn syslog_datagram(facility: SyslogFacility, level: Level, line: &[u8]) -> Vec<u8> {
    let pri = u16::from(facility.code()) * 8 + u16::from(severity(level));
    let mut out = format!("<{pri}>sluice[{}]: ", std::process::id()).into_bytes();
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(path: &Path) -> UnixDatagram {
        let s = UnixDatagram::bind(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    fn recv(s: &UnixDatagram) -> String {
        let mut buf = [0u8; 1024];
        let n = s.recv(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn reconnects_when_the_socket_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let first = server(&path);
        let sink = SyslogSocket::connect(&path, SyslogFacility::Mail).unwrap();
        sink.send(Level::INFO, b"one\n");
        assert!(recv(&first).ends_with("]: one"));

        // syslogd restarts: its socket is closed, removed and made anew.
        drop(first);
        std::fs::remove_file(&path).unwrap();
        sink.send(Level::INFO, b"while gone\n");
        let second = server(&path);
        std::thread::sleep(RETRY + Duration::from_millis(50));
        sink.send(Level::WARN, b"two\n");
        let two = recv(&second);
        assert!(
            two.starts_with("<20>sluice[") && two.ends_with("]: two"),
            "{two}"
        );
        let note = recv(&second);
        assert!(
            note.contains("1 log lines lost while the syslog socket"),
            "{note}"
        );
        sink.send(Level::INFO, b"three\n");
        assert!(recv(&second).ends_with("]: three"));
    }

    #[test]
    fn a_recreated_socket_is_found_on_the_next_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let first = server(&path);
        let sink = SyslogSocket::connect(&path, SyslogFacility::Daemon).unwrap();
        drop(first);
        std::fs::remove_file(&path).unwrap();
        let second = server(&path);
        // No wait: the failed send itself reconnects.
        sink.send(Level::ERROR, b"after restart\n");
        let got = recv(&second);
        assert!(
            got.starts_with("<27>") && got.ends_with("]: after restart"),
            "{got}"
        );
    }

    #[test]
    fn a_full_socket_drops_lines_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let stuck = server(&path);
        let sink = SyslogSocket::connect(&path, SyslogFacility::Mail).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let sender = std::thread::spawn(move || {
            // Far more than a datagram socket queues: a blocking send
            // would never return.
            for _ in 0..5000 {
                sink.send(Level::INFO, &[b'x'; 900]);
            }
            done.send(sink).unwrap();
        });
        let sink = finished
            .recv_timeout(Duration::from_secs(60))
            .expect("sending to a full socket returned");
        sender.join().unwrap();
        // Once the reader catches up, the loss is reported.
        while stuck.recv(&mut [0u8; 1024]).is_ok_and(|n| n > 0) {
            stuck
                .set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
        }
        stuck
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        sink.send(Level::INFO, b"caught up\n");
        assert!(recv(&stuck).ends_with("]: caught up"));
        assert!(recv(&stuck).contains("log lines lost"));
    }
}
