//! Misbehaving guests: traps, endless loops and memory bombs fail their own turn only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Host, guest};

pub fn hostile_host(dir: &std::path::Path, extra: &[&str]) -> Host {
    let hostile = guest("hostile");
    let counter = guest("counter");
    let mut args = vec![
        "--deploy",
        hostile.to_str().unwrap(),
        "--deploy",
        counter.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Host::start(dir, &args)
}

fn error_message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    assert_eq!(v["errorCode"], "ERR_ACTOR_INVOKE_METHOD", "{v}");
    v["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_trap_after_a_state_write_leaves_state_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let host = hostile_host(dir.path(), &[]);
    host.invoke_ok("trapper", "t", "write", "before").await;
    let (status, body) = host
        .invoke("trapper", "t", "write-then-trap", "after")
        .await;
    assert_eq!(status, 500);
    let message = error_message(&body);
    assert!(
        message.contains("trapped") && message.contains("dropped"),
        "{message}"
    );
    assert_eq!(host.invoke_ok("trapper", "t", "read", "").await, "before");
    let keep = host
        .client
        .get(format!("{}/v1.0/actors/trapper/t/state/keep", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        keep.status(),
        200,
        "the trapped turn's delete was committed"
    );
    assert_eq!(keep.text().await.unwrap(), "yes");
}

/// Keep a counter busy in the background while `attack` runs (and for at least a few
/// calls); every call must succeed.
async fn serving_during<F: std::future::Future>(host: &Host, attack: F) -> F::Output {
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, served) = (stop.clone(), served.clone());
        let (client, url) = (host.client.clone(), host.url.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) || served.load(Ordering::Relaxed) < 3 {
                let r = client
                    .post(format!("{url}/v1.0/actors/counter/bystander/method/add"))
                    .body("1")
                    .send()
                    .await
                    .expect("bystander request failed");
                assert_eq!(
                    r.status(),
                    200,
                    "bystander refused: {}",
                    r.text().await.unwrap()
                );
                served.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let out = attack.await;
    stop.store(true, Ordering::Relaxed);
    load.await.expect("bystander load failed");
    out
}

#[tokio::test]
async fn an_endless_loop_ends_at_the_deadline_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let host = hostile_host(dir.path(), &["--turn-timeout", "2s"]);
    host.invoke_ok("counter", "bystander", "get", "").await;
    let (status, body) = serving_during(&host, host.invoke("looper", "l", "spin", "")).await;
    assert_eq!(status, 500);
    let message = error_message(&body);
    assert!(
        message.contains("did not finish \"spin\" before its deadline"),
        "{message}"
    );
    // The looper itself is usable again.
    let (status, body) = host.invoke("looper", "l", "nothing", "").await;
    assert_eq!(status, 500);
    assert!(
        error_message(&body).contains("no action \"nothing\""),
        "{body}"
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_the_limit_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let host = hostile_host(dir.path(), &["--max-memory-mib", "32"]);
    host.invoke_ok("counter", "bystander", "get", "").await;
    let (status, body) = serving_during(&host, host.invoke("bomb", "b", "grow", "")).await;
    assert_eq!(status, 500);
    let message = error_message(&body);
    assert!(
        message.contains("exceeded its memory limit of 33554432 bytes"),
        "{message}"
    );
}

#[tokio::test]
async fn guest_output_is_logged_with_the_actor() {
    let dir = tempfile::tempdir().unwrap();
    let host = hostile_host(dir.path(), &[]);
    host.invoke_ok("chatty", "c7", "print", "hello from the guest")
        .await;
    // The log is read from the host's stdout by another thread: give it a moment.
    let line = crate::support::eventually(Duration::from_secs(5), || async {
        host.log()
            .lines()
            .find(|l| l.contains("hello from the guest") && l.contains("stdout"))
            .map(str::to_string)
    })
    .await
    .unwrap_or_else(|| panic!("guest output missing from the log:\n{}", host.log()));
    assert!(line.contains("actor=chatty/c7"), "{line}");
}

#[tokio::test]
async fn json_logs_carry_the_guest_output_with_its_actor() {
    let dir = tempfile::tempdir().unwrap();
    let host = hostile_host(dir.path(), &["--log-format", "json"]);
    host.invoke_ok("chatty", "j1", "print", "hello as json")
        .await;
    let line = crate::support::eventually(Duration::from_secs(5), || async {
        host.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["stream"] == "stdout" && l["message"] == "hello as json")
    })
    .await
    .unwrap_or_else(|| panic!("no JSON line of the guest's output:\n{}", host.log()));
    assert_eq!(line["actor"], "chatty/j1", "{line}");
    assert_eq!(line["target"], "warren::guest", "{line}");
    // Every line the host wrote is one JSON object.
    for l in host.log().lines() {
        assert!(serde_json::from_str::<serde_json::Value>(l).is_ok(), "{l}");
    }
}

#[tokio::test]
async fn actor_calls_cycles_and_casts() {
    let dir = tempfile::tempdir().unwrap();
    let host = hostile_host(dir.path(), &[]);
    // A call through another actor.
    let req = r#"{"type":"counter","id":"via","action":"add","payload":4}"#;
    assert_eq!(host.invoke_ok("caller", "a", "call", req).await, "4");
    // A call back to itself fails fast instead of waiting forever.
    let req = r#"{"type":"caller","id":"self","action":"count","payload":null}"#;
    let (status, body) = host.invoke("caller", "self", "call", req).await;
    assert_eq!(status, 500);
    assert!(body.contains("would wait on itself"), "{body}");
    // A cast is delivered after the casting turn commits.
    let req = r#"{"type":"counter","id":"casted","action":"add","payload":2}"#;
    host.invoke_ok("caller", "b", "cast", req).await;
    assert_eq!(host.invoke_ok("caller", "b", "count", "").await, "1");
    let delivered = crate::support::eventually(Duration::from_secs(5), || async {
        (host.invoke_ok("counter", "casted", "get", "").await == "2").then_some(())
    })
    .await;
    assert!(delivered.is_some(), "cast never arrived");
}
