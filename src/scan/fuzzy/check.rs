//! The fuzzy_check phase: every rule's hashes of a message asked of its
//! storage at once, under the scan's deadline, and the replies scored as
//! Rspamd scores them. Learning (`add`, `del`) and `stat` use the same
//! exchange.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_proto::fuzzy::{status, Command, Extension, Op, Reply};

use super::client::{ClientError, RuleClient};
use super::hashes::{message_hashes, FuzzyHash, HashKind};
use super::settings::{FuzzyRule, FuzzySettings, FuzzySettingsError, BLOCKED_SYMBOL};
use crate::message::MessageView;
use crate::metrics::fuzzy::RuleCounters;
use crate::verdict::fuzzy::{FuzzyLearnError, FuzzyLearnFuture, FuzzyLearner};

/// Images up to this size score less for a low probability (Rspamd's
/// `short_image_limit`).
const SHORT_IMAGE: usize = 32 * 1024;
/// Texts longer than this many bytes make an image match alone weigh less.
const TEXT_LENGTH_CUTOFF: usize = 25;
/// The longest sender domain a check tells the storage; a longer one keeps
/// its last bytes (Rspamd's `MAX_FUZZY_DOMAIN`).
const MAX_SOURCE_DOMAIN: usize = 64;

/// A symbol the phase found, with its dynamic multiplier.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzyHit {
    pub symbol: String,
    pub multiplier: f64,
    pub option: String,
}

/// What the message's text parts say about how image matches weigh.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextFacts {
    pub has_text: bool,
    pub long_text: bool,
}

impl TextFacts {
    pub fn of(view: &MessageView<'_>) -> TextFacts {
        let mut f = TextFacts::default();
        for p in &view.text_parts {
            if p.text.split_whitespace().next().is_some() {
                f.has_text = true;
                // Rspamd keeps the last text part's verdict.
                f.long_text = super::words::stripped_content(&p.text, p.html.is_some()).len()
                    > TEXT_LENGTH_CUTOFF;
            }
        }
        f
    }
}

/// Who sent the message, as Rspamd's client tells the storage with each
/// check (command extensions) unless the rule says `no_share`: the From
/// header's domain and the client's address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Source {
    pub domain: Option<String>,
    pub ip: Option<IpAddr>,
}

impl Source {
    pub fn of(view: &MessageView<'_>, client_ip: Option<IpAddr>) -> Source {
        let domain = view.header("From").and_then(|h| {
            let v = h.value.as_ref();
            let addr = match (v.rfind('<'), v.rfind('>')) {
                (Some(a), Some(b)) if a < b => &v[a + 1..b],
                _ => v.trim(),
            };
            let (_, d) = addr.rsplit_once('@')?;
            let d = d.trim();
            (!d.is_empty()).then(|| d.to_string())
        });
        Source {
            domain,
            ip: client_ip,
        }
    }

    /// The extensions a check carries: the domain (its last 64 bytes),
    /// then the address.
    pub fn extensions(&self) -> Vec<Extension> {
        let mut out = Vec::new();
        if let Some(d) = &self.domain {
            let b = d.as_bytes();
            out.push(Extension::SourceDomain(
                b[b.len().saturating_sub(MAX_SOURCE_DOMAIN)..].to_vec(),
            ));
        }
        match self.ip {
            Some(IpAddr::V4(v4)) => out.push(Extension::SourceIp4(v4.octets())),
            Some(IpAddr::V6(v6)) => out.push(Extension::SourceIp6(v6.octets())),
            None => {}
        }
        out
    }
}

/// The configured rules with their clients and counters.
#[derive(Debug)]
pub struct FuzzyChecks {
    rules: Vec<RuleRuntime>,
}

#[derive(Debug)]
struct RuleRuntime {
    rule: FuzzyRule,
    client: RuleClient,
    counters: Arc<RuleCounters>,
}

/// Why learning failed; the texts are Rspamd's controller's.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("No fuzzy rules matched for flag {0}")]
    NoRules(u32),
    #[error("No content to generate fuzzy for flag {0}")]
    NoContent(u32),
    #[error("fuzzy storage of rule {rule} refused the update (status {status})")]
    Refused { rule: String, status: i32 },
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl LearnError {
    /// The controller's status for it.
    pub fn status(&self) -> u16 {
        match self {
            LearnError::NoRules(_) | LearnError::NoContent(_) => 404,
            LearnError::Refused { status: 403, .. } => 403,
            LearnError::Refused { .. } | LearnError::Client(_) => 500,
        }
    }
}

