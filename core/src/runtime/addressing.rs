//! Names to actors, the way Spawn addresses them: a named type's singleton, instances
//! spawned from a type (recorded durably, so a bare instance name finds its type), and the
//! members of a pool.

use std::sync::atomic::Ordering;

use super::{ActorId, InvokeError, Runtime, check_name};
use crate::store::StoreError;
use crate::types::manifest::{ActorKind, DEFAULT_POOL_SIZE};
use crate::types::workflow::Address;

/// Where a tenant's spawned instance `name` is recorded: a record of its own whose
/// [`PARENT`] key holds its type (one small record per instance, so neither a spawn nor a
/// lookup touches the others). The `$` keeps it apart from every real actor type.
pub(crate) fn instance(tenant: &str, name: &str) -> ActorId {
    ActorId::new(tenant, SPAWNED, name)
}

/// The pseudo actor type of spawned instances' records.
pub(crate) const SPAWNED: &str = "$spawned";
/// The key of an instance's record that names its type.
pub(crate) const PARENT: &str = "parent";

fn store_error(actor: ActorId) -> impl FnOnce(StoreError) -> InvokeError {
    move |source| InvokeError::Store { actor, source }
}

impl Runtime {
    /// Create instance `name` of actor type `parent` (Spawn's spawn of an unnamed actor).
    /// Spawning an existing instance again is harmless. An instance name names one actor
    /// of the system: it cannot be an actor type's name (a bare name would find the type),
    /// nor an instance of another type. Any id names an actor of a named type (a Wasm
    /// type addressed as type/id), so nothing is recorded for one.
    pub async fn spawn_instance(
        &self,
        tenant: &str,
        parent: &str,
        name: &str,
    ) -> Result<ActorId, InvokeError> {
        check_name("actor id", name).map_err(InvokeError::BadRequest)?;
        let entry = self
            .0
            .catalog
            .registry()
            .actor_type(tenant, parent)
            .ok_or_else(|| InvokeError::ActorTypeNotFound {
                tenant: tenant.to_string(),
                actor_type: parent.to_string(),
            })?;
        if entry.spec.kind == ActorKind::Named {
            return Ok(ActorId::new(tenant, parent, name));
        }
        if self.hosts(tenant, name) {
            return Err(InvokeError::BadRequest(format!(
                "{name:?} is the name of an actor type; an instance of {parent:?} cannot be named so"
            )));
        }
        let record = instance(tenant, name);
        let store = &self.0.store;
        // Twice at most: a concurrent spawn of the same name moves the version once.
        for _ in 0..2 {
            let known = store
                .load(&record)
                .await
                .map_err(store_error(record.clone()))?;
            match known.entries.get(PARENT) {
                Some(recorded) if recorded == parent.as_bytes() => break,
                Some(recorded) => {
                    return Err(InvokeError::BadRequest(format!(
                        "actor {name:?} is already an instance of {:?}; it cannot be spawned from {parent:?} too",
                        String::from_utf8_lossy(recorded)
                    )));
                }
                None => {
                    let change = vec![(PARENT.to_string(), Some(parent.as_bytes().to_vec()))];
                    match store.commit(&record, known.version, change).await {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(e) => return Err(store_error(record)(e)),
                    }
                }
            }
        }
        Ok(ActorId::new(tenant, parent, name))
    }

    /// The actor `address` names in `tenant`: an instance of its parent (spawned on the
    /// fly), a spawned instance, a named type's singleton (id = type name), or a member of
    /// a pooled type. An unnamed type cannot be called by its own name.
    pub async fn resolve(&self, tenant: &str, address: &Address) -> Result<ActorId, InvokeError> {
        let name = address.name.as_str();
        if let Some(parent) = address.parent.as_deref().filter(|p| !p.is_empty()) {
            return self.spawn_instance(tenant, parent, name).await;
        }
        let record = instance(tenant, name);
        let spawned = self
            .0
            .store
            .load(&record)
            .await
            .map_err(store_error(record.clone()))?;
        if let Some(parent) = spawned.entries.get(PARENT) {
            let parent = String::from_utf8_lossy(parent);
            if self.hosts(tenant, &parent) {
                return Ok(ActorId::new(tenant, &parent, name));
            }
        }
        let entry = self
            .0
            .catalog
            .registry()
            .actor_type(tenant, name)
            .ok_or_else(|| InvokeError::ActorTypeNotFound {
                tenant: tenant.to_string(),
                actor_type: name.to_string(),
            })?;
        match entry.spec.kind {
            ActorKind::Named => Ok(ActorId::new(tenant, name, name)),
            ActorKind::Pooled => {
                let size = entry.spec.pool_size.unwrap_or(DEFAULT_POOL_SIZE).max(1);
                let member = self.0.pool_cursor.fetch_add(1, Ordering::Relaxed) % size as u64;
                Ok(ActorId::new(tenant, name, &format!("pool-{member}")))
            }
            ActorKind::Unnamed => Err(InvokeError::BadRequest(format!(
                "actor {name:?} is an unnamed template: spawn an instance of it first, or name it as the parent (register_ref) of the instance to call"
            ))),
        }
    }
}
