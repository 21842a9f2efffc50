//! The one suite every [`StateStore`] passes: the in-memory store and the sled store in
//! both durability modes (cluster mode adds PostgreSQL to the list in `stores`).

use std::sync::Arc;

use warren_store::{
    ActorStore, Canary, ComponentRecord, ComponentVersion, MemoryStore, ReminderChange,
    ReminderStore, StateStore, StoreError,
};
use warren_store_postgres::PostgresStore;
use warren_store_sled::{Durability, SledStore};
use warren_wire::types::{ActorId, StateChange};

/// Every implementation, each fresh; the temp dirs live as long as the stores are used.
async fn stores() -> Vec<(&'static str, Arc<dyn StateStore>, Option<tempfile::TempDir>)> {
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
async fn fresh_postgres_database() -> (tokio_postgres::Client, Arc<PostgresStore>) {
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

fn set(key: &str, value: &str) -> StateChange {
    (key.to_string(), Some(value.as_bytes().to_vec()))
}

fn delete(key: &str) -> StateChange {
    (key.to_string(), None)
}

#[tokio::test]
async fn an_actor_loads_what_its_commits_wrote_with_growing_versions() {
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("t", "counter", "a");
        let fresh = store.load(&actor).await.unwrap();
        assert_eq!((fresh.version, fresh.entries.len()), (0, 0), "{name}");
        let v1 = store
            .commit(&actor, 0, vec![set("a", "1"), set("b", "2")])
            .await
            .unwrap();
        let v2 = store
            .commit(&actor, v1, vec![delete("a"), set("c", "3"), set("b", "22")])
            .await
            .unwrap();
        assert!(v2 > v1 && v1 > 0, "{name}: versions {v1}, {v2}");
        let record = store.load(&actor).await.unwrap();
        assert_eq!(record.version, v2, "{name}");
        let keys: Vec<_> = record.entries.keys().cloned().collect();
        assert_eq!(keys, ["b", "c"], "{name}");
        assert_eq!(record.entries["b"], b"22", "{name}");
        // Another actor of the same tenant and type is apart.
        let other = ActorId::new("t", "counter", "b");
        assert_eq!(store.load(&other).await.unwrap().version, 0, "{name}");
        // Deleting every key keeps the version going.
        let v3 = store
            .commit(&actor, v2, vec![delete("b"), delete("c")])
            .await
            .unwrap();
        let emptied = store.load(&actor).await.unwrap();
        assert_eq!((emptied.version, emptied.entries.len()), (v3, 0), "{name}");
    }
}

#[tokio::test]
async fn a_commit_on_a_moved_version_is_refused_and_writes_nothing() {
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("t", "counter", "a");
        let v1 = store.commit(&actor, 0, vec![set("k", "1")]).await.unwrap();
        let stale = store.commit(&actor, 0, vec![set("k", "stale")]).await;
        assert!(
            matches!(stale, Err(StoreError::Conflict { expected: 0, found }) if found == v1),
            "{name}: {stale:?}"
        );
        let ahead = store.commit(&actor, v1 + 5, vec![set("k", "x")]).await;
        assert!(matches!(ahead, Err(StoreError::Conflict { .. })), "{name}");
        let record = store.load(&actor).await.unwrap();
        assert_eq!(
            (record.version, &record.entries["k"][..]),
            (v1, &b"1"[..]),
            "{name}"
        );
    }
}

#[tokio::test]
async fn tenant_sizes_follow_the_commits() {
    for (name, store, _dir) in stores().await {
        let a = ActorId::new("t", "x", "a");
        let b = ActorId::new("t", "x", "b");
        let other = ActorId::new("u", "x", "a");
        let v = store.commit(&a, 0, vec![set("ab", "123")]).await.unwrap();
        store.commit(&b, 0, vec![set("c", "1")]).await.unwrap();
        store
            .commit(&other, 0, vec![set("zz", "zz")])
            .await
            .unwrap();
        assert_eq!(store.tenant_state_size("t").await.unwrap(), 7, "{name}");
        store.commit(&a, v, vec![delete("ab")]).await.unwrap();
        assert_eq!(store.tenant_state_size("t").await.unwrap(), 2, "{name}");
        assert_eq!(store.tenant_state_size("u").await.unwrap(), 4, "{name}");
        assert_eq!(store.tenant_state_size("none").await.unwrap(), 0, "{name}");
    }
}

