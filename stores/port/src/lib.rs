//! The storage port: what the runtime core asks of a store, one trait per concern (actor
//! state, reminders, the catalog of components, tenants) and [`StateStore`] for the
//! whole; the records it keeps, partition fencing, and [`MemoryStore`], which serves
//! tests without a disk. The durable stores (sled, PostgreSQL) are crates of their own;
//! every implementation passes one shared suite (`warren-store-suite`). The runtime core
//! (`warren-core`) is built on this crate and re-exports it as `warren_core::store`.

#![warn(missing_docs)]

pub mod faults;
pub mod fencing;
pub mod membership;
mod memory;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use warren_wire::types::ActorId;
pub use warren_wire::types::{ReminderChange, StateChange, StoreError};

pub use fencing::{Fence, PARTITIONS, partition_of};
pub use membership::{HostEntry, MembershipStore, PartitionEntry};
pub use memory::MemoryStore;
pub use warren_wire::record::{self, ActorRecord};

/// A deployed component as the store keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// The tenant that deployed it.
    pub tenant: String,
    /// Its name, unique in its tenant.
    pub name: String,
    /// Hex SHA-256 of the `.wasm` bytes.
    pub sha256: String,
    /// Seconds since the Unix epoch.
    pub deployed_at: u64,
    /// The number of the version these bytes are (see [`ComponentVersion`]); 0 for a
    /// record stored before Warren kept versions.
    #[serde(default)]
    pub number: u64,
    /// A version serving a share of the actors ahead of the others, if one is deployed.
    #[serde(default)]
    pub canary: Option<Canary>,
}

/// A version deployed to a share of a component's actors before all of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    /// Its number among the component's versions.
    pub number: u64,
    /// Hex SHA-256 of its `.wasm` bytes.
    pub sha256: String,
    /// The share of actor ids (by hash), 1 to 99, whose turns it serves.
    pub percent: u8,
}

/// One deployed version of a component, kept (with its bytes) until it is deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentVersion {
    /// The tenant of the component.
    pub tenant: String,
    /// The component's name.
    pub name: String,
    /// 1 for the component's first deploy, one more for each deploy after it.
    pub number: u64,
    /// The version the component's manifest declares (`1.2.0`).
    pub version: String,
    /// Hex SHA-256 of the `.wasm` bytes.
    pub sha256: String,
    /// Seconds since the Unix epoch.
    pub deployed_at: u64,
    /// Who deployed it, as the host authenticated them.
    pub deployed_by: String,
    /// The manifest the component described itself with, as JSON.
    pub manifest: String,
}

/// A stored reminder: whose, its name, when it is due and its record (the runtime's own
/// encoding, opaque to the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReminder {
    /// The actor it fires on.
    pub actor: ActorId,
    /// Its name, unique per actor.
    pub name: String,
    /// Unix epoch milliseconds.
    pub due_ms: i64,
    /// The runtime's encoding of the reminder.
    pub record: Vec<u8>,
}

impl StoredReminder {
    /// Where a read of due reminders that returned this one stopped.
    pub fn cursor(&self) -> ReminderCursor {
        (self.due_ms, self.actor.clone(), self.name.clone())
    }
}

/// A position in the due order of reminders: due time, then actor, then name.
pub type ReminderCursor = (i64, ActorId, String);

/// A boxed future, for the trait's asynchronous methods.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// An actor's state, as one versioned record: loaded whole, and a turn commits as one
/// versioned write of it (with the actor's reminder changes).
pub trait ActorStore: Send + Sync + 'static {
    /// Every state key of `actor` and the version of its last commit (an empty record at
    /// version 0 for an actor never written).
    fn load(&self, actor: &ActorId) -> StoreFuture<'_, ActorRecord>;

    /// Apply `changes` to `actor`'s state and `reminders` to its reminders as one write,
    /// if its version is still `expected_version`; resolves with the new version once
    /// durable per the store's durability setting. A version that moved is
    /// [`StoreError::Conflict`], and nothing is written. The state changes are atomic
    /// across a crash in every store; the reminder changes are too in PostgreSQL and in
    /// memory, while sled writes them right after the record in the same flush (a crash
    /// inside that flush can keep the state without them). A firing's progress
    /// (`ReminderChange::Advance`) whose reminder no longer stands at the due time that
    /// fired is dropped by the single-host stores; PostgreSQL, where two hosts can fire
    /// one due time across a move, refuses the whole commit ([`StoreError::Fired`]).
    fn commit_turn(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
    ) -> StoreFuture<'_, u64>;

    /// [`ActorStore::commit_turn`] for a turn of an activation that loaded `actor` under
    /// partition epoch `epoch` (cluster mode): a fenced store commits it only while this
    /// host holds the partition at that very epoch, so a turn that began before a move
    /// never commits after it, even if the partition came back. Stores without a fence
    /// ignore the epoch.
    fn commit_turn_at(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
        reminders: Vec<ReminderChange>,
        _epoch: Option<i64>,
    ) -> StoreFuture<'_, u64> {
        self.commit_turn(actor, expected_version, changes, reminders)
    }

    /// [`ActorStore::commit_turn`] of state changes alone.
    fn commit(
        &self,
        actor: &ActorId,
        expected_version: u64,
        changes: Vec<StateChange>,
    ) -> StoreFuture<'_, u64> {
        self.commit_turn(actor, expected_version, changes, Vec::new())
    }

    /// Bytes (keys plus values) of a tenant's whole state, from counters the commits keep.
    fn tenant_state_size(&self, tenant: &str) -> StoreFuture<'_, u64>;
}

