//! Two Warren platforms connected both ways: forwarding of invocations and messages, and
//! what each lists of the other.

use std::time::Duration;

use serde_json::json;

use super::client::Rp;
use super::{calculator_container, count_agents, deploy_calculator, events};
use crate::support::{Host, eventually};

/// Two Warren platforms connected both ways (`connectBack`): the calculator runs only on B,
/// yet invoke (with and without agent and container id), send and broadcast through A reach
/// it, A validates arguments against B's description and records a FORWARD, and B sees A as
/// the sender; `forward=false` stops at A (404); A lists B's agents with
/// `includeConnected`, and containers started or deleted on B later show through A; bad,
/// own, unreachable and repeated connections are refused; after DELETE /connections
/// neither lists the other and nothing is forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_platforms_forward_invocations_and_messages() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Host::start(dir_a.path(), &[]);
    let b = Host::start(dir_b.path(), &[]);
    deploy_calculator(&b).await;
    let (rp_a, rp_b) = (Rp::of(&a), Rp::of(&b));
    let on_b = rp_b.start(calculator_container()).await;
    rp_a.post("/invoke/Add/calculator", add_body())
        .await
        .error(404);

    connect_a_to_b(&a, &b, &rp_a, &rp_b).await;
    check_invocations_are_forwarded(&a, &b, &rp_a, &rp_b, &on_b).await;
    check_messages_are_forwarded(&rp_a, &rp_b, &on_b).await;
    check_a_lists_and_follows_bs_agents(&rp_a, &rp_b).await;
    disconnect_and_check_nothing_is_forwarded(&b, &rp_a, &rp_b).await;
}

/// The body the calculator adds to 5.
fn add_body() -> serde_json::Value {
    json!({"x": 2, "y": 3})
}

/// Bad, unreachable and own URLs are refused; A connects to B both ways, once.
async fn connect_a_to_b(a: &Host, b: &Host, rp_a: &Rp, rp_b: &Rp) {
    rp_a.post("/connections", json!({"url": "not a url"}))
        .await
        .error(400);
    rp_a.post("/connections", json!({"url": "http://127.0.0.1:1"}))
        .await
        .error(502);
    assert_eq!(
        rp_a.post("/connections", json!({"url": a.opaca_url}))
            .await
            .ok(),
        false,
        "a platform does not connect to itself"
    );
    let connect = json!({"url": b.opaca_url, "connectBack": true, "token": null});
    assert_eq!(rp_a.post("/connections", connect.clone()).await.ok(), true);
    assert_eq!(rp_a.post("/connections", connect).await.ok(), false);
    assert_eq!(rp_a.get("/connections").await.ok(), json!([b.opaca_url]));
    assert_eq!(rp_b.get("/connections").await.ok(), json!([a.opaca_url]));
    assert_eq!(
        rp_a.get("/info").await.ok()["connections"],
        json!([b.opaca_url])
    );
}

/// Invocations through A reach B's calculator (with and without agent and container id),
/// unless `forward=false`; A validates arguments and passes failures on; A records a
/// FORWARD and B sees A as the sender.
async fn check_invocations_are_forwarded(a: &Host, b: &Host, rp_a: &Rp, rp_b: &Rp, on_b: &str) {
    assert_eq!(
        rp_a.post("/invoke/Add/calculator", add_body()).await.ok(),
        5
    );
    assert_eq!(rp_a.post("/invoke/Add", add_body()).await.ok(), 5);
    assert_eq!(
        rp_a.post(
            &format!("/invoke/Add/calculator?containerId={on_b}"),
            add_body()
        )
        .await
        .ok(),
        5
    );
    rp_a.post("/invoke/Add/calculator?forward=false", add_body())
        .await
        .error(404);
    rp_a.post("/invoke/Add/calculator", json!({"x": 1.5, "y": 1}))
        .await
        .error(400);
    rp_a.post("/invoke/Nope/calculator", json!({}))
        .await
        .error(404);
    let failed = rp_a.post("/invoke/Fail/calculator", json!({})).await;
    assert!(failed.error(502)["cause"].is_object(), "{}", failed.text);
    let history = rp_a.get("/history").await.ok();
    assert!(
        events(&history)
            .iter()
            .any(|e| e["eventType"] == "FORWARD" && e["receiver"] == b.opaca_url.as_str()),
        "A records forwarding to B: {history}"
    );
    let history = rp_b.get("/history").await.ok();
    assert!(
        events(&history).iter().any(|e| e["eventType"] == "CALL"
            && e["route"] == "POST /invoke/Add/calculator"
            && e["senderId"] == a.opaca_url.as_str()),
        "B sees A as the sender: {history}"
    );
}

