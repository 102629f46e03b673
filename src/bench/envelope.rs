//! The SMTP envelope a replayed message travels with, taken from its own
//! headers, as the MTA that delivered it would have seen it: the sender
//! from `Return-Path` (else `From`), the recipient from `Delivered-To`
//! (else `To`, else `Cc`). A fixed made-up envelope makes every message
//! look forged (sender and recipients unrelated to the headers), which
//! skews the verdicts the load tool reports.

/// Used when the headers name no usable address.
const FALLBACK_FROM: &str = "bench@bench.test";
const FALLBACK_RCPT: &str = "postmaster@bench.test";

/// Envelope addresses of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchEnvelope {
    pub from: String,
    pub rcpt: String,
}

impl BenchEnvelope {
    /// Reads the header block of `raw` (up to the first empty line).
    pub fn of(raw: &[u8]) -> BenchEnvelope {
        let headers = header_block(raw);
        let first = |names: &[&str]| names.iter().find_map(|n| header_address(&headers, n));
        BenchEnvelope {
            from: first(&["return-path", "from"]).unwrap_or_else(|| FALLBACK_FROM.into()),
            rcpt: first(&["delivered-to", "to", "cc"]).unwrap_or_else(|| FALLBACK_RCPT.into()),
        }
    }
}

/// Unfolded header lines of the message (lossy UTF-8).
fn header_block(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut lines: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
            _ => lines.push(line.to_string()),
        }
    }
    lines
}

/// The first address in the first header called `name`.
fn header_address(lines: &[String], name: &str) -> Option<String> {
    lines.iter().find_map(|l| {
        let (n, value) = l.split_once(':')?;
        if !n.trim().eq_ignore_ascii_case(name) {
            return None;
        }
        first_address(value)
    })
}

/// `<a@b>` if present, else the first word containing `@`.
fn first_address(value: &str) -> Option<String> {
    let candidate = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value
            .split(|c: char| c.is_whitespace() || c == ',')
            .find(|w| w.contains('@'))?,
    };
    let addr = candidate.trim().trim_matches(|c| c == '"' || c == '\'');
    let (local, domain) = addr.split_once('@')?;
    let sane = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic());
    (sane(local) && sane(domain)).then(|| addr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_return_path_and_delivered_to() {
        let raw = b"Return-Path: <bounce@list.example>\r\nFrom: Ann <ann@example.org>\r\n\
Delivered-To: bob@example.net\r\nTo: Bob <bob@example.com>\r\n\r\nFrom: body@x.y\r\n";
        let e = BenchEnvelope::of(raw);
        assert_eq!(e.from, "bounce@list.example");
        assert_eq!(e.rcpt, "bob@example.net");
    }

    #[test]
    fn falls_back_to_from_and_to_then_to_fixed_addresses() {
        let raw = b"From: ann@example.org (Ann)\nTo:\n  \"Bob\" <bob@example.com>, c@d.e\n\nbody\n";
        let e = BenchEnvelope::of(raw);
        assert_eq!(e.from, "ann@example.org");
        assert_eq!(e.rcpt, "bob@example.com");
        let e = BenchEnvelope::of(b"Subject: none\n\nTo: x@y.z\n");
        assert_eq!(e.from, FALLBACK_FROM);
        assert_eq!(e.rcpt, FALLBACK_RCPT);
        // An empty Return-Path (null sender) or garbage is not an address.
        let e = BenchEnvelope::of(b"Return-Path: <>\nFrom: <not an address>\n\n");
        assert_eq!(e.from, FALLBACK_FROM);
    }
}
