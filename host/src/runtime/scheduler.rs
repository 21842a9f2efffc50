//! Timers and reminders: when each fires next. The firing itself is a turn, run by the
//! runtime core ([`super::Runtime`]); this module only keeps the schedule.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::ActorId;
use super::durations::{DurationError, parse_due_time, parse_period, parse_ttl};

/// Timers live with an activation; reminders are durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Timer,
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
        interval_ms: u64,
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
    pub kind: JobKind,
    pub name: String,
    /// Next firing, milliseconds since the Unix epoch.
    pub due_ms: i64,
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
    pub period: String,
    pub ttl: String,
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Failed attempts of the current firing.
    #[serde(default)]
    pub attempts: u32,
}

/// What a registration asks for, in Dapr's terms.
pub struct JobRequest<'a> {
    pub kind: JobKind,
    pub name: &'a str,
    pub due_time: &'a str,
    pub period: &'a str,
    pub ttl: &'a str,
    pub data: Vec<u8>,
    pub callback: Option<String>,
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
        let period = self.period_ms? as i64;
        let mut next = self.due_ms + period;
        if next <= now {
            let missed = (now - next) / period + 1;
            next += missed * period;
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
            self.attempts += 1;
            self.due_ms = now + interval_ms as i64;
            return Some(self);
        }
        self.advanced(now)
    }
}

type JobKey = (JobKind, ActorId, String);

#[derive(Default)]
struct Schedule {
    /// Every job with the sequence number of its current registration.
    jobs: HashMap<JobKey, (Job, u64)>,
    /// Jobs waiting to fire, by due time. A job being fired is in `jobs` but not here.
    queue: BTreeSet<(i64, u64, JobKey)>,
    next_seq: u64,
    /// How many of `jobs` are timers and reminders, kept with every change so counting is
    /// not a walk over every job (the reminder window reads it twice a second).
    timers: usize,
    reminders: usize,
}

impl Schedule {
    fn tally(&mut self, kind: JobKind) -> &mut usize {
        match kind {
            JobKind::Timer => &mut self.timers,
            JobKind::Reminder => &mut self.reminders,
        }
    }

    /// Remove a job from `jobs` and from the queue, if there.
    fn remove_job(&mut self, key: &JobKey) -> Option<(Job, u64)> {
        let (job, seq) = self.jobs.remove(key)?;
        self.queue.remove(&(job.due_ms, seq, key.clone()));
        *self.tally(key.0) -= 1;
        Some((job, seq))
    }
}

/// A job popped for firing; hand it back with [`Scheduler::reschedule`] or
/// [`Scheduler::finish`].
pub struct DueJob {
    pub actor: ActorId,
    pub job: Job,
    seq: u64,
}

/// The timers and reminders of the process.
#[derive(Default)]
pub struct Scheduler {
    schedule: Mutex<Schedule>,
    /// Woken when a job is added, so the firing loop recomputes its sleep.
    pub changed: Notify,
}

impl Scheduler {
    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add or replace a job.
    pub fn put(&self, actor: &ActorId, job: Job) {
        let mut s = self.lock();
        let key = (job.kind, actor.clone(), job.name.clone());
        s.remove_job(&key);
        s.next_seq += 1;
        let seq = s.next_seq;
        s.queue.insert((job.due_ms, seq, key.clone()));
        *s.tally(key.0) += 1;
        s.jobs.insert(key, (job, seq));
        drop(s);
        self.changed.notify_one();
    }

    /// Add a job unless one of its kind, actor and name is there (waiting or firing);
    /// whether it was added.
    pub fn put_if_absent(&self, actor: &ActorId, job: Job) -> bool {
        let key = (job.kind, actor.clone(), job.name.clone());
        if self.lock().jobs.contains_key(&key) {
            return false;
        }
        self.put(actor, job);
        true
    }

    /// How many jobs of `kind` are held.
    pub fn count(&self, kind: JobKind) -> usize {
        *self.lock().tally(kind)
    }

    /// Whether `fired` is still the current registration of its job.
    pub fn is_current(&self, fired: &DueJob) -> bool {
        let key = (fired.job.kind, fired.actor.clone(), fired.job.name.clone());
        matches!(self.lock().jobs.get(&key), Some((_, seq)) if *seq == fired.seq)
    }

    /// Remove a job; returns whether it existed.
    pub fn remove(&self, kind: JobKind, actor: &ActorId, name: &str) -> bool {
        let mut s = self.lock();
        let key = (kind, actor.clone(), name.to_string());
        s.remove_job(&key).is_some()
    }

    /// A job, if registered.
    pub fn get(&self, kind: JobKind, actor: &ActorId, name: &str) -> Option<Job> {
        let s = self.lock();
        let key = (kind, actor.clone(), name.to_string());
        s.jobs.get(&key).map(|(job, _)| job.clone())
    }

    /// The jobs of one kind of an actor, by name.
    pub fn list(&self, kind: JobKind, actor: &ActorId) -> Vec<Job> {
        self.list_matching(kind, |a| a == actor)
            .into_iter()
            .map(|(_, job)| job)
            .collect()
    }

