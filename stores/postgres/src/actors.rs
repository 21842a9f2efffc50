//! [`ActorStore`] on PostgreSQL: an actor's state is one row per key under one row per
//! actor holding its version; commits go through the group commit (`group.rs`), and each
//! tenant's usage counter follows them.

use tokio_postgres::types::ToSql;
use warren_store::record::ActorRecord;
use warren_store::{ActorStore, ReminderChange, StateChange, StoreError, StoreFuture};
use warren_wire::types::ActorId;

use crate::sql::{actor_params, exec};
use crate::{PostgresStore, batch, io};

/// Add `delta` bytes to `tenant`'s usage counter. A batch adds its tenants' deltas last,
/// in name order, so concurrent batches lock the counters in one order (no deadlock).
pub(crate) async fn add_usage(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    delta: i64,
) -> Result<(), StoreError> {
    if delta != 0 {
        exec(
            tx,
            "INSERT INTO warren_tenant_usage VALUES ($1, $2)
             ON CONFLICT (tenant) DO UPDATE SET bytes = warren_tenant_usage.bytes + $2",
            &[&tenant, &delta],
        )
        .await?;
    }
    Ok(())
}

impl ActorStore for PostgresStore {
    fn load(&self, actor: &ActorId) -> StoreFuture<'_, ActorRecord> {
        let actor = actor.clone();
        Box::pin(async move {
            let client = self.client().await?;
            let key = actor_params(&actor);
            let [t, a, i] = &key;
            let params: [&(dyn ToSql + Sync); 3] = [t, a, i];
            let version = client
                .query_opt(
                    "SELECT version FROM warren_actors
                     WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3",
                    &params,
                )
                .await
                .map_err(io)?
                .map_or(0, |row| row.get::<_, i64>(0) as u64);
            let rows = client
                .query(
                    "SELECT key, value FROM warren_state
                     WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3",
                    &params,
                )
                .await
                .map_err(io)?;
            let mut record = ActorRecord::default();
            record.apply(
                rows.iter()
                    .map(|row| (row.get::<_, String>(0), Some(row.get::<_, Vec<u8>>(1))))
                    .collect(),
            );
            record.version = version;
            Ok(record)
        })
    }

    fn commit_turn(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
    ) -> StoreFuture<'_, u64> {
        self.commit_turn_at(actor, expected_version, changes, reminders, None)
    }

    fn commit_turn_at(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
        epoch: Option<i64>,
    ) -> StoreFuture<'_, u64> {
        let actor = actor.clone();
        Box::pin(async move {
            let fence = self.fence_check_at(&actor, epoch)?;
            self.group
                .commit(batch::Pending {
                    actor,
                    expected: expected_version,
                    changes,
                    reminders,
                    fence,
                })
                .await
        })
    }

    fn tenant_state_size(&self, tenant: &str) -> StoreFuture<'_, u64> {
        let tenant = tenant.to_string();
        Box::pin(async move {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT bytes FROM warren_tenant_usage WHERE tenant = $1",
                    &[&tenant],
                )
                .await
                .map_err(io)?;
            Ok(row.map_or(0, |row| row.get::<_, i64>(0).max(0) as u64))
        })
    }
}