#[tokio::test]
async fn reminders_tenants_and_components_round_trip_and_go_with_their_tenant() {
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("t", "x", "a");
        store
            .put_reminder(&actor, "r1", 10, b"one".to_vec())
            .await
            .unwrap();
        store
            .put_reminder(&actor, "r2", 20, b"two".to_vec())
            .await
            .unwrap();
        assert!(store.delete_reminder(&actor, "r1").await.unwrap(), "{name}");
        assert!(
            !store.delete_reminder(&actor, "r1").await.unwrap(),
            "{name}"
        );
        let listed = store.actor_reminders("t", "x", Some("a")).await.unwrap();
        assert_eq!(listed.len(), 1, "{name}");
        assert_eq!(
            (listed[0].name.as_str(), listed[0].due_ms),
            ("r2", 20),
            "{name}"
        );
        assert_eq!(listed[0].record, b"two", "{name}");
        assert!(
            store.reminder(&actor, "r1").await.unwrap().is_none(),
            "{name}"
        );

        store.put_tenant("t", b"{}".to_vec()).await.unwrap();
        assert_eq!(
            store.tenants().await.unwrap(),
            vec![b"{}".to_vec()],
            "{name}"
        );

        let record = ComponentRecord {
            tenant: "t".into(),
            name: "c".into(),
            sha256: "00".into(),
            deployed_at: 1,
            number: 1,
            canary: None,
        };
        store.put_component(&record, Some(b"wasm")).await.unwrap();
        store
            .put_component_version(&version(1), b"wasm")
            .await
            .unwrap();
        assert_eq!(store.components().await.unwrap().len(), 1, "{name}");
        let wasm = store.component_wasm("t", "c").await.unwrap();
        assert_eq!(wasm.as_deref(), Some(&b"wasm"[..]), "{name}");

        store.commit(&actor, 0, vec![set("k", "v")]).await.unwrap();
        store.delete_tenant("t").await.unwrap();
        assert!(
            store
                .actor_reminders("t", "x", None)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert!(
            store
                .reminders_due(None, i64::MAX, 10)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        assert!(store.tenants().await.unwrap().is_empty(), "{name}");
        assert!(store.components().await.unwrap().is_empty(), "{name}");
        assert_eq!(store.load(&actor).await.unwrap().entries.len(), 0, "{name}");
        assert_eq!(store.tenant_state_size("t").await.unwrap(), 0, "{name}");

        assert!(
            store.component_versions("t", "c").await.unwrap().is_empty(),
            "{name}"
        );

        store.put_component(&record, Some(b"wasm")).await.unwrap();
        store
            .put_component_version(&version(1), b"wasm")
            .await
            .unwrap();
        assert!(store.remove_component("t", "c").await.unwrap(), "{name}");
        assert!(!store.remove_component("t", "c").await.unwrap(), "{name}");
        assert!(
            store.component_versions("t", "c").await.unwrap().is_empty(),
            "{name}"
        );
    }
}

fn version(number: u64) -> ComponentVersion {
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

/// A component's versions are kept in order with their bytes, apart from its record;
/// the record changes alone when no bytes are given.
#[tokio::test]
async fn component_versions_are_kept_listed_and_deleted() {
    for (name, store, _dir) in stores().await {
        store.put_tenant("t", b"{}".to_vec()).await.unwrap();
        // Numbers past 255 sort after the small ones (big-endian keys).
        for number in [2, 1, 300] {
            store
                .put_component_version(&version(number), format!("wasm{number}").as_bytes())
                .await
                .unwrap();
        }
        let kept = store.component_versions("t", "c").await.unwrap();
        let numbers: Vec<u64> = kept.iter().map(|v| v.number).collect();
        assert_eq!(numbers, [1, 2, 300], "{name}");
        assert_eq!(kept[1], version(2), "{name}");
        assert!(
            store
                .component_versions("t", "other")
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let bytes = store.component_version_wasm("t", "c", 300).await.unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"wasm300"[..]), "{name}");
        assert_eq!(
            store.component_version_wasm("t", "c", 7).await.unwrap(),
            None,
            "{name}"
        );
        assert!(
            store.remove_component_version("t", "c", 2).await.unwrap(),
            "{name}"
        );
        assert!(
            !store.remove_component_version("t", "c", 2).await.unwrap(),
            "{name}"
        );
        assert_eq!(
            store.component_versions("t", "c").await.unwrap().len(),
            2,
            "{name}"
        );

        let mut record = ComponentRecord {
            tenant: "t".into(),
            name: "c".into(),
            sha256: "01".into(),
            deployed_at: 1,
            number: 1,
            canary: None,
        };
        store.put_component(&record, Some(b"wasm1")).await.unwrap();
        record.canary = Some(Canary {
            number: 300,
            sha256: "300".into(),
            percent: 25,
        });
        store.put_component(&record, None).await.unwrap();
        let stored = store.components().await.unwrap();
        assert_eq!(stored.len(), 1, "{name}");
        assert_eq!(stored[0].canary, record.canary, "{name}");
        assert_eq!(stored[0].number, 1, "{name}");
        let wasm = store.component_wasm("t", "c").await.unwrap();
        assert_eq!(wasm.as_deref(), Some(&b"wasm1"[..]), "{name}");

        store.delete_tenant("t").await.unwrap();
        assert!(
            store.component_versions("t", "c").await.unwrap().is_empty(),
            "{name}"
        );
    }
}

/// Racing commits of one actor from two tasks: every one that succeeds was applied on the
/// version it read, so none is lost and the last version counts them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_of_one_actor_never_both_pass_the_check() {
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("t", "x", "race");
        let writers = (0..2).map(|_| {
            let (store, actor) = (store.clone(), actor.clone());
            tokio::spawn(async move {
                let mut won = 0u64;
                for _ in 0..200 {
                    let record = store.load(&actor).await.unwrap();
                    let n: u64 = record
                        .entries
                        .get("n")
                        .map(|v| String::from_utf8_lossy(v).parse().unwrap())
                        .unwrap_or(0);
                    let change = vec![set("n", &(n + 1).to_string())];
                    match store.commit(&actor, record.version, change).await {
                        Ok(_) => won += 1,
                        Err(StoreError::Conflict { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                won
            })
        });
        let mut won = 0;
        for writer in writers {
            won += writer.await.unwrap();
        }
        let record = store.load(&actor).await.unwrap();
        assert_eq!(record.entries["n"], won.to_string().as_bytes(), "{name}");
        assert_eq!(record.version, won, "{name}");
    }
}

/// Reminders come back in due order, in windows that end at a time and hold at most a
/// count, each read going on after the last; moving one moves it in that order.
#[tokio::test]
async fn reminders_are_read_in_due_order_window_by_window() {
    for (name, store, _dir) in stores().await {
        for i in 0..10i64 {
            let actor = ActorId::new("t", "x", &format!("a{}", 9 - i));
            store
                .put_reminder(&actor, "r", i * 100, vec![i as u8])
                .await
                .unwrap();
        }
        let first = store.reminders_due(None, 450, 3).await.unwrap();
        let dues: Vec<i64> = first.iter().map(|r| r.due_ms).collect();
        assert_eq!(dues, [0, 100, 200], "{name}");
        let cursor = first.last().map(|r| r.cursor());
        let next = store.reminders_due(cursor, 450, 3).await.unwrap();
        let dues: Vec<i64> = next.iter().map(|r| r.due_ms).collect();
        assert_eq!(dues, [300, 400], "{name}: the window ends at 450");
        // Moving a reminder earlier takes it out of its old place.
        let moved = ActorId::new("t", "x", "a0");
        store.put_reminder(&moved, "r", 50, vec![9]).await.unwrap();
        let all = store.reminders_due(None, i64::MAX, 100).await.unwrap();
        let dues: Vec<i64> = all.iter().map(|r| r.due_ms).collect();
        assert_eq!(
            dues,
            [0, 50, 100, 200, 300, 400, 500, 600, 700, 800],
            "{name}"
        );
        let stored = store.reminder(&moved, "r").await.unwrap();
        assert_eq!(stored.map(|r| r.due_ms), Some(50), "{name}");
    }
}

#[tokio::test]
async fn a_commit_writes_its_reminder_changes_with_its_state_or_nothing() {
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("t", "x", "a");
        let due = |r: Option<warren_store::StoredReminder>| r.map(|r| (r.due_ms, r.record));
        let put = |name: &str, due_ms: i64| ReminderChange::Put {
            name: name.into(),
            due_ms,
            record: vec![due_ms as u8],
        };
        let v1 = store
            .commit_turn(
                &actor,
                0,
                vec![set("k", "1")],
                vec![put("every", 10), put("once", 20)],
            )
            .await
            .unwrap();
        let loaded = store.load(&actor).await.unwrap();
        assert_eq!(loaded.entries.get("k").map(|v| &v[..]), Some(&b"1"[..]));
        assert_eq!(
            due(store.reminder(&actor, "every").await.unwrap()),
            Some((10, vec![10])),
            "{name}"
        );

        // A stale commit writes neither state nor reminders.
        let stale = store
            .commit_turn(&actor, 0, vec![set("k", "x")], vec![put("every", 99)])
            .await;
        assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{name}");
        assert_eq!(
            due(store.reminder(&actor, "every").await.unwrap()),
            Some((10, vec![10])),
            "{name}: a refused commit moved a reminder"
        );

        // A firing's progress: applied while the reminder is still the one that fired.
        let advance = |fired: i64, next: Option<i64>| ReminderChange::Advance {
            name: "every".into(),
            fired_due_ms: fired,
            next: next.map(|due| (due, vec![due as u8])),
        };
        let v2 = store
            .commit_turn(&actor, v1, vec![set("k", "2")], vec![advance(10, Some(30))])
            .await
            .unwrap();
        assert_eq!(
            due(store.reminder(&actor, "every").await.unwrap()),
            Some((30, vec![30])),
            "{name}"
        );
        // Progress of a firing whose reminder was replaced since: the new one stands. On
        // PostgreSQL, where hosts fire across moves, the whole firing is refused (no due
        // time commits twice); a single host's stores commit the state alone.
        let late = store
            .commit_turn(
                &actor,
                v2,
                vec![set("k", "late")],
                vec![advance(10, Some(40))],
            )
            .await;
        let v3 = if name == "postgres" {
            assert!(matches!(late, Err(StoreError::Fired { .. })), "{late:?}");
            let record = store.load(&actor).await.unwrap();
            assert_eq!(
                record.entries["k"], b"2",
                "{name}: a refused firing wrote state"
            );
            v2
        } else {
            late.unwrap()
        };
        assert_eq!(
            due(store.reminder(&actor, "every").await.unwrap()),
            Some((30, vec![30])),
            "{name}"
        );
        // The last firing deletes it; a cancel deletes another.
        let delete_once = ReminderChange::Delete {
            name: "once".into(),
        };
        store
            .commit_turn(&actor, v3, vec![], vec![advance(30, None), delete_once])
            .await
            .unwrap();
        assert!(
            store
                .actor_reminders("t", "x", None)
                .await
                .unwrap()
                .is_empty(),
            "{name}"
        );
        let due_index = store.reminders_due(None, i64::MAX, 10).await.unwrap();
        assert!(due_index.is_empty(), "{name}: {due_index:?}");
    }
}

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
    use warren_store::fencing::{Fence, PARTITIONS, partition_of};
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
    // Not held: refused before the database is asked.
    let refused = store.commit(&actor, 0, vec![set("n", "1")]).await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );
    // Held at the database's epoch: written.
    sql.execute(
        "UPDATE warren_partitions SET owner = 'h1', epoch = 1 WHERE partition = $1",
        &[&(partition as i32)],
    )
    .await
    .unwrap();
    fence.set(partition, Some(1));
    // Held in the table, but no lease yet (no heartbeat landed): refused.
    let unleased = store.commit(&actor, 0, vec![set("n", "1")]).await;
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
        .commit_turn_at(&actor, 0, vec![set("n", "1")], Vec::new(), Some(0))
        .await;
    assert!(
        matches!(other_epoch, Err(StoreError::Fenced { .. })),
        "{other_epoch:?}"
    );
    let v1 = store
        .commit_turn_at(&actor, 0, vec![set("n", "1")], Vec::new(), Some(1))
        .await
        .unwrap();
    let due = store.reminders_due(None, i64::MAX, 10).await.unwrap();
    assert_eq!(due.len(), 1, "only the held partition's reminders: {due:?}");
    assert_eq!(due[0].actor, actor);
    // The partition moved (another host's epoch): this host still believes it holds it,
    // and the database refuses its write; nothing of it is visible.
    sql.execute(
        "UPDATE warren_partitions SET owner = 'h2', epoch = 2 WHERE partition = $1",
        &[&(partition as i32)],
    )
    .await
    .unwrap();
    let stale = store.commit(&actor, v1, vec![set("n", "2")]).await;
    assert!(matches!(stale, Err(StoreError::Fenced { .. })), "{stale:?}");
    // Reminder writes outside a turn are fenced the same way: no overwrite, no delete.
    let put = store.put_reminder(&actor, "r", 99, b"{}".to_vec()).await;
    assert!(matches!(put, Err(StoreError::Fenced { .. })), "{put:?}");
    let deleted = store.delete_reminder(&actor, "r").await;
    assert!(
        matches!(deleted, Err(StoreError::Fenced { .. })),
        "{deleted:?}"
    );
    let kept = store.reminder(&actor, "r").await.unwrap();
    assert_eq!(kept.map(|r| r.due_ms), Some(10));
    let record = store.load(&actor).await.unwrap();
    assert_eq!(
        (record.version, record.entries["n"].as_slice()),
        (v1, &b"1"[..])
    );
    // The host's own records are not fenced.
    let shared = ActorId::new("$system", "users", "records");
    store.commit(&shared, 0, vec![set("u", "1")]).await.unwrap();
}

