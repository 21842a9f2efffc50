//! Running a turn: tenant limits, the turn lock, reentrancy, the backend call, and the
//! commit.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use super::activity::Failure;
use super::backend::{Turn, TurnOutcome};
use super::metrics::{Outcome, TriggerLabel};
use super::reminder_records::{progress_after, reminder_changes};
use super::table::ActorSlot;
use super::tenants::Tenant;
use super::trace;
use super::turn::TurnParts;
use super::{ActorTypeEntry, InvokeFuture, Runtime, TurnState};
use crate::store::ActorRecord;
use crate::types::{
    ActorId, Fired, Invocation, InvokeError, LimitKind, ReminderChange, Reply, StateChange,
    StoreError, Trigger,
};

/// A fresh call-chain id for a message that does not belong to one: UUID-shaped and
/// unguessable (a caller who could guess another chain's id could re-enter an actor that
/// chain holds). A counter hashed with SipHash under a random key drawn once: a v4 UUID
/// per message cost a `getrandom` system call on every invocation.
pub(super) fn new_chain_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::LazyLock;
    use std::sync::atomic::AtomicU64;
    static KEYS: LazyLock<(RandomState, RandomState)> =
        LazyLock::new(|| (RandomState::new(), RandomState::new()));
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    uuid::Uuid::from_u64_pair(KEYS.0.hash_one(n), KEYS.1.hash_one(n)).to_string()
}

/// Why a state commit was refused.
pub(super) enum CommitError {
    Quota(LimitKind, u64),
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
    /// Deliver one invocation: check the tenant's limits, take the actor's turn (or re-enter
    /// it, for the same call chain of a reentrant type), run it, commit its state, then
    /// apply its timers, reminders and casts. The one path every protocol uses.
    pub fn invoke(&self, mut invocation: Invocation) -> InvokeFuture {
        trace::inherit_request(&mut invocation.metadata);
        let runtime = self.clone();
        // One boxed future per message either way: a route chain (pipes, forwards) nests
        // one per hop on the stack that polls it.
        match self.0.router.get() {
            Some(router) if crate::store::fencing::is_fenced(&invocation.target) => {
                let router = router.clone();
                Box::pin(async move { runtime.route(router, invocation).await })
            }
            _ => Box::pin(async move { runtime.run_here(invocation).await }),
        }
    }

    /// [`Runtime::invoke`] for a caller that may stop waiting: a protocol request (its
    /// client may hang up), a call from another host or from a guest's turn (which may
    /// pass its deadline). The invocation runs in a task of its own, so the caller's going
    /// away never cuts its turn off in the middle of the commit or between the commit and
    /// its effects: once a message is accepted, its turn runs to its end, once. (Not used
    /// where nothing can cancel the caller: the task costs a few microseconds.)
    pub fn invoke_detached(&self, invocation: Invocation) -> InvokeFuture {
        let (actor, action) = (invocation.target.clone(), invocation.action.clone());
        Box::pin(detached(actor, action, self.invoke(invocation)))
    }

    /// Deliver `invocation` without waiting for it (fire and forget): a failure is only
    /// logged.
    pub fn cast(&self, invocation: Invocation) {
        let runtime = self.clone();
        tokio::spawn(async move {
            let target = invocation.target.clone();
            let action = invocation.action.clone();
            if let Err(e) = runtime.invoke(invocation).await {
                tracing::warn!(%target, %action, error = %e, "cast failed");
            }
        });
    }

    /// Run `invocation` on this host, counted in the metrics and traced as a span under
    /// the one its metadata names (which it passes on to whatever the turn sends).
    pub(super) async fn run_here(&self, mut invocation: Invocation) -> Result<Reply, InvokeError> {
        let started = std::time::Instant::now();
        let target = invocation.target.clone();
        let trigger = TriggerLabel::of(&invocation);
        let span = self.0.config.tracing.start_in(
            || format!("turn {}.{}", target.actor_type, invocation.action).into(),
            SpanKind::Internal,
            &invocation.metadata,
        );
        // The action is kept for the span's attributes only when the span is recorded.
        let action = span.as_ref().and_then(|span| {
            span.pass_on(&mut invocation.metadata);
            span.is_recording().then(|| invocation.action.clone())
        });
        let result = self.run_counted(invocation).await;
        self.0
            .metrics
            .turn(&target, trigger, &result, started.elapsed());
        if let (Some(mut span), Some(action)) = (span, action) {
            span.set_attributes([
                KeyValue::new("warren.tenant", target.tenant.clone()),
                KeyValue::new("warren.actor.type", target.actor_type.clone()),
                KeyValue::new("warren.actor.id", target.id.clone()),
                KeyValue::new("warren.action", action),
                KeyValue::new("warren.trigger", trigger.as_str()),
                KeyValue::new("warren.outcome", Outcome::of(&result).as_str()),
            ]);
            span.end(result.as_ref().err().map(ToString::to_string));
        }
        result
    }

