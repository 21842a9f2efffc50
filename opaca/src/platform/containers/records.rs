//! Cluster mode: the Wasm containers kept in the shared store, so every host of the
//! cluster runs the same ones. Process containers stay with the host that started them.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Container, ContainerKind};
use crate::platform::model::AgentContainer;
use crate::platform::{Platform, WeakPlatform};
use crate::runtime::{FollowFuture, Follower};
use crate::types::StoreError;

/// The record area Wasm containers are kept in (cluster mode).
const CONTAINERS: &str = "opaca-containers";

/// A Wasm container as the shared store keeps it.
#[derive(Serialize, Deserialize)]
struct RecordedContainer {
    tenant: String,
    owner: String,
    component: String,
    info: AgentContainer,
}

impl RecordedContainer {
    /// The record of a Wasm container; `None` for a process container.
    fn of(container: &Container) -> Option<Self> {
        let ContainerKind::Wasm { component } = &container.kind else {
            return None;
        };
        Some(RecordedContainer {
            tenant: container.tenant.clone(),
            owner: container.owner.clone(),
            component: component.clone(),
            info: container.info(),
        })
    }

    /// The container recorded under `id`. It has no token: only process containers get one.
    fn container(self, id: String) -> Container {
        Container::new(
            id,
            self.tenant,
            self.owner,
            ContainerKind::Wasm {
                component: self.component,
            },
            String::new(),
            self.info,
        )
    }
}

/// Brings this host's Wasm containers in line with the ones the cluster's hosts keep in
/// the store.
pub(in crate::platform) struct ContainerFollower(pub(in crate::platform) WeakPlatform);

impl Follower for ContainerFollower {
    fn follow(&self) -> FollowFuture<'_> {
        Box::pin(async move {
            match self.0.upgrade() {
                Some(platform) => platform.follow_containers().await,
                None => Ok(0),
            }
        })
    }
}

impl Platform {
    /// Write a Wasm container's record (cluster mode; nothing otherwise).
    pub(super) async fn keep(&self, container: &Container) -> Result<(), StoreError> {
        let Some(recorded) = RecordedContainer::of(container).filter(|_| self.0.config.shared)
        else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&recorded).map_err(|e| StoreError::Io(e.to_string()))?;
        self.0
            .runtime
            .put_record(CONTAINERS, &container.id, Some(bytes))
            .await
    }

    /// Delete a stopped container's record (cluster mode; nothing otherwise). A failure is
    /// logged: the container stops on this host all the same.
    pub(super) async fn forget_record(&self, id: &str) {
        if self.0.config.shared
            && let Err(e) = self.0.runtime.put_record(CONTAINERS, id, None).await
        {
            tracing::warn!(container = %id, error = %e, "a stopped container's record not deleted");
        }
    }

    /// Add the Wasm containers other hosts started and drop the ones they stopped; how
    /// many changed. The host that stops a container deletes its agents' state.
    async fn follow_containers(&self) -> Result<usize, StoreError> {
        let mut recorded = HashMap::new();
        for (id, bytes) in self.0.runtime.records(CONTAINERS).await? {
            match serde_json::from_slice::<RecordedContainer>(&bytes) {
                Ok(container) => {
                    recorded.insert(id, container);
                }
                Err(e) => {
                    tracing::warn!(container = %id, error = %e, "an unreadable container record is skipped")
                }
            }
        }
        let mut changed = 0;
        {
            let mut containers = self.0.containers.write().unwrap_or_else(|p| p.into_inner());
            containers.retain(|c| {
                let keep =
                    matches!(c.kind, ContainerKind::Process(_)) || recorded.contains_key(&c.id);
                changed += usize::from(!keep);
                keep
            });
        }
        for (id, container) in recorded {
            changed += usize::from(self.add(Arc::new(container.container(id))));
        }
        Ok(changed)
    }
}
