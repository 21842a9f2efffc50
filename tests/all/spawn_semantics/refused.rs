//! What Warren refuses with an error status: an actor the system does not have, an
//! instance name that is taken, and registrations it cannot honour.

use super::{assert_refused, host_with};
use crate::spawn_harness::*;
use crate::support::Host;

/// `POST .../actors/spawn` for `actors`; returns the status and the reply, whatever they are.
async fn try_spawn(host: &Host, system: &str, actors: Vec<ActorId>) -> (u16, SpawnResponse) {
    let path = format!("/api/v1/system/{system}/actors/spawn");
    post_proto(host, &path, &SpawnRequest { actors }).await
}

/// An actor the system does not have answers Spawn's ACTOR_NOT_FOUND; an instance of an
/// UNNAMED type, invoked by its name alone, comes back with its type as `parent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_actors_are_not_found_and_instances_name_their_type() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(&host, "found", vec![Actor::unnamed("worker", &["hello"])]).await;
    let (status, response) = invoke(&host, &request("found", "nobody", "hello")).await;
    assert_eq!(status, 500, "{response:?}");
    assert_eq!(code(&response.status), ACTOR_NOT_FOUND, "{response:?}");

    spawn_actors(
        &host,
        "found",
        vec![ActorId::instance("w1", "found", "worker")],
        None,
    )
    .await;
    let response = invoke_ok(&host, &request("found", "w1", "hello")).await;
    let id = response.actor.and_then(|a| a.id).expect("the actor echoed");
    assert_eq!((id.name.as_str(), id.parent.as_str()), ("w1", "worker"));
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
        assert_eq!(
            code(&response.status),
            ACTOR_NOT_FOUND,
            "{name}: {response:?}"
        );
    }
    assert!(
        user_function.calls().is_empty(),
        "{:?}",
        user_function.summary()
    );
}
