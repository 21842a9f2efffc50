//! Wasm agents calling the platform (`warren:actor/platform`): the assistant example sums
//! by invoking `Add` wherever it is offered (a Wasm container here, a connected platform),
//! relays to a process container, sends and broadcasts only when its turn commits, cannot
//! deadlock on itself, and acts as its container's user, refused when that user lacks the
//! role.

use std::time::Duration;

use serde_json::{Value, json};

use super::client::{Reply, Rp};
use super::{REQUIRE_AUTH, calculator_container, events, sample_container, sample_image};
use crate::support::{Host, eventually, guest};

/// A `PostAgentContainer` for the Wasm assistant component.
fn assistant_container() -> Value {
    json!({"image": {"imageName": "assistant"}, "arguments": {}})
}

/// Deploy `names` (example components) into the default tenant of `host`.
async fn deploy(host: &Host, names: &[&str]) {
    for name in names {
        let (status, body) = host.deploy(std::fs::read(guest(name)).unwrap()).await;
        assert_eq!(status, 201, "deploying {name}: {body}");
    }
}

/// Run one action of the assistant.
async fn assistant(rp: &Rp, action: &str, arguments: Value) -> Reply {
    rp.post(&format!("/invoke/{action}/assistant"), arguments)
        .await
}

/// A failed assistant turn: 502, its text naming `what`.
#[track_caller]
fn fails_with(reply: &Reply, what: &str) {
    reply.error(502);
    assert!(
        reply.text.contains(what),
        "{}: expected a failure naming {what:?}, got {}",
        reply.what,
        reply.text
    );
}

/// One platform with a Wasm calculator, the Wasm assistant and the Python process agent
/// (auth off): `Sum` invokes `Add` through the platform (recorded in the history with the
/// assistant as sender) and commits its state; a relayed `Double` reaches the process
/// container; bad arguments (400) and unknown actions (404) come back to the agent as the
/// platform's statuses; an invoke that reaches the assistant itself fails as a cycle at
/// once; a message or broadcast from a turn that fails is never delivered, one from a turn
/// that succeeds is; a message to nobody is refused within the turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_agent_invokes_sends_and_broadcasts_through_the_platform() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--opaca-image", &sample_image()]);
    deploy(&host, &["calculator", "assistant"]).await;
    let rp = Rp::of(&host);
    let calculator = rp.start(calculator_container()).await;
    rp.start(assistant_container()).await;
    let python = rp.start(sample_container(json!({}))).await;

    check_sum_invokes_add_through_the_platform(&rp).await;
    check_asks_get_the_platforms_answers(&rp, &calculator).await;
    check_invoking_itself_is_refused_at_once(&rp).await;
    check_messages_leave_only_with_a_committed_turn(&rp, &calculator).await;
    // The process would outlive the host, which the harness kills.
    rp.delete(&format!("/containers/{python}")).await.ok();
}

/// `Sum` invokes `Add` wherever it lives, each call recorded with the assistant as
/// sender, and commits its state.
async fn check_sum_invokes_add_through_the_platform(rp: &Rp) {
    let sum = assistant(rp, "Sum", json!({"values": [1, 2, 3, 4]})).await;
    assert_eq!(sum.ok(), 10);
    assert_eq!(assistant(rp, "LastSum", json!({})).await.ok(), 10);
    let history = rp.get("/history").await.ok();
    let from_agent: Vec<&Value> = events(&history)
        .iter()
        .filter(|e| e["route"] == "POST /invoke/Add" && e["senderId"] == "assistant")
        .collect();
    assert_eq!(
        from_agent.len(),
        4,
        "one CALL per Add, with the agent as sender: {history}"
    );
    let outcomes = events(&history)
        .iter()
        .filter(|e| e["route"] == "POST /invoke/Add" && e["eventType"] == "SUCCESS")
        .count();
    assert_eq!(outcomes, 4, "each Add answered SUCCESS: {history}");
}

/// A process container's action answers a relayed `Ask`, and the platform's refusals come
/// back to the agent as their statuses.
async fn check_asks_get_the_platforms_answers(rp: &Rp, calculator: &str) {
    let doubled = assistant(
        rp,
        "Ask",
        json!({"action": "Double", "arguments": {"x": 21}}),
    )
    .await;
    assert_eq!(doubled.ok(), 42);
    let pinned = json!({"action": "Add", "arguments": {"x": 1, "y": 2},
                        "agent": "calculator", "containerId": calculator});
    assert_eq!(assistant(rp, "Ask", pinned).await.ok(), 3);
    let bad = json!({"action": "Add", "arguments": {"x": 1.5, "y": 1}});
    fails_with(&assistant(rp, "Ask", bad).await, "400");
    let unknown = json!({"action": "Nope", "arguments": {}});
    fails_with(&assistant(rp, "Ask", unknown).await, "404");
    let elsewhere = json!({"action": "Add", "arguments": {"x": 1, "y": 2},
                           "containerId": "no-such-container"});
    fails_with(&assistant(rp, "Ask", elsewhere).await, "404");
}

/// The assistant invoking itself: a cycle, refused at once instead of a deadlock.
async fn check_invoking_itself_is_refused_at_once(rp: &Rp) {
    let itself = json!({"action": "LastSum", "agent": "assistant"});
    let started = std::time::Instant::now();
    let relayed = assistant(rp, "Ask", json!({"action": "Ask", "arguments": itself})).await;
    fails_with(&relayed, "wait on itself");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the cycle waited for the deadline"
    );
}

