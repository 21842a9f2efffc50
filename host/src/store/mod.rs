//! Durable storage: the [`StateStore`] port and the records it keeps are the core's
//! (`warren_core::store`, re-exported here); this module holds the durable stores that
//! implement it: [`SledStore`], the embedded default, and [`PostgresStore`], shared by a
//! cluster's hosts. Every implementation, the core's [`MemoryStore`] included, passes the
//! one shared suite in `suite.rs`.

pub mod faults;
mod legacy;
mod postgres;
mod sled_store;
#[cfg(test)]
mod suite;

use serde::{Deserialize, Serialize};

pub use warren_core::store::*;

pub(crate) use postgres::io as postgres_error;
pub use postgres::{PARTITION_LOCKS, PostgresStore};
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
