//! The `neural` section (Rspamd's `local.d/neural.conf`):
//! `rules { NAME { train { ... } symbol_spam; symbol_ham; ann_expire; ... } }`.
//!
//! Defaults are those of Rspamd 3.4's rules. As in Rspamd, a section with
//! `train` but no `rules` is one rule named `default` (the legacy form);
//! with neither there is no rule and the module does nothing. Rspamd also
//! needs Redis before it runs any rule; sluice keeps the networks in the
//! embedded store when no Redis is configured for `neural`.
use std::time::Duration;

use serde_json::Value;

use crate::config::value;

/// A `neural` section that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NeuralConfigError {
    #[error("{key}: expected {expected}")]
    Shape { key: String, expected: &'static str },
    #[error("{key}: symbol `{symbol}` is used by another neural rule")]
    DuplicateSymbol { key: String, symbol: String },
}

impl crate::config::SettingError for NeuralConfigError {
    fn key(&self) -> Option<String> {
        match self {
            NeuralConfigError::Shape { key, .. }
            | NeuralConfigError::DuplicateSymbol { key, .. } => Some(key.clone()),
        }
    }
}

/// One rule's `train` block.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Vectors of each class to collect before a training run.
    pub max_trains: usize,
    /// Read for Rspamd's configs; Rspamd 3.4 does not use it either (every
    /// training run starts a new network).
    pub max_usages: u32,
    pub learning_rate: f64,
    pub max_iterations: u32,
    /// Autolearn spam at or above this score; `None`: by the action.
    pub spam_score: Option<f64>,
    /// Autolearn ham at or below this score; `None`: by the action.
    pub ham_score: Option<f64>,
    /// Collect from scans at all (`false`: explicit learns only).
    pub autotrain: bool,
    /// Chance that an eligible message is stored.
    pub train_prob: f64,
    /// How far the classes may drift apart while collecting (balanced mode).
    pub classes_bias: f64,
    /// The share of a core a training run may take while scans are in
    /// flight (sluice's own key; Rspamd trains in a child process). With
    /// no scan in flight the run goes at full speed.
    pub cpu_share: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            max_trains: 1000,
            max_usages: 10,
            learning_rate: 0.01,
            max_iterations: 25,
            spam_score: None,
            ham_score: None,
            autotrain: true,
            train_prob: 1.0,
            classes_bias: 0.0,
            cpu_share: 0.1,
        }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleConfig {
    pub name: String,
    /// Prefix of its keys in the store (Rspamd's `prefix`, the rule's name
    /// unless set).
    pub prefix: String,
    pub train: TrainConfig,
    pub symbol_spam: String,
    pub symbol_ham: String,
    /// Lifetime of a stored network after its last training.
    pub ann_expire: Duration,
    /// How often a stored network is looked for (another node may have
    /// trained one).
    pub watch_interval: Duration,
    /// How long one node's training lock holds.
    pub lock_expire: Duration,
    pub hidden_layer_mult: f64,
    /// The network's answer must reach these to add the symbol (0: any).
    pub spam_score_threshold: Option<f64>,
    pub ham_score_threshold: Option<f64>,
    /// Add the symbol with 1.0 rather than the answer.
    pub flat_threshold_curve: bool,
    /// Symbols left out of the inputs.
    pub blacklisted_symbols: Vec<String>,
}

impl RuleConfig {
    /// Rspamd's defaults for a rule of that name.
    pub fn named(name: &str) -> RuleConfig {
        RuleConfig {
            name: name.to_string(),
            prefix: name.to_string(),
            train: TrainConfig::default(),
            symbol_spam: "NEURAL_SPAM".into(),
            symbol_ham: "NEURAL_HAM".into(),
            ann_expire: Duration::from_secs(2 * 86_400),
            watch_interval: Duration::from_secs(60),
            lock_expire: Duration::from_secs(600),
            hidden_layer_mult: 1.5,
            spam_score_threshold: None,
            ham_score_threshold: None,
            flat_threshold_curve: false,
            blacklisted_symbols: Vec::new(),
        }
    }
}

/// The rules of a `neural` section (none: the module is off).
pub fn rules(section: Option<&Value>) -> Result<Vec<RuleConfig>, NeuralConfigError> {
    let Some(section) = section else {
        return Ok(Vec::new());
    };
    let at = Reader {
        key: "neural".into(),
        value: section,
    };
    if !at.boolean("enabled", true)? {
        return Ok(Vec::new());
    }
    let mut out: Vec<RuleConfig> = Vec::new();
    match section.get("rules") {
        Some(Value::Object(rules)) => {
            for (name, v) in rules {
                let r = Reader {
                    key: format!("neural.rules.{name}"),
                    value: v,
                };
                out.push(rule(name, &r)?);
            }
        }
        Some(_) => return Err(at.shape("rules", "a section of rules")),
        None if section.get("train").is_some() => out.push(rule("default", &at)?),
        None => {}
    }
    for (i, r) in out.iter().enumerate() {
        for sym in [&r.symbol_spam, &r.symbol_ham] {
            let clash = out[..i]
                .iter()
                .any(|o| [&o.symbol_spam, &o.symbol_ham].contains(&sym));
            if clash || r.symbol_spam == r.symbol_ham {
                return Err(NeuralConfigError::DuplicateSymbol {
                    key: format!("neural.rules.{}", r.name),
                    symbol: sym.clone(),
                });
            }
        }
    }
    Ok(out)
}

