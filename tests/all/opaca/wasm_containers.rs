//! Wasm components as OPACA containers: their actions and the validation of arguments,
//! messages between containers of one image, the JSON content type, and timeouts.

use serde_json::{Value, json};

use super::client::Rp;
use super::{
    action, agent, calculator_container, container_ids, count_agents, deploy_calculator, mentions,
};
use crate::support::Host;

/// A Wasm component deployed in the tenant is a container image: each POST /containers
/// makes a container whose agent (the actor type, `calculator`) offers the manifest's
/// actions with their OPACA types; Warren validates arguments before the actor runs
/// (integer vs number, required vs optional, null, unknown keys, array items), answers 404
/// for unknown actions and 422 for a body that is not JSON, and 502 with a cause when the
/// actor fails; two containers of one image keep separate state, `containerId` picks one,
/// and send and broadcast without it reach both; `/v3/api-docs/actions` lists the actions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasm_components_are_containers_with_validated_actions() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    deploy_calculator(&host).await;
    let rp = Rp::of(&host);

    let one = rp.start(calculator_container()).await;
    check_the_agent_offers_typed_actions(&rp, &one).await;
    check_arguments_are_validated(&rp).await;
    check_bad_calls_and_failures(&rp).await;
    let two = rp.start(calculator_container()).await;
    check_two_containers_of_one_image(&rp, &one, &two).await;
    check_api_docs_list_the_actions(&rp).await;

    assert_eq!(rp.delete(&format!("/containers/{one}")).await.ok(), true);
    rp.post(
        &format!("/invoke/LastMessage/calculator?containerId={one}"),
        json!({}),
    )
    .await
    .error(404);
    assert_eq!(rp.last_message(&two).await, json!({"headline": "extra"}));
    assert_eq!(count_agents(&rp.get("/agents").await.ok(), "calculator"), 1);
}

/// The calculator agent offers the manifest's actions with their OPACA types, and so does
/// container `one`'s description.
async fn check_the_agent_offers_typed_actions(rp: &Rp, one: &str) {
    let agents = rp.get("/agents").await.ok();
    let calculator = agent(&agents, "calculator");
    for name in ["Add", "Mean", "Greet", "Fail", "LastMessage"] {
        action(calculator, name);
    }
    let add = action(calculator, "Add");
    assert_eq!(add["parameters"]["x"]["type"], "integer", "{add}");
    assert_eq!(add["parameters"]["y"]["type"], "integer", "{add}");
    assert_eq!(add["result"]["type"], "integer", "{add}");
    let mean = action(calculator, "Mean");
    assert_eq!(mean["parameters"]["values"]["type"], "array", "{mean}");
    assert_eq!(
        mean["parameters"]["values"]["items"]["type"], "number",
        "{mean}"
    );
    let greet = action(calculator, "Greet");
    assert_eq!(greet["parameters"]["name"]["required"], true, "{greet}");
    assert_eq!(greet["parameters"]["polite"]["required"], false, "{greet}");
    assert_eq!(
        rp.get("/agents/calculator").await.ok()["agentId"],
        "calculator"
    );
    let container = rp.get(&format!("/containers/{one}")).await.ok();
    assert_eq!(container["image"]["imageName"], "calculator", "{container}");
    agent(&container["agents"], "calculator");
}

/// Invocations of the calculator: action, arguments, and the result or error status.
fn invocation_cases() -> Vec<(&'static str, Value, Result<Value, u16>)> {
    vec![
        ("Add", json!({"x": 1, "y": 2}), Ok(json!(3))),
        ("Add", json!({"x": -5, "y": 2}), Ok(json!(-3))),
        ("Add", json!({"x": 1, "y": 2.5}), Err(400)),
        ("Add", json!({"x": "1", "y": 2}), Err(400)),
        ("Add", json!({"x": 1}), Err(400)),
        ("Add", json!({"x": null, "y": 2}), Err(400)),
        ("Add", json!({"x": 1, "y": 2, "z": 3}), Err(400)),
        ("Mean", json!({"values": [1, 2, 4.5]}), Ok(json!(2.5))),
        ("Mean", json!({"values": [1, "2"]}), Err(400)),
        ("Mean", json!({"values": [[1]]}), Err(400)),
        ("Mean", json!({"values": 3}), Err(400)),
        ("Greet", json!({"name": "Ada"}), Ok(json!("Hi Ada"))),
        (
            "Greet",
            json!({"name": "Ada", "polite": true}),
            Ok(json!("Good day, Ada.")),
        ),
        (
            "Greet",
            json!({"name": "Ada", "polite": null}),
            Ok(json!("Hi Ada")),
        ),
        ("Greet", json!({"name": "Ada", "polite": "yes"}), Err(400)),
        ("Greet", json!({"name": 7}), Err(400)),
        ("Greet", json!({"polite": true}), Err(400)),
        ("Nope", json!({}), Err(404)),
    ]
}

