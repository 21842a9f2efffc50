//! Process containers: the Python `opaca` package's sample agent run as a process, its
//! arguments, environment, messages and end, and the environment it must not get.

use std::time::Duration;

use serde_json::{Value, json};

use super::client::{Reply, Rp};
use super::{
    SAMPLE, action, agent, agent_command, assert_stopped_listening, env_port, mentions,
    sample_container, sample_image,
};
use crate::support::{Host, eventually};

/// An image run as a process like the Python agent, through `env`, which sets the agent's
/// `greeting` (what GetEnv reports) to Warren's own RUST_LOG and NO_COLOR (the harness
/// starts Warren with both) and whether PATH is set, as the container's shell sees them.
const PROBE: &str = "py-env-probe";

/// `--opaca-image` mapping the probe's image to its command.
fn probe_image() -> String {
    format!(
        "{PROBE}=env \"greeting=${{RUST_LOG-unset}}/${{NO_COLOR-unset}}/${{PATH+path}}\" {}",
        agent_command()
    )
}

/// An agent container written with the Python `opaca` package runs as a process container:
/// POST /containers answers its raw id after Warren has pulled the AC's `/info`; the
/// container's description shows its agent and hides the confidential argument; `Double`
/// is invoked with and without agent id and container id, Warren rejects bad arguments
/// (400) and unknown actions (404) before the AC sees them, and the AC's 400 for a raising
/// action comes back as 502 with the AC's answer as `cause`; the container's environment
/// holds CONTAINER_ID, OWNER, PLATFORM_URL, PORT, PORT_MAPPING and the image parameters
/// (argument or default, the confidential one too); sent and broadcast messages reach the
/// agent (with and without `replyTo`); notify re-pulls `/info`; DELETE ends the process;
/// unknown images give 404 and a missing required parameter 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_agent_container_runs_as_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--opaca-image", &sample_image()]);
    let rp = Rp::of(&host);

    unknown_images_and_missing_parameters_are_refused(&rp).await;
    let (id, container) = a_container_starts_and_hides_its_secret(&rp).await;
    double_is_invoked_with_checked_arguments(&rp, &id).await;
    the_agent_runs_as_an_actor(&host, &id).await;
    let port = the_container_gets_its_environment(&rp, &host, &id, &container).await;
    messages_reach_the_agent(&rp).await;
    notify_takes_the_id_quoted_or_not(&rp, &id).await;
    let (plain, plain_port) = a_container_without_arguments_gets_the_defaults(&rp, &id).await;
    delete_ends_the_process(&rp, &id, port, &plain, plain_port).await;
}

/// Invoke `Double` at `path` with `x`.
async fn double(rp: &Rp, path: &str, x: Value) -> Reply {
    rp.post(path, json!({ "x": x })).await
}

/// An unknown image is 404, and a required parameter without an argument 400.
async fn unknown_images_and_missing_parameters_are_refused(rp: &Rp) {
    rp.post(
        "/containers",
        json!({"image": {"imageName": "no-such-image"}, "arguments": {}}),
    )
    .await
    .error(404);
    let mut strict = sample_container(json!({}));
    strict["image"]["parameters"][0] =
        json!({"name": "greeting", "type": "string", "required": true});
    rp.post("/containers", strict).await.error(400);
}

/// Start the sample with a greeting and a secret; its id and description, which show its
/// agent and actions but not the confidential argument.
async fn a_container_starts_and_hides_its_secret(rp: &Rp) -> (String, Value) {
    let id = rp
        .start(sample_container(
            json!({"greeting": "salut", "secret": "s3cret"}),
        ))
        .await;
    let container = rp.get(&format!("/containers/{id}")).await.ok();
    assert_eq!(container["containerId"], id.as_str(), "{container}");
    assert_eq!(container["image"]["imageName"], SAMPLE, "{container}");
    assert_eq!(
        container["arguments"],
        json!({"greeting": "salut"}),
        "the confidential argument is hidden: {container}"
    );
    let sample = agent(&container["agents"], "sample-agent");
    for name in [
        "Double",
        "RaiseError",
        "GetEnv",
        "GetMessages",
        "CallPlatform",
    ] {
        action(sample, name);
    }
    assert_eq!(
        action(sample, "Double")["parameters"]["x"]["type"],
        "integer"
    );
    let info = rp.get("/info").await.ok();
    assert!(!info.to_string().contains("s3cret"), "{info}");
    let listed = info["containers"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["containerId"] == id.as_str()))
        .unwrap_or_else(|| panic!("{id} is not in /info: {info}"));
    assert_eq!(listed["arguments"], json!({"greeting": "salut"}));
    assert!(!rp.get("/containers").await.text.contains("s3cret"));
    agent(&rp.get("/agents").await.ok(), "sample-agent");
    (id, container)
}

