//! The auth phase for one message: SPF, DKIM and ARC at once (their lookups concurrent on the
//! shared resolver), then DMARC on their results; all under the message's DNS budget. A check
//! the budget cuts short ends with its DNS-failure symbol; the scan goes on either way.
//!
//! Awaiting here yields: on a milter session thread the thread's other sessions run while
//! this message waits for DNS.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_auth::dmarc::Policy;
use mail_auth::AuthenticatedMessage;

use super::hit::Hit;
use super::hosts::{self, HostChecks};
use super::settings::{AuthSettings, ModuleSwitch};
use super::spf::SpfVerdict;
use super::{arc, dkim, dmarc, spf};
use crate::dns::{Budget, FailureKind, Resolver};
use crate::message::{Envelope, MessageView};
use crate::scan::rbl::facts::Facts;
use crate::scan::rbl::plan::Stage;
use crate::scan::rbl::{ListHit, RblChecks};
use crate::verdict::Action;

/// The configured checks on the shared resolver. Built with the pipeline; cheap to share.
pub struct AuthChecks {
    resolver: Arc<Resolver>,
    settings: AuthSettings,
    budget: Duration,
    rbl: Option<RblChecks>,
    hosts: Option<HostChecks>,
}

impl std::fmt::Debug for AuthChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthChecks")
            .field("settings", &self.settings)
            .field("budget", &self.budget)
            .finish()
    }
}

/// What the phase found for one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthOutcome {
    pub hits: Vec<Hit>,
    /// The action DMARC's `actions` ask for at least (a failed reject or quarantine policy).
    pub least_action: Option<Action>,
    /// The DNS lists' symbols (names from the configuration).
    pub lists: Vec<ListHit>,
    /// fuzzy_check's symbols, each with its dynamic weight.
    pub fuzzy: Vec<crate::scan::fuzzy::check::FuzzyHit>,
    /// The Bayes lookup, when it went out with the state modules' Redis calls.
    pub bayes: Option<crate::stats::Ahead>,
}

impl AuthChecks {
    /// `None` when no check is enabled.
    pub fn new(resolver: Arc<Resolver>, settings: AuthSettings, budget: Duration) -> Option<Self> {
        settings.any_enabled().then_some(AuthChecks {
            resolver,
            settings,
            budget,
            rbl: None,
            hosts: None,
        })
    }

    /// The checks with the DNS lists and hfilter's host lookups too; `None` when none has
    /// anything to do.
    pub fn with_lists(
        resolver: Arc<Resolver>,
        settings: AuthSettings,
        budget: Duration,
        rbl: Option<RblChecks>,
        hosts: Option<HostChecks>,
    ) -> Option<Self> {
        let any = settings.any_enabled() || rbl.is_some() || hosts.is_some();
        any.then_some(AuthChecks {
            resolver,
            settings,
            budget,
            rbl,
            hosts,
        })
    }

    pub fn lists(&self) -> Option<&RblChecks> {
        self.rbl.as_ref()
    }

    pub fn resolver(&self) -> &Arc<Resolver> {
        &self.resolver
    }

    /// Whether the phase reads the parsed message (the DNS lists' facts). A caller that scans
    /// afterwards then parses once ([`crate::scan::Pipeline::parse`]) and runs the phase with
    /// [`AuthChecks::run_parsed`].
    pub fn reads_message(&self) -> bool {
        self.rbl.is_some()
    }

    /// Runs every enabled check on one message, parsing it for the lists' facts if they need
    /// them.
    pub async fn run(&self, env: &Envelope, raw: &[u8]) -> AuthOutcome {
        let facts = self
            .rbl
            .as_ref()
            .map(|_| crate::scan::rbl::facts::read(env, raw));
        self.run_with(env, raw, facts).await
    }

