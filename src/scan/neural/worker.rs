//! The module's background thread: it stores the training vectors the
//! scans hand over, trains when a rule has enough of both classes, and
//! swaps the new network in; between messages it looks for a network
//! another node trained.
//!
//! Scans never wait for it: they queue their vectors without blocking
//! (a full queue drops the vector) and read the current network through a
//! lock held only to clone an `Arc`. The thread runs at the lowest CPU
//! priority, and a training run waits every few samples while scans
//! are in flight ([`super::pace`]): a low priority alone does not keep it
//! off a machine whose cores the scans already share.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::config::RuleConfig;
use super::pace::{Activity, Pacer};
use super::profile::Profile;
use super::store::{Ann, AnnStore, Class, Keys};
use super::train::{train_paced, Sample, TrainParams};

/// What the scans hand over: a vector for a rule's training set.
#[derive(Debug)]
pub struct Job {
    pub rule: usize,
    pub inputs: Vec<f32>,
    pub class: Class,
}

/// A rule as the thread and the scans share it.
#[derive(Debug)]
pub struct RuleState {
    pub cfg: RuleConfig,
    pub profile: Profile,
    pub keys: Keys,
    /// The network the scans apply; swapped whole.
    pub current: RwLock<Option<Arc<Ann>>>,
    /// Looks at the store done (for callers that wait for the first).
    pub refreshes: AtomicU64,
    /// Whether the store's spam and ham sets are full as last seen: the
    /// scans then hand over nothing (a training run is due or going on).
    pub full: [AtomicBool; 2],
}

impl RuleState {
    pub fn current(&self) -> Option<Arc<Ann>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn swap(&self, ann: Ann) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(ann));
    }

    /// Whether the set of `class` was full when last seen.
    pub fn is_full(&self, class: Class) -> bool {
        self.full[class as usize].load(Ordering::Relaxed)
    }

    fn saw(&self, (spam, ham): (usize, usize)) {
        let max = self.cfg.train.max_trains;
        self.full[Class::Spam as usize].store(spam >= max, Ordering::Relaxed);
        self.full[Class::Ham as usize].store(ham >= max, Ordering::Relaxed);
    }

    fn version(&self) -> u64 {
        self.current().map_or(0, |a| a.version)
    }
}