/// `Double` with and without agent id and container id, with the arguments checked
/// against the AC's own description; a raising action is 502 with the AC's answer.
async fn double_is_invoked_with_checked_arguments(rp: &Rp, id: &str) {
    assert_eq!(
        double(rp, "/invoke/Double/sample-agent", json!(21))
            .await
            .ok(),
        42
    );
    assert_eq!(double(rp, "/invoke/Double", json!(-4)).await.ok(), -8);
    assert_eq!(
        double(rp, &format!("/invoke/Double?containerId={id}"), json!(5))
            .await
            .ok(),
        10
    );
    double(rp, "/invoke/Double?containerId=no-such-container", json!(5))
        .await
        .error(404);
    double(rp, "/invoke/Double/nobody", json!(5))
        .await
        .error(404);
    for bad in [
        json!({"x": 2.5}),
        json!({"x": "3"}),
        json!({"x": null}),
        json!({}),
        json!({"x": 1, "y": 2}),
    ] {
        let reply = rp.post("/invoke/Double/sample-agent", bad.clone()).await;
        assert_eq!(reply.status, 400, "Double({bad}): {}", reply.text);
        reply.error(400);
    }
    rp.post("/invoke/Triple/sample-agent", json!({"x": 1}))
        .await
        .error(404);

    let failed = rp.post("/invoke/RaiseError/sample-agent", json!({})).await;
    let failure = failed.error(502);
    let cause = &failure["cause"];
    assert_eq!(cause["statusCode"], 400, "{}", failed.text);
    assert!(
        mentions(&cause["message"], "the sample agent was asked to fail"),
        "the AC's answer is the cause: {}",
        failed.text
    );
}

/// The invocations above ran as turns of the runtime core: the agent is an active actor
/// of its container's agents type, like a Wasm agent is of its own type.
async fn the_agent_runs_as_an_actor(host: &Host, id: &str) {
    let active = host.get_json(&format!("/v1.0/actors/opaca:{id}")).await;
    assert_eq!(active, json!(["sample-agent"]), "active agents of {id}");
}

/// The container's environment, as GetEnv reports it; the port it listens on.
async fn the_container_gets_its_environment(
    rp: &Rp,
    host: &Host,
    id: &str,
    container: &Value,
) -> u16 {
    let env = rp.post("/invoke/GetEnv/sample-agent", json!({})).await.ok();
    assert_eq!(env["containerId"], id, "{env}");
    assert_eq!(env["sdkContainerId"], id, "{env}");
    assert_eq!(env["owner"], "admin", "{env}");
    assert_eq!(env["platformUrl"], host.opaca_url.as_str(), "{env}");
    assert_eq!(env["tokenSet"], false, "no TOKEN with auth off: {env}");
    assert_eq!(env["greeting"], "salut", "{env}");
    assert_eq!(env["secretSet"], true, "{env}");
    assert_eq!(env["secret"], "s3cret", "{env}");
    let port = env_port(&env);
    assert_eq!(env["portMapping"], format!("8082:{port}"), "{env}");
    assert_eq!(
        container["connectivity"]["apiPortMapping"], port,
        "{container}"
    );
    port
}

/// Messages reach the agent: to it, and on the channel it subscribed.
async fn messages_reach_the_agent(rp: &Rp) {
    rp.post(
        "/send/sample-agent",
        json!({"payload": {"n": 1}, "replyTo": "tester"}),
    )
    .await
    .ok();
    // Without replyTo: the package's Message model refuses `"replyTo": null`.
    rp.post("/send/sample-agent", json!({"payload": "no reply"}))
        .await
        .ok();
    rp.post("/broadcast/news", json!({"payload": "extra"}))
        .await
        .ok();
    rp.post("/send/nobody", json!({"payload": 1}))
        .await
        .error(404);
    rp.post(
        "/send/sample-agent?containerId=no-such-container",
        json!({"payload": 1}),
    )
    .await
    .error(404);
    let want = json!([
        {"payload": {"n": 1}, "replyTo": "tester"},
        {"payload": "no reply", "replyTo": ""},
        {"payload": "extra", "replyTo": ""},
    ]);
    let want = &want;
    let got = eventually(Duration::from_secs(10), || async move {
        let got = rp
            .post("/invoke/GetMessages/sample-agent", json!({}))
            .await
            .ok();
        (got == *want).then_some(())
    })
    .await;
    assert!(
        got.is_some(),
        "GetMessages: {}",
        rp.post("/invoke/GetMessages/sample-agent", json!({}))
            .await
            .text
    );
}

