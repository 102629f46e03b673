//! Bayes statistics: tokenize, look up, classify; learn; store.
//!
//! # Flow
//! - [`tokenizer`]: words of the text parts and a few headers -> OSB pairs
//!   -> 64-bit hashes.
//! - [`store`]: token counts, embedded (redb file) or Redis, behind
//!   [`store::Store`]; opened once per process and shared by all scans.
//! - [`classifier`]: Rspamd's Bayes math -> spam probability -> `BAYES_SPAM`
//!   or `BAYES_HAM` with a confidence that scales the symbol's weight.
//! - [`learn`]: walking directories, mboxes and Maildirs for `sluice learn`.
//!
//! Nothing here knows the scan: the pipeline calls [`Stats::classify`]
//! through its own classifier trait, and autolearn is a [`Learnable`] the
//! scan hands back for the store's owner to learn after the verdict.
//!
//! A scan never fails because of statistics: a store error or timeout is
//! logged (identical lines once per interval) and the message is scored
//! without Bayes. The daemon's store survives outages: Redis reconnects by
//! itself, an embedded file locked at start is opened once it is free.
pub mod check;
pub mod classifier;
pub mod error;
pub mod learn;
pub mod store;
mod token_sort;
pub mod tokenizer;

use std::sync::Arc;

use mail_parser::{HeaderName, MessageParser};
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

pub use crate::config::bayes::{Autolearn, Backend, StatsConfig};
pub use classifier::{Learns, Outcome, Skip, Tuning};
pub use error::StatsError;
pub use store::{Class, LearnOutcome, Store, StoreError, StoreStat};

use crate::message::Envelope;
use crate::message::MessageView;
use crate::metrics::LearnResult;
use store::{CacheLimits, EmbeddedStore, LearnRequest, PendingStore, RedisStore};

/// Rspamd's symbol names; their weights come from the `statistics` group.
pub const SPAM_SYMBOL: &str = "BAYES_SPAM";
pub const HAM_SYMBOL: &str = "BAYES_HAM";

/// A message's tokens and their counts, looked up before the scan ([`Stats::ahead`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Ahead {
    tokens: Vec<tokenizer::Token>,
    fetched: Result<(Learns, Vec<classifier::Counts>), StoreError>,
}

/// What Bayes says about one message, ready to become a symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct BayesHit {
    /// [`SPAM_SYMBOL`] or [`HAM_SYMBOL`].
    pub symbol: String,
    pub is_spam: bool,
    /// 0..=1; the symbol's configured weight is multiplied by it, so a
    /// barely-decided message gets a small part of the weight.
    pub confidence: f64,
    /// The symbol's option, Rspamd's style: `"99.12%"`.
    pub option: String,
}

/// The statistics handle: config plus an open store. Share it with `Arc`.
#[derive(Debug)]
pub struct Stats {
    cfg: StatsConfig,
    store: Box<dyn Store>,
    parser: MessageParser,
}

impl Stats {
    /// Opens the configured store (`Config::bayes`); `Ok(None)` when Bayes
    /// is not configured or disabled.
    pub fn from_config(cfg: Option<&StatsConfig>) -> Result<Option<Arc<Stats>>, StatsError> {
        match cfg {
            Some(cfg) if cfg.enabled => Ok(Some(Arc::new(Stats::open(cfg.clone())?))),
            _ => Ok(None),
        }
    }

    /// Like [`Stats::from_config`], but an embedded store that does not exist
    /// yet is not created: `sluice scan` must not leave files behind.
    pub fn open_existing(cfg: Option<&StatsConfig>) -> Result<Option<Arc<Stats>>, StatsError> {
        match cfg {
            Some(StatsConfig {
                backend: Backend::Embedded { path },
                ..
            }) if !path.exists() => Ok(None),
            _ => Stats::from_config(cfg),
        }
    }

    /// The daemon's store: like [`Stats::from_config`], but a store out of
    /// reach at start (Redis down, the embedded file locked) is not an
    /// error. Scans go on without Bayes and the store comes up by itself
    /// once it can: no restart or reload needed.
    pub fn for_daemon(cfg: Option<&StatsConfig>) -> Result<Option<Arc<Stats>>, StatsError> {
        let Some(cfg) = cfg.filter(|c| c.enabled).cloned() else {
            return Ok(None);
        };
        let store: Box<dyn Store> = match &cfg.backend {
            Backend::Embedded { path } => {
                let (path, limits, max) = (path.clone(), CacheLimits::of(&cfg), cfg.max_tokens);
                PendingStore::open(Box::new(move || {
                    EmbeddedStore::open_with(&path, limits)
                        .map(|s| Box::new(s.with_max_tokens(max)) as Box<dyn Store>)
                }))
            }
            Backend::Redis(r) => Box::new(RedisStore::open_or_reconnect((**r).clone())?),
        };
        Ok(Some(Arc::new(Stats::with_store(cfg, store))))
    }

