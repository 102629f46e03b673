//! DNS lists (Rspamd's `rbl` module): IP lists, URL and domain lists, hashed e-mail lists and
//! whitelisting lists, configured with Rspamd's `rbl { rbls { NAME { ... } } }` schema.
//!
//! It runs in the auth phase ([`crate::scan::auth::phase`]): the facts of a message
//! ([`facts`]) are read once, the whitelisting lists are asked while SPF, DKIM and ARC run,
//! the other lists (and every DKIM-domain check) once DKIM has verified, beside DMARC. Every
//! name of a stage is asked once ([`plan`] deduplicates across rules), all at once, under the
//! message's DNS budget; a list that fails or times out gives no symbol and counts a failure.
//! Answers that mean "query refused" are never scored ([`codes::refused`], [`crate::metrics::rbl`]).
//!
//! Layout: [`settings`] reads the section; [`plan`] decides the names to ask; [`query`]
//! builds them (reversed addresses, hashes); [`codes`] reads the answers; [`crate::metrics::rbl`] counts.

pub mod codes;
pub mod facts;
pub mod plan;
pub mod query;
pub mod settings;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use futures_util::future::join_all;

use self::facts::Facts;
use self::plan::{Plan, Stage, Use, Whitelisted};
use self::settings::{RblSettings, Rule};
use crate::dns::{Budget, DnsError, Resolver};
use crate::metrics::rbl::ListHealth;

/// A list symbol with its options (`element:label`, `element:label:answer` for an unknown
/// answer), as Rspamd reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListHit {
    pub symbol: String,
    pub options: Vec<String>,
}

/// What one stage found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StageResult {
    pub hits: Vec<ListHit>,
    /// Elements the whitelisting lists vouched for (read by the next stage).
    pub whitelisted: Whitelisted,
}

/// The configured lists on the shared resolver.
pub struct RblChecks {
    resolver: Arc<Resolver>,
    settings: RblSettings,
    health: Vec<Arc<ListHealth>>,
}

impl std::fmt::Debug for RblChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RblChecks")
            .field("lists", &self.settings.rules.len())
            .finish()
    }
}

type Answer = Result<Vec<Ipv4Addr>, DnsError>;

impl RblChecks {
    /// `None` when no list is configured.
    pub fn new(resolver: Arc<Resolver>, settings: RblSettings) -> Option<RblChecks> {
        if settings.rules.is_empty() {
            return None;
        }
        let health = settings
            .rules
            .iter()
            .map(|r| Arc::new(ListHealth::new(&r.name, &r.zone)))
            .collect();
        Some(RblChecks {
            resolver,
            settings,
            health,
        })
    }

    pub fn health(&self) -> &[Arc<ListHealth>] {
        &self.health
    }

    /// Whether any rule checks DKIM signing domains (the phase then hands them over).
    pub fn wants_dkim(&self) -> bool {
        self.settings.rules.iter().any(|r| r.checks.dkim)
    }

    /// One stage's lookups, all at once.
    pub async fn stage(
        &self,
        facts: &Facts,
        whitelisted: &Whitelisted,
        stage: Stage,
        budget: Budget,
    ) -> StageResult {
        let plan = Plan::build(&self.settings, facts, whitelisted, stage);
        if plan.is_empty() {
            return StageResult::default();
        }
        let asked = plan.names.iter().map(|(name, _)| self.ask(name, budget));
        let answers = join_all(asked).await;
        let mut found = Found::default();
        for ((_, uses), answer) in plan.names.iter().zip(answers) {
            for u in uses {
                self.read(u, &answer, &mut found);
            }
        }
        found.into_result()
    }

    async fn ask(&self, name: &str, budget: Budget) -> Answer {
        self.resolver.a(name, &budget).await
    }

    fn read(&self, u: &Use, answer: &Answer, found: &mut Found) {
        let rule = &self.settings.rules[u.rule];
        let health = &self.health[u.rule];
        health.query();
        let ips = match answer {
            Ok(ips) => ips,
            Err(DnsError::NxDomain { .. } | DnsError::NoData { .. }) => {
                health.answered();
                return;
            }
            Err(e) => {
                tracing::debug!(list = %rule.name, "rbl: {e}");
                health.failure();
                return;
            }
        };
        let mut listed = false;
        for &ip in ips {
            let matched = rule.codes.matched(ip);
            if codes::refused(ip, matched.as_deref().unwrap_or_default()) {
                health.refused(&ip.to_string());
                continue;
            }
            match matched {
                None => {
                    listed = true;
                    found.add(rule, &rule.symbol, u, None);
                }
                Some(symbols) if !symbols.is_empty() => {
                    listed = true;
                    for s in symbols {
                        found.add(rule, s, u, None);
                    }
                }
                Some(_) if rule.unknown => {
                    listed = true;
                    found.add(rule, &rule.symbol, u, Some(ip));
                }
                Some(_) => health.answered(),
            }
        }
        if listed {
            health.listed();
        }
    }
}

#[derive(Default)]
struct Found {
    hits: BTreeMap<String, Vec<String>>,
    order: Vec<String>,
    whitelisted: Whitelisted,
}

impl Found {
    fn add(&mut self, rule: &Rule, base: &str, u: &Use, answer: Option<Ipv4Addr>) {
        for &label in &u.labels {
            let symbol = rule.symbol_for(base, label);
            let option = match answer {
                Some(ip) => format!("{}:{label}:{ip}", u.orig),
                None => format!("{}:{label}", u.orig),
            };
            if rule.whitelists_with(&symbol) {
                self.whitelisted.insert((u.orig.clone(), label));
            }
            let opts = self.hits.entry(symbol.clone()).or_insert_with(|| {
                self.order.push(symbol);
                Vec::new()
            });
            if !opts.contains(&option) {
                opts.push(option);
            }
        }
    }

    fn into_result(mut self) -> StageResult {
        let hits = self
            .order
            .into_iter()
            .map(|symbol| {
                let options = self.hits.remove(&symbol).unwrap_or_default();
                ListHit { symbol, options }
            })
            .collect();
        StageResult {
            hits,
            whitelisted: self.whitelisted,
        }
    }
}
