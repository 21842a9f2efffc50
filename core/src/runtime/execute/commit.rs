//! The end of a turn: the reply checked against the tenant's limits, the staged state,
//! reminders and progress committed as one write (under the activation's lease and the
//! partition's fence), and only then its timers, casts and deliveries sent.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::runtime::reminder_records::{progress_after, reminder_changes};
use crate::runtime::table::ActorSlot;
use crate::runtime::tenants::Tenant;
use crate::runtime::turn::TurnParts;
use crate::runtime::{Delivery, Runtime, ScheduleOp, TurnState};
use crate::store::ActorRecord;
use crate::types::{
    ActorId, Fired, Invocation, InvokeError, LimitKind, ReminderChange, Reply, StateChange,
    StoreError, Trigger,
};

/// Why a state commit was refused.
pub(in crate::runtime) enum CommitError {
    /// A tenant quota (which, its maximum) would be passed.
    Quota(LimitKind, u64),
    /// The store refused or failed.
    Store(StoreError),
}

/// Why a turn's commit was refused.
enum TurnCommitError {
    Refused(CommitError),
    /// The turn's activation ended while it ran (its partition moved, or a commit of it
    /// failed): its changes are not committed on state it did not read.
    Ended,
}

impl From<CommitError> for TurnCommitError {
    fn from(e: CommitError) -> Self {
        TurnCommitError::Refused(e)
    }
}

impl Runtime {
    /// Check a backend's reply and commit the turn's staged state, timers and casts.
    pub(super) async fn finish_turn(
        &self,
        tenant: &Arc<Tenant>,
        invocation: &Invocation,
        slot: &ActorSlot,
        result: Result<Reply, InvokeError>,
        state: Option<TurnState>,
    ) -> Result<Reply, InvokeError> {
        let actor = &invocation.target;
        let mut reply = result?;
        if reply.data.len() as u64 > tenant.limits.max_payload_bytes {
            return Err(InvokeError::LimitExceeded {
                tenant: actor.tenant.to_string(),
                actor: actor.clone(),
                kind: LimitKind::Reply,
                max: tenant.limits.max_payload_bytes,
            });
        }
        let Some(state) = state else {
            self.check_lease_after(actor, slot).await?;
            return Ok(reply);
        };
        let TurnParts {
            changes,
            schedule,
            casts,
            deferred,
            workflow,
        } = state.into_parts();
        reply.workflow = workflow;
        let reminders = staged_reminders(invocation, &schedule, &mut reply)?;
        if changes.is_empty() && reminders.is_empty() {
            // Nothing to fence at the commit: the lease is what makes its reads current.
            self.check_lease_after(actor, slot).await?;
        }
        self.commit_turn_state(tenant, actor, slot, changes, reminders)
            .await
            .map_err(|e| commit_refused(actor, e))?;
        for op in schedule {
            if let Err(e) = self.apply_committed_op(actor, op) {
                return Err(InvokeError::Failed {
                    actor: actor.clone(),
                    action: invocation.action.clone(),
                    message: format!("state committed, but a timer was not: {e}"),
                });
            }
        }
        self.send_after_commit(casts, deferred);
        Ok(reply)
    }

    /// What a committed turn sent: its casts, each a message of its own, and its
    /// deferred platform deliveries.
    fn send_after_commit(&self, casts: Vec<Invocation>, deferred: Vec<Delivery>) {
        for mut cast in casts {
            cast.deadline = self.deadline(&cast.target.tenant);
            let runtime = self.clone();
            tokio::spawn(async move {
                let target = cast.target.clone();
                if let Err(e) = runtime.invoke(cast).await {
                    tracing::warn!(%target, error = %e, "cast failed");
                }
            });
        }
        for delivery in deferred {
            tokio::spawn(delivery);
        }
    }

    /// The committed state of the actor of `slot`, loading it on its first use.
    pub(in crate::runtime) async fn held_record(
        &self,
        slot: &ActorSlot,
        actor: &ActorId,
    ) -> Result<Arc<ActorRecord>, StoreError> {
        if let Some(record) = slot.record.get() {
            return Ok(record);
        }
        let _commits = slot.record.commits.lock().await;
        // Loaded meanwhile by another turn or reader.
        if let Some(record) = slot.record.get() {
            return Ok(record);
        }
        // The epoch first: a record loaded after a move is then checked against the epoch
        // held before it, never taken for current under a later one.
        slot.record.bind_epoch(self.held_epoch(actor));
        let record = Arc::new(self.0.store.load(actor).await?);
        slot.record.set(Some(record.clone()));
        Ok(record)
    }