/// Runs until every sender is gone (the pipeline was replaced or dropped).
pub fn run(rules: &[Arc<RuleState>], store: &AnnStore, rx: &Receiver<Job>, activity: &Activity) {
    // On Linux the nice value is per thread: only this one yields.
    if let Err(e) = rustix::process::setpriority_process(None, 19) {
        tracing::debug!("neural: cannot lower the training thread's priority: {e}");
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("neural: cannot start the training thread's runtime: {e}");
            return;
        }
    };
    let holder = format!("{}:{}", hostname(), std::process::id());
    let watch = rules
        .iter()
        .map(|r| r.cfg.watch_interval)
        .min()
        .unwrap_or(Duration::from_secs(60))
        .max(Duration::from_millis(100));
    let mut next_watch = Instant::now();
    loop {
        if Instant::now() >= next_watch {
            for r in rules {
                rt.block_on(refresh(r, store, &holder, activity));
            }
            next_watch = Instant::now() + watch;
        }
        match rx.recv_timeout(next_watch.saturating_duration_since(Instant::now())) {
            Ok(job) => {
                if let Some(r) = rules.get(job.rule) {
                    rt.block_on(learn(r, store, job, &holder, activity));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Loads a newer stored network, and trains if the sets are full (their
/// vectors may come from other nodes).
async fn refresh(r: &RuleState, store: &AnnStore, holder: &str, activity: &Activity) {
    let first = r.refreshes.load(Ordering::Acquire) == 0;
    match store.load(&r.keys, &r.profile).await {
        Ok(Some(ann)) if ann.version > r.version() => {
            let (version, inputs) = (ann.version, ann.net.inputs());
            r.swap(ann);
            tracing::info!(
                "neural: rule {}: loaded network version {version} ({inputs} inputs)",
                r.cfg.name
            );
        }
        Ok(None) if first => tracing::info!(
            "neural: rule {}: no stored network for symbol set {} ({} symbols) yet",
            r.cfg.name,
            r.profile.digest(),
            r.profile.len()
        ),
        Ok(_) => {}
        Err(e) => crate::warn_throttled!("neural: rule {}: {e}", r.cfg.name),
    }
    match store.counts(&r.keys).await {
        Ok(counts) if ready(&r.cfg, counts) => {
            r.saw(counts);
            train_rule(r, store, holder, activity).await;
        }
        Ok(counts) => r.saw(counts),
        Err(e) => crate::warn_throttled!("neural: rule {}: {e}", r.cfg.name),
    }
    r.refreshes.fetch_add(1, Ordering::Release);
}

/// Stores one vector (keeping the classes balanced, as Rspamd does), then
/// trains when both sets are full.
async fn learn(r: &RuleState, store: &AnnStore, job: Job, holder: &str, activity: &Activity) {
    let t = &r.cfg.train;
    let counts = match store.counts(&r.keys).await {
        Ok(c) => c,
        Err(e) => return crate::warn_throttled!("neural: rule {}: {e}", r.cfg.name),
    };
    r.saw(counts);
    if !may_store(&r.cfg, job.class, counts, fastrand::f64()) {
        tracing::trace!(
            "neural: rule {}: {} vector skipped to keep the classes balanced",
            r.cfg.name,
            job.class.as_str()
        );
        return;
    }
    match store
        .push(&r.keys, job.class, &job.inputs, t.max_trains)
        .await
    {
        Ok(Some(n)) => {
            let counts = match job.class {
                Class::Spam => (n, counts.1),
                Class::Ham => (counts.0, n),
            };
            r.saw(counts);
            if ready(&r.cfg, counts) {
                train_rule(r, store, holder, activity).await;
            }
        }
        Ok(None) => {}
        Err(e) => crate::warn_throttled!("neural: rule {}: {e}", r.cfg.name),
    }
}

/// Rspamd's balanced mode: a class that is ahead is stored with the
/// chance that keeps the two even; a full class takes no more.
pub fn may_store(cfg: &RuleConfig, class: Class, (spam, ham): (usize, usize), coin: f64) -> bool {
    let t = &cfg.train;
    if coin < 1.0 - t.train_prob {
        return false;
    }
    let (mine, other) = match class {
        Class::Spam => (spam, ham),
        Class::Ham => (ham, spam),
    };
    if mine >= t.max_trains {
        return false;
    }
    if mine > other {
        #[allow(clippy::cast_precision_loss)]
        let skip = 1.0 - other as f64 / (mine + 1) as f64;
        return coin >= skip - t.classes_bias;
    }
    true
}

/// Both sets hold `max_trains` vectors (less the allowed bias).
pub fn ready(cfg: &RuleConfig, (spam, ham): (usize, usize)) -> bool {
    let t = &cfg.train;
    #[allow(clippy::cast_precision_loss)]
    let least = t.max_trains as f64 * (1.0 - t.classes_bias);
    #[allow(clippy::cast_precision_loss)]
    let enough = |n: usize| n as f64 >= least;
    spam.max(ham) >= t.max_trains && enough(spam) && enough(ham)
}

/// One training run: lock, read the sets, train, save, empty the sets, swap
/// the new network in.
async fn train_rule(r: &RuleState, store: &AnnStore, holder: &str, activity: &Activity) {
    let name = &r.cfg.name;
    match store.lock(&r.keys, holder, r.cfg.lock_expire).await {
        Ok(true) => {}
        Ok(false) => return tracing::debug!("neural: rule {name}: another node is training"),
        Err(e) => return crate::warn_throttled!("neural: rule {name}: {e}"),
    }
    let started = Instant::now();
    let outcome = async {
        let (spam, ham) = store.counts(&r.keys).await?;
        let width = r.profile.len();
        let mut samples = Vec::with_capacity(spam + ham);
        for (class, n) in [(Class::Spam, spam), (Class::Ham, ham)] {
            for inputs in store.vectors(&r.keys, class, n, width).await? {
                samples.push(Sample {
                    inputs,
                    spam: class == Class::Spam,
                });
            }
        }
        Ok::<_, super::error::NeuralStoreError>(samples)
    }
    .await;
    let samples = match outcome {
        Ok(s) => s,
        Err(e) => {
            crate::warn_throttled!("neural: rule {name}: cannot read the training sets: {e}");
            let _ = store.unlock(&r.keys).await;
            return;
        }
    };
    tracing::info!("neural: rule {name}: training on {} vectors", samples.len());
    let previous = r.current();
    let mut pacer = Pacer::new(activity, r.cfg.train.cpu_share);
    let fitted = fit(
        &r.cfg,
        previous.as_deref(),
        &r.profile,
        &samples,
        &mut || {
            pacer.before_slice();
        },
    );
    let ann = match fitted {
        Ok(ann) => ann,
        Err(e) => {
            tracing::warn!("neural: rule {name}: training failed: {e}");
            let _ = store.unlock(&r.keys).await;
            return;
        }
    };
    if let Err(e) = store.save(&r.keys, &ann, r.cfg.ann_expire).await {
        tracing::warn!("neural: rule {name}: cannot store the trained network: {e}");
    }
    match store.reset(&r.keys).await {
        Ok(()) => r.saw((0, 0)),
        Err(e) => crate::warn_throttled!("neural: rule {name}: {e}"),
    }
    let version = ann.version;
    // In use before it is announced: whoever reads the line may scan at once.
    r.swap(ann);
    tracing::info!(
        "neural: rule {name}: trained network version {version} on {} vectors in {} ms \
         ({} ms of it waiting for scans)",
        samples.len(),
        started.elapsed().as_millis(),
        pacer.waited.as_millis()
    );
}

/// The next network from `samples`. As in Rspamd 3.4 each run starts a new
/// network (its `max_usages` is read but unused there too): the sets hold
/// the latest mail, and the old network's weights would carry older mail.
pub fn fit(
    cfg: &RuleConfig,
    previous: Option<&Ann>,
    profile: &Profile,
    samples: &[Sample],
    pace: &mut dyn FnMut(),
) -> Result<Ann, super::NeuralError> {
    #[allow(clippy::cast_possible_truncation)]
    let params = TrainParams {
        learning_rate: cfg.train.learning_rate as f32,
        max_iterations: cfg.train.max_iterations,
        hidden_layer_mult: cfg.hidden_layer_mult as f32,
        seed: fastrand::u64(..),
        ..TrainParams::default()
    };
    Ok(Ann {
        digest: profile.digest().to_string(),
        version: previous.map_or(0, |a| a.version) + 1,
        net: train_paced(samples, &params, pace)?,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}