/// Warren validates arguments before the actor runs (integer vs number, required vs
/// optional, null, unknown keys, array items) and answers 404 for unknown actions.
async fn check_arguments_are_validated(rp: &Rp) {
    for (name, args, want) in invocation_cases() {
        let reply = rp
            .post(&format!("/invoke/{name}/calculator"), args.clone())
            .await;
        match want {
            Ok(value) => assert_eq!(reply.ok(), value, "{name}({args})"),
            Err(status) => {
                assert_eq!(reply.status, status, "{name}({args}): {}", reply.text);
                reply.error(status);
            }
        }
    }
}

/// Invoking without an agent id finds the calculator; an unknown agent is 404, a body
/// that is not JSON 422, and a failing actor 502 with its error as the cause.
async fn check_bad_calls_and_failures(rp: &Rp) {
    assert_eq!(
        rp.post("/invoke/Add", json!({"x": 2, "y": 2})).await.ok(),
        4
    );
    rp.post("/invoke/Add/nobody", json!({"x": 1, "y": 2}))
        .await
        .error(404);
    rp.post_text("/invoke/Add/calculator", "application/json", "{not json")
        .await
        .error(422);
    let failed = rp.post("/invoke/Fail/calculator", json!({})).await;
    let failure = failed.error(502);
    let cause = &failure["cause"];
    assert!(cause["statusCode"].is_u64(), "{}", failed.text);
    assert!(
        mentions(&cause["message"], "asked to fail"),
        "the actor's error is the cause: {}",
        failed.text
    );
}

/// Two containers of one image: one actor each, `containerId` picks one, and send and
/// broadcast without it reach both.
async fn check_two_containers_of_one_image(rp: &Rp, one: &str, two: &str) {
    assert_ne!(one, two);
    assert_eq!(count_agents(&rp.get("/agents").await.ok(), "calculator"), 2);
    assert_eq!(rp.last_message(one).await, Value::Null);
    rp.post(
        &format!("/send/calculator?containerId={one}"),
        json!({"payload": "for one"}),
    )
    .await
    .ok();
    rp.wait_last_message(one, json!("for one")).await;
    assert_eq!(rp.last_message(two).await, Value::Null);
    rp.post("/send/calculator", json!({"payload": "for both"}))
        .await
        .ok();
    rp.wait_last_message(one, json!("for both")).await;
    rp.wait_last_message(two, json!("for both")).await;
    rp.post("/broadcast/news", json!({"payload": {"headline": "extra"}}))
        .await
        .ok();
    rp.wait_last_message(one, json!({"headline": "extra"}))
        .await;
    rp.wait_last_message(two, json!({"headline": "extra"}))
        .await;
    rp.post("/broadcast/nobody-listens", json!({"payload": 1}))
        .await
        .ok();
    rp.post("/send/nobody", json!({"payload": 1}))
        .await
        .error(404);
}

