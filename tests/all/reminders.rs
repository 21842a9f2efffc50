//! Timers and reminders through Dapr's HTTP API and through the WIT imports.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Host, eventually, guest};

fn ticker_host(dir: &std::path::Path, extra: &[&str]) -> Host {
    let hostile = guest("hostile");
    let mut args = vec!["--deploy", hostile.to_str().unwrap()];
    args.extend_from_slice(extra);
    Host::start(dir, &args)
}

impl Host {
    /// PUT a timer or reminder registration; returns the status and body.
    pub async fn register(
        &self,
        kind: &str,
        actor: &str,
        name: &str,
        body: Value,
    ) -> (u16, String) {
        let r = self
            .client
            .put(format!("{}/v1.0/actors/{actor}/{kind}/{name}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// How often the ticker actor `id` saw a firing of `name`.
    pub async fn fired(&self, id: &str, name: &str) -> i64 {
        let count = self
            .invoke_ok("ticker", id, "count", &format!("\"{name}\""))
            .await;
        count.parse().unwrap()
    }
}

async fn wait_for_count(host: &Host, id: &str, name: &str, want: i64) {
    let reached = eventually(Duration::from_secs(10), || async {
        (host.fired(id, name).await >= want).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "{id}/{name} fired {} times, wanted {want}",
        host.fired(id, name).await
    );
}

#[tokio::test]
async fn a_reminder_fires_after_a_crash_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = ticker_host(dir.path(), &[]);
    let (status, body) = host
        .register(
            "reminders",
            "ticker/r1",
            "wake",
            json!({"dueTime": "2s", "data": {"hello": "world"}}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    host.restart();
    assert_eq!(host.fired("r1", "wake").await, 0, "fired before it was due");
    wait_for_count(&host, "r1", "wake", 1).await;
    let last: Value =
        serde_json::from_str(&host.invoke_ok("ticker", "r1", "last", "\"wake\"").await).unwrap();
    assert_eq!(last["kind"], "reminder");
    assert_eq!(
        last["data"], r#"{"hello":"world"}"#,
        "data is echoed verbatim"
    );
    // A one-shot reminder is gone once it fired.
    let gone = host
        .client
        .get(format!("{}/v1.0/actors/ticker/r1/reminders/wake", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn repetitions_and_ttl_end_a_reminder() {
    let dir = tempfile::tempdir().unwrap();
    let host = ticker_host(dir.path(), &[]);
    let (status, body) = host
        .register(
            "reminders",
            "ticker/r3",
            "thrice",
            json!({"dueTime": "0s", "period": "R3/PT1S"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = host
        .register(
            "reminders",
            "ticker/ttl",
            "brief",
            json!({"period": "400ms", "ttl": "1500ms"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let listed: Value = host.get_json("/v1.0/actors/ticker/r3/reminders").await;
    assert_eq!(listed[0]["name"], "thrice");
    assert_eq!(listed[0]["period"], "R3/PT1S");

    wait_for_count(&host, "r3", "thrice", 3).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        host.fired("r3", "thrice").await,
        3,
        "R3 must fire exactly 3 times"
    );
    let brief = host.fired("ttl", "brief").await;
    assert!(
        (3..=5).contains(&brief),
        "ttl 1.5s with period 400ms fired {brief} times"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        host.fired("ttl", "brief").await,
        brief,
        "fired past its ttl"
    );
    assert_eq!(
        host.get_json("/v1.0/actors/ticker/r3/reminders").await,
        json!([])
    );
}

#[tokio::test]
async fn a_timer_fires_with_its_callback_and_stops_when_its_actor_deactivates() {
    let dir = tempfile::tempdir().unwrap();
    let host = ticker_host(dir.path(), &["--idle-timeout", "600ms"]);
    // Fires every 200 ms: each firing keeps the actor active, as in Dapr.
    let (status, body) = host
        .register(
            "timers",
            "ticker/t1",
            "tick",
            json!({"dueTime": "100ms", "period": "200ms", "callback": "beat", "data": "x"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    wait_for_count(&host, "t1", "beat", 3).await;
    let timers = host.get_json("/v1.0/actors/ticker/t1/timers").await;
    assert_eq!(timers[0]["callback"], "beat");
    let last: Value =
        serde_json::from_str(&host.invoke_ok("ticker", "t1", "last", "\"beat\"").await).unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["name"].as_str()),
        (Some("timer"), Some("tick"))
    );
    let deleted = host
        .client
        .delete(format!("{}/v1.0/actors/ticker/t1/timers/tick", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    // Due after the idle timeout: the actor deactivates first and the timer dies with it.
    let (status, _) = host
        .register(
            "timers",
            "ticker/t2",
            "late",
            json!({"dueTime": "2s", "period": "2s"}),
        )
        .await;
    assert_eq!(status, 204);
    let active = host.get_json("/v1.0/actors/ticker").await;
    assert!(
        active.as_array().unwrap().iter().any(|i| i == "t2"),
        "{active}"
    );
    let deactivated = eventually(Duration::from_secs(5), || async {
        let ids = host.get_json("/v1.0/actors/ticker").await;
        (!ids.as_array().unwrap().iter().any(|i| i == "t2")).then_some(())
    })
    .await;
    assert!(deactivated.is_some(), "t2 never deactivated");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        host.fired("t2", "late").await,
        0,
        "the timer outlived its activation"
    );
}

#[tokio::test]
async fn wasm_guests_set_and_cancel_timers_and_reminders() {
    let dir = tempfile::tempdir().unwrap();
    let host = ticker_host(dir.path(), &[]);
    let arm = |kind: &str, name: &str, period: &str| {
        json!({"kind": kind, "name": name, "due": "100ms", "period": period, "data": {"n": 1}})
            .to_string()
    };
    host.invoke_ok("ticker", "g", "arm", &arm("reminder", "once", ""))
        .await;
    host.invoke_ok("ticker", "g", "arm", &arm("timer", "often", "150ms"))
        .await;
    wait_for_count(&host, "g", "once", 1).await;
    wait_for_count(&host, "g", "often", 2).await;
    let last: Value =
        serde_json::from_str(&host.invoke_ok("ticker", "g", "last", "\"once\"").await).unwrap();
    assert_eq!(last["payload"], r#"{"n":1}"#);

    host.invoke_ok("ticker", "g", "disarm", "\"often\"").await;
    let after = host.fired("g", "often").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        host.fired("g", "often").await <= after + 1,
        "cancelled timer kept firing"
    );

    // A bad duration from the guest is an error of that call, and nothing is staged.
    let (status, body) = host
        .invoke("ticker", "g", "arm", &arm("reminder", "bad", "sometimes"))
        .await;
    assert_eq!(status, 500);
    assert!(body.contains("invalid period"), "{body}");
    assert_eq!(
        host.get_json("/v1.0/actors/ticker/g/reminders").await,
        json!([])
    );
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    v["errorCode"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn registration_errors_get_dapr_codes() {
    let dir = tempfile::tempdir().unwrap();
    let host = ticker_host(dir.path(), &[]);
    // Bad times: what is registered, its name, its body, and the Dapr error code.
    for (kind, name, body, code) in [
        (
            "reminders",
            "r",
            json!({"dueTime": "soon"}),
            "ERR_ACTOR_REMINDER_CREATE",
        ),
        (
            "reminders",
            "r",
            json!({"period": "R0/PT1S"}),
            "ERR_ACTOR_REMINDER_CREATE",
        ),
        (
            "timers",
            "t",
            json!({"period": "1 minute"}),
            "ERR_ACTOR_TIMER_CREATE",
        ),
    ] {
        let (status, body) = host.register(kind, "ticker/e", name, body).await;
        assert_eq!((status, error_code(&body).as_str()), (500, code), "{body}");
    }
    check_malformed_unknown_and_unhosted_reminders(&host).await;
    check_overwrite_false_keeps_an_existing_reminder(&host).await;
}

/// A body that is not JSON, a reminder that does not exist, and one of a type not hosted
/// here each get their Dapr error code.
async fn check_malformed_unknown_and_unhosted_reminders(host: &Host) {
    let bad_json = host
        .client
        .put(format!("{}/v1.0/actors/ticker/e/reminders/r", host.url))
        .body("{\"dueTime\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), 400);
    assert_eq!(
        error_code(&bad_json.text().await.unwrap()),
        "ERR_MALFORMED_REQUEST"
    );

    let unknown = host
        .client
        .get(format!("{}/v1.0/actors/ticker/e/reminders/nope", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        error_code(&unknown.text().await.unwrap()),
        "ERR_ACTOR_REMINDER_NOT_FOUND"
    );

    let (status, body) = host
        .register("reminders", "nosuchtype/e", "r", json!({"dueTime": "1h"}))
        .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (403, "ERR_ACTOR_REMINDER_NON_HOSTED"),
        "{body}"
    );
}

/// overwrite:false on an existing reminder is a conflict; the python SDK's spelling works.
async fn check_overwrite_false_keeps_an_existing_reminder(host: &Host) {
    let body = json!({"dueTime": "1h", "failurePolicy": {"drop": {}}});
    assert_eq!(
        host.register("reminders", "ticker/e", "keep", body).await.0,
        204
    );
    let body = json!({"dueTime": "1h", "overwrite": false, "failure_policy": {"constant": {"interval": "1s", "maxRetries": 2}}});
    let (status, text) = host.register("reminders", "ticker/e", "keep", body).await;
    assert_eq!(
        (status, error_code(&text).as_str()),
        (409, "ERR_ACTOR_REMINDER_ALREADY_EXISTS"),
        "{text}"
    );
    let got = host.get_json("/v1.0/actors/ticker/e/reminders/keep").await;
    assert_eq!(
        (
            got["actorType"].as_str(),
            got["actorID"].as_str(),
            got["dueTime"].as_str()
        ),
        (Some("ticker"), Some("e"), Some("1h"))
    );
}

#[tokio::test]
async fn a_backlog_after_downtime_fires_at_a_bounded_rate_and_coalesces() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = ticker_host(dir.path(), &["--reminder-backlog-rate", "10"]);
    for i in 0..20 {
        let (status, _) = host
            .register(
                "reminders",
                &format!("ticker/b{i}"),
                "due",
                json!({"dueTime": "1s"}),
            )
            .await;
        assert_eq!(status, 204);
    }
    let (status, _) = host
        .register(
            "reminders",
            "ticker/p",
            "every",
            json!({"dueTime": "1s", "period": "200ms"}),
        )
        .await;
    assert_eq!(status, 204);
    host.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    host.restart();
    let restarted = std::time::Instant::now();
    let total = || async {
        let mut n = 0;
        for i in 0..20 {
            n += host.fired(&format!("b{i}"), "due").await;
        }
        n
    };
    let early = total().await;
    assert!(
        early <= 15,
        "{early} of 20 overdue reminders fired at once at 10/s"
    );
    let all = eventually(Duration::from_secs(10), || async {
        (total().await == 20).then_some(())
    })
    .await;
    assert!(all.is_some(), "backlog never drained: {}", total().await);
    // About fifteen missed periods of 200 ms fire once on restart, then on schedule again:
    // no more firings than periods since the restart, plus that one.
    let periodic = host.fired("p", "every").await;
    let periods = (restarted.elapsed().as_millis() / 200) as i64;
    assert!(
        periodic <= periods + 2,
        "missed periods were replayed: {periodic} firings in {periods} periods"
    );
}