    /// Commit a turn's state and reminder changes within the tenant's state quotas, as one
    /// versioned write on the state the turn's own activation holds, at the version it
    /// holds and (cluster mode) fenced at the epoch it loaded under. A refused commit (a
    /// version that moved, a fence, a store error) fails the turn and ends the activation:
    /// the turn's changes are never applied to state it did not read.
    async fn commit_turn_state(
        &self,
        tenant: &Tenant,
        actor: &ActorId,
        slot: &ActorSlot,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
    ) -> Result<(), TurnCommitError> {
        if changes.is_empty() && reminders.is_empty() {
            return Ok(());
        }
        let held = &slot.record;
        let _commits = held.commits.lock().await;
        let current = match held.get() {
            Some(record) if !held.is_dropped() => record,
            _ => return Err(TurnCommitError::Ended),
        };
        let delta = current.size_delta(&changes);
        self.check_quota(tenant, current.size(), delta)?;
        let committing = std::time::Instant::now();
        let committed = self.0.store.commit_turn_at(
            actor,
            current.version,
            changes.clone(),
            reminders,
            held.epoch(),
        );
        match committed.await {
            Ok(version) => {
                self.count_commit(tenant, &changes, delta, committing);
                drop(current);
                held.apply(changes, version);
                Ok(())
            }
            Err(e) => {
                if self.0.table.end(actor, slot) {
                    self.deactivated(actor.clone());
                }
                Err(CommitError::Store(e).into())
            }
        }
    }

    /// Count a commit that landed: its bytes and time, and the tenant's state size.
    fn count_commit(
        &self,
        tenant: &Tenant,
        changes: &[StateChange],
        delta: i64,
        started: std::time::Instant,
    ) {
        let bytes = changes
            .iter()
            .map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64)
            .sum();
        self.0.metrics.committed(bytes, started.elapsed());
        if delta >= 0 {
            tenant.state_bytes.fetch_add(delta as u64, Ordering::AcqRel);
        } else {
            tenant
                .state_bytes
                .fetch_sub(delta.unsigned_abs(), Ordering::AcqRel);
        }
    }

    /// Cluster mode: whether this host still holds `actor`'s partition at the epoch the
    /// activation of `slot` loaded under, under a live lease (after a lapse, once a
    /// heartbeat lands again). With `new_work`, a partition being handed over is not held.
    /// If not held, the activation ends (the next message activates the actor afresh,
    /// wherever it lives then).
    pub(super) async fn still_held(
        &self,
        actor: &ActorId,
        slot: &ActorSlot,
        new_work: bool,
    ) -> bool {
        let Some(router) = self.router() else {
            return true;
        };
        if !crate::store::fencing::is_fenced(actor) {
            return true;
        }
        if !slot.record.is_dropped()
            && let Some(epoch) = slot.record.epoch()
            && router.holds_at(actor, epoch, new_work).await
        {
            return true;
        }
        if self.0.table.end(actor, slot) {
            self.deactivated(actor.clone());
        }
        false
    }

    /// A turn that commits nothing is current only if this host held the partition to its
    /// end: a host whose lease lapsed and was not renewed may have been replaced, and
    /// withholds the reply. A partition being handed over still serves the turns that
    /// were running.
    async fn check_lease_after(
        &self,
        actor: &ActorId,
        slot: &ActorSlot,
    ) -> Result<(), InvokeError> {
        if self.still_held(actor, slot, false).await {
            return Ok(());
        }
        Err(InvokeError::Unavailable {
            actor: actor.clone(),
            message: "outcome unknown: this host lost its lease on the actor's partition while \
                      the turn ran, so its reply is withheld (calls it made to other actors \
                      may have taken effect)"
                .into(),
            ran: true,
        })
    }

    /// The epoch at which this host holds `actor`'s partition (`None` outside a cluster,
    /// and for the host's own records).
    pub(in crate::runtime) fn held_epoch(&self, actor: &ActorId) -> Option<i64> {
        let router = self.router()?;
        if !crate::store::fencing::is_fenced(actor) {
            return None;
        }
        router.held_epoch(actor)
    }

    /// Commit state changes of one actor from outside its turns (Dapr's state API, state a
    /// backend writes behind, removals), within the tenant's state quotas, as one
    /// versioned write on the state its activation holds (or, for an actor not active,
    /// on its stored state). An actor's commits run one after the other.
    pub(in crate::runtime) async fn commit_state(
        &self,
        tenant: &Tenant,
        actor: &ActorId,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
    ) -> Result<(), CommitError> {
        if changes.is_empty() && reminders.is_empty() {
            return Ok(());
        }
        let store = &self.0.store;
        let slot = self.0.table.get(actor);
        let held = slot.as_ref().map(|s| s.record.clone());
        let _commits = match &held {
            Some(held) => Some(held.commits.lock().await),
            None => None,
        };
        let mut current = match held.as_ref().and_then(|h| h.get()) {
            Some(record) => record,
            None => Arc::new(store.load(actor).await.map_err(CommitError::Store)?),
        };
        // A version that moved under this host's own feet (a write to an actor that was
        // not active, racing its activation) is taken as a reload and one more try: the
        // changes apply to the newest state, key by key, as they always have.
        let mut tries = 2;
        loop {
            tries -= 1;
            let delta = current.size_delta(&changes);
            self.check_quota(tenant, current.size(), delta)?;
            let committed =
                store.commit_turn(actor, current.version, changes.clone(), reminders.clone());
            let committing = std::time::Instant::now();
            match committed.await {
                Ok(version) => {
                    self.count_commit(tenant, &changes, delta, committing);
                    if let Some(held) = &held {
                        if held.get().is_some_and(|r| r.version == current.version) {
                            // No other holder of the record, so it changes in place.
                            drop(current);
                            held.apply(changes, version);
                        } else {
                            // Reloaded for the retry: hold what the store now has.
                            let mut next = (*current).clone();
                            next.apply(changes);
                            next.version = version;
                            held.set(Some(Arc::new(next)));
                        }
                    }
                    return Ok(());
                }
                Err(StoreError::Conflict { .. }) if tries > 0 => {
                    current = Arc::new(store.load(actor).await.map_err(CommitError::Store)?);
                }
                Err(e) => {
                    // What is held may be behind the store now: the activation ends (a
                    // turn running on it keeps reading what it read, and cannot commit).
                    if let Some(slot) = &slot
                        && self.0.table.end(actor, slot)
                    {
                        self.deactivated(actor.clone());
                    }
                    return Err(CommitError::Store(e));
                }
            }
        }
    }

    /// Refuse a change of `delta` bytes to an actor holding `actor_bytes` that would pass
    /// the tenant's state quotas. Shrinking is always allowed.
    fn check_quota(
        &self,
        tenant: &Tenant,
        actor_bytes: u64,
        delta: i64,
    ) -> Result<(), CommitError> {
        if delta <= 0 {
            return Ok(());
        }
        let limits = &tenant.limits;
        if actor_bytes + delta as u64 > limits.max_state_bytes_per_actor {
            return Err(CommitError::Quota(
                LimitKind::StatePerActor,
                limits.max_state_bytes_per_actor,
            ));
        }
        if tenant.state_bytes.load(Ordering::Acquire) + delta as u64 > limits.max_state_bytes {
            return Err(CommitError::Quota(
                LimitKind::StatePerTenant,
                limits.max_state_bytes,
            ));
        }
        Ok(())
    }
}

