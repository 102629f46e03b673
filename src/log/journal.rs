//! journald's stream protocol: a service's stderr is a stream socket to
//! journald, which reads a `<N>` at the start of a line as the line's
//! syslog priority. Without it every line is "info" and
//! `journalctl -p warning` shows nothing.
//!
//! systemd names the stream it connected in `JOURNAL_STREAM`
//! (`device:inode`); the prefixes are written only when stderr is still
//! that stream, not when the daemon was started by hand from a unit's
//! shell or had its stderr redirected.
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing::Level;

use super::syslog::severity;

/// Whether stderr is the journal stream systemd connected.
pub fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some(named) = stream.to_str().and_then(parse_stream) else {
        return false;
    };
    stderr_id() == Some(named)
}

/// `JOURNAL_STREAM`'s `device:inode`.
fn parse_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// Device and inode of what fd 2 is open on.
fn stderr_id() -> Option<(u64, u64)> {
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The event with `<N>` before each of its lines (an event's message may
/// hold several; journald splits the stream at newlines).
pub fn prefixed(level: Level, event: &[u8]) -> Vec<u8> {
    let prefix = [b'<', b'0' + severity(level), b'>'];
    let mut out = Vec::with_capacity(event.len() + 8);
    for line in event.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(&prefix);
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_carries_its_priority() {
        assert_eq!(prefixed(Level::WARN, b"disk full\n"), b"<4>disk full\n");
        assert_eq!(prefixed(Level::ERROR, b"a\nb\n"), b"<3>a\n<3>b\n");
        assert_eq!(prefixed(Level::INFO, b"scanned"), b"<6>scanned");
        assert_eq!(prefixed(Level::DEBUG, b"x\n"), b"<7>x\n");
    }

    #[test]
    fn stream_names_parse() {
        assert_eq!(parse_stream("8:123456"), Some((8, 123_456)));
        assert_eq!(parse_stream("8"), None);
        assert_eq!(parse_stream("a:1"), None);
    }
}
