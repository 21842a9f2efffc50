//! The one suite every [`StateStore`] passes: the in-memory store and the sled store in
//! both durability modes (cluster mode adds PostgreSQL to the list in `stores`).

use std::sync::Arc;

use super::{ComponentRecord, Durability, MemoryStore, SledStore, StateStore, StoreError};
use crate::types::{ActorId, StateChange};

/// Every implementation, each fresh; the temp dirs live as long as the stores are used.
fn stores() -> Vec<(&'static str, Arc<dyn StateStore>, Option<tempfile::TempDir>)> {
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
    all
}

fn set(key: &str, value: &str) -> StateChange {
    (key.to_string(), Some(value.as_bytes().to_vec()))
}

fn delete(key: &str) -> StateChange {
    (key.to_string(), None)
}

#[tokio::test]
async fn an_actor_loads_what_its_commits_wrote_with_growing_versions() {
    for (name, store, _dir) in stores() {
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
    for (name, store, _dir) in stores() {
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
    for (name, store, _dir) in stores() {
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
    for (name, store, _dir) in stores() {
        let actor = ActorId::new("t", "x", "a");
        store
            .put_reminder(&actor, "r1", b"one".to_vec())
            .await
            .unwrap();
        store
            .put_reminder(&actor, "r2", b"two".to_vec())
            .await
            .unwrap();
        store.delete_reminder(&actor, "r1").await.unwrap();
        let reminders = store.reminders().await.unwrap();
        assert_eq!(
            reminders,
            vec![(actor.clone(), "r2".into(), b"two".to_vec())],
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
        };
        store.put_component(&record, b"wasm").await.unwrap();
        assert_eq!(store.components().await.unwrap().len(), 1, "{name}");
        let wasm = store.component_wasm("t", "c").await.unwrap();
        assert_eq!(wasm.as_deref(), Some(&b"wasm"[..]), "{name}");

        store.commit(&actor, 0, vec![set("k", "v")]).await.unwrap();
        store.delete_tenant("t").await.unwrap();
        assert!(store.reminders().await.unwrap().is_empty(), "{name}");
        assert!(store.tenants().await.unwrap().is_empty(), "{name}");
        assert!(store.components().await.unwrap().is_empty(), "{name}");
        assert_eq!(store.load(&actor).await.unwrap().entries.len(), 0, "{name}");
        assert_eq!(store.tenant_state_size("t").await.unwrap(), 0, "{name}");

        store.put_component(&record, b"wasm").await.unwrap();
        assert!(store.remove_component("t", "c").await.unwrap(), "{name}");
        assert!(!store.remove_component("t", "c").await.unwrap(), "{name}");
    }
}

/// Racing commits of one actor from two tasks: every one that succeeds was applied on the
/// version it read, so none is lost and the last version counts them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_of_one_actor_never_both_pass_the_check() {
    for (name, store, _dir) in stores() {
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
