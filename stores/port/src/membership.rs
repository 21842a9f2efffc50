//! The membership port: the shared table of hosts and partition leases that cluster mode
//! runs on. Cluster mode (`warren-cluster`) decides who holds what; a store that many
//! hosts share (PostgreSQL) keeps the table, each change one versioned row update in the
//! database's clock, so hosts never disagree on it.

use std::sync::Arc;
use std::time::Duration;

use crate::{Fence, StoreError, StoreFuture};

/// A live host, as the table shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    /// The host's id, unique per process start.
    pub id: String,
    /// Where the other hosts reach its host-to-host listener.
    pub address: String,
    /// It is handing its partitions over before it stops: it is given none.
    pub leaving: bool,
}

/// One partition's lease, as the table shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionEntry {
    /// The partition's number.
    pub partition: u32,
    /// The host holding it, if one does.
    pub owner: Option<String>,
    /// Grows with every move, so a turn that began under an older lease never commits.
    pub epoch: i64,
}

/// What cluster mode asks of the store its hosts share.
pub trait MembershipStore: Send + Sync + 'static {
    /// Fence the store's commits with `fence`: from now on a turn commits only while this
    /// host holds its actor's partition at the epoch the turn began under.
    fn set_fence(&self, fence: Arc<Fence>) -> Result<(), StoreError>;

    /// Create the partitions' rows (the first host does) and register host `id`, reached
    /// at `address`.
    fn register<'a>(&'a self, id: &'a str, address: &'a str) -> StoreFuture<'a, ()>;

    /// One heartbeat of host `id`, on a connection of its own (never queued behind
    /// commits or claims). Whether the host is still alive: `false` once another host
    /// declared it dead.
    fn beat<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;

    /// Host `id`, declared dead while away, is alive again.
    fn rejoin<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Declare dead every live host whose last heartbeat is older than `timeout`; their
    /// ids.
    fn declare_silent_dead(&self, timeout: Duration) -> StoreFuture<'_, Vec<String>>;

    /// The live hosts, by id.
    fn live_hosts(&self) -> StoreFuture<'_, Vec<HostEntry>>;

    /// Every partition's lease, by partition.
    fn partitions(&self) -> StoreFuture<'_, Vec<PartitionEntry>>;

    /// Give `partition` to host `id` if its epoch is still `seen`, once the commits of
    /// its old owner that already passed their check are done (waiting a bounded time
    /// for them). The new epoch; `None` if another host moved first or the wait ran out.
    fn claim<'a>(&'a self, id: &'a str, partition: u32, seen: i64) -> StoreFuture<'a, Option<i64>>;

    /// Free those of `partitions` that host `id` holds, for their next owners.
    fn release<'a>(&'a self, id: &'a str, partitions: &'a [u32]) -> StoreFuture<'a, ()>;

    /// Free every partition host `id` holds.
    fn release_all<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Mark host `id` as leaving, if another live host stays to take its partitions
    /// over; whether it was marked.
    fn mark_leaving<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;

    /// Whether a live host other than `id` is not leaving.
    fn another_host_stays<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;

    /// Remove host `id` from the table (a clean leave).
    fn remove_host<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;
}