/// Many commits at once (on PostgreSQL, batched into one transaction): a refused one
/// takes none of the others down, and each accepted one is whole.
#[tokio::test]
async fn concurrent_commits_stand_or_fall_alone() {
    for (name, store, _dir) in stores().await {
        let commits = (0..60).map(|i| {
            let store = store.clone();
            async move {
                let actor = ActorId::new("t", "c", &format!("a{i}"));
                // Every third expects a version the actor never had.
                let expected = if i % 3 == 0 { 7 } else { 0 };
                let result = store
                    .commit(
                        &actor,
                        expected,
                        vec![set("n", &i.to_string()), set("m", "x")],
                    )
                    .await;
                (actor, expected, result)
            }
        });
        for (actor, expected, result) in futures::future::join_all(commits).await {
            let record = store.load(&actor).await.unwrap();
            if expected == 7 {
                assert!(
                    matches!(result, Err(StoreError::Conflict { .. })),
                    "{name}: {result:?}"
                );
                assert_eq!((record.version, record.entries.len()), (0, 0), "{name}");
            } else {
                assert_eq!(result.unwrap(), 1, "{name}");
                assert_eq!((record.version, record.entries.len()), (1, 2), "{name}");
            }
        }
        // The usage counter holds exactly the accepted commits: per actor, "n" and its
        // digits, "m" and "x".
        let size = store.tenant_state_size("t").await.unwrap();
        let expected: u64 = (0..60)
            .filter(|i| i % 3 != 0)
            .map(|i: u64| 3 + i.to_string().len() as u64)
            .sum();
        assert_eq!(size, expected, "{name}");
    }
}

