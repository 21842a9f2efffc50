//! Deactivation and re-activation of an idle actor, and POOLED actors.

use std::collections::BTreeSet;
use std::time::Duration;

use super::host_with;
use crate::spawn_harness::*;
use crate::support::eventually;

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