    /// Opens the store `cfg` names.
    pub fn open(cfg: StatsConfig) -> Result<Stats, StatsError> {
        let store: Box<dyn Store> = match &cfg.backend {
            Backend::Embedded { path } => Box::new(
                EmbeddedStore::open_with(path, CacheLimits::of(&cfg))?
                    .with_max_tokens(cfg.max_tokens),
            ),
            Backend::Redis(r) => Box::new(RedisStore::open((**r).clone())?),
        };
        Ok(Stats::with_store(cfg, store))
    }

    /// Uses an already open store (tests, benchmarks).
    pub fn with_store(cfg: StatsConfig, store: Box<dyn Store>) -> Stats {
        Stats {
            cfg,
            store,
            parser: parser(),
        }
    }

    pub fn config(&self) -> &StatsConfig {
        &self.cfg
    }

    /// Classifies a parsed message. Never fails the scan: store trouble is
    /// logged and yields `None`, like an undecided message.
    pub fn classify(&self, env: &Envelope, view: &MessageView<'_>) -> Option<BayesHit> {
        self.told(self.probability(env, view))
    }

    /// Tokenizes a message and starts its lookup on the store's async client, for the
    /// phase before the scan to send with its other Redis calls; `None` when the store
    /// has no such client or the classifier skips the message (too few learns), and the
    /// pipeline then classifies the usual way.
    pub fn ahead(
        &self,
        env: &Envelope,
        view: &MessageView<'_>,
    ) -> Option<impl std::future::Future<Output = Ahead> + Send + 'static> {
        // Before tokenizing: a store that looks up in the scan would have it done twice.
        if !self.looks_up_ahead() {
            return None;
        }
        let user = self.user(env);
        let learns = self.store.learns(user).ok()?;
        classifier::check_learns(&self.cfg.tuning, learns).ok()?;
        let tokens = tokenizer::tokenize(view);
        let hashes: Vec<u64> = tokens.iter().map(|t| t.hash).collect();
        let lookup = self.store.lookup_ahead(user, hashes)?;
        Some(async move {
            Ahead {
                tokens,
                fetched: lookup.await,
            }
        })
    }

    /// Whether [`Stats::ahead`] may give a lookup (the store has an async client and is up).
    pub fn looks_up_ahead(&self) -> bool {
        self.store.looks_up_ahead()
    }

    /// [`Stats::classify`] on a lookup made ahead ([`Stats::ahead`]).
    pub fn classify_ahead(&self, a: &Ahead) -> Option<BayesHit> {
        let outcome = match &a.fetched {
            Ok((learns, counts)) => {
                classifier::classify(&self.cfg.tuning, *learns, &a.tokens, counts)
                    .map_err(ClassifyError::Skip)
            }
            Err(e) => Err(ClassifyError::Store(e.clone())),
        };
        self.told(outcome)
    }

    /// The hit of a classification; its failure logged (never the scan's).
    fn told(&self, outcome: Result<Outcome, ClassifyError>) -> Option<BayesHit> {
        match outcome {
            Ok(o) => self.hit(&o),
            Err(ClassifyError::Skip(s)) => {
                tracing::trace!("bayes: skipped: {s:?}");
                None
            }
            Err(ClassifyError::Store(e)) => {
                if e.is_unavailable() {
                    tracing::trace!("bayes: not classified: {e}");
                } else {
                    crate::warn_throttled!("bayes: not classified: {e}");
                }
                None
            }
        }
    }

    /// The raw classifier result (the evaluation reads it).
    pub fn probability(
        &self,
        env: &Envelope,
        view: &MessageView<'_>,
    ) -> Result<Outcome, ClassifyError> {
        let user = self.user(env);
        // Cheap first: below min_learns the classifier skips anyway, and
        // tokenizing would be most of the cost of a scan on a new store.
        let learns = self.store.learns(user).map_err(ClassifyError::Store)?;
        classifier::check_learns(&self.cfg.tuning, learns).map_err(ClassifyError::Skip)?;
        let tokens = tokenizer::tokenize(view);
        let hashes: Vec<u64> = tokens.iter().map(|t| t.hash).collect();
        let (learns, counts) = self
            .store
            .lookup(user, &hashes)
            .map_err(ClassifyError::Store)?;
        classifier::classify(&self.cfg.tuning, learns, &tokens, &counts)
            .map_err(ClassifyError::Skip)
    }

    fn hit(&self, o: &Outcome) -> Option<BayesHit> {
        let (is_spam, confidence) = o.decision()?;
        let sure = if is_spam {
            o.spam_prob
        } else {
            1.0 - o.spam_prob
        };
        Some(BayesHit {
            symbol: if is_spam { SPAM_SYMBOL } else { HAM_SYMBOL }.to_string(),
            is_spam,
            confidence,
            option: format!("{:.2}%", sure * 100.0),
        })
    }

    /// Learns a raw message as `class` (`/learnspam`, `/learnham`, `sluice
    /// learn`). Relearning under the other class moves the message.
    pub fn learn(
        &self,
        class: Class,
        env: &Envelope,
        raw: &[u8],
    ) -> Result<LearnOutcome, StatsError> {
        let msg = self.parser.parse(raw);
        let view = MessageView::new(raw, msg.as_ref());
        self.learn_view(class, env, &view)
    }

    /// Learns an already parsed message.
    pub fn learn_view(
        &self,
        class: Class,
        env: &Envelope,
        view: &MessageView<'_>,
    ) -> Result<LearnOutcome, StatsError> {
        self.learn_prepared(&self.prepare(class, env, view))
    }

    /// What learning `view` as `class` writes: pure, no store access, so a
    /// scan can make it while the parsed message is at hand and leave the
    /// write to the store's owner.
    pub fn prepare(&self, class: Class, env: &Envelope, view: &MessageView<'_>) -> Learnable {
        Learnable {
            class,
            user: self.user(env),
            digest: digest(view),
            tokens: tokenizer::tokenize(view).iter().map(|t| t.hash).collect(),
        }
    }

    /// Writes a prepared message to the store.
    pub fn learn_prepared(&self, l: &Learnable) -> Result<LearnOutcome, StatsError> {
        let req = LearnRequest {
            user: l.user,
            digest: l.digest,
            class: l.class,
            tokens: &l.tokens,
        };
        let learned = self.store.learn(&req);
        let result = match &learned {
            Ok(LearnOutcome::Learned) => LearnResult::Learned,
            Ok(LearnOutcome::Moved { .. }) => LearnResult::Moved,
            Ok(LearnOutcome::AlreadyLearned) => LearnResult::AlreadyLearned,
            Err(_) => LearnResult::Error,
        };
        crate::metrics::global()
            .learns
            .record(l.class == Class::Spam, result);
        Ok(learned?)
    }

    /// What autolearn would learn for a message of this score, when
    /// configured and the score is beyond a threshold. Pure: the scan asks
    /// it, the store's owner learns it after the verdict ([`Stats::autolearn`]).
    pub fn autolearn_candidate(
        &self,
        env: &Envelope,
        view: &MessageView<'_>,
        score: f64,
    ) -> Option<Learnable> {
        let al = self.cfg.autolearn.as_ref()?;
        let class = if score >= al.spam_threshold {
            Class::Spam
        } else if score <= al.ham_threshold {
            Class::Ham
        } else {
            return None;
        };
        Some(self.prepare(class, env, view))
    }

    /// Autolearn after a scan. Failures are logged, never returned: the
    /// scan is done.
    pub fn autolearn(&self, l: &Learnable) -> Option<LearnOutcome> {
        match self.learn_prepared(l) {
            Ok(o) => Some(o),
            Err(StatsError::Store(e)) if e.is_unavailable() => {
                tracing::trace!("bayes: no autolearn: {e}");
                None
            }
            Err(e) => {
                crate::warn_throttled!("bayes: autolearn as {} failed: {e}", l.class.as_str());
                None
            }
        }
    }

    pub fn stat(&self) -> Result<StoreStat, StatsError> {
        Ok(self.store.stat()?)
    }

    /// Bulk learning on/off (`sluice learn`, the evaluation): the embedded
    /// store journals and batches meanwhile.
    pub fn bulk(&self, on: bool) -> Result<(), StatsError> {
        Ok(self.store.bulk(on)?)
    }

    /// Makes all learns durable (end of `sluice learn`).
    pub fn sync(&self) -> Result<(), StatsError> {
        Ok(self.store.sync()?)
    }

    /// Gives the store's unused space back (end of `sluice learn`).
    pub fn compact(&mut self) -> Result<(), StatsError> {
        Ok(self.store.compact()?)
    }

    /// Per-user namespace: the SMTP AUTH user, else the first recipient
    /// (Rspamd's `User` / `Deliver-To`); 0 = global.
    fn user(&self, env: &Envelope) -> u64 {
        if !self.cfg.per_user {
            return 0;
        }
        let who = env
            .user
            .as_deref()
            .or(env.rcpts.first().map(String::as_str));
        who.filter(|w| !w.is_empty())
            .map_or(0, |w| xxh3_64(w.to_lowercase().as_bytes()) | 1)
    }
}

