//! Timers and reminders as the runtime sees them: registration (checked, persisted) and
//! firing (a turn like any other, taking the actor's turn lock).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::durations::DurationError;
use super::reminder_records::{decode_job, encode_job};
use super::routing::{Placement, ScheduleChange};
use super::scheduler::{DueJob, FailurePolicy, Job, JobKind, JobRequest, now_ms};
use super::{
    ActorId, CallMode, Fired, Inner, Invocation, InvokeError, Runtime, ScheduleOp, Trigger,
};
use crate::store::StoreError;
use crate::types::ReminderChange;

/// How long to wait before retrying a reminder whose actor type is not hosted (yet).
const UNHOSTED_RETRY_MS: i64 = 5000;

/// Why a timer or reminder was not registered.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("actor type {actor_type:?} is not hosted in tenant {tenant:?}")]
    NotHosted { tenant: String, actor_type: String },
    #[error(transparent)]
    Duration(#[from] DurationError),
    #[error("reminder {name:?} of {actor} already exists")]
    AlreadyExists { actor: ActorId, name: String },
    #[error("storing the reminder failed: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Limit(String),
    /// Cluster mode: the actor's owner could not be reached, or refused the change
    /// before making it (it may be sent again).
    #[error("{0}")]
    Unavailable(String),
    /// Cluster mode: the change reached the actor's owner, but no answer came back: it
    /// may have been made. Not sent again (a reminder registered twice could fire
    /// twice); the caller reads the reminder before it retries.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
}

/// Firings done and how late they started, in power-of-two millisecond buckets (bounded
/// memory, good enough for percentiles of lateness).
#[derive(Default)]
pub(super) struct FiringStats {
    fired: std::sync::atomic::AtomicU64,
    /// Bucket i counts firings between 2^(i-1) and 2^i - 1 ms late (bucket 0: on time).
    late: [std::sync::atomic::AtomicU64; 32],
}

/// A reading of the firing statistics.
#[derive(Debug, serde::Serialize)]
pub struct FiringSnapshot {
    pub fired: u64,
    /// Upper bounds, in milliseconds, of the p50 / p99 lateness bucket.
    pub late_p50_ms: u64,
    pub late_p99_ms: u64,
}

impl FiringStats {
    fn record(&self, late_ms: i64) {
        use std::sync::atomic::Ordering::Relaxed;
        let late = late_ms.max(0) as u64;
        let bucket = (u64::BITS - late.leading_zeros()) as usize;
        self.late[bucket.min(31)].fetch_add(1, Relaxed);
        self.fired.fetch_add(1, Relaxed);
    }