impl FuzzyChecks {
    /// The phase of `settings`; `None` without rules.
    pub fn new(settings: FuzzySettings) -> Result<Option<FuzzyChecks>, ClientError> {
        if settings.rules.is_empty() {
            return Ok(None);
        }
        // Rspamd's language data is read now rather than in the first scan.
        super::stopwords::installed();
        let mut rules = Vec::new();
        for rule in settings.rules {
            let client = RuleClient::new(&rule)?;
            let counters = Arc::new(RuleCounters::new(&rule.name));
            rules.push(RuleRuntime {
                rule,
                client,
                counters,
            });
        }
        Ok(Some(FuzzyChecks { rules }))
    }

    /// The phase of the `fuzzy_check` section; a rule whose key cannot be
    /// used is a configuration error.
    pub fn from_section(
        section: Option<&serde_json::Value>,
    ) -> Result<Option<FuzzyChecks>, FuzzySettingsError> {
        let settings = FuzzySettings::from_section(section)?;
        FuzzyChecks::new(settings).map_err(|e| FuzzySettingsError::Rule {
            rule: String::new(),
            reason: e.to_string(),
        })
    }

    /// How long a scan waits for the storages: the slowest rule's timeout
    /// times its tries, but at most half the scan's own time limit, so the
    /// message is answered in time whatever the storage does.
    pub fn budget(&self, scan_timeout: Duration) -> Duration {
        let slowest = self
            .rules
            .iter()
            .map(|r| r.rule.timeout * (r.rule.retransmits + 1))
            .max()
            .unwrap_or_default();
        slowest.min(scan_timeout / 2)
    }

    /// The rules' counters, for `/metrics`.
    pub fn counters(&self) -> Vec<Arc<RuleCounters>> {
        self.rules.iter().map(|r| Arc::clone(&r.counters)).collect()
    }

    /// Every symbol a rule can insert.
    pub fn symbols(&self) -> Vec<String> {
        self.rules
            .iter()
            .flat_map(|r| r.rule.symbols().map(str::to_string))
            .collect()
    }

    /// The message's check commands, per rule (hashing is the CPU part:
    /// done before any wait).
    /// `client_ip`: the SMTP client, told to the storage with the sender's
    /// domain unless a rule says `no_share`.
    pub fn prepare(&self, view: &MessageView<'_>, client_ip: Option<IpAddr>) -> Prepared {
        let per_rule = self
            .rules
            .iter()
            .map(|r| message_hashes(view, &r.rule.policy))
            .collect();
        Prepared {
            per_rule,
            facts: TextFacts::of(view),
            source: Source::of(view, client_ip),
        }
    }

