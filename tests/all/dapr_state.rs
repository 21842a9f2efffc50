//! The Dapr actor state routes and health checks.

use serde_json::Value;

use crate::support::{Host, guest};

#[tokio::test]
async fn state_get_and_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        dir.path(),
        &["--deploy", guest("counter").to_str().unwrap()],
    );
    let url = |path: &str| format!("{}/v1.0/actors/counter/s1{path}", host.url);

    let missing = host.client.get(url("/state/total")).send().await.unwrap();
    assert_eq!(missing.status(), 204);
    assert!(missing.text().await.unwrap().is_empty());

    // Dapr only takes transactions for an active actor.
    let ops = r#"[{"operation":"upsert","request":{"key":"note","value":{"a":1}}}]"#;
    let inactive = host
        .client
        .put(url("/state"))
        .body(ops)
        .send()
        .await
        .unwrap();
    assert_eq!(inactive.status(), 400);
    let err: Value = inactive.json().await.unwrap();
    assert_eq!(err["errorCode"], "ERR_ACTOR_INSTANCE_MISSING");

    host.invoke_ok("counter", "s1", "add", "4").await;
    let total = host.client.get(url("/state/total")).send().await.unwrap();
    assert_eq!(total.status(), 200);
    assert_eq!(total.headers()["content-type"], "application/json");
    assert_eq!(total.text().await.unwrap(), "4");

    let ops = r#"[{"operation":"upsert","request":{"key":"note","value":{"a":1}}},
                  {"operation":"delete","request":{"key":"total"}}]"#;
    let done = host
        .client
        .post(url("/state"))
        .body(ops)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 204);
    let note = host.client.get(url("/state/note")).send().await.unwrap();
    assert_eq!(note.text().await.unwrap(), r#"{"a":1}"#);
    let total = host.client.get(url("/state/total")).send().await.unwrap();
    assert_eq!(total.status(), 204);
    assert_eq!(host.invoke_ok("counter", "s1", "get", "").await, "0");

    for (body, what) in [
        ("{not json", "bad JSON"),
        (
            r#"[{"operation":"merge","request":{"key":"k"}}]"#,
            "unknown operation",
        ),
        (r#"{"operation":"upsert"}"#, "not an array"),
    ] {
        let bad = host
            .client
            .put(url("/state"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400, "{what}");
        let err: Value = bad.json().await.unwrap();
        assert_eq!(err["errorCode"], "ERR_MALFORMED_REQUEST", "{what}: {err}");
    }
}

#[tokio::test]
async fn health_and_name_rules() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    for path in ["/v1.0/healthz", "/v1.0/healthz/outbound"] {
        let r = host
            .client
            .get(format!("{}{path}", host.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{path}");
    }
    let reserved = host
        .client
        .get(format!(
            "{}/v1.0/actors/dapr.internal.wf/x/state/k",
            host.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), 403);
    let err: Value = reserved.json().await.unwrap();
    assert_eq!(err["errorCode"], "ERR_ACTOR_TYPE_RESERVED");
    let (status, body) = host.invoke("counter", "a%23b", "get", "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("ERR_BAD_REQUEST"), "{body}");
}
