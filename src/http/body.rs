//! Reading a request body: `Content-Length` or chunked (hyper frames both),
//! bounded by `max_message`, by a pause limit between chunks, and by the
//! process's [`BodyBudget`]; then zstd-decompressed under the same bounds,
//! the inflated bytes counted against the budget as they come out.
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::Semaphore;

use super::budget::{BodyBudget, Exhausted, Share};

/// Why a body could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("Message is too large: more than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("IO read error: {0}")]
    Read(String),
    #[error("Decompression error: {0}")]
    Decompress(String),
    #[error("IO read error: no body data for {0:?}")]
    Stalled(Duration),
    #[error("Server busy: request bodies in flight use the whole budget of {budget} bytes")]
    Busy { budget: usize },
}

impl From<Exhausted> for BodyError {
    fn from(e: Exhausted) -> Self {
        BodyError::Busy { budget: e.budget }
    }
}

impl BodyError {
    /// The status Rspamd's clients expect (see the protocol notes: task
    /// errors surface as 503, an oversize body as 413); a stalled body is a
    /// request timeout, a full budget a temporary 503.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            BodyError::Read(_) => 400,
            BodyError::Stalled(_) => 408,
            BodyError::Decompress(_) | BodyError::Busy { .. } => 503,
        }
    }
}

/// The bounds a body is read under.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// Largest body, after decompression.
    pub max: usize,
    /// Longest pause between two chunks.
    pub idle: Duration,
    pub budget: Arc<BodyBudget>,
}

/// A body and its share of the budget: keep it until the request is
/// answered, since the bytes (and what the scan builds from them) live
/// that long.
#[derive(Debug)]
pub struct Body {
    pub bytes: Bytes,
    pub share: Share,
}

/// The whole body (decompressed when `zstd`), with room taken for the
/// work done on it ([`for_the_scan`]).
pub async fn read(body: Incoming, limits: &BodyLimits, zstd: bool) -> Result<Body, BodyError> {
    let raw = collect(body, limits).await?;
    let mut body = if zstd {
        inflate_off_thread(raw, limits.max).await?
    } else {
        raw
    };
    for_the_scan(&mut body)?;
    Ok(body)
}

/// The one inflation slot (see [`inflate_off_thread`]).
static INFLATING: Semaphore = Semaphore::const_new(1);

/// Whether a body is being inflated now. An in-process client that waits
/// for the server to go quiet (the fuzz harness) must also wait for this
/// work, which runs off the connection's task.
#[doc(hidden)]
pub fn inflating() -> bool {
    INFLATING.available_permits() == 0
}

/// Inflates a held body on a blocking thread, one at a time: an inflation
/// learns its output's size only as it goes, so two at once could both
/// fill the budget with output and then find no room for their scans;
/// one after the other, the second is refused as soon as it would not fit.
/// Inflating is fast next to scanning, so the queue is short.
pub async fn inflate_off_thread(raw: Body, max: usize) -> Result<Body, BodyError> {
    let _slot = INFLATING
        .acquire()
        .await
        .map_err(|e| BodyError::Decompress(e.to_string()))?;
    tokio::task::spawn_blocking(move || decompress_held(raw, max))
        .await
        .map_err(|e| BodyError::Decompress(e.to_string()))?
}

/// Takes as much again as the body for what a scan or a learn builds from
/// it (decoded parts, their text, tokens: about the message's size in
/// all), so the budget bounds the memory of the requests in progress, not
/// only of their bytes.
pub fn for_the_scan(body: &mut Body) -> Result<(), BodyError> {
    body.share.grow(body.bytes.len()).map_err(BodyError::from)
}

