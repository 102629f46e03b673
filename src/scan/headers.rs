//! The header side of the verdict, as Rspamd's milter_headers module and
//! proxy produce it: spoofed `X-Spam*` headers removed, `X-Spamd-Result`
//! added, and the rewritten Subject.
use std::fmt::Write;

use crate::message::MessageView;
use crate::verdict::format::push_2dp;
use crate::verdict::{Action, AddHeader, MilterEdits, RemoveHeader, Verdict};

/// Rspamd's built-in rewrite-subject template.
pub const DEFAULT_SUBJECT: &str = "*** SPAM *** %s";

/// `default: False [3.40 / 15.00];\n\tSYM(2.00)[a,b];\n\tSYM2(1.40)`,
/// folded with a bare `\n\t` (milter style); True only for reject.
pub fn spamd_result(v: &Verdict) -> String {
    let is_spam = if v.action == Action::Reject {
        "True"
    } else {
        "False"
    };
    // Sized for a typical verdict, and written piece by piece: this runs
    // for every message, and `format!`'s machinery cost more than the text.
    let mut out = String::with_capacity(64 + 32 * v.symbols.len());
    out.push_str("default: ");
    out.push_str(is_spam);
    out.push_str(" [");
    push_2dp(&mut out, v.score);
    out.push_str(" / ");
    push_2dp(&mut out, v.required_score);
    out.push(']');
    for s in &v.symbols {
        out.push_str(";\n\t");
        out.push_str(&s.name);
        out.push('(');
        push_2dp(&mut out, s.score);
        out.push(')');
        for (i, o) in s.options.iter().enumerate() {
            out.push(if i == 0 { '[' } else { ',' });
            out.push_str(o);
        }
        if !s.options.is_empty() {
            out.push(']');
        }
    }
    out
}

/// Writes `X-Spamd-Result` again from the verdict's symbols, so the symbols signing added
/// after the scan (`DKIM_SIGNED`, `ARC_SIGNED`) are listed in it, as in Rspamd's header.
pub fn refresh_spamd_result(v: &mut Verdict) {
    let value = spamd_result(v);
    let header = v.milter.add_headers.iter_mut();
    if let Some(h) = header.filter(|h| h.name == "X-Spamd-Result").last() {
        h.value = value;
    }
}

/// Expands `%s` (old subject), `%d` (score, two decimals) and `%%`.
pub fn rewrite_subject(template: &str, old: &str, score: f64) -> String {
    let mut out = String::with_capacity(template.len() + old.len());
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push_str(old),
            Some('d') => {
                let _ = write!(out, "{score:.2}");
            }
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Removes every incoming header whose name starts with `X-Spam` (an
/// attacker could otherwise pre-set our verdict headers) and adds ours.
pub fn milter_edits(view: &MessageView<'_>, v: &Verdict) -> MilterEdits {
    let mut edits = MilterEdits::default();
    for h in &view.headers {
        // Byte comparison: a malformed name may not split at a char boundary.
        let spoofable = h
            .name
            .as_bytes()
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"x-spam"));
        if spoofable
            && !edits
                .remove_headers
                .iter()
                .any(|r| r.name.eq_ignore_ascii_case(h.name))
        {
            edits.remove_headers.push(RemoveHeader {
                name: h.name.to_string(),
                index: 0,
            });
        }
    }
    edits.add_headers.push(AddHeader {
        name: "X-Spamd-Result".into(),
        value: spamd_result(v),
        order: -1,
    });
    edits
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::verdict::Symbol;

    fn sym(name: &str, score: f64, options: &[&str]) -> Symbol {
        Symbol {
            name: name.into(),
            score,
            metric_score: score,
            description: None,
            options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_refreshed_header_lists_symbols_added_after_the_scan() {
        let mut v = Verdict::empty(15.0);
        v.milter.add_headers.push(AddHeader {
            name: "X-Spamd-Result".into(),
            value: spamd_result(&v),
            order: -1,
        });
        v.symbols
            .push(sym("DKIM_SIGNED", 0.0, &["example.org:s=sel"]));
        refresh_spamd_result(&mut v);
        assert_eq!(
            v.milter.add_headers[0].value,
            "default: False [0.00 / 15.00];\n\tDKIM_SIGNED(0.00)[example.org:s=sel]"
        );
    }

    #[test]
    fn spamd_result_exact_format() {
        let mut v = Verdict::empty(15.0);
        v.score = 3.4;
        v.symbols = vec![sym("SYM_A", 2.0, &["opt1", "opt2"]), sym("SYM_B", 1.4, &[])];
        assert_eq!(
            spamd_result(&v),
            "default: False [3.40 / 15.00];\n\tSYM_A(2.00)[opt1,opt2];\n\tSYM_B(1.40)"
        );
        v.action = Action::Reject;
        v.symbols.clear();
        assert_eq!(spamd_result(&v), "default: True [3.40 / 15.00]");
    }

    #[test]
    fn subject_template_expansion() {
        assert_eq!(
            rewrite_subject(DEFAULT_SUBJECT, "hi", 7.0),
            "*** SPAM *** hi"
        );
        assert_eq!(
            rewrite_subject("[SPAM %d] %s", "lunch", 8.0),
            "[SPAM 8.00] lunch"
        );
        assert_eq!(rewrite_subject("100%% %x %", "s", 1.0), "100% %x %");
    }
}