/// The host's own state keys (the code version an actor's state was written by) are
/// stored like any key, in every store, and count toward no quota.
#[tokio::test]
async fn the_hosts_own_keys_are_stored_and_count_for_nothing() {
    use warren_store::record::CODE_VERSION_KEY;
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("own", "x", "a");
        let changes = vec![set(CODE_VERSION_KEY, "2.0.0"), set("k", "v")];
        let version = store.commit(&actor, 0, changes).await.unwrap();
        let record = store.load(&actor).await.unwrap();
        assert_eq!(record.code_version(), Some("2.0.0"), "{name}");
        assert_eq!(record.size(), 2, "{name}");
        assert_eq!(store.tenant_state_size("own").await.unwrap(), 2, "{name}");
        let changes = vec![(CODE_VERSION_KEY.to_string(), None)];
        store.commit(&actor, version, changes).await.unwrap();
        assert_eq!(store.tenant_state_size("own").await.unwrap(), 2, "{name}");
        assert_eq!(
            store.load(&actor).await.unwrap().code_version(),
            None,
            "{name}"
        );
    }
}

/// A firing's progress written outside a turn moves a reminder on only from the due time
/// that fired: never over a newer registration, never reviving a deleted reminder.
#[tokio::test]
async fn a_reminder_moves_on_only_from_the_due_time_that_fired() {
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("t", "c", "a");
        store
            .put_reminder(&actor, "r", 10, b"{}".to_vec())
            .await
            .unwrap();
        let stale = store.advance_reminder(&actor, "r", 5, None).await.unwrap();
        assert!(!stale, "{name}: moved on from a due time it no longer has");
        let moved = store
            .advance_reminder(&actor, "r", 10, Some((20, b"{}".to_vec())))
            .await
            .unwrap();
        assert!(moved, "{name}");
        let again = store.advance_reminder(&actor, "r", 10, None).await.unwrap();
        assert!(!again, "{name}: the same due time moved on twice");
        let due = store.reminder(&actor, "r").await.unwrap().map(|r| r.due_ms);
        assert_eq!(due, Some(20), "{name}");
        assert!(store.advance_reminder(&actor, "r", 20, None).await.unwrap());
        assert!(
            store.reminder(&actor, "r").await.unwrap().is_none(),
            "{name}"
        );
        let revived = store
            .advance_reminder(&actor, "r", 20, Some((30, b"{}".to_vec())))
            .await
            .unwrap();
        assert!(!revived, "{name}: a deleted reminder came back");
        assert!(
            store.reminder(&actor, "r").await.unwrap().is_none(),
            "{name}"
        );
    }
}
