//! The verdict room: the only vocabulary shared by the scanners (`scan/`,
//! `forward/`) and the transports (`milter/`, `http/`). Transports depend on
//! this module and on nothing of the scanners.
//!
//! - [`Verdict`] and [`Action`] (with the one ordering of actions).
//! - [`Scanner`], [`ScanRequest`], [`ScanError`], and the read-only
//!   [`RuleBook`] a scanner may expose ([`scanner`]).
//! - [`settings`]: a request's Rspamd settings, as data.
//! - [`checkv2`]: Rspamd's `/checkv2` reply, to and from a verdict.
//! - [`format`]: number formatting for headers and log lines.
//!
//! The verdict mirrors the shape of Rspamd's `/checkv2` reply on purpose: an
//! upstream Rspamd's answer and our own pipeline's answer become the same
//! data, and the milter bridge turns either into replies the same way.
pub mod action;
pub mod checkv2;
pub mod format;
pub mod fuzzy;
pub mod scanner;
pub mod settings;

use std::time::Duration;

pub use action::Action;
pub use scanner::{
    AnnTrain, MapFile, Placement, RuleBook, RuleCost, ScanError, ScanFuture, ScanOptions,
    ScanRequest, Scanner, SymbolInfo,
};
pub use settings::ScanSettings;

/// One symbol in the result, as in Rspamd's reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Symbol {
    pub name: String,
    /// Contribution to the total (dynamic weight x configured weight).
    pub score: f64,
    /// Configured weight of the symbol.
    pub metric_score: f64,
    pub description: Option<String>,
    pub options: Vec<String>,
}

/// A header to add: `order < 0` appends (`h`), `order >= 0` inserts at that
/// position (`i`), with Rspamd's `add_headers` semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHeader {
    pub name: String,
    /// Already folded with bare `\n` + whitespace (milter style).
    pub value: String,
    pub order: i32,
}

/// A header instance to remove, with Rspamd's `remove_headers` semantics:
/// `0` every instance, `N > 0` the N-th (1-based), `N < 0` the N-th from the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveHeader {
    pub name: String,
    pub index: i32,
}

/// Header and envelope edits requested by the scan: Rspamd's `milter` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MilterEdits {
    pub add_headers: Vec<AddHeader>,
    pub remove_headers: Vec<RemoveHeader>,
    pub change_from: Option<String>,
    pub add_rcpt: Vec<String>,
    pub del_rcpt: Vec<String>,
    /// Replaces the value of the configured spam header on `add header`.
    pub spam_header: Option<String>,
    /// The bridge must not enforce the action; it only reports it.
    pub no_action: bool,
}

impl MilterEdits {
    pub fn is_empty(&self) -> bool {
        *self == MilterEdits::default()
    }
}

/// The outcome of a scan: data, not behaviour. The milter bridge
/// (`milter::respond`) and the HTTP server each render it their own way.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub action: Action,
    pub score: f64,
    /// The reject threshold (Rspamd's `required_score`).
    pub required_score: f64,
    /// Sorted for deterministic output: by |score| descending, then name.
    pub symbols: Vec<Symbol>,
    /// The complete new Subject, when `action` is rewrite subject.
    pub subject: Option<String>,
    /// Text for the SMTP reply (Rspamd's `messages.smtp_message`).
    pub smtp_message: Option<String>,
    /// Message-ID without angle brackets; `None` when the message has none.
    pub message_id: Option<String>,
    pub urls: Vec<String>,
    pub emails: Vec<String>,
    /// Processing was cut short (for example by GTUBE).
    pub is_skipped: bool,
    /// The module that forced the action, if one did.
    pub passthrough_module: Option<String>,
    pub milter: MilterEdits,
    /// `DKIM-Signature` header values to insert at the top of the header
    /// (folded with `\n\t`), in order: Rspamd's `dkim-signature`.
    pub dkim_signatures: Vec<String>,
    /// Actions with a numeric threshold, mildest first.
    pub thresholds: Vec<(Action, f64)>,
    pub scan_time: Duration,
    /// The upstream scanner that answered, when the message was forwarded;
    /// `None` for an in-process scan. Only the log line reads it.
    pub upstream: Option<String>,
}

