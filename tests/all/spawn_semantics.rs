//! Spawn semantics beyond the happy path, driven by the harness's own SDK (`spawn_harness`):
//! per-call metadata against per-actor tags, retries of a failing user function, deactivation
//! and re-activation, POOLED actors, lenient decoding of old and new SDKs' messages, instance
//! names, the route hop limit, scheduled side effects, refused registrations, and Warren's
//! tokens on the Spawn routes.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prost::Message;

use crate::spawn_harness::*;
use crate::support::{Host, eventually};

/// A host whose Spawn actors are served by `user_function`, with extra `args`.
fn host_with(dir: &Path, user_function: &UserFunction, args: &[&str]) -> Host {
    let url = user_function.url();
    let mut all = vec!["--spawn-user-function", url.as_str()];
    all.extend_from_slice(args);
    Host::start(dir, &all)
}

/// The invoke route of `system`/`actor`.
fn invoke_path(system: &str, actor: &str) -> String {
    format!("/api/v1/system/{system}/actors/{actor}/invoke")
}

/// `look` changes nothing (its reply has no `updated_context`); `promote` makes the payload
/// the state, replaces the tags with `{"tier": "gold"}` and asks for a checkpoint.
fn badge(call: &ActorInvocation) -> ActorInvocationResponse {
    match call.action_name.as_str() {
        "promote" => reply(call)
            .with_state(call.value.clone().unwrap_or_default())
            .with_tags(&[("tier", "gold")])
            .checkpointed(),
        _ => reply(call),
    }
}

/// Per-call metadata and per-actor tags are different things. `InvocationRequest.metadata`
/// reaches `current_context.metadata` of that call only: the next call without metadata sees
/// none. The tags registered in `ActorState.tags` reach `current_context.tags`; a reply
/// without `updated_context` leaves them alone, and one with `updated_context.tags` replaces
/// them entirely (a key it omits is gone). With a checkpoint, the tags and the state survive
/// a restart and re-registration, even though the registration names other initial tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_per_call_and_tags_stay_with_the_actor() {
    let user_function = UserFunction::start(badge);
    let dir = tempfile::tempdir().unwrap();
    let mut host = host_with(dir.path(), &user_function, &[]);
    let actors = || {
        vec![
            Actor::named("badge", &["look", "promote"])
                .stateful(60_000)
                .with_tags(&[("tier", "silver"), ("since", "2024")]),
        ]
    };
    register(&host, "tags", actors()).await;
    let look = || request("tags", "badge", "look");
    let silver = string_map(&[("tier", "silver"), ("since", "2024")]);
    let gold = string_map(&[("tier", "gold")]);

    invoke_ok(&host, &look().with_metadata(&[("trace", "abc")])).await;
    invoke_ok(&host, &look()).await;
    let looks = user_function.calls_to("badge", "look");
    assert_eq!(looks.len(), 2, "{:?}", user_function.summary());
    assert_eq!(
        looks[0].metadata(),
        string_map(&[("trace", "abc")]),
        "{:?}",
        looks[0]
    );
    assert!(
        looks[1].metadata().is_empty(),
        "a call's metadata leaked into the next call: {:?}",
        looks[1]
    );
    assert_eq!(looks[0].tags(), silver, "{:?}", looks[0]);
    assert_eq!(
        looks[1].tags(),
        silver,
        "a reply without updated_context changed the tags: {:?}",
        looks[1]
    );

    let card = json_any("\"gold card\"");
    invoke_ok(
        &host,
        &request("tags", "badge", "promote").with_value(card.clone()),
    )
    .await;
    invoke_ok(&host, &look()).await;
    let after = user_function.calls_to("badge", "look").pop().unwrap();
    assert_eq!(
        after.tags(),
        gold,
        "updated_context.tags must replace the tags: {after:?}"
    );
    assert_eq!(after.state(), Some(&card), "{after:?}");

    // The user function keeps running; the SDK registers again, as at any start.
    host.restart();
    register(&host, "tags", actors()).await;
    invoke_ok(&host, &look()).await;
    let restarted = user_function.calls_to("badge", "look").pop().unwrap();
    assert_eq!(
        restarted.tags(),
        gold,
        "the checkpointed tags were lost in the restart: {restarted:?}"
    );
    assert_eq!(restarted.state(), Some(&card), "{restarted:?}");
}

