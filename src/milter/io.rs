//! Packet I/O for one session: the frame decoder over a read buffer with two
//! deadlines, and a write buffer flushed once per reply point.
//!
//! Reading is hand-rolled rather than `Framed` so that the time a packet may
//! take is bounded from its first byte (slow senders), apart from the idle
//! wait for a packet to start (SMTP clients legitimately pause).
use std::time::Duration;

use bytes::BytesMut;
use sluice_proto::milter::{FrameCodec, FrameError, Packet, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};

/// Why reading the next packet failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed")]
    Closed,
    #[error("no packet within {0:?} (idle timeout)")]
    Idle(Duration),
    #[error("packet incomplete after {0:?} (slow sender)")]
    Slow(Duration),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
}

pub struct PacketIo<S> {
    stream: S,
    codec: FrameCodec,
    read_buf: BytesMut,
    write_buf: BytesMut,
    idle_timeout: Duration,
    command_timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> PacketIo<S> {
    pub fn new(stream: S, max_packet: usize, idle: Duration, command: Duration) -> Self {
        PacketIo {
            stream,
            codec: FrameCodec::new(max_packet),
            read_buf: BytesMut::with_capacity(8 * 1024),
            write_buf: BytesMut::with_capacity(1024),
            idle_timeout: idle,
            command_timeout: command,
        }
    }

    /// True when part of a packet is buffered (a reply point is not idle).
    pub fn has_partial(&self) -> bool {
        !self.read_buf.is_empty()
    }

    /// Reads the next whole packet.
    pub async fn read(&mut self) -> Result<Packet, ReadError> {
        let mut started = (!self.read_buf.is_empty()).then(Instant::now);
        loop {
            if let Some(packet) = self.codec.decode(&mut self.read_buf)? {
                return Ok(packet);
            }
            let deadline = match started {
                Some(t) => t + self.command_timeout,
                None => Instant::now() + self.idle_timeout,
            };
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.read_buf));
            match read.await {
                Err(_) if started.is_some() => return Err(ReadError::Slow(self.command_timeout)),
                Err(_) => return Err(ReadError::Idle(self.idle_timeout)),
                Ok(Err(e)) => return Err(ReadError::Frame(FrameError::Io(e))),
                Ok(Ok(0)) => {
                    return match self.codec.decode_eof(&mut self.read_buf)? {
                        Some(packet) => Ok(packet),
                        None => Err(ReadError::Closed),
                    }
                }
                Ok(Ok(_)) => {
                    started.get_or_insert_with(Instant::now);
                }
            }
        }
    }

    /// Queues a reply; nothing is sent until [`flush`](Self::flush).
    pub fn queue(&mut self, reply: &Reply) -> Result<(), FrameError> {
        self.codec.encode(reply.to_packet(), &mut self.write_buf)
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.write_buf.is_empty() {
            self.stream.write_all(&self.write_buf).await?;
            self.write_buf.clear();
        }
        self.stream.flush().await
    }

    /// Queues and flushes one reply.
    pub async fn send(&mut self, reply: &Reply) -> Result<(), FrameError> {
        self.queue(reply)?;
        self.flush().await?;
        Ok(())
    }
}
