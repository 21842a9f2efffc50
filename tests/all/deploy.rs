//! Component upload: bad uploads are refused and change nothing; the artifact cache works.

use crate::support::{Host, guest};

#[tokio::test]
async fn bad_uploads_are_refused_and_the_deployed_component_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let (status, info) = host.deploy(std::fs::read(guest("counter")).unwrap()).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["name"], "counter");
    assert_eq!(info["actor_types"], serde_json::json!(["counter"]));
    assert_eq!(host.invoke_ok("counter", "k", "add", "2").await, "2");

    let (status, err) = host.deploy(b"this is not wasm".to_vec()).await;
    assert_eq!(status, 400);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("not a valid WebAssembly component"),
        "{err}"
    );

    // A core module (the smallest valid one) is not a component.
    let (status, err) = host.deploy(b"\0asm\x01\0\0\0".to_vec()).await;
    assert_eq!(status, 400, "{err}");

    // A real component of another world.
    let (status, err) = host
        .deploy(std::fs::read(guest("not-an-actor")).unwrap())
        .await;
    assert_eq!(status, 400);
    let message = err["error"].as_str().unwrap();
    assert!(
        message.contains("does not implement the warren:actor world"),
        "{message}"
    );

    let (status, err) = host.deploy(Vec::new()).await;
    assert_eq!(status, 400, "{err}");

    assert_eq!(host.invoke_ok("counter", "k", "add", "3").await, "5");
    let components = host.get_json("/admin/v1/components").await;
    assert_eq!(components.as_array().unwrap().len(), 1, "{components}");
}

#[tokio::test]
async fn components_are_listed_replaced_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let (status, _) = host.deploy(std::fs::read(guest("counter")).unwrap()).await;
    assert_eq!(status, 201);
    let (status, _) = host.deploy(std::fs::read(guest("bank")).unwrap()).await;
    assert_eq!(status, 201);
    let types = host.get_json("/admin/v1/actor-types").await;
    let names: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["account", "counter"]);
    assert_eq!(types[0]["component"], "bank");

    // The same actor type under another component name is a conflict.
    let (status, err) = host
        .deploy_with("name=counter2", std::fs::read(guest("counter")).unwrap())
        .await;
    assert_eq!(status, 409);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("already provided by component \"counter\""),
        "{err}"
    );
    // Nothing of the refused upload was kept: the name's first real deploy is version 1.
    let (status, info) = host
        .deploy_with("name=counter2", std::fs::read(guest("calculator")).unwrap())
        .await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["number"], 1, "{info}");
    let removed = host
        .client
        .delete(format!("{}/admin/v1/components/counter2", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);

    // Redeploying under the same name replaces it.
    let (status, _) = host.deploy(std::fs::read(guest("counter")).unwrap()).await;
    assert_eq!(status, 201);

    let removed = host
        .client
        .delete(format!("{}/admin/v1/components/bank", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    let again = host
        .client
        .delete(format!("{}/admin/v1/components/bank", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let (status, body) = host.invoke("account", "a", "balance", "").await;
    assert_eq!(status, 500);
    assert!(body.contains("not hosted"), "{body}");
    let components = host.get_json("/admin/v1/components").await;
    assert_eq!(components.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_restart_loads_components_from_the_artifact_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut host = Host::start(dir.path(), &[]);
    let (status, _) = host.deploy(std::fs::read(guest("counter")).unwrap()).await;
    assert_eq!(status, 201);
    let stats = host.get_json("/admin/v1/stats").await;
    assert_eq!(stats["components_compiled"], 1, "{stats}");

    // The uploaded component is persisted and comes back without compiling.
    host.restart();
    let stats = host.get_json("/admin/v1/stats").await;
    assert_eq!(stats["components_compiled"], 0, "{stats}");
    assert_eq!(stats["artifact_cache_hits"], 1, "{stats}");
    assert_eq!(host.invoke_ok("counter", "after", "add", "1").await, "1");
}

/// A new version of a component that drops an actor type still in use is refused, with
/// the type and its uses named; forced, it goes through and the type is gone.
#[tokio::test]
async fn an_upgrade_that_would_break_running_actors_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let upload = |guest_name: &str, query: &str| {
        let wasm = std::fs::read(guest(guest_name)).unwrap();
        let request = host
            .client
            .post(format!("{}/admin/v1/components?{query}", host.url))
            .body(wasm);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    // Version 1 of "app" hosts the hostile guest's types: a ticker arms a reminder.
    let (status, text) = upload("hostile", "name=app").await;
    assert_eq!(status, 201, "{text}");
    let arm = r#"{"name": "wake", "due": "1h", "period": "1h"}"#;
    host.invoke_ok("ticker", "t1", "arm", arm).await;

    // Version 2 is the counter: the ticker type would go with its actor and reminder.
    let (status, text) = upload("counter", "name=app").await;
    assert_eq!(status, 409, "{text}");
    assert!(
        text.contains(r#"actor type \"ticker\" is dropped but has 1 active actor, 1 reminder"#),
        "{text}"
    );
    assert!(text.contains("deploy with force"), "{text}");
    // Refused means untouched: version 1 still serves.
    host.invoke_ok("ticker", "t1", "count", r#""wake""#).await;

    let (status, text) = upload("counter", "name=app&force=true").await;
    assert_eq!(status, 201, "{text}");
    assert_eq!(host.invoke_ok("counter", "c", "add", "2").await, "2");
    let (status, body) = host.invoke("ticker", "t1", "count", r#""wake""#).await;
    assert_eq!(status, 500);
    assert!(body.contains("not hosted"), "{body}");
    // Redeploying the running version breaks nothing.
    let (status, text) = upload("counter", "name=app").await;
    assert_eq!(status, 201, "{text}");
}

/// Each upload compiles in a child process under the host's limits: a compilation past
/// its memory limit fails only its own deploy (422, naming the limit), while the host goes
/// on serving and deploying. Compiled in the child, the artifact loads after a restart.
#[tokio::test]
async fn a_compilation_past_its_limit_fails_only_its_own_deploy() {
    let dir = tempfile::tempdir().unwrap();
    // Enough for a Rust component (about 100 MiB), not for a Python one (about 450).
    let limit = "192";
    let mut host = Host::start(dir.path(), &["--compile-memory-mib", limit]);
    let (status, body) = host.deploy(std::fs::read(guest("counter")).unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = host
        .deploy(std::fs::read(guest("counter_py")).unwrap())
        .await;
    assert_eq!(status, 422, "{body}");
    let text = body.to_string();
    assert!(
        text.contains(&format!("memory limit of {limit} MiB")),
        "{text}"
    );
    assert_eq!(host.invoke_ok("counter", "a", "add", "2").await, "2");
    let (status, body) = host.deploy(std::fs::read(guest("bank")).unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let components = host.get_json("/admin/v1/components").await;
    assert_eq!(components.as_array().unwrap().len(), 2, "{components}");
    let stats = host.get_json("/admin/v1/stats").await;
    assert_eq!(stats["components_compiled"], 2, "{stats}");
    host.restart();
    let stats = host.get_json("/admin/v1/stats").await;
    assert_eq!(stats["artifact_cache_hits"], 2, "{stats}");
    assert_eq!(host.invoke_ok("counter", "a", "add", "1").await, "3");
}