    async fn run_counted(&self, mut invocation: Invocation) -> Result<Reply, InvokeError> {
        let target = invocation.target.clone();
        let tenant =
            self.0
                .tenancy
                .get(&target.tenant)
                .ok_or_else(|| InvokeError::TenantNotFound {
                    tenant: target.tenant.to_string(),
                })?;
        let limit = |kind, max| InvokeError::LimitExceeded {
            tenant: target.tenant.to_string(),
            actor: target.clone(),
            kind,
            max,
        };
        if invocation.payload.len() as u64 > tenant.limits.max_payload_bytes {
            return Err(limit(LimitKind::Payload, tenant.limits.max_payload_bytes));
        }
        let entry = self
            .0
            .registry
            .actor_type(&target.tenant, &target.actor_type)
            .ok_or_else(|| InvokeError::ActorTypeNotFound {
                tenant: target.tenant.to_string(),
                actor_type: target.actor_type.to_string(),
            })?;
        let chain = invocation
            .reentrancy_id
            .get_or_insert_with(new_chain_id)
            .clone();
        let mut slot = self.activate(&tenant, &entry, &target)?;

        let result = if let Some(depth) = slot.chain_depth(&chain) {
            // This chain already holds the actor's turn: waiting for the lock would wait on
            // ourselves. Re-enter if the type allows it, fail at once otherwise.
            let Some(max) = entry.spec.reentrancy_depth else {
                return Err(InvokeError::CallCycle { actor: target });
            };
            if depth >= max {
                return Err(InvokeError::StackDepth { actor: target, max });
            }
            let _entry = slot.enter(&chain);
            let result = self.run_turn(&tenant, &entry, &slot, &invocation).await;
            self.0.table.touch(&slot);
            result
        } else {
            let waiting = std::time::Instant::now();
            loop {
                let Ok(turn) =
                    tokio::time::timeout_at(invocation.deadline.into(), slot.turn.lock()).await
                else {
                    return Err(InvokeError::DeadlineExceeded {
                        actor: target,
                        action: invocation.action,
                    });
                };
                if slot.record.is_dropped() {
                    // The activation ended while this message waited for it (a commit of
                    // it failed, its partition moved): the message goes to the next one.
                    drop(turn);
                    slot = self.activate(&tenant, &entry, &target)?;
                    continue;
                }
                self.0.metrics.queue_wait(waiting.elapsed());
                let _entry = slot.enter(&chain);
                if slot.take_start() {
                    self.start_activation(&tenant, &entry, &slot, &target, &chain)
                        .await;
                }
                let result = self.run_turn(&tenant, &entry, &slot, &invocation).await;
                self.0.table.touch(&slot);
                drop(turn);
                break result;
            }
        };
        // The workflow runs after the actor's turn is over, so a pipe back to it can run.
        // (A re-entered turn's workflow runs while the outer turn still holds the actor; a
        // route back to it re-enters in turn, within the type's stack depth.)
        match result {
            Ok(reply) if !reply.workflow.is_empty() => self.follow(&invocation, reply).await,
            other => other,
        }
    }

    /// The slot of `actor`, activating it within the tenant's limit of active actors.
    pub(super) fn activate(
        &self,
        tenant: &Tenant,
        entry: &ActorTypeEntry,
        actor: &ActorId,
    ) -> Result<Arc<ActorSlot>, InvokeError> {
        let idle = entry
            .spec
            .idle_timeout
            .unwrap_or(self.0.config.idle_timeout);
        let (slot, activated) = self.0.table.activate(actor, idle);
        if activated {
            let max = tenant.limits.max_active_actors;
            if tenant.active_actors.fetch_add(1, Ordering::AcqRel) >= max {
                drop(slot);
                if self.0.table.discard(actor) {
                    tenant.active_actors.fetch_sub(1, Ordering::AcqRel);
                }
                return Err(InvokeError::LimitExceeded {
                    tenant: actor.tenant.to_string(),
                    actor: actor.clone(),
                    kind: LimitKind::ActiveActors,
                    max,
                });
            }
            self.0.metrics.activated();
        }
        Ok(slot)
    }

