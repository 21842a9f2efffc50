//! The one suite every [`StateStore`] passes: the in-memory store, the sled store in both
//! durability modes and PostgreSQL, one module per concern of the port; PostgreSQL's own
//! checks (SQL access, fencing) have a module of their own.

mod actors;
mod components;
mod postgres;
mod reminders;
mod tenants;

use std::sync::Arc;

use warren_store::{ComponentVersion, MemoryStore, StateStore};
use warren_store_postgres::PostgresStore;
use warren_store_sled::{Durability, SledStore};
use warren_wire::types::StateChange;

/// Every implementation, each fresh; the temp dirs live as long as the stores are used.
pub(crate) async fn stores() -> Vec<(&'static str, Arc<dyn StateStore>, Option<tempfile::TempDir>)>
{
    let mut all: Vec<(&'static str, Arc<dyn StateStore>, Option<tempfile::TempDir>)> =
        vec![("memory", Arc::new(MemoryStore::new()), None)];
    for (name, durability) in [
        ("sled sync", Durability::Sync),
        ("sled relaxed", Durability::Relaxed),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path(), durability).expect("open sled");
        all.push((name, store, Some(dir)));
    }
    all.push(("postgres", fresh_postgres().await, None));
    all
}

/// A PostgreSQL store on a database of its own, on the server `WARREN_TEST_DATABASE_URL`
/// names (scripts/test.sh starts one for the run).
async fn fresh_postgres() -> Arc<dyn StateStore> {
    let (_, store) = fresh_postgres_database().await;
    store
}

/// A fresh database on the test server: a plain client of it, and the store on it.
pub(crate) async fn fresh_postgres_database() -> (tokio_postgres::Client, Arc<PostgresStore>) {
    let url = std::env::var("WARREN_TEST_DATABASE_URL").expect(
        "WARREN_TEST_DATABASE_URL is not set: run scripts/test.sh, or start a server with \
         scripts/postgres.sh start DIR and export the URL it prints",
    );
    let connect = |config: tokio_postgres::Config| async move {
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the test server");
        tokio::spawn(connection);
        client
    };
    let mut config: tokio_postgres::Config = url.parse().expect("the test URL");
    let name = format!("warren_suite_{}", uuid::Uuid::new_v4().simple());
    connect(config.clone())
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a database");
    config.dbname(&name);
    let store = PostgresStore::connect_config(config.clone())
        .await
        .expect("open the PostgreSQL store");
    (connect(config).await, store)
}

pub(crate) fn set(key: &str, value: &str) -> StateChange {
    (key.to_string(), Some(value.as_bytes().to_vec()))
}

pub(crate) fn delete(key: &str) -> StateChange {
    (key.to_string(), None)
}

/// Version `number` of component `c` of tenant `t`.
pub(crate) fn version(number: u64) -> ComponentVersion {
    ComponentVersion {
        tenant: "t".into(),
        name: "c".into(),
        number,
        version: format!("{number}.0.0"),
        sha256: format!("{number:02}"),
        deployed_at: number,
        deployed_by: "suite".into(),
        manifest: "{}".into(),
    }
}
