//! What each worker counts while it runs. Workers keep their own tally
//! (no shared locks on the hot path) and the tallies are merged at the end.
use std::collections::BTreeMap;
use std::time::Duration;

/// How many error messages are kept as evidence; the rest are only counted.
const MAX_ERROR_SAMPLES: usize = 8;

/// Counters of one worker, or of the whole run once merged.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Per answered message: time from MAIL to the final EOM reply, in µs.
    pub latencies_us: Vec<u64>,
    /// Final replies by kind (`accept`, `reject`, `5xx`, ...).
    pub finals: BTreeMap<String, u64>,
    /// Modification packets by kind (`add header`, `change header`, ...).
    pub modifications: BTreeMap<String, u64>,
    /// Progress packets seen while waiting for a final reply.
    pub progress: u64,
    /// Sessions that ended in a protocol or I/O error.
    pub protocol_errors: u64,
    /// The first few error messages, for the report.
    pub error_samples: Vec<String>,
    /// Milter connections opened.
    pub sessions: u64,
}

impl Tally {
    pub fn answered(&mut self, latency: Duration, final_kind: &str) {
        self.latencies_us
            .push(latency.as_micros().try_into().unwrap_or(u64::MAX));
        *self.finals.entry(final_kind.to_string()).or_default() += 1;
    }

    pub fn modification(&mut self, kind: &str) {
        *self.modifications.entry(kind.to_string()).or_default() += 1;
    }

    pub fn error(&mut self, message: String) {
        self.protocol_errors += 1;
        if self.error_samples.len() < MAX_ERROR_SAMPLES {
            self.error_samples.push(message);
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.finals {
            *self.finals.entry(k).or_default() += v;
        }
        for (k, v) in other.modifications {
            *self.modifications.entry(k).or_default() += v;
        }
        self.progress += other.progress;
        self.protocol_errors += other.protocol_errors;
        self.sessions += other.sessions;
        for s in other.error_samples {
            if self.error_samples.len() < MAX_ERROR_SAMPLES {
                self.error_samples.push(s);
            }
        }
    }
}

/// Nearest-rank percentile of an ascending slice; 0 for an empty one.
pub fn percentile(sorted: &[u64], pct: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 1.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn merge_adds_everything_and_caps_samples() {
        let mut a = Tally::default();
        a.answered(Duration::from_millis(2), "accept");
        a.modification("add header");
        a.sessions = 1;
        let mut b = Tally::default();
        b.answered(Duration::from_micros(500), "accept");
        b.answered(Duration::from_micros(700), "5xx");
        b.modification("add header");
        b.progress = 3;
        b.sessions = 2;
        for i in 0..20 {
            b.error(format!("e{i}"));
        }
        a.merge(b);
        assert_eq!(a.latencies_us, [2000, 500, 700]);
        assert_eq!(a.finals["accept"], 2);
        assert_eq!(a.finals["5xx"], 1);
        assert_eq!(a.modifications["add header"], 2);
        assert_eq!((a.progress, a.sessions, a.protocol_errors), (3, 3, 20));
        assert_eq!(a.error_samples.len(), MAX_ERROR_SAMPLES);
    }
}
