//! Timers and reminders as the runtime sees them: registration (checked, persisted) and
//! firing (a turn like any other, taking the actor's turn lock).

mod fire;
mod pace;

pub use pace::FiringSnapshot;
pub(super) use pace::Pacing;

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::durations::DurationError;
use super::reminder_records::{decode_job, encode_job};
use super::routing::ScheduleChange;
use super::scheduler::{FailurePolicy, Job, JobKind, JobRequest, now_ms};
use super::{ActorId, Inner, Invocation, Runtime, ScheduleOp};
use crate::store::StoreError;

/// How long to wait before retrying a reminder whose actor type is not hosted (yet).
const UNHOSTED_RETRY_MS: i64 = 5000;

/// Why a timer or reminder was not registered.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The tenant does not host the actor's type.
    #[error("actor type {actor_type:?} is not hosted in tenant {tenant:?}")]
    NotHosted {
        /// The actor's tenant.
        tenant: String,
        /// The type it does not host.
        actor_type: String,
    },
    /// A due time, period or TTL does not parse.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// A reminder of that name exists, and the registration does not overwrite it.
    #[error("reminder {name:?} of {actor} already exists")]
    AlreadyExists {
        /// The actor it belongs to.
        actor: ActorId,
        /// The reminder's name.
        name: String,
    },
    /// The store failed to read or write the reminder.
    #[error("storing the reminder failed: {0}")]
    Store(#[from] StoreError),
    /// The actor could not be activated for its timer (a tenant limit).
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
            .catalog
            .registry()
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
    /// every `WINDOW_EVERY`); how many were added. Overdue ones fire once, at the backlog
    /// rate. Memory holds at most `MAX_LOADED` reminders read so; the rest wait in the
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
            let Some(slot) = runtime.0.pacing.slot().await else {
                return;
            };
            let runtime = runtime.clone();
            tokio::spawn(async move {
                runtime.0.pacing.wait_turn(job.job.due_ms).await;
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
