//! How a training run shares the CPU with the scans. The scans count
//! themselves in and out of [`Activity`] (two atomic operations and a clock
//! read each); the training thread asks its [`Pacer`] every few samples
//! ([`super::train::PACE_EVERY`]). While no scan is in flight, and none
//! ended within [`QUIET`], the run goes at full speed; otherwise it waits,
//! up to the time that keeps it at `cpu_share` of a core: a training run
//! then takes longer, scans never queue behind it, and under a load with
//! no pause at all the run still ends.
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long after a scan ends the scans still count as busy: a client
/// that sends its next message at once leaves gaps shorter than this, and
/// training in those gaps would leave the next scan cold caches.
pub const QUIET: Duration = Duration::from_millis(5);

/// Scans in flight, shared by the pipeline and the training thread.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    /// When the last scan ended, in nanoseconds after `epoch` (0: never).
    last_end: AtomicU64,
    epoch: Instant,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            last_end: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Activity {
    /// Counts a scan in until the guard drops.
    pub fn scan(&self) -> Scanning<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Scanning(self)
    }

    /// A scan is in flight or ended within [`QUIET`].
    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0 || self.ended_within(QUIET)
    }

    /// A scan ended less than `d` ago.
    fn ended_within(&self, d: Duration) -> bool {
        let last = self.last_end.load(Ordering::Relaxed);
        last != 0 && self.nanos().saturating_sub(last) < nanos(d)
    }

    fn nanos(&self) -> u64 {
        nanos(self.epoch.elapsed()).max(1)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One scan in flight.
#[derive(Debug)]
pub struct Scanning<'a>(&'a Activity);

impl Drop for Scanning<'_> {
    fn drop(&mut self) {
        self.0.last_end.store(self.0.nanos(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How often a waiting training thread looks whether the scans are done.
const POLL: Duration = Duration::from_millis(1);
/// The longest wait before one slice, however long the last one took
/// (a slice the scheduler held up would otherwise buy a long pause).
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Paces one training run.
#[derive(Debug)]
pub struct Pacer<'a> {
    activity: &'a Activity,
    /// The share of a core the run may take while scans are in flight.
    share: f64,
    batch_started: Option<Instant>,
    /// Time spent waiting, for the log.
    pub waited: Duration,
    /// Slices that waited.
    pub waits: u64,
}

impl<'a> Pacer<'a> {
    pub fn new(activity: &'a Activity, share: f64) -> Pacer<'a> {
        Pacer {
            activity,
            share: share.clamp(0.001, 1.0),
            batch_started: None,
            waited: Duration::ZERO,
            waits: 0,
        }
    }

    /// Waits, if scans are in flight, before the next slice of work.
    pub fn before_slice(&mut self) {
        let now = Instant::now();
        if let (Some(started), true) = (self.batch_started, self.activity.busy()) {
            let deadline = now + self.allowance(now - started);
            self.waits += 1;
            while self.activity.busy() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(POLL));
            }
            self.waited += now.elapsed();
        }
        self.batch_started = Some(Instant::now());
    }

    /// The longest wait after a slice that took `worked`: the run keeps to
    /// `share` of a core when it waits this long after every slice.
    pub fn allowance(&self, worked: Duration) -> Duration {
        worked
            .mul_f64((1.0 - self.share) / self.share)
            .min(MAX_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_runs_at_full_speed_and_busy_waits_the_share() {
        let a = Activity::default();
        let mut p = Pacer::new(&a, 0.2);
        assert_eq!(
            p.allowance(Duration::from_millis(10)),
            Duration::from_millis(40)
        );
        assert_eq!(
            Pacer::new(&a, 1.0).allowance(Duration::from_secs(5)),
            Duration::ZERO
        );
        assert_eq!(p.allowance(Duration::from_secs(60)), MAX_WAIT);

        // No scan in flight: no wait.
        p.before_slice();
        std::thread::sleep(Duration::from_millis(5));
        p.before_slice();
        assert_eq!((p.waits, p.waited), (0, Duration::ZERO));

        // A scan in flight: the slice waits 4x the last one (share 0.2).
        let scanning = a.scan();
        assert!(a.busy());
        std::thread::sleep(Duration::from_millis(5));
        let t = Instant::now();
        p.before_slice();
        assert!(
            t.elapsed() >= Duration::from_millis(20),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(p.waits, 1);
        drop(scanning);
        // Its end is remembered (busy within QUIET of it; asserted with a
        // wide window, so that a descheduled test thread cannot fail it),
        // and the quiet time then passes.
        assert!(a.ended_within(Duration::from_secs(60)));
        std::thread::sleep(QUIET);
        assert!(!a.busy());
    }

    #[test]
    fn a_scan_that_ends_ends_the_wait() {
        let a = std::sync::Arc::new(Activity::default());
        let mut p = Pacer::new(&a, 0.001);
        p.before_slice();
        std::thread::sleep(Duration::from_millis(20));
        let b = std::sync::Arc::clone(&a);
        let (tx, rx) = std::sync::mpsc::channel();
        let scan = std::thread::spawn(move || {
            let _s = b.scan();
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(30));
        });
        rx.recv().unwrap();
        let t = Instant::now();
        // The allowance is a second; the scan ends after ~30 ms.
        p.before_slice();
        scan.join().unwrap();
        assert!(t.elapsed() < MAX_WAIT, "{:?}", t.elapsed());
        assert!(p.waited >= Duration::from_millis(10), "{:?}", p.waited);
    }
}
