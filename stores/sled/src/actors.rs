//! [`ActorStore`] on sled: a load is one read of the actor's record; a commit applies on
//! the caller's task (`relaxed`) or goes to the writer task (`sync`).

use std::sync::atomic::Ordering;

use tokio::sync::oneshot;

use crate::SledStore;
use crate::keys::actor_key;
use crate::writer::Pending;
use warren_store::record::ActorRecord;
use warren_store::{ActorStore, ReminderChange, StateChange, StoreError, StoreFuture};
use warren_wire::types::ActorId;

impl ActorStore for SledStore {
    fn load(&self, actor: &ActorId) -> StoreFuture<'_, ActorRecord> {
        let loaded = self
            .writes
            .writable()
            .and_then(|()| Ok(self.actors.get(actor_key(actor))?));
        Box::pin(async move {
            match loaded? {
                Some(bytes) => ActorRecord::decode(&bytes),
                None => Ok(ActorRecord::default()),
            }
        })
    }

    fn commit_turn(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
    ) -> StoreFuture<'_, u64> {
        match &self.writer {
            None => {
                let committed = self
                    .writes
                    .commit(actor, expected_version, changes, reminders);
                Box::pin(async move { committed })
            }
            Some(queue) => {
                let (done, wait) = oneshot::channel();
                let sent = queue.send(Pending::Commit {
                    actor: actor.clone(),
                    expected: expected_version,
                    changes,
                    reminders,
                    done,
                });
                Box::pin(async move {
                    sent.map_err(|_| StoreError::Closed)?;
                    wait.await.map_err(|_| StoreError::Closed)?
                })
            }
        }
    }

    fn tenant_state_size(&self, tenant: &str) -> StoreFuture<'_, u64> {
        let bytes = self
            .writes
            .tenant_bytes
            .get(tenant)
            .map_or(0, |c| c.load(Ordering::Acquire));
        Box::pin(async move { Ok(bytes) })
    }
}
