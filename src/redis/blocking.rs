//! One blocking Redis connection whose whole exchange runs under one deadline, for
//! callers on threads of their own (the Bayes store, on session and scan threads).
//!
//! The `redis` crate's blocking connection applies its timeout to each
//! socket read and write. A server that stops answering mid-reply (or a
//! pipeline whose reply spans several reads) can then hold the caller for
//! several timeouts, and a scan runs on a session thread that other
//! sessions wait behind. Here every read and write gets only what is left
//! until the deadline, which is set once for a whole exchange: connect,
//! handshake, the pipelined write and every reply.
//!
//! The crate still encodes commands, parses replies and runs pipelines
//! (through [`ConnectionLike`]); only the socket is ours.
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use redis::{ConnectionLike, ErrorKind, Parser, RedisError, RedisResult, Value};

use super::config::Server;

/// Where the server is, resolved, and how to log in.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: Addr,
    pub db: i64,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl Target {
    /// Database 0 of `server` (a cluster seed, a sentinel), its name resolved now,
    /// off any scan; the error says which name did not resolve.
    pub fn resolved(
        server: &Server,
        username: Option<String>,
        password: Option<String>,
    ) -> Result<Target, String> {
        let addr = match server {
            Server::Tcp(h, p) => Addr::Tcp(
                (h.as_str(), *p)
                    .to_socket_addrs()
                    .map_err(|e| format!("resolving {h}: {e}"))?
                    .collect(),
            ),
            Server::Unix(p) => Addr::Unix(p.into()),
        };
        Ok(Target {
            addr,
            db: 0,
            username,
            password,
        })
    }
}

#[derive(Debug, Clone)]
pub enum Addr {
    /// Resolved ahead of time: a name lookup can block for longer than
    /// any deadline, so it never happens on a scan.
    Tcp(Vec<SocketAddr>),
    Unix(PathBuf),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
        }
    }

    fn set_write_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(Some(t)),
            Stream::Unix(s) => s.set_write_timeout(Some(t)),
        }
    }
}

/// The socket plus the deadline of the exchange in progress.
struct Timed {
    stream: Stream,
    deadline: Instant,
}

impl Timed {
    /// What is left of the exchange's time; an error once it is over.
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(timed_out())
        } else {
            Ok(left)
        }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(self.left()?)?;
        match &mut self.stream {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(self.left()?)?;
        match &mut self.stream {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "deadline passed")
}

/// A connection for [`redis::Cmd::query`] and [`redis::Pipeline::query`].
/// Call [`Conn::deadline`] before each exchange.
pub struct Conn {
    io: Timed,
    parser: Parser,
    db: i64,
    /// False once an exchange failed: the stream may hold half a reply.
    open: bool,
}

impl Conn {
    /// Connects and logs in, all before `deadline`.
    pub fn open(target: &Target, deadline: Instant) -> RedisResult<Conn> {
        let stream = connect(&target.addr, deadline)?;
        let mut c = Conn {
            io: Timed { stream, deadline },
            parser: Parser::new(),
            db: target.db,
            open: true,
        };
        c.login(target)?;
        Ok(c)
    }

    /// Sets the deadline of the next exchange(s).
    pub fn deadline(&mut self, at: Instant) {
        self.io.deadline = at;
    }

    pub fn is_healthy(&self) -> bool {
        self.open
    }

    fn login(&mut self, t: &Target) -> RedisResult<()> {
        if let Some(pass) = &t.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = &t.username {
                auth.arg(user);
            }
            auth.arg(pass).query::<()>(self)?;
        }
        if t.db != 0 {
            redis::cmd("SELECT").arg(t.db).query::<()>(self)?;
        }
        Ok(())
    }

    fn read_value(&mut self) -> RedisResult<Value> {
        let v = self.parser.parse_value(&mut self.io);
        if v.is_err() {
            self.open = false;
        }
        v
    }

    fn send(&mut self, bytes: &[u8]) -> RedisResult<()> {
        self.io.write_all(bytes).map_err(|e| {
            self.open = false;
            RedisError::from(e)
        })
    }
}

/// Tries each address in turn with what is left of the deadline.
fn connect(addr: &Addr, deadline: Instant) -> io::Result<Stream> {
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        if d.is_zero() {
            Err(timed_out())
        } else {
            Ok(d)
        }
    };
    match addr {
        Addr::Unix(path) => {
            left()?;
            UnixStream::connect(path).map(Stream::Unix)
        }
        Addr::Tcp(addrs) => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
            for a in addrs {
                match TcpStream::connect_timeout(a, left()?) {
                    Ok(s) => {
                        // Small pipelined requests: do not wait for more.
                        s.set_nodelay(true)?;
                        return Ok(Stream::Tcp(s));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.send(cmd)?;
        self.read_value()
    }

    /// Reads `offset + count` replies and returns the last `count`; an
    /// error reply among the skipped ones (a transaction's `QUEUED`s) is
    /// returned after all replies were read, so the stream stays in step.
    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.send(cmd)?;
        let mut out = Vec::with_capacity(count);
        let mut first_err: Option<RedisError> = None;
        for i in 0..offset + count {
            match self.read_value()? {
                Value::ServerError(e) if i < offset => {
                    first_err.get_or_insert(e.into());
                }
                v if i >= offset => out.push(v),
                _ => {}
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn get_db(&self) -> i64 {
        self.db
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").query::<String>(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

/// Whether `e` says the server or the path to it is in trouble (as opposed
/// to an error reply from a server that answered).
pub fn is_outage(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::ParseError
                | ErrorKind::AuthenticationFailed
                | ErrorKind::ReadOnly
                // A cluster's slot moved or its master failed: ask the seeds again.
                | ErrorKind::Moved
                | ErrorKind::Ask
                | ErrorKind::ClusterDown
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server that answers a byte at a time, slowly: each read succeeds
    /// well within a per-read timeout, the whole reply does not.
    #[test]
    fn a_trickling_reply_is_cut_at_the_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            for b in b"+PONG-and-much-more-than-that\r\n" {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(40));
            }
        });
        let target = Target {
            addr: Addr::Tcp(vec![addr]),
            db: 0,
            username: None,
            password: None,
        };
        let start = Instant::now();
        let deadline = start + Duration::from_millis(300);
        let mut c = Conn::open(&target, deadline).unwrap();
        let e = redis::cmd("PING").query::<String>(&mut c).unwrap_err();
        let took = start.elapsed();
        assert!(e.is_timeout(), "{e}");
        assert!(is_outage(&e));
        assert!(!c.is_healthy());
        assert!(took < Duration::from_millis(600), "{took:?}");
        drop(c);
        server.join().unwrap();
    }
}
