//! PostgreSQL only: state queryable with SQL, and the fence of cluster mode.

use std::sync::Arc;

use warren_store::fencing::{Fence, PARTITIONS, partition_of};
use warren_store::{ActorStore, ReminderStore, StoreError};
use warren_store_postgres::PostgresStore;
use warren_wire::types::ActorId;

use super::{fresh_postgres_database, set};

/// PostgreSQL only: actor state is queryable from outside, one row per key with the
/// actor's version, as cluster mode documents (`warren_actor_state`), and the schema is
/// migrated to the last version (4: `warren_hosts.leaving`).
#[tokio::test]
async fn postgres_state_is_queryable_with_sql() {
    let (sql, store) = fresh_postgres_database().await;
    let actor = ActorId::new("t", "counter", "c1");
    let v1 = store
        .commit(&actor, 0, vec![set("total", "5"), set("last", "x")])
        .await
        .unwrap();
    store
        .commit(&actor, v1, vec![set("total", "8")])
        .await
        .unwrap();
    let rows = sql
        .query(
            "SELECT key, value, version FROM warren_actor_state
             WHERE tenant = 't' AND actor_type = 'counter' AND actor_id = 'c1' ORDER BY key",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(String, Vec<u8>, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        seen,
        [
            ("last".to_string(), b"x".to_vec(), 2),
            ("total".to_string(), b"8".to_vec(), 2)
        ]
    );
    let schema: i32 = sql
        .query_one("SELECT version FROM warren_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(schema, 4);
}

/// PostgreSQL only (cluster mode): a fenced store writes an actor only while its host
/// holds the actor's partition at the epoch the database has, and reads due reminders of
/// the partitions it holds only.
#[tokio::test]
async fn a_fenced_store_writes_only_the_partitions_it_holds() {
    let (sql, store) = fresh_postgres_database().await;
    let actor = ActorId::new("t", "counter", "fenced");
    let partition = partition_of(&actor);
    let other = (0..100)
        .map(|i| ActorId::new("t", "counter", &format!("o{i}")))
        .find(|a| partition_of(a) != partition)
        .unwrap();
    store
        .put_reminder(&actor, "r", 10, b"{}".to_vec())
        .await
        .unwrap();
    store
        .put_reminder(&other, "r", 10, b"{}".to_vec())
        .await
        .unwrap();
    sql.execute(
        "INSERT INTO warren_partitions (partition) SELECT generate_series(0, $1 - 1)",
        &[&(PARTITIONS as i32)],
    )
    .await
    .unwrap();
    let fence = Arc::new(Fence::new("h1"));
    store.set_fence(fence.clone()).unwrap();
    let v1 = a_write_waits_for_the_partition_and_its_lease(&sql, &store, &fence, &actor).await;
    let due = store.reminders_due(None, i64::MAX, 10).await.unwrap();
    assert_eq!(due.len(), 1, "only the held partition's reminders: {due:?}");
    assert_eq!(due[0].actor, actor);
    a_moved_partition_refuses_every_write(&sql, &store, &actor, v1).await;
    // The host's own records are not fenced.
    let shared = ActorId::new("$system", "users", "records");
    store.commit(&shared, 0, vec![set("u", "1")]).await.unwrap();
}

/// Give `actor`'s partition to `owner` at `epoch` in the partition table.
async fn move_partition(sql: &tokio_postgres::Client, actor: &ActorId, owner: &str, epoch: i64) {
    sql.execute(
        "UPDATE warren_partitions SET owner = $2, epoch = $3 WHERE partition = $1",
        &[&(partition_of(actor) as i32), &owner, &epoch],
    )
    .await
    .unwrap();
}

/// A fenced store (host `h1`) writes `actor` only once its partition is `h1`'s in the
/// table at epoch 1, leased, and the commit is bound to that epoch. The version written.
async fn a_write_waits_for_the_partition_and_its_lease(
    sql: &tokio_postgres::Client,
    store: &PostgresStore,
    fence: &Fence,
    actor: &ActorId,
) -> u64 {
    // Not held: refused before the database is asked.
    let refused = store.commit(actor, 0, vec![set("n", "1")]).await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );
    // Held at the database's epoch: written.
    move_partition(sql, actor, "h1", 1).await;
    fence.set(partition_of(actor), Some(1));
    // Held in the table, but no lease yet (no heartbeat landed): refused.
    let unleased = store.commit(actor, 0, vec![set("n", "1")]).await;
    assert!(
        matches!(unleased, Err(StoreError::Fenced { .. })),
        "{unleased:?}"
    );
    fence.renew(
        std::time::Instant::now(),
        std::time::Duration::from_secs(60),
    );
    // An activation bound to another epoch than the one held: refused.
    let other_epoch = store
        .commit_turn_at(actor, 0, vec![set("n", "1")], Vec::new(), Some(0))
        .await;
    assert!(
        matches!(other_epoch, Err(StoreError::Fenced { .. })),
        "{other_epoch:?}"
    );
    store
        .commit_turn_at(actor, 0, vec![set("n", "1")], Vec::new(), Some(1))
        .await
        .unwrap()
}

/// `actor`'s partition moves to host `h2`: the store, which still believes it holds it,
/// has its state and reminder writes refused, and `actor` keeps version `v1`.
async fn a_moved_partition_refuses_every_write(
    sql: &tokio_postgres::Client,
    store: &PostgresStore,
    actor: &ActorId,
    v1: u64,
) {
    // The partition moved (another host's epoch): this host still believes it holds it,
    // and the database refuses its write; nothing of it is visible.
    move_partition(sql, actor, "h2", 2).await;
    let stale = store.commit(actor, v1, vec![set("n", "2")]).await;
    assert!(matches!(stale, Err(StoreError::Fenced { .. })), "{stale:?}");
    // Reminder writes outside a turn are fenced the same way: no overwrite, no delete.
    let put = store.put_reminder(actor, "r", 99, b"{}".to_vec()).await;
    assert!(matches!(put, Err(StoreError::Fenced { .. })), "{put:?}");
    let deleted = store.delete_reminder(actor, "r").await;
    assert!(
        matches!(deleted, Err(StoreError::Fenced { .. })),
        "{deleted:?}"
    );
    let kept = store.reminder(actor, "r").await.unwrap();
    assert_eq!(kept.map(|r| r.due_ms), Some(10));
    let record = store.load(actor).await.unwrap();
    assert_eq!(
        (record.version, record.entries["n"].as_slice()),
        (v1, &b"1"[..])
    );
}
