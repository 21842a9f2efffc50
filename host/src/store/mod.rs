//! Durable storage, as the host sees it: the [`StateStore`] port, its records, fencing,
//! failpoints and the in-memory store are the core's (`warren_core::store`); the stores
//! that implement it are crates of their own: [`SledStore`] (`warren-store-sled`), the
//! embedded default, and [`PostgresStore`] (`warren-store-postgres`), shared by a
//! cluster's hosts. Every implementation passes one shared suite (`warren-store-suite`).

pub use warren_core::store::*;
pub use warren_store_postgres::{
    PARTITION_LOCKS, PostgresMembership, PostgresStore, io as postgres_error,
};
pub use warren_store_sled::{Durability, SledStore};
