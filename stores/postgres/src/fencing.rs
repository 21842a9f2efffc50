//! Cluster mode's fence on this store: the partitions this host may write, checked
//! before a write reaches the database (and again inside its transaction).

use std::sync::Arc;

use warren_store::StoreError;
use warren_store::fencing::{Fence, is_fenced, partition_of};
use warren_wire::types::ActorId;

use deadpool_postgres::Transaction;

use crate::sql::{exec, query};
use crate::{PARTITION_LOCKS, PostgresStore};

impl PostgresStore {
    /// From now on, write actors only in the partitions `fence` holds, and read due
    /// reminders of those partitions only (cluster mode). Set once.
    pub fn set_fence(&self, fence: Arc<Fence>) -> Result<(), StoreError> {
        self.fence
            .set(fence)
            .map_err(|_| StoreError::Io("the store is fenced already".into()))
    }

    /// The fence check of a commit of `actor`, if this store is fenced; refused at once
    /// when this host does not hold the partition.
    pub(crate) fn fence_check(
        &self,
        actor: &ActorId,
    ) -> Result<Option<(Arc<Fence>, u32, i64)>, StoreError> {
        self.fence_check_at(actor, None)
    }

    /// [`PostgresStore::fence_check`] at the epoch `bound` (an activation's), when given:
    /// refused at once unless the partition is still this host's at exactly that epoch.
    pub(crate) fn fence_check_at(
        &self,
        actor: &ActorId,
        bound: Option<i64>,
    ) -> Result<Option<(Arc<Fence>, u32, i64)>, StoreError> {
        let Some(fence) = self.fence.get().filter(|_| is_fenced(actor)) else {
            return Ok(None);
        };
        let partition = partition_of(actor);
        // An activation's commit is checked in the database at its epoch, under the
        // partition's lock: it lands only if nobody took the partition since, so a lease
        // that lapsed for a moment (a late heartbeat) need not refuse it. Other writes
        // have no epoch of their own and take the one the lease holds.
        let epoch = match bound {
            Some(bound) => fence.assigned(partition).filter(|held| *held == bound),
            None => fence.epoch(partition),
        }
        .ok_or(StoreError::Fenced { partition })?;
        Ok(Some((fence.clone(), partition, epoch)))
    }
}

/// Check, inside `tx`, that `host` holds `partition` at `epoch`, under the partition's
/// shared lock as a commit does (a reminder written outside a turn).
pub(crate) async fn check_fence(
    tx: &Transaction<'_>,
    partition: u32,
    host: &str,
    epoch: i64,
) -> Result<(), StoreError> {
    exec(
        tx,
        "SELECT pg_advisory_xact_lock_shared($1, $2)",
        &[&PARTITION_LOCKS, &(partition as i32)],
    )
    .await?;
    let held = query(
        tx,
        "SELECT 1 FROM warren_partitions WHERE partition = $1 AND owner = $2 AND epoch = $3",
        &[&(partition as i32), &host, &epoch],
    )
    .await?;
    if held.is_empty() {
        return Err(StoreError::Fenced { partition });
    }
    Ok(())
}
