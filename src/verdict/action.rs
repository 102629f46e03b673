//! What should happen to a message, and the one ordering of actions every
//! list of them (thresholds, `/actions`, `/stat`, `/metrics`) derives from.
use std::fmt;

/// What should happen to the message. Names follow Rspamd (`add header`, with
/// a space, on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    NoAction,
    Greylist,
    AddHeader,
    RewriteSubject,
    SoftReject,
    Reject,
    /// Custom actions Rspamd defines with `milter = "discard"`.
    Discard,
    /// Custom actions Rspamd defines with `milter = "quarantine"`.
    Quarantine,
}

impl Action {
    /// Rspamd's wire name (`"add header"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::NoAction => "no action",
            Action::Greylist => "greylist",
            Action::AddHeader => "add header",
            Action::RewriteSubject => "rewrite subject",
            Action::SoftReject => "soft reject",
            Action::Reject => "reject",
            Action::Discard => "discard",
            Action::Quarantine => "quarantine",
        }
    }

    /// Accepts Rspamd's spellings: spaces or underscores, and `accept` for
    /// `no action`.
    pub fn parse(name: &str) -> Option<Action> {
        let norm: String = name
            .trim()
            .chars()
            .map(|c| {
                if c == '_' || c == '-' {
                    ' '
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        Some(match norm.as_str() {
            "no action" | "accept" => Action::NoAction,
            "greylist" => Action::Greylist,
            "add header" => Action::AddHeader,
            "rewrite subject" => Action::RewriteSubject,
            "soft reject" => Action::SoftReject,
            "reject" => Action::Reject,
            "discard" => Action::Discard,
            "quarantine" => Action::Quarantine,
            _ => return None,
        })
    }

    /// Every action, mildest first: Rspamd's built-in ones, then the effects
    /// only custom actions have. The one ordering of actions; every other
    /// list of them is derived from it.
    pub const ALL: [Action; 8] = [
        Action::NoAction,
        Action::Greylist,
        Action::AddHeader,
        Action::RewriteSubject,
        Action::SoftReject,
        Action::Reject,
        Action::Discard,
        Action::Quarantine,
    ];

    /// Rspamd's built-in actions, `no action` to `reject`, mildest first.
    pub const BUILTIN: &'static [Action] = Action::ALL.split_at(6).0;

    /// Actions whose threshold can be configured (the built-in ones but
    /// `no action`), mildest first.
    pub const SCORED: &'static [Action] = Action::BUILTIN.split_at(1).1;

    /// The order Rspamd's reports list actions in (`/stat`, `/metrics`):
    /// the built-in ones, most severe first, then the custom effects.
    pub fn report_order() -> impl Iterator<Item = &'static Action> {
        let custom = Action::ALL.split_at(Action::BUILTIN.len()).1;
        Action::BUILTIN.iter().rev().chain(custom)
    }

    /// Position in [`Action::ALL`].
    pub fn rank(&self) -> usize {
        match self {
            Action::NoAction => 0,
            Action::Greylist => 1,
            Action::AddHeader => 2,
            Action::RewriteSubject => 3,
            Action::SoftReject => 4,
            Action::Reject => 5,
            Action::Discard => 6,
            Action::Quarantine => 7,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ordering_and_its_derived_lists() {
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(a.rank(), i, "{a}");
            assert_eq!(Action::parse(a.as_str()).as_ref(), Some(a));
        }
        let names = |l: &[&Action]| l.iter().map(|a| a.as_str()).collect::<Vec<_>>();
        let scored: Vec<&Action> = Action::SCORED.iter().collect();
        assert_eq!(
            names(&scored),
            [
                "greylist",
                "add header",
                "rewrite subject",
                "soft reject",
                "reject"
            ]
        );
        let report: Vec<&Action> = Action::report_order().collect();
        assert_eq!(
            names(&report),
            [
                "reject",
                "soft reject",
                "rewrite subject",
                "add header",
                "greylist",
                "no action",
                "discard",
                "quarantine"
            ]
        );
    }
}
