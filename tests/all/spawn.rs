//! The Spawn proxy protocol (eigr/spawn) on Warren, driven by the harness's own SDK
//! (`spawn_harness`): registration, held state, UNNAMED instances, workflows, async and
//! scheduled calls, snapshot revisions, timers, and one Wasm actor over Spawn and Dapr.

use std::path::Path;
use std::time::Duration;

use prost::Message;
use serde_json::json;

use crate::spawn_harness::*;
use crate::support::{Host, guest};

mod timing;
mod workflows;

/// A host whose Spawn actors are served by `user_function`.
fn host_for(dir: &Path, user_function: &UserFunction) -> Host {
    Host::start(dir, &["--spawn-user-function", &user_function.url()])
}

/// The user function most tests use: `set` stores the payload and echoes it, `save` does the
/// same and asks for a checkpoint, `peek` answers with the state Warren sent; anything else
/// (`init`, `hello`, `receive`, ...) changes nothing and answers Noop.
fn keeper(call: &ActorInvocation) -> ActorInvocationResponse {
    let input = call.value.clone().unwrap_or_default();
    match call.action_name.as_str() {
        "set" => reply(call).with_state(input.clone()).with_value(input),
        "save" => reply(call)
            .with_state(input.clone())
            .with_value(input)
            .checkpointed(),
        "peek" => reply(call).with_value(call.state().cloned().unwrap_or_default()),
        _ => reply(call),
    }
}

/// The second content type the proxy accepts for protobuf bodies.
const PROTOBUF: &str = "application/protobuf";

/// An old-SDK registration (package `eigr.functions.protocol`, a plain-string channel group,
/// an initial state) is accepted with OK and the proxy's info; the system becomes a tenant;
/// `application/protobuf` works too; the health routes answer as Spawn's do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_accepted_and_health_is_up() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);

    let cart = Actor::named("cart", &["add"])
        .initial_state(json_any("[]"))
        .subscribe(&["orders"]);
    let registered = register(&host, "shop", vec![cart]).await;
    let info = registered.proxy_info.expect("no proxy_info");
    assert_eq!(info.protocol_major_version, 1, "{info:?}");
    assert!(!info.proxy_name.is_empty(), "{info:?}");
    assert_eq!(
        host.get_json("/admin/v1/tenants/shop").await["name"],
        "shop"
    );

    // The initial state is held and served by the built-in `get`, with no user-function call.
    let get = request("shop", "cart", "get").encode_to_vec();
    let (status, body) = post_raw(
        &host,
        "/api/v1/system/shop/actors/cart/invoke",
        PROTOBUF,
        get,
    )
    .await;
    assert_eq!(status, 200);
    let got = InvocationResponse::decode(body.as_slice()).unwrap();
    assert_eq!(code(&got.status), OK, "{got:?}");
    assert_eq!(got.value, Some(json_any("[]")));
    assert!(
        user_function.calls().is_empty(),
        "{:?}",
        user_function.summary()
    );

    for path in ["/health", "/health/liveness"] {
        assert_eq!(host.get_json(path).await, json!({"status": "up"}), "{path}");
    }
    let ready = host
        .client
        .get(format!("{}/health/readiness", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

/// Warren holds the state: `set`'s updated state (an opaque, non-JSON Any) comes back byte
/// for byte from the built-in `get`, which the user function never sees, and in
/// `current_context` of the next call. `init` runs once, first, with a Noop payload, at the
/// warm-up that follows registration of a stateful NAMED actor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_round_trips_through_warren_and_init_runs_once() {
    let user_function = UserFunction::start(keeper);
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    register(
        &host,
        "keep",
        vec![Actor::named("box", &["init", "set", "peek"]).stateful(1000)],
    )
    .await;
    user_function
        .wait_for("box", "init", 1, Duration::from_secs(10))
        .await;

    let bag = Any {
        type_url: "type.googleapis.com/example.Bag".to_string(),
        value: vec![0x08, 0x2a, 0x12, 0x02, 0xff, 0x00],
    };
    let set = invoke_ok(
        &host,
        &request("keep", "box", "set").with_value(bag.clone()),
    )
    .await;
    assert_eq!(set.value, Some(bag.clone()));

    let got = invoke_ok(&host, &request("keep", "box", "get")).await;
    assert_eq!(
        got.value,
        Some(bag.clone()),
        "get must return the held Any unchanged"
    );
    assert_eq!(
        user_function.count("box", "get"),
        0,
        "get reached the user function"
    );

    for _ in 0..3 {
        let peek = invoke_ok(&host, &request("keep", "box", "peek")).await;
        assert_eq!(peek.value, Some(bag.clone()));
    }
    let peeks = user_function.calls_to("box", "peek");
    assert!(peeks.iter().all(|c| c.state() == Some(&bag)), "{peeks:?}");

    assert_eq!(
        user_function.count("box", "init"),
        1,
        "{:?}",
        user_function.summary()
    );
    let calls = user_function.calls();
    let first = &calls[0];
    assert_eq!(first.action_name, "init", "{:?}", user_function.summary());
    assert!(first.noop.is_some() && first.value.is_none(), "{first:?}");
}

/// Failures are HTTP 500 with a decodable ERROR status and a message: an action the actor
/// never declared (named in the message, and never sent to the user function), and a body
/// that is not protobuf on each route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_actions_and_bad_bodies_are_errors() {
    let user_function = UserFunction::start(keeper);
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    register(&host, "keep", vec![Actor::named("box", &["set"])]).await;

    let (status, response) = invoke(&host, &request("keep", "box", "fly")).await;
    assert_eq!(status, 500);
    let error = response.status.expect("no status");
    assert_eq!(error.status, ERROR, "{error:?}");
    assert!(error.message.contains("fly"), "{error:?}");
    assert_eq!(user_function.count("box", "fly"), 0);

    // Field 1, length 127, then too few bytes.
    let garbage = b"\x0a\x7fnot protobuf".to_vec();
    for path in [
        "/api/v1/system",
        "/api/v1/system/keep/actors/spawn",
        "/api/v1/system/keep/actors/box/invoke",
    ] {
        let (status, body) =
            post_raw(&host, path, "application/octet-stream", garbage.clone()).await;
        assert_eq!(status, 500, "{path}");
        // Every response message carries its RequestStatus at field 1.
        let decoded = SpawnResponse::decode(body.as_slice())
            .unwrap_or_else(|e| panic!("{path}: the error body is not protobuf: {e}"));
        let error = decoded
            .status
            .unwrap_or_else(|| panic!("{path}: no status"));
        assert_eq!(error.status, ERROR, "{path}: {error:?}");
        assert!(!error.message.is_empty(), "{path}: {error:?}");
    }
}