/// A message ready to be learned: its tokens hashed, its identity and
/// namespace known. Data only; nothing is written until
/// [`Stats::learn_prepared`].
#[derive(Debug, Clone, PartialEq)]
pub struct Learnable {
    pub class: Class,
    user: u64,
    digest: u128,
    tokens: Vec<u64>,
}

/// Why a message got no Bayes probability.
#[derive(Debug)]
pub enum ClassifyError {
    Skip(Skip),
    Store(StoreError),
}

/// A message's identity for relearning: its Message-ID, else its bytes.
pub fn digest(view: &MessageView<'_>) -> u128 {
    match view.message_id() {
        Some(id) => xxh3_128(format!("mid:{id}").as_bytes()),
        None => xxh3_128(view.raw),
    }
}

/// The parts of a message the tokenizer reads, parsed as the scan does.
fn parser() -> MessageParser {
    MessageParser::new()
        .with_mime_headers()
        .with_address_headers()
        .header_id(HeaderName::MessageId)
        .header_text(HeaderName::Subject)
        .default_header_text()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use classifier::Counts;

    /// Reports fixed totals and counts how often tokens are looked up.
    #[derive(Debug)]
    struct Fixed {
        learns: Learns,
        lookups: Arc<AtomicUsize>,
    }

    impl Store for Fixed {
        fn lookup(&self, _: u64, tokens: &[u64]) -> Result<(Learns, Vec<Counts>), StoreError> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            Ok((self.learns, vec![Counts::default(); tokens.len()]))
        }
        fn learns(&self, _: u64) -> Result<Learns, StoreError> {
            Ok(self.learns)
        }
        fn learn(&self, _: &LearnRequest<'_>) -> Result<LearnOutcome, StoreError> {
            Ok(LearnOutcome::Learned)
        }
        fn stat(&self) -> Result<StoreStat, StoreError> {
            Ok(StoreStat::default())
        }
        /// Counted: a store without an async client must not be asked (the message
        /// would be tokenized for nothing).
        fn lookup_ahead(&self, _: u64, _: Vec<u64>) -> Option<store::api::LookupFuture> {
            self.lookups.fetch_add(1000, Ordering::Relaxed);
            None
        }
    }

    fn probability(spam: u64, ham: u64) -> (Result<Outcome, ClassifyError>, usize) {
        let cfg = StatsConfig::from_tree(&serde_json::json!({"classifier": {"bayes": {}}}))
            .unwrap()
            .unwrap();
        let lookups = Arc::new(AtomicUsize::new(0));
        let store = Fixed {
            learns: Learns { spam, ham },
            lookups: Arc::clone(&lookups),
        };
        let stats = Stats::with_store(cfg, Box::new(store));
        let raw = b"Subject: hello\r\n\r\nsome words for the tokenizer to see here\r\n";
        let msg = stats.parser.parse(&raw[..]);
        let view = MessageView::new(raw, msg.as_ref());
        let out = stats.probability(&Envelope::default(), &view);
        (out, lookups.load(Ordering::Relaxed))
    }

    #[test]
    fn below_min_learns_no_token_is_looked_up() {
        let (out, lookups) = probability(199, 5000);
        assert!(matches!(
            out,
            Err(ClassifyError::Skip(Skip::NotEnoughLearns { spam: 199, .. }))
        ));
        assert_eq!(lookups, 0);
    }

    #[test]
    fn a_store_without_an_async_client_is_not_asked_ahead() {
        let cfg = StatsConfig::from_tree(&serde_json::json!({"classifier": {"bayes": {}}}))
            .unwrap()
            .unwrap();
        let lookups = Arc::new(AtomicUsize::new(0));
        let store = Fixed {
            learns: Learns {
                spam: 500,
                ham: 500,
            },
            lookups: Arc::clone(&lookups),
        };
        let stats = Stats::with_store(cfg, Box::new(store));
        let raw = b"Subject: hello\r\n\r\nsome words for the tokenizer to see here\r\n";
        let msg = stats.parser.parse(&raw[..]);
        let view = MessageView::new(raw, msg.as_ref());
        assert!(!stats.looks_up_ahead());
        assert!(stats.ahead(&Envelope::default(), &view).is_none());
        assert_eq!(lookups.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn with_enough_learns_tokens_are_looked_up() {
        let (out, lookups) = probability(200, 200);
        assert!(matches!(
            out,
            Err(ClassifyError::Skip(Skip::NotEnoughTokens(0)))
        ));
        assert_eq!(lookups, 1);
    }
}
