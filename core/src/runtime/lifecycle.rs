//! The start of an activation: its type's timer actions and activation hook; and work
//! done holding an actor's turn outside any message (warming, restoring a revision).

use std::future::Future;
use std::sync::Arc;

use chrono::Utc;

use super::execute::new_chain_id;
use super::scheduler::{FailurePolicy, Job, JobKind, JobRequest};
use super::table::ActorSlot;
use super::tenants::Tenant;
use super::{ActorId, ActorTypeEntry, CallMode, Invocation, InvokeError, Runtime, Trigger};

impl Runtime {
    /// Start a fresh activation, holding its turn: arm the type's timer actions and run its
    /// activation hook once. A failing hook is logged; the message that activated the
    /// actor still runs, as in Spawn. The hook's workflow runs once the turn is released.
    pub(super) async fn start_activation(
        &self,
        tenant: &Arc<Tenant>,
        entry: &ActorTypeEntry,
        slot: &ActorSlot,
        actor: &ActorId,
        chain: &str,
    ) {
        entry.backend.activating(self, actor).await;
        for timer in &entry.spec.timer_actions {
            let every = format!("{}ms", timer.period_ms);
            let request = JobRequest {
                kind: JobKind::Timer,
                name: &timer.action,
                due_time: &every,
                period: &every,
                ttl: "",
                data: Vec::new(),
                callback: None,
                failure_policy: FailurePolicy::Drop,
            };
            match Job::new(request, Utc::now()) {
                Ok(job) => self.0.scheduler.put(actor, job),
                Err(e) => {
                    tracing::warn!(%actor, action = %timer.action, error = %e, "timer action not armed")
                }
            }
        }
        let Some(hook) = &entry.spec.activate_action else {
            return;
        };
        let invocation = Invocation {
            target: actor.clone(),
            action: hook.clone(),
            payload: Vec::new(),
            metadata: Vec::new(),
            caller: None,
            mode: CallMode::Call,
            trigger: Trigger::Activate,
            reentrancy_id: Some(chain.to_string()),
            deadline: self.deadline(&actor.tenant),
            route_hops: 0,
        };
        let outcome = self.run_turn(tenant, entry, slot, &invocation).await;
        match outcome {
            Ok(reply) if !reply.workflow.is_empty() => {
                // Not awaited: the caller holds the actor's turn, which a pipe or forward
                // back to this actor must wait for. A new call chain, so such a call is not
                // taken for a re-entry of the turn still running.
                let mut invocation = invocation;
                invocation.reentrancy_id = None;
                let runtime = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = runtime.follow(&invocation, reply).await {
                        tracing::warn!(actor = %invocation.target, action = %invocation.action, error = %e, "activation hook's workflow failed");
                    }
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%actor, action = %hook, error = %e, "activation hook failed");
            }
        }
    }

    /// Keep `actor` active from now on, as its first message would activate it, without
    /// sending it one (Spawn warms its named stateful actors at registration). Only its
    /// owner activates it: in a cluster, the host that holds its partition now, or the
    /// one that gains it later.
    pub async fn warm(&self, actor: &ActorId) -> Result<(), InvokeError> {
        self.0
            .eager
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(actor.clone());
        if self.placement(actor) != super::Placement::Here {
            return Ok(());
        }
        self.in_turn(actor, |_| async {}).await
    }

    /// Activate the eager actors this host owns and has not active (after gaining
    /// partitions); those whose type is gone are forgotten.
    pub(super) fn warm_eager(&self) {
        let eager: Vec<ActorId> = self
            .0
            .eager
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|a| !self.0.table.is_active(a) && self.placement(a) == super::Placement::Here)
            .cloned()
            .collect();
        for actor in eager {
            let runtime = self.clone();
            tokio::spawn(async move {
                match runtime.in_turn(&actor, |_| async {}).await {
                    Ok(()) => {}
                    Err(
                        InvokeError::ActorTypeNotFound { .. } | InvokeError::TenantNotFound { .. },
                    ) => {
                        runtime
                            .0
                            .eager
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&actor);
                    }
                    Err(e) => {
                        tracing::warn!(%actor, error = %e, "activating an eager actor failed")
                    }
                }
            });
        }
    }

    /// Run `work` holding `actor`'s turn, outside any message: activate the actor as its
    /// first message would, wait for its turn, run `work` with the type's entry, and start
    /// the activation if it is new. `work` runs before the start, so an activation hook
    /// sees what `work` did (a restored revision is what the actor starts from).
    pub(super) async fn in_turn<T, F, Fut>(
        &self,
        actor: &ActorId,
        work: F,
    ) -> Result<T, InvokeError>
    where
        F: FnOnce(Arc<ActorTypeEntry>) -> Fut,
        Fut: Future<Output = T>,
    {
        let tenant =
            self.0
                .tenancy
                .get(&actor.tenant)
                .ok_or_else(|| InvokeError::TenantNotFound {
                    tenant: actor.tenant.to_string(),
                })?;
        let entry = self
            .0
            .catalog
            .registry()
            .actor_type(&actor.tenant, &actor.actor_type)
            .ok_or_else(|| InvokeError::ActorTypeNotFound {
                tenant: actor.tenant.to_string(),
                actor_type: actor.actor_type.to_string(),
            })?;
        let slot = self.activate(&tenant, &entry, actor)?;
        let _turn = slot.turn.lock().await;
        let chain = new_chain_id();
        let _entry = slot.enter(&chain);
        let done = work(entry.clone()).await;
        if slot.take_start() {
            self.start_activation(&tenant, &entry, &slot, actor, &chain)
                .await;
        }
        self.0.table.touch(&slot);
        Ok(done)
    }
}