/// UNNAMED templates: an instance made with a SpawnRequest and one spawned on the fly with
/// `register_ref` are both invoked by name, reach the user function with `parent` = the
/// template (in `actor` and `current_context.self`), and keep separate states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unnamed_instances_are_spawned_and_keep_their_own_state() {
    let user_function = UserFunction::start(keeper);
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    register(&host, "pool", vec![Actor::unnamed("worker", &["set"])]).await;

    spawn_actors(
        &host,
        "pool",
        vec![ActorId::instance("w1", "pool", "worker")],
        None,
    )
    .await;
    invoke_ok(
        &host,
        &request("pool", "w1", "set").with_value(json_any("1")),
    )
    .await;
    invoke_ok(
        &host,
        &request("pool", "w2", "set")
            .with_value(json_any("2"))
            .spawning("worker"),
    )
    .await;

    for name in ["w1", "w2"] {
        let expected = Some(ActorId::instance(name, "pool", "worker"));
        let call = user_function.calls_to(name, "set").remove(0);
        assert_eq!(call.actor, expected, "{call:?}");
        assert_eq!(
            call.current_context.as_ref().unwrap().self_,
            expected,
            "{call:?}"
        );
    }
    assert_eq!(user_function.count("worker", "set"), 2);

    // Once spawned, w2 answers to its name alone; each instance has its own state.
    invoke_ok(
        &host,
        &request("pool", "w2", "set").with_value(json_any("3")),
    )
    .await;
    let w1 = invoke_ok(&host, &request("pool", "w1", "get")).await;
    let w2 = invoke_ok(&host, &request("pool", "w2", "get")).await;
    assert_eq!(
        (w1.value, w2.value),
        (Some(json_any("1")), Some(json_any("3")))
    );
}