/// Reminders, read in windows as they come due.
pub trait ReminderStore: Send + Sync + 'static {
    /// Store (or replace) a reminder of `actor`, due at `due_ms` (Unix epoch milliseconds);
    /// durable per the store's durability setting.
    fn put_reminder(
        &self,
        actor: &ActorId,
        name: &str,
        due_ms: i64,
        record: Vec<u8>,
    ) -> StoreFuture<'_, ()>;

    /// Delete a reminder of `actor`; whether it existed. Durable per the store's durability setting.
    fn delete_reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, bool>;

    /// Move reminder `name` of `actor` on from the due time that fired, to `next` (its
    /// next due time and record) or, with `None`, out of the store: only if it is still
    /// stored at `fired_due_ms` (otherwise another writer changed it, and nothing is
    /// written). Whether it was moved. The default reads, then writes: enough for a store
    /// only one host writes; PostgreSQL does both in one statement.
    fn advance_reminder(
        &self,
        actor: &ActorId,
        name: &str,
        fired_due_ms: i64,
        next: Option<(i64, Vec<u8>)>,
    ) -> StoreFuture<'_, bool> {
        let (actor, name) = (actor.clone(), name.to_string());
        Box::pin(async move {
            match self.reminder(&actor, &name).await? {
                Some(stored) if stored.due_ms == fired_due_ms => {}
                _ => return Ok(false),
            }
            match next {
                Some((due_ms, record)) => self.put_reminder(&actor, &name, due_ms, record).await?,
                None => {
                    self.delete_reminder(&actor, &name).await?;
                }
            }
            Ok(true)
        })
    }

    /// One stored reminder.
    fn reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, Option<StoredReminder>>;

    /// The reminders of the actors of `actor_type` in `tenant` (of actor `id` only, when
    /// given), by actor and name.
    fn actor_reminders(
        &self,
        tenant: &str,
        actor_type: &str,
        id: Option<&str>,
    ) -> StoreFuture<'_, Vec<StoredReminder>>;

    /// Up to `limit` reminders due at or before `until_ms`, in due order, starting after
    /// `after` (the last one a previous read returned): how the runtime reads reminders in
    /// windows as they come due, never all at once.
    fn reminders_due(
        &self,
        after: Option<ReminderCursor>,
        until_ms: i64,
        limit: usize,
    ) -> StoreFuture<'_, Vec<StoredReminder>>;
}

/// The catalog: deployed components, their kept versions and their bytes.
pub trait ComponentStore: Send + Sync + 'static {
    /// Store a deployed component and its bytes, replacing one of the same name; with no
    /// bytes, only the record changes (a canary started or stopped).
    fn put_component(&self, record: &ComponentRecord, wasm: Option<&[u8]>) -> StoreFuture<'_, ()>;

    /// Every stored component of every tenant.
    fn components(&self) -> StoreFuture<'_, Vec<ComponentRecord>>;

    /// The `.wasm` bytes of a stored component.
    fn component_wasm(&self, tenant: &str, name: &str) -> StoreFuture<'_, Option<Vec<u8>>>;

    /// Remove a stored component with all its versions; returns whether it existed.
    fn remove_component(&self, tenant: &str, name: &str) -> StoreFuture<'_, bool>;

    /// Keep a version of a component with its bytes, durably (replacing the same number).
    fn put_component_version(&self, version: &ComponentVersion, wasm: &[u8])
    -> StoreFuture<'_, ()>;

    /// The kept versions of a component, oldest first.
    fn component_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> StoreFuture<'_, Vec<ComponentVersion>>;

    /// The `.wasm` bytes of a kept version.
    fn component_version_wasm(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, Option<Vec<u8>>>;

    /// Delete a kept version; returns whether it existed.
    fn remove_component_version(
        &self,
        tenant: &str,
        name: &str,
        number: u64,
    ) -> StoreFuture<'_, bool>;
}

/// Tenants' records, and deleting a tenant with everything it owns.
pub trait TenantStore: Send + Sync + 'static {
    /// Store (or replace) a tenant's record, durably.
    fn put_tenant(&self, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()>;

    /// Every stored tenant record.
    fn tenants(&self) -> StoreFuture<'_, Vec<Vec<u8>>>;

    /// Delete a tenant and everything it owns: state, reminders, components.
    fn delete_tenant(&self, name: &str) -> StoreFuture<'_, ()>;
}

/// Everything the runtime core needs from storage, by concern: actor state
/// ([`ActorStore`]), reminders ([`ReminderStore`]), the catalog of components
/// ([`ComponentStore`]) and tenants ([`TenantStore`]). A store implements each concern it
/// holds, and this trait for the whole.
pub trait StateStore: ActorStore + ReminderStore + ComponentStore + TenantStore {
    /// Flush everything to disk (at shutdown).
    fn flush(&self) -> StoreFuture<'_, ()>;
}
