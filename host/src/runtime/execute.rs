//! Running a turn: the turn lock, reentrancy, the backend call, and the commit.

use super::{
    ActorTypeEntry, Backend, Invocation, InvokeError, InvokeFuture, Reply, Runtime, TurnState,
};

/// A fresh call-chain id for a message that does not belong to one.
fn new_chain_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Runtime {
    /// Deliver one invocation: take the actor's turn (or re-enter it, for the same call
    /// chain of a reentrant type), run it, commit its state, then apply its timers,
    /// reminders and casts. The one path every protocol uses.
    pub fn invoke(&self, invocation: Invocation) -> InvokeFuture {
        let runtime = self.clone();
        Box::pin(async move { runtime.run(invocation).await })
    }

    async fn run(&self, mut invocation: Invocation) -> Result<Reply, InvokeError> {
        let target = invocation.target.clone();
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
        let idle = entry
            .spec
            .idle_timeout
            .unwrap_or(self.0.config.idle_timeout);
        let (slot, _activated) = self.0.table.activate(&target, idle);

        if let Some(depth) = slot.chain_depth(&chain) {
            // This chain already holds the actor's turn: waiting for the lock would wait on
            // ourselves. Re-enter if the type allows it, fail at once otherwise.
            let Some(max) = entry.spec.reentrancy_depth else {
                return Err(InvokeError::CallCycle { actor: target });
            };
            if depth >= max {
                return Err(InvokeError::StackDepth { actor: target, max });
            }
            let _entry = slot.enter(&chain);
            let result = self.run_turn(&entry, &invocation).await;
            self.0.table.touch(&slot);
            return result;
        }

        let turn_lock = tokio::time::timeout_at(invocation.deadline.into(), slot.turn.lock()).await;
        let Ok(_turn) = turn_lock else {
            return Err(InvokeError::DeadlineExceeded {
                actor: target,
                action: invocation.action,
            });
        };
        let _entry = slot.enter(&chain);
        let result = self.run_turn(&entry, &invocation).await;
        self.0.table.touch(&slot);
        result
    }

    async fn run_turn(
        &self,
        entry: &ActorTypeEntry,
        invocation: &Invocation,
    ) -> Result<Reply, InvokeError> {
        let (result, state) = match &entry.backend {
            Backend::Wasm(component) => {
                let state = TurnState::new(invocation.target.clone(), self.0.store.clone());
                self.0
                    .wasm
                    .run_turn(component, self.clone(), state, invocation)
                    .await
            }
            Backend::DaprApp(app) => (app.run_turn(invocation).await, None),
        };
        let reply = result?;
        let Some(state) = state else { return Ok(reply) };
        let actor = &invocation.target;
        let (changes, schedule, casts) = state.into_parts();
        if !changes.is_empty() {
            self.0
                .store
                .commit(actor, changes)
                .await
                .map_err(|source| InvokeError::Store {
                    actor: actor.clone(),
                    source,
                })?;
        }
        for op in schedule {
            if let Err(e) = self.apply_schedule_op(actor, op).await {
                // The guest validated its arguments when it staged the op; what can fail
                // here is storage, which the caller must hear about.
                return Err(InvokeError::Failed {
                    actor: actor.clone(),
                    action: invocation.action.clone(),
                    message: format!("state committed, but a timer or reminder was not: {e}"),
                });
            }
        }
        for mut cast in casts {
            cast.deadline = self.deadline();
            let runtime = self.clone();
            tokio::spawn(async move {
                let target = cast.target.clone();
                if let Err(e) = runtime.invoke(cast).await {
                    tracing::warn!(%target, error = %e, "cast failed");
                }
            });
        }
        Ok(reply)
    }
}
