//! Binding Postfix-style listen addresses and accepting from either kind of
//! socket behind one type.
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::config::ListenAddr;

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: String,
    #[source]
    pub source: io::Error,
}

/// A bound listener and the address it really has (port 0 resolved).
pub enum Bound {
    Tcp(TcpListener, ListenAddr),
    Unix(UnixListener, PathBuf),
}

/// Binds `addr`. A stale unix socket file is replaced; `mode` applies to it.
pub async fn bind(addr: &ListenAddr, mode: u32) -> Result<Bound, BindError> {
    let err = |source| BindError {
        addr: addr.to_string(),
        source,
    };
    match addr {
        ListenAddr::Tcp(sa) => {
            let l = TcpListener::bind(sa).await.map_err(err)?;
            let local = l.local_addr().map_err(err)?;
            Ok(Bound::Tcp(l, ListenAddr::Tcp(local)))
        }
        ListenAddr::Unix(path) => {
            if std::fs::symlink_metadata(path).is_ok() {
                std::fs::remove_file(path).map_err(err)?;
            }
            let l = UnixListener::bind(path).map_err(err)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
            Ok(Bound::Unix(l, path.clone()))
        }
    }
}

impl Bound {
    /// The address in Postfix syntax, with the real port.
    pub fn local(&self) -> String {
        match self {
            Bound::Tcp(_, a) => a.to_string(),
            Bound::Unix(_, p) => ListenAddr::Unix(p.clone()).to_string(),
        }
    }

