//! Tenants: their records, and deleting one with everything it owns.

use warren_store::{ComponentRecord, StateStore};
use warren_wire::types::ActorId;

use super::{set, stores, version};

/// Reminders, a tenant's record and a component come back as stored; deleting the tenant
/// takes all of them with its state, and removing a component takes its versions.
#[tokio::test]
async fn reminders_tenants_and_components_round_trip_and_go_with_their_tenant() {
    for (name, store, _dir) in stores().await {
        let actor = ActorId::new("t", "x", "a");
        reminders_round_trip(name, &*store, &actor).await;
        let record = a_tenant_and_its_component_round_trip(name, &*store).await;
        store.commit(&actor, 0, vec![set("k", "v")]).await.unwrap();
        store.delete_tenant("t").await.unwrap();
        nothing_of_the_tenant_is_left(name, &*store, &actor).await;
        a_removed_component_takes_its_versions(name, &*store, &record).await;
    }
}

/// Two reminders put, one deleted (once): the other is listed as stored.
async fn reminders_round_trip(name: &str, store: &dyn StateStore, actor: &ActorId) {
    store
        .put_reminder(actor, "r1", 10, b"one".to_vec())
        .await
        .unwrap();
    store
        .put_reminder(actor, "r2", 20, b"two".to_vec())
        .await
        .unwrap();
    assert!(store.delete_reminder(actor, "r1").await.unwrap(), "{name}");
    assert!(!store.delete_reminder(actor, "r1").await.unwrap(), "{name}");
    let listed = store.actor_reminders("t", "x", Some("a")).await.unwrap();
    assert_eq!(listed.len(), 1, "{name}");
    assert_eq!(
        (listed[0].name.as_str(), listed[0].due_ms),
        ("r2", 20),
        "{name}"
    );
    assert_eq!(listed[0].record, b"two", "{name}");
    assert!(
        store.reminder(actor, "r1").await.unwrap().is_none(),
        "{name}"
    );
}

/// Tenant `t`'s record and its component `c` (with a kept version) come back as stored;
/// the component's record.
async fn a_tenant_and_its_component_round_trip(
    name: &str,
    store: &dyn StateStore,
) -> ComponentRecord {
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
    record
}

/// After tenant `t` was deleted: no reminder, record, component, version or state of it.
async fn nothing_of_the_tenant_is_left(name: &str, store: &dyn StateStore, actor: &ActorId) {
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
    assert_eq!(store.load(actor).await.unwrap().entries.len(), 0, "{name}");
    assert_eq!(store.tenant_state_size("t").await.unwrap(), 0, "{name}");

    assert!(
        store.component_versions("t", "c").await.unwrap().is_empty(),
        "{name}"
    );
}

/// A component stored again with a version, then removed (once): its versions go too.
async fn a_removed_component_takes_its_versions(
    name: &str,
    store: &dyn StateStore,
    record: &ComponentRecord,
) {
    store.put_component(record, Some(b"wasm")).await.unwrap();
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