/// The reminder changes a turn commits with its state: its registrations, and its
/// firing's progress (then marked as committed in `reply`).
fn staged_reminders(
    invocation: &Invocation,
    schedule: &[ScheduleOp],
    reply: &mut Reply,
) -> Result<Vec<ReminderChange>, InvokeError> {
    let actor = &invocation.target;
    let mut reminders = reminder_changes(schedule).map_err(|source| InvokeError::Store {
        actor: actor.clone(),
        source,
    })?;
    if let Trigger::Reminder(Fired {
        progress: Some(progress),
        ..
    }) = &invocation.trigger
    {
        reminders.push(progress_after(progress.clone(), reply.cancel));
        reply.progress_committed = true;
    }
    Ok(reminders)
}

/// A turn's refused commit, as the caller's error.
fn commit_refused(actor: &ActorId, e: TurnCommitError) -> InvokeError {
    match e {
        TurnCommitError::Refused(CommitError::Quota(kind, max)) => InvokeError::LimitExceeded {
            tenant: actor.tenant.to_string(),
            actor: actor.clone(),
            kind,
            max,
        },
        TurnCommitError::Refused(CommitError::Store(StoreError::Fenced { .. }))
        | TurnCommitError::Ended => InvokeError::Unavailable {
            actor: actor.clone(),
            message: "its partition moved while the turn ran: nothing the turn wrote was \
                      committed, but calls it made to other actors may have taken effect, \
                      so it is not sent again"
                .into(),
            ran: true,
        },
        TurnCommitError::Refused(CommitError::Store(source)) => InvokeError::Store {
            actor: actor.clone(),
            source,
        },
    }
}
