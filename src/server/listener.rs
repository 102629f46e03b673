//! Binding Postfix-style listen addresses and accepting from either kind of
//! socket behind one type.
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

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
    pub fn close_taking_backlog(self, max: usize) -> Vec<(Detached, String)> {
        self.cleanup();
        let mut out = Vec::new();
        let taken = match self {
            Bound::Tcp(l, _) => l.into_std().and_then(|l| {
                while out.len() < max {
                    let (s, peer) = match l.accept() {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        other => other?,
                    };
                    s.set_nonblocking(true)?;
                    let _ = s.set_nodelay(true);
                    out.push((Detached::Tcp(s), peer.to_string()));
                }
                Ok(())
            }),
            Bound::Unix(l, path) => l.into_std().and_then(|l| {
                let peer = format!("unix:{}", path.display());
                while out.len() < max {
                    let (s, _) = match l.accept() {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        other => other?,
                    };
                    s.set_nonblocking(true)?;
                    out.push((Detached::Unix(s), peer.clone()));
                }
                Ok(())
            }),
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
