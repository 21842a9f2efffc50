//! Versions of a component: every deploy kept, rollback and roll forward under a running
//! load, state migrated by `on-upgrade` (and kept when it fails), canaries, and guests
//! built without `on-upgrade`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Host, guest};

fn wasm(name: &str) -> Vec<u8> {
    std::fs::read(guest(name)).unwrap()
}

/// Send `method` to `path` with the query `query`; the status and the JSON answer.
async fn admin(host: &Host, method: reqwest::Method, path: &str, query: &str) -> (u16, Value) {
    let response = host
        .client
        .request(method, format!("{}{path}?{query}", host.url))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn deploy_canary(host: &Host, wasm: Vec<u8>, percent: u8) -> (u16, Value) {
    host.deploy_with(&format!("canary={percent}"), wasm).await
}

/// A tally's answer: the version that served the turn and the total.
async fn tally(host: &Host, id: &str, action: &str, body: &str) -> (String, i64) {
    let reply: Value = serde_json::from_str(&host.invoke_ok("tally", id, action, body).await)
        .expect("a tally answers JSON");
    (
        reply["version"].as_str().unwrap().to_string(),
        reply["total"].as_i64().unwrap(),
    )
}

async fn state_key(host: &Host, id: &str, key: &str) -> Option<String> {
    let response = host
        .get(&format!("/v1.0/actors/tally/{id}/state/{key}"))
        .await;
    match response.status().as_u16() {
        200 => Some(response.text().await.unwrap()),
        204 => None,
        other => panic!("reading {id}/{key}: {other}"),
    }
}

/// One turn of the load: which version served it, the total it saw, and when it ran
/// relative to the test's start.
struct Served {
    version: String,
    total: i64,
    started: Duration,
    ended: Duration,
}

#[tokio::test]
async fn rolling_forward_and_back_under_load_fails_no_turn_and_migrates_state_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let host = Arc::new(Host::start(dir.path(), &[]));
    let (status, first) = host.deploy(wasm("tally")).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["number"], 1);

    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|i| tokio::spawn(load(host.clone(), format!("load{i}"), start, stop.clone())))
        .collect();
    let rollout = roll_forward_and_back(&host, start).await;
    stop.store(true, Ordering::Relaxed);

    for worker in workers {
        let (id, served, failed) = worker.await.unwrap();
        check_the_turns_of_one_actor(&host, &rollout, &id, &served, &failed).await;
    }
    check_both_deploys_are_kept(&host).await;
    check_the_code_version_record_is_the_hosts(&host).await;
}

/// When the deploy of version 2 and the rollback to version 1 happened, since the start.
struct Rollout {
    forward_done: Duration,
    back_started: Duration,
    back_done: Duration,
}

/// Adds 1 to tally `id` until `stop`: the actor, the turns served, and the failures.
async fn load(
    host: Arc<Host>,
    id: String,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> (String, Vec<Served>, Vec<String>) {
    let mut served = Vec::new();
    let mut failed = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = start.elapsed();
        let (status, body) = host.invoke("tally", &id, "add", "1").await;
        let ended = start.elapsed();
        if status != 200 {
            failed.push(format!("{status} {body}"));
            continue;
        }
        let reply: Value = serde_json::from_str(&body).unwrap();
        served.push(Served {
            version: reply["version"].as_str().unwrap().to_string(),
            total: reply["total"].as_i64().unwrap(),
            started,
            ended,
        });
    }
    (id, served, failed)
}

/// 400 ms into the load, deploy version 2; 400 ms later roll back to version 1; return
/// after 400 ms more.
async fn roll_forward_and_back(host: &Host, start: Instant) -> Rollout {
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, second) = host.deploy(wasm("tally_v2")).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["number"], 2);
    assert_eq!(second["version"], "2.0.0");
    let forward_done = start.elapsed();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let back_started = start.elapsed();
    let (status, back) = admin(
        host,
        reqwest::Method::PUT,
        "/admin/v1/components/tally/current",
        "version=1",
    )
    .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["number"], 1);
    assert_eq!(back["version"], "1.0.0");
    let back_done = start.elapsed();
    tokio::time::sleep(Duration::from_millis(400)).await;
    Rollout {
        forward_done,
        back_started,
        back_done,
    }
}

