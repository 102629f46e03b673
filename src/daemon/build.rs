//! What `run` builds from the files before it binds anything, in one place so
//! that `sluice configtest` builds the same and fails wherever `run` would:
//! logging, the Bayes store, the rules (Lua loaded), forward mode's upstream
//! blocks, the HTTP workers and every listener address (parsed, not bound).
//!
//! Errors about one setting get the file and line that set it in front.
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use super::{DaemonError, RunOptions};
use crate::config::{Config, LoadOptions, SettingError};
use crate::dns::Resolver;
use crate::forward::ForwardScanner;
use crate::milter::session::SessionContext;
use crate::redis::{Client, RedisConfig};
use crate::scan::auth::hosts::HostChecks;
use crate::scan::auth::{AuthChecks, AuthSettings};
use crate::scan::fuzzy::check::FuzzyChecks;
use crate::scan::neural::AnnStore;
use crate::scan::rbl::settings::RblSettings;
use crate::scan::rbl::RblChecks;
use crate::scan::{LocalScanner, Pipeline, ScanConfigError, Scanner};
use crate::sign::Signer;
use crate::state::store::{Lazy, Store};
use crate::state::{StateChecks, StateConfigError};
use crate::stats::Stats;

/// A session context built from a config, and what else the caller reports.
pub struct Built {
    pub ctx: SessionContext,
    /// Milter mail goes to an upstream rather than the local pipeline.
    pub forwarding: bool,
    /// Non-fatal remarks of the rules (bad map lines...).
    pub rule_warnings: Vec<String>,
}

/// Turns a setting's error into one that names where the setting was made.
fn located<E>(config: &Config) -> impl Fn(E) -> DaemonError + '_
where
    E: SettingError + Into<DaemonError>,
{
    move |e| match e.key() {
        Some(key) => DaemonError::Located {
            at: config.locate(&key),
            error: Box::new(e.into()),
        },
        None => e.into(),
    }
}

/// Which setting a rules error is about. Here rather than in `scan/`, whose
/// errors name their section in words: only the daemon holds the positions.
impl SettingError for ScanConfigError {
    fn key(&self) -> Option<String> {
        Some(match self {
            ScanConfigError::Shape { section, .. } => section.clone(),
            ScanConfigError::Expression { symbol, .. }
            | ScanConfigError::Regex { symbol, .. }
            | ScanConfigError::UnsupportedType { symbol, .. } => format!("regexp.{symbol}"),
            ScanConfigError::Composite { name, .. } => format!("composites.{name}"),
            ScanConfigError::ForceAction { name, .. } => format!("force_actions.rules.{name}"),
            ScanConfigError::Multimap { name, .. } => format!("multimap.{name}"),
            ScanConfigError::Config(e) => return e.key(),
            ScanConfigError::Auth { section, .. } => section.clone(),
            ScanConfigError::Rbl { list, .. } if list.is_empty() => "rbl".to_string(),
            ScanConfigError::Rbl { list, .. } => format!("rbl.rbls.{list}"),
            ScanConfigError::Module { key, .. } => key.clone(),
            ScanConfigError::Neural(e) => return e.key(),
            ScanConfigError::Fuzzy(_) => "fuzzy_check".to_string(),
            ScanConfigError::Settings(_) | ScanConfigError::Lua(_) => return None,
        })
    }
}

/// Opens the Bayes store once for the process (reloads keep it). A store
/// out of reach at start comes up by itself later; a bad `classifier
/// "bayes"` section stops the start, as any other bad section does.
pub fn open_stats(config: &Config) -> Result<Option<Arc<Stats>>, DaemonError> {
    Stats::for_daemon(config.bayes.as_ref()).map_err(located(config))
}

/// Loads and validates everything a session needs; nothing is bound here.
pub fn build_context(
    load: &LoadOptions,
    stats: &Option<Arc<Stats>>,
) -> Result<(Built, Config), DaemonError> {
    build_from(Config::load(load)?, stats)
}

/// The session context for an already loaded config.
pub fn build_from(
    config: Config,
    stats: &Option<Arc<Stats>>,
) -> Result<(Built, Config), DaemonError> {
    let forward = &config.forward;
    let pipeline = Pipeline::new(&config.rules)
        .map_err(located(&config))?
        .with_stats(stats.clone())
        .with_neural(neural_store(&config)?);
    let rule_warnings = pipeline.warnings().to_vec();
    let pipeline = Arc::new(pipeline);
    let mut settings = config.milter.session.clone();
    // The pipeline stays as the fallback for what the upstreams refuse for size.
    let signer = Signer::from_tree(&config.tree)
        .map_err(located(&config))?
        .map(Arc::new);
    let auth = auth_checks(&config)?;
    let state = StateChecks::from_tree(&config.tree, settings.scan_timeout)
        .map_err(located(&config))?
        .map(Arc::new);
    if let Some(s) = &state {
        s.check_selectors(|e| crate::verdict::RuleBook::check_selector(&*pipeline, e))
            .map_err(located(&config))?;
    }
    // Checked here so that configtest refuses what the start would; applied at start.
    crate::history::shared::HistorySettings::from_tree(&config.tree).map_err(located(&config))?;
    let fuzzy = fuzzy_checks(&config)?;
    let fuzzy_budget = fuzzy
        .as_ref()
        .map_or(Duration::ZERO, |f| f.budget(settings.scan_timeout));
    let local: Arc<dyn Scanner> = Arc::new(
        LocalScanner::new(pipeline)
            .with_learner(stats.clone())
            .with_signer(signer)
            .with_auth(auth)
            .with_state(state)
            .with_fuzzy(fuzzy, fuzzy_budget),
    );
    let scanner: Arc<dyn Scanner> =
        match ForwardScanner::from_settings(forward, Some(local.clone()))? {
            Some(f) => {
                let group = forward.forward_group().map(|g| g.timeout);
                // The forward deadline must fire first so the MTA hears its reason.
                if let Some(t) = group {
                    settings.scan_timeout = settings.scan_timeout.max(t + Duration::from_secs(1));
                }
                info!(
                    "forward mode: scanning on upstream `{}`",
                    f.upstreams().name
                );
                Arc::new(f)
            }
            None => local,
        };
    let built = Built {
        ctx: SessionContext { settings, scanner },
        forwarding: forward.forward_group().is_some(),
        rule_warnings,
    };
    Ok((built, config))
}