    pub(super) fn snapshot(&self) -> FiringSnapshot {
        use std::sync::atomic::Ordering::Relaxed;
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

/// Spaces out backlog firings to a fixed rate.
pub(super) struct Backlog {
    next_slot: tokio::sync::Mutex<Instant>,
    interval: Duration,
}

impl Backlog {
    pub(super) fn new(per_second: u32) -> Self {
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
        tokio::time::sleep_until(slot.into()).await;
    }
}

impl Runtime {
    /// The scheduling side of the hosting rule: no timer or reminder of a type the tenant
    /// does not host is set, read, listed or deleted.
    fn schedulable(&self, actor: &ActorId) -> Result<(), ScheduleError> {
        if self.hosts(&actor.tenant, &actor.actor_type) {
            Ok(())
        } else {
            Err(ScheduleError::NotHosted {
                tenant: actor.tenant.to_string(),
                actor_type: actor.actor_type.to_string(),
            })
        }
    }

    /// Register a reminder; with `overwrite` false an existing one is an error.
    pub async fn set_reminder(
        &self,
        actor: &ActorId,
        job: Job,
        overwrite: bool,
    ) -> Result<(), ScheduleError> {
        self.schedulable(actor)?;
        let change = ScheduleChange::SetReminder {
            job: job.clone(),
            overwrite,
        };
        if let Some(routed) = self.route_schedule(actor, &change).await {
            return routed.map(drop);
        }
        if !overwrite && self.0.store.reminder(actor, &job.name).await?.is_some() {
            return Err(ScheduleError::AlreadyExists {
                actor: actor.clone(),
                name: job.name,
            });
        }
        self.persist(actor, &job).await.map_err(refused_write)?;
        self.remember_reminder(actor, job);
        Ok(())
    }

    /// Memory's side of a stored reminder: held only while it is due within the window;
    /// later, a window read finds it.
    fn remember_reminder(&self, actor: &ActorId, job: Job) {
        if job.due_ms <= window_end() {
            self.0.scheduler.put(actor, job);
        } else {
            self.0.scheduler.remove(JobKind::Reminder, actor, &job.name);
        }
    }

    /// Deliver `invocation` at `at_ms` (Unix epoch milliseconds), durably: it is kept as a
    /// one-shot reminder of its target, so it survives restarts. Its metadata is not kept.
    pub async fn schedule_call(
        &self,
        invocation: Invocation,
        at_ms: i64,
    ) -> Result<(), ScheduleError> {
        let due = chrono::DateTime::from_timestamp_millis(at_ms)
            .unwrap_or_else(chrono::Utc::now)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let name = format!("scheduled-{}", uuid::Uuid::new_v4());
        let request = JobRequest {
            kind: JobKind::Reminder,
            name: &name,
            due_time: &due,
            period: "",
            ttl: "",
            data: invocation.payload,
            callback: Some(invocation.action),
            failure_policy: FailurePolicy::default(),
        };
        let job = Job::new(request, chrono::Utc::now()).map_err(ScheduleError::from)?;
        self.set_reminder(&invocation.target, job, false).await
    }

    async fn persist(&self, actor: &ActorId, job: &Job) -> Result<(), StoreError> {
        let record = encode_job(job)?;
        self.0
            .store
            .put_reminder(actor, &job.name, job.due_ms, record)
            .await
    }

    /// Delete a reminder; returns whether it existed.
    pub async fn delete_reminder(
        &self,
        actor: &ActorId,
        name: &str,
    ) -> Result<bool, ScheduleError> {
        self.schedulable(actor)?;
        let change = ScheduleChange::Delete(JobKind::Reminder, name.to_string());
        if let Some(routed) = self.route_schedule(actor, &change).await {
            return routed;
        }
        let existed = self
            .0
            .store
            .delete_reminder(actor, name)
            .await
            .map_err(refused_write)?;
        self.0.scheduler.remove(JobKind::Reminder, actor, name);
        Ok(existed)
    }

    /// A timer or reminder of an actor. Reminders are read from the store, which holds
    /// them all; memory holds only the ones due soon.
    pub async fn get_job(
        &self,
        kind: JobKind,
        actor: &ActorId,
        name: &str,
    ) -> Result<Option<Job>, ScheduleError> {
        self.schedulable(actor)?;
        if kind == JobKind::Timer {
            return Ok(self.0.scheduler.get(kind, actor, name));
        }
        let stored = self.0.store.reminder(actor, name).await?;
        Ok(stored.and_then(|r| decode_job(&r)))
    }

    /// The timers or reminders of an actor.
    pub async fn list_jobs(
        &self,
        kind: JobKind,
        actor: &ActorId,
    ) -> Result<Vec<Job>, ScheduleError> {
        self.schedulable(actor)?;
        if kind == JobKind::Timer {
            return Ok(self.0.scheduler.list(kind, actor));
        }
        let stored = self
            .0
            .store
            .actor_reminders(&actor.tenant, &actor.actor_type, Some(&actor.id))
            .await?;
        Ok(stored.iter().filter_map(decode_job).collect())
    }

    /// The reminders of every actor of a type (or of one id), by actor and name.
    pub async fn type_reminders(
        &self,
        tenant: &str,
        actor_type: &str,
        id: Option<&str>,
    ) -> Result<Vec<(ActorId, Job)>, ScheduleError> {
        self.schedulable(&ActorId::new(tenant, actor_type, "-"))?;
        let stored = self.0.store.actor_reminders(tenant, actor_type, id).await?;
        Ok(stored
            .iter()
            .filter_map(|r| Some((r.actor.clone(), decode_job(r)?)))
            .collect())
    }

    /// Start a timer on the actor's owner; it lives as long as the actor's activation
    /// (which this starts).
    pub async fn set_timer(&self, actor: &ActorId, job: Job) -> Result<(), ScheduleError> {
        let change = ScheduleChange::SetTimer(job.clone());
        if let Some(routed) = self.route_schedule(actor, &change).await {
            return routed.map(drop);
        }
        self.set_timer_here(actor, job)
    }

    /// Start a timer of an actor this host owns.
    pub(super) fn set_timer_here(&self, actor: &ActorId, job: Job) -> Result<(), ScheduleError> {
        let not_hosted = || ScheduleError::NotHosted {
            tenant: actor.tenant.to_string(),
            actor_type: actor.actor_type.to_string(),
        };
        let entry = self
            .0
            .registry
            .actor_type(&actor.tenant, &actor.actor_type)
            .ok_or_else(not_hosted)?;
        let tenant = self.0.tenancy.get(&actor.tenant).ok_or_else(not_hosted)?;
        let slot = self
            .activate(&tenant, &entry, actor)
            .map_err(|e| ScheduleError::Limit(e.to_string()))?;
        self.0.table.touch(&slot);
        self.0.scheduler.put(actor, job);
        Ok(())
    }

    /// Stop a timer; returns whether it existed.
    pub async fn delete_timer(&self, actor: &ActorId, name: &str) -> Result<bool, ScheduleError> {
        self.schedulable(actor)?;
        let change = ScheduleChange::Delete(JobKind::Timer, name.to_string());
        if let Some(routed) = self.route_schedule(actor, &change).await {
            return routed;
        }
        Ok(self.0.scheduler.remove(JobKind::Timer, actor, name))
    }

    /// Apply a turn's timer or reminder change once the turn committed: timers live in
    /// memory only (starting one can fail: the tenant's limit of active actors); reminders
    /// were written by the commit, so only memory follows.
    pub(super) fn apply_committed_op(
        &self,
        actor: &ActorId,
        op: ScheduleOp,
    ) -> Result<(), ScheduleError> {
        match op {
            ScheduleOp::SetTimer(job) => self.set_timer_here(actor, job)?,
            ScheduleOp::CancelTimer(name) => {
                self.0.scheduler.remove(JobKind::Timer, actor, &name);
            }
            ScheduleOp::SetReminder(job) => self.remember_reminder(actor, job),
            ScheduleOp::CancelReminder(name) => {
                self.0.scheduler.remove(JobKind::Reminder, actor, &name);
            }
        }
        Ok(())
    }

    /// Read the stored reminders due within the window into memory (at start, then
    /// every [`WINDOW_EVERY`]); how many were added. Overdue ones fire once, at the backlog
    /// rate. Memory holds at most [`MAX_LOADED`] reminders read so; the rest wait in the
    /// store, in due order, for the next read.
    pub async fn load_reminders(&self) -> Result<usize, StoreError> {
        let mut cursor = self.0.reminder_cursor.lock().await;
        let room = MAX_LOADED.saturating_sub(self.0.scheduler.count(JobKind::Reminder));
        if room == 0 {
            return Ok(0);
        }
        let due = self
            .0
            .store
            .reminders_due(cursor.clone(), window_end(), room.min(WINDOW_BATCH))
            .await?;
        let mut loaded = 0;
        for stored in &due {
            match decode_job(stored) {
                Some(job) => {
                    if self.0.scheduler.put_if_absent(&stored.actor, job) {
                        loaded += 1;
                    }
                }
                None => {
                    tracing::warn!(actor = %stored.actor, name = %stored.name, "skipping unreadable reminder")
                }
            }
        }
        if let Some(last) = due.last() {
            *cursor = Some(last.cursor());
        }
        Ok(loaded)
    }

    /// Run one firing as a turn, then schedule the next one (or end the job). Only on the
    /// actor's owner: a firing is never forwarded, since the owner's own read of the
    /// reminders fires it there, under the fence, its progress committed with its turn.
    async fn fire(&self, due: DueJob) {
        let job = &due.job;
        if self.placement(&due.actor) != Placement::Here {
            self.0.scheduler.finish(&due);
            return;
        }
        if job.kind == JobKind::Reminder && !self.still_stored(&due).await {
            // Deleted or moved in the store since memory read it: not this firing.
            self.0.scheduler.finish(&due);
            return;
        }
        let started = now_ms();
        // What a successful firing leaves: computed before the turn, so that a turn whose
        // state the core commits writes it in the same commit.
        let on_success = job.clone().advanced(started);
        let progress = match job.kind {
            JobKind::Timer => None,
            JobKind::Reminder => match &on_success {
                Some(next) => encode_job(next)
                    .ok()
                    .map(|record| Some((next.due_ms, record))),
                None => Some(None),
            }
            .map(|next| ReminderChange::Advance {
                name: job.name.clone(),
                fired_due_ms: job.due_ms,
                next,
            }),
        };
        let fired = Fired {
            name: job.name.clone(),
            data: job.data.clone(),
            due_time: job.due_time.clone(),
            period: job.period.clone(),
            callback: job.callback.clone(),
            progress,
        };
        let invocation = Invocation {
            target: due.actor.clone(),
            action: job.action().to_string(),
            payload: job.data.clone(),
            metadata: Vec::new(),
            caller: None,
            mode: CallMode::Call,
            trigger: match job.kind {
                JobKind::Timer => Trigger::Timer(fired),
                JobKind::Reminder => Trigger::Reminder(fired),
            },
            reentrancy_id: None,
            deadline: self.deadline(&due.actor.tenant),
            route_hops: 0,
        };
        let result = self.run_here(invocation).await;
        // Where and when each firing ran (`RUST_LOG=warren::firings=debug`).
        tracing::debug!(
            target: "warren::firings",
            actor = %due.actor,
            name = %job.name,
            due_ms = job.due_ms,
            ok = result.is_ok(),
            error = result.as_ref().err().map(ToString::to_string),
            "fired"
        );
        if let Err(InvokeError::Unavailable { .. }) = &result {
            // The partition moved before or while the turn ran: nothing of it committed,
            // and the new owner fires the reminder from the store.
            self.0.scheduler.finish(&due);
            return;
        }
        self.0.firing_stats.record(started - job.due_ms);
        self.0
            .metrics
            .fired(job.kind == JobKind::Reminder, started - job.due_ms);
        let now = now_ms();
        let mut stored_with_turn = false;
        let next = match result {
            Ok(reply) => {
                stored_with_turn = reply.progress_committed;
                if reply.cancel { None } else { on_success }
            }
            Err(InvokeError::ActorTypeNotFound { .. }) if job.kind == JobKind::Reminder => {
                // The type may come back (an app still starting, a component redeployed):
                // keep the reminder and try again later.
                let mut again = job.clone();
                again.due_ms = now + UNHOSTED_RETRY_MS;
                Some(again)
            }
            Err(e @ InvokeError::ActionNotFound { .. }) => {
                // Permanent (Dapr treats NotFound so): retrying this firing cannot help.
                tracing::warn!(actor = %due.actor, name = %job.name, kind = ?job.kind, error = %e, "firing found no such action; not retried");
                job.clone().advanced(now)
            }
            Err(e) => {
                tracing::warn!(actor = %due.actor, name = %job.name, kind = ?job.kind, error = %e, "firing failed");
                if job.kind == JobKind::Reminder && !self.still_stored(&due).await {
                    // The store no longer holds the due time that fired: the turn's commit
                    // took it (its outcome was only unknown to this host), or the reminder
                    // changed meanwhile. Retrying would fire the same due time twice, or
                    // revive a deleted reminder.
                    self.0.scheduler.finish(&due);
                    return;
                }
                job.clone().failed(now)
            }
        };
        if job.kind == JobKind::Timer {
            match next {
                Some(next) => self.0.scheduler.reschedule(&due, next),
                None => self.0.scheduler.finish(&due),
            };
            return;
        }
        // A reminder replaced or deleted while it fired is left to its new registration.
        if !self.0.scheduler.is_current(&due) {
            return;
        }
        if stored_with_turn {
            // The turn's commit wrote the progress; memory follows.
            match next {
                Some(next) if next.due_ms <= window_end() => {
                    self.0.scheduler.reschedule(&due, next);
                }
                _ => {
                    self.0.scheduler.finish(&due);
                }
            }
            return;
        }
        // The store first: memory never holds a due time the store does not. The store
        // moves on only from the due time that fired: a reminder registered again, or
        // moved on by another firing meanwhile, is left as it is (never revived, never
        // fired twice for one due time).
        let advanced = async {
            let next_record = match &next {
                Some(n) => Some((n.due_ms, encode_job(n)?)),
                None => None,
            };
            self.0
                .store
                .advance_reminder(&due.actor, &job.name, job.due_ms, next_record)
                .await
        };
        let outcome = advanced.await.map(|moved| match next {
            Some(next) if moved && next.due_ms <= window_end() => {
                self.0.scheduler.reschedule(&due, next);
            }
            _ => {
                self.0.scheduler.finish(&due);
            }
        });
        if let Err(e) = outcome {
            // The store still holds the firing's own due time: read the window again from
            // the start, so the reminder fires again (at least once, never lost).
            tracing::error!(actor = %due.actor, name = %job.name, error = %e, "cannot store reminder progress; it will fire again");
            self.0.scheduler.finish(&due);
            *self.0.reminder_cursor.lock().await = None;
        }
    }
}

impl Runtime {
    /// Whether the reminder `due` fires for is still stored with the same due time.
    async fn still_stored(&self, due: &DueJob) -> bool {
        match self.0.store.reminder(&due.actor, &due.job.name).await {
            Ok(Some(stored)) => stored.due_ms == due.job.due_ms,
            Ok(None) => false,
            // A read that fails must not drop a reminder: fire, and let the commit tell.
            Err(_) => true,
        }
    }
}

/// A reminder write the store refused: one the fence refused (the actor's partition moved
/// away) wrote nothing and may be sent again to the new owner.
fn refused_write(e: StoreError) -> ScheduleError {
    match e {
        StoreError::Fenced { partition } => ScheduleError::Unavailable(format!(
            "partition {partition} moved to another host; nothing was written"
        )),
        other => ScheduleError::Store(other),
    }
}

/// How far ahead of now reminders are read into memory.
const WINDOW_MS: i64 = 30_000;
/// How often the window is read again.
pub const WINDOW_EVERY: Duration = Duration::from_millis(500);
/// Reminders read per window read at most.
const WINDOW_BATCH: usize = 10_000;
/// Reminders held in memory by window reads at most (a burst of due reminders waits in
/// the store, in due order).
pub const MAX_LOADED: usize = 100_000;

/// The end of the window that starts now.
fn window_end() -> i64 {
    now_ms() + WINDOW_MS
}

/// Start the loop that pops due jobs and fires them, and the one that reads reminders
/// into memory as they come due.
pub(super) fn start(runtime: &Runtime) {
    let weak = Arc::downgrade(&runtime.0);
    tokio::spawn(fire_loop(weak.clone()));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(WINDOW_EVERY);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            if let Err(e) = Runtime(inner).load_reminders().await {
                tracing::error!(error = %e, "reading due reminders failed; will retry");
            }
        }
    });
}

async fn fire_loop(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { break };
        let runtime = Runtime(inner);
        let now = now_ms();
        let due = runtime.0.scheduler.pop_due(now, 10_000);
        let popped = due.len();
        for job in due {
            // At the cap, the rest wait here, in due order.
            let Ok(slot) = runtime.0.firing_slots.clone().acquire_owned().await else {
                return;
            };
            let runtime = runtime.clone();
            // Due before this process started: missed during downtime, so part of the
            // backlog that must not flood the actors. Lateness under load is not limited.
            let late = job.job.due_ms < runtime.0.started_ms;
            tokio::spawn(async move {
                if late {
                    runtime.0.backlog.wait_turn().await;
                }
                runtime.fire(job).await;
                drop(slot);
            });
        }
        if popped > 0 {
            tokio::task::yield_now().await;
            continue;
        }
        let wait_ms = runtime
            .0
            .scheduler
            .next_due()
            .map(|due| (due - now).clamp(1, 1000))
            .unwrap_or(1000);
        let changed = runtime.0.scheduler.changed.notified();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {},
            () = changed => {},
        }
    }
}