/// No turn of actor `id` failed, each counted once, the version switched exactly at the
/// deploy and at the rollback, and the state is back in version 1's shape.
async fn check_the_turns_of_one_actor(
    host: &Host,
    rollout: &Rollout,
    id: &str,
    served: &[Served],
    failed: &[String],
) {
    assert!(failed.is_empty(), "{id}: failed turns {failed:?}");
    assert!(served.len() > 10, "{id}: only {} turns", served.len());
    for (n, turn) in served.iter().enumerate() {
        // Every add is counted once, whichever version ran it and whichever way the
        // state was migrated in between.
        assert_eq!(turn.total, n as i64 + 1, "{id}: turn {n} saw a wrong total");
        assert!(
            turn.version == "1.0.0" || turn.version == "2.0.0",
            "{}",
            turn.version
        );
        if turn.started > rollout.forward_done && turn.ended < rollout.back_started {
            assert_eq!(turn.version, "2.0.0", "{id}: turn {n} after the deploy");
        }
        if turn.started > rollout.back_done {
            assert_eq!(turn.version, "1.0.0", "{id}: turn {n} after the rollback");
        }
    }
    let versions: Vec<&str> = served.iter().map(|t| t.version.as_str()).collect();
    let mut switches = versions.windows(2).filter(|w| w[0] != w[1]);
    assert_eq!(switches.next(), Some(&["1.0.0", "2.0.0"][..]), "{id}");
    assert_eq!(switches.next(), Some(&["2.0.0", "1.0.0"][..]), "{id}");
    assert_eq!(switches.next(), None, "{id}: {versions:?}");

    // Back in version 1's shape, through the Dapr state API.
    let total = state_key(host, id, "total").await;
    assert_eq!(total, Some(served.len().to_string()), "{id}");
    assert_eq!(state_key(host, id, "tally").await, None, "{id}");
}

/// Both deploys are kept, with who, when and what they described.
async fn check_both_deploys_are_kept(host: &Host) {
    let versions = host.get_json("/admin/v1/components/tally/versions").await;
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[0]["number"], 1);
    assert_eq!(versions[0]["current"], true);
    assert_eq!(versions[1]["number"], 2);
    assert_eq!(versions[1]["current"], false);
    assert_eq!(versions[1]["version"], "2.0.0");
    assert_eq!(versions[1]["manifest"]["actor_types"][0]["name"], "tally");
    assert_eq!(versions[1]["deployed_by"], "no token");
    assert_ne!(versions[0]["sha256"], versions[1]["sha256"]);
}

/// The host's record of which version wrote the state is not the actor's: not listed
/// with its state, and not writable through the Dapr state API.
async fn check_the_code_version_record_is_the_hosts(host: &Host) {
    let view = host.get_json("/admin/v1/actors/tally/load0").await;
    let keys: Vec<&str> = view["state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["total"], "{view}");
    let response = host
        .client
        .post(format!("{}/v1.0/actors/tally/load0/state", host.url))
        .body(
            r#"[{"operation":"upsert","request":{"key":"\u0001warren.code-version","value":"x"}}]"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_failing_on_upgrade_keeps_the_old_state_and_is_retried_by_the_next_turn() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    assert_eq!(host.deploy(wasm("tally")).await.0, 201);
    assert_eq!(tally(&host, "good", "add", "2").await, ("1.0.0".into(), 2));
    assert_eq!(tally(&host, "bad", "add", "5").await, ("1.0.0".into(), 5));
    tally(&host, "bad", "poison", "").await;

    let (status, info) = host.deploy(wasm("tally_v2")).await;
    assert_eq!(status, 201, "{info}");

    // Migrated on its first turn under version 2: the new shape, the same total.
    assert_eq!(tally(&host, "good", "get", "").await, ("2.0.0".into(), 2));
    assert_eq!(
        state_key(&host, "good", "tally").await.as_deref(),
        Some(r#"{"total":2,"adds":0}"#)
    );
    assert_eq!(state_key(&host, "good", "total").await, None);

    // The poisoned actor's migration traps: the turn fails and says why, the state stays
    // as version 1 wrote it, and so it does on the next try.
    for _ in 0..2 {
        let (status, body) = host.invoke("tally", "bad", "add", "1").await;
        assert_eq!(status, 500, "{body}");
        assert!(
            body.contains("on-upgrade from version 1.0.0 to 2.0.0 trapped"),
            "{body}"
        );
        assert_eq!(state_key(&host, "bad", "total").await.as_deref(), Some("5"));
        assert_eq!(state_key(&host, "bad", "tally").await, None);
    }
    assert!(
        host.logged(
            "turn under a new version failed; the actor keeps the state its old version wrote"
        )
        .await,
        "the failed migration is not logged"
    );

    // Back to version 1: the poisoned actor never left its shape (no migration runs); the
    // migrated one is converted back by version 1's own on-upgrade.
    let (status, back) = admin(
        &host,
        reqwest::Method::PUT,
        "/admin/v1/components/tally/current",
        "version=1",
    )
    .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(tally(&host, "bad", "add", "1").await, ("1.0.0".into(), 6));
    assert_eq!(tally(&host, "good", "add", "1").await, ("1.0.0".into(), 3));

    // A version that is not kept, and a version the component does not have.
    let (status, err) = admin(
        &host,
        reqwest::Method::PUT,
        "/admin/v1/components/tally/current",
        "version=9",
    )
    .await;
    assert_eq!(status, 404, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("no version 9"),
        "{err}"
    );
    let (status, err) = admin(
        &host,
        reqwest::Method::PUT,
        "/admin/v1/components/nothing/current",
        "version=1",
    )
    .await;
    assert_eq!(status, 404, "{err}");
}

#[tokio::test]
async fn a_canary_serves_its_share_of_actors_across_restarts_until_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::start(dir.path(), &[]);
    start_a_canary_of_30_percent(&host).await;

    let ids: Vec<String> = (0..60).map(|i| format!("c{i}")).collect();
    check_the_canary_serves_its_share(&host, &ids).await;
    // The canary is stored: a restarted host routes the same actors the same way.
    host.restart();
    for id in &ids {
        let want = if on_canary(id) { "2.0.0" } else { "1.0.0" };
        assert_eq!(tally(&host, id, "add", "1").await, (want.into(), 2), "{id}");
    }
    check_promotion_moves_everyone_to_2(&host, &ids).await;
    check_a_stopped_canary_leaves_everyone_on_2(&host, &ids).await;
    check_only_old_versions_can_be_deleted(&host).await;
}

/// Whether tally `id` hashes into a 30 % canary's share.
fn on_canary(id: &str) -> bool {
    warren_host::runtime::canary_bucket("tally", id) < 30
}

/// A canary needs a current version to run beside and a share below 100 %; then version
/// 2 of tally becomes a canary for 30 % of the actors.
async fn start_a_canary_of_30_percent(host: &Host) {
    // Nothing runs yet to be a canary beside.
    let (status, err) = deploy_canary(host, wasm("tally_v2"), 30).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(host.deploy(wasm("tally")).await.0, 201);
    let (status, err) = deploy_canary(host, wasm("tally_v2"), 100).await;
    assert_eq!(status, 400, "{err}");

    let (status, info) = deploy_canary(host, wasm("tally_v2"), 30).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["number"], 1, "the current version stays: {info}");
    assert_eq!(info["canary"]["number"], 2, "{info}");
    assert_eq!(info["canary"]["percent"], 30, "{info}");
}

/// Exactly the ids that hash into the share get version 2, on every turn; the canary's
/// version is listed with its share and cannot be deleted while it runs.
async fn check_the_canary_serves_its_share(host: &Host, ids: &[String]) {
    let expected = ids.iter().filter(|id| on_canary(id)).count();
    assert!(expected > 5 && expected < 35, "{expected} of 60");
    for id in ids {
        let want = if on_canary(id) { "2.0.0" } else { "1.0.0" };
        assert_eq!(tally(host, id, "add", "1").await.0, want, "{id}");
    }
    let versions = host.get_json("/admin/v1/components/tally/versions").await;
    assert_eq!(versions[1]["canary_percent"], 30, "{versions}");
    let (status, err) = admin(
        host,
        reqwest::Method::DELETE,
        "/admin/v1/components/tally/versions/2",
        "",
    )
    .await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("running canary"),
        "{err}"
    );
}

