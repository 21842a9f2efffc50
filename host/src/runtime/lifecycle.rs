//! The start of an activation: its type's timer actions and activation hook.

use std::sync::Arc;

use chrono::Utc;

use super::scheduler::{FailurePolicy, Job, JobKind, JobRequest};
use super::tenants::Tenant;
use super::{ActorId, ActorTypeEntry, CallMode, Invocation, InvokeError, Runtime, Trigger};

impl Runtime {
    /// Start a fresh activation, holding its turn: arm the type's timer actions and run its
    /// activation hook once. A failing hook is logged; the message that activated the
    /// actor still runs, as in Spawn.
    pub(super) async fn start_activation(
        &self,
        tenant: &Arc<Tenant>,
        entry: &ActorTypeEntry,
        actor: &ActorId,
        chain: &str,
    ) {
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
        };
        if let Err(e) = self.run_turn(tenant, entry, &invocation).await {
            tracing::warn!(%actor, action = %hook, error = %e, "activation hook failed");
        }
    }

    /// Activate `actor` now, as its first message would, without sending it one (Spawn
    /// warms its named stateful actors at registration).
    pub async fn warm(&self, actor: &ActorId) -> Result<(), InvokeError> {
        let tenant =
            self.0
                .tenants
                .get(&actor.tenant)
                .ok_or_else(|| InvokeError::TenantNotFound {
                    tenant: actor.tenant.to_string(),
                })?;
        let entry = self
            .0
            .registry
            .actor_type(&actor.tenant, &actor.actor_type)
            .ok_or_else(|| InvokeError::ActorTypeNotFound {
                tenant: actor.tenant.to_string(),
                actor_type: actor.actor_type.to_string(),
            })?;
        let slot = self.activate(&tenant, &entry, actor)?;
        let _turn = slot.turn.lock().await;
        if slot.take_start() {
            let chain = uuid::Uuid::new_v4().to_string();
            let _entry = slot.enter(&chain);
            self.start_activation(&tenant, &entry, actor, &chain).await;
        }
        self.0.table.touch(&slot);
        Ok(())
    }
}
