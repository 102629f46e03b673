//! The benchmark's result: a human table (`Display`) and JSON for scripts.
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::tally::{percentile, Tally};

/// Latency of answered messages, MAIL to final EOM reply, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Outcome of one `bench_milter` run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The milter address, Postfix syntax.
    pub target: String,
    pub concurrency: usize,
    /// Milter connections opened.
    pub sessions: u64,
    /// Messages that got a final reply.
    pub messages: u64,
    /// Messages that were attempted (answered + lost to errors).
    pub attempted: u64,
    pub elapsed_secs: f64,
    pub msgs_per_sec: f64,
    pub latency: Latency,
    /// Final replies by kind: accept, continue, reject, tempfail, discard,
    /// quarantine, 4xx / 5xx (a `y` reply, by its first digit).
    pub replies: BTreeMap<String, u64>,
    /// Modification packets by kind.
    pub modifications: BTreeMap<String, u64>,
    pub progress: u64,
    pub protocol_errors: u64,
    pub error_samples: Vec<String>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl BenchReport {
    /// Builds the report from the merged tally and the wall-clock time.
    pub fn new(
        target: String,
        concurrency: usize,
        attempted: u64,
        mut t: Tally,
        elapsed: Duration,
    ) -> Self {
        t.latencies_us.sort_unstable();
        let l = &t.latencies_us;
        let secs = elapsed.as_secs_f64();
        let messages = l.len() as u64;
        Self {
            target,
            concurrency,
            sessions: t.sessions,
            messages,
            attempted,
            elapsed_secs: secs,
            msgs_per_sec: if secs > 0.0 {
                messages as f64 / secs
            } else {
                0.0
            },
            latency: Latency {
                p50_ms: ms(percentile(l, 50.0)),
                p90_ms: ms(percentile(l, 90.0)),
                p99_ms: ms(percentile(l, 99.0)),
                max_ms: ms(l.last().copied().unwrap_or(0)),
            },
            replies: t.finals,
            modifications: t.modifications,
            progress: t.progress,
            protocol_errors: t.protocol_errors,
            error_samples: t.error_samples,
        }
    }

    /// One JSON object, keys as in the struct.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "target            {}", self.target)?;
        writeln!(f, "concurrency       {}", self.concurrency)?;
        writeln!(f, "sessions          {}", self.sessions)?;
        writeln!(
            f,
            "messages          {} answered of {} sent",
            self.messages, self.attempted
        )?;
        writeln!(f, "elapsed           {:.3} s", self.elapsed_secs)?;
        writeln!(f, "throughput        {:.1} msgs/s", self.msgs_per_sec)?;
        let l = &self.latency;
        writeln!(
            f,
            "latency ms        p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        )?;
        write_map(f, "final replies", &self.replies)?;
        write_map(f, "modifications", &self.modifications)?;
        writeln!(f, "progress packets  {}", self.progress)?;
        writeln!(f, "protocol errors   {}", self.protocol_errors)?;
        for s in &self.error_samples {
            writeln!(f, "  error: {s}")?;
        }
        Ok(())
    }
}

fn write_map(f: &mut fmt::Formatter<'_>, title: &str, map: &BTreeMap<String, u64>) -> fmt::Result {
    writeln!(f, "{title}")?;
    if map.is_empty() {
        writeln!(f, "  (none)")?;
    }
    for (k, v) in map {
        writeln!(f, "  {k:<16}{v}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BenchReport {
        let mut t = Tally::default();
        for i in 1..=10 {
            t.answered(
                Duration::from_millis(i),
                if i == 10 { "5xx" } else { "accept" },
            );
        }
        t.modification("add header");
        t.sessions = 2;
        BenchReport::new("inet:127.0.0.1:1".into(), 2, 11, t, Duration::from_secs(2))
    }

    #[test]
    fn figures_come_from_the_tally() {
        let r = sample();
        assert_eq!(r.messages, 10);
        assert_eq!(r.msgs_per_sec, 5.0);
        assert_eq!(
            r.latency,
            Latency {
                p50_ms: 5.0,
                p90_ms: 9.0,
                p99_ms: 10.0,
                max_ms: 10.0
            }
        );
        assert_eq!(r.replies["accept"], 9);
    }

    #[test]
    fn json_and_table_carry_the_same_numbers() {
        let r = sample();
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["messages"], 10);
        assert_eq!(v["replies"]["5xx"], 1);
        assert_eq!(v["latency"]["p90_ms"], 9.0);
        let table = r.to_string();
        assert!(table.contains("5.0 msgs/s"), "{table}");
        assert!(table.contains("10 answered of 11 sent"), "{table}");
        assert!(table.contains("add header      1"), "{table}");
    }
}
