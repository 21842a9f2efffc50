//! One firing of a timer or reminder, in steps: check it is still this host's and still
//! stored, run it as a turn carrying its own progress, decide what comes next, and move
//! the reminder on in the store (unless the turn's commit already did).

use super::{UNHOSTED_RETRY_MS, window_end};
use crate::runtime::reminder_records::encode_job;
use crate::runtime::routing::Placement;
use crate::runtime::scheduler::{DueJob, Job, JobKind, now_ms};
use crate::runtime::{CallMode, Fired, Invocation, InvokeError, Reply, Runtime, Trigger};
use crate::types::ReminderChange;

/// What a firing's turn decided about its job (unless the job is left to whoever holds
/// it now: the partition moved, or the store no longer holds the due time that fired).
struct Next {
    /// Its next due time; `None`: it is done.
    job: Option<Job>,
    /// The turn's commit already wrote that to the store.
    committed: bool,
}

impl Runtime {
    /// Run one firing as a turn, then schedule the next one (or end the job). Only on the
    /// actor's owner: a firing is never forwarded, since the owner's own read of the
    /// reminders fires it there, under the fence, its progress committed with its turn.
    pub(in crate::runtime) async fn fire(&self, due: DueJob) {
        let job = &due.job;
        // Not this host's, or deleted or moved in the store since memory read it: not
        // this firing.
        if self.placement(&due.actor) != Placement::Here
            || (job.kind == JobKind::Reminder && !self.still_stored(&due).await)
        {
            self.0.scheduler.finish(&due);
            return;
        }
        let started = now_ms();
        // What a successful firing leaves: computed before the turn, so that a turn whose
        // state the core commits writes it in the same commit.
        let on_success = job.clone().advanced(started);
        let result = self.run_here(self.firing(&due, &on_success)).await;
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
        let Some(next) = self.next(&due, result, on_success, started).await else {
            self.0.scheduler.finish(&due);
            return;
        };
        if job.kind == JobKind::Timer {
            match next.job {
                Some(job) => self.0.scheduler.reschedule(&due, job),
                None => self.0.scheduler.finish(&due),
            };
        } else if !self.0.scheduler.is_current(&due) {
            // A reminder replaced or deleted while it fired is left to its new
            // registration.
        } else if next.committed {
            self.follow_commit(&due, next.job);
        } else {
            self.move_on(&due, next.job).await;
        }
    }

    /// The turn that fires `due`, carrying the reminder's progress (`on_success`) for
    /// the core to commit with the turn's state.
    fn firing(&self, due: &DueJob, on_success: &Option<Job>) -> Invocation {
        let job = &due.job;
        let progress = match job.kind {
            JobKind::Timer => None,
            JobKind::Reminder => match on_success {
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
        Invocation {
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
        }
    }

    /// What comes after a firing that ran `result`: counted, then the job's next due time
    /// by how the turn ended; `None` to leave the job alone.
    async fn next(
        &self,
        due: &DueJob,
        result: Result<Reply, InvokeError>,
        on_success: Option<Job>,
        started: i64,
    ) -> Option<Next> {
        let job = &due.job;
        if let Err(InvokeError::Unavailable { .. }) = &result {
            // The partition moved before or while the turn ran: nothing of it committed,
            // and the new owner fires the reminder from the store.
            return None;
        }
        self.0.pacing.record(started - job.due_ms);
        self.0
            .metrics
            .fired(job.kind == JobKind::Reminder, started - job.due_ms);
        let now = now_ms();
        match result {
            Ok(reply) => Some(Next {
                job: if reply.cancel { None } else { on_success },
                committed: reply.progress_committed,
            }),
            Err(InvokeError::ActorTypeNotFound { .. }) if job.kind == JobKind::Reminder => {
                // The type may come back (an app still starting, a component redeployed):
                // keep the reminder and try again later.
                let mut again = job.clone();
                again.due_ms = now + UNHOSTED_RETRY_MS;
                Some(Next {
                    job: Some(again),
                    committed: false,
                })
            }
            Err(e @ InvokeError::ActionNotFound { .. }) => {
                // Permanent (Dapr treats NotFound so): retrying this firing cannot help.
                tracing::warn!(actor = %due.actor, name = %job.name, kind = ?job.kind, error = %e, "firing found no such action; not retried");
                Some(Next {
                    job: job.clone().advanced(now),
                    committed: false,
                })
            }
            Err(e) => {
                tracing::warn!(actor = %due.actor, name = %job.name, kind = ?job.kind, error = %e, "firing failed");
                if job.kind == JobKind::Reminder && !self.still_stored(due).await {
                    // The store no longer holds the due time that fired: the turn's
                    // commit took it (its outcome was only unknown to this host), or the
                    // reminder changed meanwhile. Retrying would fire the same due time
                    // twice, or revive a deleted reminder.
                    return None;
                }
                Some(Next {
                    job: job.clone().failed(now),
                    committed: false,
                })
            }
        }
    }

    /// The turn's commit wrote the reminder's progress: memory follows.
    fn follow_commit(&self, due: &DueJob, next: Option<Job>) {
        match next {
            Some(next) if next.due_ms <= window_end() => self.0.scheduler.reschedule(due, next),
            _ => self.0.scheduler.finish(due),
        };
    }

    /// Move a reminder on to `next` in the store first (memory never holds a due time
    /// the store does not), then in memory. The store moves on only from the due time
    /// that fired: a reminder registered again, or moved on by another firing meanwhile,
    /// is left as it is (never revived, never fired twice for one due time).
    async fn move_on(&self, due: &DueJob, next: Option<Job>) {
        let job = &due.job;
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
        match advanced.await {
            Ok(true) => self.follow_commit(due, next),
            Ok(false) => {
                self.0.scheduler.finish(due);
            }
            Err(e) => {
                // The store still holds the firing's own due time: read the window again
                // from the start, so the reminder fires again (at least once, never lost).
                tracing::error!(actor = %due.actor, name = %job.name, error = %e, "cannot store reminder progress; it will fire again");
                self.0.scheduler.finish(due);
                *self.0.reminder_cursor.lock().await = None;
            }
        }
    }

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
