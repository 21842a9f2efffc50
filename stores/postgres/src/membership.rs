//! The membership table of a cluster in PostgreSQL ([`MembershipStore`]): hosts with
//! their heartbeats, and partition leases whose every move grows their epoch. Heartbeats
//! run on a connection of their own, so a claim that waits on a lock never delays them.

use std::sync::Arc;
use std::time::Duration;

use warren_store::{
    Fence, HostEntry, MembershipStore, PARTITIONS, PartitionEntry, StoreError, StoreFuture,
};

use crate::{PARTITION_LOCKS, PostgresStore, io};

/// How long a claim waits for the partition's lock (the old owner's commits in flight)
/// before it gives up until the next round.
const CLAIM_LOCK_WAIT: &str = "500ms";

/// SQL: a live host other than host `$1` is not leaving (so it takes partitions over).
const ANOTHER_HOST_STAYS: &str =
    "EXISTS (SELECT 1 FROM warren_hosts WHERE alive AND NOT leaving AND id <> $1)";

/// The membership table of the cluster whose hosts share `store`'s database.
pub struct PostgresMembership {
    store: Arc<PostgresStore>,
    /// The heartbeat's own connection, made again after it fails.
    beat_client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl PostgresMembership {
    /// The membership table in `store`'s database.
    pub fn new(store: Arc<PostgresStore>) -> Self {
        PostgresMembership {
            store,
            beat_client: tokio::sync::Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.store.pool().get().await.map_err(io)
    }

    /// One statement on a pooled connection; the rows it changed.
    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.client().await?.execute(sql, params).await.map_err(io)
    }

    async fn beat_now(&self, id: &str) -> Result<bool, StoreError> {
        let mut slot = self.beat_client.lock().await;
        let client = match slot.take() {
            Some(client) if !client.is_closed() => client,
            _ => self.store.dedicated_client().await?,
        };
        let rows = client
            .execute(
                "UPDATE warren_hosts SET heartbeat_at = now(), version = version + 1
                 WHERE id = $1 AND alive",
                &[&id],
            )
            .await
            .map_err(io)?;
        // Kept only after a heartbeat that landed: a failed or abandoned one makes a
        // new connection next time.
        *slot = Some(client);
        Ok(rows > 0)
    }

    async fn claim_now(
        &self,
        id: &str,
        partition: u32,
        seen: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(io)?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{CLAIM_LOCK_WAIT}'"))
            .await
            .map_err(io)?;
        let locked = tx
            .execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&PARTITION_LOCKS, &(partition as i32)],
            )
            .await;
        match locked {
            Ok(_) => {}
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
                return Ok(None);
            }
            Err(e) => return Err(io(e)),
        }
        let row = tx
            .query_opt(
                "UPDATE warren_partitions SET owner = $2, epoch = epoch + 1
                 WHERE partition = $1 AND epoch = $3
                 RETURNING epoch",
                &[&(partition as i32), &id, &seen],
            )
            .await
            .map_err(io)?;
        tx.commit().await.map_err(io)?;
        Ok(row.map(|r| r.get(0)))
    }
}

impl MembershipStore for PostgresMembership {
    fn set_fence(&self, fence: Arc<Fence>) -> Result<(), StoreError> {
        self.store.set_fence(fence)
    }

    fn register<'a>(&'a self, id: &'a str, address: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.execute(
                "INSERT INTO warren_partitions (partition)
                 SELECT generate_series(0, $1 - 1) ON CONFLICT DO NOTHING",
                &[&(PARTITIONS as i32)],
            )
            .await?;
            self.execute(
                "INSERT INTO warren_hosts (id, address) VALUES ($1, $2)",
                &[&id, &address],
            )
            .await?;
            Ok(())
        })
    }

    fn beat<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.beat_now(id))
    }

    fn rejoin<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.execute(
                "UPDATE warren_hosts SET alive = true, heartbeat_at = now(),
                     version = version + 1
                 WHERE id = $1",
                &[&id],
            )
            .await?;
            Ok(())
        })
    }

    fn declare_silent_dead(&self, timeout: Duration) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    "UPDATE warren_hosts SET alive = false, version = version + 1
                     WHERE alive AND heartbeat_at < now() - make_interval(secs => $1)
                     RETURNING id",
                    &[&timeout.as_secs_f64()],
                )
                .await
                .map_err(io)?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    fn live_hosts(&self) -> StoreFuture<'_, Vec<HostEntry>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT id, address, leaving FROM warren_hosts WHERE alive ORDER BY id",
                    &[],
                )
                .await
                .map_err(io)?;
            Ok(rows
                .iter()
                .map(|row| HostEntry {
                    id: row.get(0),
                    address: row.get(1),
                    leaving: row.get(2),
                })
                .collect())
        })
    }

    fn partitions(&self) -> StoreFuture<'_, Vec<PartitionEntry>> {
        Box::pin(async move {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT partition, owner, epoch FROM warren_partitions ORDER BY partition",
                    &[],
                )
                .await
                .map_err(io)?;
            Ok(rows
                .iter()
                .map(|row| PartitionEntry {
                    partition: row.get::<_, i32>(0) as u32,
                    owner: row.get(1),
                    epoch: row.get(2),
                })
                .collect())
        })
    }

    fn claim<'a>(&'a self, id: &'a str, partition: u32, seen: i64) -> StoreFuture<'a, Option<i64>> {
        Box::pin(self.claim_now(id, partition, seen))
    }

    fn release<'a>(&'a self, id: &'a str, partitions: &'a [u32]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let numbers: Vec<i32> = partitions.iter().map(|&p| p as i32).collect();
            self.execute(
                "UPDATE warren_partitions SET owner = NULL, epoch = epoch + 1
                 WHERE partition = ANY($1) AND owner = $2",
                &[&numbers, &id],
            )
            .await?;
            Ok(())
        })
    }

    fn release_all<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.execute(
                "UPDATE warren_partitions SET owner = NULL, epoch = epoch + 1 WHERE owner = $1",
                &[&id],
            )
            .await?;
            Ok(())
        })
    }

    fn mark_leaving<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let marked = self
                .execute(
                    &format!(
                        "UPDATE warren_hosts SET leaving = true, version = version + 1
                         WHERE id = $1 AND {ANOTHER_HOST_STAYS}"
                    ),
                    &[&id],
                )
                .await?;
            Ok(marked > 0)
        })
    }

    fn another_host_stays<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let row = self
                .client()
                .await?
                .query_one(&format!("SELECT {ANOTHER_HOST_STAYS}"), &[&id])
                .await
                .map_err(io)?;
            Ok(row.get(0))
        })
    }

    fn remove_host<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.execute("DELETE FROM warren_hosts WHERE id = $1", &[&id])
                .await?;
            Ok(())
        })
    }
}
