//! Timers and reminders as Warren keeps them: a registration parsed into a [`Job`] (Dapr's
//! time formats), the job's next firing after a success or a failure, and the record a
//! reminder is stored as (JSON of [`Job`]), read back at every start.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::durations::{DurationError, parse_due_time, parse_period, parse_ttl};

/// Timers live with an activation; reminders are durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// A timer: lives only as long as the actor's activation and is never stored.
    Timer,
    /// A reminder: durable, stored so it survives deactivation and restarts.
    Reminder,
}

/// What to do when a firing fails (Dapr's `failurePolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Give up on this firing; the next period still fires.
    Drop,
    /// Retry every `interval_ms`, at most `max_retries` times (unbounded if absent).
    Constant {
        /// Milliseconds from a failed attempt to its retry.
        interval_ms: u64,
        /// Retries per firing after the first attempt; `None` for no bound.
        max_retries: Option<u32>,
    },
}

impl Default for FailurePolicy {
    /// Dapr's default: three attempts per firing.
    fn default() -> Self {
        FailurePolicy::Constant {
            interval_ms: 1000,
            max_retries: Some(2),
        }
    }
}

/// A timer or reminder, as scheduled and (for reminders) as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// Whether it is a timer or a reminder.
    pub kind: JobKind,
    /// The name it was registered under (Dapr's timer or reminder name).
    pub name: String,
    /// Next firing, milliseconds since the Unix epoch.
    pub due_ms: i64,
    /// Milliseconds between firings; `None` for a job that fires once.
    pub period_ms: Option<u64>,
    /// Firings left, when the period has `R<n>/`.
    pub remaining: Option<u32>,
    /// No firing after this, milliseconds since the Unix epoch.
    pub expires_ms: Option<i64>,
    /// Raw JSON as registered, echoed back on every firing.
    pub data: Vec<u8>,
    /// The method a timer calls (Dapr's `callback`).
    #[serde(default)]
    pub callback: Option<String>,
    /// The strings given at registration, for reads and callbacks.
    pub due_time: String,
    /// Dapr's `period` as registered (may be empty).
    pub period: String,
    /// Dapr's `ttl` as registered (may be empty).
    pub ttl: String,
    /// What to do when a firing fails (Dapr's default when a record has none).
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Failed attempts of the current firing.
    #[serde(default)]
    pub attempts: u32,
}