/// Like Spawn, Warren counts a user-function answer with an empty body as a failure and
/// calls again, whatever the HTTP status: two empty answers (HTTP 503, then 200) and then a
/// proper one make one successful invoke with the proper payload. The user function saw the
/// same invocation three times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_answers_are_retried_until_a_proper_one() {
    let answered = Arc::new(AtomicUsize::new(0));
    let user_function = UserFunction::start_raw({
        let answered = answered.clone();
        move |call: &ActorInvocation| match answered.fetch_add(1, Ordering::SeqCst) {
            0 => (503u16, Vec::new()),
            1 => (200, Vec::new()),
            _ => (
                200,
                reply(call)
                    .with_value(json_any("\"finally\""))
                    .encode_to_vec(),
            ),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(&host, "retry", vec![Actor::named("flaky", &["work"])]).await;

    let response = invoke_ok(
        &host,
        &request("retry", "flaky", "work").with_value(json_any("\"job\"")),
    )
    .await;
    assert_eq!(
        response.value,
        Some(json_any("\"finally\"")),
        "{response:?}"
    );
    let calls = user_function.calls_to("flaky", "work");
    assert_eq!(calls.len(), 3, "{:?}", user_function.summary());
    assert!(
        calls.iter().all(|c| *c == calls[0]),
        "a retry changed the invocation: {calls:?}"
    );
    assert_eq!(calls[0].value, Some(json_any("\"job\"")), "{:?}", calls[0]);
}

/// A user function that only ever answers bytes that are not an `ActorInvocationResponse`
/// is retried until the call's `request-timeout` metadata (400 ms) runs out, and then the
/// invoke fails with HTTP 500 and an ERROR status that says why, well within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_answers_fail_when_the_request_timeout_runs_out() {
    let user_function = UserFunction::start_raw(|_: &ActorInvocation| (200, b"\xff\xff".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(&host, "retry", vec![Actor::named("broken", &["work"])]).await;

    let started = Instant::now();
    let (status, response) = invoke(
        &host,
        &request("retry", "broken", "work").with_metadata(&[("request-timeout", "400")]),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 500, "{response:?}");
    let error = response.status.expect("no status");
    assert_eq!(error.status, ERROR, "{error:?}");
    assert!(!error.message.is_empty(), "{error:?}");
    assert!(took < Duration::from_secs(5), "the invoke took {took:?}");
    // Backoff 50 + 100 + 200 ms fits in 400 ms, so Warren retried for most of it.
    assert!(
        took >= Duration::from_millis(250),
        "gave up after {took:?}, before the request timeout"
    );
    assert!(
        user_function.count("broken", "work") >= 1,
        "{:?}",
        user_function.summary()
    );
}

/// `set` stores the payload and echoes it; `peek` answers with the state Warren sent;
/// anything else (`init`) changes nothing.
fn vault(call: &ActorInvocation) -> ActorInvocationResponse {
    let input = call.value.clone().unwrap_or_default();
    match call.action_name.as_str() {
        "set" => reply(call).with_state(input.clone()).with_value(input),
        "peek" => reply(call).with_value(call.state().cloned().unwrap_or_default()),
        _ => reply(call),
    }
}

/// An idle actor is deactivated after its `deactivation_strategy` timeout (300 ms here) and
/// its state written then (the 60 s snapshot interval never comes); the next message
/// activates it again, which runs `init` again, before that message, and both see the state
/// set before the deactivation. (`--idle-timeout 1s` makes Warren's idle sweep run every
/// 250 ms.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_actor_deactivates_and_comes_back_with_its_state() {
    let user_function = UserFunction::start(vault);
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &["--idle-timeout", "1s"]);
    let actor = Actor::named("vault", &["init", "set", "peek"])
        .stateful(60_000)
        .deactivate_after(300);
    register(&host, "deact", vec![actor]).await;
    // The warm-up after registration is the first activation.
    user_function
        .wait_for("vault", "init", 1, Duration::from_secs(10))
        .await;

    let a = json_any("\"a\"");
    invoke_ok(
        &host,
        &request("deact", "vault", "set").with_value(a.clone()),
    )
    .await;
    let gone = eventually(Duration::from_secs(10), || async {
        let active = host.get_json("/admin/v1/actors?tenant=deact").await;
        let listed = active
            .as_array()
            .is_some_and(|list| list.iter().any(|entry| entry["id"] == "vault"));
        (!listed).then_some(())
    })
    .await;
    assert!(gone.is_some(), "vault was still active after 10 s idle");

    let inits = user_function.count("vault", "init");
    let peek = invoke_ok(&host, &request("deact", "vault", "peek")).await;
    assert_eq!(peek.value, Some(a.clone()), "the state was lost: {peek:?}");
    assert_eq!(
        user_function.count("vault", "init"),
        inits + 1,
        "re-activation did not run init once: {:?}",
        user_function.summary()
    );
    assert!(inits >= 1, "{:?}", user_function.summary());
    let calls = user_function.calls();
    let [.., init, peeked] = calls.as_slice() else {
        panic!("too few calls: {:?}", user_function.summary());
    };
    assert_eq!(
        (init.action_name.as_str(), peeked.action_name.as_str()),
        ("init", "peek"),
        "init must run first on re-activation: {:?}",
        user_function.summary()
    );
    assert_eq!(init.state(), Some(&a), "{init:?}");
    assert_eq!(peeked.state(), Some(&a), "{peeked:?}");
}

/// A POOLED actor (`max_pool_size = 3`) called six times at once by its own name with
/// `pooled = true`: every call succeeds with its own reply, and the user function sees them
/// on at most three distinct instances, each named apart from the type and carrying the
/// type as `parent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_calls_spread_over_at_most_max_pool_size_instances() {
    let user_function = UserFunction::start(|call: &ActorInvocation| {
        reply(call).with_value(call.value.clone().unwrap_or_default())
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(&host, "pool", vec![Actor::pooled("workers", &["work"], 3)]).await;

    let host = &host;
    let calls = (0..6).map(|i| {
        let work = request("pool", "workers", "work")
            .with_value(json_any(&i.to_string()))
            .pooled();
        async move { invoke(host, &work).await }
    });
    let results = futures::future::join_all(calls).await;
    for (i, (status, response)) in results.iter().enumerate() {
        assert!(
            *status == 200 && code(&response.status) == OK,
            "call {i}: {status} {:?}",
            response.status
        );
        assert_eq!(response.value, Some(json_any(&i.to_string())), "call {i}");
    }

    let seen = user_function.calls_to("workers", "work");
    assert_eq!(seen.len(), 6, "{:?}", user_function.summary());
    let mut instances = BTreeSet::new();
    for call in &seen {
        let id = call.actor.clone().expect("a call without an actor");
        assert_eq!(id.parent, "workers", "{call:?}");
        assert!(!id.name.is_empty() && id.name != "workers", "{call:?}");
        instances.insert(id.name);
    }
    assert!(
        !instances.is_empty() && instances.len() <= 3,
        "{} instances: {instances:?}",
        instances.len()
    );
}

/// Warren reads what SDKs send leniently. A registration with kind 0 (`UNKNOW_KIND`) is a
/// NAMED actor, invoked by its name. Fields Warren does not know are skipped: a registration
/// whose `ActorSettings` carries 2.0's `projection_settings` (#7) and `state_type` (#8) is
/// accepted, and so is an `InvocationRequest` with a field (#50) no version defines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_zero_and_unknown_fields_are_accepted() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);

    register(
        &host,
        "zero",
        vec![Actor::named("plain", &["hello"]).with_kind(0)],
    )
    .await;
    invoke_ok(&host, &request("zero", "plain", "hello")).await;
    let hello = user_function.calls_to("plain", "hello").remove(0);
    assert_eq!(
        hello.actor,
        Some(ActorId::new("plain", "zero")),
        "{hello:?}"
    );

    // RegistrationRequest{service_info, actor_system{name, registry{actors: {"later": actor}}}},
    // built by hand so the actor's settings can carry fields 7 and 8.
    let mut actor = Actor::named("later", &["hello"]);
    actor.id = Some(ActorId::new("later", "future"));
    let settings = actor.settings.take().expect("the harness gives settings");
    let settings = [
        settings.encode_to_vec(),
        length_delimited(7, &length_delimited(1, b"a projection")),
        length_delimited(8, b".example.State"),
    ]
    .concat();
    let actor = [actor.encode_to_vec(), length_delimited(3, &settings)].concat();
    let entry = [length_delimited(1, b"later"), length_delimited(2, &actor)].concat();
    let system = [
        length_delimited(1, b"future"),
        length_delimited(2, &length_delimited(1, &entry)),
    ]
    .concat();
    let body = [
        length_delimited(1, &service_info().encode_to_vec()),
        length_delimited(2, &system),
    ]
    .concat();
    // The hand-built bytes are the registration meant (the harness skips 7 and 8 too).
    let parsed = RegistrationRequest::decode(body.as_slice()).expect("malformed by hand");
    let registered = &parsed
        .actor_system
        .as_ref()
        .unwrap()
        .registry
        .as_ref()
        .unwrap()
        .actors;
    assert_eq!(
        registered["later"].settings.as_ref().map(|s| s.kind),
        Some(NAMED),
        "{parsed:?}"
    );
    let (status, bytes) = post_raw(&host, "/api/v1/system", "application/octet-stream", body).await;
    let response = RegistrationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&response.status) == OK,
        "{status} {:?}",
        response.status
    );

    // Field 50, wire type 2: key bytes 0x92 0x03.
    let unknown = length_delimited(50, b"from a newer SDK");
    assert_eq!(&unknown[..2], [0x92u8, 0x03].as_slice());
    let body = [request("future", "later", "hello").encode_to_vec(), unknown].concat();
    let (status, bytes) = post_raw(
        &host,
        &invoke_path("future", "later"),
        "application/octet-stream",
        body,
    )
    .await;
    let response = InvocationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&response.status) == OK,
        "{status} {:?}",
        response.status
    );
    assert_eq!(
        user_function.count("later", "hello"),
        1,
        "{:?}",
        user_function.summary()
    );
}

