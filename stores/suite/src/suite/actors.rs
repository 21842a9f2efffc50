//! Actor state: loads, versioned commits, races, and the tenants' size counters.

use warren_store::StoreError;
use warren_wire::types::ActorId;

use super::{delete, set, stores};

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
