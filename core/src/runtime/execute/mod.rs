//! Running a turn: tenant limits, the turn lock, reentrancy, the backend call, and the
//! commit.

mod commit;

pub(super) use commit::CommitError;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use super::activity::Failure;
use super::backend::{Turn, TurnOutcome};
use super::metrics::{Outcome, TriggerLabel};
use super::table::ActorSlot;
use super::tenants::Tenant;
use super::trace;
use super::{ActorTypeEntry, InvokeFuture, Runtime, TurnState};
use crate::types::{ActorId, Invocation, InvokeError, LimitKind, Reply};

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
        let (tenant, entry) = self.admit(&invocation)?;
        let chain = invocation
            .reentrancy_id
            .get_or_insert_with(new_chain_id)
            .clone();
        let slot = self.activate(&tenant, &entry, &invocation.target)?;
        let result = match slot.chain_depth(&chain) {
            // This chain already holds the actor's turn: waiting for the lock would wait on
            // ourselves.
            Some(depth) => {
                self.reenter(&tenant, &entry, &slot, &invocation, &chain, depth)
                    .await?
            }
            None => {
                self.take_turn(&tenant, &entry, slot, &invocation, &chain)
                    .await?
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

    /// The tenant and the hosted type `invocation` is for, within the tenant's payload
    /// limit.
    fn admit(
        &self,
        invocation: &Invocation,
    ) -> Result<(Arc<Tenant>, Arc<ActorTypeEntry>), InvokeError> {
        let target = &invocation.target;
        let tenant =
            self.0
                .tenancy
                .get(&target.tenant)
                .ok_or_else(|| InvokeError::TenantNotFound {
                    tenant: target.tenant.to_string(),
                })?;
        let max = tenant.limits.max_payload_bytes;
        if invocation.payload.len() as u64 > max {
            return Err(InvokeError::LimitExceeded {
                tenant: target.tenant.to_string(),
                actor: target.clone(),
                kind: LimitKind::Payload,
                max,
            });
        }
        let entry = self
            .0
            .catalog
            .registry()
            .actor_type(&target.tenant, &target.actor_type)
            .ok_or_else(|| InvokeError::ActorTypeNotFound {
                tenant: target.tenant.to_string(),
                actor_type: target.actor_type.to_string(),
            })?;
        Ok((tenant, entry))
    }

    /// A turn of a call chain that already holds the actor (at `depth`): re-entered if
    /// the type allows it, refused at once otherwise. The outer error refuses the call;
    /// the inner result is the turn's.
    async fn reenter(
        &self,
        tenant: &Arc<Tenant>,
        entry: &ActorTypeEntry,
        slot: &ActorSlot,
        invocation: &Invocation,
        chain: &str,
        depth: u32,
    ) -> Result<Result<Reply, InvokeError>, InvokeError> {
        let actor = invocation.target.clone();
        let Some(max) = entry.spec.reentrancy_depth else {
            return Err(InvokeError::CallCycle { actor });
        };
        if depth >= max {
            return Err(InvokeError::StackDepth { actor, max });
        }
        let _entry = slot.enter(chain);
        let result = self.run_turn(tenant, entry, slot, invocation).await;
        self.0.table.touch(slot);
        Ok(result)
    }

    /// A turn that waits for the actor's turn lock (until the deadline), on the
    /// activation that holds the actor when the lock comes.
    async fn take_turn(
        &self,
        tenant: &Arc<Tenant>,
        entry: &ActorTypeEntry,
        mut slot: Arc<ActorSlot>,
        invocation: &Invocation,
        chain: &str,
    ) -> Result<Result<Reply, InvokeError>, InvokeError> {
        let target = &invocation.target;
        let waiting = std::time::Instant::now();
        loop {
            let Ok(turn) =
                tokio::time::timeout_at(invocation.deadline.into(), slot.turn.lock()).await
            else {
                return Err(InvokeError::DeadlineExceeded {
                    actor: target.clone(),
                    action: invocation.action.clone(),
                });
            };
            if slot.record.is_dropped() {
                // The activation ended while this message waited for it (a commit of it
                // failed, its partition moved): the message goes to the next one.
                drop(turn);
                slot = self.activate(tenant, entry, target)?;
                continue;
            }
            self.0.metrics.queue_wait(waiting.elapsed());
            let _entry = slot.enter(chain);
            if slot.take_start() {
                self.start_activation(tenant, entry, &slot, target, chain)
                    .await;
            }
            let result = self.run_turn(tenant, entry, &slot, invocation).await;
            self.0.table.touch(&slot);
            drop(turn);
            return Ok(result);
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
            config: tenant.config_of(&entry.component),
            egress: tenant.egress.clone(),
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