    /// [`AuthChecks::run`] on a message parsed already: the lists read `view`.
    pub async fn run_parsed(&self, env: &Envelope, view: &MessageView<'_>) -> AuthOutcome {
        let facts = self.rbl.as_ref().map(|_| Facts::new(env, view));
        self.run_with(env, view.raw, facts).await
    }

    async fn run_with(&self, env: &Envelope, raw: &[u8], mut facts: Option<Facts>) -> AuthOutcome {
        let budget = Budget::new(self.budget);
        let message = AuthenticatedMessage::parse(raw);
        let skip = |m: ModuleSwitch| self.skipped(m, env);
        let run_spf = !skip(self.settings.spf);
        let run_dkim = !skip(self.settings.dkim);
        // Rspamd's arc module checks every message, local or authenticated.
        let run_arc = self.settings.arc.enabled;
        let (spf_v, dkim_v, arc_v, white, host_hits) = tokio::join!(
            self.spf(env, run_spf, budget),
            self.dkim(message.as_ref(), run_dkim, budget),
            self.arc(message.as_ref(), run_arc, budget),
            self.lists_stage(facts.as_ref(), None, Stage::White, budget),
            self.hosts(env, raw, budget),
        );
        let mut out = AuthOutcome::default();
        if run_spf && env.client_ip.is_some() {
            if spf_v.result == Some(mail_auth::SpfResult::TempError) {
                // mail-auth keeps no error text for SPF: the kind is unknown.
                self.resolver.metrics().failure(FailureKind::Other);
            }
            out.hits.push(spf::hit(&spf_v));
        }
        if let Some(sigs) = &dkim_v {
            out.hits.extend(dkim::hits(sigs));
        }
        out.hits.extend(arc_v);
        out.hits.extend(host_hits);
        if let Some(f) = facts.as_mut() {
            f.dkim = crate::scan::rbl::facts::dkim_domains(dkim_v.as_deref().unwrap_or_default());
        }
        out.lists = white.hits;
        // Rspamd evaluates DMARC only when both SPF and DKIM ran.
        let run_dmarc = run_spf && run_dkim && !skip(self.settings.dmarc);
        let sigs = dkim_v.unwrap_or_default();
        let (dmarc_v, rest) = tokio::join!(
            async {
                if !run_dmarc {
                    return None;
                }
                Some(self.dmarc(message.as_ref(), &spf_v, &sigs, budget).await)
            },
            self.lists_stage(
                facts.as_ref(),
                Some(&white.whitelisted),
                Stage::Rest,
                budget
            ),
        );
        if let Some(v) = dmarc_v {
            out.least_action = v.failed.and_then(|p| self.forced(p));
            out.hits.push(v.hit);
            out.hits.extend(v.also);
        }
        out.lists.extend(rest.hits);
        out
    }

    /// hfilter's host lookups (nothing when they are off).
    async fn hosts(&self, env: &Envelope, raw: &[u8], budget: Budget) -> Vec<Hit> {
        let Some(h) = &self.hosts else {
            return Vec::new();
        };
        let mid = h.mid.then(|| hosts::message_id(raw)).flatten();
        let local = env.client_ip.is_some_and(|ip| self.settings.is_local(ip));
        h.run(&self.resolver, env, mid.as_deref(), local, budget)
            .await
    }

    /// One stage of the DNS lists (nothing without lists or facts).
    async fn lists_stage(
        &self,
        facts: Option<&Facts>,
        whitelisted: Option<&crate::scan::rbl::plan::Whitelisted>,
        stage: Stage,
        budget: Budget,
    ) -> crate::scan::rbl::StageResult {
        let (Some(rbl), Some(facts)) = (&self.rbl, facts) else {
            return Default::default();
        };
        let none = Default::default();
        rbl.stage(facts, whitelisted.unwrap_or(&none), stage, budget)
            .await
    }

