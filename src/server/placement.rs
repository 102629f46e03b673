//! Which session threads take new sessions: as few as keep up, more only
//! when a core is free.
//!
//! Why not spread sessions over every thread: each thread that runs out of
//! ready sessions parks, and each park and wakeup is a context switch. On
//! the corpus replay a second thread cost more CPU per message at a lower
//! rate: it only competed with the load tool for the same cores (figures
//! in `docs/performance.md`). So a thread is opened to new
//! sessions only when every open one is busy *and* the machine has an idle
//! core for it; a thread is closed again when the others can carry its load.
//! Sessions stay on the thread that took them until they end.
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the sampler looks at the threads and the machine.
const PERIOD: Duration = Duration::from_millis(500);
/// Busy fraction from which a thread counts as saturated.
const SATURATED: f64 = 0.8;
/// Idle CPU (in cores) the machine must have before a thread is opened.
const IDLE_FOR_MORE: f64 = 0.75;
/// Idle CPU below which the machine counts as full: then an open thread
/// that is not saturated closes (more threads add no capacity there, only
/// switches).
const IDLE_FULL: f64 = 0.25;
/// A thread closes when the open ones, one fewer, would each be at most
/// this busy.
const CLOSE_BELOW: f64 = 0.5;
/// Samples in a row that must call for another thread before it opens
/// (a burst at the start of a load is not a steady need).
const GROW_AFTER: u32 = 2;

/// One thread's load, written by the thread, read by the placer.
#[derive(Debug, Default)]
pub struct Load {
    /// Sessions handed to the thread and not yet ended.
    pub sessions: AtomicUsize,
    /// Nanoseconds the thread spent unparked (running tasks).
    pub busy_ns: AtomicU64,
}

/// The number of threads open to new sessions after one sample: `busy` is
/// each open thread's busy fraction over the period, `idle_cores` the
/// machine's idle CPU in cores (`None` where it cannot be read: then busy
/// threads alone open another). A rise is only applied after
/// [`GROW_AFTER`] samples in a row call for it.
pub fn decide(open: usize, threads: usize, busy: &[f64], idle_cores: Option<f64>) -> usize {
    let all_busy = !busy.is_empty() && busy.iter().all(|&b| b >= SATURATED);
    let room = idle_cores.is_none_or(|idle| idle >= IDLE_FOR_MORE);
    if all_busy && room && open < threads {
        return open + 1;
    }
    let total: f64 = busy.iter().sum();
    let full = idle_cores.is_some_and(|idle| idle < IDLE_FULL);
    if open > 1 && (total <= (open - 1) as f64 * CLOSE_BELOW || (full && !all_busy)) {
        return open - 1;
    }
    open.clamp(1, threads.max(1))
}

/// Starts the sampler thread that keeps `open` up to date.
pub fn spawn_sampler(loads: Vec<Arc<Load>>, open: Arc<AtomicUsize>) {
    let spawned = std::thread::Builder::new()
        .name("sluice-placer".into())
        .spawn(move || sample_forever(&loads, &open));
    if let Err(e) = spawned {
        // Without it, one thread keeps taking every session.
        tracing::warn!(error = %e, "cannot start the session placer");
    }
}

fn sample_forever(loads: &[Arc<Load>], open: &AtomicUsize) {
    let mut last_busy: Vec<u64> = loads
        .iter()
        .map(|l| l.busy_ns.load(Ordering::Relaxed))
        .collect();
    let mut last_cpu = read_cpu();
    let mut last_at = Instant::now();
    let mut grow_calls = 0;
    loop {
        std::thread::sleep(PERIOD);
        let now = Instant::now();
        let wall = now.duration_since(last_at).as_nanos().max(1) as f64;
        let n = open.load(Ordering::Relaxed).min(loads.len());
        let mut busy = Vec::with_capacity(n);
        for (i, l) in loads.iter().enumerate() {
            let b = l.busy_ns.load(Ordering::Relaxed);
            if i < n {
                busy.push(b.saturating_sub(last_busy[i]) as f64 / wall);
            }
            last_busy[i] = b;
        }
        let cpu = read_cpu();
        let idle = idle_cores(last_cpu, cpu);
        last_cpu = cpu;
        last_at = now;
        let mut next = decide(n, loads.len(), &busy, idle);
        if next > n {
            grow_calls += 1;
            if grow_calls < GROW_AFTER {
                next = n;
            }
        } else {
            grow_calls = 0;
        }
        if next != n {
            tracing::debug!(
                open = next,
                ?busy,
                ?idle,
                "milter session threads open to new sessions"
            );
            grow_calls = 0;
        }
        open.store(next, Ordering::Relaxed);
    }
}

