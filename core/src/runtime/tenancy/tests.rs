//! Tenancy on the memory store, without a runtime.

use std::sync::Arc;

use super::{Tenancy, TenantError};
use crate::runtime::DEFAULT_TENANT;
use crate::runtime::tenants::{LimitOverrides, Limits};
use crate::store::{MemoryStore, StateStore};

fn tenancy(store: &Arc<MemoryStore>) -> Tenancy {
    let store: Arc<dyn StateStore> = store.clone();
    Tenancy::new(store, Limits::default())
}

fn overrides(max_active_actors: u64) -> LimitOverrides {
    LimitOverrides {
        max_active_actors: Some(max_active_actors),
        ..LimitOverrides::default()
    }
}

#[tokio::test]
async fn loading_creates_the_default_tenant_once_and_keeps_it() {
    let store = Arc::new(MemoryStore::new());
    let first = tenancy(&store);
    first.load().await.unwrap();
    assert!(first.get(DEFAULT_TENANT).is_some());
    let again = tenancy(&store);
    again.load().await.unwrap();
    assert_eq!(again.list().len(), 1);
    assert!(matches!(
        first.delete(DEFAULT_TENANT, || {}).await,
        Err(TenantError::DefaultTenant)
    ));
}

#[tokio::test]
async fn tenants_and_their_limits_survive_a_reload_and_names_are_checked() {
    let store = Arc::new(MemoryStore::new());
    let tenants = tenancy(&store);
    tenants.load().await.unwrap();
    tenants.create("acme", overrides(7)).await.unwrap();
    assert!(matches!(
        tenants.create("acme", LimitOverrides::default()).await,
        Err(TenantError::Exists(_))
    ));
    assert!(matches!(
        tenants.create("$host", LimitOverrides::default()).await,
        Err(TenantError::BadName(_))
    ));
    // An update changes only what it names.
    let changed = LimitOverrides {
        max_state_bytes: Some(1024),
        ..LimitOverrides::default()
    };
    let view = tenants.update("acme", changed).await.unwrap();
    assert_eq!(view.limits.max_active_actors, 7);
    assert_eq!(view.limits.max_state_bytes, 1024);

    let reloaded = tenancy(&store);
    reloaded.load().await.unwrap();
    let acme = reloaded.view("acme").unwrap();
    assert_eq!(acme.limits.max_active_actors, 7);
    assert_eq!(acme.limits.max_state_bytes, 1024);
    assert!(matches!(
        reloaded.view("nobody"),
        Err(TenantError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_token_resolves_to_its_tenant_until_revoked_even_after_a_reload() {
    let store = Arc::new(MemoryStore::new());
    let tenants = tenancy(&store);
    tenants.load().await.unwrap();
    tenants
        .create("acme", LimitOverrides::default())
        .await
        .unwrap();
    let (id, token) = tenants.issue_token("acme").await.unwrap();
    assert_eq!(tenants.by_token(&token).as_deref(), Some("acme"));
    assert_eq!(tenants.view("acme").unwrap().tokens, vec![id.clone()]);

    let reloaded = tenancy(&store);
    reloaded.load().await.unwrap();
    assert_eq!(reloaded.by_token(&token).as_deref(), Some("acme"));
    reloaded.revoke_token("acme", &id).await.unwrap();
    assert_eq!(reloaded.by_token(&token), None);
    assert!(matches!(
        reloaded.revoke_token("acme", &id).await,
        Err(TenantError::NoSuchToken { .. })
    ));
}

#[tokio::test]
async fn ensuring_creates_only_when_allowed() {
    let store = Arc::new(MemoryStore::new());
    let tenants = tenancy(&store);
    tenants.load().await.unwrap();
    assert!(matches!(
        tenants.ensure("acme", false).await,
        Err(TenantError::NotFound(_))
    ));
    tenants.ensure("acme", true).await.unwrap();
    tenants.ensure("acme", false).await.unwrap();
    assert!(tenants.get("acme").is_some());
}

#[tokio::test]
async fn a_deleted_tenant_stops_resolving_before_its_data_goes_and_others_follow() {
    let store = Arc::new(MemoryStore::new());
    let here = tenancy(&store);
    here.load().await.unwrap();
    here.create("acme", LimitOverrides::default())
        .await
        .unwrap();
    let (_, token) = here.issue_token("acme").await.unwrap();
    // Another host sharing the store sees the tenant when it follows.
    let there = tenancy(&store);
    there.load().await.unwrap();
    assert!(there.get("acme").is_some());

    let mut resolved_while_dropping = None;
    here.delete("acme", || {
        resolved_while_dropping = Some(here.get("acme").is_some());
    })
    .await
    .unwrap();
    assert_eq!(resolved_while_dropping, Some(false));
    assert_eq!(here.by_token(&token), None);
    assert!(matches!(
        here.delete("acme", || {}).await,
        Err(TenantError::NotFound(_))
    ));

    let (changed, deleted) = there.follow().await.unwrap();
    assert_eq!((changed, deleted), (1, vec!["acme".to_string()]));
    assert!(there.get("acme").is_none());
    assert_eq!(there.by_token(&token), None);
}