/// Promoted: everyone on version 2, migrated on their first turn there.
async fn check_promotion_moves_everyone_to_2(host: &Host, ids: &[String]) {
    let (status, promoted) = admin(
        host,
        reqwest::Method::POST,
        "/admin/v1/components/tally/canary/promote",
        "",
    )
    .await;
    assert_eq!(status, 200, "{promoted}");
    assert_eq!(promoted["number"], 2);
    assert!(promoted.get("canary").is_none(), "{promoted}");
    for id in ids {
        assert_eq!(
            tally(host, id, "add", "1").await,
            ("2.0.0".into(), 3),
            "{id}"
        );
    }
}

/// Version 1 back as a canary for half, then stopped: everyone on version 2 again, and
/// there is no canary left to stop.
async fn check_a_stopped_canary_leaves_everyone_on_2(host: &Host, ids: &[String]) {
    let (status, info) = deploy_canary(host, wasm("tally"), 50).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["canary"]["number"], 3);
    let (status, stopped) = admin(
        host,
        reqwest::Method::DELETE,
        "/admin/v1/components/tally/canary",
        "",
    )
    .await;
    assert_eq!(status, 200, "{stopped}");
    for id in ids.iter().take(10) {
        assert_eq!(tally(host, id, "get", "").await.0, "2.0.0", "{id}");
    }
    let (status, _) = admin(
        host,
        reqwest::Method::DELETE,
        "/admin/v1/components/tally/canary",
        "",
    )
    .await;
    assert_eq!(status, 404);
}

/// Old versions can go; the current one cannot.
async fn check_only_old_versions_can_be_deleted(host: &Host) {
    let delete = |n: u64| {
        let path = format!("/admin/v1/components/tally/versions/{n}");
        async move { admin(host, reqwest::Method::DELETE, &path, "").await.0 }
    };
    assert_eq!(delete(1).await, 204);
    assert_eq!(delete(1).await, 404);
    assert_eq!(delete(2).await, 409);
    let versions = host.get_json("/admin/v1/components/tally/versions").await;
    let numbers: Vec<u64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 3]);
}

#[tokio::test]
async fn a_guest_without_on_upgrade_loads_and_keeps_its_state_across_versions() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let (status, info) = host.deploy(wasm("legacy")).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(host.invoke_ok("legacy", "x", "count", "").await, "1");
    assert_eq!(host.invoke_ok("legacy", "x", "count", "").await, "2");
    // Deployed again: a new version of the same code, still no on-upgrade to call.
    let (status, info) = host.deploy(wasm("legacy")).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["number"], 2);
    assert_eq!(host.invoke_ok("legacy", "x", "count", "").await, "3");
}
