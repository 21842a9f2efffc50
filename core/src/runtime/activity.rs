//! What the host did lately, for people watching it (the console's front page and
//! `warren status`): turns and failed turns per second with their p99 latency over the
//! last minute, and the last failed turns with what their guest printed. Running totals
//! kept with atomics on the turn path, sampled once a second.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Upper bounds of the latency buckets, in milliseconds (the last one catches the rest).
const BUCKETS_MS: [f64; 18] = [
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
    f64::INFINITY,
];

/// Seconds of history kept.
const HISTORY: usize = 60;
/// Failed turns kept.
const FAILURES: usize = 50;
/// Lines of guest output kept with a failed turn.
pub const FAILURE_LINES: usize = 20;
/// Characters kept of each of those lines.
pub const FAILURE_LINE_CHARS: usize = 300;

/// One second of turns.
#[derive(Clone, Debug, Serialize)]
pub struct Second {
    /// When the second ended, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Turns that ended in the second.
    pub turns: u64,
    /// Of those, the turns that failed.
    pub failed: u64,
    /// The p99 latency of the second's turns, by bucket bound (none without turns).
    pub p99_ms: Option<f64>,
    #[serde(skip)]
    latency: [u64; BUCKETS_MS.len()],
}

/// A turn that did not succeed.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// When the turn failed, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The tenant of the actor.
    pub tenant: String,
    /// The actor's type.
    pub actor_type: String,
    /// The actor's id within its type.
    pub actor_id: String,
    /// The action the turn ran.
    pub action: String,
    /// `error`, `trap`, `deadline` or `memory` (as in the metrics).
    pub outcome: String,
    /// The error the turn ended with, as text.
    pub message: String,
    /// What the guest printed during the turn (the first lines).
    pub output: Vec<String>,
}

#[derive(Clone, Copy, Default)]
struct Totals {
    turns: u64,
    failed: u64,
    latency: [u64; BUCKETS_MS.len()],
}

/// The host's recent activity.
#[derive(Default)]
pub struct Activity {
    turns: AtomicU64,
    failed: AtomicU64,
    latency: [AtomicU64; BUCKETS_MS.len()],
    last: Mutex<Totals>,
    history: Mutex<VecDeque<Second>>,
    failures: Mutex<VecDeque<Failure>>,
}

fn p99(latency: &[u64; BUCKETS_MS.len()]) -> Option<f64> {
    let total: u64 = latency.iter().sum();
    if total == 0 {
        return None;
    }
    // The smallest bound under which 99% of the turns finished.
    let needed = total - total / 100;
    let mut seen = 0;
    for (count, bound) in latency.iter().zip(BUCKETS_MS) {
        seen += count;
        if seen >= needed {
            return Some(if bound.is_finite() {
                bound
            } else {
                BUCKETS_MS[BUCKETS_MS.len() - 2]
            });
        }
    }
    None
}

impl Activity {
    /// Count a turn that took `took`.
    pub fn turn(&self, ok: bool, took: Duration) {
        self.turns.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        let ms = took.as_secs_f64() * 1000.0;
        let bucket = BUCKETS_MS
            .iter()
            .position(|bound| ms <= *bound)
            .unwrap_or(BUCKETS_MS.len() - 1);
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Keep `failure` among the last failed turns.
    pub fn failed_turn(&self, failure: Failure) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() == FAILURES {
            failures.pop_front();
        }
        failures.push_back(failure);
    }

    /// Close the second that ends at `now_ms`.
    pub fn sample(&self, now_ms: i64) {
        let now = Totals {
            turns: self.turns.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            latency: std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed)),
        };
        let before = std::mem::replace(
            &mut *self.last.lock().unwrap_or_else(|p| p.into_inner()),
            now,
        );
        let latency = std::array::from_fn(|i| now.latency[i].saturating_sub(before.latency[i]));
        let second = Second {
            at_ms: now_ms,
            turns: now.turns.saturating_sub(before.turns),
            failed: now.failed.saturating_sub(before.failed),
            p99_ms: p99(&latency),
            latency,
        };
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(second);
    }

    /// The figures of the last minute.
    pub fn snapshot(&self) -> ActivityView {
        let history: Vec<Second> = self
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        let recent = &history[history.len().saturating_sub(10)..];
        let seconds = recent.len().max(1) as f64;
        let mut minute = [0u64; BUCKETS_MS.len()];
        for second in &history {
            for (sum, count) in minute.iter_mut().zip(second.latency) {
                *sum += count;
            }
        }
        let mut failures: Vec<Failure> = self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        failures.reverse();
        ActivityView {
            turns_total: self.turns.load(Ordering::Relaxed),
            failed_total: self.failed.load(Ordering::Relaxed),
            turns_per_second: recent.iter().map(|s| s.turns).sum::<u64>() as f64 / seconds,
            failed_per_second: recent.iter().map(|s| s.failed).sum::<u64>() as f64 / seconds,
            p99_ms: p99(&minute),
            history,
            failures,
        }
    }
}

