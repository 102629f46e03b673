//! Packet I/O for one session: the frame decoder over a read buffer with two
//! deadlines, and a write buffer flushed once per reply point.
//!
//! Reading is hand-rolled rather than `Framed` so that the time a packet may
//! take is bounded from its first byte (slow senders), apart from the idle
//! wait for a packet to start (SMTP clients legitimately pause).
use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use sluice_proto::milter::{FrameCodec, FrameError, Packet, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};
use tokio_util::codec::{Decoder, Encoder};

use crate::metrics::FailReason;

/// Why reading the next packet failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection closed")]
    Closed,
    #[error("no packet within {0:?} (idle timeout)")]
    Idle(Duration),
    #[error("packet incomplete after {0:?} (slow sender)")]
    Slow(Duration),
    #[error("no progress within {0:?} (session lifetime)")]
    Lifetime(Duration),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
}

/// Free buffer space below which a read first makes room for
/// [`READ_CHUNK`] more bytes.
const READ_MIN_SPARE: usize = 16 * 1024;
/// How much room a read gets: Postfix sends body chunks of up to 64 KiB, and
/// one read should take in whatever the MTA sent since the last reply point
/// (with reply-less events, a whole message head or body in one syscall).
const READ_CHUNK: usize = 64 * 1024;
/// Most bytes read (and dropped) while closing: past it, the peer is
/// flooding and gets its reset.
const LINGER_MAX_BYTES: usize = 1 << 20;

pub struct PacketIo<S> {
    stream: S,
    codec: FrameCodec,
    read_buf: BytesMut,
    write_buf: BytesMut,
    command_timeout: Duration,
    /// The session's one timer, re-armed for every wait (read deadlines, the
    /// scan's progress and deadline). Why one: tokio wakes its I/O driver
    /// (an eventfd write and an extra `epoll_wait`) whenever a *new* timer is
    /// earlier than every registered one, which a fresh `timeout_at` per
    /// read and per scan was, three times per message; moving a registered
    /// timer later only updates it.
    timer: Pin<Box<Sleep>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> PacketIo<S> {
    pub fn new(stream: S, max_packet: usize, command: Duration) -> Self {
        PacketIo {
            stream,
            codec: FrameCodec::new(max_packet),
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::with_capacity(1024),
            command_timeout: command,
            timer: Box::pin(tokio::time::sleep_until(Instant::now() + command)),
        }
    }

    /// True when part of a packet is buffered (a reply point is not idle).
    pub fn has_partial(&self) -> bool {
        !self.read_buf.is_empty()
    }

    /// Waits until `at` on the session's timer.
    pub async fn sleep_until(&mut self, at: Instant) {
        self.timer.as_mut().reset(at);
        self.timer.as_mut().await;
    }

    /// Reads the next whole packet: one must start within `idle` and take
    /// at most the command timeout from its first byte, and all of it must
    /// be in by `limit` (the stage's lifetime, `lifetime` long).
    pub async fn read(
        &mut self,
        idle: Duration,
        limit: Instant,
        lifetime: Duration,
    ) -> Result<Packet, ReadError> {
        let mut started = (!self.read_buf.is_empty()).then(Instant::now);
        loop {
            if let Some(packet) = self.codec.decode(&mut self.read_buf)? {
                return Ok(packet);
            }
            let wait = match started {
                Some(t) => t + self.command_timeout,
                None => Instant::now() + idle,
            };
            let deadline = wait.min(limit);
            match self.read_until(deadline).await {
                None if deadline == limit && wait > limit => {
                    return Err(ReadError::Lifetime(lifetime))
                }
                None if started.is_some() => return Err(ReadError::Slow(self.command_timeout)),
                None => return Err(ReadError::Idle(idle)),
                Some(Err(e)) => return Err(ReadError::Frame(FrameError::Io(e))),
                Some(Ok(0)) => {
                    return match self.codec.decode_eof(&mut self.read_buf)? {
                        Some(packet) => Ok(packet),
                        None => Err(ReadError::Closed),
                    }
                }
                Some(Ok(_)) => {
                    started.get_or_insert_with(Instant::now);
                }
            }
        }
    }

    /// Closes without a reset: sends FIN, then reads (and drops) what the
    /// peer still sends until it closes too or `linger` passes. Closing a
    /// socket with unread data makes the kernel answer with a reset, which
    /// an MTA sees as a lost connection rather than an orderly end.
    pub async fn close(&mut self, linger: Duration) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
        let until = Instant::now() + linger;
        let mut budget = LINGER_MAX_BYTES;
        while budget > 0 {
            self.read_buf.clear();
            match self.read_until(until).await {
                Some(Ok(n)) if n > 0 => budget = budget.saturating_sub(n),
                _ => break,
            }
        }
    }

    /// One read into the buffer, `None` when `deadline` passed first.
    async fn read_until(&mut self, deadline: Instant) -> Option<std::io::Result<usize>> {
        if self.read_buf.capacity() - self.read_buf.len() < READ_MIN_SPARE {
            self.read_buf.reserve(READ_CHUNK);
        }
        let PacketIo {
            stream,
            read_buf,
            timer,
            ..
        } = self;
        timer.as_mut().reset(deadline);
        tokio::select! {
            biased;
            r = stream.read_buf(read_buf) => Some(r),
            _ = timer.as_mut() => None,
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

/// The metrics' kind of a failed read.
impl From<&ReadError> for FailReason {
    fn from(e: &ReadError) -> FailReason {
        match e {
            ReadError::Closed => FailReason::Closed,
            ReadError::Idle(_) | ReadError::Slow(_) | ReadError::Lifetime(_) => FailReason::Timeout,
            ReadError::Frame(_) => FailReason::Frame,
        }
    }
}
