//! Instances kept for their actors between turns live within a memory budget, the host's
//! and each tenant's: Python actors keep theirs by default, more actors than fit still
//! get every turn right (the least recently used instances are dropped and their actors
//! start fresh), and `warren status`'s view shows the budget and its use. Identical
//! components of different tenants share their code.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::Host;
use crate::tenancy::{ADMIN, admin_host};

/// The kept-instance figures of the host's status.
async fn kept(host: &Host) -> (u64, u64, u64, u64) {
    let (status, text) = host
        .call(Method::GET, "/admin/v1/status", Some(ADMIN), Vec::new())
        .await;
    assert_eq!(status, 200, "{text}");
    let view: Value = serde_json::from_str(&text).unwrap();
    let field = |name: &str| {
        view[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: {view}"))
    };
    (
        field("kept_instances"),
        field("kept_memory_bytes"),
        field("kept_memory_budget_bytes"),
        field("kept_evictions"),
    )
}

/// One `add 1` to each of `ids`, all at once, as `token`; every one must succeed.
async fn add_to_each(host: &Host, token: &str, ids: &[String]) {
    let actors: Vec<String> = ids.iter().map(|id| format!("counter/{id}")).collect();
    let calls = actors
        .iter()
        .map(|actor| host.invoke_as(token, actor, "add", "1"));
    for ((status, body), id) in join_all(calls).await.into_iter().zip(ids) {
        assert_eq!(status, 200, "{id}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_instances_stay_within_the_budget_and_every_turn_stays_right() {
    const BUDGET_MIB: u64 = 8;
    let dir = tempfile::tempdir().unwrap();
    let budget = BUDGET_MIB.to_string();
    let host = admin_host(dir.path(), &["--kept-memory-mib", &budget]);
    let t = host.tenant("t", json!({})).await;
    host.deploy_as(&t, "counter_py").await;

    // With the default flags a Python actor keeps its instance, charged what it made
    // resident: a few MiB at most, not its whole linear memory.
    add_to_each(&host, &t, &["first".to_string()]).await;
    let (instances, bytes, budget_bytes, _) = kept(&host).await;
    assert_eq!(instances, 1);
    assert_eq!(budget_bytes, BUDGET_MIB << 20);
    assert!(
        (100 << 10..4 << 20).contains(&bytes),
        "one Python instance charged {bytes} bytes"
    );

    // Far more actors than fit, four rounds, each round's calls at once.
    let ids: Vec<String> = (0..16).map(|i| format!("a{i}")).collect();
    for round in 1..=4 {
        add_to_each(&host, &t, &ids).await;
        let (instances, bytes, _, _) = kept(&host).await;
        assert!(
            bytes <= BUDGET_MIB << 20,
            "round {round}: {bytes} bytes kept"
        );
        assert!(
            (1..16).contains(&instances),
            "round {round}: {instances} kept"
        );
    }
    let (_, _, _, evictions) = kept(&host).await;
    assert!(evictions > 0, "nothing was evicted");
    for id in &ids {
        let (status, total) = host
            .invoke_as(&t, &format!("counter/{id}"), "get", "")
            .await;
        assert_eq!((status, total.as_str()), (200, "4"), "{id}");
    }
}

/// A tenant's kept instances and their charge, as the admin API shows the tenant.
async fn kept_by(host: &Host, tenant: &str) -> (u64, u64) {
    let path = format!("/admin/v1/tenants/{tenant}");
    let (status, text) = host.call(Method::GET, &path, Some(ADMIN), Vec::new()).await;
    assert_eq!(status, 200, "{text}");
    let view: Value = serde_json::from_str(&text).unwrap();
    let kept = &view["kept"];
    (
        kept["instances"].as_u64().unwrap(),
        kept["bytes"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_kept_budget_drops_only_its_own_instances() {
    let dir = tempfile::tempdir().unwrap();
    let host = admin_host(dir.path(), &[]);
    let big = host.tenant("big", json!({})).await;
    host.deploy_as(&big, "counter_py").await;
    let others: Vec<String> = (0..3).map(|i| format!("o{i}")).collect();
    add_to_each(&host, &big, &others).await;
    let (instances, bytes) = kept_by(&host, "big").await;
    assert_eq!(instances, 3);
    let one = bytes / 3;

    // A tenant whose budget holds about one and a half such instances.
    let budget = one * 3 / 2;
    let small = host
        .tenant("small", json!({"max_kept_memory_bytes": budget}))
        .await;
    host.deploy_as(&small, "counter_py").await;
    let ids: Vec<String> = (0..3).map(|i| format!("s{i}")).collect();
    for id in &ids {
        add_to_each(&host, &small, std::slice::from_ref(id)).await;
        let (_, bytes) = kept_by(&host, "small").await;
        assert!(bytes <= budget, "small holds {bytes} of {budget} bytes");
    }
    let (instances, _) = kept_by(&host, "small").await;
    assert!((1..3).contains(&instances), "small keeps {instances}");
    let (_, _, _, evictions) = kept(&host).await;
    assert_eq!(evictions, 3 - instances, "only small's own were dropped");
    assert_eq!(
        kept_by(&host, "big").await,
        (3, bytes),
        "big's stay as they were"
    );

    // Every turn is still right, on both sides.
    add_to_each(&host, &small, &ids).await;
    add_to_each(&host, &big, &others).await;
    for (token, id) in ids
        .iter()
        .map(|i| (&small, i))
        .chain(others.iter().map(|i| (&big, i)))
    {
        let (_, total) = host
            .invoke_as(token, &format!("counter/{id}"), "get", "")
            .await;
        assert_eq!(total, "2", "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_components_of_different_tenants_share_their_code() {
    let dir = tempfile::tempdir().unwrap();
    let host = admin_host(dir.path(), &[]);
    let mut tokens = Vec::new();
    for i in 0..4 {
        let token = host.tenant(&format!("t{i}"), json!({})).await;
        host.deploy_as(&token, "counter_py").await;
        add_to_each(&host, &token, &["a".to_string()]).await;
        tokens.push(token);
    }
    let (status, text) = host
        .call(Method::GET, "/admin/v1/stats", Some(ADMIN), Vec::new())
        .await;
    assert_eq!(status, 200, "{text}");
    let stats: Value = serde_json::from_str(&text).unwrap();
    // Compiled once; the other three loads took the code already loaded, not the cache.
    assert_eq!(stats["components_compiled"], 1, "{stats}");
    assert_eq!(stats["artifact_cache_hits"], 0, "{stats}");

    // Removing one tenant's component leaves the others serving.
    let (status, text) = host
        .call(
            Method::DELETE,
            "/admin/v1/components/counter",
            Some(&tokens[0]),
            Vec::new(),
        )
        .await;
    assert_eq!(status, 204, "{text}");
    for token in &tokens[1..] {
        let (status, total) = host.invoke_as(token, "counter/a", "add", "1").await;
        assert_eq!((status, total.as_str()), (200, "2"));
    }
    let (status, _) = host.invoke_as(&tokens[0], "counter/a", "get", "").await;
    assert_ne!(status, 200);
}