    /// The jobs of one kind of the actors `filter` selects, by actor and name.
    pub fn list_matching(
        &self,
        kind: JobKind,
        filter: impl Fn(&ActorId) -> bool,
    ) -> Vec<(ActorId, Job)> {
        let s = self.lock();
        let mut jobs: Vec<(ActorId, Job)> = s
            .jobs
            .iter()
            .filter(|((k, a, _), _)| *k == kind && filter(a))
            .map(|((_, a, _), (job, _))| (a.clone(), job.clone()))
            .collect();
        jobs.sort_by(|a, b| (&a.0, &a.1.name).cmp(&(&b.0, &b.1.name)));
        jobs
    }

    /// Drop every timer of an actor (it was deactivated).
    pub fn remove_timers(&self, actor: &ActorId) {
        let mut s = self.lock();
        let keys: Vec<JobKey> = s
            .jobs
            .keys()
            .filter(|(k, a, _)| *k == JobKind::Timer && a == actor)
            .cloned()
            .collect();
        for key in keys {
            s.remove_job(&key);
        }
    }

    /// Drop every timer and reminder of the actors `filter` selects (their partition
    /// moved to another host).
    pub fn remove_where(&self, filter: impl Fn(&ActorId) -> bool) {
        let mut s = self.lock();
        let keys: Vec<JobKey> = s
            .jobs
            .keys()
            .filter(|(_, a, _)| filter(a))
            .cloned()
            .collect();
        for key in keys {
            s.remove_job(&key);
        }
    }

    /// Drop every job of a tenant (it was deleted).
    pub fn remove_tenant(&self, tenant: &str) {
        let mut s = self.lock();
        let keys: Vec<JobKey> = s
            .jobs
            .keys()
            .filter(|(_, a, _)| &*a.tenant == tenant)
            .cloned()
            .collect();
        for key in keys {
            s.remove_job(&key);
        }
    }

    /// When the earliest waiting job is due.
    pub fn next_due(&self) -> Option<i64> {
        self.lock().queue.first().map(|(due, _, _)| *due)
    }

    /// Take up to `max` jobs due at `now` out of the queue for firing.
    pub fn pop_due(&self, now: i64, max: usize) -> Vec<DueJob> {
        let mut s = self.lock();
        let mut due = Vec::new();
        while due.len() < max {
            let Some(first) = s.queue.first() else { break };
            if first.0 > now {
                break;
            }
            let Some((_, seq, key)) = s.queue.pop_first() else {
                break;
            };
            if let Some((job, _)) = s.jobs.get(&key) {
                due.push(DueJob {
                    actor: key.1.clone(),
                    job: job.clone(),
                    seq,
                });
            }
        }
        due
    }

    /// Put a fired job back with its next due time. Returns false (and does nothing) if
    /// the job was replaced or removed while it fired.
    pub fn reschedule(&self, fired: &DueJob, job: Job) -> bool {
        let mut s = self.lock();
        let key = (job.kind, fired.actor.clone(), job.name.clone());
        match s.jobs.get_mut(&key) {
            Some((current, seq)) if *seq == fired.seq => {
                *current = job.clone();
                s.queue.insert((job.due_ms, fired.seq, key));
                drop(s);
                self.changed.notify_one();
                true
            }
            _ => false,
        }
    }

    /// Remove a fired job that is done. Returns false if it was replaced or removed while
    /// it fired.
    pub fn finish(&self, fired: &DueJob) -> bool {
        let mut s = self.lock();
        let key = (fired.job.kind, fired.actor.clone(), fired.job.name.clone());
        match s.jobs.get(&key) {
            Some((_, seq)) if *seq == fired.seq => {
                s.remove_job(&key);
                true
            }
            _ => false,
        }
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

#[cfg(test)]
mod count_tests {
    use super::*;

    fn named(kind: JobKind, name: &str) -> Job {
        let request = JobRequest {
            kind,
            name,
            due_time: "",
            period: "",
            ttl: "",
            data: Vec::new(),
            callback: None,
            failure_policy: FailurePolicy::default(),
        };
        Job::new(request, Utc::now()).unwrap()
    }

    /// The counts follow every way a job comes and goes.
    #[test]
    fn counts_follow_puts_replacements_removals_and_firings() {
        let scheduler = Scheduler::default();
        let a = ActorId::new("t", "x", "a");
        let b = ActorId::new("u", "x", "b");
        scheduler.put(&a, named(JobKind::Reminder, "r1"));
        scheduler.put(&a, named(JobKind::Reminder, "r1"));
        scheduler.put(&a, named(JobKind::Reminder, "r2"));
        scheduler.put(&a, named(JobKind::Timer, "t1"));
        scheduler.put(&b, named(JobKind::Reminder, "r1"));
        assert!(!scheduler.put_if_absent(&b, named(JobKind::Reminder, "r1")));
        assert_eq!(scheduler.count(JobKind::Reminder), 3);
        assert_eq!(scheduler.count(JobKind::Timer), 1);

        assert!(scheduler.remove(JobKind::Reminder, &a, "r2"));
        assert!(!scheduler.remove(JobKind::Reminder, &a, "r2"));
        scheduler.remove_timers(&a);
        assert_eq!(scheduler.count(JobKind::Timer), 0);
        scheduler.remove_tenant("u");
        assert_eq!(scheduler.count(JobKind::Reminder), 1);

        let due = scheduler.pop_due(i64::MAX, 10);
        assert_eq!(due.len(), 1);
        assert_eq!(scheduler.count(JobKind::Reminder), 1, "firing, still held");
        assert!(scheduler.finish(&due[0]));
        assert_eq!(scheduler.count(JobKind::Reminder), 0);
    }
}