    /// Run one turn of `invocation` on the actor of `slot`, whose turn the caller holds.
    pub(super) async fn run_turn(
        &self,
        tenant: &Arc<Tenant>,
        entry: &ActorTypeEntry,
        slot: &ActorSlot,
        invocation: &Invocation,
    ) -> Result<Reply, InvokeError> {
        let actor = &invocation.target;
        let max_turns = tenant.limits.max_concurrent_turns;
        // A turn waiting on a call it made still counts: it holds an instance and its actor.
        let Some(_running) = Tenant::take(&tenant.running_turns, max_turns) else {
            return Err(InvokeError::LimitExceeded {
                tenant: actor.tenant.to_string(),
                actor: actor.clone(),
                kind: LimitKind::ConcurrentTurns,
                max: max_turns,
            });
        };
        if let Err(source) = self.held_record(slot, actor).await {
            return Err(InvokeError::Store {
                actor: actor.clone(),
                source,
            });
        }
        // Before any code of the turn runs: a turn refused here may be sent elsewhere.
        if !self.still_held(actor, slot, true).await {
            return Err(InvokeError::Unavailable {
                actor: actor.clone(),
                message: "this host no longer holds the actor's partition; nothing ran".into(),
                ran: false,
            });
        }
        let turn = Turn {
            runtime: self,
            invocation,
            limits: &tenant.limits,
            cache: &slot.cache,
            state: TurnState::new(actor.clone(), slot.record.clone()),
        };
        let started = unix_micros();
        let TurnOutcome {
            result,
            staged,
            output,
        } = entry.backend_for(&actor.id).run_turn(turn).await;
        let finished = self
            .finish_turn(tenant, invocation, slot, result, staged)
            .await;
        if let Err(e) = &finished {
            self.0.metrics.activity().failed_turn(Failure {
                at_ms: super::scheduler::now_ms(),
                tenant: actor.tenant.to_string(),
                actor_type: actor.actor_type.to_string(),
                actor_id: actor.id.to_string(),
                action: invocation.action.clone(),
                outcome: Outcome::of(&finished).as_str().to_string(),
                message: e.to_string(),
                output,
            });
        }
        match &finished {
            // What single activation is checked with: each committed turn, where and when
            // it ran, and the version its commit left (`RUST_LOG=warren::turns=debug`).
            Ok(_) => tracing::debug!(
                target: "warren::turns",
                %actor,
                started_us = started,
                ended_us = unix_micros(),
                version = slot.record.get().map_or(0, |r| r.version),
                "turn done"
            ),
            // The turn's writes were dropped: an instance it kept may hold memory that
            // disagrees with the stored state.
            Err(_) => drop(slot.cache.take()),
        }
        finished
    }

    /// Check a backend's reply and commit the turn's staged state, timers and casts.
    async fn finish_turn(
        &self,
        tenant: &Arc<Tenant>,
        invocation: &Invocation,
        slot: &ActorSlot,
        result: Result<Reply, InvokeError>,
        state: Option<TurnState>,
    ) -> Result<Reply, InvokeError> {
        let actor = &invocation.target;
        let reply = result?;
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
        let mut reply = reply;
        reply.workflow = workflow;
        // The turn's reminder registrations and its firing's progress go with its state.
        let mut reminders = reminder_changes(&schedule).map_err(|source| InvokeError::Store {
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
        if changes.is_empty() && reminders.is_empty() {
            // Nothing to fence at the commit: the lease is what makes its reads current.
            self.check_lease_after(actor, slot).await?;
        }
        self.commit_turn_state(tenant, actor, slot, changes, reminders)
            .await
            .map_err(|e| match e {
                TurnCommitError::Refused(CommitError::Quota(kind, max)) => {
                    InvokeError::LimitExceeded {
                        tenant: actor.tenant.to_string(),
                        actor: actor.clone(),
                        kind,
                        max,
                    }
                }
                TurnCommitError::Refused(CommitError::Store(StoreError::Fenced { .. }))
                | TurnCommitError::Ended => InvokeError::Unavailable {
                    actor: actor.clone(),
                    message: "its partition moved while the turn ran: nothing the turn \
                                  wrote was committed, but calls it made to other actors may \
                                  have taken effect, so it is not sent again"
                        .into(),
                    ran: true,
                },
                TurnCommitError::Refused(CommitError::Store(source)) => InvokeError::Store {
                    actor: actor.clone(),
                    source,
                },
            })?;
        for op in schedule {
            if let Err(e) = self.apply_committed_op(actor, op) {
                return Err(InvokeError::Failed {
                    actor: actor.clone(),
                    action: invocation.action.clone(),
                    message: format!("state committed, but a timer was not: {e}"),
                });
            }
        }
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
        Ok(reply)
    }

    /// The committed state of the actor of `slot`, loading it on its first use.
    pub(super) async fn held_record(
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
    async fn still_held(&self, actor: &ActorId, slot: &ActorSlot, new_work: bool) -> bool {
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
    pub(super) fn held_epoch(&self, actor: &ActorId) -> Option<i64> {
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
    pub(super) async fn commit_state(
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

/// Wall-clock microseconds since the Unix epoch.
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Run `turn` (of `action` on `actor`) in a task of its own and wait for it: the caller's
/// going away then cannot cut the turn off. A task that panicked is a failed turn.
pub(super) async fn detached(
    actor: ActorId,
    action: String,
    turn: impl Future<Output = Result<Reply, InvokeError>> + Send + 'static,
) -> Result<Reply, InvokeError> {
    tokio::spawn(turn).await.unwrap_or_else(|e| {
        Err(InvokeError::Failed {
            actor,
            action,
            message: format!("the turn's task ended abnormally: {e}"),
        })
    })
}
