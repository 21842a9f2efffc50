//! Spawn workflows: `pipe` and `forward` hand a call on, side effects run as calls of
//! their own, and broadcasts reach every subscriber.

use std::time::Duration;

use super::host_for;
use crate::spawn_harness::*;

/// The user function of the workflow tests: `front` routes its calls onward, `back` wraps
/// what it gets in a JSON array.
fn relay(call: &ActorInvocation) -> ActorInvocationResponse {
    let actor = call.actor.as_ref().map_or("", |id| id.name.as_str());
    let output = json_any("\"front's output\"");
    match (actor, call.action_name.as_str()) {
        ("front", "piped") => reply(call)
            .with_value(output)
            .with_workflow(Workflow::pipe("back", "wrap")),
        ("front", "forwarded") => reply(call)
            .with_value(output)
            .with_workflow(Workflow::forward("back", "wrap")),
        ("front", "fan") => reply(call).with_workflow(Workflow::effects(vec![
            request("flow", "back", "note").with_value(json_any("1")),
            request("flow", "back", "note").with_value(json_any("2")),
        ])),
        ("back", "wrap") => {
            let input = call.value.as_ref().map(json_text).unwrap_or_default();
            reply(call).with_value(json_any(&format!("[{input}]")))
        }
        _ => reply(call),
    }
}

fn flow_actors() -> Vec<Actor> {
    vec![
        Actor::named("front", &["piped", "forwarded", "fan"]),
        Actor::named("back", &["wrap", "note"]),
    ]
}

/// `pipe` sends the OUTPUT payload on and `forward` the INPUT payload; either way the caller
/// gets the second actor's reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipe_and_forward_answer_with_the_next_actors_reply() {
    let user_function = UserFunction::start(relay);
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    register(&host, "flow", flow_actors()).await;

    let input = json_any("\"input\"");
    let piped = invoke_ok(
        &host,
        &request("flow", "front", "piped").with_value(input.clone()),
    )
    .await;
    assert_eq!(
        json_text(piped.value.as_ref().unwrap()),
        "[\"front's output\"]"
    );
    let wrapped = user_function.calls_to("back", "wrap").remove(0);
    assert_eq!(
        wrapped.value,
        Some(json_any("\"front's output\"")),
        "{wrapped:?}"
    );

    let forwarded = invoke_ok(
        &host,
        &request("flow", "front", "forwarded").with_value(input.clone()),
    )
    .await;
    assert_eq!(json_text(forwarded.value.as_ref().unwrap()), "[\"input\"]");
    let wrapped = user_function.calls_to("back", "wrap").remove(1);
    assert_eq!(wrapped.value, Some(input), "{wrapped:?}");
}

/// Each side effect in a reply runs as a separate invocation with its own payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_effects_run_as_separate_invocations() {
    let user_function = UserFunction::start(relay);
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    register(&host, "flow", flow_actors()).await;

    invoke_ok(&host, &request("flow", "front", "fan")).await;
    let notes = user_function
        .wait_for("back", "note", 2, Duration::from_secs(10))
        .await;
    let mut values: Vec<String> = notes
        .iter()
        .map(|c| json_text(c.value.as_ref().expect("a side effect lost its payload")))
        .collect();
    values.sort();
    assert_eq!(values, ["1", "2"]);
}

/// A broadcast reaches every active subscriber of its topic, whichever way it subscribed: a
/// plain-string channel group (Python SDK) and a `Channel` with an empty action both get
/// `receive`, a `Channel` with an action gets that action; each sees the payload and the
/// broadcaster as caller. An actor on another topic gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_subscribers_of_both_encodings() {
    let user_function = UserFunction::start(|call: &ActorInvocation| {
        if call.action_name == "announce" {
            reply(call).with_workflow(Workflow::broadcast("headlines", json_any("\"extra!\"")))
        } else {
            reply(call)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    register(
        &host,
        "news",
        vec![
            Actor::named("anchor", &["announce"]),
            Actor::named("reader", &["hello", "receive"]).subscribe(&["headlines"]),
            Actor::named("clipper", &["hello", "receive"]).subscribe_channels(&[("headlines", "")]),
            Actor::named("archiver", &["hello", "archive"])
                .subscribe_channels(&[("headlines", "archive")]),
            Actor::named("bystander", &["hello", "receive"]).subscribe_channels(&[("sports", "")]),
        ],
    )
    .await;
    // Broadcasts reach active actors: activate the subscribers.
    for name in ["reader", "clipper", "archiver", "bystander"] {
        invoke_ok(&host, &request("news", name, "hello")).await;
    }

    invoke_ok(&host, &request("news", "anchor", "announce")).await;
    for (name, action) in [
        ("reader", "receive"),
        ("clipper", "receive"),
        ("archiver", "archive"),
    ] {
        let got = user_function
            .wait_for(name, action, 1, Duration::from_secs(10))
            .await;
        assert_eq!(got.len(), 1, "{name}: {got:?}");
        assert_eq!(
            got[0].value,
            Some(json_any("\"extra!\"")),
            "{name}: {got:?}"
        );
        assert_eq!(got[0].caller_name(), "anchor", "{name}: {got:?}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(user_function.count("bystander", "receive"), 0);
    assert_eq!(user_function.count("archiver", "receive"), 0);
}
