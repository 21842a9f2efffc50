//! [`ReminderStore`] on PostgreSQL: one row per reminder with its actor's partition, read
//! in due order through an index; a change outside a turn is fenced like a commit.

use warren_store::fencing::partition_of;
use warren_store::{
    ReminderChange, ReminderCursor, ReminderStore, StoreError, StoreFuture, StoredReminder,
};
use warren_wire::types::ActorId;

use crate::sql::{actor_params, exec};
use crate::{PostgresStore, fencing, io};

/// A reminder from a row of [`REMINDER_COLUMNS`].
fn reminder_of(row: &tokio_postgres::Row) -> StoredReminder {
    StoredReminder {
        actor: ActorId::new(
            row.get::<_, &str>(0),
            row.get::<_, &str>(1),
            row.get::<_, &str>(2),
        ),
        name: row.get(3),
        due_ms: row.get(4),
        record: row.get(5),
    }
}

/// A reminder's columns, in the order [`reminder_of`] reads them.
const REMINDER_COLUMNS: &str = "tenant, actor_type, actor_id, name, due_ms, record";

/// Store (or replace) a reminder with its actor's partition.
const PUT_REMINDER: &str = "INSERT INTO warren_reminders
        (tenant, actor_type, actor_id, name, due_ms, record, partition)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (tenant, actor_type, actor_id, name)
    DO UPDATE SET due_ms = EXCLUDED.due_ms, record = EXCLUDED.record";

/// Apply one reminder change of `actor` inside a commit's transaction; the rows it wrote.
pub(crate) async fn apply_reminder(
    tx: &deadpool_postgres::Transaction<'_>,
    actor: &ActorId,
    change: &ReminderChange,
) -> Result<u64, StoreError> {
    let key = actor_params(actor);
    let [t, a, i] = &key;
    match change {
        ReminderChange::Put {
            name,
            due_ms,
            record,
        } => {
            let partition = partition_of(actor) as i32;
            exec(
                tx,
                PUT_REMINDER,
                &[t, a, i, name, due_ms, record, &partition],
            )
            .await
        }
        ReminderChange::Delete { name } => {
            exec(
                tx,
                "DELETE FROM warren_reminders
                 WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3 AND name = $4",
                &[t, a, i, name],
            )
            .await
        }
        ReminderChange::Advance {
            name,
            fired_due_ms,
            next: Some((due_ms, record)),
        } => {
            exec(
                tx,
                "UPDATE warren_reminders SET due_ms = $6, record = $7
                 WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3 AND name = $4
                   AND due_ms = $5",
                &[t, a, i, name, fired_due_ms, due_ms, record],
            )
            .await
        }
        ReminderChange::Advance {
            name,
            fired_due_ms,
            next: None,
        } => {
            exec(
                tx,
                "DELETE FROM warren_reminders
                 WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3 AND name = $4
                   AND due_ms = $5",
                &[t, a, i, name, fired_due_ms],
            )
            .await
        }
    }
}

impl PostgresStore {
    /// Write a reminder change of `actor` outside a turn, fenced like a commit: only while
    /// this host holds the actor's partition (a host that lost it must not overwrite the
    /// owner's progress, revive a deleted reminder or delete a live one).
    async fn write_reminder(
        &self,
        actor: &ActorId,
        change: ReminderChange,
    ) -> Result<u64, StoreError> {
        let fence = self.fence_check(actor)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(io)?;
        if let Some((fence, partition, epoch)) = &fence {
            fencing::check_fence(&tx, *partition, fence.host(), *epoch).await?;
        }
        let written = apply_reminder(&tx, actor, &change).await?;
        tx.commit().await.map_err(io)?;
        Ok(written)
    }
}

impl ReminderStore for PostgresStore {
    fn put_reminder(
        &self,
        actor: &ActorId,
        name: &str,
        due_ms: i64,
        record: Vec<u8>,
    ) -> StoreFuture<'_, ()> {
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            let change = ReminderChange::Put {
                name,
                due_ms,
                record,
            };
            self.write_reminder(&actor, change).await.map(drop)
        })
    }

    fn delete_reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, bool> {
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            let change = ReminderChange::Delete { name };
            Ok(self.write_reminder(&actor, change).await? > 0)
        })
    }

    fn advance_reminder(
        &self,
        actor: &ActorId,
        name: &str,
        fired_due_ms: i64,
        next: Option<(i64, Vec<u8>)>,
    ) -> StoreFuture<'_, bool> {
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            let change = ReminderChange::Advance {
                name,
                fired_due_ms,
                next,
            };
            Ok(self.write_reminder(&actor, change).await? > 0)
        })
    }

    fn reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, Option<StoredReminder>> {
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            let key = actor_params(&actor);
            let [t, a, i] = &key;
            let row = self
                .client()
                .await?
                .query_opt(
                    &format!(
                        "SELECT {REMINDER_COLUMNS} FROM warren_reminders
                         WHERE tenant = $1 AND actor_type = $2 AND actor_id = $3 AND name = $4"
                    ),
                    &[t, a, i, &name],
                )
                .await
                .map_err(io)?;
            Ok(row.as_ref().map(reminder_of))
        })
    }

    fn actor_reminders(
        &self,
        tenant: &str,
        actor_type: &str,
        id: Option<&str>,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        let (tenant, actor_type) = (tenant.to_string(), actor_type.to_string());
        let id = id.map(str::to_string);
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    &format!(
                        "SELECT {REMINDER_COLUMNS} FROM warren_reminders
                         WHERE tenant = $1 AND actor_type = $2
                           AND ($3::text IS NULL OR actor_id = $3)
                         ORDER BY actor_id, name"
                    ),
                    &[&tenant, &actor_type, &id],
                )
                .await
                .map_err(io)?;
            Ok(rows.iter().map(reminder_of).collect())
        })
    }

    fn reminders_due(
        &self,
        after: Option<ReminderCursor>,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<StoredReminder>> {
        Box::pin(async move {
            let limit = limit.min(i64::MAX as usize) as i64;
            // Cluster mode: only the partitions this host holds fire here.
            let held: Option<Vec<i32>> = self.fence.get().map(|f| f.held());
            if held.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
            let client = self.client().await?;
            // Row comparison follows the index's order: due time, then the reminder's key.
            let rows = match &after {
                Some((due_ms, actor, name)) => {
                    client
                        .query(
                            &format!(
                                "SELECT {REMINDER_COLUMNS} FROM warren_reminders
                                 WHERE (due_ms, tenant, actor_type, actor_id, name)
                                       > ($1, $2, $3, $4, $5)
                                   AND due_ms <= $6
                                   AND ($8::integer[] IS NULL OR partition = ANY($8))
                                 ORDER BY due_ms, tenant, actor_type, actor_id, name
                                 LIMIT $7"
                            ),
                            &[
                                due_ms,
                                &&*actor.tenant,
                                &&*actor.actor_type,
                                &&*actor.id,
                                name,
                                &until_ms,
                                &limit,
                                &held,
                            ],
                        )
                        .await
                }
                None => {
                    client
                        .query(
                            &format!(
                                "SELECT {REMINDER_COLUMNS} FROM warren_reminders
                                 WHERE due_ms <= $1
                                   AND ($3::integer[] IS NULL OR partition = ANY($3))
                                 ORDER BY due_ms, tenant, actor_type, actor_id, name
                                 LIMIT $2"
                            ),
                            &[&until_ms, &limit, &held],
                        )
                        .await
                }
            }
            .map_err(io)?;
            Ok(rows.iter().map(reminder_of).collect())
        })
    }
}
