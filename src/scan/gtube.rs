//! GTUBE, the Generic Test for Unsolicited Bulk Email, as Rspamd treats it.
//!
//! Unlike SpamAssassin, Rspamd does not score GTUBE: a text part holding the
//! pattern forces an action as a pre-result and stops the scan. The standard
//! pattern rejects; with `gtube_patterns = "all"` three variants (first letter
//! changed) force add header, rewrite subject and no action, so admins can
//! test each path of their MTA integration. Like Rspamd, only text parts of
//! a plausible test size are searched.
use aho_corasick::AhoCorasick;

use crate::config::rules::GtubePolicy;
use crate::message::TextPart;
use crate::verdict::Action;

const TAIL: &str = "JS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
/// Rspamd's lower bound is the pattern size including its C terminator.
const MIN_PART: usize = 1 + TAIL.len() + 1;
const MAX_PART: usize = 8 * 1024;

/// The four patterns, in the order of [`ACTIONS`].
fn patterns() -> [String; 4] {
    ["X", "Y", "Z", "A"].map(|first| format!("{first}{TAIL}"))
}

const ACTIONS: [Action; 4] = [
    Action::Reject,
    Action::AddHeader,
    Action::RewriteSubject,
    Action::NoAction,
];

/// Compiled once per pipeline.
#[derive(Debug)]
pub struct Gtube {
    matcher: AhoCorasick,
    policy: GtubePolicy,
}

impl Gtube {
    pub fn new(policy: GtubePolicy) -> Gtube {
        let matcher = AhoCorasick::new(patterns()).expect("four literal patterns build");
        Gtube { matcher, policy }
    }

    /// The action forced by the first text part that holds an enabled pattern.
    pub fn check(&self, parts: &[TextPart<'_>]) -> Option<Action> {
        if self.policy == GtubePolicy::Disabled {
            return None;
        }
        parts
            .iter()
            .find_map(|p| self.check_text(p.text.as_bytes()))
    }

    fn check_text(&self, text: &[u8]) -> Option<Action> {
        if !(MIN_PART..=MAX_PART).contains(&text.len()) {
            return None;
        }
        self.matcher.find_iter(text).find_map(|m| {
            let i = m.pattern().as_usize();
            (i == 0 || self.policy == GtubePolicy::All).then(|| ACTIONS[i].clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn part(s: &str) -> TextPart<'_> {
        TextPart::new(Cow::Borrowed(s), None, s.as_bytes())
    }

    #[test]
    fn standard_pattern_rejects_variants_need_all() {
        let g = Gtube::new(GtubePolicy::Reject);
        let body = format!("hello\nX{TAIL}\n");
        assert_eq!(g.check(&[part(&body)]), Some(Action::Reject));
        let y = format!("hello\nY{TAIL}\n");
        assert_eq!(g.check(&[part(&y)]), None);
        let all = Gtube::new(GtubePolicy::All);
        assert_eq!(all.check(&[part(&y)]), Some(Action::AddHeader));
        let z = format!("hello\nZ{TAIL}\n");
        assert_eq!(all.check(&[part(&z)]), Some(Action::RewriteSubject));
        let a = format!("hello\nA{TAIL}\n");
        assert_eq!(all.check(&[part(&a)]), Some(Action::NoAction));
    }

    #[test]
    fn size_bounds_and_disabled() {
        let g = Gtube::new(GtubePolicy::Reject);
        let exact = format!("X{TAIL}");
        assert_eq!(
            g.check(&[part(&exact)]),
            None,
            "shorter than Rspamd's minimum"
        );
        let big = format!("X{TAIL}\n{}", "x".repeat(MAX_PART));
        assert_eq!(
            g.check(&[part(&big)]),
            None,
            "too large to be a test message"
        );
        let ok = format!("X{TAIL}\n");
        assert_eq!(Gtube::new(GtubePolicy::Disabled).check(&[part(&ok)]), None);
    }
}