/// Where the neural module keeps its vectors and networks: Redis when one
/// is configured for `neural` (Rspamd's only choice), else the embedded
/// store the state modules use. Its calls run on the module's own thread,
/// bounded by `neural.timeout` (Rspamd's shipped value).
pub fn neural_store(config: &Config) -> Result<AnnStore, DaemonError> {
    let tree = &config.tree;
    let timeout = tree
        .pointer("/neural/timeout")
        .and_then(|v| crate::config::value::duration(v).ok())
        .unwrap_or(Duration::from_secs(20));
    let redis = RedisConfig::for_module(tree, "neural")
        .map_err(StateConfigError::from)
        .map_err(located(config))?;
    let store = match redis {
        Some(cfg) => Store::Redis(Client::new(cfg)),
        None => {
            let path = tree
                .pointer("/state/path")
                .and_then(serde_json::Value::as_str)
                .unwrap_or(crate::state::DEFAULT_PATH);
            Store::Embedded(Arc::new(Lazy::new(path.into())))
        }
    };
    Ok(AnnStore { store, timeout })
}

/// The auth checks on a resolver of their own configuration's `options.dns`, counting into
/// the process's DNS counters (shown on `/metrics`). A reload builds a new resolver with a
/// new cache.
///
/// The checks need a nameserver named in `options.dns.nameserver`: without one they are off
/// (as are their symbols), so no configuration sends a query anywhere unless it says where.
pub fn auth_checks(config: &Config) -> Result<Option<Arc<AuthChecks>>, DaemonError> {
    let settings = AuthSettings::from_tree(&config.tree).map_err(located(config))?;
    let lists = RblSettings::from_section(config.tree.get("rbl")).map_err(located(config))?;
    let hosts = HostChecks::from_section(config.tree.get("hfilter")).map_err(located(config))?;
    crate::metrics::rbl::publish(&[]);
    let nothing = !settings.any_enabled() && lists.rules.is_empty() && hosts.is_none();
    if config.dns.nameservers.is_empty() || nothing {
        return Ok(None);
    }
    let metrics = crate::dns::metrics::process();
    let resolver =
        Resolver::with_metrics(&config.dns, Arc::clone(&metrics)).map_err(located(config))?;
    crate::metrics::global()
        .sections
        .register("dns", move |out| {
            crate::dns::metrics::render(out, &metrics.snapshot())
        });
    let resolver = Arc::new(resolver);
    let rbl = RblChecks::new(Arc::clone(&resolver), lists);
    if let Some(r) = &rbl {
        crate::metrics::rbl::publish(r.health());
        crate::metrics::global().sections.register("rbl", |out| {
            crate::metrics::rbl::render(out, &crate::metrics::rbl::snapshots())
        });
    }
    let budget = config.dns.message_budget;
    Ok(AuthChecks::with_lists(resolver, settings, budget, rbl, hosts).map(Arc::new))
}

/// fuzzy_check's rules with their clients, counted on `/metrics`; `None`
/// without rules (the shipped configuration has none).
pub fn fuzzy_checks(config: &Config) -> Result<Option<Arc<FuzzyChecks>>, DaemonError> {
    let checks = FuzzyChecks::from_section(config.tree.get("fuzzy_check"))
        .map_err(|e| located(config)(ScanConfigError::from(e)))?;
    crate::metrics::fuzzy::publish(&checks.as_ref().map(|c| c.counters()).unwrap_or_default());
    if checks.is_some() {
        crate::metrics::global()
            .sections
            .register("fuzzy", crate::metrics::fuzzy::render);
    }
    let checks = checks.map(Arc::new);
    crate::verdict::fuzzy::publish(checks.as_ref().map(|c| {
        Arc::new(crate::scan::fuzzy::check::Learner(Arc::clone(c)))
            as Arc<dyn crate::verdict::fuzzy::FuzzyLearner>
    }));
    Ok(checks)
}

/// `sluice configtest`: builds what `run` builds before binding, with the
/// Bayes store opened read-only and the listeners parsed but not bound.
/// Returns the warnings `run` would log.
pub fn check(opts: &RunOptions) -> Result<Vec<String>, DaemonError> {
    let config = Config::load(&opts.load)?;
    crate::log::check(&config.logging)?;
    let mut warnings =
        crate::stats::check::check(config.bayes.as_ref()).map_err(located(&config))?;
    let (built, config) = build_from(config, &None)?;
    super::listeners::wanted(&config.milter, &config.http, opts)?;
    warnings.splice(0..0, config.warnings.iter().cloned());
    warnings.extend(built.rule_warnings);
    Ok(warnings)
}