/// Notify re-pulls `/info`, with the id quoted (as the Python client sends it) or not.
async fn notify_takes_the_id_quoted_or_not(rp: &Rp, id: &str) {
    let notified = rp
        .post_text(
            "/containers/notify",
            "application/json",
            &format!("\"{id}\""),
        )
        .await;
    assert_eq!(notified.ok(), true);
    assert_eq!(
        rp.post_text("/containers/notify", "text/plain", id)
            .await
            .ok(),
        true
    );
    rp.post_text(
        "/containers/notify",
        "application/json",
        "\"no-such-container\"",
    )
    .await
    .error(404);
}

/// A second container without arguments gets the default and no secret; its id and port.
async fn a_container_without_arguments_gets_the_defaults(rp: &Rp, id: &str) -> (String, u16) {
    let plain = rp.start(sample_container(json!({}))).await;
    assert_ne!(plain, id);
    let env = rp
        .post(
            &format!("/invoke/GetEnv/sample-agent?containerId={plain}"),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(env["containerId"], plain.as_str(), "{env}");
    assert_eq!(env["greeting"], "hello", "{env}");
    assert_eq!(env["secretSet"], false, "{env}");
    let plain_port = env_port(&env);
    (plain, plain_port)
}

/// DELETE ends each container's process; `Double` goes with the last one.
async fn delete_ends_the_process(rp: &Rp, id: &str, port: u16, plain: &str, plain_port: u16) {
    assert_eq!(rp.delete(&format!("/containers/{id}")).await.ok(), true);
    assert_eq!(rp.delete(&format!("/containers/{id}")).await.ok(), false);
    double(rp, &format!("/invoke/Double?containerId={id}"), json!(1))
        .await
        .error(404);
    assert_stopped_listening(port).await;
    assert_eq!(double(rp, "/invoke/Double", json!(3)).await.ok(), 6);
    assert_eq!(rp.delete(&format!("/containers/{plain}")).await.ok(), true);
    assert_stopped_listening(plain_port).await;
    double(rp, "/invoke/Double", json!(3)).await.error(404);
    assert_eq!(rp.get("/containers").await.ok(), json!([]));
}

/// A process container's image parameters become environment variables only if they
/// cannot change how the process starts: a parameter given a value (an argument or a
/// default) named LD_PRELOAD, PYTHONPATH, ld_preload, PATH, TOKEN, token, BASH_ENV,
/// PYTHONSTARTUP or `not a name` is 400 naming it, and no container starts; and the
/// container's environment has PATH but none of Warren's own (its RUST_LOG and NO_COLOR,
/// which the harness sets, read by a command that runs the agent through `env`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_containers_refuse_loader_variables_and_get_a_clean_environment() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(
        dir.path(),
        &[
            "--opaca-image",
            &sample_image(),
            "--opaca-image",
            &probe_image(),
        ],
    );
    let rp = Rp::of(&host);

    for name in [
        "LD_PRELOAD",
        "PYTHONPATH",
        "ld_preload",
        "PATH",
        "TOKEN",
        "token",
        "BASH_ENV",
        "not a name",
    ] {
        let mut arguments = serde_json::Map::new();
        arguments.insert(name.to_string(), json!("not-there.so"));
        let mut request = sample_container(Value::Object(arguments));
        request["image"]["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "type": "string", "required": false,
                         "confidential": false}));
        let reply = rp.post("/containers", request).await;
        assert_eq!(reply.status, 400, "parameter {name}: {}", reply.text);
        let error = reply.error(400);
        assert!(
            mentions(&error["message"], name),
            "the message names {name}: {error}"
        );
    }
    let mut request = sample_container(json!({}));
    request["image"]["parameters"].as_array_mut().unwrap().push(
        json!({"name": "PYTHONSTARTUP", "type": "string", "required": false,
                     "confidential": false, "defaultValue": "startup.py"}),
    );
    let reply = rp.post("/containers", request).await;
    let error = reply.error(400);
    assert!(mentions(&error["message"], "PYTHONSTARTUP"), "{error}");
    assert_eq!(
        rp.get("/containers").await.ok(),
        json!([]),
        "no container started"
    );
    rp.post("/invoke/GetEnv/sample-agent", json!({}))
        .await
        .error(404);

    // Warren's environment stays with Warren.
    let probe = rp
        .start(json!({
            "image": {"imageName": PROBE, "apiPort": 8082, "parameters": []},
            "arguments": {},
        }))
        .await;
    let env = rp.post("/invoke/GetEnv/sample-agent", json!({})).await.ok();
    assert_eq!(env["containerId"], probe.as_str(), "{env}");
    assert_eq!(
        env["greeting"], "unset/unset/path",
        "RUST_LOG/NO_COLOR/PATH as the container saw them: {env}"
    );
    assert_eq!(env["tokenSet"], false, "{env}");
    assert_eq!(env["secretSet"], false, "{env}");
    let port = env_port(&env);
    assert_eq!(rp.delete(&format!("/containers/{probe}")).await.ok(), true);
    assert_stopped_listening(port).await;
}