    /// Asks every rule's storage about `prepared`'s hashes, all rules at
    /// once, and scores the replies. A rule whose storage does not answer by
    /// `deadline` adds nothing and counts a failure.
    pub async fn check(&self, prepared: Prepared, deadline: Instant) -> Vec<FuzzyHit> {
        let shared = prepared.source.extensions();
        let asks = self.rules.iter().zip(prepared.per_rule).map(|(r, hashes)| {
            let shared = &shared;
            async move {
                if hashes.is_empty() {
                    return Vec::new();
                }
                let cmds = hashes
                    .iter()
                    .map(|h| {
                        let mut c = command(Op::Check, h, 0, 0);
                        if !r.rule.no_share {
                            c.extensions.clone_from(shared);
                        }
                        c
                    })
                    .collect();
                r.counters.queries(hashes.len());
                match r.client.exchange(cmds, deadline).await {
                    Ok(replies) => {
                        let results: Vec<MatchResult> = replies
                            .iter()
                            .zip(&hashes)
                            .filter_map(|((_, rep), h)| {
                                let m = match_result(&r.rule, rep.as_ref()?, h)?;
                                r.counters.matched();
                                Some(m)
                            })
                            .collect();
                        let mut hits =
                            score_results(&results, prepared.facts, r.rule.weight_threshold);
                        if replies.iter().any(|(_, rep)| {
                            rep.as_ref()
                                .is_some_and(|rep| rep.value == status::FORBIDDEN)
                        }) {
                            hits.push(FuzzyHit {
                                symbol: BLOCKED_SYMBOL.to_string(),
                                multiplier: 0.0,
                                option: r.rule.name.clone(),
                            });
                        }
                        hits
                    }
                    Err(e) => {
                        r.counters.failure(&e);
                        Vec::new()
                    }
                }
            }
        });
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Adds (`Op::Write`) or deletes (`Op::Del`) the message's hashes with
    /// `flag` and `weight` on every writable rule whose `fuzzy_map` has the
    /// flag, as Rspamd's controller does; returns the digests sent (hex).
    pub async fn learn(
        &self,
        view: &MessageView<'_>,
        op: Op,
        flag: u32,
        weight: i32,
        deadline: Instant,
    ) -> Result<Vec<String>, LearnError> {
        let rules: Vec<&RuleRuntime> = self
            .rules
            .iter()
            .filter(|r| !r.rule.read_only && r.rule.flags.contains_key(&flag))
            .collect();
        if rules.is_empty() {
            return Err(LearnError::NoRules(flag));
        }
        let jobs: Vec<(&RuleRuntime, Vec<Command>)> = rules
            .into_iter()
            .map(|r| {
                let hashes = message_hashes(view, &r.rule.policy);
                (
                    r,
                    hashes
                        .iter()
                        .map(|h| command(op, h, flag, weight))
                        .collect(),
                )
            })
            .filter(|(_, cmds): &(_, Vec<Command>)| !cmds.is_empty())
            .collect();
        if jobs.is_empty() {
            return Err(LearnError::NoContent(flag));
        }
        let mut digests = Vec::new();
        for (r, cmds) in jobs {
            digests.extend(
                cmds.iter()
                    .map(|c| data_encoding::HEXLOWER.encode(&c.digest)),
            );
            let replies = r.client.exchange(cmds, deadline).await.inspect_err(|e| {
                r.counters.failure(e);
            })?;
            if let Some(bad) = replies
                .iter()
                .filter_map(|(_, rep)| rep.as_ref())
                .find(|rep| rep.value != 0)
            {
                return Err(LearnError::Refused {
                    rule: r.rule.name.clone(),
                    status: bad.value,
                });
            }
        }
        Ok(digests)
    }

    /// The flag a `fuzzy_map` symbol names, in the first rule that has it.
    pub fn flag_of_symbol(&self, symbol: &str) -> Option<u32> {
        self.rules.iter().find_map(|r| {
            r.rule
                .flags
                .iter()
                .find(|(_, m)| m.symbol == symbol)
                .map(|(f, _)| *f)
        })
    }

    /// Asks each rule's storage how many hashes it holds.
    pub async fn stat(&self, deadline: Instant) -> Vec<(String, Result<Reply, ClientError>)> {
        let mut out = Vec::new();
        for r in &self.rules {
            let cmd = Command::new(Op::Stat, [0; 64]);
            let res = r
                .client
                .exchange(vec![cmd], deadline)
                .await
                .and_then(|mut v| {
                    v.pop()
                        .and_then(|(_, rep)| rep)
                        .ok_or(ClientError::Timeout {
                            server: r.rule.servers[0],
                        })
                });
            out.push((r.rule.name.clone(), res));
        }
        out
    }

    /// The digests the message yields under each rule (hex), for learning
    /// replies and `sluice fuzzy check`.
    pub fn hashes(&self, view: &MessageView<'_>) -> Vec<(String, Vec<FuzzyHash>)> {
        self.rules
            .iter()
            .map(|r| (r.rule.name.clone(), message_hashes(view, &r.rule.policy)))
            .collect()
    }
}

/// The learner the controller uses (through [`crate::verdict::fuzzy`]).
#[derive(Debug)]
pub struct Learner(pub Arc<FuzzyChecks>);

/// How long a controller learn waits for the storages.
const LEARN_TIMEOUT: Duration = Duration::from_secs(10);

impl FuzzyLearner for Learner {
    fn flag_of_symbol(&self, symbol: &str) -> Option<u32> {
        self.0.flag_of_symbol(symbol)
    }

    fn learn(&self, raw: bytes::Bytes, add: bool, flag: u32, weight: i32) -> FuzzyLearnFuture {
        let checks = Arc::clone(&self.0);
        Box::pin(async move {
            let parsed = crate::message::parsed::Parsed::parse(&crate::message::parser(), raw);
            let op = if add { Op::Write } else { Op::Del };
            let deadline = Instant::now() + LEARN_TIMEOUT;
            checks
                .learn(parsed.view(), op, flag, weight, deadline)
                .await
                .map_err(|e| FuzzyLearnError {
                    status: e.status(),
                    message: e.to_string(),
                })
        })
    }
}

/// Hashes computed for a check, per rule.
#[derive(Debug, Clone)]
pub struct Prepared {
    per_rule: Vec<Vec<FuzzyHash>>,
    facts: TextFacts,
    source: Source,
}

impl Prepared {
    pub fn is_empty(&self) -> bool {
        self.per_rule.iter().all(Vec::is_empty)
    }
}

fn command(op: Op, h: &FuzzyHash, flag: u32, weight: i32) -> Command {
    let mut c = Command::new(op, h.digest);
    c.shingles = h.shingles.map(Box::new);
    if op != Op::Check {
        c.flag = u8::try_from(flag).unwrap_or(u8::MAX);
        c.value = weight;
    }
    c
}

/// One matched hash, before the message-wide adjustments.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchResult {
    pub symbol: String,
    pub score: f64,
    pub prob: f64,
    pub kind: ResultKind,
    pub option: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    Txt,
    Img,
    Bin,
}

