//! The module as the pipeline sees it: [`NeuralRules`] is built with the
//! pipeline (its symbols, each rule's profile over the pipeline's symbols);
//! [`Neural`] adds the store and the background thread. Each scan applies
//! the current networks after the composites ([`Neural::apply`]), and once
//! the verdict is decided says what autolearn should store
//! ([`Neural::candidates`]); the scan's owner hands those to the thread
//! ([`Learn::submit`]).
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock, RwLock};

use super::config::RuleConfig;
use super::pace::{Activity, Scanning};
use super::profile::Profile;
use super::store::{AnnStore, Class, Keys};
use super::worker::{self, Job, RuleState};
use crate::scan::score::ScoreBoard;
use crate::scan::symbols::Registry;
use crate::verdict::{Action, Verdict};

/// Vectors waiting for the thread; past this the scans drop theirs.
const QUEUE: usize = 1024;

/// The rules with their symbols and profiles, before a store is attached.
#[derive(Debug)]
pub struct NeuralRules {
    rules: Vec<Arc<RuleState>>,
    /// Per rule: registry indices of its spam and ham symbols.
    symbols: Vec<[usize; 2]>,
    /// Per rule: registry index -> input index (`u32::MAX`: not an input).
    inputs: Vec<Vec<u32>>,
}

impl NeuralRules {
    /// Each rule's profile: every symbol of the registry but composites,
    /// the rules' own symbols and the rule's `blacklisted_symbols`.
    pub fn new(
        configs: Vec<RuleConfig>,
        registry: &Registry,
        composites: &[usize],
        symbols: Vec<[usize; 2]>,
    ) -> NeuralRules {
        let own: Vec<usize> = symbols.iter().flatten().copied().collect();
        let mut rules = Vec::new();
        let mut inputs = Vec::new();
        for cfg in configs {
            let names = registry
                .symbols
                .iter()
                .enumerate()
                .filter(|(i, m)| {
                    !composites.contains(i)
                        && !own.contains(i)
                        && m.name != "GTUBE"
                        && !cfg.blacklisted_symbols.contains(&m.name)
                })
                .map(|(_, m)| m.name.clone());
            let profile = Profile::new(names);
            let map = registry
                .symbols
                .iter()
                .map(|m| {
                    profile
                        .symbols()
                        .binary_search(&m.name)
                        .ok()
                        .and_then(|i| u32::try_from(i).ok())
                        .unwrap_or(u32::MAX)
                })
                .collect();
            inputs.push(map);
            rules.push(Arc::new(RuleState {
                keys: Keys::new(&cfg.prefix, &profile),
                cfg,
                profile,
                current: RwLock::new(None),
                refreshes: AtomicU64::new(0),
                full: [AtomicBool::new(false), AtomicBool::new(false)],
            }));
        }
        NeuralRules {
            rules,
            symbols,
            inputs,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules' profiles, in rule order.
    pub fn profiles(&self) -> impl Iterator<Item = (&RuleConfig, &Profile)> {
        self.rules.iter().map(|r| (&r.cfg, &r.profile))
    }
}

/// The module, ready to scan: rules, store, and the thread (started by the
/// first scan, so a config check never opens the store).
#[derive(Debug)]
pub struct Neural {
    rules: NeuralRules,
    store: AnnStore,
    worker: OnceLock<Option<SyncSender<Job>>>,
    /// The scans in flight, which training runs make way for.
    activity: Arc<Activity>,
}

/// A vector autolearn chose, for the thread.
#[derive(Debug)]
pub struct Learn {
    tx: SyncSender<Job>,
    job: Job,
}

impl Learn {
    /// The training set the vector goes to.
    pub fn class(&self) -> Class {
        self.job.class
    }

    /// Queues the vector; never blocks (a full queue drops it).
    pub fn submit(self) {
        match self.tx.try_send(self.job) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                crate::warn_throttled!("neural: training queue full, vector dropped");
            }
        }
    }
}

impl Neural {
    pub fn new(rules: NeuralRules, store: AnnStore) -> Neural {
        Neural {
            rules,
            store,
            worker: OnceLock::new(),
            activity: Arc::default(),
        }
    }

