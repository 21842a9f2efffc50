//! Membership and partition leases, all in PostgreSQL: each host registers and
//! heartbeats; a host whose heartbeat is older than the timeout is declared dead by
//! whichever host sees it first (one versioned row update, in the database's clock, so
//! hosts cannot disagree); partitions go to live hosts by rendezvous hashing, a
//! partition moving only from a dead or leaving owner, or when its owner releases it,
//! and every move grows its epoch.
//!
//! Heartbeats run on a connection of their own, in a loop of their own, so a claim that
//! waits on a lock or a slow round never delays them; each heartbeat that lands renews
//! this host's lease ([`Fence::renew`]), and a host whose heartbeat finds it declared dead
//! drops its lease at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

use super::router::{ClusterRouter, Owner};
use warren_core::runtime::Runtime;
use warren_core::store::fencing::fnv1a;
use warren_core::store::{Fence, PARTITIONS, StoreError, partition_of};
use warren_store_postgres::{PARTITION_LOCKS, PostgresStore, io};

/// How long a host waits for a partition's running turns before releasing it.
const DRAIN: Duration = Duration::from_secs(2);

/// How long a claim waits for the partition's lock (the old owner's commits in flight)
/// before it gives up until the next round.
const CLAIM_LOCK_WAIT: &str = "500ms";

/// SQL: a live host other than host `$1` is not leaving (so it takes partitions over).
const ANOTHER_HOST_STAYS: &str =
    "EXISTS (SELECT 1 FROM warren_hosts WHERE alive AND NOT leaving AND id <> $1)";

/// This host's part in the membership.
pub struct Membership {
    pub(super) pool: Pool,
    pub(super) store: Arc<PostgresStore>,
    pub(super) host: String,
    pub(super) address: String,
    pub(super) host_timeout: Duration,
    pub(super) fence: Arc<Fence>,
    pub(super) router: Arc<ClusterRouter>,
    /// The heartbeat's own connection, made again after it fails.
    pub(super) beat_client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
    /// A heartbeat found this host declared dead; the next round rejoins.
    pub(super) declared_dead: AtomicBool,
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
    /// The partitions this host claimed.
    pub gained: Vec<u32>,
    /// The partitions this host gave up to their next owners.
    pub released: Vec<u32>,
    /// This host had been declared dead (a pause, a lost connection) and rejoined.
    pub rejoined: bool,
}

