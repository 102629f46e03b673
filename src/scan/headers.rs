//! The header side of the verdict, as Rspamd's milter_headers module and
//! proxy produce it: spoofed `X-Spam*` headers removed, `X-Spamd-Result`
//! added, and the rewritten Subject.
use std::fmt::Write;

use super::message::MessageView;
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

/// Appends `x` as `format!("{x:.2}")` would. Scores are formatted for every
/// symbol of every message, and the formatter's exact float-to-decimal
/// path is dear (`docs/performance.md`); here one multiplication and an
/// integer print do, whenever `x * 100` is safely away from a rounding tie
/// (its floating-point error is far below the margin). Near a tie, and for
/// huge or non-finite values, the formatter decides.
pub(crate) fn push_2dp(out: &mut String, x: f64) {
    let y = (x * 100.0).abs();
    let frac = y - y.floor();
    if y.is_nan() || y >= 1e9 || (frac - 0.5).abs() < 1e-6 {
        let _ = write!(out, "{x:.2}");
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    let n = y.round() as u64;
    let _ = write!(out, "{}.", n / 100);
    let cents = (n % 100) as u8;
    out.push(char::from(b'0' + cents / 10));
    out.push(char::from(b'0' + cents % 10));
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

    #[test]
    fn two_decimals_as_the_formatter_writes_them() {
        let mut values = vec![
            0.0,
            -0.0,
            0.005,
            0.015,
            0.125,
            0.375,
            2.675,
            1.005,
            -0.001,
            -0.005,
            -1.5,
            15.0,
            0.1 + 0.2,
            99.995,
            1e8,
            1e12,
            -3.333,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            123_456.785,
        ];
        // Every multiple of 1/1000 and 1/800 up to 20 (ties and near-ties),
        // and a spread of pseudo-random values.
        values.extend((-20_000..20_000).map(|i| f64::from(i) / 1000.0));
        values.extend((-16_000..16_000).map(|i| f64::from(i) / 800.0));
        let mut seed = 0x853c_49e6_748f_ea9bu64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            values.push(f64::from_bits(seed) % 1e7);
        }
        for x in values {
            let mut got = String::new();
            push_2dp(&mut got, x);
            assert_eq!(got, format!("{x:.2}"), "{x:e}");
        }
    }
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
