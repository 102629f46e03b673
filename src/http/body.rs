//! Reading a request body: `Content-Length` or chunked (hyper frames both),
//! bounded by `max_message`, then zstd-decompressed under the same bound.
use std::io::Read;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

/// Why a body could not be had.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("Message is too large: more than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("IO read error: {0}")]
    Read(String),
    #[error("Decompression error: {0}")]
    Decompress(String),
}

impl BodyError {
    /// The status Rspamd's clients expect (see the protocol notes: task
    /// errors surface as 503, an oversize body as 413).
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            BodyError::Read(_) => 400,
            BodyError::Decompress(_) => 503,
        }
    }
}

/// The whole body, at most `limit` bytes (after decompression when `zstd`).
pub async fn read(body: Incoming, limit: usize, zstd: bool) -> Result<Bytes, BodyError> {
    let raw = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(BodyError::TooLarge { limit }),
        Err(e) => return Err(BodyError::Read(e.to_string())),
    };
    if zstd {
        decompress(&raw, limit)
    } else {
        Ok(raw)
    }
}

/// Streams the frame through a decoder so a small bomb cannot allocate more
/// than `limit + 1` bytes.
pub fn decompress(data: &[u8], limit: usize) -> Result<Bytes, BodyError> {
    let decoder =
        zstd::stream::read::Decoder::new(data).map_err(|e| BodyError::Decompress(e.to_string()))?;
    let mut out = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Decompress(e.to_string()))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompression_is_bounded() {
        let big = vec![b'a'; 10_000];
        let z = zstd::bulk::compress(&big, 1).unwrap();
        assert_eq!(decompress(&z, 10_000).unwrap().len(), 10_000);
        let e = decompress(&z, 9_999).unwrap_err();
        assert!(matches!(e, BodyError::TooLarge { limit: 9_999 }));
        let e = decompress(b"plain text, not zstd", 100).unwrap_err();
        assert_eq!(e.status(), 503);
        assert!(e.to_string().starts_with("Decompression error: "), "{e}");
    }
}
