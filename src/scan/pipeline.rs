//! The in-process scan: parse once, GTUBE, multimap, content modules,
//! regexp rules in schedule order (regex scopes run on demand, one pass
//! each), composites, force_actions, action, header edits.
//!
//! Everything expensive (regex sets, maps, symbol table, schedule) is built
//! once in [`Pipeline::from_config`] and shared read-only by all scans.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mail_parser::{Message, MessageParser};
use serde_json::Value;

use super::actions::{ActionDef, ActionSet};
use super::auth::results::{self, ResultsSettings};
use super::auth::AuthOutcome;
use super::bayes::Classifier;
use super::composites::Composites;
use super::context::ScanCtx;
use super::error::ScanConfigError;
use super::force_actions::ForceActions;
use super::gtube::Gtube;
use super::headers::{self, DEFAULT_SUBJECT};
use super::lua::{LoadedLua, LuaRules};
use super::modules::ModuleSet;
use super::multimap::Multimap;
use super::neural::pace::Scanning;
use super::neural::{Learn, Neural, NeuralRules};
use super::rules::RuleSet;
use super::schedule::{Schedule, Trace};
use super::score::{ScoreBoard, Scorer};
use super::settings::{self, ScanSettings};
use super::stats::RuleStats;
use super::symbols::Registry;
use super::whitelist::Whitelist;
use crate::config::rules::ScanConfig;
use crate::message::Envelope;
use crate::message::{MessageView, Parsed};
use crate::stats::{Learnable, Stats, HAM_SYMBOL, SPAM_SYMBOL};
use crate::verdict::{Action, ScanOptions, SymbolInfo, Verdict};

/// Every Nth scan measures per-rule time (timing every rule of every scan
/// would cost more than the rules).
const TIME_SAMPLE_EVERY: u64 = 32;

/// A compiled scan configuration. Cheap to share behind an `Arc`.
pub struct Pipeline {
    parser: MessageParser,
    gtube: Gtube,
    rules: RuleSet,
    modules: ModuleSet,
    registry: Registry,
    gtube_symbol: usize,
    scorer: Scorer,
    composites: Composites,
    force: ForceActions,
    multimap: Multimap,
    schedule: Schedule,
    stats: RuleStats,
    scans: AtomicU64,
    subject_template: String,
    warnings: Vec<String>,
    /// Times each symbol (index into the registry) was in a verdict since
    /// this pipeline was built; read by the controller's `/counters`.
    hits: Vec<AtomicU64>,
    /// The Bayes classifier (its store opened once per process, shared
    /// across reloads) and the registry indices of BAYES_SPAM and BAYES_HAM.
    classifier: Option<Arc<dyn Classifier>>,
    bayes: [usize; 2],
    lua: LuaRules,
    /// The `Authentication-Results` header's settings (written when the auth phase ran).
    results: ResultsSettings,
    /// The whitelist rules on the auth phase's results.
    whitelist: Whitelist,
    /// `Settings-ID` profiles from the `settings` section.
    profiles: std::collections::BTreeMap<String, Arc<ScanSettings>>,
    /// The `neural` rules until a store is attached ([`Pipeline::with_neural`]).
    neural_rules: Option<NeuralRules>,
    neural: Option<Neural>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("rules", &self.rules.rules.len())
            .field("composites", &self.composites.list.len())
            .field("scorer", &self.scorer)
            .finish()
    }
}

/// A scan's result: the verdict, and what autolearn should learn now that
/// it is decided (`None` without Bayes, or with a score between the
/// autolearn thresholds). The scan itself never writes to the store.
#[derive(Debug)]
pub struct Scanned {
    pub verdict: Verdict,
    pub autolearn: Option<Learnable>,
    /// The vectors the neural module's autolearn stores.
    pub neural: Vec<Learn>,
}

impl Scanned {
    /// Learns the autolearn candidate into `store` (the owner's handle),
    /// then hands back the verdict.
    pub fn learned_by(self, store: Option<&Stats>) -> Verdict {
        if let (Some(store), Some(l)) = (store, &self.autolearn) {
            store.autolearn(l);
        }
        for l in self.neural {
            l.submit();
        }
        self.verdict
    }
}

