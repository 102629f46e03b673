//! One whitelist rule's decision on what the auth checks found, as Rspamd 3.4's whitelist
//! module decides it: which listed domains were seen where (SPF identity, DKIM signatures,
//! the From header), whether the check that vouches for them passed, and from that the rule's
//! symbol (whitelisted), its inverse (blacklisted or violated) or nothing.

/// How a listed domain is used: whitelisted when valid, blacklisted when not, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    White,
    Black,
    Both,
}

/// A listed domain's entry: how, and the score multiplier.
pub type Entry = (How, f64);

/// What the auth phase found for the message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    pub spf_allow: bool,
    pub dmarc_allow: bool,
    /// Every DKIM signature's domain and Rspamd's result letter (`DKIM_TRACE`).
    pub dkim: Vec<(String, char)>,
    /// The SPF identity's domain: MAIL FROM's, else the HELO name.
    pub spf_domain: Option<String>,
    /// The From header's domain.
    pub from_domain: Option<String>,
    /// Authenticated or from a local address: SPF and DMARC blacklisting is skipped.
    pub exempt: bool,
}

/// What a rule checks and how it reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RuleKind {
    pub valid_spf: bool,
    pub valid_dkim: bool,
    pub valid_dmarc: bool,
    pub blacklist: bool,
    pub has_inverse: bool,
    pub inverse_multiplier: Option<f64>,
}

/// The rule's result: the inverse symbol or the rule's own, its multiplier and options.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub inverse: bool,
    pub multiplier: f64,
    pub options: Vec<String>,
}

/// The domain last found for each identity (Rspamd keeps one per identity).
#[derive(Default)]
struct Found {
    spf: Option<(String, Entry)>,
    dkim_pass: Option<(String, Entry)>,
    dkim_fail: Option<(String, Entry)>,
    dmarc: Option<(String, Entry)>,
}

/// Decides one rule. `lookup` finds a domain in the rule's list; `org` gives a domain's
/// organizational domain (Rspamd's eSLD).
pub fn decide(
    kind: RuleKind,
    ev: &Evidence,
    lookup: impl Fn(&str) -> Option<Entry>,
    org: impl Fn(&str) -> String,
) -> Option<Decision> {
    let find = |dom: String| lookup(&dom).map(|e| (dom, e));
    let mut found = Found::default();
    if kind.valid_spf {
        found.spf = ev.spf_domain.as_deref().map(&org).and_then(find);
    }
    if kind.valid_dkim {
        for (dom, result) in &ev.dkim {
            match result {
                '+' => found.dkim_pass = find(org(dom)).or(found.dkim_pass.take()),
                '-' => found.dkim_fail = find(org(dom)).or(found.dkim_fail.take()),
                _ => {}
            }
        }
    }
    if kind.valid_dmarc {
        found.dmarc = ev
            .from_domain
            .as_deref()
            .and_then(|d| find(org(d)).or_else(|| find(d.to_string())));
    }
    conclude(kind, ev, &found)
}

fn conclude(kind: RuleKind, ev: &Evidence, found: &Found) -> Option<Decision> {
    let mut mult = 1.0;
    let (mut white, mut black) = (false, false);
    let mut options = Vec::new();
    let mut dkim_violated = false;
    if kind.valid_dkim {
        dkim_violated = true;
        if let Some((dom, (how, m))) = &found.dkim_pass {
            if matches!(how, How::White | How::Both) {
                options.push(format!("{dom}:d:+"));
                white = true;
                dkim_violated = false;
                mult = *m;
            }
        }
        if let Some((dom, (how, m))) = &found.dkim_fail {
            if matches!(how, How::Black | How::Both) {
                options.push(format!("{dom}:d:-"));
                black = true;
                mult = *m;
            } else {
                dkim_violated = true;
            }
        }
    }
    let mut judge = |what: char, entry: &Option<(String, Entry)>, violated: bool| {
        // Each identity's verdict replaces the whitelisting of the one before it.
        white = false;
        let Some((dom, (how, m))) = entry else { return };
        if violated && matches!(how, How::Black | How::Both) {
            black = true;
            mult = *m;
            options.push(format!("{dom}:{what}:-"));
        } else if !violated && matches!(how, How::White | How::Both) {
            white = true;
            options.push(format!("{dom}:{what}:+"));
            if !black {
                mult = *m;
            }
        }
    };
    if kind.valid_dmarc {
        judge('D', &found.dmarc, !ev.dmarc_allow || dkim_violated);
    }
    if kind.valid_spf {
        judge('s', &found.spf, !ev.spf_allow || dkim_violated);
    }
    if black {
        if ev.exempt && (kind.valid_spf || kind.valid_dmarc) {
            return None;
        }
        return Some(violation(kind, mult, options));
    }
    white.then_some(Decision {
        inverse: false,
        multiplier: mult,
        options,
    })
}

