//! Timers and reminders: when each fires next. The firing itself is a turn, run by the
//! runtime core ([`super::Runtime`]); this module only keeps the schedule.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use tokio::sync::Notify;

use super::ActorId;

pub use warren_wire::jobs::{FailurePolicy, Job, JobKind, JobRequest, now_ms};

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
    /// The actor it fires on.
    pub actor: ActorId,
    /// The job, as it was when popped.
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
mod count_tests {
    use super::*;
    use chrono::Utc;

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