/// Whether a PostgreSQL error is a lock wait that timed out (`lock_timeout`).
fn lock_timed_out(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE)
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
        let sent = Instant::now();
        client
            .execute(
                "INSERT INTO warren_hosts (id, address) VALUES ($1, $2)",
                &[&self.host, &self.address],
            )
            .await
            .map_err(io)?;
        self.fence.renew(sent, self.host_timeout);
        Ok(())
    }

    /// One heartbeat, on the heartbeat's own connection: renews the lease when it lands;
    /// drops every partition and the lease at once when it finds this host declared dead.
    pub async fn beat(&self) -> Result<(), StoreError> {
        let mut slot = self.beat_client.lock().await;
        let client = match slot.take() {
            Some(client) if !client.is_closed() => client,
            _ => self.store.dedicated_client().await?,
        };
        let sent = Instant::now();
        // A heartbeat later than half the timeout is of no use: the lease it would renew
        // is nearly gone.
        let landed = tokio::time::timeout(
            self.host_timeout / 2,
            client.execute(
                "UPDATE warren_hosts SET heartbeat_at = now(), version = version + 1
                 WHERE id = $1 AND alive",
                &[&self.host],
            ),
        )
        .await;
        let beat = match landed {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => return Err(io(e)),
            Err(_) => return Err(StoreError::Io("the heartbeat timed out".into())),
        };
        *slot = Some(client);
        if beat == 0 {
            // Declared dead while away: whatever this host held may run elsewhere now.
            self.fence.clear();
            self.declared_dead.store(true, Ordering::Release);
        } else if !self.declared_dead.load(Ordering::Acquire) {
            self.fence.renew(sent, self.host_timeout);
        }
        Ok(())
    }

    /// One round: rejoin if declared dead, declare the silent dead, take and give
    /// partitions, and publish the table to the router.
    pub async fn tick(&self, runtime: &Runtime) -> Result<TickOutcome, StoreError> {
        let mut outcome = TickOutcome::default();
        let mut client = self.pool.get().await.map_err(io)?;
        if self.declared_dead.load(Ordering::Acquire) {
            self.give_up_all(runtime, &client, Duration::ZERO).await?;
            let sent = Instant::now();
            client
                .execute(
                    "UPDATE warren_hosts SET alive = true, heartbeat_at = now(),
                         version = version + 1
                     WHERE id = $1",
                    &[&self.host],
                )
                .await
                .map_err(io)?;
            self.declared_dead.store(false, Ordering::Release);
            self.fence.renew(sent, self.host_timeout);
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
        let rows = client
            .query(
                "SELECT id, address, leaving FROM warren_hosts WHERE alive ORDER BY id",
                &[],
            )
            .await
            .map_err(io)?;
        let hosts: HashMap<String, Arc<str>> = rows
            .iter()
            .map(|row| (row.get(0), Arc::from(row.get::<_, String>(1))))
            .collect();
        // A leaving host still serves what it holds until it has handed it over, but is
        // given nothing: its partitions go to the hosts that stay.
        let live: Vec<String> = rows
            .iter()
            .filter(|row| !row.get::<_, bool>(2))
            .map(|row| row.get(0))
            .collect();
        let rows = client
            .query(
                "SELECT partition, owner, epoch FROM warren_partitions ORDER BY partition",
                &[],
            )
            .await
            .map_err(io)?;
        let mut table = vec![None; PARTITIONS as usize];
        let mut releasing = Vec::new();
        for row in &rows {
            let partition = row.get::<_, i32>(0) as u32;
            let mut owner: Option<String> = row.get(1);
            let epoch: i64 = row.get(2);
            let desired = rendezvous(partition, &live);
            let mine = owner.as_deref() == Some(self.host.as_str());
            if mine && desired != Some(self.host.as_str()) {
                releasing.push(partition);
                outcome.released.push(partition);
                owner = None;
            } else if mine && self.fence.assigned(partition) != Some(epoch) {
                // Held in the table but not in memory (a rejoin raced): take it anew.
                self.fence.set(partition, None);
                releasing.push(partition);
                owner = None;
            } else if desired == Some(self.host.as_str())
                && !owner.as_ref().is_some_and(|o| hosts.contains_key(o))
            {
                match self.claim(&mut client, partition, epoch).await {
                    Ok(Some(epoch)) => {
                        self.fence.set(partition, Some(epoch));
                        outcome.gained.push(partition);
                        owner = Some(self.host.clone());
                    }
                    Ok(None) => {}
                    // One partition's claim failing (its old owner's commit still holds
                    // the lock) holds up neither the others nor the heartbeat.
                    Err(e) => {
                        tracing::warn!(partition, error = %e, "claiming a partition failed; next round")
                    }
                }
            }
            table[partition as usize] = owner.filter(|o| hosts.contains_key(o)).map(|host| Owner {
                address: hosts[&host].clone(),
                host,
            });
        }
        self.router.update(table);
        self.release(runtime, &client, &releasing).await?;
        if !outcome.gained.is_empty() {
            runtime.partitions_gained().await;
        }
        Ok(outcome)
    }

    /// Take `partition` if its epoch is still `seen`: under the partition's lock, which
    /// waits (a bounded time) for the old owner's commits that already passed their
    /// check. The new epoch; `None` if another host moved first or the lock was busy.
    async fn claim(
        &self,
        client: &mut deadpool_postgres::Object,
        partition: u32,
        seen: i64,
    ) -> Result<Option<i64>, StoreError> {
        let tx = client.transaction().await.map_err(io)?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{CLAIM_LOCK_WAIT}'"))
            .await
            .map_err(io)?;
        match tx
            .execute(
                "SELECT pg_advisory_xact_lock($1, $2)",
                &[&PARTITION_LOCKS, &(partition as i32)],
            )
            .await
        {
            Ok(_) => {}
            Err(e) if lock_timed_out(&e) => return Ok(None),
            Err(e) => return Err(io(e)),
        }
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

    /// Give `partitions` up, all at once: new work for them waits for the next owner,
    /// the turns already running or queued finish and commit (within one drain for
    /// all), their actors are deactivated, and only then are the fences dropped and the
    /// rows freed for the next owners.
    async fn release(
        &self,
        runtime: &Runtime,
        client: &deadpool_postgres::Object,
        partitions: &[u32],
    ) -> Result<(), StoreError> {
        if partitions.is_empty() {
            return Ok(());
        }
        for &partition in partitions {
            self.router.set_releasing(partition, true);
        }
        // The drain ends before the lease does: past it, the fence refuses commits.
        let drain = DRAIN.min(self.fence.lease_left());
        runtime
            .release_actors(|actor| partitions.contains(&partition_of(actor)), drain)
            .await;
        for &partition in partitions {
            self.fence.set(partition, None);
            self.router.set_releasing(partition, false);
        }
        let numbers: Vec<i32> = partitions.iter().map(|&p| p as i32).collect();
        client
            .execute(
                "UPDATE warren_partitions SET owner = NULL, epoch = epoch + 1
                 WHERE partition = ANY($1) AND owner = $2",
                &[&numbers, &self.host],
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

    /// Start a clean leave: mark this host as leaving, so that the rounds (this host's
    /// and the others') move its partitions to the hosts that stay, the way a join moves
    /// them: each one's running turns finish here, then its next owner claims it. Waits,
    /// at most `within`, until every partition is held by another host as this host
    /// reads the table; meanwhile this host keeps serving and forwards to the new owners.
    /// Whether the hand-over completed.
    pub async fn hand_over(&self, within: Duration) -> Result<bool, StoreError> {
        let client = self.pool.get().await.map_err(io)?;
        // Marked only if another host stays to take the partitions over.
        let marked = client
            .execute(
                &format!(
                    "UPDATE warren_hosts SET leaving = true, version = version + 1
                     WHERE id = $1 AND {ANOTHER_HOST_STAYS}"
                ),
                &[&self.host],
            )
            .await
            .map_err(io)?;
        if marked == 0 {
            return Ok(false);
        }
        let deadline = Instant::now() + within;
        let mut next_look = Instant::now();
        while Instant::now() < deadline {
            if self.fence.assigned_partitions().is_empty()
                && self.router.every_partition_elsewhere()
            {
                return Ok(true);
            }
            // The hosts that were to stay may be leaving too (the whole cluster stops):
            // then nobody takes the partitions, and waiting is pointless.
            if Instant::now() >= next_look {
                next_look = Instant::now() + Duration::from_millis(500);
                if !self.another_host_stays(&client).await? {
                    return Ok(false);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(false)
    }

    /// Whether a live host other than this one is not leaving.
    async fn another_host_stays(
        &self,
        client: &deadpool_postgres::Object,
    ) -> Result<bool, StoreError> {
        let row = client
            .query_one(&format!("SELECT {ANOTHER_HOST_STAYS}"), &[&self.host])
            .await
            .map_err(io)?;
        Ok(row.get(0))
    }

    /// Leave the cluster at a clean shutdown (after [`Membership::hand_over`], or
    /// without it): release whatever this host still holds (the turns running finish
    /// and commit first) and remove its row, so the others take the rest at their next
    /// round.
    pub async fn leave(&self, runtime: &Runtime) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(io)?;
        let held = self.fence.assigned_partitions();
        self.release(runtime, &client, &held).await?;
        self.give_up_all(runtime, &client, Duration::ZERO).await?;
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