/// `(idle, total)` jiffies of all CPUs and their number, from /proc/stat.
type CpuTimes = Option<(u64, u64, usize)>;

fn read_cpu() -> CpuTimes {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_proc_stat(&text)
}

fn parse_proc_stat(text: &str) -> CpuTimes {
    let mut lines = text.lines();
    let fields: Vec<u64> = lines
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is
    // already inside user and nice).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    let cpus = lines.filter(|l| l.starts_with("cpu")).count();
    Some((idle, total, cpus.max(1)))
}

/// Idle CPU between two readings, in cores.
fn idle_cores(before: CpuTimes, after: CpuTimes) -> Option<f64> {
    let ((i0, t0, _), (i1, t1, cpus)) = (before?, after?);
    let total = t1.checked_sub(t0).filter(|&t| t > 0)?;
    Some(i1.saturating_sub(i0) as f64 / total as f64 * cpus as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_a_thread_only_when_all_are_busy_and_a_core_is_idle() {
        assert_eq!(decide(1, 4, &[0.95], Some(2.0)), 2);
        assert_eq!(decide(1, 4, &[0.95], Some(0.6)), 1, "not a whole idle core");
        assert_eq!(
            decide(1, 4, &[0.95], Some(0.1)),
            1,
            "no idle core: stay packed"
        );
        assert_eq!(decide(1, 4, &[0.5], Some(3.0)), 1, "not busy");
        assert_eq!(
            decide(2, 4, &[0.9, 0.6], Some(2.0)),
            2,
            "one open thread has room"
        );
        assert_eq!(
            decide(2, 4, &[0.9, 0.9], Some(0.5)),
            2,
            "busy, neither room nor full"
        );
        assert_eq!(decide(4, 4, &[1.0; 4], Some(1.0)), 4, "all open already");
        assert_eq!(
            decide(1, 2, &[0.9], None),
            2,
            "unknown idle: busy is enough"
        );
    }

    #[test]
    fn closes_a_thread_when_the_rest_can_carry_the_load() {
        assert_eq!(decide(2, 4, &[0.3, 0.1], Some(3.0)), 1);
        assert_eq!(decide(3, 4, &[0.5, 0.5, 0.3], Some(2.0)), 3);
        // The machine is full and the threads are not saturated: the extra
        // thread only competes for the same cores.
        assert_eq!(decide(2, 2, &[0.78, 0.76], Some(0.2)), 1);
        assert_eq!(
            decide(2, 2, &[0.9, 0.95], Some(0.1)),
            2,
            "both saturated: keep"
        );
        assert_eq!(decide(1, 4, &[0.0], Some(3.0)), 1, "never below one");
    }

    #[test]
    fn reads_idle_cores_from_proc_stat() {
        let a = parse_proc_stat("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1\ncpu1 1\nintr 5\n");
        let b = parse_proc_stat("cpu  200 0 100 900 0 0 0 0 0 0\ncpu0 1\ncpu1 1\nintr 5\n");
        assert_eq!(a, Some((800, 1000, 2)));
        // 100 of 200 jiffies idle on 2 CPUs: one idle core.
        assert_eq!(idle_cores(a, b), Some(1.0));
        assert_eq!(parse_proc_stat("garbage"), None);
    }
}