/// Old SDKs put the subscribers' action in `Broadcast` field #2 (`action_name`, removed in
/// v1.0.0-rc.30). A workflow broadcast carrying it (`breaking`) runs that action on a
/// subscriber that named none (`reader`, subscribed with a plain topic string), instead of
/// `receive`, with the payload and the broadcaster as caller; a subscriber whose channel
/// names its own action (`clipper`, `clip`) keeps running that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_broadcast_with_an_action_name_runs_that_action() {
    let user_function = UserFunction::start_raw(|call: &ActorInvocation| {
        let mut body = reply(call).encode_to_vec();
        if call.action_name == "announce" {
            // Workflow{broadcast (2): Broadcast{channel_group (1), action_name (2), value (3)}}
            // as ActorInvocationResponse field 5.
            let broadcast = [
                length_delimited(1, b"headlines"),
                length_delimited(2, b"breaking"),
                length_delimited(3, &json_any("\"extra!\"").encode_to_vec()),
            ]
            .concat();
            body.extend(length_delimited(5, &length_delimited(2, &broadcast)));
        }
        (200, body)
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(
        &host,
        "news",
        vec![
            Actor::named("anchor", &["announce"]),
            Actor::named("reader", &["hello", "receive", "breaking"]).subscribe(&["headlines"]),
            Actor::named("clipper", &["hello", "clip", "breaking"])
                .subscribe_channels(&[("headlines", "clip")]),
        ],
    )
    .await;
    // Broadcasts reach active actors: activate the subscribers.
    for name in ["reader", "clipper"] {
        invoke_ok(&host, &request("news", name, "hello")).await;
    }

    invoke_ok(&host, &request("news", "anchor", "announce")).await;
    let got = user_function
        .wait_for("reader", "breaking", 1, Duration::from_secs(10))
        .await;
    assert_eq!(got[0].value, Some(json_any("\"extra!\"")), "{got:?}");
    assert_eq!(got[0].caller_name(), "anchor", "{got:?}");
    let clipped = user_function
        .wait_for("clipper", "clip", 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        clipped[0].value,
        Some(json_any("\"extra!\"")),
        "{clipped:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(user_function.count("reader", "receive"), 0);
    assert_eq!(user_function.count("clipper", "breaking"), 0);
}

/// `POST .../actors/spawn` for `actors`; returns the status and the reply, whatever they are.
async fn try_spawn(host: &Host, system: &str, actors: Vec<ActorId>) -> (u16, SpawnResponse) {
    let path = format!("/api/v1/system/{system}/actors/spawn");
    post_proto(host, &path, &SpawnRequest { actors }).await
}

/// Asserts HTTP 500 with an ERROR status whose message mentions `word`.
fn assert_refused(what: &str, status: u16, error: Option<RequestStatus>, word: &str) {
    assert_eq!(status, 500, "{what}: {error:?}");
    let error = error.unwrap_or_else(|| panic!("{what}: no status"));
    assert_eq!(error.status, ERROR, "{what}: {error:?}");
    assert!(
        error.message.contains(word),
        "{what}: the message should mention {word:?}: {error:?}"
    );
}

/// An instance name names one actor of its system. Spawning an instance of the UNNAMED
/// `worker` named `boss`, which is an actor type, is refused; so is spawning `w1` from
/// `helper` once it is `worker`'s, by a SpawnRequest or by an invoke's `register_ref`: each
/// with HTTP 500 and an ERROR status. `w1` stays `worker`'s instance, and `helper` is never
/// called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_name_cannot_be_a_type_or_another_templates_instance() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(
        &host,
        "names",
        vec![
            Actor::unnamed("worker", &["hello"]),
            Actor::unnamed("helper", &["hello"]),
            Actor::named("boss", &["hello"]),
        ],
    )
    .await;

    let (status, response) = try_spawn(
        &host,
        "names",
        vec![ActorId::instance("boss", "names", "worker")],
    )
    .await;
    assert_refused("an instance named boss", status, response.status, "boss");

    spawn_actors(
        &host,
        "names",
        vec![ActorId::instance("w1", "names", "worker")],
        None,
    )
    .await;
    let (status, response) = try_spawn(
        &host,
        "names",
        vec![ActorId::instance("w1", "names", "helper")],
    )
    .await;
    assert_refused("w1 spawned from helper", status, response.status, "worker");
    let (status, response) =
        invoke(&host, &request("names", "w1", "hello").spawning("helper")).await;
    assert_refused("w1 invoked as helper's", status, response.status, "worker");

    invoke_ok(&host, &request("names", "w1", "hello")).await;
    let hello = user_function.calls_to("w1", "hello").remove(0);
    assert_eq!(
        hello.actor,
        Some(ActorId::instance("w1", "names", "worker")),
        "{hello:?}"
    );
    assert_eq!(
        user_function.count("helper", "hello"),
        0,
        "{:?}",
        user_function.summary()
    );
}