    /// Counts a scan in flight (training runs wait while there are any)
    /// until the guard drops.
    pub fn scanning(&self) -> Scanning<'_> {
        self.activity.scan()
    }

    pub fn rules(&self) -> &NeuralRules {
        &self.rules
    }

    /// The rule's current network's version (0: none).
    pub fn version(&self, rule: usize) -> u64 {
        self.rules
            .rules
            .get(rule)
            .and_then(|r| r.current())
            .map_or(0, |a| a.version)
    }

    /// How many times the thread has looked at the store for the rule.
    pub fn refreshes(&self, rule: usize) -> u64 {
        self.rules
            .rules
            .get(rule)
            .map_or(0, |r| r.refreshes.load(Ordering::Acquire))
    }

    fn worker(&self) -> Option<&SyncSender<Job>> {
        self.worker
            .get_or_init(|| {
                let (tx, rx) = sync_channel(QUEUE);
                let rules = self.rules.rules.clone();
                let store = self.store.clone();
                let activity = Arc::clone(&self.activity);
                let spawned = std::thread::Builder::new()
                    .name("neural".into())
                    .spawn(move || worker::run(&rules, &store, &rx, &activity));
                match spawned {
                    Ok(_) => Some(tx),
                    Err(e) => {
                        tracing::error!("neural: cannot start the training thread: {e}");
                        None
                    }
                }
            })
            .as_ref()
    }

    /// Adds each rule's symbol from its current network, on what the board
    /// holds now (Rspamd runs the module as a postfilter).
    pub fn apply(&self, board: &mut ScoreBoard<'_>) {
        self.worker();
        for (k, rule) in self.rules.rules.iter().enumerate() {
            let Some(ann) = rule.current() else {
                continue;
            };
            let map = &self.rules.inputs[k];
            let mut inputs = vec![0.0; rule.profile.len()];
            for f in board.fired().iter().filter(|f| !f.hidden) {
                let i = map.get(f.symbol).copied().unwrap_or(u32::MAX);
                if let (Some(slot), Some(x)) = (
                    inputs.get_mut(i as usize),
                    super::profile::input_value(f.score),
                ) {
                    *slot = x;
                }
            }
            let out = f64::from(ann.net.apply(&inputs));
            let (symbol, strength, threshold) = if out > 0.0 {
                (self.rules.symbols[k][0], out, rule.cfg.spam_score_threshold)
            } else {
                (self.rules.symbols[k][1], -out, rule.cfg.ham_score_threshold)
            };
            if strength >= threshold.unwrap_or(0.0) {
                let multiplier = if rule.cfg.flat_threshold_curve {
                    1.0
                } else {
                    strength
                };
                board.insert(symbol, multiplier, Some(&format!("{out:.3}")));
            }
        }
    }

    /// What autolearn stores for this verdict, per rule: Rspamd's
    /// `spam_score` / `ham_score` when set, else its verdict (spam for
    /// reject with more than one positive symbol, or add header / rewrite
    /// subject with more than two; ham for no action with a negative score
    /// or more than three negative symbols). A forced action learns nothing.
    pub fn candidates(&self, v: &Verdict) -> Vec<Learn> {
        if v.passthrough_module.is_some() || !v.score.is_finite() {
            return Vec::new();
        }
        let Some(tx) = self.worker() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, rule) in self.rules.rules.iter().enumerate() {
            let Some(class) = autolearn_class(&rule.cfg, v).filter(|c| !rule.is_full(*c)) else {
                continue;
            };
            let inputs = rule
                .profile
                .inputs(v.symbols.iter().map(|s| (s.name.as_str(), s.score)));
            out.push(Learn {
                tx: tx.clone(),
                job: Job {
                    rule: k,
                    inputs,
                    class,
                },
            });
        }
        out
    }

    /// An explicit learn (controller, `sluice learn`): the message's vector
    /// goes to every rule's `class` set whatever its score.
    pub fn learn(&self, v: &Verdict, class: Class) -> Vec<Learn> {
        let Some(tx) = self.worker() else {
            return Vec::new();
        };
        self.rules
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| !rule.is_full(class))
            .map(|(k, rule)| Learn {
                tx: tx.clone(),
                job: Job {
                    rule: k,
                    inputs: rule
                        .profile
                        .inputs(v.symbols.iter().map(|s| (s.name.as_str(), s.score))),
                    class,
                },
            })
            .collect()
    }
}

/// The class autolearn puts a message of this verdict in, if any.
pub fn autolearn_class(cfg: &RuleConfig, v: &Verdict) -> Option<Class> {
    let t = &cfg.train;
    if !t.autotrain {
        return None;
    }
    let positive = v.symbols.iter().filter(|s| s.score > 0.0).count();
    let negative = v.symbols.iter().filter(|s| s.score < 0.0).count();
    let spam = match t.spam_score {
        Some(s) => v.score >= s,
        None => match v.action {
            Action::Reject => positive > 1,
            Action::AddHeader | Action::RewriteSubject => positive > 2,
            _ => false,
        },
    };
    let ham = match t.ham_score {
        Some(s) => v.score <= s,
        None => v.action == Action::NoAction && (v.score < 0.0 || negative > 3),
    };
    if spam {
        Some(Class::Spam)
    } else if ham {
        Some(Class::Ham)
    } else {
        None
    }
}
