//! The in-process scan: parse once, GTUBE, all regexps in one pass per
//! scope, rule expressions, score, action, header edits.
//!
//! Everything expensive (regex sets, parser tables, symbol table) is built
//! once in [`Pipeline::from_config`] and shared read-only by all scans.
use std::time::Instant;

use mail_parser::{HeaderName, MessageParser};
use serde_json::Value;

use super::config::ScanConfig;
use super::error::ScanConfigError;
use super::expr::Function;
use super::gtube::Gtube;
use super::headers::{self, DEFAULT_SUBJECT};
use super::message::MessageView;
use super::modules::ModuleSet;
use super::rules::{Leaf, RuleSet};
use super::score::{sort_symbols, Scorer, SymbolMeta};
use crate::message::Envelope;
use crate::verdict::{Action, Verdict};

/// A compiled scan configuration. Cheap to share behind an `Arc`.
pub struct Pipeline {
    parser: MessageParser,
    gtube: Gtube,
    rules: RuleSet,
    modules: ModuleSet,
    gtube_symbol: usize,
    scorer: Scorer,
    subject_template: String,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("rules", &self.rules.rules.len())
            .field("scorer", &self.scorer)
            .finish()
    }
}

impl Pipeline {
    /// Compiles every rule and regex of the merged config tree once.
    pub fn from_config(tree: &Value) -> Result<Pipeline, ScanConfigError> {
        let cfg = ScanConfig::from_tree(tree)?;
        let mut rules = RuleSet::compile(&cfg)?;
        let gtube_symbol =
            rules.add_symbol(&cfg, "GTUBE", "Generic Test for Unsolicited Bulk Email");
        let modules = ModuleSet::from_config(tree, &cfg, &mut rules)?;
        let scorer = Scorer::new(rules.groups.clone(), cfg.actions.thresholds.clone());
        Ok(Pipeline {
            parser: parser(),
            gtube: Gtube::new(cfg.gtube),
            rules,
            modules,
            gtube_symbol,
            scorer,
            subject_template: cfg
                .actions
                .subject
                .clone()
                .unwrap_or_else(|| DEFAULT_SUBJECT.to_string()),
        })
    }

    /// Number of compiled regexp rules (for start-up logs).
    pub fn rule_count(&self) -> usize {
        self.rules.rules.len()
    }

    /// Scans one message. CPU-bound and synchronous; any input, however
    /// malformed, yields a verdict.
    pub fn scan(&self, env: &Envelope, raw: &[u8]) -> Verdict {
        let start = Instant::now();
        let msg = self.parser.parse(raw);
        let view = MessageView::new(raw, msg.as_ref());
        let mut v = match self.gtube.check(&view.text_parts) {
            Some(action) => self.gtube_verdict(action, &view),
            None => self.rule_verdict(&view, env),
        };
        v.message_id = view.message_id();
        v.thresholds = self.scorer.thresholds.clone();
        v.scan_time = start.elapsed();
        v
    }

    /// Rspamd's GTUBE pre-result: the action is forced, the score becomes
    /// that action's threshold, and no rule runs. Unlike Rspamd 3.4 (which
    /// sends no milter block then) the header edits are kept, so that every
    /// scanned message carries `X-Spamd-Result` and loses spoofed `X-Spam*`
    /// headers, test messages included.
    fn gtube_verdict(&self, action: Action, view: &MessageView<'_>) -> Verdict {
        let mut v = Verdict::empty(self.scorer.required_score());
        let meta = &self.rules.symbols[self.gtube_symbol];
        v.symbols = self.scorer.score(&[(meta, Vec::new())]).0;
        v.score = self.scorer.threshold(&action).unwrap_or(0.0);
        v.is_skipped = true;
        v.passthrough_module = Some("gtube".into());
        v.smtp_message = Some("Gtube pattern".into());
        if action == Action::RewriteSubject {
            v.subject = Some(headers::rewrite_subject(
                &self.subject_template,
                view.subject().unwrap_or(""),
                v.score,
            ));
        }
        v.action = action;
        v.milter = headers::milter_edits(view, &v);
        v
    }

    fn rule_verdict(&self, view: &MessageView<'_>, env: &Envelope) -> Verdict {
        let hits = self.rules.bank.run(view);
        let from_modules = self.modules.run(view, env);
        let module_metas: Vec<SymbolMeta> = from_modules
            .iter()
            .map(|f| f.meta(&self.rules.symbols))
            .collect();
        let mut fired: Vec<(&SymbolMeta, Vec<String>)> = self
            .rules
            .rules
            .iter()
            .filter(|r| r.expr.eval(&|leaf| leaf_value(leaf, &hits, view)) != 0.0)
            .map(|r| (&self.rules.symbols[r.symbol], Vec::new()))
            .collect();
        fired.extend(
            module_metas
                .iter()
                .zip(&from_modules)
                .map(|(m, f)| (m, f.options.clone())),
        );
        let (mut symbols, score) = self.scorer.score(&fired);
        sort_symbols(&mut symbols);
        let mut v = Verdict::empty(self.scorer.required_score());
        v.score = score;
        v.symbols = symbols;
        v.action = self.scorer.action_for(score);
        if v.action == Action::RewriteSubject {
            v.subject = Some(headers::rewrite_subject(
                &self.subject_template,
                view.subject().unwrap_or(""),
                score,
            ));
        }
        v.urls = view.found.hosts.clone();
        v.emails = view.found.emails.clone();
        v.milter = headers::milter_edits(view, &v);
        v
    }
}

fn leaf_value(leaf: &Leaf, hits: &[bool], view: &MessageView<'_>) -> f64 {
    let yes = match leaf {
        Leaf::Regex(slot) => hits[*slot],
        Leaf::Func(Function::HeaderExists(name)) => view.header(name).is_some(),
        Leaf::Func(Function::HasOnlyHtmlPart) => {
            view.text_parts.len() == 1 && view.text_parts[0].html.is_some()
        }
        Leaf::Func(Function::IsEmptyBody) => {
            view.text_parts.iter().all(|p| p.text.trim().is_empty())
        }
    };
    if yes {
        1.0
    } else {
        0.0
    }
}

/// Typed parsing only where rules or the verdict need it; every other header
/// is decoded as text (RFC 2047), which is what header regexps match.
fn parser() -> MessageParser {
    MessageParser::new()
        .with_mime_headers()
        .with_address_headers()
        .with_date_headers()
        .header_id(HeaderName::MessageId)
        .header_text(HeaderName::Subject)
        .default_header_text()
}