/// A workflow that routes back on itself ends: `echo.again` pipes to `echo.again` forever.
/// After 32 routes the invoke fails with HTTP 500 and an ERROR status naming the limit, in
/// well under 5 s; the user function saw the first call and the 32 routed ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_back_to_itself_stops_after_32_hops() {
    let user_function = UserFunction::start(|call: &ActorInvocation| {
        reply(call)
            .with_value(json_any("1"))
            .with_workflow(Workflow::pipe("echo", "again"))
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(&host, "loop", vec![Actor::named("echo", &["again"])]).await;

    let started = Instant::now();
    let (status, response) = invoke(&host, &request("loop", "echo", "again")).await;
    let took = started.elapsed();
    assert_refused("a pipe to itself", status, response.status, "32");
    assert!(took < Duration::from_secs(5), "the invoke took {took:?}");
    assert_eq!(
        user_function.count("echo", "again"),
        33,
        "{:?}",
        user_function.summary()
    );
}

/// A side effect with `scheduled_to` is a scheduled call: `front.later` asks for
/// `back.note` 1.5 s ahead. The invoke answers at once; the note has not arrived 700 ms
/// later, and arrives after that with its payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_side_effect_with_scheduled_to_is_delivered_at_its_time() {
    let user_function = UserFunction::start(|call: &ActorInvocation| {
        if call.action_name == "later" {
            reply(call).with_workflow(Workflow::effects(vec![
                request("sched", "back", "note")
                    .with_value(json_any("\"wake up\""))
                    .scheduled_at(now_ms() + 1500),
            ]))
        } else {
            reply(call)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(
        &host,
        "sched",
        vec![
            Actor::named("front", &["later"]),
            Actor::named("back", &["note"]),
        ],
    )
    .await;

    let started = tokio::time::Instant::now();
    invoke_ok(&host, &request("sched", "front", "later")).await;
    tokio::time::sleep_until(started + Duration::from_millis(700)).await;
    assert_eq!(
        user_function.count("back", "note"),
        0,
        "delivered early: {:?}",
        user_function.summary()
    );
    let delivered = user_function
        .wait_for("back", "note", 1, Duration::from_secs(10))
        .await;
    assert_eq!(delivered[0].value, Some(json_any("\"wake up\"")));
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "delivered after {:?}",
        started.elapsed()
    );
}

/// Registrations Warren cannot honour are refused with HTTP 500 and an ERROR status whose
/// message names the actor and the problem: a PROXY actor (kind 4), and a timer action with
/// a period of 0. Nothing of a refused registration can be invoked, and the user function
/// is never called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_are_refused_with_an_error_status() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);

    let cases = [
        (
            Actor::named("gateway", &["hello"]).with_kind(4),
            ["gateway", "kind"],
        ),
        (
            Actor::named("clock", &["hello"]).every(0, "tick"),
            ["clock", "period"],
        ),
    ];
    for (actor, words) in cases {
        let name = actor.id.as_ref().unwrap().name.clone();
        let (status, response) = try_register(&host, "bad", vec![actor]).await;
        assert_eq!(status, 500, "{name}: {response:?}");
        let error = response
            .status
            .unwrap_or_else(|| panic!("{name}: no status"));
        assert_eq!(error.status, ERROR, "{name}: {error:?}");
        for word in words {
            assert!(
                error.message.contains(word),
                "{name}: the message should mention {word:?}: {error:?}"
            );
        }

        let (status, response) = invoke(&host, &request("bad", &name, "hello")).await;
        assert_eq!(status, 500, "{name} was registered after all: {response:?}");
        assert_eq!(code(&response.status), ERROR, "{name}: {response:?}");
    }
    assert!(
        user_function.calls().is_empty(),
        "{:?}",
        user_function.summary()
    );
}

/// POST `body` as protobuf to `path`, with `authorization: Bearer TOKEN` when given;
/// returns the status and the raw body.
async fn post_as(host: &Host, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>) {
    let mut request = host
        .client
        .post(format!("{}{path}", host.url))
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(body);
    if let Some(token) = token {
        request = request.header(reqwest::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path} failed: {e}"));
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// Spawn routes go through Warren's tokens, with the actor system as the tenant. With
/// `--admin-token` set, registering or invoking without a token is refused with 401, and so
/// is an unknown token; the admin token (as `authorization: Bearer`) registers the system,
/// which creates its tenant, and invokes. A token issued for that tenant invokes its
/// actors but cannot register another system (403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_routes_need_a_token_when_one_is_configured() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &["--admin-token", "secret"]);
    let shop = registration("shop", vec![Actor::named("cart", &["add"])]).encode_to_vec();
    let add = request("shop", "cart", "add").encode_to_vec();
    let cart = invoke_path("shop", "cart");

    for token in [None, Some("wrong")] {
        let (status, _) = post_as(&host, "/api/v1/system", token, shop.clone()).await;
        assert_eq!(status, 401, "registering with {token:?}");
    }
    let (status, bytes) = post_as(&host, "/api/v1/system", Some("secret"), shop.clone()).await;
    let registered = RegistrationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&registered.status) == OK,
        "{status} {:?}",
        registered.status
    );

    let (status, _) = post_as(&host, &cart, None, add.clone()).await;
    assert_eq!(status, 401, "invoking without a token");
    let (status, bytes) = post_as(&host, &cart, Some("secret"), add.clone()).await;
    let response = InvocationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&response.status) == OK,
        "{status} {:?}",
        response.status
    );

    let issued = host
        .client
        .post(format!("{}/admin/v1/tenants/shop/tokens", host.url))
        .header(reqwest::header::AUTHORIZATION, "Bearer secret")
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status().as_u16(), 201);
    let issued: serde_json::Value = issued.json().await.unwrap();
    let token = issued["token"].as_str().expect("no token").to_string();

    let (status, bytes) = post_as(&host, &cart, Some(&token), add.clone()).await;
    let response = InvocationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&response.status) == OK,
        "with the tenant's token: {status} {:?}",
        response.status
    );
    let other = registration("other", vec![Actor::named("cart", &["add"])]).encode_to_vec();
    let (status, _) = post_as(&host, "/api/v1/system", Some(&token), other).await;
    assert_eq!(status, 403, "a tenant token registered another system");
    assert_eq!(
        user_function.count("cart", "add"),
        2,
        "{:?}",
        user_function.summary()
    );
}