/// What a registration asks for, in Dapr's terms.
pub struct JobRequest<'a> {
    /// Whether a timer or a reminder is registered.
    pub kind: JobKind,
    /// The timer's or reminder's name (the caller has checked it).
    pub name: &'a str,
    /// Dapr's `dueTime`: a Go or ISO 8601 duration or an RFC 3339 time; empty for now.
    pub due_time: &'a str,
    /// Dapr's `period`: a Go or ISO 8601 duration with an optional `R<n>/` repetition
    /// count; empty for a single firing.
    pub period: &'a str,
    /// Dapr's `ttl`: a Go or ISO 8601 duration or an RFC 3339 time; empty for no expiry.
    pub ttl: &'a str,
    /// Dapr's `data`: JSON bytes, echoed back on every firing.
    pub data: Vec<u8>,
    /// Dapr's `callback`: the action a timer runs in place of its name (none for reminders).
    pub callback: Option<String>,
    /// What to do when a firing fails.
    pub failure_policy: FailurePolicy,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Job {
    /// Parse a registration. A timer's relative TTL counts from its first firing (as in
    /// Dapr), a reminder's from now; a timer that would already be expired is refused.
    pub fn new(req: JobRequest<'_>, now: DateTime<Utc>) -> Result<Job, DurationError> {
        let due = parse_due_time(req.due_time, now)?;
        let period = parse_period(req.period)?;
        let ttl_base = match req.kind {
            JobKind::Timer => due,
            JobKind::Reminder => now,
        };
        let expires = parse_ttl(req.ttl, ttl_base)?;
        if let Some(expires) = expires
            && req.kind == JobKind::Timer
            && expires <= due.max(now)
        {
            return Err(DurationError {
                field: "ttl",
                value: req.ttl.to_string(),
                reason: "the timer would expire before it first fires".into(),
            });
        }
        Ok(Job {
            kind: req.kind,
            name: req.name.to_string(),
            due_ms: due.timestamp_millis(),
            period_ms: period.map(|p| p.every.as_millis() as u64),
            remaining: period.and_then(|p| p.repetitions),
            expires_ms: expires.map(|e| e.timestamp_millis()),
            data: req.data,
            callback: req.callback.filter(|c| !c.is_empty()),
            due_time: req.due_time.to_string(),
            period: req.period.to_string(),
            ttl: req.ttl.to_string(),
            failure_policy: req.failure_policy,
            attempts: 0,
        })
    }

    /// The action a firing runs: a timer's callback, else the job's name.
    pub fn action(&self) -> &str {
        self.callback.as_deref().unwrap_or(&self.name)
    }

    /// The job after a firing at `now` succeeded (or was given up): the next period, with
    /// missed periods coalesced into this one firing, or `None` when it is done.
    pub fn advanced(mut self, now: i64) -> Option<Job> {
        self.attempts = 0;
        if let Some(left) = self.remaining.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                return None;
            }
        }
        // A record read back may hold anything: a period or time past what i64 holds
        // ends the job rather than the process.
        let period = i64::try_from(self.period_ms?).ok().filter(|p| *p > 0)?;
        let mut next = self.due_ms.checked_add(period)?;
        if next <= now {
            let missed = now.checked_sub(next)? / period + 1;
            next = next.checked_add(missed.checked_mul(period)?)?;
        }
        if self.expires_ms.is_some_and(|e| next > e) {
            return None;
        }
        self.due_ms = next;
        Some(self)
    }

    /// The job after a failed firing: a retry per its policy, or the next period.
    pub fn failed(mut self, now: i64) -> Option<Job> {
        if let FailurePolicy::Constant {
            interval_ms,
            max_retries,
        } = self.failure_policy
            && max_retries.is_none_or(|max| self.attempts < max)
        {
            self.attempts = self.attempts.saturating_add(1);
            self.due_ms = now.saturating_add(i64::try_from(interval_ms).unwrap_or(i64::MAX));
            return Some(self);
        }
        self.advanced(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(period: &str, ttl: &str) -> Job {
        let now = DateTime::from_timestamp_millis(0).unwrap();
        Job::new(
            JobRequest {
                kind: JobKind::Reminder,
                name: "r",
                due_time: "",
                period,
                ttl,
                data: Vec::new(),
                callback: None,
                failure_policy: FailurePolicy::default(),
            },
            now,
        )
        .unwrap()
    }

    /// A stored record may hold any numbers (fuzz target `records`): times past what i64
    /// holds end the job, retries stop counting at the top, and nothing panics.
    #[test]
    fn records_at_the_edges_of_time_end_instead_of_overflowing() {
        let stored = |due_ms: i64, period_ms: u64| {
            let mut j = job("1s", "");
            j.due_ms = due_ms;
            j.period_ms = Some(period_ms);
            j
        };
        assert!(stored(i64::MAX - 10, 1000).advanced(0).is_none());
        assert!(stored(0, u64::MAX).advanced(0).is_none());
        assert!(stored(i64::MIN, 1000).advanced(i64::MAX).is_none());
        let mut retrying = stored(0, 1000);
        retrying.failure_policy = FailurePolicy::Constant {
            interval_ms: u64::MAX,
            max_retries: None,
        };
        retrying.attempts = u32::MAX;
        let retried = retrying.failed(i64::MAX).unwrap();
        assert_eq!((retried.attempts, retried.due_ms), (u32::MAX, i64::MAX));
    }

    #[test]
    fn repetitions_end_a_reminder() {
        let mut j = Some(job("R3/PT1S", ""));
        let mut fired = 0;
        while let Some(current) = j {
            fired += 1;
            j = current.clone().advanced(current.due_ms);
        }
        assert_eq!(fired, 3);
    }

    #[test]
    fn missed_periods_fire_once() {
        let j = job("1s", "");
        // Ten seconds late: the next firing is the first one after now, not ten catch-ups.
        let next = j.advanced(10_500).unwrap();
        assert_eq!(next.due_ms, 11_000);
    }

    #[test]
    fn ttl_stops_a_period_and_failures_retry() {
        let j = job("1s", "2500ms");
        let j = j.advanced(0).unwrap().advanced(1000).unwrap();
        assert_eq!(j.due_ms, 2000);
        assert!(j.advanced(2000).is_none());
        let j = job("1s", "");
        let retry = j.failed(0).unwrap();
        assert_eq!((retry.due_ms, retry.attempts), (1000, 1));
        let retry = retry.failed(1000).unwrap().failed(2000).unwrap();
        // Third failure: retries used up, so the next period.
        assert_eq!(retry.attempts, 0);
    }
}