/// A failed turn's message and broadcast are never delivered, a committed turn's are (to
/// the Wasm and the process container alike), and a message to nobody fails the turn.
async fn check_messages_leave_only_with_a_committed_turn(rp: &Rp, calculator: &str) {
    let failing = json!({"to": "calculator", "payload": {"n": 1}, "fail": true});
    fails_with(&assistant(rp, "Tell", failing).await, "asked to fail");
    let announce_failing = json!({"to": "news", "payload": {"b": 0}, "fail": true});
    fails_with(
        &assistant(rp, "Announce", announce_failing).await,
        "asked to fail",
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rp.last_message(calculator).await,
        Value::Null,
        "a failed turn's message or broadcast was delivered"
    );
    let nobody = json!({"to": "nobody", "payload": {}});
    fails_with(&assistant(rp, "Tell", nobody).await, "404");
    let tell = json!({"to": "calculator", "payload": {"n": 2}});
    assert_eq!(assistant(rp, "Tell", tell).await.ok(), Value::Null);
    rp.wait_last_message(calculator, json!({"n": 2})).await;
    let announce = json!({"to": "news", "payload": {"b": 1}});
    assert_eq!(assistant(rp, "Announce", announce).await.ok(), Value::Null);
    rp.wait_last_message(calculator, json!({"b": 1})).await;
    let python_got = eventually(Duration::from_secs(10), || async {
        let messages = rp.post("/invoke/GetMessages", json!({})).await.ok();
        messages
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["payload"] == json!({"b": 1})))
            .then_some(messages)
    })
    .await;
    assert!(
        python_got.is_some(),
        "the process agent never got the broadcast"
    );
    let sent = events(&rp.get("/history").await.ok())
        .iter()
        .filter(|e| e["route"] == "POST /send/calculator" && e["eventType"] == "CALL")
        .count();
    assert_eq!(sent, 1, "only the committed turn's message was sent");
}

/// Two platforms: the calculator runs only on B, which A is connected to. The assistant on
/// A sums through B without knowing where Add runs, and its message reaches B's
/// calculator; with `forward` false it stops at A (404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_agent_reaches_a_connected_platform() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Host::start(dir_a.path(), &[]);
    let b = Host::start(dir_b.path(), &[]);
    deploy(&a, &["assistant"]).await;
    deploy(&b, &["calculator"]).await;
    let (rp_a, rp_b) = (Rp::of(&a), Rp::of(&b));
    rp_a.start(assistant_container()).await;
    let on_b = rp_b.start(calculator_container()).await;
    let connect = json!({"url": b.opaca_url, "connectBack": false, "token": null});
    assert_eq!(rp_a.post("/connections", connect).await.ok(), true);

    let sum = assistant(&rp_a, "Sum", json!({"values": [5, 6, 7]})).await;
    assert_eq!(sum.ok(), 18);
    let local = json!({"values": [5], "forward": false});
    fails_with(&assistant(&rp_a, "Sum", local).await, "404");
    let on_b_history = rp_b.get("/history").await.ok();
    let adds = events(&on_b_history)
        .iter()
        .filter(|e| e["route"] == "POST /invoke/Add/calculator" && e["eventType"] == "SUCCESS")
        .count();
    assert_eq!(adds, 3, "B ran each Add: {on_b_history}");

    let tell = json!({"to": "calculator", "payload": {"from": "a"}});
    assert_eq!(assistant(&rp_a, "Tell", tell).await.ok(), Value::Null);
    rp_b.wait_last_message(&on_b, json!({"from": "a"})).await;
}

/// With login required, the assistant acts as the user who started its container: it
/// works while that user has role USER or more, is refused (403) once the admin demotes
/// the user to GUEST, and once the user is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_agent_acts_as_its_containers_user() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &REQUIRE_AUTH);
    deploy(&host, &["calculator", "assistant"]).await;
    let anon = Rp::of(&host);
    let admin = anon.with_token(&anon.login("admin", "admin-pw").await);
    let carol = json!({"username": "carol", "password": "carol-pw",
                       "role": "CONTRIBUTOR", "privileges": []});
    assert_eq!(admin.post("/users", carol).await.status, 201);
    let carol = anon.with_token(&anon.login("carol", "carol-pw").await);
    admin.start(calculator_container()).await;
    carol.start(assistant_container()).await;

    let sum = assistant(&admin, "Sum", json!({"values": [2, 2]})).await;
    assert_eq!(sum.ok(), 4);

    let demoted = json!({"username": "carol", "role": "GUEST"});
    assert_eq!(admin.put("/users/carol", demoted).await.status, 200);
    let refused = assistant(&admin, "Sum", json!({"values": [2, 2]})).await;
    fails_with(&refused, "403");
    assert!(refused.text.contains("role Guest"), "{}", refused.text);
    let tell = json!({"to": "calculator", "payload": {}});
    fails_with(&assistant(&admin, "Tell", tell).await, "403");

    assert_eq!(admin.delete("/users/carol").await.status, 200);
    let gone = assistant(&admin, "Sum", json!({"values": [1]})).await;
    fails_with(&gone, "no longer exists");
}
