//! The message as it leaves: the milter's Subject rewrite (`rewrite subject`) is applied by
//! the MTA after signing, so the signature and the seal are made over the rewritten Subject,
//! not over the Subject that came in.
use std::borrow::Cow;

use crate::verdict::{Action, Verdict};

/// `message` with the verdict's rewritten Subject in place of the first Subject header (or
/// added at the end of the header when there is none, as the MTA adds it).
pub fn leaving<'m>(message: &'m [u8], verdict: &Verdict) -> Cow<'m, [u8]> {
    let Some(subject) = verdict
        .subject
        .as_deref()
        .filter(|_| verdict.action == Action::RewriteSubject)
    else {
        return Cow::Borrowed(message);
    };
    let eol: &[u8] = if message.windows(2).any(|w| w == b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let header_end = header_end(message);
    let mut out = Vec::with_capacity(message.len() + subject.len());
    let line = [b"Subject: ".as_slice(), subject.as_bytes(), eol].concat();
    match find_subject(&message[..header_end]) {
        Some((start, end)) => {
            out.extend_from_slice(&message[..start]);
            out.extend_from_slice(&line);
            out.extend_from_slice(&message[end..]);
        }
        None => {
            out.extend_from_slice(&message[..header_end]);
            out.extend_from_slice(&line);
            out.extend_from_slice(&message[header_end..]);
        }
    }
    Cow::Owned(out)
}

/// Where the header ends: the start of the blank line (the whole message without one).
fn header_end(message: &[u8]) -> usize {
    let mut at = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            return at;
        }
        at += line.len();
    }
    message.len()
}

/// The byte range of the first Subject field, its folded lines included.
fn find_subject(header: &[u8]) -> Option<(usize, usize)> {
    let mut at = 0;
    let mut found: Option<usize> = None;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        match found {
            Some(start) if !folded => return Some((start, at)),
            Some(_) => {}
            None if line.len() > 8 && line[..8].eq_ignore_ascii_case(b"subject:") => {
                found = Some(at)
            }
            None => {}
        }
        at += line.len();
    }
    found.map(|start| (start, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(subject: &str) -> Verdict {
        let mut v = Verdict::empty(15.0);
        v.action = Action::RewriteSubject;
        v.subject = Some(subject.into());
        v
    }

    #[test]
    fn the_first_subject_is_replaced_folds_and_all() {
        let m =
            b"From: a@b\r\nSubject: old\r\n  folded\r\nSubject: second\r\n\r\nSubject: body\r\n";
        let out = leaving(m, &rewritten("new"));
        assert_eq!(
            &*out,
            b"From: a@b\r\nSubject: new\r\nSubject: second\r\n\r\nSubject: body\r\n"
        );
    }

    #[test]
    fn a_missing_subject_is_added_and_other_actions_change_nothing() {
        let m = b"From: a@b\nTo: c@d\n\nbody\n";
        assert_eq!(
            &*leaving(m, &rewritten("new")),
            b"From: a@b\nTo: c@d\nSubject: new\n\nbody\n"
        );
        let mut v = rewritten("new");
        v.action = Action::AddHeader;
        assert!(matches!(leaving(m, &v), Cow::Borrowed(_)));
    }
}