/// Write-behind snapshots make revisions: with a 100 ms snapshot timeout `v1` becomes
/// revision 1 and a checkpointed `v2` revision 2. `spawn?revision=1` restores v1 as the
/// current state (for `get` and for the next call). The latest checkpoint, the revision
/// history and the registration itself survive a restart: the system is served (and its
/// user function called) before the SDK registers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_revisions_can_be_restored_and_survive_a_restart() {
    let user_function = UserFunction::start(keeper);
    let dir = tempfile::tempdir().unwrap();
    let mut host = host_for(dir.path(), &user_function);
    let doc = || vec![Actor::named("doc", &["set", "save"]).stateful(100)];
    register(&host, "snap", doc()).await;
    let (v1, v2, v3) = (json_any("\"v1\""), json_any("\"v2\""), json_any("\"v3\""));
    let get = request("snap", "doc", "get");
    let restore = |revision| {
        spawn_actors(
            &host,
            "snap",
            vec![ActorId::new("doc", "snap")],
            Some(revision),
        )
    };

    invoke_ok(&host, &request("snap", "doc", "set").with_value(v1.clone())).await;
    // Let the write-behind snapshot (every 100 ms) write v1 as revision 1.
    tokio::time::sleep(Duration::from_millis(600)).await;
    invoke_ok(
        &host,
        &request("snap", "doc", "save").with_value(v2.clone()),
    )
    .await;
    assert_eq!(invoke_ok(&host, &get).await.value, Some(v2.clone()));

    restore(1).await;
    assert_eq!(invoke_ok(&host, &get).await.value, Some(v1.clone()));
    invoke_ok(
        &host,
        &request("snap", "doc", "save").with_value(v3.clone()),
    )
    .await;
    let save = user_function.calls_to("doc", "save").pop().unwrap();
    assert_eq!(
        save.state(),
        Some(&v1),
        "the restored state was not sent on"
    );

    host.restart();
    assert_eq!(invoke_ok(&host, &get).await.value, Some(v3.clone()));
    let sets = user_function.count("doc", "set");
    let set = request("snap", "doc", "set").with_value(v3.clone());
    assert_eq!(invoke_ok(&host, &set).await.value, Some(v3.clone()));
    assert_eq!(user_function.count("doc", "set"), sets + 1);
    // The user function keeps running; the SDK registers again, as at any start.
    register(&host, "snap", doc()).await;
    assert_eq!(invoke_ok(&host, &get).await.value, Some(v3));
    let restore = |revision| {
        spawn_actors(
            &host,
            "snap",
            vec![ActorId::new("doc", "snap")],
            Some(revision),
        )
    };
    restore(2).await;
    assert_eq!(invoke_ok(&host, &get).await.value, Some(v2));
    restore(1).await;
    assert_eq!(invoke_ok(&host, &get).await.value, Some(v1));
}

/// One Wasm counter serves both protocols: Spawn system `default` is the default tenant
/// where `deploy` put the component, a JSONType payload becomes the counter's JSON and its
/// JSON reply comes back as JSONType, and Spawn and Dapr share the actor's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_counter_shares_its_state_between_spawn_and_dapr() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let (status, info) = host.deploy(std::fs::read(guest("counter")).unwrap()).await;
    assert_eq!(status, 201, "{info}");

    let add = request("default", "c1", "add")
        .with_value(json_any("5"))
        .spawning("counter");
    assert_eq!(reply_json(&invoke_ok(&host, &add).await), json!(5));
    assert_eq!(host.invoke_ok("counter", "c1", "get", "").await, "5");

    assert_eq!(host.invoke_ok("counter", "c1", "add", "2").await, "7");
    let get = request("default", "c1", "get").spawning("counter");
    assert_eq!(reply_json(&invoke_ok(&host, &get).await), json!(7));
}

/// An SDK that registers again while its actors hold state not yet written behind (a
/// snapshot interval longer than the test): the new registration takes that state over
/// before it is reachable, so the next call finds it at once, every time. Without the
/// hand-over the next call would race the old registration's final write and find
/// nothing in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_again_keeps_the_state_held_behind() {
    let user_function = UserFunction::start(keeper);
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    let doc = || vec![Actor::named("doc", &["set", "peek"]).stateful(600_000)];
    register(&host, "held", doc()).await;
    for round in 0..50 {
        let value = json_any(&format!("\"v{round}\""));
        let set = request("held", "doc", "set").with_value(value.clone());
        invoke_ok(&host, &set).await;
        register(&host, "held", doc()).await;
        let peek = invoke_ok(&host, &request("held", "doc", "peek")).await;
        assert_eq!(
            peek.value,
            Some(value),
            "round {round}: the held state was lost"
        );
    }
}