/// Frames until the end, each counted before it is kept.
async fn collect(mut body: Incoming, limits: &BodyLimits) -> Result<Body, BodyError> {
    let mut share = limits.budget.share();
    let mut parts: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    loop {
        let frame = match tokio::time::timeout(limits.idle, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled(limits.idle)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Read(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        len += data.len();
        if len > limits.max {
            return Err(BodyError::TooLarge { limit: limits.max });
        }
        share.grow(data.len())?;
        parts.push(data);
    }
    let bytes = join(parts, len, &mut share)?;
    Ok(Body { bytes, share })
}

/// One contiguous buffer; the copy is counted while both exist.
fn join(mut parts: Vec<Bytes>, len: usize, share: &mut Share) -> Result<Bytes, BodyError> {
    if parts.len() <= 1 {
        return Ok(parts.pop().unwrap_or_default());
    }
    share.grow(len)?;
    let mut out = Vec::with_capacity(len);
    for p in parts.drain(..) {
        out.extend_from_slice(&p);
    }
    share.shrink(len);
    Ok(out.into())
}

/// Inflates a held body; the compressed bytes are given back once done.
fn decompress_held(raw: Body, max: usize) -> Result<Body, BodyError> {
    let Body { bytes, mut share } = raw;
    let out = inflate(&bytes, max, &mut share)?;
    share.shrink(bytes.len());
    Ok(Body {
        bytes: out.into(),
        share,
    })
}

/// Chunk size of the inflating loop: the bound is checked this often.
const INFLATE_STEP: usize = 64 << 10;
pub use crate::config::http::{DECODER_BYTES, WINDOW_LOG_MAX};

/// Streams the frame through a decoder; every growth of the output buffer
/// is taken from `share` first, and the output never exceeds `limit`, so a
/// small bomb is stopped while it inflates. On error the caller drops the
/// share, which gives back everything taken here.
fn inflate(data: &[u8], limit: usize, share: &mut Share) -> Result<Vec<u8>, BodyError> {
    let decoder_bytes = DECODER_BYTES;
    share.grow(decoder_bytes)?;
    let bad = |e: std::io::Error| BodyError::Decompress(e.to_string());
    let mut decoder = zstd::stream::read::Decoder::new(data).map_err(bad)?;
    decoder.window_log_max(WINDOW_LOG_MAX).map_err(bad)?;
    let out = inflate_with(&mut decoder, limit, share)?;
    drop(decoder);
    share.shrink(decoder_bytes);
    Ok(out)
}

fn inflate_with<R: Read>(
    decoder: &mut R,
    limit: usize,
    share: &mut Share,
) -> Result<Vec<u8>, BodyError> {
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; INFLATE_STEP];
    loop {
        let n = decoder
            .read(&mut chunk)
            .map_err(|e| BodyError::Decompress(e.to_string()))?;
        if n == 0 {
            return Ok(out);
        }
        push_counted(&mut out, &chunk[..n], limit, share)?;
    }
}

/// Appends `data` to `out` if it stays within `limit`, taking every growth
/// of the buffer's capacity from `share` first (capacity doubles, up to
/// `limit`, so appending stays linear).
pub fn push_counted(
    out: &mut Vec<u8>,
    data: &[u8],
    limit: usize,
    share: &mut Share,
) -> Result<(), BodyError> {
    if out.len() + data.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    if out.capacity() - out.len() < data.len() {
        let want = (out.len() + data.len()).max(out.capacity() * 2).min(limit);
        share.grow(want - out.capacity())?;
        out.reserve_exact(want - out.len());
    }
    out.extend_from_slice(data);
    Ok(())
}

/// Decompresses a whole frame under `limit` and `budget` (the legacy
/// protocols read their body themselves).
pub fn decompress(data: Bytes, limit: usize, share: Share) -> Result<Body, BodyError> {
    decompress_held(Body { bytes: data, share }, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(total: usize) -> (Arc<BodyBudget>, Share) {
        let b = BodyBudget::new(total);
        let s = b.share();
        (b, s)
    }

    #[test]
    fn decompression_is_bounded() {
        let big = vec![b'a'; 10_000];
        let z = Bytes::from(zstd::bulk::compress(&big, 1).unwrap());
        let (b, mut s) = share(16 << 20);
        s.grow(z.len()).unwrap();
        let body = decompress(z.clone(), 10_000, s).unwrap();
        assert_eq!(body.bytes.len(), 10_000);
        assert!(body.share.bytes() >= 10_000, "the output is held");
        assert!(
            body.share.bytes() < 10_000 + z.len(),
            "the input is given back"
        );
        drop(body);
        assert_eq!(b.used(), 0);
        let e = decompress(z, 9_999, b.share()).unwrap_err();
        assert!(matches!(e, BodyError::TooLarge { limit: 9_999 }));
        assert_eq!(b.used(), 0, "a refused body gives everything back");
        let e =
            decompress(Bytes::from_static(b"plain text, not zstd"), 100, b.share()).unwrap_err();
        assert_eq!(e.status(), 503);
        assert!(e.to_string().starts_with("Decompression error: "), "{e}");
    }

    #[test]
    fn a_bomb_stops_at_the_budget_while_inflating() {
        let big = vec![0u8; 32 << 20];
        let z = Bytes::from(zstd::bulk::compress(&big, 3).unwrap());
        assert!(z.len() < 4096, "a bomb: {} bytes", z.len());
        // Room for the decoder and a few MiB of output, not for 32 MiB.
        let (b, mut s) = share(12 << 20);
        s.grow(z.len()).unwrap();
        let e = decompress(z, 50 << 20, s).unwrap_err();
        assert!(matches!(e, BodyError::Busy { .. }), "{e}");
        assert_eq!(e.status(), 503);
        assert_eq!(b.used(), 0);
    }
}