/// Where a forced action came from.
struct Forced {
    module: String,
    action: ActionDef,
    message: Option<String>,
    score: Option<f64>,
}

impl Pipeline {
    /// Compiles every rule, map and regex of a merged config tree once:
    /// [`Pipeline::new`] for callers that hold a bare tree (tools, tests).
    pub fn from_config(tree: &Value) -> Result<Pipeline, ScanConfigError> {
        Pipeline::new(&ScanConfig::from_tree(tree)?)
    }

    /// Compiles every rule, map and regex of the rules sections
    /// (`Config::rules`) once.
    pub fn new(rules: &ScanConfig) -> Result<Pipeline, ScanConfigError> {
        let mut cfg = rules.clone();
        // Lua scripts run first: they can add regexp rules, composites and
        // symbol weights, which must be in the config the rest is built from.
        let lua = LoadedLua::load(&cfg.lua)?;
        lua.extend_config(&mut cfg);
        let mut registry = Registry::new(&cfg);
        let actions = ActionSet::new(cfg.actions.defs.clone());
        let rules = RuleSet::compile(&cfg, &mut registry)?;
        let modules = ModuleSet::from_config(&cfg, &mut registry)?;
        let (multimap, warnings) =
            Multimap::compile(&cfg, &mut registry, &actions, cfg.engine.map_watch_interval)?;
        let lua = lua.define(&cfg, &mut registry);
        let gtube_symbol = registry.define(
            &cfg,
            "GTUBE",
            super::symbols::RuleDefaults {
                score: Some(0.0),
                description: Some("Generic Test for Unsolicited Bulk Email"),
                ..Default::default()
            },
        );
        let auth_symbols = super::auth::symbols::SYMBOLS.iter();
        for &(name, group, score, description, one_shot) in
            auth_symbols.chain(super::auth::hosts::SYMBOLS)
        {
            let defaults = super::symbols::RuleDefaults {
                score: Some(score),
                description: Some(description),
                group: Some(group),
                one_shot,
                nshots: None,
            };
            registry.define(&cfg, name, defaults);
        }
        let (whitelist, wl_warnings) =
            Whitelist::compile(&cfg, &mut registry, cfg.engine.map_watch_interval);
        let lists = super::rbl::settings::RblSettings::from_section(cfg.rbl.as_ref())?;
        for (name, group) in lists.symbols() {
            let defaults = super::symbols::RuleDefaults {
                score: Some(0.0),
                group: Some(group),
                ..Default::default()
            };
            registry.define(&cfg, &name, defaults);
        }
        let fuzzy = super::fuzzy::settings::FuzzySettings::from_section(cfg.fuzzy_check.as_ref())?;
        for rule in &fuzzy.rules {
            for name in rule.symbols() {
                let defaults = super::symbols::RuleDefaults {
                    score: Some(0.0),
                    group: Some("fuzzy"),
                    ..Default::default()
                };
                registry.define(&cfg, name, defaults);
            }
        }
        let (reply, reply_score) = crate::state::replies::symbol(cfg.replies.as_ref());
        registry.define(
            &cfg,
            &reply,
            super::symbols::RuleDefaults {
                score: Some(reply_score),
                group: Some("replies"),
                description: Some("Message is reply to one we originated"),
                ..Default::default()
            },
        );
        let bayes = [SPAM_SYMBOL, HAM_SYMBOL].map(|name| {
            let defaults = super::symbols::RuleDefaults {
                description: Some("Bayes statistics"),
                ..Default::default()
            };
            registry.define(&cfg, name, defaults)
        });
        let neural_cfg = super::neural::config::rules(cfg.neural.as_ref())?;
        let neural_symbols = super::neural::define_symbols(&cfg, &mut registry, &neural_cfg);
        // Composites last: their group atoms see every symbol defined above.
        let composites = Composites::compile(&cfg, &mut registry)?;
        let neural_rules = (!neural_cfg.is_empty()).then(|| {
            let composite_symbols: Vec<usize> = composites.list.iter().map(|c| c.symbol).collect();
            NeuralRules::new(neural_cfg, &registry, &composite_symbols, neural_symbols)
        });
        let force = ForceActions::compile(&cfg, &mut registry, &actions)?;
        let scorer = Scorer {
            groups: registry.groups.clone(),
            actions,
            grow_factor: cfg.actions.grow_factor.unwrap_or(1.0),
        };
        let schedule = Schedule::new(&rules, &registry, &composites, &force, &scorer, &cfg);
        let hits = registry.symbols.iter().map(|_| AtomicU64::new(0)).collect();
        let profiles = settings::profiles(cfg.settings.as_ref())?;
        Ok(Pipeline {
            results: ResultsSettings::from_section(cfg.milter_headers.as_ref()),
            profiles,
            neural_rules,
            neural: None,
            whitelist,
            lua,
            hits,
            classifier: None,
            bayes,
            parser: parser(),
            gtube: Gtube::new(cfg.gtube),
            stats: RuleStats::new(schedule.order()),
            rules,
            modules,
            registry,
            gtube_symbol,
            scorer,
            composites,
            force,
            multimap,
            schedule,
            scans: AtomicU64::new(0),
            subject_template: cfg
                .actions
                .subject
                .clone()
                .unwrap_or_else(|| DEFAULT_SUBJECT.to_string()),
            warnings: warnings
                .into_iter()
                .chain(wl_warnings)
                .chain(fuzzy.warnings)
                .collect(),
        })
    }