/// Rspamd's `add_symbol` for a violation: the inverse symbol when there is one, else the
/// rule's own symbol with the opposite sign (a blacklist rule keeps its sign).
fn violation(kind: RuleKind, mut mult: f64, options: Vec<String>) -> Decision {
    if !kind.has_inverse && !kind.blacklist {
        mult = -mult;
    }
    if let Some(im) = kind.inverse_multiplier {
        mult *= im;
    }
    Decision {
        inverse: kind.has_inverse,
        multiplier: mult,
        options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(d: &str) -> String {
        crate::scan::auth::dmarc::org_domain(d)
    }

    fn listed<'a>(entries: &'a [(&'a str, Entry)]) -> impl Fn(&str) -> Option<Entry> + 'a {
        move |d| entries.iter().find(|(k, _)| *k == d).map(|(_, e)| *e)
    }

    const DKIM: RuleKind = RuleKind {
        valid_spf: false,
        valid_dkim: true,
        valid_dmarc: false,
        blacklist: false,
        has_inverse: true,
        inverse_multiplier: None,
    };

    #[test]
    fn a_valid_signature_of_a_listed_domain_whitelists() {
        let ev = Evidence {
            dkim: vec![("mail.example.co.uk".into(), '+')],
            ..Default::default()
        };
        let list = [("example.co.uk", (How::White, 1.0))];
        let d = decide(DKIM, &ev, listed(&list), org).expect("whitelisted");
        assert_eq!(
            d,
            Decision {
                inverse: false,
                multiplier: 1.0,
                options: vec!["example.co.uk:d:+".into()],
            }
        );
        // Unlisted or not valid: nothing.
        assert_eq!(decide(DKIM, &ev, listed(&[]), org), None);
        let failed = Evidence {
            dkim: vec![("example.co.uk".into(), '-')],
            ..Default::default()
        };
        assert_eq!(decide(DKIM, &failed, listed(&list), org), None);
    }

    #[test]
    fn a_failed_signature_of_a_blacklisted_or_strict_domain_gives_the_inverse() {
        let failed = Evidence {
            dkim: vec![("example.org".into(), '-')],
            ..Default::default()
        };
        let both = [("example.org", (How::Both, 2.0))];
        let d = decide(DKIM, &failed, listed(&both), org).expect("blacklisted");
        assert!(d.inverse);
        assert_eq!(d.multiplier, 2.0);
        assert_eq!(d.options, ["example.org:d:-"]);
        // Without an inverse symbol the rule's own symbol takes the opposite sign.
        let plain = RuleKind {
            has_inverse: false,
            ..DKIM
        };
        let d = decide(plain, &failed, listed(&both), org).unwrap();
        assert_eq!((d.inverse, d.multiplier), (false, -2.0));
        // A blacklist rule keeps its sign.
        let bl = RuleKind {
            has_inverse: false,
            blacklist: true,
            ..DKIM
        };
        assert_eq!(
            decide(bl, &failed, listed(&both), org).unwrap().multiplier,
            2.0
        );
    }

    #[test]
    fn spf_dkim_needs_both_and_dmarc_needs_the_allow() {
        let kind = RuleKind {
            valid_spf: true,
            ..DKIM
        };
        let list = [("example.org", (How::Both, 1.0))];
        let mut ev = Evidence {
            spf_allow: true,
            spf_domain: Some("bounce.example.org".into()),
            dkim: vec![("example.org".into(), '+')],
            ..Default::default()
        };
        let d = decide(kind, &ev, listed(&list), org).unwrap();
        assert!(!d.inverse);
        assert_eq!(d.options, ["example.org:d:+", "example.org:s:+"]);
        ev.spf_allow = false;
        let d = decide(kind, &ev, listed(&list), org).unwrap();
        assert!(d.inverse, "{d:?}");
        let dmarc = RuleKind {
            valid_dmarc: true,
            valid_dkim: false,
            ..Default::default()
        };
        let ev = Evidence {
            dmarc_allow: true,
            from_domain: Some("news.example.org".into()),
            ..Default::default()
        };
        let d = decide(dmarc, &ev, listed(&list), org).unwrap();
        assert_eq!(d.options, ["example.org:D:+"]);
        // The full From domain is looked up when its organizational domain is not listed.
        let sub = [("news.example.org", (How::White, 3.0))];
        assert_eq!(
            decide(dmarc, &ev, listed(&sub), org).unwrap().multiplier,
            3.0
        );
    }

    #[test]
    fn spf_and_dmarc_blacklisting_skips_exempt_mail() {
        let kind = RuleKind {
            valid_spf: true,
            has_inverse: true,
            ..Default::default()
        };
        let list = [("example.org", (How::Black, 1.0))];
        let mut ev = Evidence {
            spf_domain: Some("example.org".into()),
            ..Default::default()
        };
        assert!(decide(kind, &ev, listed(&list), org).unwrap().inverse);
        ev.exempt = true;
        assert_eq!(decide(kind, &ev, listed(&list), org), None);
    }
}