/// `/v3/api-docs/actions` is an OpenAPI 3 document with a path per action.
async fn check_api_docs_list_the_actions(rp: &Rp) {
    let docs = rp.get("/v3/api-docs/actions").await.ok();
    assert!(
        docs["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "{docs}"
    );
    for path in [
        "/invoke/Add/calculator",
        "/invoke/Mean/calculator",
        "/invoke/Greet/calculator",
    ] {
        assert!(docs["paths"].get(path).is_some(), "{path} in {docs}");
    }
}

/// Bodies of the JSON routes must say they are JSON: POST /containers with a valid
/// container as `text/plain`, form data or no content type is 415 with an ErrorResponse
/// and starts nothing; invoke with a JSON object as `text/plain` or without a content type
/// is 415, while `application/json` answers in any case and with a charset; an empty body
/// without a content type is no arguments (Add, which needs x and y, gives 400, LastMessage
/// 200); send and broadcast as `text/plain` are 415 and deliver nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes_need_the_json_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    deploy_calculator(&host).await;
    let rp = Rp::of(&host);

    let container = calculator_container().to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/+json",
    ] {
        let reply = rp.post_text("/containers", content_type, &container).await;
        assert_eq!(reply.status, 415, "{content_type}: {}", reply.text);
        reply.error(415);
    }
    rp.post_untyped("/containers", &container).await.error(415);
    assert_eq!(rp.get("/containers").await.ok(), json!([]));
    let id = rp.start(calculator_container()).await;
    let listed = rp.get("/containers").await.ok();
    assert_eq!(container_ids(&listed), [id.as_str()], "{listed}");

    let args = r#"{"x": 1, "y": 2}"#;
    rp.post_text("/invoke/Add/calculator", "text/plain", args)
        .await
        .error(415);
    rp.post_untyped("/invoke/Add/calculator", args)
        .await
        .error(415);
    for content_type in [
        "application/json",
        "application/json; charset=UTF-8",
        "Application/JSON",
        // Structured `+json` types, which the reference accepts too.
        "application/vnd.api+json",
        "application/merge-patch+json; charset=utf-8",
    ] {
        let reply = rp
            .post_text("/invoke/Add/calculator", content_type, args)
            .await;
        assert_eq!(reply.ok(), 3, "{content_type}");
    }
    rp.post_untyped("/invoke/Add/calculator", "")
        .await
        .error(400);
    assert_eq!(
        rp.post_untyped("/invoke/LastMessage/calculator", "")
            .await
            .ok(),
        Value::Null
    );

    rp.post_text("/send/calculator", "text/plain", r#"{"payload": "plain"}"#)
        .await
        .error(415);
    rp.post_text("/broadcast/news", "text/plain", r#"{"payload": "plain"}"#)
        .await
        .error(415);
    assert_eq!(rp.last_message(&id).await, Value::Null);
    assert_eq!(rp.delete(&format!("/containers/{id}")).await.ok(), true);
}

/// A `timeout` that is a number but no usable duration (infinite, beyond what a duration
/// holds, negative, zero) or empty means none: POST /containers still starts a container,
/// and invoke with valid arguments answers 200 with the sum, with and without
/// `containerId`. One that is no number is refused (`bad_input.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_timeouts_mean_no_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    deploy_calculator(&host).await;
    let rp = Rp::of(&host);

    let mut ids = Vec::new();
    for timeout in ["inf", "1e20"] {
        let reply = rp
            .post(
                &format!("/containers?timeout={timeout}"),
                calculator_container(),
            )
            .await;
        reply.status_is(200);
        assert!(!reply.text.is_empty(), "{}", reply.what);
        ids.push(reply.text);
    }
    assert_eq!(count_agents(&rp.get("/agents").await.ok(), "calculator"), 2);

    for timeout in [
        "inf",
        "1e20",
        "-inf",
        "1e308",
        "18446744073709551616",
        "1e15",
        "-1",
        "0",
        "",
    ] {
        let add = json!({"x": 20, "y": 22});
        let path = format!("/invoke/Add/calculator?timeout={timeout}");
        assert_eq!(
            rp.post(&path, add.clone()).await.ok(),
            42,
            "timeout={timeout}"
        );
        for id in &ids {
            let path = format!("/invoke/Add/calculator?containerId={id}&timeout={timeout}");
            assert_eq!(
                rp.post(&path, add.clone()).await.ok(),
                42,
                "timeout={timeout}"
            );
        }
    }
    for id in &ids {
        assert_eq!(rp.delete(&format!("/containers/{id}")).await.ok(), true);
    }
}