    /// Rspamd's `check_local` / `check_authed`: local and authenticated mail is not checked.
    fn skipped(&self, m: ModuleSwitch, env: &Envelope) -> bool {
        !m.enabled
            || (!m.check_authed && env.user.as_deref().is_some_and(|u| !u.is_empty()))
            || (!m.check_local && env.client_ip.is_some_and(|ip| self.settings.is_local(ip)))
    }

    fn forced(&self, p: Policy) -> Option<Action> {
        match p {
            Policy::Reject => self.settings.dmarc_actions.reject.clone(),
            Policy::Quarantine => self.settings.dmarc_actions.quarantine.clone(),
            Policy::None | Policy::Unspecified => None,
        }
    }

    async fn spf(&self, env: &Envelope, run: bool, budget: Budget) -> SpfVerdict {
        let absent = SpfVerdict {
            result: Some(mail_auth::SpfResult::None),
            domain: String::new(),
        };
        let (true, Some(ip)) = (run, env.client_ip) else {
            return absent;
        };
        let domain = spf::identity(env.from.as_deref(), env.helo.as_deref())
            .map(|(d, _)| d.to_ascii_lowercase())
            .unwrap_or_default();
        let host = env.mta_name.as_deref().unwrap_or("localhost");
        let checked = self.timed(budget, spf_check(&self.resolver, ip, env, host, &budget));
        checked.await.unwrap_or(SpfVerdict {
            result: None,
            domain,
        })
    }

    async fn dkim(
        &self,
        message: Option<&AuthenticatedMessage<'_>>,
        run: bool,
        budget: Budget,
    ) -> Option<Vec<dkim::Signature>> {
        if !run {
            return None;
        }
        let Some(message) = message.filter(|m| dkim::signed(m)) else {
            return Some(Vec::new());
        };
        let checked = self.timed(budget, dkim::check(&self.resolver, message, &budget));
        Some(checked.await.unwrap_or_else(|| dkim::timed_out(message)))
    }

    async fn arc(
        &self,
        message: Option<&AuthenticatedMessage<'_>>,
        run: bool,
        budget: Budget,
    ) -> Option<Hit> {
        if !run {
            return None;
        }
        let Some(message) = message.filter(|m| arc::present(m)) else {
            return Some(Hit::new("ARC_NA"));
        };
        let checked = self.timed(budget, arc::check(&self.resolver, message));
        Some(
            checked
                .await
                .unwrap_or_else(|| Hit::with("ARC_DNSFAIL", "timeout")),
        )
    }

    async fn dmarc(
        &self,
        message: Option<&AuthenticatedMessage<'_>>,
        spf_v: &SpfVerdict,
        sigs: &[dkim::Signature],
        budget: Budget,
    ) -> dmarc::DmarcVerdict {
        let Some(message) = message else {
            return dmarc::DmarcVerdict::of(Hit::with("DMARC_NA", "No From header"));
        };
        let checked = self.timed(
            budget,
            dmarc::check(&self.resolver, message, spf_v, sigs, &budget),
        );
        checked
            .await
            .unwrap_or_else(|| dmarc::DmarcVerdict::of(Hit::with("DMARC_DNSFAIL", "timeout")))
    }

    /// Runs one check within the budget, timing it for the latency histogram; `None` (and a
    /// timeout counted) when the budget ran out first.
    async fn timed<T>(&self, budget: Budget, check: impl Future<Output = T>) -> Option<T> {
        let started = Instant::now();
        let out = tokio::time::timeout_at(budget.deadline(), check).await.ok();
        let metrics = self.resolver.metrics();
        metrics.latency(started.elapsed());
        if out.is_none() {
            metrics.failure(FailureKind::Timeout);
        }
        out
    }
}

async fn spf_check(
    resolver: &Resolver,
    ip: IpAddr,
    env: &Envelope,
    host: &str,
    budget: &Budget,
) -> SpfVerdict {
    let (from, helo) = (env.from.as_deref(), env.helo.as_deref());
    spf::check(resolver, ip, from, helo, host, budget).await
}
