//! The pacing of firings, a part of the core: how many run at once, how fast a backlog
//! missed during downtime drains, and how late firings started.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The pacing of one runtime's firings.
pub(in crate::runtime) struct Pacing {
    /// Permits for firings in flight (`max_firing_turns`).
    slots: Arc<Semaphore>,
    backlog: Backlog,
    stats: FiringStats,
    /// When this runtime started, milliseconds since the Unix epoch: a firing due
    /// before is part of the backlog.
    started_ms: i64,
}

impl Pacing {
    /// At most `max_in_flight` firings at once, a backlog drained at `backlog_rate` per
    /// second, for a runtime started at `started_ms`.
    pub(in crate::runtime) fn new(
        max_in_flight: usize,
        backlog_rate: u32,
        started_ms: i64,
    ) -> Self {
        Pacing {
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
            backlog: Backlog::new(backlog_rate),
            stats: FiringStats::default(),
            started_ms,
        }
    }

    /// A slot for one firing, once fewer than the cap are in flight; `None` once the
    /// runtime is gone.
    pub(in crate::runtime) async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().acquire_owned().await.ok()
    }

    /// Wait until a firing due at `due_ms` may start: at once, unless it was due before
    /// this runtime started (missed during downtime), when it waits its place in the
    /// backlog's pace so the backlog does not flood the actors. Lateness under load is
    /// not limited.
    pub(in crate::runtime) async fn wait_turn(&self, due_ms: i64) {
        if due_ms < self.started_ms {
            self.backlog.wait_turn().await;
        }
    }

    /// A firing started `late_ms` after it was due.
    pub(in crate::runtime) fn record(&self, late_ms: i64) {
        self.stats.record(late_ms);
    }

    /// Firings done so far, and how late they started.
    pub(in crate::runtime) fn snapshot(&self) -> FiringSnapshot {
        self.stats.snapshot()
    }
}

/// Firings done and how late they started, in power-of-two millisecond buckets (bounded
/// memory, good enough for percentiles of lateness).
#[derive(Default)]
struct FiringStats {
    fired: AtomicU64,
    /// Bucket i counts firings between 2^(i-1) and 2^i - 1 ms late (bucket 0: on time).
    late: [AtomicU64; 32],
}

/// A reading of the firing statistics.
#[derive(Debug, serde::Serialize)]
pub struct FiringSnapshot {
    /// Firings done since the start.
    pub fired: u64,
    /// Upper bound, in milliseconds, of the median lateness bucket.
    pub late_p50_ms: u64,
    /// Upper bound, in milliseconds, of the 99th percentile lateness bucket.
    pub late_p99_ms: u64,
}

impl FiringStats {
    fn record(&self, late_ms: i64) {
        let late = late_ms.max(0) as u64;
        let bucket = (u64::BITS - late.leading_zeros()) as usize;
        self.late[bucket.min(31)].fetch_add(1, Relaxed);
        self.fired.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> FiringSnapshot {
        let counts: Vec<u64> = self.late.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| {
            let want = (total as f64 * q).ceil() as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= want && *c > 0 {
                    return (1u64 << i) - 1;
                }
            }
            0
        };
        FiringSnapshot {
            fired: self.fired.load(Relaxed),
            late_p50_ms: quantile(0.5),
            late_p99_ms: quantile(0.99),
        }
    }
}

/// Spaces out backlog firings to a fixed rate (on tokio's clock, which tests pause).
struct Backlog {
    next_slot: tokio::sync::Mutex<Instant>,
    interval: Duration,
}

impl Backlog {
    fn new(per_second: u32) -> Self {
        Backlog {
            next_slot: tokio::sync::Mutex::new(Instant::now()),
            interval: Duration::from_secs(1) / per_second.max(1),
        }
    }

    async fn wait_turn(&self) {
        let slot = {
            let mut next = self.next_slot.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_percentiles_are_bucket_bounds() {
        let pacing = Pacing::new(1, 1, 0);
        assert_eq!(pacing.snapshot().fired, 0);
        for _ in 0..98 {
            pacing.record(0);
        }
        pacing.record(5);
        pacing.record(3000);
        let snapshot = pacing.snapshot();
        assert_eq!(snapshot.fired, 100);
        assert_eq!(snapshot.late_p50_ms, 0);
        // 5 ms lands in the 4..=7 bucket, 3000 ms in 2048..=4095.
        assert_eq!(snapshot.late_p99_ms, 7);
        pacing.record(3000);
        assert_eq!(pacing.snapshot().late_p99_ms, 4095);
        // Early (a clock step back) counts as on time.
        pacing.record(-10);
        assert_eq!(pacing.snapshot().fired, 102);
    }

    #[tokio::test(start_paused = true)]
    async fn a_backlog_drains_at_its_rate_and_current_firings_do_not_wait() {
        let pacing = Pacing::new(8, 10, 1_000);
        let started = tokio::time::Instant::now();
        for _ in 0..5 {
            pacing.wait_turn(999).await;
        }
        // Five overdue firings at 10 per second: the fifth starts 400 ms after the first.
        assert_eq!(started.elapsed(), Duration::from_millis(400));
        let now = tokio::time::Instant::now();
        pacing.wait_turn(1_000).await;
        assert_eq!(now.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn no_more_firings_than_the_cap_hold_a_slot() {
        let pacing = Pacing::new(2, 1, 0);
        let first = pacing.slot().await.expect("a slot");
        let _second = pacing.slot().await.expect("a slot");
        let third = tokio::time::timeout(Duration::from_millis(50), pacing.slot()).await;
        assert!(
            third.is_err(),
            "a third firing got a slot past the cap of 2"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_millis(50), pacing.slot()).await;
        assert!(matches!(third, Ok(Some(_))));
    }
}
