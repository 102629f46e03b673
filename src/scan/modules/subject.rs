//! Subject heuristics beyond what a regexp can see: needless encoding,
//! fake replies, length and padding.
use super::{sym, Hit, Module, SymbolDef};
use crate::message::Envelope;
use crate::message::MessageView;

static SYMBOLS: &[SymbolDef] = &[
    sym(
        "SUBJ_EXCESS_BASE64",
        "Subject is base64-encoded though it is plain ASCII",
    ),
    sym(
        "SUBJ_EXCESS_QP",
        "Subject is QP-encoded though it is plain ASCII",
    ),
    sym(
        "FAKE_REPLY",
        "Subject says Re: but the message answers nothing",
    ),
    sym("LONG_SUBJ", "Subject is very long"),
    sym("SUBJECT_ENDS_SPACES", "Subject ends with spaces"),
    sym("SUBJECT_HAS_QUESTION", "Subject contains a question mark"),
    sym("SUBJ_RAW_8BIT", "Subject has unencoded 8-bit characters"),
    sym(
        "SUBJ_TRAILING_ID",
        "Subject ends with a tracking number or random token",
    ),
];

/// Length from which a subject counts as long (characters).
const LONG: usize = 150;

/// The `subject` module.
#[derive(Debug)]
pub struct Subject;

impl Module for Subject {
    fn name(&self) -> &str {
        "subject"
    }

    fn symbols(&self) -> &'static [SymbolDef] {
        SYMBOLS
    }

    fn check(&self, view: &MessageView, _env: &Envelope, out: &mut Vec<Hit>) {
        let Some(h) = view.header("Subject") else {
            return;
        };
        let decoded = h.value.trim();
        let raw = String::from_utf8_lossy(h.raw);
        encoding_checks(&raw, decoded, out);
        if raw.trim_end_matches(['\r', '\n']).ends_with([' ', '\t']) && !decoded.is_empty() {
            out.push(Hit::new("SUBJECT_ENDS_SPACES"));
        }
        if decoded.chars().count() > LONG {
            out.push(Hit::new("LONG_SUBJ"));
        }
        if decoded.contains('?') {
            out.push(Hit::new("SUBJECT_HAS_QUESTION"));
        }
        let lower = decoded.to_ascii_lowercase();
        let is_reply =
            lower.starts_with("re:") || lower.starts_with("re :") || lower.starts_with("aw:");
        let answers = view.header("In-Reply-To").is_some() || view.header("References").is_some();
        if is_reply && !answers {
            out.push(Hit::new("FAKE_REPLY"));
        }
        if trailing_token(decoded) {
            out.push(Hit::new("SUBJ_TRAILING_ID"));
        }
    }
}

fn encoding_checks(raw: &str, decoded: &str, out: &mut Vec<Hit>) {
    if h_raw_8bit(raw) {
        out.push(Hit::new("SUBJ_RAW_8BIT"));
    }
    let lower = raw.to_ascii_lowercase();
    if !lower.contains("=?") || !decoded.is_ascii() {
        return;
    }
    if lower.contains("?b?") {
        out.push(Hit::new("SUBJ_EXCESS_BASE64"));
    } else if lower.contains("?q?") {
        out.push(Hit::new("SUBJ_EXCESS_QP"));
    }
}

fn h_raw_8bit(raw: &str) -> bool {
    !raw.is_ascii()
}

/// A last word mixing letters and digits, or a long run of digits, after
/// some spacing: `Great offer   xk29fj` or `Your statement #48213`.
fn trailing_token(subject: &str) -> bool {
    let mut words = subject.rsplitn(2, char::is_whitespace);
    let (Some(last), Some(rest)) = (words.next(), words.next()) else {
        return false;
    };
    if rest.trim().is_empty() {
        return false;
    }
    let last = last.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | '#' | '-'));
    let digits = last.chars().filter(char::is_ascii_digit).count();
    let letters = last.chars().filter(char::is_ascii_alphabetic).count();
    let mixed = digits >= 2
        && letters >= 2
        && last.len() >= 5
        && last.chars().all(|c| c.is_ascii_alphanumeric());
    let padded = subject.contains("   ");
    (mixed && (padded || digits >= 3 && letters >= 3)) || (padded && digits >= 4 && letters == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_tokens() {
        assert!(trailing_token("Great offer   xk29fj"));
        assert!(trailing_token("Save now 8a7dk3jd"));
        assert!(trailing_token("Your loan          39281"));
        assert!(!trailing_token("Meeting on Mon 10am"));
        assert!(!trailing_token("RFC 2822 question"));
        assert!(!trailing_token("x86"));
    }
}
