//! Actor state seen from outside a turn: reads, transactions of an active actor, state a
//! backend writes behind, and the rule that a tenant only touches the types it hosts.

use std::sync::Arc;

use super::backend::HeldStateError;
use super::{Runtime, execute};
use crate::store::ActorRecord;
use crate::store::record::is_reserved;
use crate::types::{ActorId, LimitKind, StateChange, StoreError};

/// Why a state transaction from outside a turn was refused.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The tenant does not host the actor's type.
    #[error("actor type {actor_type:?} is not hosted in tenant {tenant:?}")]
    NotHosted {
        /// The actor's tenant.
        tenant: String,
        /// The type it does not host.
        actor_type: String,
    },
    /// The actor is not active; a transaction from outside its turns needs it to be (as in Dapr).
    #[error("actor {0} is not active")]
    NotActive(ActorId),
    /// A key the host keeps for itself (starting with U+0001).
    #[error("state key {0:?} is reserved: keys starting with U+0001 belong to the host")]
    ReservedKey(String),
    /// The change would take the tenant past a state limit.
    #[error("tenant {tenant:?} is at its limit of {max} {kind}; nothing was changed")]
    Quota {
        /// The tenant at its limit.
        tenant: String,
        /// Which limit.
        kind: LimitKind,
        /// The limit, in bytes of state.
        max: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Runtime {
    /// Refuse an actor whose type its tenant does not host: a tenant never reads or writes
    /// actors of types it has not deployed. Every state read and write from outside a
    /// turn, and every timer and reminder, checks this.
    pub fn check_hosted(&self, actor: &ActorId) -> Result<(), StateError> {
        if self.hosts(&actor.tenant, &actor.actor_type) {
            Ok(())
        } else {
            Err(StateError::NotHosted {
                tenant: actor.tenant.to_string(),
                actor_type: actor.actor_type.to_string(),
            })
        }
    }

    /// The ids of the active actors of a type the tenant hosts.
    pub fn active_ids(&self, tenant: &str, actor_type: &str) -> Result<Vec<String>, StateError> {
        self.check_hosted(&ActorId::new(tenant, actor_type, "-"))?;
        let mut ids: Vec<String> = self
            .0
            .table
            .active(|a| &*a.tenant == tenant && &*a.actor_type == actor_type)
            .into_iter()
            .map(|a| a.id.to_string())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Read one state key of an actor of a hosted type (committed state; no turn is
    /// taken).
    pub async fn get_state(
        &self,
        actor: &ActorId,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StateError> {
        self.check_hosted(actor)?;
        if is_reserved(key) {
            return Ok(None);
        }
        Ok(self.committed(actor).await?.entries.get(key).cloned())
    }

    /// The committed state of `actor`: what its activation holds, else what is stored. In
    /// a cluster, an activation answers only while this host holds its partition at the
    /// epoch it loaded under; otherwise the store, where every acknowledged commit is,
    /// answers.
    pub(super) async fn committed(&self, actor: &ActorId) -> Result<Arc<ActorRecord>, StoreError> {
        match self.0.table.get(actor) {
            Some(slot) if self.serves_reads(actor, &slot) => self.held_record(&slot, actor).await,
            _ => Ok(Arc::new(self.0.store.load(actor).await?)),
        }
    }

    /// Whether the activation `slot` may answer reads of `actor` from what it holds.
    fn serves_reads(&self, actor: &ActorId, slot: &super::table::ActorSlot) -> bool {
        if slot.record.is_dropped() {
            return false;
        }
        if self.router().is_none() || !crate::store::fencing::is_fenced(actor) {
            return true;
        }
        slot.record.get().is_some()
            && self
                .held_epoch(actor)
                .is_some_and(|epoch| Some(epoch) == slot.record.epoch())
    }

    /// Make stored revision `revision` the current state of `actor` (Spawn's
    /// `spawn?revision=N`), for a backend that writes state behind and keeps revisions;
    /// others commit every turn and keep none. The restore takes the actor's turn
    /// (activating it), so no turn running meanwhile can overwrite the restored state with
    /// what it read before.
    pub async fn restore_revision(
        &self,
        actor: &ActorId,
        revision: i64,
    ) -> Result<(), HeldStateError> {
        // Refused before activating: an actor must not be woken for nothing. A type that
        // is not hosted is reported by the activation.
        if let Some(entry) = self
            .0
            .catalog
            .registry()
            .actor_type(&actor.tenant, &actor.actor_type)
            && entry.backend.held_state().is_none()
        {
            return Err(HeldStateError::NoRevisions(actor.clone()));
        }
        self.in_turn(actor, |entry| async move {
            match entry.backend.held_state() {
                Some(held) => held.restore_revision(self, actor, revision).await,
                None => Err(HeldStateError::NoRevisions(actor.clone())),
            }
        })
        .await?
    }

    /// Store state a backend holds for `actor` and writes behind (Spawn snapshots), within
    /// the tenant's state quotas.
    pub async fn store_held_state(
        &self,
        actor: &ActorId,
        changes: Vec<StateChange>,
    ) -> Result<(), HeldStateError> {
        let tenant = self
            .0
            .tenancy
            .get(&actor.tenant)
            .ok_or_else(|| HeldStateError::NoTenant {
                tenant: actor.tenant.to_string(),
            })?;
        self.commit_state(&tenant, actor, changes, Vec::new())
            .await
            .map_err(|e| match e {
                execute::CommitError::Quota(kind, max) => HeldStateError::Quota {
                    tenant: actor.tenant.to_string(),
                    kind,
                    max,
                },
                execute::CommitError::Store(e) => HeldStateError::Store(e),
            })
    }

    /// Delete all state of `actor`, whose owner is gone for good (a stopped OPACA
    /// container's agent).
    pub async fn delete_actor_state(&self, actor: &ActorId) -> Result<(), StoreError> {
        let keys: Vec<String> = self
            .committed(actor)
            .await?
            .entries
            .keys()
            .cloned()
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let Some(tenant) = self.0.tenancy.get(&actor.tenant) else {
            return Ok(());
        };
        let changes = keys.into_iter().map(|key| (key, None)).collect();
        match self.commit_state(&tenant, actor, changes, Vec::new()).await {
            Ok(()) => Ok(()),
            Err(execute::CommitError::Store(e)) => Err(e),
            // Deleting only frees space.
            Err(execute::CommitError::Quota(..)) => Ok(()),
        }
    }

    /// Apply a state transaction from outside the actor's turns (Dapr's state API, which an
    /// app calls while its turn runs). Like Dapr, only for an active actor.
    pub async fn state_transaction(
        &self,
        actor: &ActorId,
        changes: Vec<StateChange>,
    ) -> Result<(), StateError> {
        let tenant = match self.0.tenancy.get(&actor.tenant) {
            Some(t) if self.0.table.is_active(actor) => t,
            _ => return Err(StateError::NotActive(actor.clone())),
        };
        self.check_hosted(actor)?;
        if let Some((key, _)) = changes.iter().find(|(key, _)| is_reserved(key)) {
            return Err(StateError::ReservedKey(key.clone()));
        }
        self.commit_state(&tenant, actor, changes, Vec::new())
            .await
            .map_err(|e| match e {
                execute::CommitError::Quota(kind, max) => StateError::Quota {
                    tenant: actor.tenant.to_string(),
                    kind,
                    max,
                },
                execute::CommitError::Store(e) => StateError::Store(e),
            })
    }
}
