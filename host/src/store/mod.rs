//! Durable storage: actor state, deployed components. The runtime core depends on the
//! [`StateStore`] trait only; [`SledStore`] is the embedded default.

mod intents;
mod sled_store;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::types::ActorId;
pub use crate::types::{StateChange, StoreError};

pub use sled_store::SledStore;

/// When a commit is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// A commit is acknowledged only once it is on disk. Concurrent commits share one flush.
    Sync,
    /// A commit is acknowledged once applied in memory; the store flushes periodically.
    Relaxed,
}

/// A deployed component as the store keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ComponentRecord {
    pub tenant: String,
    pub name: String,
    /// Hex SHA-256 of the `.wasm` bytes.
    pub sha256: String,
    /// Seconds since the Unix epoch.
    pub deployed_at: u64,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// A boxed future, for the trait's asynchronous methods.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What the runtime core needs from storage.
pub trait StateStore: Send + Sync + 'static {
    /// The value of one state key of an actor.
    fn get(&self, actor: &ActorId, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The state keys of an actor that start with `prefix`, sorted.
    fn keys(&self, actor: &ActorId, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Apply a turn's changes to one actor atomically; resolves when durable per the
    /// store's [`Durability`].
    fn commit(&self, actor: &ActorId, changes: Vec<StateChange>) -> StoreFuture<'_, ()>;

    /// Store a deployed component and its bytes, replacing one of the same name.
    fn put_component(&self, record: &ComponentRecord, wasm: &[u8]) -> StoreFuture<'_, ()>;

    /// Every stored component of every tenant.
    fn components(&self) -> Result<Vec<ComponentRecord>, StoreError>;

    /// The `.wasm` bytes of a stored component.
    fn component_wasm(&self, tenant: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Remove a stored component; returns whether it existed.
    fn remove_component(&self, tenant: &str, name: &str) -> StoreFuture<'_, bool>;

    /// Store (or replace) a reminder of `actor`; durable per the store's [`Durability`].
    fn put_reminder(&self, actor: &ActorId, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()>;

    /// Delete a reminder of `actor`; durable per the store's [`Durability`].
    fn delete_reminder(&self, actor: &ActorId, name: &str) -> StoreFuture<'_, ()>;

    /// Every stored reminder: its actor, name and record.
    fn reminders(&self) -> Result<Vec<(ActorId, String, Vec<u8>)>, StoreError>;

    /// Bytes (keys plus values) of one actor's state.
    fn actor_state_size(&self, actor: &ActorId) -> Result<u64, StoreError>;

    /// Bytes (keys plus values) of a tenant's whole state.
    fn tenant_state_size(&self, tenant: &str) -> Result<u64, StoreError>;

    /// Store (or replace) a tenant's record, durably.
    fn put_tenant(&self, name: &str, record: Vec<u8>) -> StoreFuture<'_, ()>;

    /// Every stored tenant record.
    fn tenants(&self) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Delete a tenant and everything it owns: state, reminders, components.
    fn delete_tenant(&self, name: &str) -> StoreFuture<'_, ()>;

    /// Flush everything to disk (at shutdown).
    fn flush(&self) -> StoreFuture<'_, ()>;
}
