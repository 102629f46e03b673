//! Building a valid `y` (SMFIR_REPLYCODE) text.
//!
//! The text must survive both MTAs: sendmail treats it as a printf format
//! (so `%` is doubled), libmilter caps it at 32 lines of 980 characters, and
//! Postfix 3.12 checks every line against `^[45]dd[ -]` with a matching
//! enhanced status class. Anything else becomes a configuration error at the
//! MTA, so we refuse it here with a typed error instead.
use bytes::Bytes;

use super::reply::Reply;

/// Most lines in one reply (libmilter `MAXREPLIES`).
pub const MAX_LINES: usize = 32;
/// Longest line, code and status included (libmilter `MAXREPLYLEN`).
pub const MAX_LINE_LEN: usize = 980;

/// Why an SMTP reply cannot be sent as `y`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyCodeError {
    /// Only 4xx and 5xx replies can be given by a milter.
    #[error("SMTP reply code {0} is not in 400..=599")]
    BadCode(u16),
    /// The enhanced status is not `class.subject.detail`.
    #[error("enhanced status {0:?} is not of the form d.ddd.ddd")]
    BadStatus(String),
    /// The enhanced status class differs from the reply code's first digit.
    #[error("enhanced status {status:?} does not match reply code {code}")]
    ClassMismatch { code: u16, status: String },
    /// More than [`MAX_LINES`] lines.
    #[error("SMTP reply has {0} lines, at most {MAX_LINES} allowed")]
    TooManyLines(usize),
    /// A formatted line is longer than [`MAX_LINE_LEN`].
    #[error("SMTP reply line {line} is {len} bytes, at most {MAX_LINE_LEN} allowed")]
    LineTooLong { line: usize, len: usize },
}

impl Reply {
    /// Validated SMTP reply: code 400..=599; `status` ("5.7.1", may be empty)
    /// must start with the same digit; `text` may hold '\n' => multi-line
    /// "554-5.7.1 a\r\n554 5.7.1 b"; '%' doubled; CR/NUL removed; at most 32
    /// lines of <= 980 chars; no trailing CRLF. Satisfies Postfix 3.12's
    /// strict check.
    pub fn reply_code(code: u16, status: &str, text: &str) -> Result<Reply, ReplyCodeError> {
        if !(400..=599).contains(&code) {
            return Err(ReplyCodeError::BadCode(code));
        }
        check_status(code, status)?;
        let lines = text_lines(text);
        if lines.len() > MAX_LINES {
            return Err(ReplyCodeError::TooManyLines(lines.len()));
        }
        let mut out = Vec::new();
        for (n, line) in lines.iter().enumerate() {
            let last = n + 1 == lines.len();
            let formatted = format_line(code, status, line, last);
            if formatted.len() > MAX_LINE_LEN {
                return Err(ReplyCodeError::LineTooLong {
                    line: n + 1,
                    len: formatted.len(),
                });
            }
            if !out.is_empty() {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(&formatted);
        }
        Ok(Reply::ReplyCode(Bytes::from(out)))
    }
}

/// Empty, or `d.d{1,3}.d{1,3}` with `d` the class of `code`.
fn check_status(code: u16, status: &str) -> Result<(), ReplyCodeError> {
    if status.is_empty() {
        return Ok(());
    }
    let parts: Vec<&str> = status.split('.').collect();
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    let well_formed =
        parts.len() == 3 && digits(parts[0], 1) && digits(parts[1], 3) && digits(parts[2], 3);
    if !well_formed {
        return Err(ReplyCodeError::BadStatus(status.to_owned()));
    }
    if parts[0].as_bytes()[0] != b'0' + (code / 100) as u8 {
        return Err(ReplyCodeError::ClassMismatch {
            code,
            status: status.to_owned(),
        });
    }
    Ok(())
}

/// CR and NUL removed, `%` doubled, split at LF; a trailing LF adds no line.
fn text_lines(text: &str) -> Vec<Vec<u8>> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.split('\n')
        .map(|line| {
            let mut out = Vec::with_capacity(line.len());
            for b in line.bytes().filter(|&b| b != b'\r' && b != 0) {
                out.push(b);
                if b == b'%' {
                    out.push(b'%');
                }
            }
            out
        })
        .collect()
}

/// `ddd-status text` (or `ddd status text` on the last line).
fn format_line(code: u16, status: &str, text: &[u8], last: bool) -> Vec<u8> {
    let mut line = format!("{code}{}", if last { ' ' } else { '-' }).into_bytes();
    line.extend_from_slice(status.as_bytes());
    if !status.is_empty() && !text.is_empty() {
        line.push(b' ');
    }
    line.extend_from_slice(text);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: Reply) -> String {
        match r {
            Reply::ReplyCode(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("not a y reply: {other:?}"),
        }
    }

    #[test]
    fn single_line() {
        let r = Reply::reply_code(550, "5.7.1", "spam detected").unwrap();
        assert_eq!(text(r), "550 5.7.1 spam detected");
    }

    #[test]
    fn multi_line_like_postfix_observed() {
        let r = Reply::reply_code(550, "5.7.0", "first line\nsecond line\n").unwrap();
        assert_eq!(text(r), "550-5.7.0 first line\r\n550 5.7.0 second line");
    }

    #[test]
    fn percent_doubled_cr_nul_removed() {
        let r = Reply::reply_code(451, "4.7.1", "100% sure\r\0").unwrap();
        assert_eq!(text(r), "451 4.7.1 100%% sure");
    }

    #[test]
    fn without_status_or_text() {
        assert_eq!(
            text(Reply::reply_code(554, "", "go away").unwrap()),
            "554 go away"
        );
        assert_eq!(
            text(Reply::reply_code(554, "5.7.1", "").unwrap()),
            "554 5.7.1"
        );
    }

    #[test]
    fn validation_errors() {
        use ReplyCodeError::*;
        assert_eq!(Reply::reply_code(250, "", "ok"), Err(BadCode(250)));
        assert_eq!(Reply::reply_code(600, "", "x"), Err(BadCode(600)));
        assert_eq!(
            Reply::reply_code(550, "4.7.1", "x"),
            Err(ClassMismatch {
                code: 550,
                status: "4.7.1".into()
            })
        );
        assert_eq!(
            Reply::reply_code(550, "5.7", "x"),
            Err(BadStatus("5.7".into()))
        );
        assert_eq!(
            Reply::reply_code(550, "5.a.1", "x"),
            Err(BadStatus("5.a.1".into()))
        );
        let many = "x\n".repeat(33);
        assert_eq!(Reply::reply_code(550, "", &many), Err(TooManyLines(33)));
        assert!(Reply::reply_code(550, "", &"x\n".repeat(32)).is_ok());
        let long = "y".repeat(980);
        assert_eq!(
            Reply::reply_code(550, "5.7.1", &long),
            Err(LineTooLong { line: 1, len: 990 })
        );
    }
}
