//! Membership and partition leases, kept in the table the hosts share (the store's
//! [`MembershipStore`], PostgreSQL's in practice): each host registers and heartbeats; a host whose heartbeat is older than the timeout is declared dead by
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

use super::router::{ClusterRouter, Owner};
use warren_core::runtime::Runtime;
use warren_core::store::fencing::fnv1a;
use warren_core::store::{
    Fence, MembershipStore, PARTITIONS, PartitionEntry, StoreError, partition_of,
};

/// How long a host waits for a partition's running turns before releasing it.
const DRAIN: Duration = Duration::from_secs(2);

/// This host's part in the membership.
pub struct Membership {
    pub(super) store: Arc<dyn MembershipStore>,
    pub(super) host: String,
    pub(super) address: String,
    pub(super) host_timeout: Duration,
    pub(super) fence: Arc<Fence>,
    pub(super) router: Arc<ClusterRouter>,
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

impl Membership {
    /// Register this host and the partition rows (the first host creates them).
    pub async fn register(&self) -> Result<(), StoreError> {
        let sent = Instant::now();
        self.store.register(&self.host, &self.address).await?;
        self.fence.renew(sent, self.host_timeout);
        Ok(())
    }

    /// One heartbeat, on the heartbeat's own connection: renews the lease when it lands;
    /// drops every partition and the lease at once when it finds this host declared dead.
    pub async fn beat(&self) -> Result<(), StoreError> {
        let sent = Instant::now();
        // A heartbeat later than half the timeout is of no use: the lease it would renew
        // is nearly gone.
        let landed = tokio::time::timeout(self.host_timeout / 2, self.store.beat(&self.host));
        let alive = match landed.await {
            Ok(alive) => alive?,
            Err(_) => return Err(StoreError::Io("the heartbeat timed out".into())),
        };
        if !alive {
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
        if self.declared_dead.load(Ordering::Acquire) {
            self.give_up_all(runtime, Duration::ZERO).await?;
            let sent = Instant::now();
            self.store.rejoin(&self.host).await?;
            self.declared_dead.store(false, Ordering::Release);
            self.fence.renew(sent, self.host_timeout);
            outcome.rejoined = true;
        }
        for host in self.store.declare_silent_dead(self.host_timeout).await? {
            tracing::warn!(%host, "declared a silent host dead");
        }
        let entries = self.store.live_hosts().await?;
        let hosts: HashMap<String, Arc<str>> = entries
            .iter()
            .map(|h| (h.id.clone(), Arc::from(h.address.as_str())))
            .collect();
        // A leaving host still serves what it holds until it has handed it over, but is
        // given nothing: its partitions go to the hosts that stay.
        let staying: Vec<String> = entries
            .into_iter()
            .filter(|h| !h.leaving)
            .map(|h| h.id)
            .collect();
        let mut table = vec![None; PARTITIONS as usize];
        let mut releasing = Vec::new();
        for entry in self.store.partitions().await? {
            let partition = entry.partition;
            let owner = self
                .settle(entry, &staying, &hosts, &mut outcome, &mut releasing)
                .await;
            if let Some(slot) = table.get_mut(partition as usize) {
                *slot = owner.filter(|o| hosts.contains_key(o)).map(|host| Owner {
                    address: hosts[&host].clone(),
                    host,
                });
            }
        }
        self.router.update(table);
        self.release(runtime, &releasing).await?;
        if !outcome.gained.is_empty() {
            runtime.partitions_gained().await;
        }
        Ok(outcome)
    }

    /// What this round does with one partition: give it up when it should go to another
    /// host (or is held in the table but not in memory), claim it when it should come
    /// here and its owner is gone. Its owner after the round.
    async fn settle(
        &self,
        entry: PartitionEntry,
        staying: &[String],
        hosts: &HashMap<String, Arc<str>>,
        outcome: &mut TickOutcome,
        releasing: &mut Vec<u32>,
    ) -> Option<String> {
        let PartitionEntry {
            partition,
            owner,
            epoch,
        } = entry;
        let desired = rendezvous(partition, staying);
        let mine = owner.as_deref() == Some(self.host.as_str());
        if mine && desired != Some(self.host.as_str()) {
            releasing.push(partition);
            outcome.released.push(partition);
            return None;
        }
        if mine && self.fence.assigned(partition) != Some(epoch) {
            // Held in the table but not in memory (a rejoin raced): take it anew.
            self.fence.set(partition, None);
            releasing.push(partition);
            return None;
        }
        let owner_gone = !owner.as_ref().is_some_and(|o| hosts.contains_key(o));
        if desired != Some(self.host.as_str()) || !owner_gone {
            return owner;
        }
        match self.store.claim(&self.host, partition, epoch).await {
            Ok(Some(epoch)) => {
                self.fence.set(partition, Some(epoch));
                outcome.gained.push(partition);
                Some(self.host.clone())
            }
            Ok(None) => owner,
            // One partition's claim failing (its old owner's commit still holds the
            // lock) holds up neither the others nor the heartbeat.
            Err(e) => {
                tracing::warn!(partition, error = %e, "claiming a partition failed; next round");
                owner
            }
        }
    }

    /// Give `partitions` up, all at once: new work for them waits for the next owner,
    /// the turns already running or queued finish and commit (within one drain for
    /// all), their actors are deactivated, and only then are the fences dropped and the
    /// rows freed for the next owners.
    async fn release(&self, runtime: &Runtime, partitions: &[u32]) -> Result<(), StoreError> {
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
        self.store.release(&self.host, partitions).await
    }

    /// Drop every partition: the fence first, then the actors (their running turns get
    /// `drain` to finish), then the rows, freed for the next owners.
    async fn give_up_all(&self, runtime: &Runtime, drain: Duration) -> Result<(), StoreError> {
        self.fence.clear();
        runtime.release_actors(|_| true, drain).await;
        self.store.release_all(&self.host).await
    }

    /// Start a clean leave: mark this host as leaving, so that the rounds (this host's
    /// and the others') move its partitions to the hosts that stay, the way a join moves
    /// them: each one's running turns finish here, then its next owner claims it. Waits,
    /// at most `within`, until every partition is held by another host as this host
    /// reads the table; meanwhile this host keeps serving and forwards to the new owners.
    /// Whether the hand-over completed.
    pub async fn hand_over(&self, within: Duration) -> Result<bool, StoreError> {
        // Marked only if another host stays to take the partitions over.
        if !self.store.mark_leaving(&self.host).await? {
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
                if !self.store.another_host_stays(&self.host).await? {
                    return Ok(false);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(false)
    }

    /// Leave the cluster at a clean shutdown (after [`Membership::hand_over`], or
    /// without it): release whatever this host still holds (the turns running finish
    /// and commit first) and remove its row, so the others take the rest at their next
    /// round.
    pub async fn leave(&self, runtime: &Runtime) -> Result<(), StoreError> {
        let held = self.fence.assigned_partitions();
        self.release(runtime, &held).await?;
        self.give_up_all(runtime, Duration::ZERO).await?;
        self.store.remove_host(&self.host).await
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
