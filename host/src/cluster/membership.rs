//! Membership and partition leases, all in PostgreSQL: each host registers and
//! heartbeats; a host whose heartbeat is older than the timeout is declared dead by
//! whichever host sees it first (one versioned row update, in the database's clock, so
//! hosts cannot disagree); partitions go to live hosts by rendezvous hashing, a
//! partition moving only from a dead or leaving owner, or when its owner releases it,
//! and every move grows its epoch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;

use super::router::{ClusterRouter, Owner};
use crate::runtime::Runtime;
use crate::store::fencing::fnv1a;
use crate::store::{
    Fence, PARTITION_LOCKS, PARTITIONS, StoreError, partition_of, postgres_error as io,
};

/// How long a host waits for a partition's running turns before releasing it.
const DRAIN: Duration = Duration::from_secs(2);

/// This host's part in the membership.
pub struct Membership {
    pub(super) pool: Pool,
    pub(super) host: String,
    pub(super) address: String,
    pub(super) host_timeout: Duration,
    pub(super) fence: Arc<Fence>,
    pub(super) router: Arc<ClusterRouter>,
}

/// The host of the highest score wins a partition: moves are few when hosts come and go
/// (only the partitions of the host that left or joined move).
fn rendezvous(partition: u32, hosts: &[String]) -> Option<&str> {
    hosts
        .iter()
        .max_by_key(|host| {
            let mut hash = fnv1a(host.bytes().chain(partition.to_le_bytes()));
            // One more mixing round: FNV's low bits alone spread poorly.
            hash ^= hash >> 33;
            hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
            hash ^ (hash >> 33)
        })
        .map(String::as_str)
}

/// What one reading of the tables asked of this host.
#[derive(Debug, Default)]
pub struct TickOutcome {
    pub gained: Vec<u32>,
    pub released: Vec<u32>,
    /// This host had been declared dead (a pause, a lost connection) and rejoined.
    pub rejoined: bool,
}

impl Membership {
    /// Register this host and the partition rows (the first host creates them).
    pub async fn register(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(io)?;
        client
            .execute(
                "INSERT INTO warren_partitions (partition)
                 SELECT generate_series(0, $1 - 1) ON CONFLICT DO NOTHING",
                &[&(PARTITIONS as i32)],
            )
            .await
            .map_err(io)?;
        client
            .execute(
                "INSERT INTO warren_hosts (id, address) VALUES ($1, $2)",
                &[&self.host, &self.address],
            )
            .await
            .map_err(io)?;
        Ok(())
    }

    /// One round: heartbeat, declare the silent dead, take and give partitions, and
    /// publish the table to the router.
    pub async fn tick(&self, runtime: &Runtime) -> Result<TickOutcome, StoreError> {
        let mut outcome = TickOutcome::default();
        let mut client = self.pool.get().await.map_err(io)?;
        let beat = client
            .execute(
                "UPDATE warren_hosts SET heartbeat_at = now(), version = version + 1
                 WHERE id = $1 AND alive",
                &[&self.host],
            )
            .await
            .map_err(io)?;
        if beat == 0 {
            // Declared dead while away: whatever this host held may run elsewhere now.
            self.give_up_all(runtime, &client, Duration::ZERO).await?;
            client
                .execute(
                    "UPDATE warren_hosts SET alive = true, heartbeat_at = now(),
                         version = version + 1
                     WHERE id = $1",
                    &[&self.host],
                )
                .await
                .map_err(io)?;
            outcome.rejoined = true;
        }
        let timeout = self.host_timeout.as_secs_f64();
        for row in client
            .query(
                "UPDATE warren_hosts SET alive = false, version = version + 1
                 WHERE alive AND heartbeat_at < now() - make_interval(secs => $1)
                 RETURNING id",
                &[&timeout],
            )
            .await
            .map_err(io)?
        {
            tracing::warn!(host = %row.get::<_, String>(0), "declared a silent host dead");
        }
        let hosts: HashMap<String, Arc<str>> = client
            .query(
                "SELECT id, address FROM warren_hosts WHERE alive ORDER BY id",
                &[],
            )
            .await
            .map_err(io)?
            .iter()
            .map(|row| (row.get(0), Arc::from(row.get::<_, String>(1))))
            .collect();
        let mut live: Vec<String> = hosts.keys().cloned().collect();
        live.sort();
        let rows = client
            .query(
                "SELECT partition, owner, epoch FROM warren_partitions ORDER BY partition",
                &[],
            )
            .await
            .map_err(io)?;
        let mut table = vec![None; PARTITIONS as usize];
        for row in &rows {
            let partition = row.get::<_, i32>(0) as u32;
            let mut owner: Option<String> = row.get(1);
            let epoch: i64 = row.get(2);
            let desired = rendezvous(partition, &live);
            let mine = owner.as_deref() == Some(self.host.as_str());
            if mine && desired != Some(self.host.as_str()) {
                self.release(runtime, &client, partition).await?;
                outcome.released.push(partition);
                owner = None;
            } else if mine && self.fence.epoch(partition) != Some(epoch) {
                // Held in the table but not in memory (a rejoin raced): take it anew.
                self.fence.set(partition, None);
                self.release(runtime, &client, partition).await?;
                owner = None;
            } else if desired == Some(self.host.as_str())
                && !owner.as_ref().is_some_and(|o| hosts.contains_key(o))
            {
                let claimed = self.claim(&mut client, partition, epoch).await?;
                if let Some(epoch) = claimed {
                    self.fence.set(partition, Some(epoch));
                    outcome.gained.push(partition);
                    owner = Some(self.host.clone());
                }
            }
            table[partition as usize] = owner.filter(|o| hosts.contains_key(o)).map(|host| Owner {
                address: hosts[&host].clone(),
                host,
            });
        }
        self.router.update(table);
        if !outcome.gained.is_empty() {
            runtime.rescan_reminders().await;
        }
        Ok(outcome)
    }

