//! Turn semantics over Dapr's API: reentrancy, call cycles, the API token and metadata.

use serde_json::Value;

use crate::sandbox::hostile_host as host;

#[tokio::test]
async fn reentrancy_allows_a_cycle_up_to_the_stack_depth() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), &[]);
    // A -> B -> A: the second visit to A re-enters its turn.
    assert_eq!(
        host.invoke_ok("echo", "a", "bounce", r#"["b","a"]"#).await,
        "\"done at a\""
    );
    // 32 nested turns of one actor are allowed, the 33rd is not.
    assert_eq!(host.invoke_ok("echo", "deep", "recurse", "31").await, "31");
    let (status, body) = host.invoke("echo", "deep", "recurse", "32").await;
    assert_eq!(status, 500);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errorCode"], "ERR_ACTOR_INVOKE_METHOD", "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("maximum stack depth of 32"),
        "{v}"
    );
    // The same actor is usable right after.
    assert_eq!(host.invoke_ok("echo", "deep", "recurse", "2").await, "2");
}

#[tokio::test]
async fn an_http_caller_in_a_full_chain_gets_err_actor_stack_depth() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), &[]);
    let call = |chain: &'static str, body: &'static str| {
        host.client
            .post(format!("{}/v1.0/actors/echo/x/method/hold", host.url))
            .header("Dapr-Reentrancy-Id", chain)
            .body(body)
            .send()
    };
    // Chain "c1" holds echo/x 32 turns deep for a while.
    let holder = call("c1", r#"{"depth":31,"ms":1500}"#);
    let joiner = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // The same chain coming back over HTTP is one turn too deep.
        let r = call("c1", r#"{"depth":0,"ms":0}"#).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };
    let other = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // Another chain waits for its turn instead.
        call("c2", r#"{"depth":0,"ms":0}"#)
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let (held, (status, err), other) = tokio::join!(holder, joiner, other);
    assert_eq!(held.unwrap().status(), 200);
    assert_eq!(status, 500);
    assert_eq!(err["errorCode"], "ERR_ACTOR_STACK_DEPTH", "{err}");
    assert_eq!(other, 200);
}

#[tokio::test]
async fn the_api_token_guards_everything_but_health() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), &["--api-token", "s3cret"]);
    let get = |path: &str, token: Option<&str>| {
        let mut r = host.client.get(format!("{}{path}", host.url));
        if let Some(t) = token {
            r = r.header("dapr-api-token", t);
        }
        r.send()
    };
    for path in ["/v1.0/healthz", "/v1.0/healthz/outbound"] {
        assert_eq!(get(path, None).await.unwrap().status(), 204);
    }
    for token in [None, Some("wrong")] {
        for path in [
            "/v1.0/metadata",
            "/v1.0/actors/counter/x/state/total",
            "/admin/v1/components",
        ] {
            let r = get(path, token).await.unwrap();
            assert_eq!(r.status(), 401, "{path} with {token:?}");
            assert_eq!(r.text().await.unwrap(), "invalid api token");
        }
    }
    let (status, _) = host.invoke("counter", "x", "add", "1").await;
    assert_eq!(status, 401);
    let r = host
        .client
        .post(format!("{}/v1.0/actors/counter/x/method/add", host.url))
        .header("dapr-api-token", "s3cret")
        .body("2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        get("/v1.0/metadata", Some("s3cret"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn metadata_lists_actor_types_and_active_counts() {
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path(), &["--app-id", "shop"]);
    host.invoke_ok("counter", "one", "get", "").await;
    host.invoke_ok("counter", "two", "get", "").await;
    let meta = host.get_json("/v1.0/metadata").await;
    assert_eq!(meta["id"], "shop");
    let counter = meta["actorRuntime"]["activeActors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "counter")
        .cloned()
        .unwrap();
    assert_eq!(counter["count"], 2);
    assert_eq!(
        host.get_json("/v1.0/actors/counter").await,
        serde_json::json!(["one", "two"])
    );
}
