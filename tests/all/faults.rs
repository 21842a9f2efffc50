//! Store faults injected with failpoints (`store/faults.rs`) at each step of a commit on
//! the embedded store, in `sync` mode: the turn is reported failed, nothing acknowledged
//! is lost, nothing half-written is visible after a restart, and the host either goes on
//! or halts the store with a clear error until it restarts.

use std::time::Duration;

use serde_json::json;

use crate::support::{Host, eventually, guest};

/// A host with the counter and the hostile guests (the ticker sets reminders in turns)
/// and `failpoints` injected from the start.
fn host_with_faults(dir: &std::path::Path, failpoints: &str) -> Host {
    let (counter, hostile) = (guest("counter"), guest("hostile"));
    let args = [
        "--deploy",
        counter.to_str().unwrap(),
        "--deploy",
        hostile.to_str().unwrap(),
        "--durability",
        "sync",
    ];
    Host::start_with(dir, &args, "info", &[("FAILPOINTS", failpoints)])
}

#[tokio::test]
async fn a_failed_read_or_write_of_a_record_fails_only_that_turn() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = host_with_faults(
        dir.path(),
        "sled-commit-read=1*return(eio);sled-commit-write=1*return(enospc)",
    );
    let (status, text) = host.invoke("counter", "a", "add", "5").await;
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("Input/output error"), "{text}");
    let (status, text) = host.invoke("counter", "a", "add", "5").await;
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("No space left on device"), "{text}");

    // Neither failed turn left anything; the store goes on as before.
    assert_eq!(host.invoke_ok("counter", "a", "add", "5").await, "5");
    assert_eq!(host.invoke_ok("counter", "a", "add", "1").await, "6");
    assert_eq!(host.invoke_ok("counter", "b", "add", "2").await, "2");

    host.restart_with(&[]);
    assert_eq!(host.invoke_ok("counter", "a", "get", "").await, "6");
    assert_eq!(host.invoke_ok("counter", "b", "get", "").await, "2");
}

#[tokio::test]
async fn a_failed_flush_halts_the_store_until_restart_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    // The third group flush fails: the two adds before it are acknowledged.
    let mut host = host_with_faults(dir.path(), "sled-flush=2*off->1*return(eio)");
    assert_eq!(host.invoke_ok("counter", "a", "add", "1").await, "1");
    assert_eq!(host.invoke_ok("counter", "a", "add", "1").await, "2");

    let (status, text) = host.invoke("counter", "a", "add", "1").await;
    assert_eq!(status, 500, "{text}");
    assert!(
        text.contains("the store halted until the host restarts"),
        "{text}"
    );
    assert!(text.contains("a flush to disk failed"), "{text}");
    assert!(text.contains("may or may not be durable"), "{text}");

    // Halted: no write and no load of a record until the restart, with the reason.
    for (id, action, body) in [("a", "add", "1"), ("c", "add", "1"), ("d", "get", "")] {
        let (status, text) = host.invoke("counter", id, action, body).await;
        assert_eq!(status, 500, "{id}.{action}: {text}");
        assert!(text.contains("a flush to disk failed"), "{text}");
    }
    let (status, _) = host
        .register("reminders", "ticker/h", "wake", json!({"dueTime": "1s"}))
        .await;
    assert_eq!(status, 500, "a reminder written while halted");
    // The rest of the host still answers.
    assert_eq!(host.get("/v1.0/healthz").await.status(), 204);
    assert!(host.logged("the store halts").await, "{}", host.log());

    // A clean stop does not vouch for a halted store: the next start recovers as after a
    // crash. The turn whose flush failed is there whole or not at all.
    host.terminate();
    host.restart_with(&[]);
    let total = host.invoke_ok("counter", "a", "get", "").await;
    assert!(total == "2" || total == "3", "after restart: {total}");
    assert_eq!(
        host.invoke_ok("counter", "a", "add", "10").await,
        format!("{}", total.parse::<u64>().unwrap() + 10)
    );
}

#[tokio::test]
async fn reminder_changes_past_a_failed_apply_or_a_crash_are_replayed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let arm = |name: &str| json!({"name": name, "due": "1s", "period": "1h"}).to_string();

    // An I/O error after the record was written: the store halts, and the next start
    // applies the reminder the record carries.
    let mut host = host_with_faults(dir.path(), "sled-commit-apply=1*return(eio)");
    let (status, text) = host.invoke("ticker", "r", "arm", &arm("first")).await;
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("the next start applies them"), "{text}");
    host.restart_with(&[]);
    assert!(host.reminder_fired("r", "first").await, "{}", host.log());

    // A crash between the record (made durable) and the reminder trees.
    host.restart_with(&[("FAILPOINTS", "sled-commit-apply=1*return(crash)")]);
    let sent = host
        .client
        .post(format!("{}/v1.0/actors/ticker/r/method/arm", host.url))
        .body(arm("second"))
        .send()
        .await;
    assert!(sent.is_err(), "the host answered: {sent:?}");
    assert!(
        host.wait_exit(Duration::from_secs(10)).is_some(),
        "the injected crash did not stop the host"
    );
    host.restart_with(&[]);
    assert!(host.reminder_fired("r", "second").await, "{}", host.log());
    // Both are still registered (period 1h), and the first fired once only.
    for name in ["first", "second"] {
        let response = host
            .get(&format!("/v1.0/actors/ticker/r/reminders/{name}"))
            .await;
        assert_eq!(response.status(), 200, "{name}");
    }
    assert_eq!(
        host.invoke_ok("ticker", "r", "count", "\"first\"").await,
        "1"
    );
}

impl Host {
    /// Whether the ticker actor `id` saw reminder `name` fire, within 15 s.
    async fn reminder_fired(&self, id: &str, name: &str) -> bool {
        let quoted = format!("\"{name}\"");
        eventually(Duration::from_secs(15), || async {
            let (_, count) = self.invoke("ticker", id, "count", &quoted).await;
            (count != "0").then_some(())
        })
        .await
        .is_some()
    }
}