/// A reply as Rspamd's `fuzzy_insert_result` reads it: found when the
/// probability is over one half; the flag's symbol and weight (unknown flags
/// skipped under `skip_unknown`); the stored value scaled by tanh(e·v/w),
/// times √prob (texts, binaries) or a steep curve of prob (small images).
pub fn match_result(rule: &FuzzyRule, rep: &Reply, h: &FuzzyHash) -> Option<MatchResult> {
    if f64::from(rep.prob) <= 0.5 {
        return None;
    }
    let (symbol, weight, mapped) = rule.mapping(rep.flag);
    if !mapped && rule.skip_unknown {
        return None;
    }
    if rule.skip_hashes.is_some() && rule.skips(&data_encoding::HEXLOWER.encode(&h.digest)) {
        return None;
    }
    let prob = f64::from(rep.prob);
    let mut score = normalize(rep.value, weight);
    let (kind, label) = match h.kind {
        HashKind::Image { bytes } => {
            if bytes <= SHORT_IMAGE {
                score *= ((prob - 0.5) * 2.0).powi(8);
            }
            (ResultKind::Img, "img")
        }
        HashKind::Text => {
            score *= prob.sqrt();
            (ResultKind::Txt, "txt")
        }
        HashKind::ShortText | HashKind::Binary => {
            score *= prob.sqrt();
            (ResultKind::Bin, "bin")
        }
    };
    let hex = data_encoding::HEXLOWER.encode(&rep.digest[..5]);
    Some(MatchResult {
        symbol: symbol.to_string(),
        score,
        prob,
        kind,
        option: format!("{}:{hex}:{:.2}:{label}", rep.flag, rep.prob),
    })
}

/// Rspamd's `fuzzy_normalize`: tanh(e · value / weight), 0 for weight 0.
pub fn normalize(value: i32, weight: f64) -> f64 {
    if weight == 0.0 {
        return 0.0;
    }
    (std::f64::consts::E * f64::from(value) / weight).tanh()
}

/// The message-wide adjustments of `fuzzy_insert_metric_results`: an image
/// match alone weighs a quarter beside a long text, 0.9 beside a short one,
/// and less when the text matched only weakly; a text match beside an image
/// match weighs 1.1. A hit whose weight ends below the rule's
/// `weight_threshold` is left out.
pub fn score_results(
    results: &[MatchResult],
    facts: TextFacts,
    threshold: Option<f64>,
) -> Vec<FuzzyHit> {
    let seen_text = results.iter().any(|r| r.kind == ResultKind::Txt);
    let seen_img = results.iter().any(|r| r.kind == ResultKind::Img);
    let prob_txt = results
        .iter()
        .filter(|r| r.kind == ResultKind::Txt)
        .map(|r| r.prob)
        .fold(0.0, f64::max);
    results
        .iter()
        .map(|r| {
            let mut mult = 1.0;
            match r.kind {
                ResultKind::Img if !seen_text => {
                    if facts.long_text {
                        mult *= 0.25;
                    } else if facts.has_text {
                        mult *= 0.9;
                    }
                }
                ResultKind::Img if prob_txt < 0.75 => {
                    mult *= if prob_txt > 0.5 { prob_txt } else { 0.5 };
                }
                ResultKind::Txt if seen_img => mult = 1.1,
                _ => {}
            }
            FuzzyHit {
                symbol: r.symbol.clone(),
                multiplier: r.score * mult,
                option: r.option.clone(),
            }
        })
        .filter(|hit| {
            let kept = threshold.is_none_or(|t| hit.multiplier >= t);
            if !kept {
                tracing::info!(
                    symbol = hit.symbol,
                    weight = hit.multiplier,
                    "fuzzy match not added: weight below weight_threshold"
                );
            }
            kept
        })
        .collect()
}

#[cfg(test)]
mod tests;