impl Verdict {
    /// An empty verdict: no symbols, no action.
    pub fn empty(required_score: f64) -> Verdict {
        Verdict {
            action: Action::NoAction,
            score: 0.0,
            required_score,
            symbols: Vec::new(),
            subject: None,
            smtp_message: None,
            message_id: None,
            urls: Vec::new(),
            emails: Vec::new(),
            is_skipped: false,
            passthrough_module: None,
            milter: MilterEdits::default(),
            dkim_signatures: Vec::new(),
            thresholds: Vec::new(),
            scan_time: Duration::ZERO,
            upstream: None,
        }
    }

    /// Symbol names joined with commas, for the one log line per message.
    pub fn symbol_list(&self) -> String {
        let mut out = String::with_capacity(self.symbols.len() * 24);
        for (i, s) in self.symbols.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&s.name);
            out.push('(');
            format::push_2dp(&mut out, s.score);
            out.push(')');
        }
        out
    }

    /// `score/required` with two decimals each, for log lines.
    pub fn score_pair(&self) -> String {
        let mut out = String::with_capacity(16);
        format::push_2dp(&mut out, self.score);
        out.push('/');
        format::push_2dp(&mut out, self.required_score);
        out
    }
}

/// Longest symbol option kept, in bytes. Options are echoed into headers
/// and replies; an attacker controls many of them (attachment names, URLs).
pub const MAX_OPTION_BYTES: usize = 1024;
/// Budget for all options of one symbol, in bytes (Rspamd's `max_opts_len`
/// default); options past it are dropped.
pub const MAX_SYMBOL_OPTIONS_BYTES: usize = 4096;
/// Marks an option cut short, or options left out.
const ELLIPSIS: &str = "...";

/// `options` bounded per option and per symbol: each one cut to
/// [`MAX_OPTION_BYTES`] (at a character boundary, marked with `...`), and
/// the list cut where the total would pass [`MAX_SYMBOL_OPTIONS_BYTES`]
/// (a last `...` option says some were left out).
pub fn bounded_options(options: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(options.len());
    let mut total = 0;
    for o in options {
        let kept = truncate_str(o, MAX_OPTION_BYTES);
        if total + kept.len() > MAX_SYMBOL_OPTIONS_BYTES {
            out.push(ELLIPSIS.to_string());
            break;
        }
        total += kept.len();
        out.push(kept);
    }
    out
}

/// `s` cut to at most `max` bytes at a character boundary, ending in `...`
/// when it was cut.
pub fn truncate_str(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + ELLIPSIS.len());
    out.push_str(&s[..end]);
    out.push_str(ELLIPSIS);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_option_is_cut_at_a_char_boundary() {
        let long = "é".repeat(MAX_OPTION_BYTES);
        let got = bounded_options(std::slice::from_ref(&long));
        assert_eq!(got.len(), 1);
        assert!(got[0].len() <= MAX_OPTION_BYTES, "{}", got[0].len());
        assert!(got[0].ends_with("..."));
        assert_eq!(
            bounded_options(&["short".into()]),
            vec!["short".to_string()]
        );
    }

    #[test]
    fn options_past_the_symbol_budget_are_dropped_with_a_marker() {
        let many: Vec<String> = (0..100).map(|i| format!("{i:0>100}")).collect();
        let got = bounded_options(&many);
        let kept: usize = got.iter().map(String::len).sum();
        assert!(kept <= MAX_SYMBOL_OPTIONS_BYTES + 3, "{kept}");
        assert_eq!(got.last().map(String::as_str), Some("..."));
        assert_eq!(got.len(), MAX_SYMBOL_OPTIONS_BYTES / 100 + 1);
    }
}