fn rule(name: &str, r: &Reader<'_>) -> Result<RuleConfig, NeuralConfigError> {
    let d = RuleConfig::named(name);
    let train = match r.value.get("train") {
        Some(t @ Value::Object(_)) => train(&Reader {
            key: format!("{}.train", r.key),
            value: t,
        })?,
        Some(_) => return Err(r.shape("train", "a section")),
        None => TrainConfig::default(),
    };
    Ok(RuleConfig {
        prefix: r.string("prefix", &d.prefix)?,
        symbol_spam: r.string("symbol_spam", &d.symbol_spam)?,
        symbol_ham: r.string("symbol_ham", &d.symbol_ham)?,
        ann_expire: r.duration("ann_expire", d.ann_expire)?,
        watch_interval: r.duration("watch_interval", d.watch_interval)?,
        lock_expire: r.duration("lock_expire", d.lock_expire)?,
        hidden_layer_mult: r.number("hidden_layer_mult", d.hidden_layer_mult)?,
        spam_score_threshold: r.opt_number("spam_score_threshold")?,
        ham_score_threshold: r.opt_number("ham_score_threshold")?,
        flat_threshold_curve: r.boolean("flat_threshold_curve", false)?,
        blacklisted_symbols: r.strings("blacklisted_symbols")?,
        train,
        ..d
    })
}

fn train(r: &Reader<'_>) -> Result<TrainConfig, NeuralConfigError> {
    let d = TrainConfig::default();
    // Rspamd's old spelling of max_trains.
    let max_trains = match r.value.get("max_trains") {
        Some(_) => r.size("max_trains", d.max_trains)?,
        None => r.size("max_train", d.max_trains)?,
    };
    Ok(TrainConfig {
        max_trains: max_trains.max(1),
        max_usages: u32::try_from(r.size("max_usages", d.max_usages as usize)?)
            .map_err(|_| r.shape("max_usages", "a count"))?,
        learning_rate: r.number("learning_rate", d.learning_rate)?,
        max_iterations: u32::try_from(r.size("max_iterations", d.max_iterations as usize)?)
            .map_err(|_| r.shape("max_iterations", "a count"))?,
        spam_score: r.opt_number("spam_score")?,
        ham_score: r.opt_number("ham_score")?,
        autotrain: r.boolean("autotrain", d.autotrain)?,
        train_prob: r.number("train_prob", d.train_prob)?,
        classes_bias: r.number("classes_bias", d.classes_bias)?,
        cpu_share: share(r, d.cpu_share)?,
    })
}

/// `cpu_share`: a fraction of a core, more than 0 and at most 1.
fn share(r: &Reader<'_>, default: f64) -> Result<f64, NeuralConfigError> {
    let v = r.number("cpu_share", default)?;
    if v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(r.shape("cpu_share", "a fraction in (0, 1]"))
    }
}

/// Typed reads of one section, with its dotted key for errors.
struct Reader<'a> {
    key: String,
    value: &'a Value,
}

impl Reader<'_> {
    fn shape(&self, key: &str, expected: &'static str) -> NeuralConfigError {
        NeuralConfigError::Shape {
            key: format!("{}.{key}", self.key),
            expected,
        }
    }

    fn read<T>(
        &self,
        key: &str,
        f: impl Fn(&Value) -> Result<T, value::Expected>,
    ) -> Result<Option<T>, NeuralConfigError> {
        self.value
            .get(key)
            .map(|v| f(v).map_err(|e| self.shape(key, e)))
            .transpose()
    }

    fn string(&self, key: &str, default: &str) -> Result<String, NeuralConfigError> {
        Ok(self
            .read(key, value::string)?
            .unwrap_or_else(|| default.to_string()))
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, NeuralConfigError> {
        Ok(self.read(key, value::strings)?.unwrap_or_default())
    }

    fn duration(&self, key: &str, default: Duration) -> Result<Duration, NeuralConfigError> {
        Ok(self.read(key, value::duration)?.unwrap_or(default))
    }

    fn size(&self, key: &str, default: usize) -> Result<usize, NeuralConfigError> {
        Ok(self.read(key, value::size)?.unwrap_or(default))
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool, NeuralConfigError> {
        Ok(self.read(key, value::boolean)?.unwrap_or(default))
    }

    fn opt_number(&self, key: &str) -> Result<Option<f64>, NeuralConfigError> {
        self.read(key, |v| match v {
            Value::String(s) => crate::config::ucl::type_atom(s).as_f64().ok_or("a number"),
            other => other.as_f64().ok_or("a number"),
        })
    }

    fn number(&self, key: &str, default: f64) -> Result<f64, NeuralConfigError> {
        Ok(self.opt_number(key)?.unwrap_or(default))
    }
}
