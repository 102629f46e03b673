//! Assembly of the raw message from milter events.
//!
//! The MTA hands headers over one by one (folded lines joined with a bare LF)
//! and the body in chunks with CRLF line endings. The scanner wants one RFC 5322
//! message, so the headers are written back as they stood on the wire: with
//! `SMFIP_HDR_LEADSPC` negotiated the value arrives byte-exact; without it the
//! MTA stripped exactly one space after the colon, which is put back.

/// What a message's buffer starts with.
const INITIAL_CAPACITY: usize = 16 << 10;

/// The raw message under construction, bounded by a size limit: once the limit
/// is passed no more bytes are kept (the message will not be scanned), but the
/// size is still counted for the log line.
#[derive(Debug, Clone)]
pub struct RawMessage {
    data: Vec<u8>,
    limit: usize,
    /// Bytes seen, kept or not.
    seen: usize,
    header_count: usize,
    body_started: bool,
}

impl RawMessage {
    /// A message that keeps at most `limit` bytes.
    pub fn new(limit: usize) -> RawMessage {
        RawMessage {
            data: Vec::new(),
            limit,
            seen: 0,
            header_count: 0,
            body_started: false,
        }
    }

    /// Appends one header field. `leading_space_kept` says whether the MTA
    /// negotiated `HDR_LEADSPC` (value byte-exact) or stripped one space.
    pub fn push_header(&mut self, name: &[u8], value: &[u8], leading_space_kept: bool) {
        self.header_count += 1;
        if self.is_oversize() {
            self.seen += header_len(name, value, leading_space_kept);
            return;
        }
        if self.data.capacity() == 0 {
            // Most mail is a few KiB: one allocation instead of a doubling
            // series with a copy each time.
            self.data.reserve(INITIAL_CAPACITY.min(self.limit));
        }
        // Written straight into the message (no line buffer); the bytes
        // written are the bytes seen.
        let before = self.data.len();
        self.data.extend_from_slice(name);
        self.data.push(b':');
        if !leading_space_kept {
            self.data.push(b' ');
        }
        push_crlf_normalised(&mut self.data, value);
        self.data.extend_from_slice(b"\r\n");
        self.seen += self.data.len() - before;
        if self.is_oversize() {
            // Free the partial copy as soon as the message is known to be too big.
            self.data = Vec::new();
        }
    }

    /// Ends the header block (the empty line), once.
    pub fn end_headers(&mut self) {
        if !self.body_started {
            self.body_started = true;
            self.append(b"\r\n");
        }
    }

    /// Appends a body chunk exactly as received (CRLF already).
    pub fn push_body(&mut self, chunk: &[u8]) {
        self.end_headers();
        self.append(chunk);
    }

    fn append(&mut self, bytes: &[u8]) {
        self.seen += bytes.len();
        if !self.is_oversize() {
            self.data.extend_from_slice(bytes);
        } else if !self.data.is_empty() {
            // Free the partial copy as soon as the message is known to be too big.
            self.data = Vec::new();
        }
    }

    /// True once more bytes were seen than the limit allows.
    pub fn is_oversize(&self) -> bool {
        self.seen > self.limit
    }

    /// Bytes seen so far, including any not kept.
    pub fn size(&self) -> usize {
        self.seen
    }

    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// Takes the assembled bytes, leaving the builder empty.
    pub fn take(&mut self) -> Vec<u8> {
        self.end_headers();
        std::mem::take(&mut self.data)
    }
}

/// The bytes [`RawMessage::push_header`] writes for one header, counted
/// without writing them (a message already over its limit).
fn header_len(name: &[u8], value: &[u8], leading_space_kept: bool) -> usize {
    let bare_lf = memchr::memchr_iter(b'\n', value)
        .filter(|&i| i == 0 || value[i - 1] != b'\r')
        .count();
    name.len() + 1 + usize::from(!leading_space_kept) + value.len() + bare_lf + 2
}

/// Copies `value`, turning every bare LF (the MTA's fold marker) into CRLF.
fn push_crlf_normalised(out: &mut Vec<u8>, value: &[u8]) {
    let mut start = 0;
    for lf in memchr::memchr_iter(b'\n', value) {
        if lf == 0 || value[lf - 1] != b'\r' {
            out.extend_from_slice(&value[start..lf]);
            out.push(b'\r');
            start = lf;
        }
    }
    out.extend_from_slice(&value[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_rebuilt_with_crlf_folds_and_the_stripped_space() {
        let mut m = RawMessage::new(1 << 20);
        m.push_header(b"Subject", b"hello", false);
        m.push_header(b"X-Folded", b"first part\n\tsecond part", false);
        m.push_header(b"X-Lead", b"   three", true);
        m.push_header(b"X-Empty", b"", true);
        m.push_body(b"line one\r\n");
        assert_eq!(
            m.take(),
            b"Subject: hello\r\nX-Folded: first part\r\n\tsecond part\r\nX-Lead:   three\r\nX-Empty:\r\n\r\nline one\r\n".to_vec()
        );
        assert_eq!(m.header_count(), 4);
    }

    #[test]
    fn a_message_without_body_still_ends_its_headers() {
        let mut m = RawMessage::new(1 << 20);
        m.push_header(b"A", b"b", false);
        assert_eq!(m.take(), b"A: b\r\n\r\n".to_vec());
    }

    #[test]
    fn oversize_messages_stop_keeping_bytes_but_keep_counting() {
        let mut m = RawMessage::new(20);
        m.push_header(b"Subject", b"x", false);
        assert!(!m.is_oversize());
        m.push_body(&[b'a'; 100]);
        assert!(m.is_oversize());
        assert_eq!(m.size(), 12 + 2 + 100);
        assert!(m.take().is_empty());
    }

    #[test]
    fn headers_past_the_limit_are_counted_as_they_would_be_written() {
        let headers: [(&[u8], &[u8], bool); 4] = [
            (b"Subject", b"hello", false),
            (b"X-Folded", b"a\n\tb\r\n\tc\nd", false),
            (b"X-Lead", b"\n  three", true),
            (b"X-Last", b"", true),
        ];
        let mut full = RawMessage::new(1 << 20);
        let mut small = RawMessage::new(20);
        for (name, value, kept) in headers {
            full.push_header(name, value, kept);
            small.push_header(name, value, kept);
        }
        assert!(small.is_oversize() && !full.is_oversize());
        assert_eq!(small.size(), full.size());
        assert_eq!(full.size(), full.take().len() - 2, "all but the blank line");
        assert!(small.take().is_empty());
    }
}
