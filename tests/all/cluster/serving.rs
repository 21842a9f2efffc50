//! Several hosts serve one actor space: exact totals, one activation per actor, state in
//! SQL, reminders on the owner, components, tenant quotas, configuration and egress policy
//! shared by every host.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use warren_host::store::partition_of;
use warren_host::types::ActorId;

use super::{TestCluster, host_id, owned_by_in, owners};
use crate::support::{Host, eventually, guest};

#[tokio::test]
async fn three_hosts_serve_one_actor_space_with_exact_totals() {
    let TestCluster {
        url: _url,
        db,
        dirs: _dirs,
        hosts,
    } = TestCluster::start(3, &[]).await;
    add_through_every_host(&hosts).await;
    assert_each_actor_active_on_one_host(&hosts).await;
    assert_state_rows_in_sql(&db).await;
    assert_a_reminder_fires_on_its_owner(&db, &hosts).await;
    assert_a_component_deployed_once_runs_everywhere(&hosts).await;
}

/// 20 actors, 15 adds each, sent through all three hosts at once; each host reads 15.
async fn add_through_every_host(hosts: &[Host]) {
    let adds = (0..300).map(|i| {
        let host = &hosts[i % 3];
        let id = format!("c{}", i % 20);
        async move { host.invoke("counter", &id, "add", "1").await }
    });
    for (status, body) in futures::future::join_all(adds).await {
        assert_eq!(status, 200, "{body}");
    }
    for host in hosts {
        for i in 0..20 {
            assert_eq!(
                host.invoke_ok("counter", &format!("c{i}"), "get", "").await,
                "15"
            );
        }
    }
}

/// Each actor is active on one host only: its owner.
async fn assert_each_actor_active_on_one_host(hosts: &[Host]) {
    let mut active = HashMap::new();
    for (n, host) in hosts.iter().enumerate() {
        let ids = host.get_json("/v1.0/actors/counter").await;
        for id in ids.as_array().into_iter().flatten() {
            let before = active.insert(id.as_str().unwrap().to_string(), n);
            assert!(before.is_none(), "{id} active on hosts {before:?} and {n}");
        }
    }
    assert_eq!(active.len(), 20, "{active:?}");
}

/// State is queryable with SQL, one row per key, with the actor's version.
async fn assert_state_rows_in_sql(db: &tokio_postgres::Client) {
    let rows = db
        .query(
            "SELECT actor_id, version FROM warren_actor_state
             WHERE tenant = 'default' AND actor_type = 'counter'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r.get::<_, i64>(1) == 15));
}

