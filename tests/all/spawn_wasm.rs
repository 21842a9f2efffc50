//! Wasm components as Spawn actors: the newsroom example's manifest gives Spawn's
//! settings (activation hook, timer action, channel), and its turns use Spawn's workflow
//! (broadcast, pipe, forward) through the `workflow` import.

use std::time::Duration;

use serde_json::{Value, json};

use crate::spawn_harness::*;
use crate::support::{Host, eventually, guest};

async fn newsroom() -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let (status, info) = host.deploy(std::fs::read(guest("newsroom")).unwrap()).await;
    assert_eq!(status, 201, "{info}");
    (dir, host)
}

async fn spawn_call(host: &Host, actor_type: &str, id: &str, action: &str, value: &str) -> Value {
    let mut call = request("default", id, action).spawning(actor_type);
    if !value.is_empty() {
        call = call.with_value(json_any(value));
    }
    reply_json(&invoke_ok(host, &call).await)
}

/// The activation hook runs once per activation, before the first message, and the timer
/// action fires every 100 ms while the actor is active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_hook_and_timer_action_of_a_wasm_actor() {
    let (_dir, host) = newsroom().await;
    assert_eq!(
        spawn_call(&host, "reader", "r1", "inits", "").await,
        json!(1)
    );
    assert_eq!(
        spawn_call(&host, "reader", "r1", "inits", "").await,
        json!(1)
    );
    let ticked = eventually(Duration::from_secs(5), || async {
        let ticks: i64 = host
            .invoke_ok("reader", "r1", "ticks", "")
            .await
            .parse()
            .ok()?;
        (ticks >= 3).then_some(ticks)
    })
    .await;
    assert!(ticked.is_some(), "the timer action did not fire 3 times");
}

/// A Wasm editor's broadcast reaches every active reader on the channel; a reader that was
/// not active when it was sent does not hear it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_broadcast_reaches_every_active_subscriber() {
    let (_dir, host) = newsroom().await;
    for reader in ["r1", "r2"] {
        assert_eq!(
            spawn_call(&host, "reader", reader, "heard", "").await,
            json!([])
        );
    }
    let echoed = spawn_call(&host, "editor", "e1", "publish", "\"extra!\"").await;
    assert_eq!(echoed, json!("extra!"));
    for reader in ["r1", "r2"] {
        let heard = eventually(Duration::from_secs(5), || async {
            let heard = host.invoke_ok("reader", reader, "heard", "").await;
            (heard == r#"["extra!"]"#).then_some(())
        })
        .await;
        assert!(heard.is_some(), "{reader} did not hear the news");
    }
    assert_eq!(host.invoke_ok("reader", "r3", "heard", "").await, "[]");
}

/// `pipe` hands the editor's reply (its input doubled) to its tally and `forward` hands on
/// its input; either way the caller, over Spawn or Dapr, gets the tally's reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_actor_pipes_and_forwards_to_another() {
    let (_dir, host) = newsroom().await;
    assert_eq!(
        spawn_call(&host, "editor", "e1", "pipe", "3").await,
        json!(6)
    );
    assert_eq!(host.invoke_ok("editor", "e1", "forward", "4").await, "10");
    assert_eq!(host.invoke_ok("tally", "e1", "get", "").await, "10");
}