    /// Non-fatal remarks found while compiling (bad map lines...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn rule_set(&self) -> &RuleSet {
        &self.rules
    }

    /// The enabled content modules.
    pub fn modules(&self) -> &ModuleSet {
        &self.modules
    }

    /// Per-rule counters since start.
    pub fn stats(&self) -> &RuleStats {
        &self.stats
    }

    /// The per-rule counters with each rule's symbol name.
    pub fn rule_stats(&self) -> Vec<(&str, super::stats::RuleStat)> {
        self.stats
            .snapshot()
            .into_iter()
            .filter_map(|st| {
                let rule = self.rules.rules.get(st.rule)?;
                let name = self.registry.symbols.get(rule.symbol)?.name.as_str();
                Some((name, st))
            })
            .collect()
    }

    /// Scans one message. CPU-bound and synchronous; any input, however
    /// malformed, yields a verdict.
    pub fn scan(&self, env: &Envelope, raw: &[u8]) -> Verdict {
        self.scan_with(env, raw, ScanOptions::default())
    }

    /// Scans with per-request options (Rspamd's `Pass: all` request header
    /// maps to `pass_all`).
    pub fn scan_with(&self, env: &Envelope, raw: &[u8], opts: ScanOptions) -> Verdict {
        self.scan_outcome(env, raw, opts).verdict
    }

    /// Like [`Pipeline::scan_with`], with the autolearn candidate for the
    /// caller that owns the Bayes store.
    pub fn scan_outcome(&self, env: &Envelope, raw: &[u8], opts: ScanOptions) -> Scanned {
        self.scan_authenticated(env, raw, opts, &AuthOutcome::default())
    }

    /// [`Pipeline::scan_outcome`] with what the auth phase found: its symbols are scored with
    /// the modules', and DMARC's forced action is the least action.
    pub fn scan_authenticated(
        &self,
        env: &Envelope,
        raw: &[u8],
        opts: ScanOptions,
        auth: &AuthOutcome,
    ) -> Scanned {
        let n = self.scans.fetch_add(1, Ordering::Relaxed);
        self.scan_traced(env, raw, n.is_multiple_of(TIME_SAMPLE_EVERY), opts, auth)
            .0
    }

    /// Scans with every rule timed; returns the verdict and the trace
    /// (`sluice scan --explain`).
    pub fn explain(&self, env: &Envelope, raw: &[u8]) -> (Verdict, Trace) {
        let (scanned, trace) = self.explain_outcome(env, raw);
        (scanned.verdict, trace)
    }

    /// [`Pipeline::explain`] with the autolearn candidate.
    pub fn explain_outcome(&self, env: &Envelope, raw: &[u8]) -> (Scanned, Trace) {
        self.explain_authenticated(env, raw, ScanOptions::default(), &AuthOutcome::default())
    }

    /// [`Pipeline::explain_outcome`] with the request's options (settings) and what the auth
    /// phase found.
    pub fn explain_authenticated(
        &self,
        env: &Envelope,
        raw: &[u8],
        opts: ScanOptions,
        auth: &AuthOutcome,
    ) -> (Scanned, Trace) {
        self.scan_traced(env, raw, true, opts, auth)
    }

    /// Parses a message once for a scan whose auth phase reads it too (the DNS lists' facts):
    /// hand the result to [`Pipeline::scan_parsed`] afterwards.
    pub fn parse(&self, raw: bytes::Bytes) -> Parsed {
        let _scanning = self.scanning();
        Parsed::parse(&self.parser, raw)
    }

    /// Counts a scan, its MIME parse included, in flight for the neural
    /// module's training (which waits for scans) until the guard drops.
    fn scanning(&self) -> Option<Scanning<'_>> {
        self.neural.as_ref().map(Neural::scanning)
    }

    /// [`Pipeline::scan_authenticated`] on a message [`Pipeline::parse`] read already. Its
    /// scan time leaves the parse out.
    pub fn scan_parsed(
        &self,
        env: &Envelope,
        parsed: &Parsed,
        opts: ScanOptions,
        auth: &AuthOutcome,
    ) -> Scanned {
        let _scanning = self.scanning();
        let n = self.scans.fetch_add(1, Ordering::Relaxed);
        let timed = n.is_multiple_of(TIME_SAMPLE_EVERY);
        let view = parsed.view();
        self.scan_view(
            env,
            (parsed.message(), view),
            Instant::now(),
            (timed, opts),
            auth,
        )
        .0
    }

    /// [`Pipeline::explain_authenticated`] on a message [`Pipeline::parse`] read already.
    pub fn explain_parsed(
        &self,
        env: &Envelope,
        parsed: &Parsed,
        opts: ScanOptions,
        auth: &AuthOutcome,
    ) -> (Scanned, Trace) {
        let _scanning = self.scanning();
        let input = (parsed.message(), parsed.view());
        self.scan_view(env, input, Instant::now(), (true, opts), auth)
    }

    /// The values selector `expr` takes on message `raw`, with no envelope
    /// (the controller's `check_message`: a pasted message has none).
    pub fn select(&self, expr: &str, raw: &[u8]) -> Result<Vec<String>, String> {
        let selector = super::multimap::selector::Selector::parse(expr)?;
        let msg = self.parser.parse(raw);
        let view = MessageView::new(raw, msg.as_ref());
        let env = Envelope::default();
        let ctx = ScanCtx {
            env: &env,
            view: &view,
            msg: msg.as_ref(),
        };
        Ok(selector.values(&ctx))
    }

    /// The values of each selector in `exprs` on a message with its envelope, from one
    /// parse (the rate limits' selectors). A selector that does not parse has no values
    /// (they were checked when the configuration was loaded).
    pub fn select_each(
        &self,
        exprs: &[String],
        env: &Envelope,
        raw: &[u8],
    ) -> std::collections::HashMap<String, Vec<String>> {
        let msg = self.parser.parse(raw);
        let view = MessageView::new(raw, msg.as_ref());
        let ctx = ScanCtx {
            env,
            view: &view,
            msg: msg.as_ref(),
        };
        exprs
            .iter()
            .map(|e| {
                let values = super::multimap::selector::Selector::parse(e)
                    .map(|s| s.values(&ctx))
                    .unwrap_or_default();
                (e.clone(), values)
            })
            .collect()
    }

    fn scan_traced(
        &self,
        env: &Envelope,
        raw: &[u8],
        timed: bool,
        opts: ScanOptions,
        auth: &AuthOutcome,
    ) -> (Scanned, Trace) {
        let start = Instant::now();
        let _scanning = self.scanning();
        let msg = self.parser.parse(raw);
        let view = MessageView::new(raw, msg.as_ref());
        self.scan_view(env, (msg.as_ref(), &view), start, (timed, opts), auth)
    }

    /// The scan of a parsed message; `start` is when its scan time began.
    fn scan_view(
        &self,
        env: &Envelope,
        (msg, view): (Option<&Message<'_>>, &MessageView<'_>),
        start: Instant,
        (timed, opts): (bool, ScanOptions),
        auth: &AuthOutcome,
    ) -> (Scanned, Trace) {
        let ctx = ScanCtx { env, view, msg };
        let mut trace = Trace::default();
        let ann_train = opts.ann_train;
        let overridden = opts
            .settings
            .as_ref()
            .filter(|s| !s.actions.is_empty())
            .map(|s| settings::actions_over(s, &self.scorer.actions));
        let actions = overridden.as_ref().unwrap_or(&self.scorer.actions);
        let (mut v, autolearn) = match self.gtube.check(&view.text_parts) {
            Some(action) => (self.gtube_verdict(action, view, actions), None),
            None => self.rule_verdict(&ctx, (timed, auth), opts, actions, &mut trace),
        };
        v.message_id = view.message_id();
        v.thresholds = actions.thresholds();
        self.count_hits(&v);
        let neural = self
            .neural
            .as_ref()
            .map(|n| match ann_train {
                Some(c) => n.learn(&v, c.into()),
                None => n.candidates(&v),
            })
            .unwrap_or_default();
        v.scan_time = start.elapsed();
        trace.total = v.scan_time;
        (
            Scanned {
                verdict: v,
                autolearn,
                neural,
            },
            trace,
        )
    }

    /// Rspamd's GTUBE pre-result: the action is forced, the score becomes
    /// that action's threshold, and no rule runs. Unlike Rspamd 3.4 (which
    /// sends no milter block then) the header edits are kept, so that every
    /// scanned message carries `X-Spamd-Result` and loses spoofed `X-Spam*`
    /// headers, test messages included.
    fn gtube_verdict(
        &self,
        action: Action,
        view: &MessageView<'_>,
        actions: &ActionSet,
    ) -> Verdict {
        let mut board = ScoreBoard::new(&self.scorer, &self.registry.symbols);
        board.insert(self.gtube_symbol, 1.0, None);
        let mut v = Verdict::empty(actions.required_score());
        v.symbols = board.into_symbols().0;
        v.score = actions.threshold(&action).unwrap_or(0.0);
        v.is_skipped = true;
        v.passthrough_module = Some("gtube".into());
        v.smtp_message = Some("Gtube pattern".into());
        self.finish(&mut v, action, view);
        v
    }

    fn rule_verdict(
        &self,
        ctx: &ScanCtx<'_>,
        (timed, auth): (bool, &AuthOutcome),
        opts: ScanOptions,
        actions: &ActionSet,
        trace: &mut Trace,
    ) -> (Verdict, Option<Learnable>) {
        let mut board = ScoreBoard::new(&self.scorer, &self.registry.symbols);
        let t = Instant::now();
        let pre = self.multimap.run(ctx, &mut board);
        trace.multimap = t.elapsed();
        let mut forced = pre.map(|p| Forced {
            module: "multimap".into(),
            score: p.action.threshold,
            action: p.action,
            message: p.message,
        });
        if forced.is_none() {
            // Modules first, so the rules' early stop counts their score.
            let t = Instant::now();
            self.modules.insert(ctx, &mut board);
            self.insert_auth(auth, &mut board);
            self.whitelist.run(ctx, auth, &mut board);
            trace.modules = t.elapsed();
            self.classify(ctx, auth.bayes.as_ref(), &mut board);
            let run = super::schedule::Run {
                stats: &self.stats,
                timed,
                pass_all: opts.pass_all || opts.settings.is_some(),
            };
            self.schedule.run(&self.rules, ctx, &mut board, run, trace);
            let lua = self.lua.run(ctx, &self.registry, &mut board);
            let t = Instant::now();
            self.composites.run(&mut board);
            trace.composites = t.elapsed();
            if let Some(n) = &self.neural {
                n.apply(&mut board);
            }
            // A Lua pre-result wins over force_actions, as Rspamd's
            // prefilter result does.
            forced = lua
                .map(|p| Forced {
                    module: p.module,
                    action: p.action,
                    message: p.message,
                    score: p.score,
                })
                .or_else(|| {
                    self.force.decide(&board, actions).map(|f| Forced {
                        module: "force_actions".into(),
                        action: f.action,
                        message: f.message,
                        score: f.score,
                    })
                });
        }
        let (mut symbols, mut score) = board.into_symbols();
        if let Some(s) = opts.settings.as_deref().filter(|s| s.filters_symbols()) {
            score = self.drop_symbols(s, &mut symbols, score);
        }
        let autolearn = self
            .classifier
            .as_ref()
            .and_then(|c| c.autolearn(ctx.env, ctx.view, score));
        let mut v = Verdict::empty(actions.required_score());
        let action = match &forced {
            Some(f) => {
                if let Some(s) = f.score {
                    score = s;
                }
                v.passthrough_module = Some(f.module.clone());
                v.smtp_message = f.message.clone();
                f.action.effect.clone()
            }
            None => least(actions.effect_for(score), auth.least_action.clone()),
        };
        v.score = score;
        v.symbols = symbols;
        v.urls = ctx.view.found.hosts.clone();
        v.emails = ctx.view.found.emails.clone();
        self.finish(&mut v, action, ctx.view);
        if !auth.hits.is_empty() {
            results::apply(&mut v, ctx.view, ctx.env, &self.results);
        }
        (v, autolearn)
    }

    /// The auth phase's symbols, scored as any module's.
    fn insert_auth(&self, auth: &AuthOutcome, board: &mut ScoreBoard<'_>) {
        for hit in &auth.hits {
            let Some(symbol) = self.registry.find(hit.symbol) else {
                continue;
            };
            let mut opts = hit.options.iter().map(String::as_str);
            board.insert(symbol, 1.0, opts.next());
            for o in opts {
                board.push_option(symbol, o);
            }
        }
        for hit in &auth.lists {
            let Some(symbol) = self.registry.find(&hit.symbol) else {
                continue;
            };
            let mut opts = hit.options.iter().map(String::as_str);
            board.insert(symbol, 1.0, opts.next());
            for o in opts {
                board.push_option(symbol, o);
            }
        }
        for hit in &auth.fuzzy {
            if let Some(symbol) = self.registry.find(&hit.symbol) {
                board.insert_single_with(symbol, hit.multiplier, &hit.option);
            }
        }
    }

    /// Removes the symbols the request's settings disable; returns the score
    /// without their contributions.
    fn drop_symbols(
        &self,
        s: &ScanSettings,
        symbols: &mut Vec<crate::verdict::Symbol>,
        score: f64,
    ) -> f64 {
        let mut dropped = 0.0;
        symbols.retain(|sym| {
            let group = self
                .registry
                .find(&sym.name)
                .and_then(|i| self.registry.symbols[i].group)
                .map(|g| self.registry.groups[g].name.as_str());
            let keep = s.keeps(&sym.name, group);
            if !keep {
                dropped += sym.score;
            }
            keep
        });
        score - dropped
    }

    /// The `Settings-ID` profile of that name, if configured.
    pub fn settings_profile(&self, id: &str) -> Option<Arc<ScanSettings>> {
        self.profiles.get(id).cloned()
    }

    /// Whether [`Pipeline::bayes_ahead`] may give a lookup (the message is then parsed
    /// before the scan).
    pub fn bayes_looks_up_ahead(&self) -> bool {
        self.classifier.as_ref().is_some_and(|c| c.looks_up_ahead())
    }

    /// The Bayes lookup of a parsed message, started for the phase before the scan to
    /// send with its other Redis calls; `None` when there is no classifier or its store
    /// looks up in the scan.
    pub fn bayes_ahead(
        &self,
        env: &Envelope,
        parsed: &Parsed,
    ) -> Option<futures_util::future::BoxFuture<'static, crate::stats::Ahead>> {
        self.classifier.as_ref()?.ahead(env, parsed.view())
    }

    /// Attaches the Bayes classifier: BAYES_SPAM / BAYES_HAM from then on,
    /// and autolearn candidates in [`Scanned`].
    pub fn with_stats(mut self, stats: Option<Arc<Stats>>) -> Pipeline {
        self.classifier = stats.map(|s| s as Arc<dyn Classifier>);
        self
    }

    /// Attaches the neural module's store: from then on its rules apply
    /// their networks and autolearn stores vectors. Without rules, nothing.
    pub fn with_neural(mut self, store: super::neural::AnnStore) -> Pipeline {
        if let Some(rules) = self.neural_rules.take() {
            self.neural = Some(Neural::new(rules, store));
        }
        self
    }

    /// The neural module, once attached.
    pub fn neural(&self) -> Option<&Neural> {
        self.neural.as_ref()
    }

    /// The neural rules' symbol profiles (attached or not).
    pub fn neural_rules(&self) -> Option<&NeuralRules> {
        self.neural
            .as_ref()
            .map(Neural::rules)
            .or(self.neural_rules.as_ref())
    }

    /// Inserts BAYES_SPAM or BAYES_HAM with the classifier's confidence as
    /// the multiplier, before the rules so that early stop accounts for it.
    fn classify(
        &self,
        ctx: &ScanCtx<'_>,
        ahead: Option<&crate::stats::Ahead>,
        board: &mut ScoreBoard<'_>,
    ) {
        let Some(classifier) = &self.classifier else {
            return;
        };
        let hit = match ahead {
            Some(a) => classifier.classify_ahead(a),
            None => classifier.classify(ctx.env, ctx.view),
        };
        if let Some(hit) = hit {
            let symbol = self.bayes[usize::from(!hit.is_spam)];
            board.insert(symbol, hit.confidence, Some(&hit.option));
        }
    }

    fn count_hits(&self, v: &Verdict) {
        for s in &v.symbols {
            if let Some(i) = self.registry.find(&s.name) {
                self.hits[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Actions with a numeric threshold, ascending by threshold.
    pub fn thresholds(&self) -> Vec<(Action, f64)> {
        self.scorer.actions.thresholds()
    }

    /// Rspamd's `required_score`: the highest threshold.
    pub fn required_score(&self) -> f64 {
        self.scorer.actions.required_score()
    }

    /// The multimap rules' map files.
    pub fn map_files(&self) -> Vec<crate::verdict::MapFile> {
        self.multimap.files()
    }

    /// Configured groups, in config order.
    pub fn groups(&self) -> &[super::score::GroupMeta] {
        &self.registry.groups
    }

    /// Every known symbol with its weight, group and hit count.
    pub fn symbols(&self) -> Vec<SymbolInfo> {
        self.registry
            .symbols
            .iter()
            .zip(&self.hits)
            .map(|(m, h)| SymbolInfo {
                name: m.name.clone(),
                weight: m.weight,
                description: m.description.clone(),
                group: m.group.map(|g| self.registry.groups[g].name.clone()),
                hits: h.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Sets the action, the rewritten Subject and the header edits.
    fn finish(&self, v: &mut Verdict, action: Action, view: &MessageView<'_>) {
        if action == Action::RewriteSubject {
            v.subject = Some(headers::rewrite_subject(
                &self.subject_template,
                view.subject().unwrap_or(""),
                v.score,
            ));
        }
        v.action = action;
        v.milter = headers::milter_edits(view, v);
    }
}

/// Typed parsing only where rules or the verdict need it. Every other
/// header is only delimited here: [`MessageView`] turns its raw value into
/// text itself, decoding RFC 2047 words only in values that have them
/// (fewer scan instructions than mail-parser's text parser on every
/// header; `docs/performance.md`).
fn parser() -> MessageParser {
    crate::message::parser()
}

/// Rspamd's "least" pre-result: the stronger of the scored action and the forced one.
fn least(scored: Action, forced: Option<Action>) -> Action {
    match forced {
        Some(f) if f.rank() > scored.rank() => f,
        _ => scored,
    }
}
