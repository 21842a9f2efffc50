//! Fencing in cluster mode: actors hash to a fixed number of partitions, each leased to
//! one host with an epoch that grows on every move. A store with a [`Fence`] writes an
//! actor only while this host holds the actor's partition at the epoch the database has,
//! so a host that lost a partition (declared dead while paused, cut off) cannot write it.
//!
//! The fence also holds this host's **lease**: how long, on this host's own monotonic
//! clock, no other host can have declared it dead. Each heartbeat that lands renews it; a
//! host whose lease lapsed holds no partition, for reads as for writes, until a heartbeat
//! lands again. The lease ends before any other host may take a partition over (see
//! [`Fence::renew`]), so two hosts never serve one actor at once.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use warren_wire::types::ActorId;

/// Partitions of the actor space. Fixed: an actor's partition is part of what the
/// database stores (reminders are polled per partition), so every host must agree.
pub const PARTITIONS: u32 = 64;

/// FNV-1a of `bytes`: stable across hosts, builds and restarts (std's hashers are not),
/// which placement needs.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The partition of `actor`: FNV-1a over its tenant, type and id, each closed by 0xff.
pub fn partition_of(actor: &ActorId) -> u32 {
    let bytes = [&*actor.tenant, &*actor.actor_type, &*actor.id]
        .into_iter()
        .flat_map(|part| part.bytes().chain([0xff]));
    (fnv1a(bytes) % u64::from(PARTITIONS)) as u32
}

/// Whether writes of `actor` are fenced: real actors are; the host's own records
/// (spawned instances' parents, protocol records, under `$` names) are shared by every
/// host and guarded by their version alone.
pub fn is_fenced(actor: &ActorId) -> bool {
    !actor.tenant.starts_with('$') && !actor.actor_type.starts_with('$')
}

/// The partitions this host holds, with their epochs; kept by the cluster's membership
/// loop, read by every commit.
pub struct Fence {
    host: String,
    epochs: RwLock<Vec<Option<i64>>>,
    /// Until when this host's lease holds (none: it holds no lease yet, or lost it).
    lease_until: RwLock<Option<Instant>>,
    /// Woken on every renewal and every change of the partitions held.
    changed: tokio::sync::Notify,
}

/// How much earlier than the other hosts could declare it dead a host stops serving: room
/// for clock rate differences and the time between a heartbeat's landing in the database
/// and this host's hearing of it.
pub fn lease_margin(host_timeout: Duration) -> Duration {
    (host_timeout / 5).max(Duration::from_millis(200))
}

impl Fence {
    /// A fence for host `host`, holding no partition yet.
    pub fn new(host: &str) -> Self {
        Fence {
            host: host.to_string(),
            epochs: RwLock::new(vec![None; PARTITIONS as usize]),
            lease_until: RwLock::new(None),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// A heartbeat sent at `sent` landed: no other host can declare this one dead before
    /// `sent + host_timeout` (the database's heartbeat time is later than `sent`), so the
    /// lease holds until then, less [`lease_margin`]. Never shortens a lease.
    pub fn renew(&self, sent: Instant, host_timeout: Duration) {
        let until = sent + host_timeout.saturating_sub(lease_margin(host_timeout));
        let mut lease = self.lease_until.write().unwrap_or_else(|p| p.into_inner());
        if lease.is_none_or(|current| current < until) {
            *lease = Some(until);
        }
        drop(lease);
        self.changed.notify_waiters();
    }

    /// Whether this host still holds `partition` at `epoch` under a live lease, waiting
    /// (at most `within`) for a heartbeat to land if the lease has lapsed. A lease that
    /// holds again at the same epoch proves the partition was never anyone else's in
    /// the gap: a heartbeat lands only while this host is alive, the table moves a
    /// partition only from a dead host or by its owner's release, and a host found dead
    /// forgets its partitions before it rejoins.
    pub async fn held_again(&self, partition: u32, epoch: i64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.assigned(partition) != Some(epoch) {
                return false;
            }
            if self.epoch(partition) == Some(epoch) {
                return true;
            }
            if tokio::time::timeout_at(deadline.into(), changed)
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// Whether this host's lease holds now.
    pub fn leased(&self) -> bool {
        self.lease_until
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| Instant::now() < until)
    }

    /// How long the lease still holds.
    pub fn lease_left(&self) -> Duration {
        self.lease_until
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(Duration::ZERO, |until| {
                until.saturating_duration_since(Instant::now())
            })
    }

    /// The id this host writes under.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Option<i64>>> {
        self.epochs.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The epoch at which this host holds `partition`, if it does and its lease holds.
    pub fn epoch(&self, partition: u32) -> Option<i64> {
        self.assigned(partition).filter(|_| self.leased())
    }

    /// The epoch at which the partition table gave `partition` to this host, whether or
    /// not the lease holds now (the membership loop's own bookkeeping).
    pub fn assigned(&self, partition: u32) -> Option<i64> {
        self.read().get(partition as usize).copied().flatten()
    }

    /// Record that this host holds `partition` at `epoch`, or (`None`) no longer holds it.
    pub fn set(&self, partition: u32, epoch: Option<i64>) {
        let mut epochs = self.epochs.write().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = epochs.get_mut(partition as usize) {
            *slot = epoch;
        }
        drop(epochs);
        self.changed.notify_waiters();
    }

    /// Forget every partition and the lease (this host was declared dead).
    pub fn clear(&self) {
        *self.lease_until.write().unwrap_or_else(|p| p.into_inner()) = None;
        let mut epochs = self.epochs.write().unwrap_or_else(|p| p.into_inner());
        epochs.iter_mut().for_each(|e| *e = None);
        drop(epochs);
        self.changed.notify_waiters();
    }

    /// The partitions this host holds (none while its lease has lapsed).
    pub fn held(&self) -> Vec<i32> {
        if !self.leased() {
            return Vec::new();
        }
        self.read()
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(p, _)| p as i32)
            .collect()
    }

    /// The partitions the table gave this host, whether or not the lease holds now.
    pub fn assigned_partitions(&self) -> Vec<u32> {
        self.read()
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(p, _)| p as u32)
            .collect()
    }