/// The recent activity as the console and `warren status` show it.
#[derive(Clone, Debug, Serialize)]
pub struct ActivityView {
    /// Turns since the host started.
    pub turns_total: u64,
    /// Failed turns since the host started.
    pub failed_total: u64,
    /// Over the last 10 seconds.
    pub turns_per_second: f64,
    /// Failed turns per second, over the last 10 seconds.
    pub failed_per_second: f64,
    /// Over the last minute.
    pub p99_ms: Option<f64>,
    /// One entry per second, oldest first.
    pub history: Vec<Second>,
    /// The last failed turns, newest first.
    pub failures: Vec<Failure>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_counts_its_turns_failures_and_p99() {
        let activity = Activity::default();
        for _ in 0..99 {
            activity.turn(true, Duration::from_micros(300));
        }
        activity.turn(false, Duration::from_millis(40));
        activity.sample(1_000);
        activity.sample(2_000);
        let view = activity.snapshot();
        assert_eq!(view.history.len(), 2);
        assert_eq!(view.history[0].turns, 100);
        assert_eq!(view.history[0].failed, 1);
        assert_eq!(view.history[0].p99_ms, Some(0.5));
        assert_eq!(view.history[1].turns, 0);
        assert_eq!(view.history[1].p99_ms, None);
        assert_eq!(view.turns_total, 100);
        assert_eq!(view.turns_per_second, 50.0);
        assert_eq!(view.p99_ms, Some(0.5));
    }
}

/// The host at a glance: what the console's front page and `warren status` show.
#[derive(Clone, Debug, Serialize)]
pub struct HostStatus {
    /// Warren's version, as built (`CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// When the host started, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// Seconds since the host started.
    pub uptime_seconds: u64,
    /// Tenants the host knows.
    pub tenants: usize,
    /// Components registered, deployed or from outside, over all tenants.
    pub components: usize,
    /// Actor types hosted, over all tenants.
    pub actor_types: usize,
    /// Actors active on this host now.
    pub active_actors: usize,
    /// Guest instances kept warm between turns now.
    pub kept_instances: u64,
    /// Memory charged to them, in bytes.
    pub kept_memory_bytes: u64,
    /// The host's budget for them, in bytes.
    pub kept_memory_budget_bytes: u64,
    /// Kept instances dropped since start to fit a budget.
    pub kept_evictions: u64,
    /// Components compiled since start.
    pub components_compiled: u64,
    /// Components loaded from the compiled-artifact cache instead, since start.
    pub artifact_cache_hits: u64,
    /// Turns and failures of the last minute, inlined in the status.
    #[serde(flatten)]
    pub activity: ActivityView,
}

/// One actor's committed state and its reminders and timers.
#[derive(Clone, Debug)]
pub struct ActorView {
    /// Whether the actor is active on this host now.
    pub active: bool,
    /// The version of its last commit (0: never written).
    pub version: u64,
    /// Its committed entries, key and value, without the host's reserved keys.
    pub state: Vec<(String, Vec<u8>)>,
    /// Its reminders, as stored.
    pub reminders: Vec<super::scheduler::Job>,
    /// Its timers running on this host.
    pub timers: Vec<super::scheduler::Job>,
}

impl super::Runtime {
    /// The host at a glance.
    pub fn status(&self) -> HostStatus {
        let inner = &self.0;
        let tenants = inner.tenancy.list();
        let (compiled, hits) = inner.catalog.loader().cache_counts();
        let started_ms = inner.started_ms;
        let kept = inner.catalog.loader().kept();
        HostStatus {
            version: env!("CARGO_PKG_VERSION"),
            started_ms,
            uptime_seconds: u64::try_from((super::scheduler::now_ms() - started_ms) / 1000)
                .unwrap_or(0),
            tenants: tenants.len(),
            components: tenants
                .iter()
                .map(|t| inner.catalog.registry().components(&t.record.name).len())
                .sum(),
            actor_types: tenants
                .iter()
                .map(|t| inner.catalog.registry().actor_types(&t.record.name).len())
                .sum(),
            active_actors: inner.table.len(),
            kept_instances: kept.instances,
            kept_memory_bytes: kept.bytes,
            kept_memory_budget_bytes: kept.budget_bytes,
            kept_evictions: kept.evictions,
            components_compiled: compiled,
            artifact_cache_hits: hits,
            activity: inner.metrics.activity().snapshot(),
        }
    }

    /// One actor of a hosted type as people inspect it: its committed state (read
    /// without taking a turn), reminders and timers.
    pub async fn actor_view(
        &self,
        actor: &crate::types::ActorId,
    ) -> Result<ActorView, super::ScheduleError> {
        use super::scheduler::JobKind;
        // Listing its jobs checks the tenant hosts the type.
        let reminders = self.list_jobs(JobKind::Reminder, actor).await?;
        let timers = self.list_jobs(JobKind::Timer, actor).await?;
        let record = self.committed(actor).await?;
        Ok(ActorView {
            active: self.is_active(actor),
            version: record.version,
            state: record
                .visible()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            reminders,
            timers,
        })
    }
}