/// A reminder set through one host for an actor another owns fires on the owner.
async fn assert_a_reminder_fires_on_its_owner(db: &tokio_postgres::Client, hosts: &[Host]) {
    let (owners, _) = owners(db).await;
    let ticker = (0..100)
        .map(|i| ActorId::new("default", "ticker", &format!("t{i}")))
        .find(|a| owners[partition_of(a) as usize].is_some())
        .unwrap();
    let (status, body) = hosts[0]
        .register(
            "reminders",
            &format!("ticker/{}", ticker.id),
            "ring",
            json!({"dueTime": "1s"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let fired = eventually(Duration::from_secs(10), || async {
        (hosts[2].fired(&ticker.id, "ring").await == 1).then_some(())
    })
    .await;
    assert!(fired.is_some(), "the reminder did not fire");
}

/// A component deployed through one host runs on every host.
async fn assert_a_component_deployed_once_runs_everywhere(hosts: &[Host]) {
    let (status, body) = hosts[1].deploy(std::fs::read(guest("bank")).unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let everywhere = eventually(Duration::from_secs(20), || async {
        for host in hosts {
            let components = host.get_json("/admin/v1/components").await;
            if !components.to_string().contains("\"bank\"") {
                return None;
            }
        }
        Some(())
    })
    .await;
    assert!(
        everywhere.is_some(),
        "the component did not reach every host"
    );
    for host in hosts {
        let (status, body) = host.invoke("account", "acme", "deposit", "5").await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        hosts[0].invoke_ok("account", "acme", "balance", "").await,
        "15"
    );
}

#[tokio::test]
async fn dapr_python_sdk_reaches_actors_through_any_host() {
    let TestCluster {
        url: _url,
        db: _,
        dirs: _dirs,
        hosts,
    } = TestCluster::start(2, &[]).await;
    // The same client script as against one host; half of its actors live on the other.
    crate::support::run_client(crate::support::python("wasm_client.py"), &hosts[1]);
}

/// A tenant's state quota holds across hosts: the usage one host's commits add is read by
/// the others at their next heartbeat, so a write through another host that would pass
/// the quota is refused there.
#[tokio::test]
async fn a_tenant_state_quota_holds_across_hosts() {
    use crate::tenancy::ADMIN;
    let cluster = TestCluster::start(2, &["--admin-token", ADMIN]).await;
    let (db, hosts) = (&cluster.db, &cluster.hosts);
    let token = hosts[0].tenant("q", json!({"max_state_bytes": 1000})).await;
    hosts[0].deploy_as(&token, "hostile").await;
    let mut actors = Vec::new();
    for host in hosts.iter().take(2) {
        let actor = owned_by_in(db, "q", "glutton", &host_id(host)).await;
        actors.push(format!("glutton/{}", actor.id));
    }
    let fill = |bytes: u64| json!({"key": "k", "bytes": bytes}).to_string();
    // 600 bytes on host 0's actor ("k" and 599).
    let (status, text) = hosts[0]
        .invoke_as(&token, &actors[0], "fill", &fill(599))
        .await;
    assert_eq!(status, 200, "{text}");
    // Host 1 learns of the tenant, its component and its usage within a heartbeat or two.
    let seen = eventually(Duration::from_secs(10), || async {
        let get = |path| hosts[1].call(reqwest::Method::GET, path, Some(&token), Vec::new());
        let (_, usage) = get("/admin/v1/tenants/q").await;
        let (_, components) = get("/admin/v1/components").await;
        let usage: serde_json::Value = serde_json::from_str(&usage).unwrap_or_default();
        (usage["state_bytes"] == 600 && components.contains("hostile")).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "host 1 never saw the tenant's usage and component"
    );
    let (status, text) = hosts[1]
        .invoke_as(&token, &actors[1], "fill", &fill(499))
        .await;
    assert_eq!(status, 507, "{text}");
    assert!(text.contains("limit of 1000 state bytes"), "{text}");
    let (status, text) = hosts[1]
        .invoke_as(&token, &actors[1], "fill", &fill(299))
        .await;
    assert_eq!(status, 200, "{text}");
}

/// A configuration value set through one host is kept with the tenant in PostgreSQL and
/// reaches the turns another host runs, without a redeploy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_set_on_one_host_reaches_turns_on_another() {
    use crate::tenancy::ADMIN;
    let cluster = TestCluster::start(2, &["--admin-token", ADMIN]).await;
    let (db, hosts) = (&cluster.db, &cluster.hosts);
    let token = hosts[0].tenant("cfg", json!({})).await;
    hosts[0].deploy_as(&token, "configured").await;
    let reader = owned_by_in(db, "cfg", "reader", &host_id(&hosts[1])).await;
    let reader = format!("reader/{}", reader.id);
    let body = json!({"value": "eu-west", "secret": false}).to_string();
    let path = "/admin/v1/components/configured/config/region";
    let (status, text) = hosts[0]
        .call(reqwest::Method::PUT, path, Some(&token), body.into_bytes())
        .await;
    assert_eq!(status, 200, "{text}");
    let seen = eventually(Duration::from_secs(15), || async {
        let (status, text) = hosts[1]
            .invoke_as(&token, &reader, "get", r#""region""#)
            .await;
        (status == 200 && text == r#""eu-west""#).then_some(())
    })
    .await;
    assert!(seen.is_some(), "host 1's turns never saw the value");
}

/// A tenant's egress policy set through one host is kept with the tenant in PostgreSQL and
/// lets the actors another host runs out, to what it allows and nowhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_egress_policy_set_on_one_host_holds_on_another() {
    use crate::tenancy::ADMIN;
    let (port, upstream) = crate::egress::upstream().await;
    let cluster = TestCluster::start(2, &["--admin-token", ADMIN]).await;
    let (db, hosts) = (&cluster.db, &cluster.hosts);
    let token = hosts[0].tenant("out", json!({})).await;
    hosts[0].deploy_as(&token, "fetcher").await;
    let fetcher = owned_by_in(db, "out", "fetcher", &host_id(&hosts[1])).await;
    let fetcher = format!("fetcher/{}", fetcher.id);
    let hello = json!({"url": format!("http://127.0.0.1:{port}/hello")}).to_string();
    // The fetcher's answer, or null while host 1 does not know the component yet.
    let fetch = || async {
        let (status, text) = hosts[1].invoke_as(&token, &fetcher, "fetch", &hello).await;
        let answer = serde_json::from_str(&text).unwrap_or_default();
        if status == 200 {
            answer
        } else {
            serde_json::Value::Null
        }
    };
    // No pattern yet: refused on host 1, nothing sent.
    let refused = eventually(Duration::from_secs(15), || async {
        let answer = fetch().await;
        (answer["error"] == "HttpRequestDenied").then_some(())
    })
    .await;
    assert!(refused.is_some(), "host 1 never ran the fetcher");
    assert_eq!(upstream.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    let policy = json!({"allowed_outbound_hosts": [format!("http://127.0.0.1:{port}")]});
    let (status, text) = hosts[0]
        .call(
            reqwest::Method::PATCH,
            "/admin/v1/tenants/out",
            Some(ADMIN),
            policy.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let allowed = eventually(Duration::from_secs(15), || async {
        let answer = fetch().await;
        (answer["status"] == 200 && answer["body"] == "hello from upstream").then_some(())
    })
    .await;
    assert!(allowed.is_some(), "host 1 never let the fetch out");
    let hits = upstream.hits.load(std::sync::atomic::Ordering::SeqCst);
    let elsewhere = json!({"url": format!("http://localhost:{port}/hello")}).to_string();
    let (status, text) = hosts[1]
        .invoke_as(&token, &fetcher, "fetch", &elsewhere)
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("HttpRequestDenied"), "{text}");
    assert_eq!(
        upstream.hits.load(std::sync::atomic::Ordering::SeqCst),
        hits
    );
}
