//! How the store runs its statements: an actor's key columns as parameters, and cached
//! prepared statements inside a transaction.

use tokio_postgres::types::ToSql;
use warren_store::StoreError;
use warren_wire::types::ActorId;

use crate::io;

/// An actor's key columns: tenant, actor type, actor id.
pub(crate) fn actor_params(actor: &ActorId) -> [&str; 3] {
    [&actor.tenant, &actor.actor_type, &actor.id]
}

/// Run `sql` as a cached prepared statement (one round trip instead of two).
pub(crate) async fn exec(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(io)?;
    tx.execute(&statement, params).await.map_err(io)
}

/// Run `sql` as a cached prepared statement; the rows it returns.
pub(crate) async fn query(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let statement = tx.prepare_cached(sql).await.map_err(io)?;
    tx.query(&statement, params).await.map_err(io)
}