    pub async fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Bound::Tcp(l, _) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Stream::Tcp(s), peer.to_string()))
            }
            Bound::Unix(l, path) => {
                let (s, _) = l.accept().await?;
                Ok((Stream::Unix(s), format!("unix:{}", path.display())))
            }
        }
    }

    /// Closes the listener after accepting every connection already in its
    /// backlog (at most `max`), so that none is reset by the close. The
    /// connections come back detached, ready for any runtime.
    ///
    /// A connection that completes its handshake between the last accept and
    /// the close would be reset by the kernel, after the MTA took it as
    /// open. So new connections are stopped first (a TCP listener drops
    /// fresh SYNs, which the MTA retries and then finds refused; a unix
    /// socket file is removed), handshakes already under way are given
    /// [`HANDSHAKE_SETTLE`] to land in the backlog, and the backlog is
    /// emptied once more before the close.
    pub async fn close_taking_backlog(self, max: usize) -> Vec<(Detached, String)> {
        self.cleanup();
        let mut out = Vec::new();
        let taken = match self {
            Bound::Tcp(l, _) => match l.into_std() {
                Ok(l) => {
                    if let Err(e) = refuse_new_handshakes(&l) {
                        tracing::warn!(error = %e, "cannot stop new connections before closing the listener");
                    }
                    take_backlog(max, &mut out, || {
                        let (s, peer) = l.accept()?;
                        s.set_nonblocking(true)?;
                        let _ = s.set_nodelay(true);
                        Ok((Detached::Tcp(s), peer.to_string()))
                    })
                    .await
                }
                Err(e) => Err(e),
            },
            Bound::Unix(l, path) => match l.into_std() {
                Ok(l) => {
                    let peer = format!("unix:{}", path.display());
                    take_backlog(max, &mut out, || {
                        let (s, _) = l.accept()?;
                        s.set_nonblocking(true)?;
                        Ok((Detached::Unix(s), peer.clone()))
                    })
                    .await
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = taken {
            tracing::warn!(error = %e, "accepting the listen backlog on close failed");
        }
        out
    }

    /// Removes the socket file of a unix listener.
    pub fn cleanup(&self) {
        if let Bound::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// How long a closing listener waits for handshakes already under way to
/// reach its backlog (a loopback handshake takes microseconds; a LAN one
/// about a round trip).
const HANDSHAKE_SETTLE: Duration = Duration::from_millis(20);

/// Accepts until the backlog is empty, waits [`HANDSHAKE_SETTLE`], and
/// accepts what arrived meanwhile.
async fn take_backlog(
    max: usize,
    out: &mut Vec<(Detached, String)>,
    mut accept: impl FnMut() -> io::Result<(Detached, String)>,
) -> io::Result<()> {
    for round in 0..2 {
        if round == 1 {
            tokio::time::sleep(HANDSHAKE_SETTLE).await;
        }
        while out.len() < max {
            match accept() {
                Ok(c) => out.push(c),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Makes a listening TCP socket drop every new connection request (a
/// segment with SYN and without ACK) while it still completes the
/// handshakes it answered: a classic packet filter, which for a TCP socket
/// sees each segment from its TCP header on.
fn refuse_new_handshakes(l: &std::net::TcpListener) -> io::Result<()> {
    use socket2::{SockFilter, SockRef};
    // Opcodes of the classic packet filter (linux/bpf_common.h).
    const LOAD_BYTE_AT: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const AND: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
    const JUMP_IF_EQUAL: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RETURN: u16 = 0x06; // BPF_RET | BPF_K: bytes to keep, 0 drops
    const FLAGS_OFFSET: u32 = 13;
    const SYN: u32 = 0x02;
    const ACK: u32 = 0x10;
    let program = [
        SockFilter::new(LOAD_BYTE_AT, 0, 0, FLAGS_OFFSET),
        SockFilter::new(AND, 0, 0, SYN | ACK),
        SockFilter::new(JUMP_IF_EQUAL, 0, 1, SYN),
        SockFilter::new(RETURN, 0, 0, 0),
        SockFilter::new(RETURN, 0, 0, u32::MAX),
    ];
    SockRef::from(l).attach_filter(&program)
}

/// An accepted connection of either kind.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// An accepted connection detached from the runtime that accepted it, to
/// be registered with another one ([`Stream::attach`]).
pub enum Detached {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    /// Deregisters the socket from this runtime (it stays non-blocking).
    pub fn detach(self) -> io::Result<Detached> {
        Ok(match self {
            Stream::Tcp(s) => Detached::Tcp(s.into_std()?),
            Stream::Unix(s) => Detached::Unix(s.into_std()?),
        })
    }

    /// Registers a detached socket with the current runtime.
    pub fn attach(d: Detached) -> io::Result<Stream> {
        Ok(match d {
            Detached::Tcp(s) => Stream::Tcp(TcpStream::from_std(s)?),
            Detached::Unix(s) => Stream::Unix(UnixStream::from_std(s)?),
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, TcpStream as StdTcpStream};

    async fn tcp_listener(ip: &str) -> (Bound, SocketAddr) {
        let addr = ListenAddr::Tcp(format!("{ip}:0").parse().unwrap());
        let bound = bind(&addr, 0o600).await.unwrap();
        let Bound::Tcp(l, _) = &bound else {
            unreachable!()
        };
        let local = l.local_addr().unwrap();
        (bound, local)
    }

    /// A connect that never completes: its SYN was dropped (a reset would
    /// fail at once with ECONNREFUSED, an accepted one would succeed).
    fn connect_hangs(addr: SocketAddr) -> bool {
        match StdTcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Err(e) => e.kind() == io::ErrorKind::TimedOut,
            Ok(_) => false,
        }
    }

    #[tokio::test]
    async fn a_closing_tcp_listener_drops_new_handshakes_but_keeps_its_backlog() {
        for ip in ["127.0.0.1", "[::1]"] {
            drops_new_handshakes_but_keeps_the_backlog(ip).await;
        }
    }

    async fn drops_new_handshakes_but_keeps_the_backlog(ip: &str) {
        let (bound, addr) = tcp_listener(ip).await;
        let queued: Vec<_> = (0..3)
            .map(|_| StdTcpStream::connect(addr).unwrap())
            .collect();
        let Bound::Tcp(l, _) = bound else {
            unreachable!()
        };
        let l = l.into_std().unwrap();
        refuse_new_handshakes(&l).unwrap();
        assert!(connect_hangs(addr), "{ip}: a new connection got through");
        let mut out = Vec::new();
        let backlog = || {
            let (s, peer) = l.accept()?;
            Ok((Detached::Tcp(s), peer.to_string()))
        };
        take_backlog(16, &mut out, backlog).await.unwrap();
        assert_eq!(
            out.len(),
            queued.len(),
            "{ip}: the backlog before the filter"
        );
    }

    #[tokio::test]
    async fn close_taking_backlog_serves_what_was_queued_and_then_refuses() {
        let (bound, addr) = tcp_listener("127.0.0.1").await;
        let queued: Vec<_> = (0..5)
            .map(|_| StdTcpStream::connect(addr).unwrap())
            .collect();
        let taken = bound.close_taking_backlog(3).await;
        assert_eq!(taken.len(), 3, "at most `max`");
        drop(queued);
        let refused = StdTcpStream::connect_timeout(&addr, Duration::from_secs(2));
        assert_eq!(
            refused.map(|_| ()).unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }

    #[tokio::test]
    async fn a_closing_unix_listener_takes_its_backlog_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("milter.sock");
        let bound = bind(&ListenAddr::Unix(path.clone()), 0o600).await.unwrap();
        let queued: Vec<_> = (0..4)
            .map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap())
            .collect();
        let taken = bound.close_taking_backlog(16).await;
        assert_eq!(taken.len(), queued.len());
        assert!(!path.exists(), "socket file left behind");
    }
}