    /// Whether this host holds the partition of `actor` (always, for unfenced records).
    pub fn holds(&self, actor: &ActorId) -> bool {
        !is_fenced(actor) || self.epoch(partition_of(actor)).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        let a = ActorId::new("default", "counter", "a");
        assert_eq!(partition_of(&a), partition_of(&a.clone()));
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            seen.insert(partition_of(&ActorId::new("t", "c", &i.to_string())));
        }
        assert_eq!(
            seen.len(),
            PARTITIONS as usize,
            "1000 ids reach every partition"
        );
    }

    #[test]
    fn a_fence_holds_what_it_was_given() {
        let fence = Fence::new("h1");
        let actor = ActorId::new("t", "c", "x");
        assert!(!fence.holds(&actor));
        assert!(fence.holds(&ActorId::new("$system", "users", "records")));
        fence.set(partition_of(&actor), Some(3));
        assert!(!fence.holds(&actor), "no lease yet");
        fence.renew(Instant::now(), Duration::from_secs(3));
        assert!(fence.holds(&actor));
        assert_eq!(fence.held(), vec![partition_of(&actor) as i32]);
        fence.clear();
        assert!(!fence.holds(&actor));
    }

    #[test]
    fn a_lapsed_lease_holds_nothing() {
        let fence = Fence::new("h1");
        let actor = ActorId::new("t", "c", "x");
        fence.set(partition_of(&actor), Some(1));
        // A heartbeat sent long ago: its lease ended before now.
        let long_ago = Instant::now() - Duration::from_secs(10);
        fence.renew(long_ago, Duration::from_secs(3));
        assert!(!fence.leased());
        assert_eq!(fence.epoch(partition_of(&actor)), None);
        assert_eq!(fence.assigned(partition_of(&actor)), Some(1));
        assert!(fence.held().is_empty());
        // The lease ends a margin before the host timeout.
        fence.renew(Instant::now(), Duration::from_secs(3));
        assert!(fence.lease_left() <= Duration::from_millis(2400));
        assert!(fence.lease_left() > Duration::from_millis(2000));
    }

    #[tokio::test]
    async fn a_lapsed_lease_holds_again_once_a_heartbeat_lands() {
        let fence = std::sync::Arc::new(Fence::new("h1"));
        let partition = 5;
        fence.set(partition, Some(7));
        fence.renew(
            Instant::now() - Duration::from_secs(10),
            Duration::from_secs(3),
        );
        assert!(
            !fence
                .held_again(partition, 7, Duration::from_millis(50))
                .await
        );
        let renewer = fence.clone();
        let beat = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            renewer.renew(Instant::now(), Duration::from_secs(3));
        });
        assert!(fence.held_again(partition, 7, Duration::from_secs(5)).await);
        beat.await.unwrap();
        // Another epoch, or a partition given up while waiting, is not held again.
        assert!(!fence.held_again(partition, 6, Duration::from_secs(5)).await);
        let lapsed = std::sync::Arc::new(Fence::new("h2"));
        lapsed.set(partition, Some(7));
        let clearer = lapsed.clone();
        let declared_dead = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            clearer.clear();
        });
        let started = Instant::now();
        assert!(
            !lapsed
                .held_again(partition, 7, Duration::from_secs(5))
                .await
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woken by the clear"
        );
        declared_dead.await.unwrap();
    }
}