    /// Take `partition` if its epoch is still `seen`: under the partition's lock, which
    /// waits for the old owner's commits that already passed their check. The new epoch.
    async fn claim(
        &self,
        client: &mut deadpool_postgres::Object,
        partition: u32,
        seen: i64,
    ) -> Result<Option<i64>, StoreError> {
        let tx = client.transaction().await.map_err(io)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&PARTITION_LOCKS, &(partition as i32)],
        )
        .await
        .map_err(io)?;
        let row = tx
            .query_opt(
                "UPDATE warren_partitions SET owner = $2, epoch = epoch + 1
                 WHERE partition = $1 AND epoch = $3
                 RETURNING epoch",
                &[&(partition as i32), &self.host, &seen],
            )
            .await
            .map_err(io)?;
        tx.commit().await.map_err(io)?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Give `partition` up: new work for it waits for the next owner, the turns already
    /// running or queued finish and commit, its actors are deactivated, and only then
    /// is the fence dropped and the row freed for the next owner.
    async fn release(
        &self,
        runtime: &Runtime,
        client: &deadpool_postgres::Object,
        partition: u32,
    ) -> Result<(), StoreError> {
        self.router.set_releasing(partition, true);
        runtime
            .release_actors(|actor| partition_of(actor) == partition, DRAIN)
            .await;
        self.fence.set(partition, None);
        self.router.set_releasing(partition, false);
        client
            .execute(
                "UPDATE warren_partitions SET owner = NULL, epoch = epoch + 1
                 WHERE partition = $1 AND owner = $2",
                &[&(partition as i32), &self.host],
            )
            .await
            .map_err(io)?;
        Ok(())
    }

    /// Drop every partition: the fence first, then the actors (their running turns get
    /// `drain` to finish), then the rows, freed for the next owners.
    async fn give_up_all(
        &self,
        runtime: &Runtime,
        client: &deadpool_postgres::Object,
        drain: Duration,
    ) -> Result<(), StoreError> {
        self.fence.clear();
        runtime.release_actors(|_| true, drain).await;
        client
            .execute(
                "UPDATE warren_partitions SET owner = NULL, epoch = epoch + 1 WHERE owner = $1",
                &[&self.host],
            )
            .await
            .map_err(io)?;
        Ok(())
    }

    /// Leave the cluster at a clean shutdown: free every partition at once, so the
    /// others take them at their next round.
    pub async fn leave(&self, runtime: &Runtime) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(io)?;
        self.give_up_all(runtime, &client, DRAIN).await?;
        client
            .execute("DELETE FROM warren_hosts WHERE id = $1", &[&self.host])
            .await
            .map_err(io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_spreads_partitions_and_moves_few() {
        let two: Vec<String> = vec!["a".into(), "b".into()];
        let three: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let owners = |hosts: &[String]| -> Vec<String> {
            (0..PARTITIONS)
                .map(|p| rendezvous(p, hosts).unwrap_or_default().to_string())
                .collect()
        };
        let before = owners(&two);
        let after = owners(&three);
        for host in &three {
            let n = after.iter().filter(|o| *o == host).count();
            assert!(n >= 10, "{host} got {n} of 64 partitions");
        }
        // Only partitions that went to the new host moved.
        for (b, a) in before.iter().zip(&after) {
            assert!(a == b || a == "c", "{b} -> {a}");
        }
        assert_eq!(rendezvous(0, &[]), None);
    }
}
