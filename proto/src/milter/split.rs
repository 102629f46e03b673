//! Cutting a raw RFC 5322 message into the `L` and `B` events an MTA sends.
//!
//! Mirrors what Postfix does before it talks to a milter: one event per
//! header field with folded lines joined by a bare LF, exactly one leading
//! space stripped from the value unless `SMFIP_HDR_LEADSPC` was negotiated,
//! and a body with CRLF line endings sent in chunks of at most 65535 bytes.
use bytes::{Bytes, BytesMut};

/// Largest `B` payload (`MILTER_CHUNK_SIZE` in Postfix and sendmail).
pub const BODY_CHUNK: usize = 65535;

/// A message as milter events: `(name, value)` per header, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMessage {
    pub headers: Vec<(Bytes, Bytes)>,
    /// CRLF line endings; empty when the message has no body.
    pub body: Bytes,
}

/// Splits `raw` (LF or CRLF line endings). A line that is neither a header
/// field nor a continuation ends the header block, as in Postfix.
pub fn split_message(raw: &[u8], leadspc: bool) -> SplitMessage {
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let (line, next) = next_line(raw, pos);
        if line.is_empty() {
            pos = next;
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some((_, value)) = headers.last_mut() {
                value.push(b'\n');
                value.extend_from_slice(line);
                pos = next;
                continue;
            }
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            break;
        };
        let mut value = &line[colon + 1..];
        if !leadspc {
            value = value.strip_prefix(b" ").unwrap_or(value);
        }
        headers.push((line[..colon].to_vec(), value.to_vec()));
        pos = next;
    }
    SplitMessage {
        headers: headers
            .into_iter()
            .map(|(n, v)| (Bytes::from(n), Bytes::from(v)))
            .collect(),
        body: to_crlf(&raw[pos.min(raw.len())..]),
    }
}

/// The line starting at `pos` without its line ending, and where the next
/// line starts.
fn next_line(raw: &[u8], pos: usize) -> (&[u8], usize) {
    match raw[pos..].iter().position(|&b| b == b'\n') {
        Some(n) => {
            let line = &raw[pos..pos + n];
            (line.strip_suffix(b"\r").unwrap_or(line), pos + n + 1)
        }
        None => (&raw[pos..], raw.len()),
    }
}

/// Converts bare LF to CRLF, leaving existing CRLF alone.
pub fn to_crlf(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + body.len() / 32);
    let mut start = 0;
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' && (i == 0 || body[i - 1] != b'\r') {
            out.extend_from_slice(&body[start..i]);
            out.extend_from_slice(b"\r\n");
            start = i + 1;
        }
    }
    out.extend_from_slice(&body[start..]);
    out.freeze()
}

/// Zero-copy chunks of at most [`BODY_CHUNK`] bytes; none for an empty body.
pub fn body_chunks(body: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    (0..body.len())
        .step_by(BODY_CHUNK)
        .map(move |at| body.slice(at..body.len().min(at + BODY_CHUNK)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_strings(m: &SplitMessage) -> Vec<(String, String)> {
        m.headers
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn postfix_style_split() {
        let raw = b"Subject: hi\r\nX-Lead:   three\nX-Tab:\ttabbed\r\nX-Folded: first part\r\n\tsecond part\r\nX-Empty:\r\n\r\nbody\nline\r\n";
        let m = split_message(raw, false);
        assert_eq!(
            header_strings(&m),
            vec![
                ("Subject".into(), "hi".into()),
                ("X-Lead".into(), "  three".into()),
                ("X-Tab".into(), "\ttabbed".into()),
                ("X-Folded".into(), "first part\n\tsecond part".into()),
                ("X-Empty".into(), String::new()),
            ]
        );
        assert_eq!(&m.body[..], b"body\r\nline\r\n");
    }

    #[test]
    fn leadspc_keeps_value_exact() {
        let m = split_message(b"X-Lead:   three\n\n", true);
        assert_eq!(&m.headers[0].1[..], b"   three");
        assert!(m.body.is_empty());
    }

    #[test]
    fn no_body_separator_and_non_header_line() {
        let m = split_message(b"A: 1\nnot a header\nmore\n", false);
        assert_eq!(m.headers.len(), 1);
        assert_eq!(&m.body[..], b"not a header\r\nmore\r\n");
        let m = split_message(b"A: 1", false);
        assert_eq!((m.headers.len(), m.body.len()), (1, 0));
    }

    #[test]
    fn chunks() {
        let body = Bytes::from(vec![b'x'; BODY_CHUNK * 2 + 5]);
        let sizes: Vec<_> = body_chunks(&body).map(|c| c.len()).collect();
        assert_eq!(sizes, vec![BODY_CHUNK, BODY_CHUNK, 5]);
        assert_eq!(body_chunks(&Bytes::new()).count(), 0);
    }
}