/// Sends and broadcasts through A reach B, unless `forward=false`.
async fn check_messages_are_forwarded(rp_a: &Rp, rp_b: &Rp, on_b: &str) {
    rp_a.post("/send/calculator", json!({"payload": "via A"}))
        .await
        .ok();
    rp_b.wait_last_message(on_b, json!("via A")).await;
    rp_a.post("/send/calculator?forward=false", json!({"payload": "lost"}))
        .await
        .error(404);
    rp_a.post("/broadcast/news", json!({"payload": "news via A"}))
        .await
        .ok();
    rp_b.wait_last_message(on_b, json!("news via A")).await;
    rp_a.post(
        "/broadcast/news?forward=false",
        json!({"payload": "stays on A"}),
    )
    .await
    .ok();
    assert_eq!(rp_b.last_message(on_b).await, "news via A");
}

/// A lists B's agents only with `includeConnected`, and learns of containers started or
/// deleted on B later.
async fn check_a_lists_and_follows_bs_agents(rp_a: &Rp, rp_b: &Rp) {
    assert_eq!(
        count_agents(&rp_a.get("/agents").await.ok(), "calculator"),
        0
    );
    let connected = rp_a.get("/agents?includeConnected=true").await.ok();
    assert_eq!(count_agents(&connected, "calculator"), 1, "{connected}");
    assert_eq!(
        rp_a.get("/agents/calculator").await.ok()["agentId"],
        "calculator"
    );
    let later = rp_b.start(calculator_container()).await;
    let later_ref = &later;
    let seen = eventually(Duration::from_secs(15), || async move {
        let path = format!("/invoke/LastMessage/calculator?containerId={later_ref}");
        (rp_a.post(&path, json!({})).await.status == 200).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "A never learnt of B's new container {later}"
    );
    let agents = rp_a.get("/agents?includeConnected=true").await.ok();
    assert_eq!(count_agents(&agents, "calculator"), 2, "{agents}");
    assert_eq!(
        rp_b.delete(&format!("/containers/{later}")).await.ok(),
        true
    );
    let forgotten = eventually(Duration::from_secs(15), || async move {
        let agents = rp_a.get("/agents?includeConnected=true").await.ok();
        (count_agents(&agents, "calculator") == 1).then_some(())
    })
    .await;
    assert!(forgotten.is_some(), "A never learnt that {later} is gone");
    rp_a.post(
        &format!("/invoke/LastMessage/calculator?containerId={later}"),
        json!({}),
    )
    .await
    .error(404);
}

/// After DELETE /connections (once) neither lists the other and A forwards nothing; B's
/// calculator still answers B.
async fn disconnect_and_check_nothing_is_forwarded(b: &Host, rp_a: &Rp, rp_b: &Rp) {
    let disconnect = json!({"url": b.opaca_url, "connectBack": true});
    assert_eq!(
        rp_a.delete_json("/connections", disconnect.clone())
            .await
            .ok(),
        true
    );
    assert_eq!(rp_a.get("/connections").await.ok(), json!([]));
    assert_eq!(rp_b.get("/connections").await.ok(), json!([]));
    assert_eq!(
        rp_a.delete_json("/connections", disconnect).await.ok(),
        false
    );
    rp_a.post("/invoke/Add/calculator", add_body())
        .await
        .error(404);
    rp_a.post("/send/calculator", json!({"payload": "after"}))
        .await
        .error(404);
    let connected = rp_a.get("/agents?includeConnected=true").await.ok();
    assert_eq!(count_agents(&connected, "calculator"), 0, "{connected}");
    assert_eq!(
        rp_b.post("/invoke/Add/calculator", add_body()).await.ok(),
        5
    );
}
