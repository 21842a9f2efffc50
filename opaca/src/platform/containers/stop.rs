//! Stopping containers: at a user's request, when one is replaced or stops answering,
//! and at shutdown. A container id is never used again, so what a stopped container
//! leaves behind goes with it.

use super::ContainerKind;
use crate::platform::auth::Identity;
use crate::platform::model::Role;
use crate::platform::{OpacaError, Platform};
use crate::process_backend::agents_type;
use crate::types::ActorId;

impl Platform {
    /// Stop a container; `false` if `identity` sees no such container. Only its owner or
    /// an admin may stop it.
    pub async fn stop_container(&self, identity: &Identity, id: &str) -> Result<bool, OpacaError> {
        let Some(container) = self.container(identity, id) else {
            return Ok(false);
        };
        if container.owner != identity.owner && !identity.has(Role::Admin) {
            return Err(OpacaError::new(
                403,
                "only the container's owner or an admin may stop it",
            ));
        }
        self.remove(id).await;
        Ok(true)
    }

    /// Forget a container: stop its process, or delete its Wasm agents' state (a
    /// container id is never used again).
    pub(super) async fn remove(&self, id: &str) {
        self.forget_record(id).await;
        let removed = {
            let mut containers = self.0.containers.write().unwrap_or_else(|p| p.into_inner());
            let index = containers.iter().position(|c| c.id == id);
            index.map(|i| containers.remove(i))
        };
        self.0.auth.revoke(id);
        let Some(container) = removed else { return };
        match &container.kind {
            ContainerKind::Process(process) => {
                let name = agents_type(id);
                if let Err(e) = self
                    .0
                    .runtime
                    .remove_component(&container.tenant, &name)
                    .await
                {
                    tracing::warn!(container = %id, error = %e, "agents of a stopped container not removed");
                }
                process.stop().await;
            }
            ContainerKind::Wasm { .. } => {
                for agent in container.info().agents {
                    let actor = ActorId::new(&container.tenant, &agent.agent_id, id);
                    if let Err(e) = self.0.runtime.delete_actor_state(&actor).await {
                        tracing::warn!(%actor, error = %e, "state of a stopped container not deleted");
                    }
                }
            }
        }
    }

    /// Stop every container this host runs (at shutdown). In a cluster the Wasm
    /// containers belong to the whole platform and stay.
    pub async fn stop_all(&self) {
        let shared = self.0.config.shared;
        let ids: Vec<String> = self
            .0
            .containers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|c| !shared || matches!(c.kind, ContainerKind::Process(_)))
            .map(|c| c.id.clone())
            .collect();
        for id in ids {
            self.remove(&id).await;
        }
    }
}
